package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
)

// netns is two network namespaces joined by a veth pair: a home LAN of
// its own. mDNS tests run only here, never on this machine's LAN.
type netns struct {
	a, b     string // namespace names
	hubIP    string
	toyIP    string
	subnet   string
	ifA, ifB string
}

// needNetns skips without root or ip(8), unless CI is set.
func needNetns(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "network namespaces need root"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "ip(8) is not installed (Debian: iproute2)"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; required under CI", why)
	}
	t.Skip(why)
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	needNetns(t)
	id := rand.IntN(1 << 16)
	n := &netns{a: fmt.Sprintf("toyhubA%d", id), b: fmt.Sprintf("toyhubB%d", id),
		subnet: fmt.Sprintf("10.%d.%d", 100+id%100, id%250), ifA: "lan0", ifB: "lan0"}
	n.hubIP, n.toyIP = n.subnet+".1", n.subnet+".2"
	ipCmd(t, "netns", "add", n.a)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.a).Run() })
	ipCmd(t, "netns", "add", n.b)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.b).Run() })
	// Created directly inside the namespaces: nothing appears on this
	// machine's own interfaces.
	ipCmd(t, "link", "add", "lan0", "netns", n.a, "type", "veth", "peer", "name", "lan0", "netns", n.b)
	for _, side := range []struct{ ns, ip string }{{n.a, n.hubIP}, {n.b, n.toyIP}} {
		ipCmd(t, "-n", side.ns, "addr", "add", side.ip+"/24", "dev", "lan0")
		ipCmd(t, "-n", side.ns, "link", "set", "lan0", "up")
		ipCmd(t, "-n", side.ns, "link", "set", "lo", "up")
	}
	return n
}

// startHub runs 'toyhub serve' in namespace a on the hub's address, and
// waits until its control socket answers.
func (n *netns) startHub(t *testing.T, data string, extra ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	args := append([]string{"netns", "exec", n.a, filepath.Join(binDir, "toyhub"), "serve", "--data", data,
		"--mqtt-addr", n.hubIP + ":8883", "--enroll-addr", n.hubIP + ":8884",
		"--audit-every", "0", "--audit-after-change", "0"}, extra...) // checks run when a test asks
	cmd := exec.Command("ip", args...)
	cmd.Stderr = logs
	cmd.Env = append(os.Environ(), "TOYHUB_LIMITS_MESSAGES_PER_MINUTE=100000",
		"TOYHUB_LIMITS_BYTES_PER_SECOND_PER_CONNECTION=0", "TOYHUB_LIMITS_PACKETS_PER_SECOND_PER_CONNECTION=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; runBin(t, "toyhub", "status", "--data", data).code != 0; i++ {
		if i > 200 {
			t.Fatalf("the hub did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, logs
}

// in runs one of the built commands inside a namespace.
func (n *netns) in(t *testing.T, ns, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCmd(t, exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, filepath.Join(binDir, name)}, args...)...))
}

