package hub

import (
	"strings"
	"testing"
	"time"
)

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data directory"},
		{"bad address", func(c *Config) { c.MQTTAddr = "8883" }, "mqtt address"},
		{"huge chunk", func(c *Config) { c.MaxChunk = 1 << 20 }, "max chunk"},
		{"long certificates", func(c *Config) { c.DeviceCertValidity = 365 * 24 * time.Hour }, "device certificate validity"},
		{"no keepalive", func(c *Config) { c.MaxKeepalive = 0 }, "keepalive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mod(&c)
			err := c.Check()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Check() = %v, want %q", err, tt.want)
			}
		})
	}
}
