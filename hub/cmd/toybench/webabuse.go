package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/hub/internal/webflood"
)

// WebAbuseResult is the owner's login while one web flood runs, beside
// her login with no flood, measured in the same run, and the hub's peak
// resident memory meanwhile.
type WebAbuseResult struct {
	Flood      string  `json:"flood"`
	Logins     int     `json:"logins"`
	Refused    int     `json:"logins_refused"` // the owner kept out (an older hub, or a regression)
	P50ms      float64 `json:"login_p50_ms"`
	P99ms      float64 `json:"login_p99_ms"`
	VsQuietP50 float64 `json:"p50_vs_quiet"`
	VsQuietP99 float64 `json:"p99_vs_quiet"`
	RSSMB      float64 `json:"server_rss_mb"`
	Flooder    string  `json:"flooder"`
}

// ownerPassword is the bench's owner's password.
const ownerPassword = "violet tractor umbrella geology"

// webAbuse measures the owner's login (from her own browser, which the
// hub knows) alone, then under each web flood of issue 15, against a hub
// with its default limits and the unit's memory limit. Each flooder sends
// from loopback addresses of its own, as other machines would.
func webAbuse(o options, work string) ([]WebAbuseResult, error) {
	dir := filepath.Join(work, "webabuse")
	web, err := freeAddr()
	if err != nil {
		return nil, err
	}
	srv, err := newHubServer(o.hubBin, dir, web, []string{"GOMEMLIMIT=192MiB"}) // as packaging/toyhub.service sets it
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	target, err := benchTarget(srv)
	if err != nil {
		return nil, err
	}
	mum := webflood.NewClient(target, "127.0.0.1")
	defer mum.Close()
	if err := setupOwner(srv, mum); err != nil {
		return nil, err
	}
	var srcs []string
	for i := range 16 {
		srcs = append(srcs, fmt.Sprintf("127.0.9.%d", i+1))
	}
	floods := []struct {
		name string
		run  func(stop <-chan struct{}) *webflood.Result
	}{
		{"32 HTTP/1.1 connections, 10 MB forms", func(stop <-chan struct{}) *webflood.Result {
			return webflood.Forms(target, "127.0.0.2", "/login", 32, 10<<20, stop)
		}},
		{"64 HTTP/2 streams, 10 MB forms", func(stop <-chan struct{}) *webflood.Result {
			return webflood.Streams(target, "127.0.0.3", "/login", 64, 10<<20, stop)
		}},
		{"multipart 200 MB logins", func(stop <-chan struct{}) *webflood.Result {
			return webflood.Multipart(target, "127.0.0.4", "/login", 200<<20, stop)
		}},
		{"her password guessed from 16 addresses", func(stop <-chan struct{}) *webflood.Result {
			return webflood.Guesses(target, srcs, webflood.WrongPassword("Mum"), 2, stop)
		}},
		{"wrong invite links from 16 addresses", func(stop <-chan struct{}) *webflood.Result {
			return webflood.Guesses(target, srcs, webflood.WrongInvite, 2, stop)
		}},
	}
	measure := func(name string, flood func(<-chan struct{}) *webflood.Result) (WebAbuseResult, error) {
		stop := make(chan struct{})
		var res *webflood.Result
		var wg sync.WaitGroup
		if flood != nil {
			wg.Go(func() { res = flood(stop) })
			time.Sleep(time.Second) // let it take hold
		}
		var lat []time.Duration
		refused := 0
		peak := 0.0
		for end := time.Now().Add(o.duration); time.Now().Before(end); {
			if d, err := mum.Login("Mum", ownerPassword); err != nil {
				refused++
			} else {
				lat = append(lat, d)
			}
			if r, err := procRSS(srv.pid()); err == nil && r > peak {
				peak = r
			}
			time.Sleep(200 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		r := WebAbuseResult{Flood: name, Logins: len(lat), Refused: refused, P50ms: percentile(lat, .5), P99ms: percentile(lat, .99), RSSMB: peak}
		if res != nil {
			r.Flooder = res.String()
		}
		return r, nil
	}
	return besideNone("web abuse", o.duration, len(floods), func(i int) string { return floods[i].name },
		func(name string, i int) (WebAbuseResult, error) {
			if i < 0 {
				return measure(name, nil)
			}
			return measure(name, floods[i].run)
		})
}

func (r *WebAbuseResult) latencies() (p50, p99 float64) { return r.P50ms, r.P99ms }
func (r *WebAbuseResult) setVsNone(p50, p99 float64)    { r.VsQuietP50, r.VsQuietP99 = p50, p99 }

// benchTarget is the bench hub's web app, trusted by its CA.
func benchTarget(srv *hubServer) (webflood.Target, error) {
	ca, err := os.ReadFile(filepath.Join(srv.data, "ca.pem"))
	if err != nil {
		return webflood.Target{}, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return webflood.Target{Addr: srv.web, TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"}}, nil
}

// setupOwner makes the owner, Mum, from the browser that will log in.
func setupOwner(srv *hubServer, mum *webflood.Client) error {
	res, err := control.SetupLink.Call(srv.data, control.None{})
	if err != nil {
		return err
	}
	u, err := url.Parse(res.Link)
	if err != nil {
		return err
	}
	status, page, err := mum.PostPage("/setup", url.Values{"token": {u.Query().Get("token")}, "login": {"Mum"},
		"password": {ownerPassword}, "password2": {ownerPassword}})
	if err == nil && status != 303 {
		err = fmt.Errorf("setup: %d %s", status, strings.TrimSpace(page))
	}
	return err
}

func printWebAbuse(rs []WebAbuseResult) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "web flood\t logins\t refused\t p50 ms\t p99 ms\t p50 ×quiet\t p99 ×quiet\t server RSS MB\t flooder\t\n")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t %d\t %d\t %.1f\t %.1f\t %.2f\t %.2f\t %.1f\t %s\t\n", r.Flood, r.Logins, r.Refused, r.P50ms, r.P99ms,
			r.VsQuietP50, r.VsQuietP99, r.RSSMB, r.Flooder)
	}
	tw.Flush()
}
