// Package webflood floods the hub's web app as a stranger on the LAN
// would, for the tests that assert the hub holds and for 'toybench
// --mode abuse', which measures what a flood costs: forms far larger than
// any page sends, over HTTP/1.1 and over HTTP/2 streams, multipart
// uploads, and wrong passwords. Each attacker sends from a loopback
// address of its own, as another machine would.
package webflood

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the web app under attack.
type Target struct {
	Addr string      // host:port of the web app
	TLS  *tls.Config // how to trust it
}

// Dialer dials from src, a loopback address standing for a machine.
func Dialer(src string) *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
}

// Result is what a flood got: requests sent, the answers by status, and
// the bytes of bodies written.
type Result struct {
	mu       sync.Mutex
	Requests int64
	Status   map[int]int64
	Sent     atomic.Int64
}

func (r *Result) answered(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Requests++
	if r.Status == nil {
		r.Status = map[int]int64{}
	}
	r.Status[status]++
}

// Count is how many answers had status.
func (r *Result) Count(status int) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Status[status]
}

func (r *Result) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var codes []int
	for c := range r.Status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", r.Status[c], c))
	}
	return fmt.Sprintf("%d requests (%s), %d MiB sent", r.Requests, strings.Join(parts, " "), r.Sent.Load()>>20)
}

