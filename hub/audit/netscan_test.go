package audit

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toyhub/toyhub/hub/audit/auditfake"
)

func TestParseTargets(t *testing.T) {
	tests := []struct {
		targets []string
		n       int
		err     string
	}{
		{[]string{"192.168.1.0/24"}, 254, ""},
		{[]string{"10.1.2.3"}, 1, ""},
		{[]string{"127.0.0.1"}, 1, ""},
		{[]string{"172.16.0.0/22"}, 1022, ""},
		{[]string{"192.168.1.0/23", "192.168.4.0/23"}, 1020, ""},
		{[]string{"192.168.1.0/31"}, 2, ""},
		{[]string{"192.168.1.10", "192.168.1.10"}, 1, ""},
		{[]string{"8.8.8.8"}, 0, "never public"},
		{[]string{"172.15.255.1"}, 0, "never public"},
		{[]string{"192.168.0.0/21"}, 0, "at most a /22"},
		{[]string{"10.0.0.0/8"}, 0, "at most a /22"},
		{[]string{"192.168.0.0/23", "192.168.2.0/23", "192.168.4.0/23"}, 0, "at most 1024"},
		{[]string{"fd00::1"}, 0, "only IPv4"},
		{[]string{"router.lan"}, 0, "not an address"},
		{[]string{"192.168.1.0/33"}, 0, "not an address"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.targets, ","), func(t *testing.T) {
			got, err := ParseTargets(tt.targets)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(got) != tt.n {
				t.Fatalf("%d addresses, %v; want %d", len(got), err, tt.n)
			}
			for _, a := range got {
				if !a.IsPrivate() && !a.IsLoopback() {
					t.Fatalf("%s is public", a)
				}
			}
		})
	}
}

