package hub_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDependencies enforces the package graph of DESIGN.md: certs and
// store are leaves that know nothing of each other, MQTT or HTTP; wire
// knows only the standard library; devices knows only wire and certs; web
// knows nothing of the hub, MQTT or devices; the self-check (hub/audit)
// knows the hub only through the facts it is given.
func TestDependencies(t *testing.T) {
	const mod = "github.com/toyhub/toyhub/"
	tests := []struct {
		pkg       string
		forbidden []string
	}{
		{"wire", []string{mod, "github.com/", "modernc.org/"}},
		{"certs", []string{mod + "store", mod + "hub", mod + "web", mod + "wire", mod + "devices", "github.com/mochi-mqtt", "github.com/eclipse", "modernc.org", "net/http"}},
		{"store", []string{mod + "certs", mod + "hub", mod + "web", mod + "wire", mod + "devices", "github.com/mochi-mqtt", "github.com/eclipse", "net/http"}},
		{"devices", []string{mod + "store", mod + "hub", mod + "web", "github.com/mochi-mqtt", "modernc.org"}},
		{"web", []string{mod + "hub", mod + "devices", "github.com/mochi-mqtt", "github.com/eclipse"}},
		{"devices/cmd/toy", []string{mod + "store", mod + "hub", mod + "web", "github.com/mochi-mqtt", "modernc.org"}},
		// The self-check sees the hub only through audit.Facts.
		{"hub/audit", []string{mod + "store", mod + "web", mod + "devices", mod + "hub/cmd", "github.com/mochi-mqtt", "github.com/eclipse", "modernc.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+tt.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				if dep == mod+tt.pkg {
					continue
				}
				for _, f := range tt.forbidden {
					if strings.HasPrefix(dep, f) && !(f == mod && strings.HasPrefix(dep, mod+tt.pkg+"/")) {
						t.Errorf("%s depends on %s", tt.pkg, dep)
					}
				}
			}
		})
	}
}

// TestFuzzTargetsListed: make fuzz runs every fuzz target in the module;
// a new parser's target cannot be forgotten there.
func TestFuzzTargetsListed(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	n := 0
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg := strings.TrimPrefix(filepath.Dir(path), "../")
		for _, m := range fuzzFunc.FindAllSubmatch(src, -1) {
			n++
			if want := pkg + ":" + string(m[1]); !bytes.Contains(mk, []byte(want)) {
				t.Errorf("FUZZ_TARGETS in the Makefile lacks %s", want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d fuzz targets", n)
	}
}
