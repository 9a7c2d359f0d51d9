package hub_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/toyhub/toyhub/hub"
)

// FuzzLoadConfig: any configuration file is read or refused with an
// error, never a crash; what is read can be checked.
func FuzzLoadConfig(f *testing.F) {
	seed, _ := os.ReadFile(filepath.Join("..", "packaging", "toyhub.toml"))
	f.Add(seed, "")
	f.Add([]byte("web_addr = 1\n[audit]\nevery = \"x\"\n"), "TOYHUB_MDNS=maybe")
	f.Add([]byte("[backup]\nkeep = -5\n[limits]\nmax_message_bytes = 99999999999999999999\n"), "TOYHUB_AUDIT_TARGETS=10.0.0.0/8")
	f.Add([]byte("[[a]]\nb=[1,\"x\",{c=2}]\n"), "TOYHUB_LOG_LEVEL=")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file []byte, env string) {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, file, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := hub.LoadConfig(p, []string{env})
		if err == nil {
			_ = c.Check()
			_ = c.Warnings()
		}
	})
}
