package hub_test

import (
	"go/ast"
	"go/constant"
	"go/types"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"

	"github.com/toyhub/toyhub/store"
)

// TestEventKindsDeclared: no code writes an audit event whose kind is not
// declared in store/events.go. Every expression of type store.EventKind
// in the module is checked: a constant must be a declared kind, and no
// kind is made at run time by converting or joining strings, so that
// every kind written comes from a declared constant.
func TestEventKindsDeclared(t *testing.T) {
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo, Dir: ".."}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatal(err)
	}
	const kindType = "github.com/toyhub/toyhub/store.EventKind"
	checked := 0
	for _, p := range pkgs {
		for _, e := range p.Errors {
			t.Errorf("%s: %v", p.PkgPath, e)
		}
		for _, f := range p.Syntax {
			name := p.Fset.Position(f.Pos()).Filename
			if strings.HasSuffix(name, "store/events.go") {
				continue // the declarations themselves, legacy spellings included
			}
			ast.Inspect(f, func(n ast.Node) bool {
				e, ok := n.(ast.Expr)
				if !ok {
					return true
				}
				tv, ok := p.TypesInfo.Types[e]
				if !ok || tv.Type == nil || types.TypeString(tv.Type, nil) != kindType {
					return true
				}
				pos := p.Fset.Position(e.Pos())
				switch {
				case tv.Value != nil:
					checked++
					if k := store.EventKind(constant.StringVal(tv.Value)); !k.Declared() {
						t.Errorf("%s: event kind %q is not declared in store/events.go", pos, k)
					}
					return false
				case isConversion(p.TypesInfo, e):
					t.Errorf("%s: an event kind made from a string at run time; use a constant from store/events.go", pos)
				case isBinary(e):
					t.Errorf("%s: an event kind joined from strings; use a constant from store/events.go", pos)
				}
				return true
			})
		}
	}
	if checked < 40 {
		t.Fatalf("found only %d event kinds written; is the check looking in the right place?", checked)
	}
}

func isConversion(info *types.Info, e ast.Expr) bool {
	c, ok := ast.Unparen(e).(*ast.CallExpr)
	if !ok {
		return false
	}
	tv, ok := info.Types[c.Fun]
	return ok && tv.IsType()
}

func isBinary(e ast.Expr) bool {
	_, ok := ast.Unparen(e).(*ast.BinaryExpr)
	return ok
}
