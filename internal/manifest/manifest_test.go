package manifest

import (
	"slices"
	"strings"
	"testing"
)

// testManifest has a requirement chain (c -> b -> a) and a default feature.
const testManifest = `{
  "schema": 1,
  "core": {"description": "core", "modules": [], "size_impact": null},
  "features": [
    {"name": "a", "description": "A", "category": "x", "default": true, "requires": [], "modules": ["m/a"], "provides": ["database:a"], "size_impact": null},
    {"name": "b", "description": "B", "category": "x", "default": false, "requires": ["a"], "modules": [], "provides": [], "size_impact": null},
    {"name": "c", "description": "C", "category": "y", "default": false, "requires": ["b"], "modules": [], "provides": ["cache:c"], "size_impact": 1234},
    {"name": "redis", "description": "R", "category": "y", "default": false, "requires": [], "modules": [], "provides": [], "size_impact": null}
  ]
}`

func mustParse(t *testing.T, s string) *Manifest {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// realManifest is the repository's features.json, parsed.
func realManifest(tb testing.TB) *Manifest {
	tb.Helper()
	m, err := Load("../../features.json")
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestRealManifestParses(t *testing.T) {
	m := realManifest(t)
	if len(m.Defaults()) == 0 {
		t.Fatal("no default features")
	}
	for _, f := range m.Features {
		if len(f.Provides) == 0 && f.Category == "storage" {
			t.Errorf("storage feature %s provides nothing", f.Name)
		}
	}
}

func TestResolve(t *testing.T) {
	m := mustParse(t, testManifest)
	cases := []struct {
		spec, want, added string
	}{
		{"", "a", ""},
		{"default", "a", ""},
		{"c", "a,b,c", "a,b"},
		{"all", "a,b,c,redis", ""},
		{"none", "", ""},
		{"redis", "redis", ""},
		{"-a", "", ""},
		{"all,-c", "a,b,redis", ""},
		{"default, redis", "a,redis", ""},
		{"REDIS a", "a,redis", ""},
		{"none,redis", "redis", ""},
		{"c,-c", "", ""},
	}
	for _, c := range cases {
		sel, err := m.Resolve(c.spec)
		if err != nil {
			t.Errorf("Resolve(%q): %v", c.spec, err)
			continue
		}
		if got := strings.Join(sel.Features, ","); got != c.want {
			t.Errorf("Resolve(%q) = %q, want %q", c.spec, got, c.want)
		}
		if got := strings.Join(sel.Added, ","); got != c.added {
			t.Errorf("Resolve(%q) added %q, want %q", c.spec, got, c.added)
		}
	}
	sel, _ := m.Resolve("c")
	if got := sel.TagString(); got != "custom,a,b,c" {
		t.Errorf("tags = %q", got)
	}
}

func TestResolveErrors(t *testing.T) {
	m := mustParse(t, testManifest)
	cases := map[string][]string{
		"redsi":        {`unknown feature "redsi"`, `did you mean "redis"?`, "valid features: a, b, c, redis"},
		"zzzzzz":       {`unknown feature "zzzzzz"`, "valid features"},
		"c,-a":         {`cannot remove feature "a"`, `required by "b", "c"`},
		"all,-b":       {`cannot remove feature "b"`, `required by "c"`},
		"default,-zz":  {`unknown feature "zz"`},
		"-":            {`empty feature name`},
		"default,none": {`none starts from nothing and would drop default before it`, "put none first"},
		"all,none":     {`would drop all before it`},
		"a,none,b":     {`would drop a before it`},
	}
	for spec, wants := range cases {
		_, err := m.Resolve(spec)
		if err == nil {
			t.Errorf("Resolve(%q) succeeded", spec)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Resolve(%q) error %q lacks %q", spec, err, w)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Resolve(%q) error is not one line: %q", spec, err)
		}
	}
	if s := m.suggestFor("nothinglikeit"); s != "" {
		t.Errorf("suggestion for a far name: %q", s)
	}
}

func (m *Manifest) suggestFor(name string) string {
	_, err := m.Resolve(name)
	if i := strings.Index(err.Error(), "did you mean "); i >= 0 {
		return err.Error()[i:]
	}
	return ""
}

func TestParseErrors(t *testing.T) {
	feature := func(name, requires string) string {
		return `{"name":"` + name + `","description":"d","category":"c","default":false,"requires":[` + requires + `],"modules":[],"provides":[],"size_impact":null}`
	}
	doc := func(features ...string) string {
		return `{"schema":1,"core":{"description":"c","modules":[],"size_impact":null},"features":[` + strings.Join(features, ",") + `]}`
	}
	cases := map[string]string{
		doc(feature("a", `"b"`), feature("b", `"a"`)):                               "requirement cycle: a -> b -> a",
		doc(feature("a", `"a"`)):                                                    "requirement cycle: a -> a",
		doc(feature("a", `"b"`), feature("b", `"c"`), feature("c", `"b"`)):          "requirement cycle: b -> c -> b",
		doc(feature("a", `"ghost"`)):                                                `feature "a" requires unknown feature "ghost"`,
		doc(feature("a", ``), feature("a", ``)):                                     `feature "a" is declared twice`,
		doc(feature("Bad-Name", ``)):                                                `feature "Bad-Name": a name must match`,
		doc(feature("all", ``)):                                                     `feature "all": the name is reserved`,
		doc(feature("custom", ``)):                                                  `feature "custom": the name is reserved`,
		`{"schema":2,"core":{},"features":[]}`:                                      "schema 2 is not supported",
		`{"schema":1,"core":{},"features":[],"extra":1}`:                            `unknown field "extra"`,
		`{"schema":1,`:                                                              "unexpected EOF",
		doc(`{"name":"a","description":"d","category":"c","provides":["nocolon"]}`): `provides entry "nocolon"`,
		doc(`{"name":"a","description":"","category":"c"}`):                         `feature "a" has no description`,
		doc(`{"name":"a","description":"d","category":""}`):                         `feature "a" has no category`,
		doc(`{"name":"a","description":"d","category":"c","provides":["database:a"],"schemes":["a"]}`):            `schemes entry "a" is not of the form service:scheme`,
		doc(`{"name":"a","description":"d","category":"c","provides":["database:a"],"schemes":["database:A b"]}`): `schemes entry "database:A b" is not of the form`,
		doc(`{"name":"a","description":"d","category":"c","provides":["database:a"],"schemes":["cache:a"]}`):      `schemes entry "cache:a" names service cache, which the feature does not provide`,
		doc(`{"name":"a","description":"d","category":"c","provides":["database:a"],"schemes":["database:x"]}`,
			`{"name":"b","description":"d","category":"c","provides":["database:b"],"schemes":["database:x"]}`): `feature "b": database scheme "x" is served by feature "a" already`,
	}
	for input, want := range cases {
		_, err := Parse([]byte(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.60s...) = %v, want an error containing %q", input, err, want)
		}
	}
}

func TestQueries(t *testing.T) {
	m := mustParse(t, testManifest)
	if got := m.Provider("database", "a"); got != "a" {
		t.Errorf("Provider(database, a) = %q", got)
	}
	if got := m.Provider("database", "nope"); got != "" {
		t.Errorf("Provider(database, nope) = %q", got)
	}
	if got := m.RequiredBy("a", []string{"a", "b", "c", "redis"}); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("RequiredBy(a) = %v, want b (directly) and c (through b)", got)
	}
	if got := m.Categories(); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("Categories = %v", got)
	}
	if got := m.FeaturesFromTags(nil); !slices.Equal(got, []string{"a"}) {
		t.Errorf("FeaturesFromTags(nil) = %v", got)
	}
	if got := m.FeaturesFromTags([]string{"custom", "c", "netgo"}); !slices.Equal(got, []string{"c"}) {
		t.Errorf("FeaturesFromTags(custom,c) = %v", got)
	}
	if got := m.FeaturesFromTags([]string{"redis"}); !slices.Equal(got, []string{"a", "redis"}) {
		t.Errorf("FeaturesFromTags(redis) = %v", got)
	}
	if c := m.Feature("c"); c.SizeImpact == nil || *c.SizeImpact != 1234 {
		t.Errorf("size impact of c = %v", c.SizeImpact)
	}
}

