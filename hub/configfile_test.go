package hub_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/hub"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		want string // "" for valid, or a fragment every error message must include
		chk  func(t *testing.T, c hub.Config)
	}{
		{name: "no file: the defaults", file: "-", chk: func(t *testing.T, c hub.Config) {
			if c.WebAddr != ":8443" || c.DataDir != "data" || c.AuditEvery != 24*time.Hour {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "every kind of value", file: `data_dir = "/srv/toyhub"
web_addr = ":9443"
mdns = false
mdns_interfaces = ["wlan0", "eth0"]
pairing_window = "5m"
[audit]
every = "12h"
targets = ["192.168.1.0/24"]
[backup]
dir = "/media/usb"
passphrase_file = "/etc/toyhub/pass"
keep = 3
[limits]
max_message_bytes = 1048576
`, chk: func(t *testing.T, c hub.Config) {
			if c.DataDir != "/srv/toyhub" || c.WebAddr != ":9443" || c.Discovery || len(c.DiscoveryInterfaces) != 2 ||
				c.PairingWindow != 5*time.Minute || c.AuditEvery != 12*time.Hour || c.AuditTargets[0] != "192.168.1.0/24" ||
				c.BackupDir != "/media/usb" || c.BackupKeep != 3 || c.MaxMessageBytes != 1<<20 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "the environment over the file", file: `web_addr = ":9443"`, env: []string{"TOYHUB_WEB_ADDR=:7443", "TOYHUB_MDNS=false", "TOYHUB_AUDIT_TARGETS=10.0.0.1, 10.0.0.2"},
			chk: func(t *testing.T, c hub.Config) {
				if c.WebAddr != ":7443" || c.Discovery || len(c.AuditTargets) != 2 {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "unknown key", file: `web_adress = ":9443"`, want: `unknown key "web_adress"`},
		{name: "unknown key in a table", file: "[audit]\nevry = \"1h\"", want: `unknown key "audit.evry"`},
		{name: "a number for an address", file: `web_addr = 8443`, want: "web_addr: want a string"},
		{name: "a bad duration", file: `pairing_window = "ten minutes"`, want: "pairing_window: \"ten minutes\" is not a duration"},
		{name: "a duration without quotes", file: `pairing_window = 10`, want: "pairing_window: want a duration"},
		{name: "a string for a bool", file: `mdns = "yes"`, want: "mdns: want true or false"},
		{name: "syntax", file: "web_addr = \":9443\"\nmdns = tru\n", want: "line 2"},
		{name: "bad environment value", file: "-", env: []string{"TOYHUB_MDNS=maybe"}, want: "TOYHUB_MDNS"},
		{name: "unknown environment variable", file: "-", env: []string{"TOYHUB_WEB_ADRESS=:1"}, want: "TOYHUB_WEB_ADRESS: not a toyhub setting"},
		{name: "metrics to the network", file: `metrics_addr = "0.0.0.0:9464"`, want: "must be a loopback address"},
		{name: "backups without a passphrase", file: "[backup]\ndir = \"/media/usb\"", want: "backup.passphrase_file"},
		{name: "a public scan target", file: "[audit]\ntargets = [\"8.8.8.8\"]", want: "never public"},
		{name: "an address without a port", file: `mqtt_addr = "localhost"`, want: "missing port"},
		{name: "a bad log level", file: "[log]\nlevel = \"loud\"", want: "log level"},
		{name: "two errors, both named", file: "web_addr = 1\npairing_window = \"x\"", want: "web_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "-" {
				path = filepath.Join(t.TempDir(), "toyhub.toml")
				os.WriteFile(path, []byte(tt.file), 0o644)
			}
			c, err := hub.LoadConfig(path, tt.env)
			if err == nil {
				err = c.Check()
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid configuration refused: %v", err)
				}
				tt.chk(t, c)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to mention %q", err, tt.want)
			}
			if tt.name == "two errors, both named" && !strings.Contains(err.Error(), "pairing_window") {
				t.Fatalf("only the first error was reported: %v", err)
			}
		})
	}
}

// TestPackagedConfig: the file the package installs is valid, sets only
// the data directory, and documents every key (commented out, with its
// default).
func TestPackagedConfig(t *testing.T) {
	path := filepath.Join("..", "packaging", "toyhub.toml")
	c, err := hub.LoadConfig(path, nil)
	if err == nil {
		err = c.Check()
	}
	if err != nil {
		t.Fatal(err)
	}
	d := hub.Defaults()
	d.DataDir = "/var/lib/toyhub"
	if c.DataDir != d.DataDir || c.WebAddr != d.WebAddr || c.AuditEvery != d.AuditEvery || c.BackupKeep != d.BackupKeep {
		t.Fatalf("the packaged file changes more than the data directory: %+v", c)
	}
	b, _ := os.ReadFile(path)
	text := string(b)
	for _, kv := range hub.SettingKeys() {
		key := kv[0]
		leaf := key[strings.LastIndexByte(key, '.')+1:]
		if !regexp.MustCompile(`(?m)^#? ?` + regexp.QuoteMeta(leaf) + ` = `).MatchString(text) {
			t.Errorf("the packaged configuration does not document %s", key)
		}
	}
}