// TestDiscovery: a real zeroconf browse in one namespace finds the hub
// advertised in the other; a toy pairs with the hub it found; the hub
// re-registers when its addresses change; a device whose remembered
// address is stale finds the hub again and remembers the new address;
// and avahi-browse (where installed) sees the hub too.
func TestDiscovery(t *testing.T) {
	n := newNetns(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	_, logs := n.startHub(t, data, "--mdns-refresh", "1s")
	// A name that must not leak into mDNS.
	must(t, runBin(t, "toyhub", "device", "add", "--data", data, "--name", "Rosalind Family", "--kind", "family", "--out", filepath.Join(dir, "gran")))
	ca, _ := os.ReadFile(filepath.Join(data, "ca.pem"))
	caCert, err := certs.ParseCert(ca)
	if err != nil {
		t.Fatal(err)
	}
	pin := certs.Pin(caCert)[:16]

	t.Run("toy discover", func(t *testing.T) {
		r := n.in(t, n.b, "toy", "discover", "--timeout", "4s")
		if r.code != 0 {
			t.Fatalf("exit %d: %s\nhub log:\n%s", r.code, r.stderr, logs.String())
		}
		want := fmt.Sprintf("mqtt=%s:8883\tenroll=%s:8884\tca=%s\tproto=1", n.hubIP, n.hubIP, pin)
		if !strings.Contains(r.stdout, want) || !strings.HasPrefix(r.stdout, "toyhub-"+pin[:8]) {
			t.Fatalf("discover printed %q, want %q", r.stdout, want)
		}
		if strings.Contains(r.stdout, "Rosalind") {
			t.Fatal("a name is advertised")
		}
	})

	t.Run("pair through mDNS", func(t *testing.T) {
		toy := filepath.Join(dir, "teddy")
		label := must(t, runBin(t, "toy", "label", "--out", toy))
		code := strings.SplitN(label.stdout, "\n", 2)[0]
		must(t, runBin(t, "toyhub", "pair", "--data", data, "--code", code, "--name", "Teddy"))
		r := n.in(t, n.b, "toy", "pair", "--code", code, "--out", toy)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		b, err := certs.LoadBundle(toy)
		if err != nil || len(b.Info.Hub) != 1 || b.Info.Hub[0] != n.hubIP+":8883" {
			t.Fatalf("bundle %+v: %v", b, err)
		}
		must(t, runBin(t, "toyhub", "link", "teddy", "rosalind family", "--data", data))

		// The remembered address goes stale; the toy finds the hub again
		// by mDNS, and remembers where.
		certs.UpdateBundleHubs(toy, []string{n.subnet + ".99:8883"})
		wav := filepath.Join(dir, "hi.wav")
		must(t, runBin(t, "toy", "record", "--out", wav, "--seconds", "1"))
		r = n.in(t, n.b, "toy", "send", "--bundle", toy, "--timeout", "60s", wav)
		if r.code != 0 {
			t.Fatalf("send with a stale address: exit %d: %s", r.code, r.stderr)
		}
		b, _ = certs.LoadBundle(toy)
		if len(b.Info.Hub) == 0 || b.Info.Hub[0] != n.hubIP+":8883" {
			t.Fatalf("remembered %v", b.Info.Hub)
		}
	})

	t.Run("re-registers when addresses change", func(t *testing.T) {
		extra := n.subnet + ".11"
		ipCmd(t, "-n", n.a, "addr", "add", extra+"/24", "dev", "lan0")
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := n.in(t, n.b, "toy", "discover", "--timeout", "3s")
			if strings.Contains(r.stdout, extra+":8883") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the new address was not advertised: %q\nhub log:\n%s", r.stdout, logs.String())
			}
		}
	})

	t.Run("avahi-browse", func(t *testing.T) {
		for _, tool := range []string{"avahi-browse", "avahi-daemon", "dbus-daemon"} {
			if _, err := exec.LookPath(tool); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is required under CI", tool)
				}
				t.Skipf("%s not installed (Debian: avahi-utils avahi-daemon dbus)", tool)
			}
		}
		env, alog := avahiInNamespace(t, n.b)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := 0; !strings.Contains(alog.String(), "Server startup complete"); i++ {
			if i > 200 {
				t.Fatalf("avahi-daemon did not start:\n%s", alog)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var out []byte
		for i := 0; i < 10; i++ {
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.b, "avahi-browse", "-rtp", "_toyhub._tcp")
			cmd.Env = env
			out, _ = cmd.CombinedOutput()
			if bytes.Contains(out, []byte(";8883;")) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		var resolved string
		for _, line := range strings.Split(string(out), "\n") {
			// Any of the hub's addresses (the test above added one).
			if strings.HasPrefix(line, "=;") && strings.Contains(line, ";"+n.subnet+".") && strings.Contains(line, ";8883;") {
				resolved = line
			}
		}
		if resolved == "" {
			t.Fatalf("avahi-browse did not resolve the hub:\n%s\navahi-daemon:\n%s", out, alog)
		}
		for _, want := range []string{`"ca=` + pin + `"`, `"enroll=8884"`, `"proto=1"`, `"txtvers=1"`} {
			if !strings.Contains(resolved, want) {
				t.Errorf("TXT lacks %s: %s", want, resolved)
			}
		}
		if strings.Count(resolved, `"`) != 8 {
			t.Errorf("TXT has records beyond the four expected: %s", resolved)
		}
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.b, "avahi-browse", "-rtp", "_secure-mqtt._tcp")
		cmd.Env = env
		if out, _ := cmd.CombinedOutput(); !bytes.Contains(out, []byte(";8883;")) {
			t.Errorf("_secure-mqtt._tcp is not advertised:\n%s", out)
		}
	})

}

// avahiInNamespace starts a private D-Bus and an avahi-daemon confined to
// the namespace's LAN interface, and returns the environment for clients.
func avahiInNamespace(t *testing.T, ns string) (env []string, daemonLog fmt.Stringer) {
	t.Helper()
	dir := t.TempDir()
	busConf := filepath.Join(dir, "bus.conf")
	os.WriteFile(busConf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=`+filepath.Join(dir, "bus")+`</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/></policy></busconfig>
`), 0o600)
	avahiConf := filepath.Join(dir, "avahi.conf")
	os.WriteFile(avahiConf, []byte("[server]\nallow-interfaces=lan0\nuse-ipv6=no\nenable-dbus=yes\n[publish]\ndisable-publishing=yes\n"), 0o600)
	env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path="+filepath.Join(dir, "bus"))

	bus := exec.Command("dbus-daemon", "--config-file="+busConf, "--nofork")
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Process.Kill(); bus.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	avahi := exec.Command("ip", "netns", "exec", ns, "avahi-daemon", "-f", avahiConf, "--no-drop-root", "--no-chroot", "--no-rlimits")
	avahi.Env = env
	alog := &lockedBuffer{}
	avahi.Stderr, avahi.Stdout = alog, alog
	if err := avahi.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		avahi.Process.Kill()
		avahi.Wait()
		os.Remove("/run/avahi-daemon/pid")
		os.Remove("/run/avahi-daemon/socket")
	})
	return env, alog
}
