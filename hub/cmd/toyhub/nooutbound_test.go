package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toyhub/toyhub/wire"
)

const (
	captureEnv = "TOYHUB_TEST_CAPTURE"
	webEnv     = "TOYHUB_TEST_WEB_SCENARIO"
)

// outbound runs in the hub's namespace as a helper: it counts every
// packet the namespace sends on its LAN interface, by whether it is
// addressed within the LAN (the subnet, its broadcast, link-local and
// link-local multicast) or beyond it. A TCP segment beyond the LAN that
// does not open a connection (no bare SYN) answers one that came in: it
// counts as an answer, not as reaching out. It prints "ready", and on
// SIGTERM writes {"lan": n, "answers": n, "beyond": {"addr": n}} to
// CAPTURE_OUT.
func outbound() int {
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	lan := netip.MustParsePrefix(os.Getenv("CAPTURE_LAN"))
	fd, err := packetSocket("lan0")
	if err != nil {
		return fail(err)
	}
	inLAN := func(a netip.Addr) bool {
		return lan.Contains(a) || a == lastOf(lan) || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
			a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	res := capture{Beyond: map[string]int{}}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	fmt.Println("ready")
	buf := make([]byte, 65536)
	for {
		select {
		case <-stop:
			b, _ := json.Marshal(res)
			if err := os.WriteFile(os.Getenv("CAPTURE_OUT"), b, 0o600); err != nil {
				return fail(err)
			}
			return 0
		default:
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_OUTGOING {
			continue // only what this namespace sends
		}
		var dst netip.Addr
		tcp := -1 // where the TCP header starts
		switch {
		case n >= 34 && buf[12] == 0x08 && buf[13] == 0x00:
			dst = netip.AddrFrom4([4]byte(buf[30:34]))
			if buf[23] == unix.IPPROTO_TCP {
				tcp = 14 + int(buf[14]&0x0f)*4
			}
		case n >= 54 && buf[12] == 0x86 && buf[13] == 0xdd:
			dst = netip.AddrFrom16([16]byte(buf[38:54]))
			if buf[20] == unix.IPPROTO_TCP {
				tcp = 54
			}
		default:
			continue // ARP and the like: not addressed to a host
		}
		switch {
		case inLAN(dst), ssdp(dst, buf[:n]):
			res.LAN++
		case tcp > 0 && n > tcp+13 && buf[tcp+13]&0x12 != 0x02: // not a bare SYN
			res.Answers++
		default:
			res.Beyond[dst.String()]++
		}
	}
}

// ssdp reports an IPv4 packet to the UPnP search address that cannot
// leave the home: no home router forwards multicast, and its TTL (1 or 2,
// as UPnP asks) would end it at the first router anyway.
func ssdp(dst netip.Addr, pkt []byte) bool {
	return dst == netip.AddrFrom4([4]byte{239, 255, 255, 250}) && len(pkt) > 22 && pkt[22] <= 2
}

// capture is what outbound counted.
type capture struct {
	LAN     int            `json:"lan"`
	Answers int            `json:"answers"`
	Beyond  map[string]int `json:"beyond"`
}

// startCapture counts, in namespace ns, what leaves its LAN interface.
func startCapture(t *testing.T, ns, lan string) func() capture {
	t.Helper()
	out := filepath.Join(t.TempDir(), "capture.json")
	cmd, r := helper(t, ns, captureEnv, "CAPTURE_LAN="+lan, "CAPTURE_OUT="+out)
	if line, _ := r.ReadString('\n'); strings.TrimSpace(line) != "ready" {
		t.Fatalf("capture: %q", line)
	}
	return func() capture {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		var res capture
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// webScenario runs in the LAN namespace as a helper: a parent sets up the
// hub, invites a grandparent who joins and is approved, the grandparent
// records a message to the toy, the parent plays it and runs the security
// checks. It prints "ok" or what failed.
func webScenario() int {
	err := func() error {
		base, toy := os.Getenv("WEB_BASE"), os.Getenv("WEB_TOY")
		ca, err := os.ReadFile(os.Getenv("WEB_CA"))
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		u, _ := url.Parse(base)
		browser := func() *http.Client {
			jar, _ := cookiejar.New(nil)
			return &http.Client{Jar: jar, Timeout: 60 * time.Second,
				Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: u.Hostname()}},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
		do := func(c *http.Client, method, path, ct string, body []byte, want int) (string, error) {
			req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			resp, err := c.Do(req)
			if err != nil {
				return "", err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				return string(b), fmt.Errorf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
			}
			return string(b), nil
		}
		form := func(v url.Values) []byte { return []byte(v.Encode()) }
		const pw, gpw = "violet tractor umbrella geology", "marmalade orbit pelican thimble"
		mum, gran := browser(), browser()
		fct := "application/x-www-form-urlencoded"
		if _, err := do(mum, "POST", "/setup", fct, form(url.Values{"token": {os.Getenv("WEB_TOKEN")}, "login": {"Mum"}, "password": {pw}, "password2": {pw}}), 303); err != nil {
			return err
		}
		if _, err := do(mum, "GET", "/", "", nil, 200); err != nil {
			return err
		}
		page, err := do(mum, "POST", "/family/invites", fct, form(url.Values{"name": {"Gran"}, "toy": {toy}}), 200)
		if err != nil {
			return err
		}
		m := regexp.MustCompile(`value="(https://[^"]+/join\?s=[^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			return errors.New("no invite link")
		}
		link, _ := url.Parse(html.UnescapeString(m[1]))
		if _, err := do(gran, "POST", "/join", fct, form(url.Values{"secret": {link.Query().Get("s")}, "password": {gpw}, "password2": {gpw}}), 200); err != nil {
			return err
		}
		fam, err := do(mum, "GET", "/family", "", nil, 200)
		if err != nil {
			return err
		}
		a := regexp.MustCompile(`name="person" value="([a-z0-9]+)"><input type="hidden" name="toy" value="([a-z0-9]+)"`).FindStringSubmatch(fam)
		if a == nil {
			return errors.New("nothing to approve")
		}
		if _, err := do(mum, "POST", "/family/approve", fct, form(url.Values{"person": {a[1]}, "toy": {a[2]}}), 303); err != nil {
			return err
		}
		if _, err := do(gran, "POST", "/toys/"+toy+"/messages", "audio/wav", wire.Tone(16000, time.Second, 440, 9), 201); err != nil {
			return err
		}
		conv, err := do(mum, "GET", "/toys/"+toy, "", nil, 200)
		if err != nil {
			return err
		}
		for _, m := range regexp.MustCompile(`src="(/toys/[a-z0-9]+/messages/[0-9a-f]+/audio)"`).FindAllStringSubmatch(conv, -1) {
			if _, err := do(mum, "GET", m[1], "", nil, 200); err != nil {
				return err
			}
		}
		_, err = do(mum, "POST", "/security/run", fct, form(url.Values{"network": {"0"}}), 303)
		return err
	}()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ok")
	return 0
}

// helper starts this test binary as a helper process in a namespace.
func helper(t *testing.T, ns, mode string, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), mode+"=1"), env...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

// TestNothingLeavesTheLAN: the hub runs in a namespace whose only network
// is a test LAN (with a default route into it, and a name server beyond
// it, so that any attempt to reach the Internet or to look up a name
// would send a packet), and serves a whole household: pairing, an invite
// joined by a device, messages, the web app (setup, an invite redeemed
// in the browser and approved, a recording, playback), the security
// checks with a network scan, a backup and an export. Every packet the
// namespace sends is counted: none may be addressed beyond the LAN.
func TestNothingLeavesTheLAN(t *testing.T) {
	n := newNetns(t)
	// A route out, and a name server beyond the LAN, in the hub's namespace.
	ipCmd(t, "-n", n.a, "route", "add", "default", "via", n.toyIP)
	etc := filepath.Join("/etc/netns", n.a)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 198.51.100.53\n"), 0o644)

	dir := t.TempDir()
	counted := startCapture(t, n.a, n.subnet+".0/24")

	data := filepath.Join(dir, "data")
	_, logs := n.startHub(t, data, "--web-addr", n.hubIP+":8443", "--audit-after-change", "1s")
	b := func(name string) string { return filepath.Join(dir, name) }

	// A toy pairs through mDNS; a family device joins by invite.
	label := must(t, runBin(t, "toy", "label", "--out", b("teddy"))).stdout
	code := strings.SplitN(label, "\n", 2)[0]
	must(t, runBin(t, "toyhub", "pair", "--data", data, "--code", code, "--name", "Teddy"))
	if r := n.in(t, n.b, "toy", "pair", "--code", code, "--out", b("teddy")); r.code != 0 {
		t.Fatalf("pair: %s\n%s", r.stderr, logs.String())
	}
	must(t, runBin(t, "toyhub", "invite", "create", "--data", data, "--name", "Grandpa", "--toys", "Teddy", "--out", b("grandpa.invite")))
	if r := n.in(t, n.b, "toy", "join", b("grandpa.invite"), "--out", b("grandpa")); r.code != 0 {
		t.Fatalf("join: %s", r.stderr)
	}
	must(t, runBin(t, "toyhub", "link", "Grandpa", "Teddy", "--data", data)) // the parent approves
	must(t, runBin(t, "toy", "record", "--out", b("hello.wav"), "--seconds", "2"))
	listen := make(chan result, 1)
	go func() {
		listen <- n.in(t, n.b, "toy", "listen", "--bundle", b("grandpa"), "--out", b("inbox"), "--count", "1", "--timeout", "40s")
	}()
	if r := n.in(t, n.b, "toy", "send", "--bundle", b("teddy"), "--to", "Grandpa", "--timeout", "40s", b("hello.wav")); r.code != 0 {
		t.Fatalf("send: %s", r.stderr)
	}
	if r := <-listen; r.code != 0 {
		t.Fatalf("listen: %s", r.stderr)
	}

	// The web app, from the LAN.
	var devs []struct{ ID, Name string }
	r := must(t, runBin(t, "toyhub", "device", "list", "--json", "--data", data))
	json.Unmarshal([]byte(r.stdout), &devs)
	toyID := ""
	for _, d := range devs {
		if d.Name == "Teddy" {
			toyID = d.ID
		}
	}
	token := regexp.MustCompile(`token=([a-z0-9]+)`).FindStringSubmatch(logs.String())
	if token == nil || toyID == "" {
		t.Fatalf("no setup token or toy: %v %q", token, toyID)
	}
	web, wout := helper(t, n.b, webEnv, "WEB_BASE=https://"+n.hubIP+":8443", "WEB_TOY="+toyID, "WEB_TOKEN="+token[1],
		"WEB_CA="+filepath.Join(data, "ca.pem"))
	if line, _ := wout.ReadString('\n'); strings.TrimSpace(line) != "ok" {
		t.Fatalf("web scenario: %s\nhub:\n%s", line, logs.String())
	}
	web.Wait()

	// The security checks, with a scan of the LAN; a backup; an export.
	if r := runBin(t, "toyhub", "audit", "--data", data, "--network", "--target", n.toyIP); r.code > 1 {
		t.Fatalf("audit: exit %d %s", r.code, r.stderr)
	}
	os.WriteFile(b("pass"), []byte("cinnamon harbour violin keystone\n"), 0o600)
	must(t, runBin(t, "toyhub", "backup", "--data", data, "--out", b("hub.toyhub-backup"), "--passphrase-file", b("pass")))
	must(t, runBin(t, "toyhub", "export", "--data", data, "--out", b("export.zip"), "--plain"))
	time.Sleep(2 * time.Second) // the check after the last change, and any stragglers

	res := counted()
	if res.LAN < 100 {
		t.Fatalf("only %d packets counted on the LAN: is the counter on the right interface?", res.LAN)
	}
	if len(res.Beyond) > 0 || res.Answers > 0 {
		t.Fatalf("packets addressed beyond the LAN: %v, and %d answers", res.Beyond, res.Answers)
	}
	t.Logf("%d packets on the LAN, none beyond it", res.LAN)
}
