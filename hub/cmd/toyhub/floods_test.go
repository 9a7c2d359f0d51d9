package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toyhub/toyhub/hub/internal/webflood"
)

// floodRSS bounds how much the hub's peak resident memory may grow over
// its peak before the floods (which includes an Argon2id login) under any
// one of them; and the peak stays below the unit's MemoryHigh. Issue 15
// measured 1 to 2.5 GB before the bounds.
const floodRSS = 64 << 20

// TestWebFloods: the body floods of issue 15 against the hub's binary,
// with its default limits: 32 HTTP/1.1 connections each sending a 10 MB
// form to /login, 64 HTTP/2 streams each sending one, and 200 MB
// multipart logins. Each is refused once a form's 16 KiB are read (or at
// once, multipart); the hub's peak RSS grows by less than floodRSS;
// nothing is written to its temporary directory; and the owner logs in
// during each flood. The hub's HTTP/2 settings are its own, not Go's
// defaults.
func TestWebFloods(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	tmp := t.TempDir()
	unit, err := os.ReadFile("../../../packaging/toyhub.service")
	if err != nil {
		t.Fatal(err)
	}
	mem := unitMemory(t, unit)
	hubCmd, logs := startServeEnv(t, data, freePort(t), "TMPDIR="+tmp, fmt.Sprintf("GOMEMLIMIT=%d", mem.goLimit))
	target := webTarget(t, data)
	setupOwnerCLI(t, data)

	settings, err := webflood.Settings(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		id   uint16
		want uint32
	}{
		{webflood.SettingMaxConcurrentStreams, 16},
		{webflood.SettingInitialWindowSize, 128 << 10},
		{webflood.SettingMaxFrameSize, 16 << 10},
	} {
		if settings[s.id] != s.want {
			t.Errorf("HTTP/2 setting %#x is %d, want %d (all: %v)", s.id, settings[s.id], s.want, settings)
		}
	}

	mum := webflood.NewClient(target, "127.0.0.1")
	defer mum.Close()
	if _, err := mum.Login("Mum", "violet tractor umbrella geology"); err != nil {
		t.Fatal(err)
	}
	base := peakRSS(t, hubCmd.Process.Pid)
	t.Logf("the hub's peak RSS before the floods: %d MiB", base>>20)
	floods := []struct {
		name    string
		refused int
		run     func(stop <-chan struct{}) *webflood.Result
	}{
		{"32 HTTP/1.1 connections, 10 MB forms", http.StatusRequestEntityTooLarge, func(stop <-chan struct{}) *webflood.Result {
			return webflood.Forms(target, "127.0.0.2", "/login", 32, 10<<20, stop)
		}},
		{"64 HTTP/2 streams, 10 MB forms", http.StatusRequestEntityTooLarge, func(stop <-chan struct{}) *webflood.Result {
			return webflood.Streams(target, "127.0.0.3", "/login", 64, 10<<20, stop)
		}},
		{"multipart 200 MB logins", http.StatusUnsupportedMediaType, func(stop <-chan struct{}) *webflood.Result {
			return webflood.Multipart(target, "127.0.0.4", "/login", 200<<20, stop)
		}},
		{"HTTP/2 streams to /join", http.StatusRequestEntityTooLarge, func(stop <-chan struct{}) *webflood.Result {
			return webflood.Streams(target, "127.0.0.5", "/join", 64, 10<<20, stop)
		}},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			stop := make(chan struct{})
			var res *webflood.Result
			var wg sync.WaitGroup
			wg.Go(func() { res = f.run(stop) })
			time.Sleep(2 * time.Second)
			d, err := mum.Login("Mum", "violet tractor umbrella geology")
			time.Sleep(2 * time.Second)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Errorf("the owner could not log in during the flood: %v", err)
			}
			if res.Count(f.refused) == 0 {
				t.Fatalf("the flood was never refused with %d: %v", f.refused, res)
			}
			peak := peakRSS(t, hubCmd.Process.Pid)
			t.Logf("%v; the owner's login took %v; the hub's peak RSS %d MiB", res, d.Round(time.Millisecond), peak>>20)
			if peak > base+floodRSS || peak > mem.high {
				t.Fatalf("the hub's peak RSS grew from %d to %d MiB (the unit's MemoryHigh: %d MiB)", base>>20, peak>>20, mem.high>>20)
			}
		})
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Fatalf("the hub wrote %d files to its temporary directory", len(left))
	}
	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("the hub panicked:\n%s", logs.String())
	}
}

// webTarget is the web app of the hub in data, trusted by its CA; it asks
// the hub for a setup link to learn its address, so it runs before setup.
func webTarget(t *testing.T, data string) webflood.Target {
	t.Helper()
	u, err := url.Parse(setupLinkOf(t, must(t, runBin(t, "toyhub", "setup-link", "--data", data)).stdout))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return webflood.Target{Addr: u.Host, TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
}

// peakRSS is a process's peak resident memory (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
