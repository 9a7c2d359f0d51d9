package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// constants reads this package's string constants whose names start with
// prefix, from its source: the set the spec must name.
func constants(t *testing.T, prefix string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]string{}
	for _, file := range []string{"messages.go", "topics.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
			return true
		})
	}
	if len(out) == 0 {
		t.Fatalf("no constants %s*", prefix)
	}
	return out
}

// TestProtocolDocument: docs/protocol.md, the spec toy makers read, and
// this package agree. Every code, request and answer kind, op, status and
// message field the hub uses is in the document; every code in the
// document's error table is one the hub uses; and the package doc names
// every kind too.
func TestProtocolDocument(t *testing.T) {
	raw, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	pkgDoc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range constants(t, "Code") {
		if !strings.Contains(doc, "| `"+v+"` |") {
			t.Errorf("the error table lacks %s (%q)", name, v)
		}
	}
	for prefix, dir := range map[string]string{"Up": "up/", "Down": "down/"} {
		for name, v := range constants(t, prefix) {
			if strings.HasSuffix(name, "Topic") || strings.HasSuffix(name, "Filter") {
				continue
			}
			if !strings.Contains(doc, "`"+dir+v+"`") {
				t.Errorf("the document lacks %s (`%s%s`)", name, dir, v)
			}
			if !strings.Contains(string(pkgDoc), dir+v) {
				t.Errorf("the package doc lacks %s (%s%s)", name, dir, v)
			}
		}
	}
	for _, prefix := range []string{"Op", "Status"} {
		for name, v := range constants(t, prefix) {
			if !strings.Contains(doc, "`"+v+"`") {
				t.Errorf("the document lacks %s (`%s`)", name, v)
			}
		}
	}
	codes := map[string]bool{}
	for _, v := range constants(t, "Code") {
		codes[v] = true
	}
	table := doc[strings.Index(doc, "## 7. Errors"):]
	table = table[:strings.Index(table, "## 8.")]
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(table, -1) {
		if !codes[m[1]] {
			t.Errorf("the error table names %q, which the hub never sends", m[1])
		}
	}
	// The defaults the document gives are the package's.
	block := doc[strings.Index(doc, "**Limits**"):]
	block = block[strings.Index(block, "```json")+len("```json") : strings.Index(block, "```\n\n")]
	var l Limits
	if err := Decode([]byte(block), &l); err != nil || l != DefaultLimits {
		t.Errorf("the document's default limits %+v (%v), the package's %+v", l, err, DefaultLimits)
	}
	for _, v := range []any{Header{}, Ack{}, Notify{}, Fetch{}, Played{}, Cancel{}, Status{}, Renew{}, Certificate{}, Limits{}, Heard{}} {
		ty := reflect.TypeOf(v)
		for i := range ty.NumField() {
			name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
			if name != "" && !strings.Contains(doc, `"`+name+`"`) && !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("the document lacks %s's field %q", ty.Name(), name)
			}
		}
	}
}
