package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toyhub/toyhub/hub/control"
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
	wan               string // the WAN subnet's first three octets
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
func newLab(t *testing.T, kind routerKind, wan string) *lab {
	t.Helper()
	needNetns(t)
	needTool(t, "nft", "nftables")
	id := rand.IntN(1 << 16)
	l := &lab{home: fmt.Sprintf("thHome%d", id), router: fmt.Sprintf("thRtr%d", id), far: fmt.Sprintf("thFar%d", id), wan: wan, dir: t.TempDir()}
	for _, ns := range []string{l.home, l.router, l.far} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "link", "add", "lan0", "netns", l.home, "type", "veth", "peer", "name", "lan0", "netns", l.router)
	ipCmd(t, "link", "add", "wan0", "netns", l.router, "type", "veth", "peer", "name", "wan0", "netns", l.far)
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

func (l *lab) run(t *testing.T, ns string, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

func (l *lab) nft(t *testing.T, ruleset string) {
	t.Helper()
	f := filepath.Join(l.dir, fmt.Sprintf("rules%d.nft", rand.IntN(1<<30)))
	os.WriteFile(f, []byte(ruleset), 0o600)
	l.run(t, l.router, "nft", "-f", f)
}

func (l *lab) startMiniupnpd(t *testing.T, kind routerKind) {
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
func (l *lab) forwarded(t *testing.T) string {
	t.Helper()
	return l.run(t, l.router, "nft", "list", "chain", "inet", "nat", "prerouting_miniupnpd")
}

// startHub runs 'toyhub serve' in the home namespace, on the LAN address,
// the web app included; it waits until the control socket answers.
func (l *lab) startHub(t *testing.T, data string) (*exec.Cmd, *lockedBuffer) {
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
func remoteState(t *testing.T, data string) control.RemoteView {
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
func enableRemote(t *testing.T, data string, logs fmt.Stringer, extra ...string) control.RemoteView {
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
