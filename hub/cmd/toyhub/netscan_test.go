package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/audit/auditfake"
)

const fakeServicesEnv = "TOYHUB_TEST_FAKE_SERVICES"

// fakeServices runs in network namespace B as a helper process: every
// fake exposed service on its real port, and a packet counter on the
// namespace's LAN interface that records the destination of every IPv4
// packet arriving there. It prints "ready", and on SIGTERM writes the
// counts as JSON to the file in FAKE_CAPTURE_OUT.
func fakeServices() int {
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	hubIP := os.Getenv("FAKE_HUB_IP")
	counts := map[string]int{}
	fd, err := packetSocket("lan0")
	if err != nil {
		return fail(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if n >= 34 && buf[12] == 0x08 && buf[13] == 0x00 { // IPv4
				counts[net.IP(buf[30:34]).String()]++
			}
		}
	}()
	svcs, err := auditfake.Start(auditfake.Options{Mongo: 27017, MQTT: 1883, Redis: 6379, Elastic: 9200, Couch: 5984, Telnet: 23,
		SSDP: 1900, IGD: 5000, LocationHost: os.Getenv("FAKE_HOST_IP"), Mappings: []auditfake.Mapping{
			{ExternalPort: 8883, InternalPort: 8883, InternalClient: hubIP, Description: "toyhub"},
			{ExternalPort: 8554, InternalPort: 554, InternalClient: "10.0.0.99", Description: "camera"},
		}})
	if err != nil {
		return fail(err)
	}
	defer svcs.Close()
	fmt.Println("ready")
	<-done
	b, _ := json.Marshal(counts)
	if err := os.WriteFile(os.Getenv("FAKE_CAPTURE_OUT"), b, 0o600); err != nil {
		return fail(err)
	}
	return 0
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens a raw socket that sees every packet on an interface,
// both ways, with reads that time out every 100 ms.
func packetSocket(ifname string) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, err
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000})
}

// TestNetworkScan: 'toyhub audit --network' run by a hub in one namespace
// against a home "LAN" namespace full of exposed fakes finds each of
// them, and sends not one IPv4 packet to the LAN's other address, which
// was not a target.
func TestNetworkScan(t *testing.T) {
	n := newNetns(t)
	other := n.subnet + ".3" // on the LAN, not a target
	ipCmd(t, "-n", n.b, "addr", "add", other+"/24", "dev", "lan0")
	dir := t.TempDir()
	capture := filepath.Join(dir, "capture.json")

	helper := exec.Command("ip", "netns", "exec", n.b, os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), fakeServicesEnv+"=1", "FAKE_HUB_IP="+n.hubIP, "FAKE_HOST_IP="+n.toyIP, "FAKE_CAPTURE_OUT="+capture)
	out, _ := helper.StdoutPipe()
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("fake services: %q", line)
	}

	data := filepath.Join(dir, "data")
	_, logs := n.startHub(t, data, "--mdns=false", "--web-addr", n.hubIP+":8443")

	// Refused before anything is sent: public, too large, no --network.
	for _, bad := range [][]string{{"--network", "--target", "8.8.8.8"}, {"--network", "--target", n.subnet + ".0/21"}, {"--target", n.toyIP}} {
		if r := runBin(t, "toyhub", append([]string{"audit", "--data", data}, bad...)...); r.code != exitUsage {
			t.Fatalf("audit %v: exit %d %q", bad, r.code, r.stderr)
		}
	}

	r := runBin(t, "toyhub", "audit", "--data", data, "--network", "--target", n.toyIP, "--json")
	if r.code != exitError { // high-severity findings
		t.Fatalf("audit: exit %d\n%s\n%s", r.code, r.stderr, logs.String())
	}
	var rep audit.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, r.stdout)
	}
	want := []struct {
		port  int
		title string
		sev   audit.Severity
	}{
		{27017, "MongoDB answers without authentication", audit.High},
		{1883, "MQTT broker accepts anyone", audit.High},
		{6379, "Redis answers without a password", audit.High},
		{9200, "Elasticsearch/OpenSearch answers without authentication", audit.High},
		{5984, "admin party", audit.High},
		{23, "Telnet is open", audit.Medium},
		{1900, "to this hub", audit.High},
		{1900, "to a device on your network", audit.Medium},
	}
	for _, w := range want {
		i := slices.IndexFunc(rep.Findings, func(f audit.Finding) bool {
			return f.Check == "network" && f.Host == n.toyIP && f.Port == w.port && strings.Contains(f.Title, w.title)
		})
		if i < 0 {
			t.Errorf("no finding %q on %s:%d", w.title, n.toyIP, w.port)
		} else if rep.Findings[i].Severity != w.sev || rep.Findings[i].Fix == "" {
			t.Errorf("finding %+v", rep.Findings[i])
		}
	}
	if rep.Network == nil || rep.Network.Addresses != 1 || rep.Network.Probes < 7 {
		t.Fatalf("scan summary %+v", rep.Network)
	}
	// The text report names each finding's host and port.
	lr := runBin(t, "toyhub", "audit", "--data", data, "--latest")
	if lr.code != exitError || !strings.Contains(lr.stdout, "["+n.toyIP+":27017]") || !strings.Contains(lr.stdout, "fix:") {
		t.Fatalf("text report: exit %d\n%s", lr.code, lr.stdout)
	}

	helper.Process.Signal(syscall.SIGTERM)
	helper.Wait()
	b, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]int
	json.Unmarshal(b, &counts)
	if counts[n.toyIP] == 0 {
		t.Fatalf("the capture saw nothing reach the target: %v", counts)
	}
	for dst, c := range counts {
		if dst != n.toyIP {
			t.Errorf("%d IPv4 packets went to %s, which was not a target", c, dst)
		}
	}
}
