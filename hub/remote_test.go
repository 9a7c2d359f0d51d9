package hub_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

// Remote access on loopback: the door on its one port, with real TLS, the
// real broker, enrollment and web app behind it. Each stranger and each
// grandparent connects from a loopback address of its own, as from
// another place. (The router, its mapping and the Internet beyond it are
// in hub/cmd/toyhub's network-namespace test.)

const remoteHost = "family.example.net"

// freePort finds a port free on loopback for the remote door.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// remoteHub is a hub with remote access on, on loopback, forwarded by
// hand (no router here), with the web app, and its owner set up.
func remoteHub(t *testing.T, mods ...func(*hub.Config)) (*testHub, *webClient) {
	t.Helper()
	port := freePort(t)
	th := startHub(t, append([]func(*hub.Config){func(c *hub.Config) {
		c.WebAddr = "127.0.0.1:0"
		c.RemoteListen = "127.0.0.1"
		c.Remote.Enabled, c.Remote.Host, c.Remote.Port, c.Remote.Map = true, remoteHost, port, false
	}}, mods...)...)
	mum := th.setupOwner(t)
	waitFor(t, func() bool { return th.h.RemoteAddr() != "" })
	return th, mum
}

// remoteTLS trusts the household CA, from src.
func (th *testHub) remoteTLS(t *testing.T, protos ...string) *tls.Config {
	t.Helper()
	pool := th.caPool(t)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: protos}
}

// fromAddr dials from the loopback address src.
func fromAddr(src string) *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
}

// remoteBrowser is a browser far away, at src, with cert if not nil.
func (th *testHub) remoteBrowser(t *testing.T, src string, cert *tls.Certificate) *webClient {
	t.Helper()
	cfg := th.remoteTLS(t)
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: cfg, DialContext: fromAddr(src).DialContext, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &webClient{t: t, base: "https://" + th.h.RemoteAddr(), c: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// try is a request that may fail in the handshake.
func (w *webClient) try(method, path string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, w.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := w.c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// isBare says a response is the remote door's one refusal: 404, no body,
// and no header that tells anything (no server, no version, no date).
func isBare(resp *http.Response, body string) bool {
	if resp.StatusCode != http.StatusNotFound || body != "" {
		return false
	}
	for k := range resp.Header {
		if k != "Content-Length" {
			return false
		}
	}
	return true
}

// TestRemoteDoorRefusesStrangers: at the remote port, a stranger with no
// household certificate gets nothing, whatever the protocol: each
// refusal is in the audit log, with the address only.
func TestRemoteDoorRefusesStrangers(t *testing.T) {
	th, _ := remoteHub(t)
	th.device("Bunny", "toy")
	addr := th.h.RemoteAddr()
	const stranger = "127.0.0.66"
	handshake := func(cfg *tls.Config) error {
		c, err := tls.DialWithDialer(fromAddr(stranger), "tcp", addr, cfg)
		if err == nil {
			// A TLS 1.3 client learns of a refused certificate only on
			// its first read.
			c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
			if errors.Is(err, io.EOF) {
				err = errors.New("closed without a word")
			}
		}
		return err
	}
	foreignCA, _, _ := certs.NewCA(time.Now())
	iss, err := foreignCA.IssueBrowser("mum", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fkey, fleaf, _, err := pkcs12.DecodeChain(iss.P12, iss.Passphrase)
	if err != nil {
		t.Fatal(err)
	}
	foreign := tls.Certificate{Certificate: [][]byte{fleaf.Raw}, PrivateKey: fkey, Leaf: fleaf}
	tests := []struct {
		name string
		do   func() error
	}{
		{"TLS naming no protocol", func() error { return handshake(th.remoteTLS(t)) }},
		{"TLS naming another protocol", func() error { return handshake(th.remoteTLS(t, "imap")) }},
		{"MQTT without a certificate", func() error { return handshake(th.remoteTLS(t, "mqtt")) }},
		{"a browser without a certificate, no invite open", func() error { return handshake(th.remoteTLS(t, "h2", "http/1.1")) }},
		{"a browser with another CA's certificate", func() error {
			cfg := th.remoteTLS(t, "h2")
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
			return handshake(cfg)
		}},
		{"TLS 1.1", func() error {
			cfg := th.remoteTLS(t, certs.EnrollProto)
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
			return handshake(cfg)
		}},
		{"plaintext HTTP", func() error {
			c, err := fromAddr(stranger).Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", remoteHost)
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				return err
			}
			return nil
		}},
	}
	before := lastEvent(t, th)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err == nil {
				t.Fatal("served")
			} else {
				t.Logf("refused: %v", err)
			}
		})
	}
	// The door records a refusal as its side of the handshake ends, which
	// may be after the client's.
	var refusals []control.Event
	waitFor(t, func() bool {
		var events []control.Event
		if err := call(th.cfg.DataDir, control.AuditList, control.CountArgs{Count: 100}, &events); err != nil {
			t.Fatal(err)
		}
		refusals = refusals[:0]
		for _, e := range events {
			if e.ID > before && e.Kind == "remote.refused" {
				refusals = append(refusals, e)
			}
		}
		return len(refusals) >= len(tests)
	})
	for _, e := range refusals {
		if e.Remote != stranger {
			t.Errorf("a refusal names %q, not the stranger's address", e.Remote)
		}
		if strings.Contains(e.Detail, "Bunny") || strings.Contains(e.Detail, "Mum") {
			t.Errorf("a refusal names someone: %q", e.Detail)
		}
	}
}

