package remote

import "testing"

// TestCheckHost: names and public addresses pass by their spelling; home
// addresses, bare words and malformed names are refused in words.
func TestCheckHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"family.example.net", true},
		{"my-home.dyndns.example.", true},
		{"93.184.216.34", true},
		{"2001:db8::1", true},
		{"", false},
		{"localhost", false},
		{"raspberrypi", false},
		{"192.168.1.1", false},
		{"10.0.0.5", false},
		{"100.64.3.4", false},
		{"127.0.0.1", false},
		{"-bad.example.net", false},
		{"bad-.example.net", false},
		{"under_score.example.net", false},
		{"spaces in.example.net", false},
		{"a..example.net", false},
		{"https://family.example.net", false},
	}
	for _, tt := range tests {
		if err := CheckHost(tt.host); (err == nil) != tt.ok {
			t.Errorf("CheckHost(%q) = %v, want ok %v", tt.host, err, tt.ok)
		}
	}
	if w := (Settings{Enabled: true, Host: "93.184.216.34", Port: 8885}).Warning(); w == "" {
		t.Error("no warning for a bare address")
	}
	if w := (Settings{Enabled: true, Host: "family.example.net", Port: 8885}).Warning(); w != "" {
		t.Errorf("a warning for a name: %q", w)
	}
	if err := (Settings{Enabled: true, Host: "family.example.net", Port: 80}).Check(); err == nil {
		t.Error("a port below 1024 passed")
	}
}
