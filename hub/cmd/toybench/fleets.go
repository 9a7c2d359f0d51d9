package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

var logOut io.Writer = os.Stderr

// hubServer is a 'toyhub serve' process with its own data directory.
type hubServer struct {
	bin, data, addr, metrics string
	web                      string // the web app's address, or "" for none
	env                      []string
	process
}

// process is a server the harness started and waits on.
type process struct{ cmd *exec.Cmd }

// run starts cmd and waits until ready says it serves.
func (p *process) run(cmd *exec.Cmd, what string, ready func() bool) error {
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd = cmd
	for i := 0; !ready(); i++ {
		if i > 400 {
			p.stop()
			return fmt.Errorf("%s did not start", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return nil
}

func (p *process) stop() {
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
		p.cmd = nil
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func newHubServer(bin, dir, web string, env []string) (*hubServer, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &hubServer{bin: bin, data: filepath.Join(dir, "data"), addr: addr, metrics: metrics, web: web, env: env}
	return s, s.start()
}

func (s *hubServer) start() error {
	cmd := exec.Command(s.bin, "serve", "--data", s.data, "--mqtt-addr", s.addr, "--enroll-addr", "127.0.0.1:0",
		"--web-addr="+s.web, "--mdns=false", "--metrics-addr", s.metrics, "--log-level", "warn")
	cmd.Env = append(os.Environ(), s.env...)
	// The control socket answers once the broker's port is bound.
	return s.run(cmd, "the hub", func() bool { _, err := control.Status.Call(s.data, control.None{}); return err == nil })
}

// goroutines reads go_goroutines from the hub's loopback metrics.
func (s *hubServer) goroutines() int {
	return int(s.metric("go_goroutines"))
}

// metric reads one unlabelled metric from the hub, or -1.
func (s *hubServer) metric(name string) float64 {
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return -1
}

// enroll adds n toys named "toy <i>" and links 2k with 2k+1, par at a
// time, and returns their bundles.
func (s *hubServer) enroll(dir string, n int) ([]*certs.Bundle, error) {
	bundles := make([]*certs.Bundle, n)
	errs := make(chan error, n)
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			out := filepath.Join(dir, "toys", strconv.Itoa(i))
			if _, err := control.AddDeviceBundle(s.data, fmt.Sprintf("toy %d", i), "toy", out); err != nil {
				errs <- err
				return
			}
			b, err := certs.LoadBundle(out)
			if err != nil {
				errs <- err
				return
			}
			bundles[i] = b
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	for i := 0; i+1 < n; i += 2 {
		if _, err := control.Link.Call(s.data, control.LinkArgs{A: fmt.Sprintf("toy %d", i), B: fmt.Sprintf("toy %d", i+1)}); err != nil {
			return nil, fmt.Errorf("link: %w", err)
		}
	}
	return bundles, nil
}

// hubFleet is n toys on the hub, each the real device client.
type hubFleet struct {
	srv     *hubServer
	bundles []*certs.Bundle
	quiet   *slog.Logger

	mu      sync.Mutex
	clients map[int]*devices.Client
	done    chan struct{} // closed by hangUp: receivers stop
	waiting sync.Map      // wire.MessageID → chan struct{}, closed on receipt
}

func newHubFleet(bin, dir string, n int, env []string) (*hubFleet, error) {
	fmt.Fprintf(logOut, "hub: enrolling %d toys...\n", n)
	// Every simulated toy dials from 127.0.0.1, where real toys each have
	// an address of their own: the per-address share is lifted. The other
	// limits stay the hub's defaults.
	env = append([]string{"TOYHUB_LIMITS_CONNECTIONS_PER_SOURCE=100000"}, env...)
	srv, err := newHubServer(bin, dir, "", env)
	if err != nil {
		return nil, err
	}
	b, err := srv.enroll(dir, n)
	if err != nil {
		srv.stop()
		return nil, err
	}
	return &hubFleet{srv: srv, bundles: b, quiet: slog.New(slog.DiscardHandler),
		clients: map[int]*devices.Client{}, done: make(chan struct{})}, nil
}

func (f *hubFleet) label() string              { return "hub" }
func (f *hubFleet) pid() int                   { return f.srv.pid() }
func (f *hubFleet) goroutines() int            { return f.srv.goroutines() }
func (f *hubFleet) metric(name string) float64 { return f.srv.metric(name) }

// memory is where the hub's memory is: the Go heap in use, what the heap
// keeps free without handing it back, stacks, the runtime's own tables,
// and the anonymous memory outside Go's (mostly SQLite's).
func (f *hubFleet) memory() string {
	m := func(name string) float64 { return f.srv.metric("go_memstats_"+name+"_bytes") / (1 << 20) }
	out := fmt.Sprintf("Go heap in use %.1f MB (allocated %.1f), kept free %.1f, stacks %.1f, runtime tables %.1f",
		m("heap_inuse"), m("heap_alloc"), m("heap_idle")-m("heap_released"), m("stack_inuse"),
		m("mspan_inuse")+m("mcache_inuse")+m("gc_sys")+m("other_sys")+m("buck_hash_sys"))
	if anon, err := procStatus(f.pid(), "RssAnon:"); err == nil {
		out += fmt.Sprintf(", outside Go %.1f", anon-(m("sys")-m("heap_released")))
	}
	return out + fmt.Sprintf(" MB; heap objects %.0f", f.srv.metric("go_memstats_heap_objects"))
}
func (f *hubFleet) restart() error { f.srv.stop(); return f.srv.start() }
func (f *hubFleet) close()         { f.hangUp(); f.srv.stop() }
func partner(i int) int            { return i ^ 1 }
func (f *hubFleet) client(i int) *devices.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clients[i]
}

func (f *hubFleet) dial(ctx context.Context, i int) error {
	c, err := devices.Dial(ctx, f.bundles[i], devices.Options{Logger: f.quiet, Hubs: []string{f.srv.addr}})
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.clients[i] = c
	done := f.done
	f.mu.Unlock()
	// The toy's receiver: fetch each message it is told of, report it
	// played, and wake the sender's wait.
	go func() {
		for {
			select {
			case n := <-c.Notifications():
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := c.Fetch(ctx, n)
				if err == nil {
					if ch, ok := f.waiting.LoadAndDelete(n.ID); ok {
						close(ch.(chan struct{}))
					}
					err = c.Played(ctx, n.ID)
				}
				cancel()
				select {
				case <-done: // hung up mid-receipt: not the hub's fault
					return
				default:
				}
				if err != nil {
					fmt.Fprintf(logOut, "hub: toy %d: receive: %v\n", i, err)
				}
			case <-c.Lost():
				return
			case <-done:
				return
			}
		}
	}()
	return nil
}

func (f *hubFleet) hangUp() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.done)
	for _, c := range f.clients {
		c.Close()
	}
	f.clients = map[int]*devices.Client{}
	f.done = make(chan struct{})
}

func (f *hubFleet) send(ctx context.Context, i int, wav []byte) error {
	c := f.client(i)
	if c == nil {
		return errors.New("not connected")
	}
	id := wire.NewMessageID()
	got := make(chan struct{})
	f.waiting.Store(id, got)
	defer f.waiting.Delete(id)
	if err := c.Send(ctx, id, wav, nil); err != nil {
		return err
	}
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		return errNoDelivery
	}
}

