// Package selfcheck runs the hub's security self-check (package audit)
// against the running hub: daily, a little after each change of the
// household's configuration, and when a parent asks; it keeps every
// report in the store's history. It gives the audit the hub's facts
// through audit.Facts, built from explicit dependencies.
//
// One check runs at a time. A Checker is safe for concurrent use.
package selfcheck

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/enroll"
	"github.com/toyhub/toyhub/hub/internal/pageout"
	"github.com/toyhub/toyhub/hub/lan"
	"github.com/toyhub/toyhub/store"
)

// Config is the self-check's slice of the hub's configuration.
type Config struct {
	// Every is how often the check runs on its own (0: never); the first
	// time StartDelay after start, if Every has passed since the last.
	Every      time.Duration
	StartDelay time.Duration
	// AfterChange is how long after a change of configuration the check
	// runs again (0: not).
	AfterChange time.Duration
	// Network adds the home network scan to the hub's own runs, on
	// Targets (empty: the LAN subnets).
	Network bool
	Targets []string
	Now     func() time.Time
}

// Connections are the broker's, as the self-check's probe needs them.
type Connections interface {
	Disconnect(id string) bool
}

// Live tells open pages that a report is ready.
type Live interface{ Publish(ids ...string) }

// Deps are the facts of the hub the check looks at, and what it uses.
type Deps struct {
	Store       *store.Store
	Issuer      *enroll.Issuer // for the throw-away probe device
	CAs         *x509.CertPool // verify the hub's own server certificate
	Connections Connections
	// Listeners are the hub's sockets now (remote access's comes and
	// goes).
	Listeners func() []audit.Listener
	WebRoutes []audit.Route
	Files     audit.Files
	Refusals  *Refusals
	// Probes are the check's own connections, which the listeners
	// neither log nor count as refused.
	Probes *audit.Probes
	Live   Live
	Log    *slog.Logger
}

// ErrRunning means a check is running already.
var ErrRunning = errors.New("a security check is running already; its results appear when it ends")

// Checker runs the self-check.
type Checker struct {
	cfg Config
	d   Deps
	log *slog.Logger

	mu      sync.Mutex  // one check at a time
	running atomic.Bool // a check runs, or is about to

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	timerMu sync.Mutex
	timer   *time.Timer // the next scheduled run, if any
	// A run after changes waits for them to stop: each change moves it
	// AfterChange later, up to maxChangeWait after the first.
	changeFirst time.Time
}

// maxChangeWait bounds how long a burst of changes may put off its check.
const maxChangeWait = 10 * time.Minute

// New makes a checker; Start begins its schedule.
func New(cfg Config, d Deps) *Checker {
	c := &Checker{cfg: cfg, d: d, log: d.Log}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Start begins the daily schedule.
func (c *Checker) Start() {
	if c.cfg.Every > 0 {
		c.wg.Go(c.daily)
	}
}

// Close stops the schedule and waits for a check under way.
func (c *Checker) Close() {
	c.cancel()
	c.timerMu.Lock()
	if c.timer != nil && c.timer.Stop() {
		c.wg.Done() // the run it held a place for will not happen
	}
	c.timerMu.Unlock()
	c.wg.Wait()
}

// Running reports whether a check is running now.
func (c *Checker) Running() bool { return c.running.Load() }

// Run runs the check now, keeps it in the history, and returns it. With
// network, the home network scan runs too, on targets (empty: the
// configured ones, or the LAN subnets).
func (c *Checker) Run(ctx context.Context, trigger string, network bool, targets []string) (audit.Report, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running.Store(true)
	c.d.Refusals.probing.Store(true)
	opt := audit.Options{Trigger: trigger, Now: c.cfg.Now, Network: network || c.cfg.Network, Probes: c.d.Probes,
		Scan: audit.ScanOptions{Targets: targets, HubPorts: c.ports(), Remote: c.remotePort(), Self: append(lan.Addrs(), netip.MustParseAddr("127.0.0.1"))}}
	if len(opt.Scan.Targets) == 0 {
		opt.Scan.Targets = c.cfg.Targets
	}
	rep, err := audit.Run(ctx, facts{c}, opt)
	defer handBack()
	// The check is over before its report can be seen: whoever sees the
	// report and asks for another check is not told that one runs. (The
	// next run waits for this one's lock.)
	c.d.Refusals.probing.Store(false)
	c.running.Store(false)
	if err != nil {
		return rep, err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return rep, err
	}
	high, medium, low := rep.Count(audit.High), rep.Count(audit.Medium), rep.Count(audit.Low)
	// The Log hears of a check a parent asked for, and of one whose
	// result differs from the one before; the rest are in the history.
	say := trigger == "manual"
	if prev, err := c.d.Store.Checks(ctx, 1, false); err != nil || len(prev) == 0 || prev[0].High != high || prev[0].Medium != medium || prev[0].Low != low {
		say = true
	}
	if err := c.d.Store.SaveCheck(ctx, store.CheckRun{At: rep.At, Trigger: trigger, High: high, Medium: medium, Low: low, Report: b}); err != nil {
		return rep, err
	}
	c.log.Info("Security check done", "trigger", trigger, "high", high, "medium", medium, "low", low,
		"network", opt.Network, "took", rep.Took.Round(time.Millisecond).String())
	if say {
		c.d.Store.Audit(store.Event{Kind: store.EvCheckDone, Detail: fmt.Sprintf("%s: %d high, %d medium, %d low", trigger, high, medium, low)})
	}
	c.d.Live.Publish()
	return rep, nil
}

// handBackAfter is how long after a check its memory is handed back:
// time for what follows it (the report stored, its Log entry written in
// the background) to run, since each of them reads SQLite's pages again.
const handBackAfter = 2 * time.Second

// handBack hands back, a moment after a check, what it used. The check
// reads every device, name and certificate (with 1,000 toys, about 35 MB
// of garbage), once a day or after a change: hand it back then, as after
// a burst of connections, rather than keep it until the heap has doubled.
// The pages of the executable it read (SQLite's, the scans': an idle hub
// with 10 toys went from 13 to 24 MB at its first check) go back too,
// after the collection, which reads some of them. Handed back as the
// check returned, some were read again at once by the report's writes:
// with 10 idle toys, 6.2–8.2 MB of the executable was resident three
// minutes after reconnecting, against 5.8–6.0 MB handed back a moment
// later (three runs each).
func handBack() {
	time.AfterFunc(handBackAfter, func() {
		debug.FreeOSMemory()
		_, _ = pageout.Executable() // where the system has no MADV_PAGEOUT, they stay
	})
}

// Begin starts a check in the background and returns at once; open pages
// hear of its end as a change.
func (c *Checker) Begin(network bool) error {
	if !c.running.CompareAndSwap(false, true) { // so that the page it leads to says so
		return ErrRunning
	}
	c.wg.Go(func() {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Minute)
		defer cancel()
		if _, err := c.Run(ctx, "manual", network, nil); err != nil && c.ctx.Err() == nil {
			c.log.Error("Security check failed", "trigger", "web", "error", err)
			c.d.Live.Publish()
		}
	})
	return nil
}

