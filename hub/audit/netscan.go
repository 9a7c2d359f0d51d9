package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// ScanOptions bound the home network scan. Its limits are not options
// but rules: private addresses only, at most a /22 in all, rate-limited,
// time-bounded, and nothing sent to any address outside the targets.
type ScanOptions struct {
	// Targets are addresses or CIDR prefixes. Empty: the subnets of the
	// hub's own LAN interfaces (Subnets).
	Targets []string
	// Subnets lists the hub's LAN subnets; the default reads the
	// machine's interfaces.
	Subnets func() ([]netip.Prefix, error)
	// Ports replaces a service's port, for tests that run fake services
	// on loopback.
	Ports map[string]int
	// Rate is the most new connections per second (default 50).
	Rate int
	// Timeout bounds each connection (default 1 s); MaxTime the whole
	// scan (default 3 minutes).
	Timeout time.Duration
	MaxTime time.Duration
	// Self and HubPorts say which forwarded ports would expose the hub.
	Self     []netip.Addr
	HubPorts []int
	// Remote is remote access's port while it is on: the one forward to
	// the hub that is meant to be there.
	Remote int
	// Sent, if set, is told every address the scan sends to (tests).
	Sent func(netip.AddrPort)
}

// NetworkScan summarises a scan.
type NetworkScan struct {
	Targets   []string      `json:"targets"`
	Addresses int           `json:"addresses"`
	Probes    int           `json:"probes"`
	Took      time.Duration `json:"took_ns"`
	Stopped   string        `json:"stopped,omitempty"` // why it ended early, if it did
}

// MaxAddresses is the most a scan covers: a /22.
const MaxAddresses = 1024

// services are the exposures that caused breaches like CloudPets'. UPnP
// is asked on UDP (SSDP), the others on TCP.
var services = []struct {
	name  string
	port  int
	probe func(ctx context.Context, s *scanner, ap netip.AddrPort) []Finding
}{
	{"mongodb", 27017, one(probeMongo)},
	{"mqtt", 1883, one(probeMQTT)},
	{"redis", 6379, one(probeRedis)},
	{"elasticsearch", 9200, one(probeElastic)},
	{"couchdb", 5984, one(probeCouch)},
	{"telnet", 23, one(probeTelnet)},
	{"upnp", 1900, probeUPnP},
}

// one adapts a probe that finds at most one thing.
func one(p func(context.Context, *scanner, netip.AddrPort) *Finding) func(context.Context, *scanner, netip.AddrPort) []Finding {
	return func(ctx context.Context, s *scanner, ap netip.AddrPort) []Finding {
		if f := p(ctx, s, ap); f != nil {
			return []Finding{*f}
		}
		return nil
	}
}

