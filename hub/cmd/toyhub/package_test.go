package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"debug/buildinfo"
	"debug/elf"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// needTool returns a tool's path; it skips without it, unless CI is set.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (Debian: %s); required under CI", name, pkg)
	}
	t.Skipf("%s is not installed (Debian: %s)", name, pkg)
	return ""
}

var (
	distOnce sync.Once
	distDir  string
	distErr  error
	distOut  []byte
)

// dist runs 'make deb' once, for every target, into a temporary directory,
// as a release would.
func dist(t *testing.T) string {
	t.Helper()
	needTool(t, "make", "make")
	distOnce.Do(func() {
		distDir, distErr = os.MkdirTemp("", "toyhub-dist")
		if distErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", "-C", "../../..", "deb", "DIST="+distDir)
		distOut, distErr = cmd.CombinedOutput()
	})
	if distErr != nil {
		t.Fatalf("make deb: %v\n%s", distErr, distOut)
	}
	return distDir
}

// TestDist: 'make dist' cross-builds static binaries for the Pi's
// architectures and amd64, without cgo, trimmed, version-stamped, with
// SHA-256 sums that check.
func TestDist(t *testing.T) {
	dir := dist(t)
	targets := []struct {
		name, goarch, goarm string
		machine             elf.Machine
	}{
		{"amd64", "amd64", "", elf.EM_X86_64},
		{"arm64", "arm64", "", elf.EM_AARCH64},
		{"armv7", "arm", "7", elf.EM_ARM},
		{"armv6", "arm", "6", elf.EM_ARM},
	}
	for _, tg := range targets {
		for _, bin := range []string{"toyhub", "toy"} {
			t.Run(tg.name+"/"+bin, func(t *testing.T) {
				p := filepath.Join(dir, tg.name, bin)
				f, err := elf.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.Machine != tg.machine {
					t.Fatalf("machine %v, want %v", f.Machine, tg.machine)
				}
				for _, prog := range f.Progs {
					if prog.Type == elf.PT_INTERP {
						t.Fatal("dynamically linked (it has an interpreter)")
					}
				}
				info, err := buildinfo.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				settings := map[string]string{}
				for _, s := range info.Settings {
					settings[s.Key] = s.Value
				}
				if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOARCH"] != tg.goarch ||
					settings["GOARM"] != tg.goarm {
					t.Fatalf("build settings %v", settings)
				}
				// -trimpath leaves -ldflags out of the build info; the
				// version stamped with -X is in the binary's strings.
				b, _ := os.ReadFile(p)
				if !bytes.Contains(b, []byte(commit(t))) {
					t.Fatalf("the version (commit %s) is not stamped in", commit(t))
				}
			})
		}
	}
	sums := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	sums.Dir = dir
	if out, err := sums.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 12 {
		t.Fatalf("SHA256SUMS: %v\n%s", err, out)
	}
	// The version is stamped from git, and the amd64 build runs here.
	out, _ := exec.Command(filepath.Join(dir, "amd64", "toyhub"), "version", "--data", t.TempDir()).CombinedOutput()
	if !strings.Contains(string(out), commit(t)) {
		t.Fatalf("toyhub version: %q, want the commit %s", out, commit(t))
	}
}

func commit(t *testing.T) string {
	t.Helper()
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		t.Fatalf("git: %v", err)
	}
	return strings.TrimSpace(string(head))
}

func debFor(t *testing.T, dir, target string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "toyhub_*_"+target+".deb"))
	if len(m) != 1 {
		t.Fatalf("no package for %s in %s", target, dir)
	}
	return m[0]
}