func TestCheckServes(t *testing.T) {
	m := realManifest(t)
	for spec, want := range map[string]string{
		"default":                 "",
		"memory":                  "",
		"builder,prometheus":      "error",
		"none,builder,prometheus": "warning",
		"none":                    "warning",
		"default,-bolt,-memory":   "error",
		"memory,-memory":          "error",
	} {
		sel, err := m.Resolve(spec)
		if err != nil {
			t.Fatal(err)
		}
		warning, err := m.CheckServes(spec, sel)
		got := ""
		switch {
		case err != nil:
			got = "error"
			if !strings.Contains(err.Error(), "no selected feature provides a database (") || !strings.Contains(err.Error(), "memory") || !strings.Contains(err.Error(), "none") {
				t.Errorf("%s: %v", spec, err)
			}
			// The hints are FEATURES values that work: no empty item, no
			// "(none,)".
			if strings.Contains(err.Error(), "(e.g. ,") || strings.Contains(err.Error(), ",)") {
				t.Errorf("%s: a garbled hint: %v", spec, err)
			}
			for _, hint := range hintsIn(err.Error()) {
				if _, rerr := m.Resolve(hint); rerr != nil {
					t.Errorf("%s: hint %q does not resolve: %v", spec, hint, rerr)
				}
			}
		case warning != "":
			got = "warning"
		}
		if got != want {
			t.Errorf("CheckServes(%q) = %q (%v), want %q", spec, got, err, want)
		}
	}
}