// ParseTargets expands targets into addresses, enforcing the rules:
// private or loopback addresses only (IPv4), and MaxAddresses in all.
func ParseTargets(targets []string) ([]netip.Addr, error) {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, t := range targets {
		var p netip.Prefix
		if strings.Contains(t, "/") {
			var err error
			if p, err = netip.ParsePrefix(t); err != nil {
				return nil, fmt.Errorf("target %q: not an address or a prefix such as 192.168.1.0/24", t)
			}
		} else {
			a, err := netip.ParseAddr(t)
			if err != nil {
				return nil, fmt.Errorf("target %q: not an address or a prefix such as 192.168.1.0/24", t)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("target %q: only IPv4 addresses are scanned", t)
		}
		if p.Bits() < 22 {
			return nil, fmt.Errorf("target %q: at most a /22 (1,024 addresses) is scanned", t)
		}
		last := lastAddr(p)
		if !allowed(p.Addr()) || !allowed(last) {
			return nil, fmt.Errorf("target %q: only private (10/8, 172.16/12, 192.168/16) or loopback addresses are scanned, never public ones", t)
		}
		for a := p.Addr(); p.Contains(a); a = a.Next() {
			if p.Bits() < 31 && (a == p.Addr() || a == last) {
				continue // network and broadcast addresses
			}
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
		if len(out) > MaxAddresses {
			return nil, fmt.Errorf("targets: %d addresses; at most %d (a /22) are scanned", len(out), MaxAddresses)
		}
	}
	return out, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func allowed(a netip.Addr) bool { return a.Is4() && (a.IsPrivate() || a.IsLoopback()) }

// LANSubnets are the private IPv4 subnets of this machine's interfaces
// that are up, each cut to the /22 around the machine's own address.
func LANSubnets() ([]netip.Prefix, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok || !ip.Unmap().Is4() || !ip.Unmap().IsPrivate() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			out = append(out, netip.PrefixFrom(ip.Unmap(), max(ones, 22)).Masked())
		}
	}
	return out, nil
}

type scanner struct {
	opt     ScanOptions
	targets map[netip.Addr]bool
	tick    *time.Ticker
	mu      sync.Mutex
	probes  int
}

// wait takes a slot of the rate limit.
func (s *scanner) wait(ctx context.Context) error {
	select {
	case <-s.tick.C:
		s.mu.Lock()
		s.probes++
		s.mu.Unlock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errNotTarget = errors.New("audit: refusing to send outside the scan's targets")

// guard is the one place every packet of the scan passes: an address
// outside the targets is refused, whatever asked for it.
func (s *scanner) guard(ap netip.AddrPort) error {
	if !s.targets[ap.Addr().Unmap()] {
		return fmt.Errorf("%w: %s", errNotTarget, ap)
	}
	if s.opt.Sent != nil {
		s.opt.Sent(ap)
	}
	return nil
}

func (s *scanner) dial(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
	if err := s.guard(ap); err != nil {
		return nil, err
	}
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	c, err := (&net.Dialer{Timeout: s.opt.Timeout}).DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(s.opt.Timeout * 3))
	return c, nil
}

// httpClient only ever connects to the scan's targets.
func (s *scanner) httpClient() *http.Client {
	return &http.Client{
		Timeout: s.opt.Timeout * 3,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			Proxy:             nil, // never through a proxy, which would be another address
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				ap, err := netip.ParseAddrPort(addr)
				if err != nil {
					return nil, fmt.Errorf("%w: %s is not an address", errNotTarget, addr) // no name lookups
				}
				return s.dial(ctx, ap)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *scanner) port(name string, def int) int {
	if p, ok := s.opt.Ports[name]; ok {
		return p
	}
	return def
}

// Scan looks for exposed services on the home network.
func Scan(ctx context.Context, opt ScanOptions) (NetworkScan, []Finding, error) {
	if opt.Rate <= 0 {
		opt.Rate = 50
	}
	if opt.Timeout <= 0 {
		opt.Timeout = time.Second
	}
	if opt.MaxTime <= 0 {
		opt.MaxTime = 3 * time.Minute
	}
	if opt.Subnets == nil {
		opt.Subnets = LANSubnets
	}
	targets := opt.Targets
	if len(targets) == 0 {
		subnets, err := opt.Subnets()
		if err != nil {
			return NetworkScan{}, nil, fmt.Errorf("audit: LAN subnets: %w", err)
		}
		for _, p := range subnets {
			targets = append(targets, p.String())
		}
		if len(targets) == 0 {
			return NetworkScan{}, nil, errors.New("audit: no private LAN subnet to scan; give targets explicitly")
		}
	}
	addrs, err := ParseTargets(targets)
	if err != nil {
		return NetworkScan{}, nil, err
	}
	start := time.Now()
	sum := NetworkScan{Targets: targets, Addresses: len(addrs)}
	s := &scanner{opt: opt, targets: map[netip.Addr]bool{}, tick: time.NewTicker(time.Second / time.Duration(opt.Rate))}
	defer s.tick.Stop()
	for _, a := range addrs {
		s.targets[a] = true
	}
	ctx, cancel := context.WithTimeout(ctx, opt.MaxTime)
	defer cancel()

	var (
		mu       sync.Mutex
		findings []Finding
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 32)
	)
probing:
	for _, a := range addrs {
		for _, svc := range services {
			ap := netip.AddrPortFrom(a, uint16(s.port(svc.name, svc.port)))
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break probing
			}
			wg.Go(func() {
				defer func() { <-sem }()
				if fs := svc.probe(ctx, s, ap); len(fs) > 0 {
					mu.Lock()
					findings = append(findings, fs...)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		sum.Stopped = fmt.Sprintf("the scan's time bound (%v) was reached; some addresses were not checked", opt.MaxTime)
	}
	sum.Probes, sum.Took = s.probes, time.Since(start)
	slices.SortFunc(findings, func(a, b Finding) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
	if len(findings) == 0 {
		findings = append(findings, Finding{Check: "network", Severity: Info, Title: "No exposed service found on the home network",
			Checked: fmt.Sprintf("%d addresses for MongoDB, MQTT, Redis, Elasticsearch, CouchDB, Telnet and UPnP port forwards", len(addrs)),
			Seen:    "nothing that answers without authentication"})
	}
	return sum, findings, nil
}

func finding(sev Severity, ap netip.AddrPort, title, checked, seen, fix string) *Finding {
	return &Finding{Check: "network", Severity: sev, Title: title, Checked: checked, Seen: seen, Fix: fix, Host: ap.Addr().String(), Port: int(ap.Port())}
}

const fixDatabase = "Find the device at that address (your router's list of devices shows its name). Turn on authentication in that service, or bind it to 127.0.0.1, or switch it off. An unauthenticated database on a network is how the CloudPets recordings were stolen."

func probeMQTT(ctx context.Context, s *scanner, ap netip.AddrPort) *Finding {
	c, err := s.dial(ctx, ap)
	if err != nil {
		return nil
	}
	defer c.Close()
	ok, err := mqttConnect(c, "toyhub-audit", s.opt.Timeout)
	if err != nil {
		return nil
	}
	if ok {
		return finding(High, ap, "An MQTT broker accepts anyone, in plaintext", "an anonymous MQTT CONNECT", "CONNACK 0: accepted with no name, password or certificate",
			"Find the device at that address. Configure its broker to require passwords and TLS (mosquitto: allow_anonymous false, a listener with certfile), or switch it off. Anyone on the network can read and send its messages.")
	}
	return finding(Low, ap, "An MQTT broker listens in plaintext", "an anonymous MQTT CONNECT", "refused, but passwords sent to it travel in clear",
		"Configure the broker to use TLS, or switch it off if nothing needs it.")
}

func probeRedis(ctx context.Context, s *scanner, ap netip.AddrPort) *Finding {
	c, err := s.dial(ctx, ap)
	if err != nil {
		return nil
	}
	defer c.Close()
	fmt.Fprint(c, "PING\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return nil
	}
	line = strings.TrimSpace(line)
	switch {
	case line == "+PONG":
		return finding(High, ap, "Redis answers without a password", "a Redis PING with no AUTH", "+PONG", fixDatabase)
	case strings.HasPrefix(line, "-NOAUTH"), strings.HasPrefix(line, "-ERR"):
		return finding(Low, ap, "Redis listens on the network (with a password)", "a Redis PING with no AUTH", line,
			"If nothing on other machines needs it, bind Redis to 127.0.0.1.")
	}
	return nil
}

func probeTelnet(ctx context.Context, s *scanner, ap netip.AddrPort) *Finding {
	c, err := s.dial(ctx, ap)
	if err != nil {
		return nil
	}
	c.Close()
	return finding(Medium, ap, "Telnet is open", "a TCP connection to the Telnet port", "the port accepts connections",
		"Switch Telnet off on that device (often a router, camera or old printer); Telnet sends passwords in clear and is a favourite of botnets. Use SSH if you need remote access.")
}

func (s *scanner) get(ctx context.Context, ap netip.AddrPort, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ap.String()+path, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	return resp, b, nil
}

func probeElastic(ctx context.Context, s *scanner, ap netip.AddrPort) *Finding {
	resp, body, err := s.get(ctx, ap, "/")
	if err != nil {
		return nil
	}
	var info struct {
		ClusterName string `json:"cluster_name"`
		Tagline     string `json:"tagline"`
		Version     struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	switch {
	case resp.StatusCode == http.StatusOK && json.Unmarshal(body, &info) == nil && (info.ClusterName != "" || info.Tagline != ""):
		return finding(High, ap, "Elasticsearch/OpenSearch answers without authentication", "GET / with no credentials",
			"HTTP 200 with the cluster's details (version "+info.Version.Number+")", fixDatabase)
	case resp.StatusCode == http.StatusUnauthorized:
		return finding(Low, ap, "Elasticsearch/OpenSearch listens on the network (with authentication)", "GET / with no credentials", "HTTP 401",
			"If nothing on other machines needs it, bind it to 127.0.0.1.")
	}
	return nil
}

func probeCouch(ctx context.Context, s *scanner, ap netip.AddrPort) *Finding {
	resp, body, err := s.get(ctx, ap, "/_session")
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	var ses struct {
		OK      bool `json:"ok"`
		UserCtx struct {
			Roles []string `json:"roles"`
		} `json:"userCtx"`
	}
	if json.Unmarshal(body, &ses) != nil || !ses.OK {
		return nil
	}
	if slices.Contains(ses.UserCtx.Roles, "_admin") {
		return finding(High, ap, "CouchDB is in \"admin party\" mode: anyone is its administrator", "GET /_session with no credentials",
			"an anonymous session with the _admin role", "Create an administrator in CouchDB (Fauxton › Admin Party › create admin), which ends admin party. "+fixDatabase)
	}
	if resp, _, err := s.get(ctx, ap, "/_all_dbs"); err == nil && resp.StatusCode == http.StatusOK {
		return finding(Medium, ap, "CouchDB lists its databases to anyone", "GET /_all_dbs with no credentials", "HTTP 200",
			"Set require_valid_user = true in CouchDB's [chttpd] section.")
	}
	return nil
}
