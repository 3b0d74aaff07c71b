package sizes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/navius-dev/navius/internal/manifest"
)

// Budgets is the size budget file (size-budget.json).
type Budgets struct {
	Comment string   `json:"comment"`
	Budgets []Budget `json:"budgets"`
}

// Budget caps one build's stripped size.
type Budget struct {
	Name     string `json:"name"`
	Features string `json:"features"`
	MaxBytes int64  `json:"max_bytes"`
	// Measured is the size when make sizes last ran; Modules its symbol
	// bytes per module, to name what grew when the budget is exceeded.
	Measured int64            `json:"measured_bytes"`
	Modules  map[string]int64 `json:"modules"`
}

// LoadBudgets reads a budget file.
func LoadBudgets(path string) (*Budgets, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var b Budgets
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &b, nil
}

// Write saves the budget file.
func (b *Budgets) Write(path string) error { return writeJSON(path, b) }

// Rebaseline records each budget's current size and module breakdown; the
// caps stay as they are.
func (b *Budgets) Rebaseline(ctx context.Context, bl *Builder) error {
	for i := range b.Budgets {
		bu := &b.Budgets[i]
		sel, err := bl.Selection(bu.Features)
		if err != nil {
			return fmt.Errorf("budget %s: %w", bu.Name, err)
		}
		if bu.Measured, err = bl.Size(ctx, sel); err != nil {
			return err
		}
		dbg, err := bl.Build(ctx, sel, true)
		if err != nil {
			return err
		}
		if bu.Modules, err = ModuleBytes(ctx, dbg); err != nil {
			return err
		}
	}
	return nil
}

// Violation is a build over its budget, with what grew most.
type Violation struct {
	Budget            Budget
	Size              int64
	Feature           string // the feature (or "core") whose impact grew most
	FeatureGrowth     int64
	Module            string // the module whose symbols grew most
	ModuleGrowth      int64
	FeatureMeasuredAt int64
}

func (v Violation) Error() string {
	msg := fmt.Sprintf("size budget %q (FEATURES=%s): %d bytes, %d over its %d-byte budget",
		v.Budget.Name, v.Budget.Features, v.Size, v.Size-v.Budget.MaxBytes, v.Budget.MaxBytes)
	if v.Feature != "" {
		msg += fmt.Sprintf("; feature %s grew most (+%d bytes since make sizes measured it)", v.Feature, v.FeatureGrowth)
	}
	if v.Module != "" {
		msg += fmt.Sprintf("; module %s grew most (+%d bytes of symbols)", v.Module, v.ModuleGrowth)
	}
	return msg + "; trim it, or raise max_bytes in size-budget.json and run make sizes"
}

// Check builds every budgeted selection; for each over its cap it names the
// feature and the module that grew most.
func (b *Budgets) Check(ctx context.Context, bl *Builder) ([]Violation, map[string]int64, error) {
	var out []Violation
	sizes := map[string]int64{}
	for _, bu := range b.Budgets {
		sel, err := bl.Selection(bu.Features)
		if err != nil {
			return nil, nil, fmt.Errorf("budget %s: %w", bu.Name, err)
		}
		size, err := bl.Size(ctx, sel)
		if err != nil {
			return nil, nil, err
		}
		sizes[bu.Name] = size
		if size <= bu.MaxBytes {
			continue
		}
		v := Violation{Budget: bu, Size: size}
		if err := v.attribute(ctx, bl, sel); err != nil {
			return nil, nil, err
		}
		out = append(out, v)
	}
	return out, sizes, nil
}

// attribute finds the feature whose impact grew most against features.json
// and the module whose symbols grew most against the budget's baseline.
func (v *Violation) attribute(ctx context.Context, bl *Builder, sel manifest.Selection) error {
	m := bl.Manifest
	measure := func(spec string) (int64, error) {
		s, err := m.Resolve(spec)
		if err != nil {
			return 0, err
		}
		return bl.Size(ctx, s)
	}
	core, err := measure("none")
	if err != nil {
		return err
	}
	if m.Core.SizeImpact != nil {
		v.Feature, v.FeatureGrowth = "core", core-*m.Core.SizeImpact
	}
	for _, name := range sel.Features {
		f := m.Feature(name)
		if f.SizeImpact == nil {
			continue
		}
		base, err := measure("none," + strings.Join(m.Closure(f.Requires), ","))
		if err != nil {
			return err
		}
		with, err := measure("none," + name)
		if err != nil {
			return err
		}
		if g := (with - base) - *f.SizeImpact; g > v.FeatureGrowth || v.Feature == "" {
			v.Feature, v.FeatureGrowth = name, g
		}
	}
	dbg, err := bl.Build(ctx, sel, true)
	if err != nil {
		return err
	}
	now, err := ModuleBytes(ctx, dbg)
	if err != nil {
		return err
	}
	for mod, n := range now {
		if g := n - v.Budget.Modules[mod]; g > v.ModuleGrowth {
			v.Module, v.ModuleGrowth = mod, g
		}
	}
	return nil
}

// WriteManifest saves m to path in features.json's layout.
func WriteManifest(path string, m *manifest.Manifest) error { return writeJSON(path, m) }

func writeJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// Table renders docs/SIZES.md.
func (r Report) Table(m *manifest.Manifest, goVersion string) string {
	var b strings.Builder
	b.WriteString("# Binary sizes\n\n")
	b.WriteString("Generated by `make sizes`; do not edit. Stripped (`-s -w`), static (`CGO_ENABLED=0`),\n")
	b.WriteString("`-trimpath` builds with the `custom` tag, " + goVersion + ". A feature's impact is the size of\n")
	b.WriteString("a build of the feature and its requirements minus a build of its requirements alone.\n\n")
	fmt.Fprintf(&b, "| build | bytes | MiB |\n|---|---:|---:|\n")
	for _, row := range []struct {
		name string
		n    int64
	}{{"core (`FEATURES=none`)", r.Core}, {"`FEATURES=default`", r.Default}, {"`FEATURES=all`", r.All}} {
		fmt.Fprintf(&b, "| %s | %d | %.2f |\n", row.name, row.n, float64(row.n)/(1<<20))
	}
	b.WriteString("\n| feature | impact (bytes) | impact (MiB) | requires | modules it brings |\n|---|---:|---:|---|---|\n")
	fs := append([]Measurement(nil), r.Features...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Impact() > fs[j].Impact() })
	for _, fm := range fs {
		f := m.Feature(fm.Feature)
		mods := "none"
		if len(f.Modules) > 0 {
			mods = "`" + strings.Join(f.Modules, "`, `") + "`"
		}
		req := "-"
		if len(f.Requires) > 0 {
			req = strings.Join(f.Requires, ", ")
		}
		fmt.Fprintf(&b, "| `%s` | %d | %.2f | %s | %s |\n", f.Name, fm.Impact(), float64(fm.Impact())/(1<<20), req, mods)
	}
	b.WriteString("\nModules that several features list are counted in the impact of each of them when it is\nbuilt alone; a build with several of them carries the module once.\n")
	return b.String()
}
