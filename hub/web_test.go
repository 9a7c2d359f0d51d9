package hub_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/toyhub/toyhub/hub"
)

// TestWebSetupAndReset: the hub serves its web app over HTTPS with its own
// certificate; the setup link it logs at start creates the owner once;
// a forgotten password is reset only from the console.
func TestWebSetupAndReset(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	th.waitLog(t, "Setup link")
	m := regexp.MustCompile(`link="?(https://[^"\s]+)`).FindStringSubmatch(th.logs.String())
	if m == nil {
		t.Fatalf("no setup link in the log:\n%s", th.logs.String())
	}
	link := m[1]
	u, _ := url.Parse(link)
	if u.Port() == "" || u.Query().Get("token") == "" {
		t.Fatalf("setup link %q", link)
	}
	// A browser that trusts the household CA, at the bound address.
	w := th.webClient(t)
	post := w.post
	token := u.Query().Get("token")
	// Device names are context words no password may contain.
	th.device("Snowball", "toy")
	if code, body := post("/setup", url.Values{"token": {token}, "login": {"Mum"}, "password": {"snowball is our fluffy toy"}, "password2": {"snowball is our fluffy toy"}}); code != 400 || !strings.Contains(body, "snowball") {
		t.Fatalf("a toy's name in the password: %d", code)
	}
	if code, _ := post("/setup", url.Values{"token": {token}, "login": {"Mum"}, "password": {"violet tractor umbrella geology"}, "password2": {"violet tractor umbrella geology"}}); code != http.StatusSeeOther {
		t.Fatalf("setup: %d", code)
	}
	th.waitAudit(t, "setup.ok")
	if err := hub.Call(th.cfg.DataDir, hub.OpSetupLink, nil, nil); err == nil || !strings.Contains(err.Error(), "set up already") {
		t.Fatalf("setup-link after setup: %v", err)
	}
	for _, tt := range []struct {
		name, login, password, want string
	}{
		{"unknown account", "Dad", "violet tractor umbrella geology", "no account"},
		{"weak", "Mum", "123456789012", "too easy"},
		{"context word", "mum", "cloudpets are gone forever", "cloudpets"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := hub.Call(th.cfg.DataDir, hub.OpResetPassword, hub.ResetArgs{Login: tt.login, Password: tt.password}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("reset: %v", err)
			}
		})
	}
	if err := hub.Call(th.cfg.DataDir, hub.OpResetPassword, hub.ResetArgs{Login: "mum", Password: "purple giraffe eats lasagne"}, nil); err != nil {
		t.Fatal(err)
	}
	// The browser's session ended with the reset.
	if code, _ := w.get("/"); code != http.StatusSeeOther {
		t.Fatalf("the session survived a password reset: %d", code)
	}
	if code, _ := post("/login", url.Values{"login": {"Mum"}, "password": {"purple giraffe eats lasagne"}}); code != http.StatusSeeOther {
		t.Fatalf("login with the new password: %d", code)
	}
	th.waitAudit(t, "password.reset")
}
