package lan

import (
	"strings"
	"testing"
)

func TestAdvertised(t *testing.T) {
	tests := []struct {
		name  string
		hosts []string
		bound string
		want  string
	}{
		{"bound to one address", nil, "127.0.0.1:8883", "127.0.0.1:8883"},
		{"configured", []string{"pi.local:8883"}, "0.0.0.0:8883", "pi.local:8883"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Advertised(tt.hosts, tt.bound); strings.Join(got, ",") != tt.want {
				t.Fatalf("Advertised = %v, want %s", got, tt.want)
			}
		})
	}
	all := Advertised(nil, "[::]:8883")
	if len(all) < 2 || all[len(all)-1] != "127.0.0.1:8883" || !strings.HasSuffix(all[len(all)-2], ".local:8883") {
		t.Fatalf("wildcard bind: %v", all)
	}
	for _, v := range []string{"docker0", "br-1234", "veth9", "wg0"} {
		if !IsVirtual(v) {
			t.Errorf("%s not treated as virtual", v)
		}
	}
	if IsVirtual("eth0") || IsVirtual("wlan0") {
		t.Error("a LAN interface treated as virtual")
	}
}

func TestEnrollAddresses(t *testing.T) {
	tests := []struct {
		name               string
		configured         []string
		bound, public, out string
	}{
		{"without a public address", nil, "127.0.0.1:8884", "", "127.0.0.1:8884"},
		{"with a public address", nil, "127.0.0.1:8884", "home.example.net:8884", "127.0.0.1:8884,home.example.net:8884"},
		{"configured hosts, the endpoint's port", []string{"pi.local:8883"}, "0.0.0.0:8884", "", "pi.local:8884"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EnrollAddresses(tt.configured, tt.bound, tt.public); strings.Join(got, ",") != tt.out {
				t.Fatalf("EnrollAddresses = %v, want %s", got, tt.out)
			}
		})
	}
}
