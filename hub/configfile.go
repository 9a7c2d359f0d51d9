package hub

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The configuration file is TOML (by default /etc/toyhub/toyhub.toml in
// the package). Every key is optional: what is absent keeps its default.
// An environment variable TOYHUB_<KEY> (the key upper-cased, dots as
// underscores: TOYHUB_WEB_ADDR for web_addr, TOYHUB_AUDIT_EVERY for
// audit.every) overrides the file; command-line flags override both.

// DefaultConfigFile is where the package puts the configuration.
const DefaultConfigFile = "/etc/toyhub/toyhub.toml"

// setting is one key of the configuration file.
type setting struct {
	key string // dotted: "audit.every"
	doc string
	set func(c *Config, v value) error
}

// value is a setting's value from TOML (typed) or the environment (text).
type value struct {
	v   any
	env bool
}

func (v value) str() (string, error) {
	if s, ok := v.v.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("want a string in quotes, got %v", v.v)
}

func (v value) boolean() (bool, error) {
	if v.env {
		return strconv.ParseBool(v.v.(string))
	}
	if b, ok := v.v.(bool); ok {
		return b, nil
	}
	return false, fmt.Errorf("want true or false, got %v", v.v)
}

func (v value) integer() (int64, error) {
	if v.env {
		return strconv.ParseInt(v.v.(string), 10, 64)
	}
	if n, ok := v.v.(int64); ok {
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %v", v.v)
}

func (v value) duration() (time.Duration, error) {
	s, err := v.str()
	if err != nil {
		return 0, errors.New(`want a duration in quotes, such as "30s", "10m" or "24h"`)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf(`%q is not a duration such as "30s", "10m" or "24h"`, s)
	}
	return d, nil
}

func (v value) list() ([]string, error) {
	if v.env {
		var out []string
		for _, s := range strings.Split(v.v.(string), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	items, ok := v.v.([]any)
	if !ok {
		return nil, fmt.Errorf(`want a list such as ["a", "b"], got %v`, v.v)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("want strings in the list, got %v", it)
		}
		out = append(out, s)
	}
	return out, nil
}

func str(dst func(*Config) *string) func(*Config, value) error {
	return func(c *Config, v value) error {
		s, err := v.str()
		*dst(c) = s
		return err
	}
}

func boolean(dst func(*Config) *bool) func(*Config, value) error {
	return func(c *Config, v value) error {
		b, err := v.boolean()
		*dst(c) = b
		return err
	}
}

func duration(dst func(*Config) *time.Duration) func(*Config, value) error {
	return func(c *Config, v value) error {
		d, err := v.duration()
		*dst(c) = d
		return err
	}
}

func list(dst func(*Config) *[]string) func(*Config, value) error {
	return func(c *Config, v value) error {
		l, err := v.list()
		*dst(c) = l
		return err
	}
}

func integer[T int | int64](dst func(*Config) *T) func(*Config, value) error {
	return func(c *Config, v value) error {
		n, err := v.integer()
		*dst(c) = T(n)
		return err
	}
}

// settings are every key of the configuration file, in its order.
var settings = []setting{
	{"data_dir", "where the database, keys and control socket live", str(func(c *Config) *string { return &c.DataDir })},
	{"mqtt_addr", "the mutual-TLS MQTT broker for toys and family devices", str(func(c *Config) *string { return &c.MQTTAddr })},
	{"enroll_addr", "where toys pair and invited devices join (TLS 1.3)", str(func(c *Config) *string { return &c.EnrollAddr })},
	{"web_addr", `the HTTPS web app; "" turns it off`, str(func(c *Config) *string { return &c.WebAddr })},
	{"http_redirect_addr", `plain HTTP that only redirects to the web app; "" (the default) turns it off`, str(func(c *Config) *string { return &c.HTTPRedirectAddr })},
	{"metrics_addr", `/healthz and Prometheus /metrics, on loopback only; "" turns them off`, str(func(c *Config) *string { return &c.MetricsAddr })},
	{"mdns", "advertise the hub by mDNS on the LAN so that toys find it", boolean(func(c *Config) *bool { return &c.Discovery })},
	{"mdns_interfaces", "advertise on these interfaces only (default: the LAN interfaces)", list(func(c *Config) *[]string { return &c.DiscoveryInterfaces })},
	{"mdns_refresh", "how often to look for changed addresses", duration(func(c *Config) *time.Duration { return &c.DiscoveryRefresh })},
	{"pairing_window", "how long the hub waits for a toy after a parent enters its code", duration(func(c *Config) *time.Duration { return &c.PairingWindow })},
	{"invite_expiry", "how long an invite stays valid", duration(func(c *Config) *time.Duration { return &c.InviteExpiry })},
	{"device_cert_validity", "life of a device certificate (at most 90 days; devices renew at two thirds)", duration(func(c *Config) *time.Duration { return &c.DeviceCertValidity })},
	{"log.format", `"text" or "json"`, str(func(c *Config) *string { return &c.LogFormat })},
	{"log.level", `"debug", "info", "warn" or "error"`, str(func(c *Config) *string { return &c.LogLevel })},
	{"audit.every", `how often the hub checks its own security ("0s": never on its own)`, duration(func(c *Config) *time.Duration { return &c.AuditEvery })},
	{"audit.after_change", `check again this long after devices, invites or settings change ("0s": not)`, duration(func(c *Config) *time.Duration { return &c.AuditAfterChange })},
	{"audit.network", "include the home network scan in the hub's own checks", boolean(func(c *Config) *bool { return &c.AuditNetwork })},
	{"audit.targets", "addresses or prefixes to scan, private only, at most a /22 in all (default: the LAN subnets)", list(func(c *Config) *[]string { return &c.AuditTargets })},
	{"remote.enabled", "remote access for grandparents far away: one port, where nothing is served without a household certificate but redeeming an open invite", boolean(func(c *Config) *bool { return &c.Remote.Enabled })},
	{"remote.host", "the name (a dynamic-DNS name) or fixed address by which the Internet reaches your home router", str(func(c *Config) *string { return &c.Remote.Host })},
	{"remote.port", "the one port, the same on the router and on the hub", integer(func(c *Config) *int { return &c.Remote.Port })},
	{"remote.map", "ask the home router to forward the port itself (UPnP or NAT-PMP); false if you forward it by hand", boolean(func(c *Config) *bool { return &c.Remote.Map })},
	{"backup.dir", `where daily encrypted backups go, such as a USB stick or a NAS mount; "" (the default) turns them off`, str(func(c *Config) *string { return &c.BackupDir })},
	{"backup.passphrase_file", "a file holding the backup passphrase (readable by the hub only); needed for daily backups", str(func(c *Config) *string { return &c.BackupPassphraseFile })},
	{"backup.keep", "how many daily backups to keep", integer(func(c *Config) *int { return &c.BackupKeep })},
	{"backup.every", "how often to back up", duration(func(c *Config) *time.Duration { return &c.BackupEvery })},
	{"limits.max_message_bytes", "the largest recording, in bytes", integer(func(c *Config) *int64 { return &c.MaxMessageBytes })},
	{"limits.max_duration", "the longest recording", duration(func(c *Config) *time.Duration { return &c.MaxDuration })},
	{"limits.max_connections", "devices connected at once", integer(func(c *Config) *int64 { return &c.MaxConnections })},
	{"limits.max_handshakes", "TLS handshakes in progress at once", integer(func(c *Config) *int { return &c.MaxHandshakes })},
	{"limits.bytes_per_second_per_connection", "bytes one connected device may send a second, four seconds' worth at once (0: no limit)", integer(func(c *Config) *int64 { return &c.MaxConnBytesPerSecond })},
	{"limits.packets_per_second_per_connection", "MQTT packets one connected device may send a second, four seconds' worth at once (0: no limit)", integer(func(c *Config) *int { return &c.MaxConnPacketsPerSecond })},
	{"limits.connections_per_source", "MQTT connections one address may have opening, and web connections it may have open, at once", integer(func(c *Config) *int { return &c.MaxPerSource })},
	{"limits.messages_per_minute", "messages one device may send a minute", integer(func(c *Config) *int { return &c.MaxMessagesPerMinute })},
	{"limits.bytes_per_day", "bytes one device may send a day", integer(func(c *Config) *int64 { return &c.MaxBytesPerDay })},
	{"limits.min_free_bytes", "disk space new messages may not use", integer(func(c *Config) *int64 { return &c.MinFreeBytes })},
}

// SettingKeys lists the configuration file's keys, with what each is for.
func SettingKeys() [][2]string {
	out := make([][2]string, len(settings))
	for i, s := range settings {
		out[i] = [2]string{s.key, s.doc}
	}
	return out
}

// EnvName is the environment variable that overrides a key.
func EnvName(key string) string {
	return "TOYHUB_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// LoadConfig reads the configuration: the defaults, then the file at path
// (if path is not ""), then TOYHUB_* variables from environ. Every bad
// value is named in the error, with where it came from.
func LoadConfig(path string, environ []string) (Config, error) {
	cfg := Defaults()
	var errs []error
	if path != "" {
		var raw map[string]any
		md, err := toml.DecodeFile(path, &raw)
		if err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return cfg, fmt.Errorf("%s: line %d: %s", path, pe.Position.Line, pe.Message)
			}
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		known := map[string]bool{}
		for _, s := range settings {
			known[s.key] = true
		}
		for _, k := range md.Keys() {
			key := k.String()
			if md.Type(k...) == "Hash" {
				continue // a [table]; its keys are checked one by one
			}
			if !known[key] {
				errs = append(errs, fmt.Errorf("%s: unknown key %q; the keys are: %s", path, key, strings.Join(keyList(), ", ")))
			}
		}
		for _, s := range settings {
			v, ok := lookup(raw, s.key)
			if !ok {
				continue
			}
			if err := s.set(&cfg, value{v: v}); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", path, s.key, err))
			}
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "TOYHUB_") {
			env[k] = v
		}
	}
	names := map[string]bool{}
	for _, s := range settings {
		name := EnvName(s.key)
		names[name] = true
		if v, ok := env[name]; ok {
			if err := s.set(&cfg, value{v: v, env: true}); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %w", name, v, err))
			}
		}
	}
	for k := range env {
		if !names[k] && k != "TOYHUB_CONFIG" {
			errs = append(errs, fmt.Errorf("environment %s: not a toyhub setting", k))
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

func keyList() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.key
	}
	return out
}

func lookup(m map[string]any, key string) (any, bool) {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		v, ok := m[p]
		if !ok {
			return nil, false
		}
		if i == len(parts)-1 {
			return v, true
		}
		if m, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

// ConfigFile is the file to read: TOYHUB_CONFIG if set, else the
// package's file if it exists, else none (the embedded defaults).
func ConfigFile(environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "TOYHUB_CONFIG="); ok {
			return v
		}
	}
	if _, err := os.Stat(DefaultConfigFile); err == nil {
		return DefaultConfigFile
	}
	return ""
}
