package hub_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDependencies holds the package graph of DESIGN.md. Each package may
// import, of the module's own packages, only those listed for it: certs,
// store and wire are leaves that know nothing of each other; devices knows
// only wire and certs; web knows nothing of the hub; below hub, the
// composition root, each part imports the leaves it uses and no sibling
// it does not need (the household service reaches the broker, enrollment
// and the self-check only through interfaces it defines), and nothing
// imports the root. The control protocol's package imports nothing of the
// daemon, so the console's commands need none of it. Besides, some
// packages must not reach, even indirectly, the MQTT broker or client,
// SQLite or HTTP.
func TestDependencies(t *testing.T) {
	const mod = "github.com/toyhub/toyhub/"
	leaves := []string{"certs", "store", "wire"}
	tests := []struct {
		pkg     string
		imports []string // of the module's packages, directly
		never   []string // anywhere in its dependencies
	}{
		{"wire", nil, []string{"github.com/", "modernc.org/", "net/http"}},
		{"certs", nil, []string{"github.com/mochi-mqtt", "github.com/eclipse", "modernc.org", "net/http"}},
		{"store", nil, []string{"github.com/mochi-mqtt", "github.com/eclipse", "net/http"}},
		{"devices", []string{"certs", "wire"}, []string{"github.com/mochi-mqtt", "modernc.org"}},
		{"devices/cmd/toy", []string{"certs", "devices", "internal/cmdline", "wire"}, []string{"github.com/mochi-mqtt", "modernc.org"}},
		{"internal/cmdline", nil, []string{"github.com/"}},
		{"internal/attempts", nil, []string{"github.com/"}},
		{"web/password", nil, []string{"modernc.org", "net/http"}},
		{"web", []string{"certs", "internal/attempts", "store", "web/password", "wire"}, []string{"github.com/mochi-mqtt", "github.com/eclipse"}},

		// The parts of the hub.
		{"hub/audit", []string{"certs"}, []string{"github.com/mochi-mqtt", "github.com/eclipse", "modernc.org"}},
		{"hub/backup", nil, []string{"modernc.org"}},
		{"hub/connlimit", nil, []string{"github.com/"}},
		{"hub/datadir", nil, []string{"github.com/"}},
		{"hub/lan", nil, []string{"github.com/"}},
		{"hub/live", nil, []string{"github.com/"}},
		{"hub/servercert", []string{"certs"}, []string{"modernc.org"}},
		{"hub/health", nil, []string{"modernc.org", "github.com/mochi-mqtt"}},
		{"hub/discovery", []string{"certs", "hub/lan", "wire"}, []string{"modernc.org"}},
		{"hub/control", []string{"certs", "hub/audit", "hub/datadir"}, []string{"modernc.org", "github.com/mochi-mqtt"}},
		{"hub/archive", []string{"certs", "hub/backup", "hub/control", "hub/datadir", "store"}, []string{"github.com/mochi-mqtt"}},
		{"hub/broker", []string{"certs", "hub/connlimit", "hub/internal/pageout", "store", "wire"}, nil},
		{"hub/enroll", []string{"certs", "hub/connlimit", "internal/attempts", "store", "wire"}, []string{"github.com/mochi-mqtt"}},
		{"hub/selfcheck", []string{"certs", "hub/audit", "hub/enroll", "hub/internal/pageout", "hub/lan", "store", "web/password", "wire"}, []string{"github.com/mochi-mqtt"}},
		{"hub/household", []string{"certs", "hub/archive", "hub/audit", "hub/datadir", "hub/remote", "store", "web/password", "wire"}, []string{"github.com/mochi-mqtt"}},
		{"hub/remote", []string{"certs", "hub/connlimit", "store"}, []string{"github.com/mochi-mqtt", "github.com/eclipse"}},
		// The conformance kit speaks the protocol through wire alone: it
		// knows nothing of the hub's store or broker.
		{"hub/conformance", []string{"certs", "wire"}, []string{"modernc.org", "github.com/eclipse"}},
		{"hub/internal/rawmqtt", nil, nil},
		{"hub/internal/pageout", nil, []string{"github.com/", "modernc.org"}},
		{"hub/internal/webflood", nil, []string{"github.com/"}},
		{"hub/cmd/toybench", []string{"certs", "devices", "hub/control", "hub/internal/rawmqtt", "hub/internal/webflood", "wire"}, nil},
	}
	checked := map[string]bool{"hub": true, "hub/cmd/toyhub": true, "hub/audit/auditfake": true}
	for _, tt := range tests {
		checked[tt.pkg] = true
		t.Run(tt.pkg, func(t *testing.T) {
			p := list(t, mod+tt.pkg)
			for _, imp := range p.Imports {
				if rel, ok := strings.CutPrefix(imp, mod); ok && !slices.Contains(tt.imports, rel) {
					t.Errorf("%s imports %s", tt.pkg, rel)
				}
			}
			for _, dep := range p.Deps {
				if dep == mod+"hub" {
					t.Errorf("%s depends on the composition root", tt.pkg)
				}
				for _, n := range tt.never {
					if strings.HasPrefix(dep, n) {
						t.Errorf("%s depends on %s", tt.pkg, dep)
					}
				}
			}
			if slices.Contains(leaves, tt.pkg) {
				for _, dep := range p.Deps {
					if strings.HasPrefix(dep, mod) {
						t.Errorf("%s is a leaf, yet depends on %s", tt.pkg, dep)
					}
				}
			}
		})
	}
	// Every package of the module has its line above.
	out, err := exec.Command("go", "list", mod+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if !checked[strings.TrimPrefix(p, mod)] {
			t.Errorf("%s is not in the package graph: say what it may import", p)
		}
	}
}

type goPackage struct {
	Imports, Deps []string
}

func list(t *testing.T, pkg string) goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var p goPackage
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
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
