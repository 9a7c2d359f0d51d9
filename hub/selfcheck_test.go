package hub_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/hub/internal/pageout"
)

// check runs the security self-check on the hub, as 'toyhub audit' does.
func (th *testHub) check(t *testing.T) audit.Report {
	t.Helper()
	var res control.AuditResult
	if err := call(th.cfg.DataDir, control.CheckRun, control.AuditArgs{}, &res); err != nil {
		t.Fatal(err)
	}
	return res.Report
}

// finding returns the worst finding of a check.
func finding(rep audit.Report, check string) (audit.Finding, bool) {
	var worst audit.Finding
	found := false
	for _, f := range rep.Findings {
		if f.Check == check && (!found || f.Severity > worst.Severity) {
			worst, found = f, true
		}
	}
	return worst, found
}

// TestSelfCheck: on a healthy hub every check passes (but for the owner's
// missing second factor); then each thing is broken in turn, for real,
// and its check says so, and passes again once it is mended.
func TestSelfCheck(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr, c.HTTPRedirectAddr = "127.0.0.1:0", "127.0.0.1:0" })
	th.setupOwner(t)
	th.device("Teddy Fitzgerald", "toy")

	rep := th.check(t)
	for _, c := range []string{"exposure.listeners", "exposure.mqtt-auth", "exposure.plaintext", "exposure.tls", "exposure.web-routes",
		"exposure.debug", "rest.permissions", "rest.web-roots", "rest.backups", "rest.plaintext", "identity.certificates",
		"identity.devices", "identity.invites", "identity.ca-key", "identity.attacks"} {
		f, ok := finding(rep, c)
		if !ok || f.Severity != audit.Info {
			t.Errorf("healthy hub, %s: %+v", c, f)
		}
	}
	if f, _ := finding(rep, "identity.accounts"); f.Severity != audit.Medium || !strings.Contains(f.Title, "second factor") {
		t.Errorf("the owner has no second factor: %+v", f)
	}
	if f, _ := finding(rep, "exposure.plaintext"); rep.Worst() >= audit.High {
		t.Fatalf("healthy hub has a high finding: %+v", f)
	}
	// The probe device is gone again.
	var devs []control.DeviceView
	if err := call(th.cfg.DataDir, control.DeviceList, control.None{}, &devs); err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if strings.HasPrefix(d.Name, "security check") {
			t.Fatalf("the probe device was left behind: %+v", d)
		}
	}

	data := th.cfg.DataDir
	breaks := []struct {
		check, says string
		sev         audit.Severity
		brk, mend   func()
	}{
		{"rest.permissions", "read by other users", audit.High,
			func() { os.Chmod(filepath.Join(data, "hub.db"), 0o644) }, func() { os.Chmod(filepath.Join(data, "hub.db"), 0o600) }},
		{"identity.ca-key", "CA's key can be read", audit.High,
			func() { os.Chmod(filepath.Join(data, "keys", "ca.key"), 0o640) }, func() { os.Chmod(filepath.Join(data, "keys", "ca.key"), 0o600) }},
		{"rest.backups", "master key lies in clear", audit.High,
			func() {
				b, _ := os.ReadFile(filepath.Join(data, "keys", "master.key"))
				os.WriteFile(filepath.Join(data, "my-backup.txt"), b, 0o600)
			}, func() { os.Remove(filepath.Join(data, "my-backup.txt")) }},
		{"identity.invites", "still open", audit.Low,
			func() {
				if err := call(data, control.InviteCreate, control.InviteArgs{Name: "Grandma Rosalind", Toys: []string{"Teddy Fitzgerald"}}, nil); err != nil {
					t.Fatal(err)
				}
			}, func() {
				var invs []control.InviteView
				call(data, control.InviteList, control.None{}, &invs)
				for _, i := range invs {
					call(data, control.InviteRevoke, control.IDArgs{ID: i.ID}, nil)
				}
			}},
		{"identity.attacks", "trying to break in", audit.Medium,
			func() {
				for range 25 { // TLS connections without a certificate, as a scanner makes
					c, err := tls.Dial("tcp", th.h.MQTTAddr(), &tls.Config{InsecureSkipVerify: true})
					if err == nil {
						c.Write([]byte{0x10, 0})
						c.Read(make([]byte, 1))
						c.Close()
					}
				}
			}, nil},
	}
	var extra net.Listener
	breaks = append(breaks, struct {
		check, says string
		sev         audit.Severity
		brk, mend   func()
	}{"exposure.listeners", "does not expect", audit.High,
		func() { extra, _ = net.Listen("tcp", "127.0.0.1:0") }, func() { extra.Close() }})
	for _, b := range breaks {
		t.Run(b.check, func(t *testing.T) {
			b.brk()
			f, _ := finding(th.check(t), b.check)
			if f.Severity != b.sev || !strings.Contains(f.Title, b.says) || f.Fix == "" {
				t.Fatalf("broken: %+v", f)
			}
			if b.mend == nil {
				return
			}
			b.mend()
			if f, _ := finding(th.check(t), b.check); f.Severity != audit.Info {
				t.Fatalf("mended: %+v", f)
			}
		})
	}

	// The history keeps every run; the web app shows the newest, by name.
	var latest control.AuditResult
	if err := call(data, control.CheckLatest, control.None{}, &latest); err != nil || latest.Report.Trigger != "manual" {
		t.Fatalf("latest: %+v %v", latest.Report.At, err)
	}
}