// mosqServer is a relay with the hub's mutual TLS: ECDSA P-256, client
// certificates from a CA of its own required, TLS 1.2 or later. It is
// Mosquitto, or (kind "mochi") a bare mochi broker (see serveMochi).
type mosqServer struct {
	kind                 string
	bin, dir, conf, addr string
	ca                   *certs.CA
	process
}

func newMosqServer(kind, bin, dir string) (*mosqServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	ca, _, err := certs.NewCA(now)
	if err != nil {
		return nil, err
	}
	_, srv, srvKey, err := ca.IssueServer([]string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, 24*time.Hour, now)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"ca.pem": ca.PEM, "server.pem": srv.PEM, "server.key": srvKey}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf(`listener %s %s
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
persistence false
set_tcp_nodelay true
log_dest none
`, port, host, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if os.Geteuid() == 0 {
		// Started as root, Mosquitto drops to its own user, which cannot
		// read the 0600 key in this 0700 directory.
		conf += "user root\n"
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s := &mosqServer{kind: kind, bin: bin, dir: dir, conf: confPath, addr: addr, ca: ca}
	return s, s.start()
}

func (s *mosqServer) start() error {
	// Go raised its own open-file limit, but gives children the original
	// (often 1024): too few for a thousand toys.
	cmd := exec.Command("sh", "-c", `ulimit -n 65536 2>/dev/null || ulimit -n 4096; exec "$0" -c "$1"`, s.bin, s.conf)
	if s.kind == "mochi" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd = exec.Command("sh", "-c", `ulimit -n 65536 2>/dev/null || ulimit -n 4096; exec "$0" "$@"`, self, serveMochiFlag, s.dir, s.addr)
	}
	return s.run(cmd, s.kind, func() bool {
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// tlsFor issues a client certificate for id.
func (s *mosqServer) tlsFor(id string) (*tls.Config, error) {
	key, err := certs.NewKey()
	if err != nil {
		return nil, err
	}
	iss, err := s.ca.IssueClient(&key.PublicKey, id, 24*time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	return certs.ClientTLS(s.ca.Pool(), tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key, Leaf: iss.Cert}, ""), nil
}

func (s *mosqServer) connect(ctx context.Context, id string, tc *tls.Config, onMsg paho.MessageHandler) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("tls://" + s.addr).SetClientID(id).SetTLSConfig(tc).
		SetAutoReconnect(false).SetCleanSession(true).SetKeepAlive(30 * time.Second).
		SetConnectTimeout(10 * time.Second).SetDefaultPublishHandler(onMsg)
	c := paho.NewClient(o)
	if err := pahoWait(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("connect %s: %w", id, err)
	}
	return c, nil
}

func pahoWait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mosqFleet is n toys on Mosquitto: toy i subscribes to toy/<i>, and a
// message is its 32-character ID followed by the recording, at QoS 1.
type mosqFleet struct {
	srv     *mosqServer
	tls     []*tls.Config
	mu      sync.Mutex
	clients map[int]paho.Client
	waiting sync.Map // message ID → chan struct{}
}

func newMosqFleet(kind, bin, dir string, n int) (*mosqFleet, error) {
	srv, err := newMosqServer(kind, bin, dir)
	if err != nil {
		return nil, err
	}
	f := &mosqFleet{srv: srv, clients: map[int]paho.Client{}}
	for i := range n {
		tc, err := srv.tlsFor(fmt.Sprintf("toy-%d", i))
		if err != nil {
			srv.stop()
			return nil, err
		}
		f.tls = append(f.tls, tc)
	}
	return f, nil
}

func (f *mosqFleet) label() string   { return f.srv.kind }
func (f *mosqFleet) pid() int        { return f.srv.pid() }
func (f *mosqFleet) goroutines() int { return -1 }
func (f *mosqFleet) restart() error  { f.srv.stop(); return f.srv.start() }
func (f *mosqFleet) close()          { f.hangUp(); f.srv.stop() }

func (f *mosqFleet) dial(ctx context.Context, i int) error {
	c, err := f.srv.connect(ctx, fmt.Sprintf("toy-%d", i), f.tls[i], nil)
	if err != nil {
		return err
	}
	err = pahoWait(ctx, c.Subscribe(fmt.Sprintf("toy/%d", i), 1, func(_ paho.Client, m paho.Message) {
		if p := m.Payload(); len(p) >= 32 {
			if ch, ok := f.waiting.LoadAndDelete(string(p[:32])); ok {
				close(ch.(chan struct{}))
			}
		}
	}))
	if err != nil {
		c.Disconnect(0)
		return fmt.Errorf("subscribe: %w", err)
	}
	f.mu.Lock()
	f.clients[i] = c
	f.mu.Unlock()
	return nil
}

func (f *mosqFleet) hangUp() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.clients {
		c.Disconnect(0)
	}
	f.clients = map[int]paho.Client{}
}

func (f *mosqFleet) send(ctx context.Context, i int, wav []byte) error {
	f.mu.Lock()
	c := f.clients[i]
	f.mu.Unlock()
	if c == nil {
		return errors.New("not connected")
	}
	var raw [16]byte
	id := wire.NewMessageID()
	copy(raw[:], id[:])
	key := hex.EncodeToString(raw[:])
	got := make(chan struct{})
	f.waiting.Store(key, got)
	defer f.waiting.Delete(key)
	if err := pahoWait(ctx, c.Publish(fmt.Sprintf("toy/%d", partner(i)), 1, false, append([]byte(key), wav...))); err != nil {
		return err
	}
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		return errNoDelivery
	}
}

// procRSS reads a process's resident memory now, in MB.
func procRSS(pid int) (float64, error) {
	return procStatus(pid, "VmRSS:")
}

// procStatus reads one kB figure of /proc/PID/status, in MB.
func procStatus(pid int, field string) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no " + field + " in /proc/PID/status")
}