// hintsIn are the FEATURES values an error offers: "e.g. X" and "(none,...)".
func hintsIn(msg string) []string {
	var out []string
	if _, rest, ok := strings.Cut(msg, "(e.g. "); ok {
		out = append(out, strings.SplitN(rest, ")", 2)[0])
	}
	if _, rest, ok := strings.Cut(msg, "build (none"); ok {
		out = append(out, "none"+strings.SplitN(rest, ")", 2)[0])
	}
	return out
}

func TestCheckModules(t *testing.T) {
	m := realManifest(t)
	linked := func(features ...string) map[string]string {
		out := map[string]string{}
		for _, mod := range m.Core.Modules {
			out[mod] = "v1"
		}
		for _, n := range features {
			for _, mod := range m.Feature(n).Modules {
				out[mod] = "v1"
			}
		}
		return out
	}
	if err := m.CheckModules([]string{"memory", "splunk"}, linked("memory", "splunk")); err != nil {
		t.Errorf("agreeing modules: %v", err)
	}
	if err := m.CheckModules([]string{"memory"}, linked("memory", "bolt")); err == nil || !strings.Contains(err.Error(), "only feature bolt brings") {
		t.Errorf("a module of a feature not carried: %v", err)
	}
	if err := m.CheckModules([]string{"memory", "bolt"}, linked("memory")); err == nil || !strings.Contains(err.Error(), "feature bolt brings module") {
		t.Errorf("a carried feature's module missing: %v", err)
	}
}

// TestSchemesAndModules: features serve URL schemes, and features from other
// modules join a manifest without becoming build tags.
func TestSchemesAndModules(t *testing.T) {
	m := mustParse(t, strings.Replace(testManifest, `"provides": ["database:a"]`, `"provides": ["database:a"], "schemes": ["database:a", "database:a2"]`, 1))
	if got := m.SchemeFeature("database", "A2"); got != "a" {
		t.Errorf("SchemeFeature(database, A2) = %q, want a (schemes compare in lower case)", got)
	}
	if got := m.SchemeFeature("cache", "a"); got != "" {
		t.Errorf("SchemeFeature(cache, a) = %q: a serves no cache", got)
	}
	if got := m.Schemes(m.Names(), "database"); !slices.Equal(got, []string{"a", "a2"}) {
		t.Errorf("Schemes(database) = %v", got)
	}

	ext := Feature{Name: "ext", Description: "E", Category: "x", Requires: []string{"b"}, Provides: []string{"database:ext"}, Schemes: []string{"database:ext"}, Module: "example.com/ext"}
	merged, err := m.Add(ext)
	if err != nil {
		t.Fatal(err)
	}
	if m.Feature("ext") != nil {
		t.Fatal("Add changed the manifest it was called on")
	}
	sel, err := merged.Resolve("none,ext")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sel.Features, []string{"a", "b", "ext"}) || !slices.Equal(sel.External, []string{"ext"}) || sel.TagString() != "custom,a,b" {
		t.Fatalf("none,ext = %+v, tags %s; want a,b,ext with ext no tag", sel, sel.TagString())
	}
	for _, bad := range []Feature{
		{Name: "ext", Description: "E", Category: "x"}, // no module
		{Name: "a", Description: "E", Category: "x", Module: "example.com/x"},
		{Name: "x", Description: "E", Category: "x", Provides: []string{"database:x"}, Schemes: []string{"database:a2"}, Module: "example.com/x"},
		{Name: "x", Description: "E", Category: "x", Requires: []string{"ghost"}, Module: "example.com/x"},
	} {
		if _, err := m.Add(bad); err == nil {
			t.Errorf("Add(%+v) accepted", bad)
		}
	}
}

func TestSpecWith(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"", "default,fsdb"},
		{"-bolt", "default,-bolt,fsdb"},
		{"memory", "memory,fsdb"},
		{"none,memory", "none,memory,fsdb"},
		{"default redis", "default,redis,fsdb"},
	} {
		if got := SpecWith(c.spec, "fsdb"); got != c.want {
			t.Errorf("SpecWith(%q, fsdb) = %q, want %q", c.spec, got, c.want)
		}
	}
	if got := SpecWith("-bolt"); got != "-bolt" {
		t.Errorf("SpecWith without names = %q", got)
	}
}
