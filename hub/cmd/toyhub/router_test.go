package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

// A home router between the family's home and the Internet, in network
// namespaces the test makes (see ../shared/NETLAB.md):
//
//	home (the hub at 192.168.77.2, the child's toy) --lan0-- router --wan0-- far (grandma)
//
// The router NATs with nftables and, when asked, runs Debian's miniupnpd
// as its UPnP IGD and NAT-PMP server. Its WAN side has a public-looking
// address (miniupnpd refuses reserved ones) from labWAN, a block that
// exists only inside these namespaces: no packet reaches this machine's
// own interfaces.
const (
	labWAN    = "57.128.40" // router .1, grandma .2
	labCGNAT  = "100.64.40" // a carrier-grade-NAT line's WAN
	labLAN    = "192.168.77"
	labHubIP  = labLAN + ".2"
	labHost   = "home.example.net" // the router's dynamic-DNS name, known only to far's /etc/hosts
	labRemote = 8885
)

type lab struct {
	home, router, far string
	line              string              // the Internet between router and far: a wire
	delay             func(time.Duration) // sets the wire's delay each way
	wan               string              // the WAN subnet's first three octets
	dir               string
	miniupnpd         *exec.Cmd
}

type routerKind int

const (
	routerUPnP   routerKind = iota // miniupnpd with UPnP IGD and NAT-PMP
	routerNATPMP                   // miniupnpd with NAT-PMP only
	routerNone                     // NAT, and nothing that maps ports
	routerShared                   // UPnP, secure mode off: any machine maps any address
)

