package thirdparty

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestHarnessTestSource: the generated harness imports each verified
// feature's package (named only where it calls the package's read-back
// function) and runs one suite per "conformance" entry, with its settings.
func TestHarnessTestSource(t *testing.T) {
	two := func(name, pkg string, provides []string, conf map[string]Instance) Feature {
		return Feature{Name: name, Package: pkg, Provides: provides, Schemes: []string{"database:" + name}, Conformance: conf, Schema: 2, Durable: true}
	}
	mods := []*Module{{Path: "example.com/m", Features: []Feature{
		two("db", "example.com/m/db", []string{"database:db"}, map[string]Instance{"database": {URL: "db://{dir}/x", Options: map[string]string{"db.table": "t_{id}"}}}),
		two("sink", "example.com/m/sink", []string{"logging:sink", "observability:sink"}, map[string]Instance{
			"logging":       {Options: map[string]string{"sink.path": "{dir}/log"}, Read: "ReadEntries"},
			"observability": {Options: map[string]string{"sink.metrics": "{dir}/m"}},
		}),
		{Name: "old", Package: "example.com/m/old", Provides: []string{"logging:old"}, Schema: 1, ConformanceTest: "TestConformance"},
	}}}
	src := string(HarnessTest(mods))
	f, err := parser.ParseFile(token.NewFileSet(), "zz.go", src, 0)
	if err != nil {
		t.Fatalf("the harness does not parse: %v\n%s", err, src)
	}
	imports := map[string]string{}
	for _, imp := range f.Imports {
		name := ""
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imports[strings.Trim(imp.Path.Value, `"`)] = name
	}
	if imports["example.com/m/db"] != "_" || imports["example.com/m/sink"] != "p1" || len(imports) != 3 {
		t.Errorf("imports %v; want db blank, sink as p1, testing, and nothing of the schema-1 feature", imports)
	}
	for _, want := range []string{
		`t.Run("database:db", func(t *testing.T) {` + "\n\t\t\tRunDatabase(t, Target{Feature: \"db\", Provider: \"db\", URL: \"db://{dir}/x\", Options: map[string]string{\"db.table\": \"t_{id}\"}, Schemes: []string{\"db\"}, Durable: true})",
		`RunLogSink(t, Target{Feature: "sink", Provider: "sink", URL: "", Options: map[string]string{"sink.path": "{dir}/log"}, Schemes: []string{}, Durable: false}, p1.ReadEntries)`,
		`RunObserver(t, Target{Feature: "sink", Provider: "sink", URL: "", Options: map[string]string{"sink.metrics": "{dir}/m"}, Schemes: []string{}, Durable: false}, nil)`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("the harness lacks\n%s\n%s", want, src)
		}
	}
}
