package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The load harness: many toys over real mutual TLS, each sending a
// recording to its partner (toys 2k and 2k+1 are linked) once a period, in
// an open loop as real toys do; a reconnect storm after a server restart;
// the server's memory with every toy connected and idle; and a soak. Each
// scenario runs against the hub and against Mosquitto (see fleet).

// fleet is a set of simulated toys on one server.
type fleet interface {
	label() string
	pid() int
	// dial connects toy i.
	dial(ctx context.Context, i int) error
	// hangUp closes every toy's connection.
	hangUp()
	// send sends wav from toy i to its partner, and returns once the
	// partner holds all of it.
	send(ctx context.Context, i int, wav []byte) error
	// restart stops the server and starts it again.
	restart() error
	// goroutines is the server's goroutine count, or -1.
	goroutines() int
	close()
}

// LoadResult is one open-loop load run.
type LoadResult struct {
	Server     string  `json:"server"`
	Toys       int     `json:"toys"`
	Period     string  `json:"period"`
	Duration   string  `json:"duration"`
	Sent       int     `json:"sent"`
	Delivered  int     `json:"delivered"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Maxms      float64 `json:"max_ms"`
	MsgPerSec  float64 `json:"msg_per_s"`
	MBPerSec   float64 `json:"mb_per_s"`
	CPU        float64 `json:"server_cpu_cores"`
	PeakRSSMB  float64 `json:"server_peak_rss_mb"`
}

// dialAll connects toys [0, n) with at most par dials at once, retrying
// each up to three times. It returns the number of failed attempts.
func dialAll(f fleet, n, par int) (failed int, err error) {
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, par)
		fails atomic.Int64
		mu    sync.Mutex
		last  error
	)
	for i := range n {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				e := f.dial(ctx, i)
				cancel()
				if e == nil {
					return
				}
				fails.Add(1)
				if attempt == 2 {
					mu.Lock()
					last = fmt.Errorf("toy %d: %w", i, e)
					mu.Unlock()
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return int(fails.Load()), last
}

// runLoad has every toy send wav to its partner once a period, starting
// at a random point of the first period, for duration. Sends still in
// flight at the end are waited for (each is bounded by 30 s).
func runLoad(f fleet, toys int, period, duration time.Duration, wav []byte, sample func(elapsed time.Duration)) (LoadResult, error) {
	if _, err := dialAll(f, toys, 32); err != nil {
		return LoadResult{}, err
	}
	defer f.hangUp()
	var (
		mu        sync.Mutex
		lat       []time.Duration
		sent      int
		errs      []error
		inflight  sync.WaitGroup
		start     = time.Now()
		end       = start.Add(duration)
		scheduled sync.WaitGroup
	)
	_, cpu0, _ := procStats(f.pid())
	for i := range toys {
		scheduled.Add(1)
		go func() {
			defer scheduled.Done()
			next := start.Add(time.Duration(rand.Int64N(int64(period))))
			for next.Before(end) {
				time.Sleep(time.Until(next))
				next = next.Add(period)
				inflight.Add(1)
				go func() {
					defer inflight.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					t0 := time.Now()
					err := f.send(ctx, i, wav)
					d := time.Since(t0)
					mu.Lock()
					defer mu.Unlock()
					sent++
					if err != nil {
						errs = append(errs, fmt.Errorf("toy %d: %w", i, err))
					} else {
						lat = append(lat, d)
					}
				}()
			}
		}()
	}
	if sample != nil {
		done := make(chan struct{})
		go func() {
			scheduled.Wait()
			close(done)
		}()
		go func() {
			t := time.NewTicker(time.Minute)
			defer t.Stop()
			sample(0)
			for {
				select {
				case <-t.C:
					sample(time.Since(start))
				case <-done:
					return
				}
			}
		}()
	}
	scheduled.Wait()
	inflight.Wait()
	peak, cpu1, err := procStats(f.pid())
	if err != nil {
		return LoadResult{}, err
	}
	el := duration.Seconds()
	r := LoadResult{
		Server: f.label(), Toys: toys, Period: period.String(), Duration: duration.String(),
		Sent: sent, Delivered: len(lat), Errors: len(errs),
		P50ms: percentile(lat, .5), P99ms: percentile(lat, .99), Maxms: percentile(lat, 1),
		MsgPerSec: float64(len(lat)) / el, MBPerSec: float64(len(lat)*len(wav)) / el / 1e6,
		CPU: (cpu1 - cpu0).Seconds() / time.Since(start).Seconds(), PeakRSSMB: peak,
	}
	if len(errs) > 0 {
		r.FirstError = errs[0].Error()
	}
	return r, nil
}

// StormResult is a reconnect storm followed by a quiet spell.
type StormResult struct {
	Server string `json:"server"`
	Toys   int    `json:"toys"`
	// Seconds from the first dial to the last toy connected, every toy
	// dialling at once as soon as the restarted server listens.
	Seconds       float64 `json:"seconds"`
	HandshakesSec float64 `json:"handshakes_per_s"`
	// FailedDials counts dials that failed and were retried.
	FailedDials int `json:"failed_dials"`
	// IdleRSSMB is the server's resident memory with every toy connected
	// and idle, 15 s after the storm.
	IdleRSSMB float64 `json:"idle_rss_mb"`
	// IdleAnonMB is the part of it that is the process's own memory, not
	// pages of its program file.
	IdleAnonMB float64 `json:"idle_rss_anon_mb"`
	Goroutines int     `json:"goroutines,omitempty"`
}

func runStorm(f fleet, toys int, settle time.Duration) (StormResult, error) {
	if _, err := dialAll(f, toys, 32); err != nil {
		return StormResult{}, err
	}
	f.hangUp()
	if err := f.restart(); err != nil {
		return StormResult{}, err
	}
	t0 := time.Now()
	failed, err := dialAll(f, toys, toys)
	el := time.Since(t0)
	if err != nil {
		return StormResult{}, fmt.Errorf("reconnect storm: %w", err)
	}
	defer f.hangUp()
	time.Sleep(15 * time.Second)
	if m, ok := f.(interface{ memory() string }); ok {
		r0, _ := procRSS(f.pid())
		fmt.Fprintf(logOut, "%s: %d idle toys after 15 s: RSS %.1f MB, %s\n", f.label(), toys, r0, m.memory())
	}
	time.Sleep(settle)
	rss, err := procRSS(f.pid())
	if err != nil {
		return StormResult{}, err
	}
	anon, err := procStatus(f.pid(), "RssAnon:")
	if err != nil {
		return StormResult{}, err
	}
	if m, ok := f.(interface{ memory() string }); ok {
		fmt.Fprintf(logOut, "%s: %d idle toys: %s\n", f.label(), toys, m.memory())
	}
	return StormResult{Server: f.label(), Toys: toys, Seconds: el.Seconds(), HandshakesSec: float64(toys) / el.Seconds(),
		FailedDials: failed, IdleRSSMB: rss, IdleAnonMB: anon, Goroutines: max(f.goroutines(), 0)}, nil
}

// SoakSample is one minute's reading during a soak.
type SoakSample struct {
	Minute float64 `json:"minute"`
	RSSMB  float64 `json:"rss_mb"`
	AnonMB float64 `json:"rss_anon_mb"` // the process's own memory, not its program file's pages
	// LiveHeapMB is the Go heap the last collection kept (half the next
	// collection's goal, at GOGC=100): what a leak would grow.
	LiveHeapMB float64 `json:"live_heap_mb"`
	StacksMB   float64 `json:"stacks_mb"`
	// OutsideGoMB is anonymous RSS less what the Go runtime holds from
	// the system (all it mapped, less what it returned): mostly SQLite's
	// own allocations, its page caches among them.
	OutsideGoMB float64 `json:"outside_go_mb"`
	Goroutines  int     `json:"goroutines"`
}

// SoakResult is a long load run with the server sampled every minute.
type SoakResult struct {
	Load    LoadResult   `json:"load"`
	Samples []SoakSample `json:"samples"`
	// Growth per hour by least squares, over the samples after the first
	// five minutes (start-up, the first self-check, the caches filling).
	RSSMBPerHour      float64 `json:"rss_mb_per_hour"`
	AnonMBPerHour     float64 `json:"rss_anon_mb_per_hour"`
	LiveHeapMBPerHour float64 `json:"live_heap_mb_per_hour"`
	OutsideGoPerHour  float64 `json:"outside_go_mb_per_hour"`
	GoroutinesPerHour float64 `json:"goroutines_per_hour"`
	Verdict           string  `json:"verdict"`
}

// metered is a fleet whose server reports Go metrics.
type metered interface{ metric(name string) float64 }

func runSoak(f fleet, toys int, period, duration time.Duration, wav []byte) (SoakResult, error) {
	var (
		mu      sync.Mutex
		samples []SoakSample
	)
	load, err := runLoad(f, toys, period, duration, wav, func(el time.Duration) {
		s := SoakSample{Minute: el.Minutes(), Goroutines: f.goroutines()}
		s.RSSMB, _ = procRSS(f.pid())
		s.AnonMB, _ = procStatus(f.pid(), "RssAnon:")
		if m, ok := f.(metered); ok {
			// MiB, as /proc reports them
			s.LiveHeapMB = m.metric("go_memstats_next_gc_bytes") / 2 / (1 << 20)
			s.StacksMB = m.metric("go_memstats_stack_inuse_bytes") / (1 << 20)
			s.OutsideGoMB = s.AnonMB - (m.metric("go_memstats_sys_bytes")-m.metric("go_memstats_heap_released_bytes"))/(1<<20)
		}
		fmt.Fprintf(logOut, "soak: %5.1f min  RSS %6.1f MB (anonymous %6.1f)  live heap %5.1f MB  stacks %4.1f MB  outside Go %5.1f MB  goroutines %d\n",
			s.Minute, s.RSSMB, s.AnonMB, s.LiveHeapMB, s.StacksMB, s.OutsideGoMB, s.Goroutines)
		mu.Lock()
		samples = append(samples, s)
		mu.Unlock()
	})
	if err != nil {
		return SoakResult{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	r := SoakResult{Load: load, Samples: slices.Clone(samples)}
	var late []SoakSample
	for _, s := range samples {
		if s.Minute >= 5 {
			late = append(late, s)
		}
	}
	if len(late) < 3 {
		r.Verdict = "too short to judge a trend (run at least 8 minutes)"
		return r, nil
	}
	r.RSSMBPerHour = 60 * slope(late, func(s SoakSample) float64 { return s.RSSMB })
	r.AnonMBPerHour = 60 * slope(late, func(s SoakSample) float64 { return s.AnonMB })
	r.LiveHeapMBPerHour = 60 * slope(late, func(s SoakSample) float64 { return s.LiveHeapMB })
	r.OutsideGoPerHour = 60 * slope(late, func(s SoakSample) float64 { return s.OutsideGoMB })
	r.GoroutinesPerHour = 60 * slope(late, func(s SoakSample) float64 { return float64(s.Goroutines) })
	r.Verdict = trendVerdict(late)
	return r, nil
}

// trendVerdict calls growth what a straight line through the samples
// projects over their span beyond 5% of the mean anonymous RSS (memory:
// a small measure such as what lies outside Go wobbles by more than 5% of
// itself), or beyond 10 goroutines (they step with connections; the
// fleet is fixed, so a steady rise is a leak).
func trendVerdict(s []SoakSample) string {
	span := s[len(s)-1].Minute - s[0].Minute
	mean := func(v func(SoakSample) float64) float64 {
		var sum float64
		for _, x := range s {
			sum += v(x)
		}
		return sum / float64(len(s))
	}
	anon := func(x SoakSample) float64 { return x.AnonMB }
	memSlack := 0.05 * mean(anon)
	var bad []string
	for _, m := range []struct {
		name  string
		v     func(SoakSample) float64
		slack float64
	}{
		{"RSS", func(x SoakSample) float64 { return x.RSSMB }, memSlack},
		{"anonymous RSS", anon, memSlack},
		{"live heap", func(x SoakSample) float64 { return x.LiveHeapMB }, memSlack},
		{"outside Go", func(x SoakSample) float64 { return x.OutsideGoMB }, memSlack},
		{"goroutines", func(x SoakSample) float64 { return float64(x.Goroutines) }, 10},
	} {
		if g := span * slope(s, m.v); g > m.slack {
			bad = append(bad, fmt.Sprintf("%s grew %.1f over %.0f minutes (mean %.1f)", m.name, g, span, mean(m.v)))
		}
	}
	if len(bad) > 0 {
		return "growth: " + strings.Join(bad, "; ")
	}
	return "no growth trend"
}

// slope is the least-squares slope of v against the minute.
func slope(s []SoakSample, v func(SoakSample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, x := range s {
		n++
		sx += x.Minute
		sy += v(x)
		sxx += x.Minute * x.Minute
		sxy += x.Minute * v(x)
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

var errNoDelivery = errors.New("the partner did not receive the message within 30 s")
