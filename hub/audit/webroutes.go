package audit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// plainHTTP sends a plaintext HTTP request and returns the response, if
// the other end answered in HTTP at all.
func plainHTTP(ctx context.Context, p *Probes, addr, path string, timeout time.Duration) (*http.Response, []byte, error) {
	c, err := p.dial(ctx, addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp, body, nil
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return "no HTTP answer (" + shortErr(err) + ")"
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// webClient requests the web app as a browser without a session would.
func (r *run) webClient() *http.Client {
	return &http.Client{Timeout: r.opt.Timeout,
		Transport:     &http.Transport{TLSClientConfig: r.serverTLS(nil), DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func checkWebRoutes(ctx context.Context, r *run) {
	const id = "exposure.web-routes"
	webs := r.listenersOf(KindWeb)
	if len(webs) == 0 {
		return
	}
	base := "https://" + dialAddr(webs[0].Addr)
	c := r.webClient()
	n, open := 0, 0
	for _, rt := range r.facts.WebRoutes() {
		if !rt.Session {
			continue
		}
		n++
		path := fillPath(rt.Path)
		req, _ := http.NewRequestWithContext(ctx, rt.Method, base+path, strings.NewReader(""))
		if rt.Method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin") // past the CSRF check, to test the session check
		}
		resp, err := c.Do(req)
		if err != nil {
			r.add(Finding{Check: id, Severity: Low, Title: "A web page could not be checked", Checked: rt.Method + " " + path, Seen: shortErr(err), Fix: "Run the check again."})
			continue
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		refused := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
			(resp.StatusCode >= 300 && resp.StatusCode < 400 && (strings.HasSuffix(loc, "/login") || strings.Contains(loc, "/login?")))
		if !refused {
			r.add(Finding{Check: id, Severity: High, Title: "A web page answers without a login", Checked: rt.Method + " " + path + " without a session",
				Seen: fmt.Sprintf("HTTP %d", resp.StatusCode), Fix: "Stop the hub's web app and report this as a bug: every page but the login, setup and invite pages needs a session."})
			open++
		}
	}
	if open > 0 {
		return
	}
	r.pass(id, "Every web page needs a login", fmt.Sprintf("%d routes of the web app's route table, without a session", n), "each answered 401 or sent the browser to the login page")
}

// fillPath puts a value into each {wildcard} of a route pattern.
func fillPath(p string) string {
	p = strings.ReplaceAll(p, "{$}", "")
	for {
		i := strings.IndexByte(p, '{')
		j := strings.IndexByte(p, '}')
		if i < 0 || j < i {
			return p
		}
		p = p[:i] + "aaaaaaaaaaaaaaaaaaaaaaaaaa" + p[j+1:]
	}
}

func checkDebug(ctx context.Context, r *run) {
	const id = "exposure.debug"
	c := r.webClient()
	for _, l := range r.listenersOf(KindWeb, KindRedirect) {
		scheme := "https://"
		if l.Kind == KindRedirect {
			scheme = "http://"
		}
		base := scheme + dialAddr(l.Addr)
		var open []string
		for _, p := range debugPaths {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
			resp, err := c.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				open = append(open, p)
			}
		}
		checked := "debugging endpoints (pprof, expvar, metrics) on " + base
		if len(open) > 0 {
			r.add(Finding{Check: id, Severity: High, Title: "A debugging endpoint is reachable", Checked: checked, Seen: "answered 200: " + strings.Join(open, ", "),
				Fix: "Stop the hub and report this as a bug: debugging endpoints leak memory contents and must never be served.", Host: hostOf(dialAddr(l.Addr)), Port: portOf(l.Addr)})
			continue
		}
		r.pass(id, "No debugging page on "+kindWords(l.Kind), checked, strings.Join(debugPaths, ", ")+": none answered")
	}
}
