package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/wire"
)

// TestConformanceCommand: 'toyhub conformance' checks the real 'toy run'
// started and driven by shell commands, as a toy maker would run it, and
// fails a device that never connects with exit status 1.
func TestConformanceCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bundle, outbox, inbox := filepath.Join(dir, "bundle"), filepath.Join(dir, "outbox"), filepath.Join(dir, "inbox")
	msg := filepath.Join(dir, "msg.wav")
	if err := os.WriteFile(msg, wire.Tone(16000, time.Second, 440, 9), 0o600); err != nil {
		t.Fatal(err)
	}
	toy := filepath.Join(binDir, "toy")
	tests := []struct {
		name, bundle string
		args         []string
		code         int
		lines        []string
	}{
		{"the project's toy", bundle, []string{
			"--start-cmd", "exec " + toy + " run --mdns=false --bundle " + bundle + " --outbox " + outbox + " --inbox " + inbox,
			"--send-cmd", "mkdir -p " + outbox + " && cp " + msg + " " + outbox + "/$(date +%s%N).wav",
			"--step", "30s", "--watch", "2s", "--retry-ms", "1000",
			"--only", "receives", "--only", "keeping to the limits", "--only", "not_contact"},
			0, []string{"PASS  connects and subscribes", "PASS  receives, ignoring a field", "PASS  sends, keeping to the limits",
				"PASS  refusal not_contact", "4 of 4 behaviours right"}},
		{"a device that never comes", filepath.Join(dir, "nobody"), []string{"--start-cmd", "true", "--step", "2s"},
			1, []string{"FAIL  connects and subscribes", "no connection within 2s", "0 of 1 behaviours right"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			args := append([]string{"conformance", "--device-bundle", tt.bundle}, tt.args...)
			r := runCmd(t, exec.CommandContext(ctx, filepath.Join(binDir, "toyhub"), args...))
			if r.code != tt.code {
				t.Errorf("exit status %d, want %d\n%s\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, l := range tt.lines {
				if !strings.Contains(r.stdout, l) {
					t.Errorf("the report lacks %q:\n%s", l, r.stdout)
				}
			}
		})
	}
}