// Latest returns the newest report in the history, if there is one.
func (c *Checker) Latest(ctx context.Context) (audit.Report, bool, error) {
	runs, err := c.d.Store.Checks(ctx, 1, true)
	if err != nil || len(runs) == 0 {
		return audit.Report{}, false, err
	}
	var rep audit.Report
	if err := json.Unmarshal(runs[0].Report, &rep); err != nil {
		return rep, false, fmt.Errorf("audit history: %w", err)
	}
	return rep, true, nil
}

// History lists the newest runs, newest first, without their reports.
func (c *Checker) History(ctx context.Context, n int) ([]store.CheckRun, error) {
	return c.d.Store.Checks(ctx, n, false)
}

// Names resolves the device and account IDs in findings to names, for
// showing a report to its owner (names are never stored with it).
func (c *Checker) Names(ctx context.Context) map[string]string {
	names := map[string]string{}
	if ds, err := c.d.Store.Devices(ctx); err == nil {
		for _, d := range ds {
			names[d.ID] = d.Name
		}
	}
	if us, err := c.d.Store.Users(ctx); err == nil {
		for _, u := range us {
			names[u.ID] = u.Login
		}
	}
	return names
}

// ConfigChanged runs the check a little after a change of configuration:
// a burst of changes (a parent pairing toys and inviting the family) gives
// one run, AfterChange after the last of them.
func (c *Checker) ConfigChanged() {
	if c.cfg.AfterChange <= 0 {
		return
	}
	c.timerMu.Lock()
	if c.timer != nil && !c.changeFirst.IsZero() && time.Since(c.changeFirst) < maxChangeWait && c.timer.Stop() {
		c.timer.Reset(c.cfg.AfterChange)
		c.timerMu.Unlock()
		return
	}
	c.timerMu.Unlock()
	c.scheduleIn(c.cfg.AfterChange, "change")
}

// scheduleIn runs the check after d, unless one is scheduled.
func (c *Checker) scheduleIn(d time.Duration, trigger string) {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if c.timer != nil || c.ctx.Err() != nil {
		return
	}
	c.wg.Add(1)
	if trigger == "change" {
		c.changeFirst = time.Now()
	}
	c.timer = time.AfterFunc(d, func() {
		defer c.wg.Done()
		c.timerMu.Lock()
		c.timer, c.changeFirst = nil, time.Time{}
		c.timerMu.Unlock()
		if c.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Minute)
		defer cancel()
		if _, err := c.Run(ctx, trigger, false, nil); err != nil && c.ctx.Err() == nil {
			c.log.Error("Security check failed", "trigger", trigger, "error", err)
		}
	})
}

// daily schedules the check whenever Every has passed since the last one,
// looking hourly; the first time StartDelay after start, to let a
// starting hub settle.
func (c *Checker) daily() {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	delay := c.cfg.StartDelay
	for {
		if c.due(c.ctx) {
			c.scheduleIn(delay, "daily")
		}
		delay = 0
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// due reports whether the daily check is due.
func (c *Checker) due(ctx context.Context) bool {
	runs, err := c.d.Store.Checks(ctx, 1, false)
	if err != nil {
		return false
	}
	return len(runs) == 0 || c.cfg.Now().Sub(runs[0].At) >= c.cfg.Every
}

// remotePort is remote access's port while it is on (0 when off): the
// one forward to the hub that the scan expects.
func (c *Checker) remotePort() int {
	for _, l := range c.d.Listeners() {
		if l.Kind == audit.KindRemote {
			if _, p, err := net.SplitHostPort(l.Addr); err == nil {
				n, _ := strconv.Atoi(p)
				return n
			}
		}
	}
	return 0
}

// ports are the hub's own ports, which the network scan leaves out.
func (c *Checker) ports() []int {
	var out []int
	for _, l := range c.d.Listeners() {
		if _, p, err := net.SplitHostPort(l.Addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
