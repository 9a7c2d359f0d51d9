package audit

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// checkRemote probes the remote access port as a stranger on the
// Internet would: with no protocol it serves, and as a browser without a
// certificate. The handshake must refuse both, or (while an invite is
// open, for its redemption) the browser must get nothing at all: no page,
// no header, no version.
func checkRemote(ctx context.Context, r *run) {
	const id = "exposure.remote"
	for _, l := range r.listenersOf(KindRemote) {
		addr := dialAddr(l.Addr)
		checked := "the remote access port " + addr + " as a stranger on the Internet: TLS with no protocol it serves, and a browser without a certificate"
		bad := func(title, seen string) {
			r.add(Finding{Check: id, Severity: High, Title: title, Checked: checked, Seen: seen,
				Fix:  "Turn remote access off (Security, then Remote access; or 'toyhub remote disable') and report this as a bug.",
				Host: hostOf(addr), Port: portOf(addr)})
		}
		var seen []string
		for _, p := range [][]string{nil, {"imap"}} {
			cfg := r.serverTLS(func(c *tls.Config) { c.NextProtos = p })
			name := "no protocol named"
			if p != nil {
				name = "another protocol (" + p[0] + ")"
			}
			if err := handshake(ctx, r.opt.Probes, addr, cfg, r.opt.Timeout); err == nil {
				bad("The remote access port accepts a protocol it does not serve", name+": the handshake completed")
				return
			} else {
				seen = append(seen, name+": refused ("+shortErr(err)+")")
			}
		}
		s, served := strangerBrowser(ctx, r, addr)
		seen = append(seen, "a browser without a certificate: "+s)
		if served {
			bad("The remote access port serves a browser without a certificate", strings.Join(seen, "; "))
			return
		}
		r.pass(id, "The remote access port gives a stranger nothing", checked, strings.Join(seen, "; "))
	}
}

// strangerBrowser asks for / as a browser with no certificate, and
// reports what it got and whether that is more than the bare refusal.
func strangerBrowser(ctx context.Context, r *run, addr string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	c, err := tlsProbe(ctx, r.opt.Probes, addr, r.serverTLS(func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }), r.opt.Timeout)
	if err != nil {
		return "refused during the TLS handshake (" + shortErr(err) + ")", false
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "no HTTP answer (" + shortErr(err) + ")", false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	extra := []string{}
	for k := range resp.Header {
		if k != "Content-Length" && k != "Date" {
			extra = append(extra, k)
		}
	}
	if resp.StatusCode == http.StatusNotFound && len(body) == 0 && len(extra) == 0 {
		return "an invite is open, so the handshake passed; the answer was an empty 404, as for any path", false
	}
	return fmt.Sprintf("HTTP %d, %d bytes, headers %v", resp.StatusCode, len(body), extra), true
}
