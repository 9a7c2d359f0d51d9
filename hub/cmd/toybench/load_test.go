package main

import (
	"crypto/sha256"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// series makes one sample a minute from minute 5 to 30, each column
// given as a function of the minute.
func series(rss, heap, outside func(m float64) float64, goroutines func(m float64) int) []SoakSample {
	var s []SoakSample
	for m := 5.0; m <= 30; m++ {
		s = append(s, SoakSample{Minute: m, RSSMB: rss(m), AnonMB: rss(m) - 20, LiveHeapMB: heap(m),
			OutsideGoMB: outside(m), Goroutines: goroutines(m)})
	}
	return s
}

func flat(v float64) func(float64) float64 { return func(float64) float64 { return v } }

// wobble is a level with a ±2 MB saw-tooth around it, as a collector makes.
func wobble(v float64) func(float64) float64 {
	return func(m float64) float64 { return v + 2*math.Sin(m*2.1) }
}

func TestTrendVerdict(t *testing.T) {
	steady := func(float64) int { return 419 }
	for _, c := range []struct {
		name    string
		samples []SoakSample
		want    []string // names that must be called growth; none means no trend
	}{
		{"flat with noise", series(wobble(80), wobble(21), wobble(3), steady), nil},
		{"RSS leaking 1 MB a minute", series(func(m float64) float64 { return 60 + m }, flat(21), flat(3), steady),
			[]string{"RSS grew", "anonymous RSS grew"}},
		{"live heap leaking", series(flat(80), func(m float64) float64 { return 15 + m/2 }, flat(3), steady),
			[]string{"live heap grew"}},
		{"SQLite growing outside Go", series(flat(80), flat(21), func(m float64) float64 { return 2 + m/2 }, steady),
			[]string{"outside Go grew"}},
		{"goroutines stepping within slack", series(flat(80), flat(21), flat(3), func(m float64) int { return 419 + int(m)/6 }), nil},
		{"goroutines leaking one a minute", series(flat(80), flat(21), flat(3), func(m float64) int { return 419 + int(m) }),
			[]string{"goroutines grew"}},
		{"shrinking is not growth", series(func(m float64) float64 { return 120 - m }, flat(21), flat(3), steady), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := trendVerdict(c.samples)
			if len(c.want) == 0 {
				if got != "no growth trend" {
					t.Fatalf("verdict %q, want no growth trend", got)
				}
				return
			}
			if !strings.HasPrefix(got, "growth: ") {
				t.Fatalf("verdict %q, want growth", got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("verdict %q does not say %q", got, w)
				}
			}
		})
	}
}

func TestSlope(t *testing.T) {
	for _, c := range []struct {
		name string
		v    func(float64) float64
		want float64
	}{
		{"flat", flat(7), 0},
		{"rising", func(m float64) float64 { return 3 + 0.25*m }, 0.25},
		{"falling", func(m float64) float64 { return 100 - 2*m }, -2},
	} {
		s := series(c.v, flat(0), flat(0), func(float64) int { return 0 })
		if got := slope(s, func(x SoakSample) float64 { return x.RSSMB }); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: slope %v, want %v", c.name, got, c.want)
		}
	}
	if got := slope([]SoakSample{{Minute: 5, RSSMB: 1}}, func(x SoakSample) float64 { return x.RSSMB }); got != 0 {
		t.Errorf("one sample: slope %v, want 0", got)
	}
}

func TestBesideBaseline(t *testing.T) {
	for _, c := range []struct {
		name          string
		before, after float64
		hub           float64
		want          []float64 // before, after, hub
	}{
		{"steady", 500, 500, 250, []float64{1, 1, 0.5}},
		{"the host got busier", 500, 400, 250, []float64{1, 0.8, 0.5}},
		{"no baseline", 0, 0, 250, []float64{0, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := besideBaseline(Result{MsgPerSec: c.before}, Result{MsgPerSec: c.after}, []Result{{MsgPerSec: c.hub}})
			if len(got) != 3 {
				t.Fatalf("%d results", len(got))
			}
			for i, w := range c.want {
				if math.Abs(got[i].VsBaseline-w) > 1e-9 {
					t.Errorf("result %d: %.3f, want %.3f", i, got[i].VsBaseline, w)
				}
			}
		})
	}
}

// TestMarkCPU holds the server's CPU and the devices' apart: a server
// that sleeps used next to nothing while this process worked.
func TestMarkCPU(t *testing.T) {
	server := exec.Command("sleep", "30")
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	m0 := markCPU(server.Process.Pid)
	if m0.err != nil {
		t.Fatal(m0.err)
	}
	sum := sha256.Sum256(nil)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		sum = sha256.Sum256(sum[:])
	}
	m1 := markCPU(server.Process.Pid)
	if m1.err != nil {
		t.Fatal(m1.err)
	}
	d := m1.since(m0)
	if d.devices < 100*time.Millisecond || d.server > 50*time.Millisecond {
		t.Errorf("devices %v, server %v: want the devices' 300 ms of work on their side alone", d.devices, d.server)
	}
	if d.peakMB <= 0 {
		t.Errorf("server peak %v MB", d.peakMB)
	}
}

func TestCounts(t *testing.T) {
	for _, c := range []struct {
		list string
		want []int // nil: refused
	}{
		{"10,1000", []int{10, 1000}},
		{" 1 , 25", []int{1, 25}},
		{"7", []int{7}},
		{"", nil},
		{"10,", nil},
		{"0,5", nil},
		{"-3", nil},
		{"ten", nil},
	} {
		got, err := counts("--storm-toys", c.list)
		if c.want == nil {
			if err == nil || !strings.Contains(err.Error(), "--storm-toys") {
				t.Errorf("%q: %v, %v; want a refusal naming the flag", c.list, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %v, %v; want %v", c.list, got, err, c.want)
		}
	}
}

// TestStormRatios: servers are compared only with as many toys each, so
// a hub with 10 toys is never set beside Mosquitto with 1,000.
func TestStormRatios(t *testing.T) {
	rss := map[int][]float64{10: {12.8, 10.2, 11.1}, 1000: {48.6, 40.6, 122.4}}
	var rs []StormResult
	for _, n := range []int{10, 1000} {
		for i, s := range []string{"hub", "mosquitto", "mochi"} {
			rs = append(rs, StormResult{Server: s, Toys: n, Seconds: 1, HandshakesSec: float64(n), IdleRSSMB: rss[n][i]})
		}
	}
	var b strings.Builder
	printStorm(&b, rs)
	var ratios []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "÷") {
			ratios = append(ratios, strings.Join(strings.Fields(l), " "))
		}
	}
	want := []string{
		"hub ÷ mosquitto 10 1.00 1.00 1.25 0.00",
		"hub ÷ mochi 10 1.00 1.00 1.15 0.00",
		"mosquitto ÷ mochi 10 1.00 1.00 0.92 0.00",
		"hub ÷ mosquitto 1000 1.00 1.00 1.20 0.00",
		"hub ÷ mochi 1000 1.00 1.00 0.40 0.00",
		"mosquitto ÷ mochi 1000 1.00 1.00 0.33 0.00",
	}
	if !slices.Equal(ratios, want) {
		t.Fatalf("ratio rows:\n%s\nwant:\n%s", strings.Join(ratios, "\n"), strings.Join(want, "\n"))
	}
}
