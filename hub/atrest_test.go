package hub_test

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/wire"
)

// TestNothingPersonalAtRest: after a full exchange, the bytes of the
// recordings and the devices' names appear nowhere in hub.db, its WAL or
// its shared-memory file, and nowhere in the hub's log.
func TestNothingPersonalAtRest(t *testing.T) {
	th := startHub(t)
	names := []string{"Bunny Whiskerton", "Grandma Rosalind", "Teddy Fitzgerald"}
	bunny, gran := th.device(names[0], "toy"), th.device(names[1], "family")
	th.device(names[2], "toy")
	th.link(names[0], names[1])
	th.link(names[2], names[1])
	a, g := th.dial(bunny), th.dial(gran)
	ctx := context.Background()
	msg, reply := recording(10, 11), recording(6, 12)
	if err := a.Send(ctx, wire.NewMessageID(), msg, []string{names[1]}); err != nil {
		t.Fatal(err)
	}
	receive(t, g, 1)
	if err := g.Send(ctx, wire.NewMessageID(), reply, []string{names[0]}); err != nil {
		t.Fatal(err)
	}
	receive(t, a, 1)

	needles := personal(names, msg, reply)
	th.scanDB(t, "while running", needles)
	th.stop() // closing checkpoints the WAL into hub.db
	th.scanDB(t, "after stop", needles)
	log := th.logs.String()
	th.noNamesInLog(t, names)
	if !strings.Contains(log, "Message committed") || !strings.Contains(log, bunny.Info.DeviceID) {
		t.Fatal("the log does not show the exchange by ID; is the test looking at the right log?")
	}
}

// personal lists byte strings that must never be stored or logged in
// clear: the names given (whole, lower-cased, and their first word), and
// windows of each recording with the WAV header they start with.
func personal(names []string, recs ...[]byte) [][]byte {
	var needles [][]byte
	for _, n := range names {
		needles = append(needles, []byte(n), []byte(strings.ToLower(n)))
		first, _, _ := strings.Cut(n, " ")
		needles = append(needles, []byte(first))
	}
	for _, rec := range recs {
		for _, off := range []int{44, 1000, len(rec) / 2, len(rec) - 64} {
			needles = append(needles, rec[off:off+32])
		}
		needles = append(needles, rec[:36])
	}
	return append(needles, []byte("WAVEfmt "))
}

// scanDB fails the test if any needle is in hub.db, its WAL or its shm.
func (th *testHub) scanDB(t *testing.T, when string, needles [][]byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(th.cfg.DataDir, "hub.db*"))
	if len(files) == 0 {
		t.Fatalf("%s: no database files", when)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s: %s contains %q", when, filepath.Base(f), n[:min(len(n), 16)])
			}
		}
	}
}

func (th *testHub) noNamesInLog(t *testing.T, names []string) {
	t.Helper()
	log := th.logs.String()
	for _, n := range names {
		first, _, _ := strings.Cut(n, " ")
		if strings.Contains(log, first) {
			t.Errorf("the hub's log contains the name %q", first)
		}
	}
}

// TestNothingPersonalAtRestWeb: the same through the web app: accounts,
// the household's name, an e-mail address, a TOTP secret, an invite, and
// recordings sent both ways in the browser.
func TestNothingPersonalAtRestWeb(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	th.waitLog(t, "Setup link")
	token := regexp.MustCompile(`token=([a-z0-9]+)`).FindStringSubmatch(th.logs.String())[1]
	mum := th.webClient(t)
	const email = "mum.whiskerton@example.org"
	if code, body := mum.post("/setup", url.Values{"token": {token}, "login": {"Marjorie Whiskerton"}, "email": {email},
		"household": {"Clan Whiskerton"}, "password": {ownerPassword}, "password2": {ownerPassword}}); code != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", code, body)
	}
	teddy := th.device("Teddy Fitzgerald", "toy")
	toy := th.dial(teddy)
	_, page := mum.get("/account/totp")
	secret := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(page)[1]
	c0, _ := totp.GenerateCode(secret, time.Now())
	if code, _ := mum.post("/account/totp", url.Values{"secret": {secret}, "code": {c0}, "current": {ownerPassword}}); code != http.StatusSeeOther {
		t.Fatalf("TOTP: %d", code)
	}
	_, body := mum.post("/family/invites", url.Values{"name": {"Grandma Rosalind"}, "toy": {teddy.Info.DeviceID}})
	u, _ := url.Parse(html.UnescapeString(joinLink.FindStringSubmatch(body)[1]))
	gran := th.webClient(t)
	const granPassword = "marmalade orbit pelican thimble"
	if code, _ := gran.post("/join", url.Values{"secret": {u.Query().Get("s")}, "password": {granPassword}, "password2": {granPassword}}); code != http.StatusOK { // her browser's certificate page
		t.Fatalf("join: %d", code)
	}
	mum.approveAll(t)
	fromWeb, fromToy := recording(3, 21), recording(4, 22)
	if resp, _ := gran.do("POST", "/toys/"+teddy.Info.DeviceID+"/messages", "audio/wav", fromWeb); resp.StatusCode != http.StatusCreated {
		t.Fatalf("Gran to Teddy: %d", resp.StatusCode)
	}
	receive(t, toy, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := toy.Send(ctx, wire.NewMessageID(), fromToy, nil); err != nil {
		t.Fatal(err)
	}
	// The self-check's stored report mentions devices and accounts by ID.
	if rep := th.check(t); len(rep.Findings) == 0 {
		t.Fatal("empty self-check report")
	}
	names := []string{"Marjorie Whiskerton", "Grandma Rosalind", "Teddy Fitzgerald", "Clan Whiskerton"}
	needles := append(personal(names, fromWeb, fromToy), []byte(email), []byte(secret), []byte(strings.ToLower(secret)))
	th.scanDB(t, "while running", needles)
	th.stop()
	th.scanDB(t, "after stop", needles)
	th.noNamesInLog(t, names)
	if strings.Contains(th.logs.String(), email) || strings.Contains(th.logs.String(), secret) {
		t.Error("the log holds the e-mail address or the TOTP secret")
	}
}