// scanFakes scans loopback where the fakes run, recording every address
// the scan sends to.
func scanFakes(t *testing.T, o auditfake.Options) ([]Finding, []netip.AddrPort) {
	t.Helper()
	o.Host = "127.0.0.1"
	svcs, err := auditfake.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svcs.Close)
	ports := map[string]int{}
	for _, name := range []string{"mongodb", "mqtt", "redis", "elasticsearch", "couchdb", "telnet", "upnp"} {
		ports[name] = svcs.Ports[name]
		if ports[name] == 0 {
			ports[name] = 1 // off: nothing listens on port 1 of loopback
		}
	}
	var (
		mu   sync.Mutex
		sent []netip.AddrPort
	)
	_, findings, err := Scan(context.Background(), ScanOptions{
		Targets: []string{"127.0.0.1"}, Ports: ports, Rate: 500, Timeout: time.Second,
		Self: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, HubPorts: []int{8883},
		Sent: func(ap netip.AddrPort) { mu.Lock(); sent = append(sent, ap); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	return findings, sent
}

func TestScanFindsExposedServices(t *testing.T) {
	findings, sent := scanFakes(t, auditfake.Options{Mappings: []auditfake.Mapping{
		{ExternalPort: 8883, InternalPort: 8883, InternalClient: "127.0.0.1", Description: "toyhub"},
		{ExternalPort: 8080, InternalPort: 80, InternalClient: "192.168.1.50", Description: "camera"},
	}})
	want := []struct {
		title string
		sev   Severity
	}{
		{"MongoDB answers without authentication", High},
		{"An MQTT broker accepts anyone", High},
		{"Redis answers without a password", High},
		{"Elasticsearch/OpenSearch answers without authentication", High},
		{"CouchDB is in \"admin party\" mode", High},
		{"Telnet is open", Medium},
		{"forwards a port from the Internet to this hub", High},
		{"forwards a port from the Internet to a device on your network", Medium},
	}
	for _, w := range want {
		i := slices.IndexFunc(findings, func(f Finding) bool { return strings.Contains(f.Title, w.title) })
		if i < 0 {
			t.Errorf("no finding %q in %+v", w.title, findings)
			continue
		}
		f := findings[i]
		if f.Severity != w.sev || f.Host != "127.0.0.1" || f.Port == 0 || f.Fix == "" || f.Seen == "" || f.Checked == "" {
			t.Errorf("finding %q: %+v", w.title, f)
		}
	}
	if len(findings) != len(want) {
		t.Errorf("%d findings, want %d: %+v", len(findings), len(want), findings)
	}
	for _, ap := range sent {
		if ap.Addr() != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("the scan sent to %s, outside its targets", ap)
		}
	}
	if len(sent) < 7 {
		t.Fatalf("only %d sends recorded", len(sent))
	}
}

func TestScanProtectedServices(t *testing.T) {
	findings, _ := scanFakes(t, auditfake.Options{Protected: true, Telnet: -1})
	want := map[string]Severity{
		"MongoDB listens on the network (with authentication)":                  Low,
		"An MQTT broker listens in plaintext":                                   Low,
		"Redis listens on the network (with a password)":                        Low,
		"Elasticsearch/OpenSearch listens on the network (with authentication)": Low,
	}
	for _, f := range findings {
		sev, ok := want[f.Title]
		if !ok || sev != f.Severity {
			t.Errorf("unexpected finding %+v", f)
		}
		delete(want, f.Title)
	}
	for title := range want {
		t.Errorf("missing %q", title)
	}
}

func TestScanNothing(t *testing.T) {
	off := auditfake.Options{Mongo: -1, MQTT: -1, Redis: -1, Elastic: -1, Couch: -1, Telnet: -1, SSDP: -1, IGD: -1}
	findings, _ := scanFakes(t, off)
	if len(findings) != 1 || findings[0].Severity != Info {
		t.Fatalf("findings %+v, want one Info", findings)
	}
}

// TestScanGuard: whatever asks, nothing is sent outside the targets.
func TestScanGuard(t *testing.T) {
	s := &scanner{targets: map[netip.Addr]bool{netip.MustParseAddr("192.168.1.10"): true}, tick: time.NewTicker(time.Millisecond)}
	defer s.tick.Stop()
	for _, ap := range []string{"192.168.1.11:80", "8.8.8.8:53", "239.255.255.250:1900", "127.0.0.1:27017"} {
		if _, err := s.dial(context.Background(), netip.MustParseAddrPort(ap)); !errors.Is(err, errNotTarget) {
			t.Errorf("dial %s: %v", ap, err)
		}
		if _, err := s.ssdp(context.Background(), netip.MustParseAddrPort(ap)); !errors.Is(err, errNotTarget) {
			t.Errorf("ssdp %s: %v", ap, err)
		}
	}
	if _, err := s.httpClient().Get("http://example.org/"); !errors.Is(err, errNotTarget) {
		t.Errorf("a name was looked up or fetched: %v", err)
	}
}

func TestParseHexAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0100007F:22B3", "127.0.0.1:8883"},
		{"00000000:20FB", "0.0.0.0:8443"},
		{"00000000000000000000000001000000:0050", "[::1]:80"},
		{"0000000000000000FFFF00000100007F:1F90", "127.0.0.1:8080"},
	}
	for _, tt := range tests {
		got, err := parseHexAddr(tt.in)
		if err != nil || got.String() != tt.want {
			t.Errorf("parseHexAddr(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0100007F", "XYZ:22", "0100007F:XYZ"} {
		if _, err := parseHexAddr(bad); err == nil {
			t.Errorf("parseHexAddr(%q) accepted", bad)
		}
	}
}

func TestBSON(t *testing.T) {
	d := bsonDoc(bsonElem{"hello", int32(1)}, bsonElem{"$db", "admin"}, bsonElem{"nameOnly", true})
	f, err := bsonFields(d)
	if err != nil || f["hello"] != float64(1) || f["$db"] != "admin" || f["nameOnly"] != true {
		t.Fatalf("%v %v", f, err)
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0}, d[:len(d)-1], append(d[:4:4], 0xff, 0)} {
		if _, err := bsonFields(bad); err == nil {
			t.Errorf("bad document % x accepted", bad)
		}
	}
}

// BenchmarkScanRate scans 62 loopback addresses (434 probes) with a limit
// of 500 probes a second: the probes/s metric must stay at or under it.
func BenchmarkScanRate(b *testing.B) {
	const limit = 500
	for b.Loop() {
		sum, _, err := Scan(context.Background(), ScanOptions{Targets: []string{"127.0.1.0/26"}, Rate: limit, Timeout: 200 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(sum.Probes)/sum.Took.Seconds(), "probes/s")
		b.ReportMetric(float64(sum.Probes)/sum.Took.Seconds()/limit, "×limit")
	}
}