func done(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// Forms opens conns HTTP/1.1 connections from src, each POSTing a form of
// size bytes to path and writing it until the hub stops reading, then
// again, until stop.
func Forms(t Target, src, path string, conns int, size int64, stop <-chan struct{}) *Result {
	res := &Result{}
	cfg := t.TLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for !done(stop) {
				if !formOnce(t.Addr, cfg, src, path, size, stop, res) {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	return res
}

func formOnce(addr string, cfg *tls.Config, src, path string, size int64, stop <-chan struct{}, res *Result) bool {
	c, err := tls.DialWithDialer(Dialer(src), "tcp", addr, cfg)
	if err != nil {
		return false
	}
	defer c.Close()
	go func() { // the answer comes while the body is still being written
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			res.answered(resp.StatusCode)
			resp.Body.Close()
		}
		c.Close()
	}()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: toyhub\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nSec-Fetch-Site: same-origin\r\n\r\n", path, size)
	chunk := bytes.Repeat([]byte("a"), 32<<10)
	copy(chunk, "login=Mum&password=")
	for sent := int64(0); sent < size && !done(stop); {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Write(chunk[:min(int64(len(chunk)), size-sent)])
		sent += int64(n)
		res.Sent.Add(int64(n))
		if err != nil {
			break
		}
	}
	return true
}

// Streams POSTs forms of size bytes to path from src over HTTP/2,
// streams at once (the client opens a connection for each 16, the most
// the hub allows on one), again until stop.
func Streams(t Target, src, path string, streams int, size int64, stop <-chan struct{}) *Result {
	res := &Result{}
	cfg := t.TLS.Clone()
	cfg.NextProtos = []string{"h2"}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true, DialContext: Dialer(src).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for range streams {
		wg.Go(func() {
			for !done(stop) {
				body := &counted{r: io.LimitReader(zeros{}, size), n: &res.Sent}
				req, _ := http.NewRequest("POST", "https://"+t.Addr+path, body)
				req.ContentLength = size
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				res.answered(resp.StatusCode)
			}
		})
	}
	wg.Wait()
	return res
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

type counted struct {
	r io.Reader
	n *atomic.Int64
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Multipart POSTs a multipart form of size bytes (a file part) to path
// from src, again until stop.
func Multipart(t Target, src, path string, size int64, stop <-chan struct{}) *Result {
	res := &Result{}
	cfg := t.TLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	tr := &http.Transport{TLSClientConfig: cfg, DialContext: Dialer(src).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	const boundary = "toyhubflood"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"x.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	for !done(stop) {
		body := io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, size), strings.NewReader(tail))
		req, _ := http.NewRequest("POST", "https://"+t.Addr+path, &counted{r: body, n: &res.Sent})
		req.ContentLength = int64(len(head)+len(tail)) + size
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := client.Do(req)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res.answered(resp.StatusCode)
	}
	return res
}

// A Guess is the form of a guess: the i-th from src.
type Guess func(i int, src string) (path string, form url.Values)

// WrongPassword guesses login's password.
func WrongPassword(login string) Guess {
	return func(i int, src string) (string, url.Values) {
		return "/login", url.Values{"login": {login}, "password": {fmt.Sprintf("wrong guess %d %s", i, src)}}
	}
}

// WrongInvite guesses an invite's secret.
func WrongInvite(i int, src string) (string, url.Values) {
	return "/join", url.Values{"secret": {fmt.Sprintf("not-an-invite-%d-%s", i, src)}}
}

// Guesses sends guess after guess from each of srcs, conc at once from
// each, until stop.
func Guesses(t Target, srcs []string, guess Guess, conc int, stop <-chan struct{}) *Result {
	res := &Result{}
	var wg sync.WaitGroup
	for _, src := range srcs {
		c := NewClient(t, src)
		defer c.Close()
		for range conc {
			wg.Go(func() {
				for i := 0; !done(stop); i++ {
					status, err := c.Post(guess(i, src))
					if err != nil {
						time.Sleep(50 * time.Millisecond)
						continue
					}
					res.answered(status)
				}
			})
		}
	}
	wg.Wait()
	return res
}

// Client is a browser on one machine: its own cookies, its own address.
type Client struct {
	base string
	c    *http.Client
	tr   *http.Transport
}

// NewClient makes a browser at src (HTTP/2 when the hub offers it).
func NewClient(t Target, src string) *Client {
	jar := &jar{}
	tr := &http.Transport{TLSClientConfig: t.TLS.Clone(), ForceAttemptHTTP2: true, DialContext: Dialer(src).DialContext, MaxConnsPerHost: 8}
	return &Client{base: "https://" + t.Addr, tr: tr, c: &http.Client{Jar: jar, Transport: tr, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Close closes the client's connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Post sends a form as the app's own pages do and returns the status.
func (c *Client) Post(path string, form url.Values) (int, error) {
	status, _, err := c.PostPage(path, form)
	return status, err
}

// PostPage is Post, with the page the hub answered.
func (c *Client) PostPage(path string, form url.Values) (int, string, error) {
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

// Login logs in and reports how long it took; an error unless the hub
// let the person in.
func (c *Client) Login(login, password string) (time.Duration, error) {
	t0 := time.Now()
	status, err := c.Post("/login", url.Values{"login": {login}, "password": {password}})
	d := time.Since(t0)
	if err == nil && status != http.StatusSeeOther {
		err = fmt.Errorf("login: %d", status)
	}
	return d, err
}

// jar keeps cookies whatever the host is called (the tests reach the
// hub by address).
type jar struct {
	mu sync.Mutex
	m  map[string]*http.Cookie
}

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil {
		j.m = map[string]*http.Cookie{}
	}
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.m, c.Name)
			continue
		}
		j.m[c.Name] = c
	}
}

func (j *jar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.m {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

// HTTP/2 settings (RFC 9113 §6.5.2).
const (
	SettingMaxConcurrentStreams = 0x3
	SettingInitialWindowSize    = 0x4
	SettingMaxFrameSize         = 0x5
	SettingMaxHeaderListSize    = 0x6
)

// Settings opens an HTTP/2 connection and returns the settings the hub
// announces in its first SETTINGS frame.
func Settings(ctx context.Context, t Target) (map[uint16]uint32, error) {
	cfg := t.TLS.Clone()
	cfg.NextProtos = []string{"h2"}
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	c := nc.(*tls.Conn)
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		return nil, fmt.Errorf("the hub chose %q, not h2", p)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// The client's preface, then an empty SETTINGS frame.
	if _, err := c.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	for {
		var h [9]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, err
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, err
		}
		if h[3] != 4 || h[4]&1 != 0 { // not SETTINGS, or its ACK
			continue
		}
		if n%6 != 0 {
			return nil, errors.New("a malformed SETTINGS frame")
		}
		out := map[uint16]uint32{}
		for i := 0; i < n; i += 6 {
			out[binary.BigEndian.Uint16(payload[i:])] = binary.BigEndian.Uint32(payload[i+2:])
		}
		return out, nil
	}
}

// Post sends one form from src over a connection of its own (HTTP/1.1),
// as a new machine would, and returns the status. A ClientSessionCache in
// the target's TLS config makes a flood of them cheap for the attacker.
func Post(t Target, src, path string, form url.Values) (int, error) {
	cfg := t.TLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.DialWithDialer(Dialer(src), "tcp", t.Addr, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	body := form.Encode()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: toyhub\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nSec-Fetch-Site: same-origin\r\nConnection: close\r\n\r\n%s", path, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
