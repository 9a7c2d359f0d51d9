package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveOnce runs 'toyhub serve' expecting it to refuse to start.
func serveOnce(t *testing.T, data string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return runCmd(t, exec.CommandContext(ctx, filepath.Join(binDir, "toyhub"), "serve", "--data", data, "--mdns=false",
		"--mqtt-addr", "127.0.0.1:0", "--enroll-addr", "127.0.0.1:0", "--web-addr", "", "--metrics-addr", ""))
}

// TestStartupFaults: a damaged database, a missing master key and the
// wrong master key each stop the hub with an error that names the file
// and what to do, and nothing is overwritten.
func TestStartupFaults(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	hubCmd, _ := startServe(t, data, freePort(t))
	must(t, runBin(t, "toyhub", "device", "add", "--data", data, "--name", "Bunny", "--kind", "toy", "--out", filepath.Join(t.TempDir(), "b")))
	hubCmd.Process.Signal(os.Interrupt)
	hubCmd.Wait()
	db, key := filepath.Join(data, "hub.db"), filepath.Join(data, "keys", "master.key")
	goodDB, _ := os.ReadFile(db)
	goodKey, _ := os.ReadFile(key)
	otherKey := strings.Replace(string(goodKey), string(goodKey[len(goodKey)-10:len(goodKey)-4]), "AAAAAA", 1)

	tests := []struct {
		name   string
		damage func()
		says   []string
	}{
		{"damaged database", func() {
			b := bytes.Clone(goodDB)
			copy(b, "this is no longer a database header")
			os.WriteFile(db, b, 0o600)
		}, []string{db, "toyhub restore"}},
		{"master key missing", func() { os.Remove(key) }, []string{key, "restore the key from your backup"}},
		{"wrong master key", func() { os.WriteFile(key, []byte(otherKey), 0o600) }, []string{key, "restore the right key"}},
		{"master key readable by others", func() { os.Chmod(key, 0o644) }, []string{key, "chmod 600"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(db, goodDB, 0o600)
			os.WriteFile(key, goodKey, 0o600)
			os.Chmod(key, 0o600)
			tt.damage()
			keyBefore, _ := os.ReadFile(key)
			r := serveOnce(t, data)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", r.code, r.stderr)
			}
			for _, s := range tt.says {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("the error does not say %q:\n%s", s, r.stderr)
				}
			}
			if keyAfter, _ := os.ReadFile(key); !bytes.Equal(keyBefore, keyAfter) {
				t.Error("the master key file was changed")
			}
		})
	}
	// Mended, it starts.
	os.WriteFile(db, goodDB, 0o600)
	os.WriteFile(key, goodKey, 0o600)
	os.Chmod(key, 0o600)
	startServe(t, data, freePort(t))
}
