package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// TestEveryProviderHasACheck: every provider of navius's tree registers its
// check (what opening it would refuse in the config, found without opening
// anything), so that config check and serve cannot disagree about it. The
// providers compiled into this test binary are asked at run time; the gate
// files of every feature, whatever the build tags, are read.
func TestEveryProviderHasACheck(t *testing.T) {
	if unchecked := providers.UncheckedProviders(); len(unchecked) > 0 {
		t.Errorf("registered without a check: %v", unchecked)
	}
	// The registration calls and the number of arguments that includes the
	// check.
	withCheck := map[string]int{"RegisterDatabase": 4, "RegisterCache": 4, "RegisterObserver": 3}
	files, _ := filepath.Glob("providers_*.go")
	registrations := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if want, ok := withCheck[sel.Sel.Name]; ok {
				registrations++
				if len(call.Args) != want {
					t.Errorf("%s: providers.%s without its check (the last argument)", file, sel.Sel.Name)
				}
			}
			if sel.Sel.Name == "RegisterLogSink" {
				registrations++
				if !hasField(call, "Check") {
					t.Errorf("%s: providers.RegisterLogSink without Check", file)
				}
			}
			return true
		})
	}
	if registrations == 0 {
		t.Fatal("no registration found in the gate files")
	}
}

// hasField reports whether the composite literal passed to call sets name.
func hasField(call *ast.CallExpr, name string) bool {
	for _, arg := range call.Args {
		lit, ok := arg.(*ast.CompositeLit)
		if !ok {
			continue
		}
		for _, e := range lit.Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok {
				if id, ok := kv.Key.(*ast.Ident); ok && id.Name == name {
					return true
				}
			}
		}
	}
	return false
}