// TestDebianPackage: each package holds what a Pi needs, with the right
// modes and control fields, maintainer scripts that parse, and lintian
// finds no error.
func TestDebianPackage(t *testing.T) {
	dpkg := needTool(t, "dpkg-deb", "dpkg")
	dir := dist(t)
	unit, _ := os.ReadFile("../../../packaging/toyhub.service")
	for _, tg := range []struct{ name, arch string }{{"amd64", "amd64"}, {"arm64", "arm64"}, {"armv7", "armhf"}, {"armv6", "armhf"}} {
		t.Run(tg.name, func(t *testing.T) {
			deb := debFor(t, dir, tg.name)
			out, err := exec.Command(dpkg, "--contents", deb).Output()
			if err != nil {
				t.Fatal(err)
			}
			listing := string(out)
			for _, want := range []string{
				`-rwxr-xr-x root/root .* \./usr/bin/toyhub$`, `-rwxr-xr-x root/root .* \./usr/bin/toy$`,
				`-rw-r--r-- root/root .* \./lib/systemd/system/toyhub\.service$`, `-rw-r--r-- root/root .* \./etc/toyhub/toyhub\.toml$`,
				`\./usr/share/man/man1/toyhub\.1\.gz$`, `\./usr/share/man/man1/toy\.1\.gz$`, `\./usr/share/doc/toyhub/copyright$`,
				`-rw-r--r-- root/root .* \./lib/systemd/system/toyhub-remote\.socket$`, `\./usr/share/doc/toyhub/examples/low-ports\.conf$`,
			} {
				if !regexp.MustCompile(`(?m)` + want).MatchString(listing) {
					t.Errorf("the package lacks %s:\n%s", want, listing)
				}
			}
			for field, want := range map[string]string{"Package": "toyhub", "Architecture": tg.arch, "Depends": "adduser, init-system-helpers (>= 1.54~)"} {
				got, _ := exec.Command(dpkg, "--field", deb, field).Output()
				if strings.TrimSpace(string(got)) != want {
					t.Errorf("%s: %q, want %q", field, got, want)
				}
			}
			ctl := t.TempDir()
			if out, err := exec.Command(dpkg, "--control", deb, ctl).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); strings.TrimSpace(string(b)) != "/etc/toyhub/toyhub.toml" {
				t.Errorf("conffiles: %q", b)
			}
			for _, s := range []string{"postinst", "prerm", "postrm"} {
				if out, err := exec.Command("sh", "-n", filepath.Join(ctl, s)).CombinedOutput(); err != nil {
					t.Errorf("%s does not parse: %s", s, out)
				}
			}
			data := t.TempDir()
			if out, err := exec.Command(dpkg, "--extract", deb, data).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if got, _ := os.ReadFile(filepath.Join(data, "lib/systemd/system/toyhub.service")); !bytes.Equal(got, unit) {
				t.Error("the packaged unit differs from packaging/toyhub.service")
			}
		})
	}
	lintian := needTool(t, "lintian", "lintian")
	for _, tg := range []string{"amd64", "armv6"} {
		out, err := exec.Command(lintian, "--fail-on", "error", debFor(t, dir, tg)).CombinedOutput()
		if err != nil {
			t.Errorf("lintian, %s: %v\n%s", tg, err, out)
		}
	}
}