// TestSelfCheckSchedule: the hub checks itself after a change and daily,
// on its own, and the web app's security page shows the result.
func TestSelfCheckSchedule(t *testing.T) {
	th := startHub(t, func(c *hub.Config) {
		c.WebAddr = "127.0.0.1:0"
		c.AuditEvery, c.AuditStartDelay, c.AuditAfterChange = time.Hour, 50*time.Millisecond, 300*time.Millisecond
	})
	// A check takes a second or two here, and many more when the whole
	// suite loads both cores: wait for its report as long as a check may
	// take, which ends the moment it is there.
	wait := func(trigger string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			var latest control.AuditResult
			if call(th.cfg.DataDir, control.CheckLatest, control.None{}, &latest) == nil && latest.Report.Trigger == trigger {
				return
			}
		}
		t.Fatalf("no %s check ran", trigger)
	}
	wait("daily") // the first, soon after start
	mum := th.setupOwner(t)
	th.device("Teddy Fitzgerald", "toy") // a change
	wait("change")

	code, body := mum.get("/security")
	if code != 200 || !strings.Contains(body, "to look at") || !strings.Contains(body, "no second factor") || !strings.Contains(body, "after a change</td>") {
		t.Fatalf("security page: %d\n%s", code, body)
	}
	// A parent starts one from the page; it runs in the background.
	code, _ = mum.post("/security/run", url.Values{"network": {"0"}})
	if code != http.StatusSeeOther {
		t.Fatalf("run from the web: %d", code)
	}
	wait("manual")
	th.waitAudit(t, "check.started")
	_, body = mum.get("/security")
	if !slices.ContainsFunc(strings.Split(body, "\n"), func(l string) bool { return strings.Contains(l, "when a parent asked</td>") }) {
		t.Fatal("the manual run is not in the history")
	}
}

// TestSelfCheckIsQuiet: the self-check's own probes, many of them meant to
// be refused, neither warn in the log nor count as refused handshakes; a
// stranger's refused handshake still does both.
func TestSelfCheckIsQuiet(t *testing.T) {
	th := startHub(t)
	var res control.AuditResult
	if err := call(th.cfg.DataDir, control.CheckRun, control.AuditArgs{}, &res); err != nil {
		t.Fatal(err)
	}
	failures := func() string {
		_, body := httpGet(t, "http://"+th.h.MetricsAddr()+"/metrics")
		return regexp.MustCompile(`toyhub_tls_handshake_failures_total \d+`).FindString(body)
	}
	if got := failures(); got != "toyhub_tls_handshake_failures_total 0" || strings.Contains(th.logs.String(), "TLS handshake refused") {
		t.Fatalf("after the self-check: %s, log:\n%s", got, th.logs.String())
	}
	// A stranger without a certificate.
	if c, err := tls.Dial("tcp", th.cfg.MQTTAddr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		c.Read(make([]byte, 1))
		c.Close()
	}
	th.waitLog(t, "TLS handshake refused")
	if got := failures(); got != "toyhub_tls_handshake_failures_total 1" {
		t.Fatalf("after a stranger: %s", got)
	}
}

// TestChangeChecksCoalesced: a burst of changes (five toys added, 300 ms
// apart) gives one self-check, after the last of them; and a check whose
// result is the same as the one before does not go to the Log again.
func TestChangeChecksCoalesced(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.AuditAfterChange = time.Second })
	runs := func() int { return strings.Count(th.logs.String(), `msg="Security check done" trigger=change`) }
	for i := range 5 {
		th.device(fmt.Sprintf("Toy %d", i), "toy")
		time.Sleep(300 * time.Millisecond)
	}
	if n := runs(); n != 0 {
		t.Fatalf("%d checks ran during the burst", n)
	}
	for i := 0; runs() == 0; i++ {
		if i == 100 {
			t.Fatal("no check ran after the burst")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if n := runs(); n != 1 {
		t.Fatalf("%d checks after one burst, want 1", n)
	}
	// Another change, the same result: a run, but no second Log entry.
	th.device("Toy 5", "toy")
	for i := 0; runs() < 2; i++ {
		if i == 100 {
			t.Fatal("no check ran after the change")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := strings.Count(th.audit(t), "check.done"); n != 1 {
		t.Fatalf("%d check.done entries for two checks with the same result", n)
	}
}

// TestSelfCheckHandsMemoryBack: a check reads every device, name and
// certificate, and then collects and hands the pages back at once (a
// forced collection), rather than keeping its garbage until the heap has
// doubled.
func TestSelfCheckHandsMemoryBack(t *testing.T) {
	th := startHub(t)
	forced := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before, handed := forced(), pageout.Handed()
	th.check(t)
	deadline := time.Now().Add(10 * time.Second)
	for forced() == before || pageout.Handed() == handed {
		if time.Now().After(deadline) {
			t.Fatalf("after the self-check: %d collections, the executable's pages handed back %d times; want both", forced()-before, pageout.Handed()-handed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
