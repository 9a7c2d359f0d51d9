package hub_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
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
	const good = "violet tractor umbrella geology"
	for _, tt := range []struct {
		name   string
		form   url.Values
		status int
		say    string
	}{
		{"wrong token", url.Values{"token": {"nope"}, "login": {"Mum"}, "password": {good}, "password2": {good}}, 403, "not valid"},
		{"breached service", url.Values{"token": {token}, "login": {"Mum"}, "password": {"Cloudpets2017!"}, "password2": {"Cloudpets2017!"}}, 400, "cloudpets"},
		{"household name", url.Values{"token": {token}, "login": {"Mum"}, "household": {"The Wilkinsons"}, "password": {"wilkinsons forever and ever"}, "password2": {"wilkinsons forever and ever"}}, 400, "wilkinsons"},
		{"own e-mail", url.Values{"token": {token}, "login": {"Mum"}, "email": {"bluebell@example.org"}, "password": {"bluebell meadow in spring"}, "password2": {"bluebell meadow in spring"}}, 400, "bluebell"},
		{"digits", url.Values{"token": {token}, "login": {"Mum"}, "password": {"123456789012"}, "password2": {"123456789012"}}, 400, "too easy"},
		{"mismatch", url.Values{"token": {token}, "login": {"Mum"}, "password": {good}, "password2": {good + "x"}}, 400, "differ"},
		{"no name", url.Values{"token": {token}, "login": {" "}, "password": {good}, "password2": {good}}, 400, "Your name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := post("/setup", tt.form); code != tt.status || !strings.Contains(body, tt.say) {
				t.Fatalf("%d, page lacks %q", code, tt.say)
			}
		})
	}
	th.waitAudit(t, "setup.refused")
	// Device names are context words no password may contain.
	th.device("Snowball", "toy")
	if code, body := post("/setup", url.Values{"token": {token}, "login": {"Mum"}, "password": {"snowball is our fluffy toy"}, "password2": {"snowball is our fluffy toy"}}); code != 400 || !strings.Contains(body, "snowball") {
		t.Fatalf("a toy's name in the password: %d", code)
	}
	if code, _ := post("/setup", url.Values{"token": {token}, "login": {"Mum"}, "password": {"violet tractor umbrella geology"}, "password2": {"violet tractor umbrella geology"}}); code != http.StatusSeeOther {
		t.Fatalf("setup: %d", code)
	}
	th.waitAudit(t, "setup.ok")
	if err := call(th.cfg.DataDir, control.SetupLink, control.None{}, nil); err == nil || !strings.Contains(err.Error(), "set up already") {
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
			err := call(th.cfg.DataDir, control.ResetPassword, control.ResetArgs{Login: tt.login, Password: tt.password}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("reset: %v", err)
			}
		})
	}
	if err := call(th.cfg.DataDir, control.ResetPassword, control.ResetArgs{Login: "mum", Password: "purple giraffe eats lasagne"}, nil); err != nil {
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