// TestServiceUnit: systemd checks the unit, and rates its exposure at
// 2.0 or below; the rules that keep the hub on the LAN are there.
func TestServiceUnit(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile("../../../packaging/toyhub.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "User=toyhub", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"SystemCallFilter=@system-service", "CapabilityBoundingSet=\n", "IPAddressDeny=any",
		"IPAddressAllow=localhost link-local multicast 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7", "MemorySwapMax=0"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	// Go's soft limit below the kernel's reclaim point, below the ceiling.
	mem := unitMemory(t, unit)
	if !(0 < mem.goLimit && mem.goLimit < mem.high && mem.high < mem.max && mem.max <= 384<<20) {
		t.Errorf("memory settings out of order for a 512 MB Pi: %+v", mem)
	}
	// verify checks that ExecStart exists: point it at the binary built
	// for these tests.
	dir := t.TempDir()
	local := filepath.Join(dir, "toyhub.service")
	os.WriteFile(local, bytes.ReplaceAll(unit, []byte("/usr/bin/toyhub"), []byte(filepath.Join(binDir, "toyhub"))), 0o644)
	// Remote access: the socket unit opens the one port to anywhere, and
	// hands it to the service, which keeps its own rule.
	sock, err := os.ReadFile("../../../packaging/toyhub-remote.socket")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ListenStream=8885", "FileDescriptorName=remote", "Service=toyhub.service", "IPAddressAllow=any"} {
		if !strings.Contains(string(sock), want) {
			t.Errorf("the remote socket lacks %q", want)
		}
	}
	if strings.Contains(string(unit), "IPAddressAllow=any") {
		t.Error("the service lets itself reach anywhere")
	}
	localSock := filepath.Join(dir, "toyhub-remote.socket")
	os.WriteFile(localSock, sock, 0o644)
	if out, err := exec.Command(sa, "verify", "--man=no", local, localSock).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ := exec.Command(sa, "security", "--offline=yes", local).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for toyhub\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.0 {
		t.Fatalf("exposure %v, want at most 2.0:\n%s", level, out)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}

// TestArm64UnderQemu: the arm64 build runs under qemu-aarch64-static: it
// reports its version, and serves a whole exchange between two toys that
// run natively, over real mutual TLS.
func TestArm64UnderQemu(t *testing.T) {
	qemu := needTool(t, "qemu-aarch64-static", "qemu-user-static")
	dir := dist(t)
	arm := filepath.Join(dir, "arm64", "toyhub")
	out, _ := exec.Command(qemu, arm, "version", "--data", t.TempDir()).CombinedOutput()
	if !strings.Contains(string(out), commit(t)) {
		t.Fatalf("toyhub version under qemu: %q", out)
	}

	work := t.TempDir()
	data := filepath.Join(work, "data")
	logs := &lockedBuffer{}
	hubCmd := exec.Command(qemu, arm, "serve", "--data", data, "--mqtt-addr", freePort(t), "--enroll-addr", "127.0.0.1:0",
		"--web-addr", "", "--mdns=false", "--metrics-addr", "127.0.0.1:0", "--audit-every", "0", "--audit-after-change", "0")
	hubCmd.Stderr = logs
	if err := hubCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hubCmd.Process.Kill(); hubCmd.Wait() })
	for i := 0; runBin(t, "toyhub", "status", "--data", data).code != 0; i++ {
		if i > 600 { // emulation is slow to start
			t.Fatalf("the hub under qemu did not start:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Native CLI and toys against the emulated hub.
	b := func(n string) string { return filepath.Join(work, n) }
	must(t, runBin(t, "toyhub", "device", "add", "--data", data, "--name", "Bunny", "--kind", "toy", "--out", b("bunny")))
	must(t, runBin(t, "toyhub", "device", "add", "--data", data, "--name", "Teddy", "--kind", "toy", "--out", b("teddy")))
	must(t, runBin(t, "toyhub", "link", "bunny", "teddy", "--data", data))
	must(t, runBin(t, "toy", "record", "--out", b("hello.wav"), "--seconds", "2"))
	listen := make(chan result, 1)
	go func() {
		listen <- runBin(t, "toy", "listen", "--bundle", b("teddy"), "--out", b("inbox"), "--count", "1", "--timeout", "50s")
	}()
	must(t, runBin(t, "toy", "send", "--bundle", b("bunny"), "--to", "Teddy", "--timeout", "50s", b("hello.wav")))
	r := <-listen
	if r.code != 0 {
		t.Fatalf("toy listen: exit %d %s\nhub:\n%s", r.code, r.stderr, logs.String())
	}
	got, err := os.ReadFile(strings.TrimSpace(r.stdout))
	want, _ := os.ReadFile(b("hello.wav"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the toy under test received %d bytes, sent %d: %v", len(got), len(want), err)
	}
	if !strings.Contains(logs.String(), "Message committed") {
		t.Fatalf("the emulated hub did not log the exchange:\n%s", logs.String())
	}
}

// memory is the unit's memory settings, in bytes.
type memory struct{ goLimit, high, max int64 }

// unitMemory reads GOMEMLIMIT, MemoryHigh and MemoryMax from the unit.
func unitMemory(t *testing.T, unit []byte) memory {
	t.Helper()
	size := func(re, units string) int64 {
		m := regexp.MustCompile(re + `([0-9]+)(` + units + `)\n`).FindSubmatch(unit)
		if m == nil {
			t.Fatalf("the unit does not set %s", re)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n << map[string]int{"M": 20, "MiB": 20, "G": 30, "GiB": 30}[string(m[2])]
	}
	return memory{goLimit: size(`Environment=GOMEMLIMIT=`, "MiB|GiB"), high: size(`MemoryHigh=`, "M|G"), max: size(`MemoryMax=`, "M|G")}
}

// TestRemoteSocketActivation: as packaged, the remote port is the socket
// unit's, handed to the hub by name ("remote"); systemd-socket-activate
// hands it over as systemd does. While remote access is off the hub
// closes whatever arrives on it; once a parent turns remote access on,
// the door answers there (a browser without a certificate passes the
// handshake only while an invite is open). And under systemd without
// the socket, turning remote access on says what to run.
func TestRemoteSocketActivation(t *testing.T) {
	ssa := needTool(t, "systemd-socket-activate", "systemd")
	data := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	logs := &lockedBuffer{}
	cmd := exec.Command(ssa, "-l", addr, "--fdname=remote", filepath.Join(binDir, "toyhub"), "serve", "--data", data,
		"--mqtt-addr", "127.0.0.1:0", "--enroll-addr", "127.0.0.1:0", "--web-addr", "127.0.0.1:0", "--mdns=false",
		"--audit-every", "0", "--audit-after-change", "0", "--metrics-addr", "127.0.0.1:0")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// A browser's handshake, done when the server speaks (HTTP/2 servers
	// send their settings first): in TLS 1.3 a refused client learns it
	// only at its first read.
	handshake := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	waitFor(t, "the socket", func() bool { // the first connection starts the hub
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, logs)
	waitFor(t, "the hub", func() bool { return runBin(t, "toyhub", "status", "--data", data).code == 0 }, logs)
	if err := handshake(); err == nil {
		t.Fatal("a handshake on the remote socket while remote access is off")
	}
	if r := runBin(t, "toyhub", "remote", "enable", "--data", data, "--host", "family.example.net", "--port", "8886", "--no-map"); r.code == 0 ||
		!strings.Contains(r.stderr, "toyhub-remote.socket listens on port "+port) {
		t.Fatalf("another port than the socket's: exit %d %s", r.code, r.stderr)
	}
	must(t, runBin(t, "toyhub", "remote", "enable", "--data", data, "--host", "family.example.net", "--port", port, "--no-map"))
	waitFor(t, "the hub, again", func() bool { return remoteState(t, data).Listening }, logs) // it restarted, to vouch for the name
	if err := handshake(); err == nil {
		t.Fatal("a browser without a certificate passed the handshake with no invite open")
	}
	must(t, runBin(t, "toyhub", "invite", "create", "--data", data, "--name", "Gran", "--out", filepath.Join(t.TempDir(), "gran.invite")))
	if err := handshake(); err != nil {
		t.Fatalf("with an invite open, the door on the passed socket: %v\n%s", err, logs.String())
	}

	// Under systemd, with no socket passed: the steps, in words.
	data2 := filepath.Join(t.TempDir(), "data")
	startServeEnv(t, data2, "127.0.0.1:0", "INVOCATION_ID=0123456789abcdef")
	if r := runBin(t, "toyhub", "remote", "enable", "--data", data2, "--host", "family.example.net", "--no-map"); r.code == 0 ||
		!strings.Contains(r.stderr, "sudo systemctl enable --now toyhub-remote.socket") {
		t.Fatalf("under systemd without the socket: exit %d %s", r.code, r.stderr)
	}
}