// newLab builds the three namespaces, the router's NAT and, as kind
// says, its port-mapping server. wan is labWAN or labCGNAT.
func newLab(t testing.TB, kind routerKind, wan string) *lab {
	t.Helper()
	needNetns(t)
	needTool(t, "nft", "nftables")
	id := rand.IntN(1 << 16)
	l := &lab{home: fmt.Sprintf("thHome%d", id), router: fmt.Sprintf("thRtr%d", id), far: fmt.Sprintf("thFar%d", id),
		line: fmt.Sprintf("thLine%d", id), wan: wan, dir: t.TempDir()}
	for _, ns := range []string{l.home, l.router, l.far, l.line} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	// The wire speaks no IP of its own: nothing but what it carries.
	l.run(t, l.line, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	ipCmd(t, "link", "add", "lan0", "netns", l.home, "type", "veth", "peer", "name", "lan0", "netns", l.router)
	ipCmd(t, "link", "add", "wan0", "netns", l.router, "type", "veth", "peer", "name", "l0", "netns", l.line)
	ipCmd(t, "link", "add", "l1", "netns", l.line, "type", "veth", "peer", "name", "wan0", "netns", l.far)
	for _, dev := range []string{"l0", "l1"} {
		ipCmd(t, "-n", l.line, "link", "set", dev, "promisc", "on", "up")
	}
	l.delay = startLine(t, l.line)
	for _, a := range []struct{ ns, dev, addr string }{
		{l.home, "lan0", labHubIP + "/24"}, {l.router, "lan0", labLAN + ".1/24"},
		{l.router, "wan0", wan + ".1/24"}, {l.far, "wan0", wan + ".2/24"},
	} {
		ipCmd(t, "-n", a.ns, "addr", "add", a.addr, "dev", a.dev)
		ipCmd(t, "-n", a.ns, "link", "set", a.dev, "up")
	}
	ipCmd(t, "-n", l.home, "route", "add", "default", "via", labLAN+".1")
	ipCmd(t, "-n", l.far, "route", "add", "default", "via", wan+".1")
	l.run(t, l.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// The router's NAT and filter, with the empty chains miniupnpd fills
	// and one that impairs the line when a test asks.
	l.nft(t, `
table inet filter {
	chain impair { type filter hook forward priority -10; policy accept; }
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "lan0" accept
		jump miniupnpd
	}
	chain miniupnpd { }
}
table inet nat {
	chain prerouting { type nat hook prerouting priority -100; jump prerouting_miniupnpd; }
	chain postrouting { type nat hook postrouting priority 100; jump postrouting_miniupnpd; oifname "wan0" masquerade; }
	chain prerouting_miniupnpd { }
	chain postrouting_miniupnpd { }
}`)
	// Grandma knows the home by its dynamic-DNS name.
	etc := filepath.Join("/etc/netns", l.far)
	os.MkdirAll(etc, 0o755)
	t.Cleanup(func() { os.RemoveAll(etc) })
	os.WriteFile(filepath.Join(etc, "hosts"), []byte(fmt.Sprintf("127.0.0.1 localhost\n%s.1 %s\n", wan, labHost)), 0o644)
	os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver "+wan+".1\n"), 0o644)
	if kind != routerNone {
		l.startMiniupnpd(t, kind)
	}
	return l
}

func (l *lab) run(t testing.TB, ns string, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

func (l *lab) nft(t testing.TB, ruleset string) {
	t.Helper()
	f := filepath.Join(l.dir, fmt.Sprintf("rules%d.nft", rand.IntN(1<<30)))
	os.WriteFile(f, []byte(ruleset), 0o600)
	l.run(t, l.router, "nft", "-f", f)
}

func (l *lab) startMiniupnpd(t testing.TB, kind routerKind) {
	t.Helper()
	bin := needTool(t, "miniupnpd", "miniupnpd")
	secure, upnp := "yes", "yes"
	if kind == routerShared {
		secure = "no"
	}
	if kind == routerNATPMP {
		upnp = "no"
	}
	conf := filepath.Join(l.dir, "miniupnpd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`ext_ifname=wan0
listening_ip=lan0
http_port=0
enable_upnp=%s
enable_natpmp=yes
secure_mode=%s
system_uptime=yes
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
upnp_table_name=filter
upnp_nat_table_name=nat
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 %s.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`, upnp, secure, labLAN)), 0o600)
	logs := &lockedBuffer{}
	cmd := exec.Command("ip", "netns", "exec", l.router, bin, "-d", "-f", conf, "-P", filepath.Join(l.dir, "miniupnpd.pid"))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l.miniupnpd = cmd
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("miniupnpd:\n%s", logs.String())
		}
	})
	waitFor(t, "miniupnpd listening", func() bool {
		return strings.Contains(logs.String(), "HTTP listening") || strings.Contains(logs.String(), "Listening for NAT-PMP")
	}, logs)
}

// forwarded is what the router's NAT chain forwards (miniupnpd's rules).
func (l *lab) forwarded(t testing.TB) string {
	t.Helper()
	return l.run(t, l.router, "nft", "list", "chain", "inet", "nat", "prerouting_miniupnpd")
}

// startHub runs 'toyhub serve' in the home namespace, on the LAN address,
// the web app included; it waits until the control socket answers.
func (l *lab) startHub(t testing.TB, data string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cmd := exec.Command("ip", "netns", "exec", l.home, filepath.Join(binDir, "toyhub"), "serve", "--data", data,
		"--mqtt-addr", labHubIP+":8883", "--enroll-addr", labHubIP+":8884", "--web-addr", labHubIP+":8443",
		"--audit-every", "0", "--audit-after-change", "0")
	cmd.Stderr = logs
	cmd.Env = append(os.Environ(), "TOYHUB_LIMITS_MESSAGES_PER_MINUTE=100000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("hub:\n%s", logs.String())
		}
	})
	waitFor(t, "the hub's control socket", func() bool { return runBin(t, "toyhub", "status", "--data", data).code == 0 }, logs)
	return cmd, logs
}

// remoteState reads 'toyhub remote status --json'.
func remoteState(t testing.TB, data string) control.RemoteView {
	t.Helper()
	var v control.RemoteView
	r := runBin(t, "toyhub", "remote", "status", "--json", "--data", data)
	if r.code != 0 {
		return v
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("remote status: %v\n%s", err, r.stdout)
	}
	return v
}

// enableRemote turns remote access on with the CLI, as a parent would,
// and waits until the hub has asked the router (and, the first time,
// started again to vouch for the name).
func enableRemote(t testing.TB, data string, logs fmt.Stringer, extra ...string) control.RemoteView {
	t.Helper()
	must(t, runBin(t, "toyhub", append([]string{"remote", "enable", "--data", data, "--host", labHost}, extra...)...))
	var v control.RemoteView
	waitFor(t, "the router's answer", func() bool {
		v = remoteState(t, data)
		return v.Enabled && v.Listening && v.MapState != "asking"
	}, logs)
	return v
}

// TestRouterCases: what the hub finds at the router, and says, when it
// asks for the mapping: mapped by UPnP or by NAT-PMP; no router that maps
// ports (the forwarding steps, by hand); a carrier-grade-NAT line; the
// port already forwarded to another machine. And with --no-map, the
// router is left alone.
func TestRouterCases(t *testing.T) {
	needTool(t, "upnpc", "miniupnpc")
	tests := []struct {
		name   string
		kind   routerKind
		wan    string
		before func(t *testing.T, l *lab) // on the router, before the hub asks
		args   []string
		state  string
		says   []string
	}{
		{name: "upnp", kind: routerUPnP, wan: labWAN, state: "mapped",
			says: []string{"forwards port 8885 to the hub (by UPnP)"}},
		{name: "nat-pmp", kind: routerNATPMP, wan: labWAN, state: "mapped",
			says: []string{"forwards port 8885 to the hub (by NAT-PMP)"}},
		{name: "no router", kind: routerNone, wan: labWAN, state: "no-router",
			says: []string{"No router on your home network maps ports", "forward TCP port 8885 to the hub, " + labHubIP}},
		{name: "cgnat", kind: routerUPnP, wan: labCGNAT, state: "cgnat",
			says: []string{"carrier-grade NAT", "Ask your provider"}},
		{name: "port taken", kind: routerShared, wan: labWAN, state: "refused",
			before: func(t *testing.T, l *lab) {
				ipCmd(t, "-n", l.home, "addr", "add", labLAN+".3/24", "dev", "lan0")
				l.run(t, l.home, "upnpc", "-a", labLAN+".3", "8885", "8885", "TCP")
			},
			says: []string{"refused to forward port 8885", "another machine"}},
		{name: "by hand", kind: routerUPnP, wan: labWAN, args: []string{"--no-map"}, state: "off",
			says: []string{"forward TCP port 8885"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, tt.kind, tt.wan)
			if tt.before != nil {
				tt.before(t, l)
			}
			data := filepath.Join(t.TempDir(), "data")
			_, logs := l.startHub(t, data)
			v := enableRemote(t, data, logs, tt.args...)
			if v.MapState != tt.state {
				t.Fatalf("state %q, want %q: %+v", v.MapState, tt.state, v)
			}
			status := must(t, runBin(t, "toyhub", "remote", "status", "--data", data)).stdout
			for _, s := range tt.says {
				if !strings.Contains(status, s) {
					t.Errorf("'remote status' does not say %q:\n%s", s, status)
				}
			}
			if tt.state == "mapped" {
				if v.External != labWAN+".1" {
					t.Errorf("the router's external address: %q", v.External)
				}
				if !strings.Contains(l.forwarded(t), labHubIP) {
					t.Errorf("no forward to the hub in the router:\n%s", l.forwarded(t))
				}
			} else if tt.kind != routerNone && strings.Contains(l.forwarded(t), labHubIP) {
				t.Errorf("the router forwards to the hub:\n%s", l.forwarded(t))
			}
		})
	}
}

// toy runs the toy simulator in a namespace (never browsing mDNS).
func (l *lab) toy(t testing.TB, ns string, args ...string) result {
	t.Helper()
	if args[0] == "send" || args[0] == "listen" {
		args = append([]string{args[0], "--mdns=false"}, args[1:]...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(t, exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, filepath.Join(binDir, "toy")}, args...)...))
}

// exchange sends a recording from one bundle to a person, listens for it
// with the other, and says whether it arrived byte-identical.
func (l *lab) exchange(t *testing.T, fromNS, from, to, toNS, toBundle string, seconds int, during func()) string {
	t.Helper()
	dir := t.TempDir()
	wav := filepath.Join(dir, "sent.wav")
	must(t, runBin(t, "toy", "record", "--out", wav, "--seconds", fmt.Sprint(seconds), "--freq", fmt.Sprint(300+rand.IntN(500))))
	inbox := filepath.Join(dir, "inbox")
	listen := make(chan result, 1)
	go func() {
		listen <- l.toy(t, toNS, "listen", "--bundle", toBundle, "--out", inbox, "--count", "1", "--timeout", "100s")
	}()
	sent := make(chan result, 1)
	go func() { sent <- l.toy(t, fromNS, "send", "--bundle", from, "--to", to, "--timeout", "100s", wav) }()
	if during != nil {
		during()
	}
	s := <-sent
	if s.code != 0 {
		t.Fatalf("send to %s: exit %d\n%s%s", to, s.code, s.stdout, s.stderr)
	}
	id := regexp.MustCompile(`[0-9a-f]{32}`).FindString(s.stdout)
	if r := <-listen; r.code != 0 {
		t.Fatalf("listen: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	sameFile(t, wav, filepath.Join(inbox, id+".wav"))
	return id
}

// sameFile fails unless two files hold the same bytes.
func sameFile(t *testing.T, want, got string) {
	t.Helper()
	a, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s (%d bytes) differs from %s (%d bytes)", got, len(b), want, len(a))
	}
}

// in runs a tool in a namespace and returns what it did.
func (l *lab) in(t testing.TB, ns string, timeout time.Duration, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdin = strings.NewReader("")
	return runCmd(t, cmd)
}

// TestGrandmaFarAway: grandparents in another home, through a real
// router. The hub maps its one port by UPnP on its own; grandpa's toy
// joins by invite from the far side and exchanges messages with the
// child's toy both ways; grandma redeems an invite in headless Chromium,
// imports her certificate with pk12util, listens to the child's message
// and records a reply, which the toy receives byte-identical. A scanner
// without a certificate, or with a revoked one, gets nothing; a spent
// invite does not open twice. Through a poor line (80 ms and 1% loss
// each way, a slow uplink, a 5-second outage in the middle of an upload)
// the exchange still arrives once and whole. Remote access off, or the hub stopped,
// and the router's mapping is gone. And all along, nothing leaves the
// home that the hub opened towards the Internet.
func TestGrandmaFarAway(t *testing.T) {
	for _, tool := range [][2]string{{"curl", "curl"}, {"openssl", "openssl"}, {"nmap", "nmap"}, {"mosquitto_sub", "mosquitto-clients"},
		{"chromium", "chromium"}, {"pk12util", "libnss3-tools"}, {"certutil", "libnss3-tools"}, {"upnpc", "miniupnpc"}} {
		needTool(t, tool[0], tool[1])
	}
	l := newLab(t, routerUPnP, labWAN)
	dir := t.TempDir()
	b := func(name string) string { return filepath.Join(dir, name) }
	data := b("data")
	counted := startCapture(t, l.home, labLAN+".0/24")
	hubCmd, logs := l.startHub(t, data)
	const mumPW, granPW = "violet tractor umbrella geology", "marmalade orbit pelican thimble"
	lanWeb := "https://" + labHubIP + ":8443"
	// The parent's browser at home is curl, with a cookie jar.
	mum := func(t *testing.T, args ...string) string {
		t.Helper()
		r := l.in(t, l.home, time.Minute, "curl", append([]string{"-sS", "--cacert", filepath.Join(data, "ca.pem"), "-b", b("mum.jar"), "-c", b("mum.jar"),
			"-H", "Sec-Fetch-Site: same-origin", "-o", "-", "-w", "\n%{http_code}"}, args...)...)
		if r.code != 0 {
			t.Fatalf("curl %v: exit %d %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	token := regexp.MustCompile(`token=([a-z0-9]+)`).FindStringSubmatch(must(t, runBin(t, "toyhub", "setup-link", "--data", data)).stdout)
	if out := mum(t, "--data-urlencode", "token="+token[1], "-d", "login=Mum", "--data-urlencode", "password="+mumPW,
		"--data-urlencode", "password2="+mumPW, lanWeb+"/setup"); !strings.HasSuffix(out, "303") {
		t.Fatalf("setup: %s", out)
	}

	// The child's toy pairs at home.
	label := must(t, runBin(t, "toy", "label", "--out", b("teddy"))).stdout
	code := strings.SplitN(label, "\n", 2)[0]
	must(t, runBin(t, "toyhub", "pair", "--data", data, "--code", code, "--name", "Teddy"))
	if r := l.toy(t, l.home, "pair", "--code", code, "--out", b("teddy"), "--hub", labHubIP+":8884"); r.code != 0 {
		t.Fatalf("pair: %s", r.stderr)
	}

	// Remote access on: a name that is not one is refused, in words.
	if r := runBin(t, "toyhub", "remote", "enable", "--data", data, "--host", "grandma's house"); r.code == 0 || !strings.Contains(r.stderr, "not a host name") {
		t.Fatalf("a bad name: exit %d %s", r.code, r.stderr)
	}
	v := enableRemote(t, data, logs)
	if v.MapState != "mapped" || v.MapMethod != "UPnP" || v.External != labWAN+".1" || v.Public != labHost+":8885" {
		t.Fatalf("remote status: %+v", v)
	}
	if list := l.in(t, l.home, time.Minute, "upnpc", "-l").stdout; !regexp.MustCompile(`TCP\s+8885->` + labHubIP + `:8885`).MatchString(list) {
		t.Fatalf("miniupnpd's table has no mapping to the hub:\n%s", list)
	}

	// The self-check knows the mapping it asked for, and no other: a
	// second forward to the hub (here asked by hand) is high.
	audit := func() result {
		return runBin(t, "toyhub", "audit", "--data", data, "--network", "--target", labLAN+".1")
	}
	if r := audit(); r.code == exitError || !strings.Contains(r.stdout, "forwards the remote access port to the hub, as remote access asked") {
		t.Fatalf("the self-check and the mapping it asked for: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	l.in(t, l.home, time.Minute, "upnpc", "-a", labHubIP, "8443", "8443", "TCP")
	if r := audit(); r.code != exitError || !strings.Contains(r.stdout, "HIGH: Your router forwards a port from the Internet to this hub") {
		t.Fatalf("the self-check and another forward to the hub: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	l.in(t, l.home, time.Minute, "upnpc", "-d", "8443", "TCP")

	// Grandpa's own toy joins from afar, and talks with the child's.
	must(t, runBin(t, "toyhub", "invite", "create", "--data", data, "--name", "Grandpa", "--toys", "Teddy", "--out", b("grandpa.invite")))
	if r := l.toy(t, l.far, "join", b("grandpa.invite"), "--out", b("grandpa")); r.code != 0 {
		t.Fatalf("join from afar: %s", r.stderr)
	}
	var info struct{ Hub []string }
	raw, _ := os.ReadFile(b("grandpa/device.json"))
	json.Unmarshal(raw, &info)
	if len(info.Hub) < 2 || info.Hub[len(info.Hub)-1] != labHost+":8885" || !strings.HasPrefix(info.Hub[0], labHubIP+":") {
		t.Fatalf("the bundle's hub addresses, LAN first, then the public name: %v", info.Hub)
	}
	must(t, runBin(t, "toyhub", "link", "Grandpa", "Teddy", "--data", data))
	l.exchange(t, l.home, b("teddy"), "Grandpa", l.far, b("grandpa"), 2, nil)
	l.exchange(t, l.far, b("grandpa"), "Teddy", l.home, b("teddy"), 2, nil)

	// Grandma, in her browser far away.
	inv := must(t, runBin(t, "toyhub", "invite", "create", "--data", data, "--name", "Granny", "--toys", "Teddy", "--out", b("granny.invite"))).stdout
	link := regexp.MustCompile(`https://` + regexp.QuoteMeta(labHost) + `:8885/join\?s=[A-Za-z0-9_-]+`).FindString(inv)
	if link == "" {
		t.Fatalf("no remote link in:\n%s", inv)
	}
	gmHome := b("granny-home")
	nssdb := "sql:" + filepath.Join(gmHome, ".pki", "nssdb")
	os.MkdirAll(filepath.Join(gmHome, ".pki", "nssdb"), 0o700)
	must(t, runCmd(t, exec.Command("certutil", "-d", nssdb, "-N", "--empty-password")))
	must(t, runCmd(t, exec.Command("certutil", "-d", nssdb, "-A", "-t", "C,,", "-n", "household", "-i", filepath.Join(data, "ca.pem"))))
	policy := "/etc/chromium/policies/managed/toyhub-test-" + l.far + ".json"
	os.MkdirAll(filepath.Dir(policy), 0o755)
	pattern, _ := json.Marshal(map[string]any{"pattern": "https://" + labHost + ":8885", "filter": map[string]any{}})
	pol, _ := json.Marshal(map[string]any{"AutoSelectCertificateForUrls": []string{string(pattern)}})
	os.WriteFile(policy, pol, 0o644)
	t.Cleanup(func() { os.Remove(policy) })
	grandma := func(step string, env ...string) {
		t.Helper()
		cmd, out := helper(t, l.far, grandmaEnv, append([]string{"HOME=" + gmHome, "GM_OUT=" + dir, "GM_STEP=" + step, "GM_PASSWORD=" + granPW}, env...)...)
		line, _ := out.ReadString('\n')
		cmd.Wait()
		if strings.TrimSpace(line) != "ok" {
			t.Fatalf("grandma's browser, %s: %s", step, line)
		}
	}
	grandma("join", "GM_URL="+link)
	pass, _ := os.ReadFile(b("passphrase"))
	// A mistyped passphrase is refused and loses nothing; the right one imports.
	if r := runCmd(t, exec.Command("pk12util", "-d", nssdb, "-i", b("grandma.p12"), "-W", "wrong "+string(pass))); r.code == 0 {
		t.Fatal("pk12util imported with a wrong passphrase")
	}
	must(t, runCmd(t, exec.Command("pk12util", "-d", nssdb, "-i", b("grandma.p12"), "-W", string(pass))))

	// The invite is spent: a second redemption gets nothing.
	if r := l.in(t, l.far, time.Minute, "curl", "-sS", "--cacert", filepath.Join(data, "ca.pem"), "-o", "-", "-w", "%{http_code}", link); r.code == 0 && r.stdout != "404" {
		t.Fatalf("a spent invite, again: exit %d %q", r.code, r.stdout)
	}

	// A parent approves; the child's toy says hello; grandma listens and answers.
	must(t, runBin(t, "toyhub", "link", "Granny", "Teddy", "--data", data))
	hello := b("hello.wav")
	must(t, runBin(t, "toy", "record", "--out", hello, "--seconds", "2", "--freq", "523"))
	r := l.toy(t, l.home, "send", "--bundle", b("teddy"), "--to", "Granny", "--timeout", "60s", hello)
	if r.code != 0 {
		t.Fatalf("send to Granny: %s", r.stderr)
	}
	msg := regexp.MustCompile(`[0-9a-f]{32}`).FindString(r.stdout)
	teddyID := deviceID(t, data, "Teddy")
	inbox := b("teddy-inbox")
	listen := make(chan result, 1)
	go func() {
		listen <- l.toy(t, l.home, "listen", "--bundle", b("teddy"), "--out", inbox, "--count", "1", "--timeout", "100s")
	}()
	grandma("reply", "GM_URL=https://"+labHost+":8885/", "GM_LOGIN=Granny", "GM_TOY="+teddyID, "GM_MSG="+msg, "GM_MIC="+fakeMic(t))
	sameFile(t, hello, b("heard.wav"))
	if r := <-listen; r.code != 0 {
		t.Fatalf("the toy's listen: %s", r.stderr)
	}
	sent, _ := os.ReadFile(b("sent"))
	sameFile(t, b("reply.wav"), filepath.Join(inbox, strings.TrimSpace(string(sent))+".wav"))

	// A scanner with no certificate gets nothing: no page, no version, no
	// MQTT. It is elsewhere on the Internet: another address than the
	// one that just fetched a certificate file (which may fetch it again
	// for a while).
	ipCmd(t, "-n", l.far, "addr", "add", l.wan+".3/24", "dev", "wan0")
	ipCmd(t, "-n", l.far, "route", "change", l.wan+".0/24", "dev", "wan0", "src", l.wan+".3")
	probe := func(t *testing.T, name string, args ...string) result {
		t.Helper()
		return l.in(t, l.far, 2*time.Minute, name, args...)
	}
	url := "https://" + labHost + ":8885"
	for _, path := range []string{"/", "/login", "/static/app.css", "/version", "/join?s=nothing"} {
		if r := probe(t, "curl", "-sk", "-o", "-", "-w", "%{http_code}", "-D", "-", url+path); r.code == 0 || r.stdout != "000" {
			t.Errorf("curl %s without a certificate: exit %d, %q", path, r.code, r.stdout)
		}
	}
	if r := probe(t, "openssl", "s_client", "-connect", labHost+":8885", "-servername", labHost); strings.Contains(r.stdout, "BEGIN CERTIFICATE") ||
		!strings.Contains(r.stdout+r.stderr, "no peer certificate available") {
		t.Errorf("openssl s_client learned something:\n%s%s", r.stdout, r.stderr)
	}
	if r := probe(t, "nmap", "-Pn", "-sV", "-p", "8885", labHost); r.code != 0 ||
		regexp.MustCompile(`(?i)http|mqtt|toyhub|golang|mochi`).MatchString(regexp.MustCompile(`(?m)^8885/tcp.*$`).FindString(r.stdout)) {
		t.Errorf("nmap identified the service:\n%s", r.stdout)
	}
	for _, args := range [][]string{{}, {"--tls-alpn", "mqtt"}} {
		if r := probe(t, "mosquitto_sub", append([]string{"-h", labHost, "-p", "8885", "--cafile", filepath.Join(data, "ca.pem"), "-t", "#", "-C", "1", "-W", "5"}, args...)...); r.code == 0 || r.stdout != "" {
			t.Errorf("mosquitto_sub %v without a certificate: exit %d %q", args, r.code, r.stdout)
		}
	}

	// Grandma's certificate opens the door; withdrawn, it opens nothing.
	must(t, runCmd(t, exec.Command("openssl", "pkcs12", "-in", b("grandma.p12"), "-passin", "file:"+b("passphrase"), "-nodes", "-out", b("grandma.pem"))))
	withCert := func() result {
		return probe(t, "curl", "-sS", "--cacert", filepath.Join(data, "ca.pem"), "--cert", b("grandma.pem"), "-o", "/dev/null", "-w", "%{http_code}", url+"/login")
	}
	if r := withCert(); r.code != 0 || r.stdout != "200" {
		t.Fatalf("grandma's certificate at the door: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if out := mum(t, "--data-urlencode", "login=Mum", "--data-urlencode", "password="+mumPW, lanWeb+"/login"); !strings.HasSuffix(out, "303") {
		t.Fatalf("mum's login: %s", out)
	}
	serial := regexp.MustCompile(`/remote/certificates/([0-9a-f]+)/revoke`).FindStringSubmatch(mum(t, lanWeb+"/remote"))
	if serial == nil {
		t.Fatal("the remote page lists no certificate")
	}
	if out := mum(t, "-X", "POST", lanWeb+"/remote/certificates/"+serial[1]+"/revoke"); !strings.HasSuffix(out, "303") {
		t.Fatalf("withdrawing grandma's certificate: %s", out)
	}
	if r := withCert(); r.code == 0 {
		t.Fatalf("a withdrawn certificate still opens the door: %q", r.stdout)
	}

	// A poor line between the homes: 80 ms each way, 1% loss each way, a
	// 512 kbit/s uplink, and in the middle of grandpa's 10-second upload,
	// 5 seconds of nothing at all.
	l.delay(80 * time.Millisecond)
	l.nft(t, "add rule inet filter impair numgen random mod 100 < 1 drop\n")
	for _, ns := range []string{l.router, l.far} {
		l.run(t, ns, "tc", "qdisc", "add", "dev", "wan0", "root", "handle", "1:", "htb", "default", "1")
		l.run(t, ns, "tc", "class", "add", "dev", "wan0", "parent", "1:", "classid", "1:1", "htb", "rate", "512kbit")
	}
	id := l.exchange(t, l.far, b("grandpa"), "Teddy", l.home, b("teddy"), 10, func() {
		time.Sleep(2 * time.Second)
		l.nft(t, "add rule inet filter impair drop\n")
		time.Sleep(5 * time.Second)
		l.nft(t, "flush chain inet filter impair\nadd rule inet filter impair numgen random mod 100 < 1 drop\n")
	})
	if n := strings.Count(must(t, runBin(t, "toyhub", "messages", "--toy", "Teddy", "--data", data)).stdout, id); n != 1 {
		t.Fatalf("message %s is listed %d times", id, n)
	}
	l.exchange(t, l.home, b("teddy"), "Grandpa", l.far, b("grandpa"), 10, nil)

	st := remoteState(t, data)
	if st.LastDevice.IsZero() || st.LastBrowser.IsZero() {
		t.Errorf("remote status does not show the last connections from outside: %+v", st)
	}

	// Off, the mapping goes; on again, and stopped, it goes too.
	must(t, runBin(t, "toyhub", "remote", "disable", "--data", data))
	if f := l.forwarded(t); strings.Contains(f, labHubIP) {
		t.Fatalf("remote access off, but the router still forwards:\n%s", f)
	}
	if r := probe(t, "curl", "-sS", "--connect-timeout", "3", "--cacert", filepath.Join(data, "ca.pem"), url+"/"); r.code == 0 {
		t.Fatal("remote access off, but the port answers")
	}
	enableRemote(t, data, logs)
	if f := l.forwarded(t); !strings.Contains(f, labHubIP) {
		t.Fatalf("remote access on again, but the router does not forward:\n%s", f)
	}
	hubCmd.Process.Signal(syscall.SIGTERM)
	hubCmd.Wait()
	if f := l.forwarded(t); strings.Contains(f, labHubIP) {
		t.Fatalf("the hub stopped, but the router still forwards:\n%s", f)
	}

	res := counted()
	if res.Answers == 0 || res.LAN < 100 {
		t.Fatalf("the counter saw %d answers and %d LAN packets: is it on the right interface?", res.Answers, res.LAN)
	}
	if len(res.Beyond) > 0 {
		t.Fatalf("the hub's home sent packets that open connections beyond the LAN: %v", res.Beyond)
	}
	t.Logf("%d packets on the LAN, %d answers to the far side, none opened beyond the LAN", res.LAN, res.Answers)
}

// deviceID is a device's ID, by name.
func deviceID(t *testing.T, data, name string) string {
	t.Helper()
	var devs []struct{ ID, Name string }
	json.Unmarshal([]byte(must(t, runBin(t, "toyhub", "device", "list", "--json", "--data", data)).stdout), &devs)
	for _, d := range devs {
		if d.Name == name {
			return d.ID
		}
	}
	t.Fatalf("no device %s", name)
	return ""
}

// fakeMic is what Chromium's fake microphone plays: a tone at 48 kHz.
func fakeMic(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mic.wav")
	if err := os.WriteFile(path, wire.Tone(48000, 4*time.Second, 660, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// BenchmarkFarRoundTrip: a 10-second message from grandpa's toy to the
// child's, from his home through the router (UPnP mapping, NAT, the
// remote door's ALPN hand-off) beside the same from a device on the home
// LAN, in the same run; then through a poor line (80 ms and 1% loss each
// way, a 512 kbit/s link). Each trip is what a toy does: a 'toy send' that
// connects, uploads and hands over, until the child's 'toy listen' has
// the whole message. Reported as medians and as ratios to the LAN's.
func BenchmarkFarRoundTrip(b *testing.B) {
	l := newLab(b, routerUPnP, labWAN)
	dir := b.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	data := p("data")
	_, logs := l.startHub(b, data)
	label := must(b, runBin(b, "toy", "label", "--out", p("teddy"))).stdout
	code := strings.SplitN(label, "\n", 2)[0]
	must(b, runBin(b, "toyhub", "pair", "--data", data, "--code", code, "--name", "Teddy"))
	must(b, l.toy(b, l.home, "pair", "--code", code, "--out", p("teddy"), "--hub", labHubIP+":8884"))
	enableRemote(b, data, logs)
	for _, who := range []struct{ name, ns string }{{"Grandpa", l.far}, {"Auntie", l.home}} {
		must(b, runBin(b, "toyhub", "invite", "create", "--data", data, "--name", who.name, "--toys", "Teddy", "--out", p(who.name+".invite")))
		must(b, l.toy(b, who.ns, "join", p(who.name+".invite"), "--out", p(who.name)))
		must(b, runBin(b, "toyhub", "link", who.name, "Teddy", "--data", data))
	}
	wav := p("ten.wav")
	must(b, runBin(b, "toy", "record", "--out", wav, "--seconds", "10"))
	trip := func(ns, bundle string) float64 {
		inbox := b.TempDir()
		listen := make(chan result, 1)
		go func() {
			listen <- l.toy(b, l.home, "listen", "--bundle", p("teddy"), "--out", inbox, "--count", "1", "--timeout", "100s")
		}()
		time.Sleep(time.Second) // the child's toy is connected and waiting
		start := time.Now()
		must(b, l.toy(b, ns, "send", "--bundle", bundle, "--to", "Teddy", "--timeout", "100s", wav))
		must(b, <-listen)
		return float64(time.Since(start).Microseconds()) / 1000
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	var lan, far, poor []float64
	for b.Loop() {
		lan = append(lan, trip(l.home, p("Auntie")))
		far = append(far, trip(l.far, p("Grandpa")))
	}
	l.delay(80 * time.Millisecond)
	l.nft(b, "add rule inet filter impair numgen random mod 100 < 1 drop\n")
	for _, ns := range []string{l.router, l.far} {
		l.run(b, ns, "tc", "qdisc", "add", "dev", "wan0", "root", "handle", "1:", "htb", "default", "1")
		l.run(b, ns, "tc", "class", "add", "dev", "wan0", "parent", "1:", "classid", "1:1", "htb", "rate", "512kbit")
	}
	for range lan {
		poor = append(poor, trip(l.far, p("Grandpa")))
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(lan), "lan-ms")
	b.ReportMetric(median(far), "router-ms")
	b.ReportMetric(median(far)/median(lan), "router/lan")
	b.ReportMetric(median(poor), "poor-ms")
	b.ReportMetric(median(poor)/median(lan), "poor/lan")
}