// TestRemoteDevice: a family device far away joins by invite through the
// remote port only, then exchanges messages with the child's toy at
// home both ways; pairing a toy is not possible from outside; a revoked
// device is refused there as on the LAN.
func TestRemoteDevice(t *testing.T) {
	th, _ := remoteHub(t)
	bunny := th.dial(th.device("Bunny", "toy"))
	res := th.invite(t, "Grandpa", []string{"Bunny"}, "")
	inv, err := wire.ParseInvite(res.Link)
	if err != nil {
		t.Fatal(err)
	}
	remote := th.h.RemoteAddr()
	if got := inv.Hub[len(inv.Hub)-1]; got != fmt.Sprintf("%s:%d", remoteHost, th.cfg.Remote.Port) {
		t.Fatalf("the invite's last address is %s, want the public name and port", got)
	}
	// From far away only the remote port answers.
	inv.Hub = []string{remote}
	key, _ := certs.NewKey()
	e, err := devices.Join(context.Background(), inv, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "grandpa")
	if err := e.Save(dir, key); err != nil {
		t.Fatal(err)
	}
	bundle, err := certs.LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(bundle.Info.Hub); n < 2 || bundle.Info.Hub[n-1] != fmt.Sprintf("%s:%d", remoteHost, th.cfg.Remote.Port) {
		t.Fatalf("the bundle's addresses %v do not end with the public name and port", bundle.Info.Hub)
	}
	th.approvePending(t)
	opts := th.opts()
	opts.Hubs = []string{remote}
	grandpa, err := devices.Dial(context.Background(), bundle, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer grandpa.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	there, back := recording(2, 3), recording(1.5, 5)
	if err := grandpa.Send(ctx, wire.NewMessageID(), there, nil); err != nil {
		t.Fatal(err)
	}
	for _, got := range receive(t, bunny, 1) {
		if string(got) != string(there) {
			t.Fatal("the toy got different bytes")
		}
	}
	if err := bunny.Send(ctx, wire.NewMessageID(), back, nil); err != nil {
		t.Fatal(err)
	}
	for _, got := range receive(t, grandpa, 1) {
		if string(got) != string(back) {
			t.Fatal("grandpa got different bytes")
		}
	}
	// Renewal works from outside too, and the renewed certificate opens
	// the remote port.
	renewed, err := grandpa.Renew(ctx)
	if err != nil {
		t.Fatalf("renewal through the remote port: %v", err)
	}
	if renewed.Cert.Leaf.SerialNumber.Cmp(bundle.Cert.Leaf.SerialNumber) == 0 {
		t.Fatal("the renewal gave the same certificate")
	}
	again, err := devices.Dial(ctx, renewed, opts)
	if err != nil {
		t.Fatalf("the renewed certificate at the remote port: %v", err)
	}
	if err := again.Send(ctx, wire.NewMessageID(), there, nil); err != nil {
		t.Fatal(err)
	}
	receive(t, bunny, 1)
	again.Close()
	var st control.RemoteView
	if err := call(th.cfg.DataDir, control.RemoteStatus, control.None{}, &st); err != nil {
		t.Fatal(err)
	}
	if st.LastDevice.IsZero() || !st.Enabled || st.Public != fmt.Sprintf("%s:%d", remoteHost, th.cfg.Remote.Port) {
		t.Errorf("status after a device came from outside: %+v", st)
	}

	// Pairing is for a toy in the home: refused from outside.
	pc := wire.NewPairingCode()
	if err := th.openPairing(t, pc, "Far toy"); err != nil {
		t.Fatal(err)
	}
	pkey, _ := certs.NewKey()
	if _, err := devices.Pair(context.Background(), remote, pc, pkey); err == nil {
		t.Error("a toy paired through the remote port")
	} else {
		t.Logf("pairing from outside: %v", err)
	}

	grandpa.Close()
	th.revoke("Grandpa")
	if c, err := devices.Dial(context.Background(), bundle, opts); err == nil {
		c.Close()
		t.Fatal("a revoked device connected through the remote port")
	}
}

// TestRemoteBrowser: grandma redeems her invite far away with no
// certificate and gets one for her browser; with it, and her password,
// she uses the web app. Anything else a browser without a certificate
// asks for gets the same bare refusal; the invite works once; her
// certificate opens her account only; and once a parent withdraws it her
// next request and her next handshake are refused.
func TestRemoteBrowser(t *testing.T) {
	th, mum := remoteHub(t)
	th.device("Bunny", "toy")
	const gran, stranger = "127.0.0.77", "127.0.0.66"
	res := th.invite(t, "Gran", []string{"Bunny"}, "")
	secret := regexp.MustCompile(`s=([^&]+)`).FindStringSubmatch(res.RemoteLink)
	if res.RemoteLink == "" || !strings.HasPrefix(res.RemoteLink, fmt.Sprintf("https://%s:%d/join?s=", remoteHost, th.cfg.Remote.Port)) || secret == nil {
		t.Fatalf("remote link %q", res.RemoteLink)
	}
	far := th.remoteBrowser(t, gran, nil)
	other := th.remoteBrowser(t, stranger, nil)

	// While the invite is open, a browser without a certificate passes
	// the handshake, and gets nothing but the invite's own page.
	for _, path := range []string{"/", "/login", "/setup", "/trust", "/ca.pem", "/static/app.css", "/join?s=wrong", "/join/certificate?t=x", "/.env"} {
		resp, body, err := other.try("GET", path, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !isBare(resp, body) {
			t.Errorf("%s: %d %v %q, want the bare refusal", path, resp.StatusCode, resp.Header, body)
		}
	}
	resp, body, err := far.try("GET", "/join?s="+url.QueryEscape(secret[1]), nil)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, "Welcome, Gran") || strings.Contains(body, "/static/") {
		t.Fatalf("the invite's page: %v %v\n%s", err, resp, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'nonce-") || !strings.Contains(body, `<style nonce="`) {
		t.Errorf("the page's own style: CSP %q", csp)
	}
	const granPassword = "pebble lantern orchard violin"
	resp, body, err = far.try("POST", "/join", url.Values{"secret": {secret[1]}, "password": {granPassword}, "password2": {granPassword}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("redeeming: %v %v\n%s", err, resp, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-toyhub" {
			t.Error("a session without a certificate at the remote door")
		}
	}
	certPage := body
	pass := regexp.MustCompile(`id="passphrase-text" readonly value="([a-z2-7-]+)"`).FindStringSubmatch(body)
	link := regexp.MustCompile(`href="(/join/certificate\?t=[^"]+)"`).FindStringSubmatch(body)
	if pass == nil || link == nil || !strings.Contains(body, fmt.Sprintf("https://%s:%d/", remoteHost, th.cfg.Remote.Port)) {
		t.Fatalf("the certificate page:\n%s", body)
	}
	// The invite is spent: the stranger's handshake is refused again, the
	// second redemption gets nothing, and only Gran's address may fetch
	// her file, for a while.
	other.c.Transport.(*http.Transport).CloseIdleConnections()
	if _, _, err := other.try("GET", "/join?s="+url.QueryEscape(secret[1]), nil); err == nil {
		t.Error("a stranger's handshake passed with no invite open")
	}
	far.c.Transport.(*http.Transport).CloseIdleConnections()
	resp, body, err = far.try("POST", "/join", url.Values{"secret": {secret[1]}, "password": {granPassword}, "password2": {granPassword}})
	if err != nil || !isBare(resp, body) {
		t.Errorf("a second redemption: %v %v %q", err, resp, body)
	}
	// Gran's browser may fetch the household CA, to trust the hub by.
	resp, der, err := far.try("GET", "/ca.crt", nil)
	caPEM, _ := os.ReadFile(filepath.Join(th.cfg.DataDir, "ca.pem"))
	ca, _ := certs.ParseCert(caPEM)
	if err != nil || resp.StatusCode != http.StatusOK || ca == nil || der != string(ca.Raw) {
		t.Fatalf("the CA for Gran's browser: %v %v", err, resp)
	}
	if !strings.Contains(certPage, `href="/ca.crt"`) || !strings.Contains(certPage, certs.Code(ca)) {
		t.Errorf("the certificate page offers no way to trust the hub")
	}
	resp, p12, err := far.try("GET", html.UnescapeString(link[1]), nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-pkcs12" {
		t.Fatalf("the file: %v %v", err, resp)
	}
	if _, _, err := pkcs12.Decode([]byte(p12), "abcd-efgh-ijkl-mnop-qrst"); err == nil {
		t.Error("a wrong passphrase opened the file")
	}
	priv, leaf, _, err := pkcs12.DecodeChain([]byte(p12), pass[1])
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: priv, Leaf: leaf}

	// With her certificate: her password, and her account only.
	gb := th.remoteBrowser(t, gran, &cert)
	if code, _ := gb.get("/"); code != http.StatusSeeOther {
		t.Fatalf("home without a session: %d", code)
	}
	if code, body := gb.post("/login", url.Values{"login": {"Mum"}, "password": {ownerPassword}}); code != http.StatusUnauthorized {
		t.Errorf("Mum's password with Gran's certificate: %d %s", code, body)
	}
	if code, body := gb.post("/login", url.Values{"login": {"Gran"}, "password": {granPassword}}); code != http.StatusSeeOther {
		t.Fatalf("Gran's login: %d %s", code, body)
	}
	code, home := gb.get("/")
	if code != http.StatusOK || !strings.Contains(home, "Messages") {
		t.Fatalf("home: %d %s", code, home)
	}
	// With a certificate, the app is whole: its style sheet too.
	if css := regexp.MustCompile(`href="(/static/[^"]+)"`).FindStringSubmatch(home); css == nil {
		t.Error("no style sheet on the home page")
	} else if code, _ := gb.get(css[1]); code != http.StatusOK {
		t.Errorf("style sheet with a certificate: %d", code)
	}
	if code, _ := gb.get("/family"); code != http.StatusForbidden {
		t.Errorf("a parent's page from Gran: %d", code)
	}

	// A parent withdraws it, at home: her next request is refused with
	// the reason, her next handshake too.
	_, page := mum.get("/remote")
	serial := regexp.MustCompile(`/remote/certificates/([0-9a-f]+)/revoke`).FindStringSubmatch(page)
	if serial == nil || !strings.Contains(page, "Gran") {
		t.Fatalf("the remote page lists no certificate:\n%s", page)
	}
	_, family := mum.get("/family")
	if !strings.Contains(family, "/remote/certificates/"+serial[1]+"/revoke") {
		t.Error("the family page does not show Gran's certificate")
	}
	if code, body := mum.post("/remote/certificates/"+serial[1]+"/revoke", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("withdrawing: %d %s", code, body)
	}
	if code, body := gb.get("/"); code != http.StatusForbidden || !strings.Contains(body, "withdrew") {
		t.Errorf("after withdrawal, on the open connection: %d %s", code, body)
	}
	gb.c.Transport.(*http.Transport).CloseIdleConnections()
	if _, _, err := gb.try("GET", "/", nil); err == nil {
		t.Error("a withdrawn certificate passed the handshake")
	}
}

// approvePending approves, at the console, every contact waiting.
func (th *testHub) approvePending(t *testing.T) {
	t.Helper()
	var ps []control.PendingView
	if err := call(th.cfg.DataDir, control.Pending, control.None{}, &ps); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		th.link(p.Person, p.Toy)
	}
}

// TestRemoteDisable: turning remote access off closes the port; on
// again, it answers.
func TestRemoteDisable(t *testing.T) {
	th, _ := remoteHub(t)
	addr := th.h.RemoteAddr()
	if err := call(th.cfg.DataDir, control.RemoteDisable, control.None{}, nil); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("the remote port still answers")
	}
	var st control.RemoteView
	if err := call(th.cfg.DataDir, control.RemoteEnable, control.RemoteArgs{Host: "my home", Port: th.cfg.Remote.Port, NoMap: true}, &st); err == nil {
		t.Fatal("a name with a space was taken")
	}
	if err := call(th.cfg.DataDir, control.RemoteEnable, control.RemoteArgs{Host: remoteHost, Port: th.cfg.Remote.Port, NoMap: true}, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Listening || st.MapState != "off" || !strings.Contains(st.MapMessage, "by hand") {
		t.Errorf("status: %+v", st)
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// certSerial reads, as a parent, the serial of one browser certificate that
// the remote page lists.
func certSerial(t *testing.T, parent *webClient) string {
	t.Helper()
	_, page := parent.get("/remote")
	m := regexp.MustCompile(`/remote/certificates/([0-9a-f]+)/revoke`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the remote page lists no browser certificate")
	}
	return m[1]
}
