// Command toybench measures toy→hub→toy delivery against a running
// 'toyhub serve' process, and in the same run two references: a raw
// baseline (sealing the same bytes with AES-GCM and inserting them
// durably into SQLite) and Mosquitto relaying the same messages over the
// same mutual TLS (it stores nothing). Every figure is reported beside
// them as a ratio, because this machine is shared and absolute numbers
// drift from run to run. The baseline runs first, and again last to show
// how far the load drifted within the run; between runs the disk settles
// (what a run wrote is removed and written back), so that no run pays
// for the one before. Each row shows the server's CPU and the devices'
// (this process's): on a machine of two cores they share it.
//
//	go run ./hub/cmd/toybench [--hub bin/toyhub] [--pairs 1,25] [--duration 10s]
package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	_ "modernc.org/sqlite"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

// Result is one measured configuration.
type Result struct {
	Name      string  `json:"name"`
	Messages  int     `json:"messages"`
	MsgPerSec float64 `json:"msg_per_s"`
	MBPerSec  float64 `json:"mb_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	HubCPU    float64 `json:"server_cpu_cores,omitempty"`
	// DevicesCPU is what this process, the simulated devices, used
	// meanwhile: on a machine of a few cores, the load's own share.
	DevicesCPU float64 `json:"devices_cpu_cores,omitempty"`
	HubPeakRSS float64 `json:"server_peak_rss_mb,omitempty"`
	// VsBaseline compares with the baseline's run before the rest; for
	// its run after, it is the drift.
	VsBaseline float64 `json:"throughput_vs_baseline"`
	// VsMosquitto compares the hub with Mosquitto at the same number of
	// pairs, measured in the same run.
	VsMosquitto float64 `json:"throughput_vs_mosquitto,omitempty"`
}

// options are the command line.
type options struct {
	hubBin, mosq, pairs, jsonOut, modes string
	stormToys                           string
	duration, period, loadFor, soakFor  time.Duration
	settle                              time.Duration
	size, toys                          int
}

// Report is everything one run measured, as written with --json.
type Report struct {
	Throughput []Result         `json:"throughput,omitempty"`
	Load       []LoadResult     `json:"load,omitempty"`
	Storm      []StormResult    `json:"storm,omitempty"`
	Soak       *SoakResult      `json:"soak,omitempty"`
	Abuse      []AbuseResult    `json:"abuse,omitempty"`
	WebAbuse   []WebAbuseResult `json:"web_abuse,omitempty"`
	Start      []StartResult    `json:"start,omitempty"`
	Peak       *PeakResult      `json:"peak,omitempty"`
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == serveMochiFlag {
		if err := serveMochi(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "toybench: mochi:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.hubBin, "hub", "", "toyhub binary (default: build one)")
	flag.StringVar(&o.modes, "mode", "start,throughput,peak,load,storm", "what to measure: start, throughput, peak, load, storm, abuse and soak, comma-separated")
	flag.StringVar(&o.pairs, "pairs", "1,25", "throughput: numbers of concurrent toy pairs, each in a closed loop")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "throughput and abuse: measuring time per configuration")
	flag.IntVar(&o.size, "size", 320044, "recording size in bytes (320044: 10 s of 16 kHz 16-bit mono WAV)")
	flag.IntVar(&o.toys, "toys", 200, "load and soak: toys, each sending to its partner once a period")
	flag.DurationVar(&o.period, "period", time.Minute, "load and soak: time between one toy's messages")
	flag.DurationVar(&o.loadFor, "load-duration", 2*time.Minute, "load: how long the toys send")
	flag.StringVar(&o.stormToys, "storm-toys", "10,1000", "storm: numbers of toys reconnecting at once, then idle, comma-separated")
	// Three minutes: the hub's first self-check runs two minutes after it
	// starts, and what it reads is handed back a moment after it ends.
	flag.DurationVar(&o.settle, "storm-settle", 3*time.Minute, "storm: how long the toys stay idle before the server's memory is read")
	flag.DurationVar(&o.soakFor, "soak-duration", 30*time.Minute, "soak: how long to run the load, sampling the hub every minute")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.mosq, "mosquitto", "mosquitto", "Mosquitto broker to compare with, or \"\" to skip")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "toybench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	modes := map[string]bool{}
	for _, m := range strings.Split(o.modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case "start", "throughput", "peak", "load", "storm", "soak", "abuse":
			modes[m] = true
		default:
			return fmt.Errorf("--mode %q: want start, throughput, peak, load, storm, soak or abuse", m)
		}
	}
	work, err := os.MkdirTemp("", "toybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.hubBin == "" {
		o.hubBin = filepath.Join(work, "toyhub")
		build := exec.Command("go", "build", "-o", o.hubBin, "./hub/cmd/toyhub")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build toyhub: %v\n%s", err, out)
		}
	}
	if o.mosq != "" {
		if p, err := exec.LookPath(o.mosq); err != nil {
			fmt.Fprintf(os.Stderr, "mosquitto not found (Debian: apt-get install mosquitto); no comparison\n")
			o.mosq = ""
		} else {
			o.mosq = p
		}
	}
	wav := recording(o.size)
	var rep Report
	if modes["start"] {
		if rep.Start, err = starts(o, work, 41); err != nil {
			return err
		}
		printStarts(rep.Start)
	}
	if modes["throughput"] {
		if rep.Throughput, err = throughput(o, work, wav); err != nil {
			return err
		}
		printThroughput(rep.Throughput, o)
	}
	if modes["peak"] {
		r, err := peak(o, work, wav)
		if err != nil {
			return err
		}
		rep.Peak = &r
		printPeak(r)
		settle(filepath.Join(work, "peak"))
	}
	if modes["load"] {
		if rep.Load, err = loads(o, work, wav); err != nil {
			return err
		}
		printLoad(rep.Load)
	}
	if modes["storm"] {
		if rep.Storm, err = storms(o, work); err != nil {
			return err
		}
		printStorm(os.Stdout, rep.Storm)
	}
	if modes["abuse"] {
		if rep.Abuse, err = abuse(o, work); err != nil {
			return err
		}
		printAbuse(rep.Abuse)
		if rep.WebAbuse, err = webAbuse(o, work); err != nil {
			return err
		}
		printWebAbuse(rep.WebAbuse)
	}
	if modes["soak"] {
		f, err := newHubFleet(o.hubBin, filepath.Join(work, "soak"), o.toys, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "soak: %d toys on the hub for %v...\n", o.toys, o.soakFor)
		r, err := runSoak(f, o.toys, o.period, o.soakFor, wav)
		f.close()
		if err != nil {
			return err
		}
		rep.Soak = &r
		printLoad([]LoadResult{r.Load})
		fmt.Printf("soak, per hour after minute 5: RSS %+.1f MB, anonymous %+.1f MB, live heap %+.1f MB, outside Go %+.1f MB, goroutines %+.1f: %s\n",
			r.RSSMBPerHour, r.AnonMBPerHour, r.LiveHeapMBPerHour, r.OutsideGoPerHour, r.GoroutinesPerHour, r.Verdict)
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		return os.WriteFile(o.jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

// fleets makes the hub's fleet and, unless Mosquitto is skipped, its own,
// each of n toys, in that order.
func fleets(o options, dir string, n int) ([]fleet, error) {
	h, err := newHubFleet(o.hubBin, filepath.Join(dir, "hub"), n, nil)
	if err != nil {
		return nil, err
	}
	fs := []fleet{h}
	if o.mosq != "" {
		m, err := newMosqFleet("mosquitto", o.mosq, filepath.Join(dir, "mosquitto"), n)
		if err != nil {
			h.close()
			return nil, err
		}
		fs = append(fs, m)
	}
	return fs, nil
}

func loads(o options, work string, wav []byte) ([]LoadResult, error) {
	fs, err := fleets(o, filepath.Join(work, "load"), o.toys)
	if err != nil {
		return nil, err
	}
	var out []LoadResult
	for _, f := range fs {
		fmt.Fprintf(os.Stderr, "%s: %d toys, one %d-byte message each every %v, for %v...\n", f.label(), o.toys, len(wav), o.period, o.loadFor)
		r, err := runLoad(f, o.toys, o.period, o.loadFor, wav, nil)
		f.close()
		syscall.Sync() // the next server is measured on a settled disk
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.label(), err)
		}
		out = append(out, r)
	}
	return out, nil
}

// storms runs a storm of each size on each server: the hub, Mosquitto,
// and a bare mochi broker with the same TLS (what of the hub's cost is
// its MQTT library's, and what is its own).
func storms(o options, work string) ([]StormResult, error) {
	sizes, err := counts("--storm-toys", o.stormToys)
	if err != nil {
		return nil, err
	}
	var out []StormResult
	for _, n := range sizes {
		dir := filepath.Join(work, fmt.Sprintf("storm-%d", n))
		fs, err := fleets(o, dir, n)
		if err != nil {
			return nil, err
		}
		m, err := newMosqFleet("mochi", "", filepath.Join(dir, "mochi"), n)
		if err != nil {
			for _, f := range fs {
				f.close()
			}
			return nil, err
		}
		fs = append(fs, m)
		for i, f := range fs {
			fmt.Fprintf(os.Stderr, "%s: %d toys connect, the server restarts, all reconnect at once...\n", f.label(), n)
			r, err := runStorm(f, n, o.settle)
			f.close()
			if err != nil {
				for _, g := range fs[i+1:] {
					g.close()
				}
				return nil, fmt.Errorf("%s, %d toys: %w", f.label(), n, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// counts parses a comma-separated list of positive numbers, the value of
// the flag named name.
func counts(name, list string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: want positive numbers, comma-separated", name, list)
		}
		out = append(out, n)
	}
	return out, nil
}

func printLoad(rs []LoadResult) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "load\t toys\t sent\t delivered\t errors\t msg/s\t MB/s\t p50 ms\t p99 ms\t max ms\t server CPU\t peak RSS MB\t\n")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t %d\t %d\t %d\t %d\t %.2f\t %.2f\t %.1f\t %.1f\t %.1f\t %.3f\t %.1f\t\n", r.Server, r.Toys, r.Sent, r.Delivered, r.Errors,
			r.MsgPerSec, r.MBPerSec, r.P50ms, r.P99ms, r.Maxms, r.CPU, r.PeakRSSMB)
	}
	if len(rs) == 2 {
		a, b := rs[0], rs[1]
		fmt.Fprintf(tw, "%s ÷ %s\t\t\t %.2f\t\t %.2f\t %.2f\t %.2f\t %.2f\t %.2f\t %.2f\t %.2f\t\n", a.Server, b.Server,
			ratio(float64(a.Delivered), float64(b.Delivered)), ratio(a.MsgPerSec, b.MsgPerSec), ratio(a.MBPerSec, b.MBPerSec),
			ratio(a.P50ms, b.P50ms), ratio(a.P99ms, b.P99ms), ratio(a.Maxms, b.Maxms), ratio(a.CPU, b.CPU), ratio(a.PeakRSSMB, b.PeakRSSMB))
	}
	tw.Flush()
	for _, r := range rs {
		if r.FirstError != "" {
			fmt.Printf("%s: first error: %s\n", r.Server, r.FirstError)
		}
	}
}

func printStorm(w io.Writer, rs []StormResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "storm\t toys\t all connected s\t handshakes/s\t failed dials\t idle RSS MB\t of it anonymous MB\t goroutines\t\n")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t %d\t %.2f\t %.0f\t %d\t %.1f\t %.1f\t %d\t\n", r.Server, r.Toys, r.Seconds, r.HandshakesSec, r.FailedDials, r.IdleRSSMB, r.IdleAnonMB, r.Goroutines)
	}
	// Each server beside each later one with as many toys: the hub
	// beside Mosquitto and beside mochi alone, and Mosquitto beside mochi.
	for i, a := range rs {
		for _, b := range rs[i+1:] {
			if b.Toys != a.Toys {
				continue
			}
			fmt.Fprintf(tw, "%s ÷ %s\t %d\t %.2f\t %.2f\t\t %.2f\t %.2f\t\t\n", a.Server, b.Server, a.Toys, ratio(a.Seconds, b.Seconds), ratio(a.HandshakesSec, b.HandshakesSec),
				ratio(a.IdleRSSMB, b.IdleRSSMB), ratio(a.IdleAnonMB, b.IdleAnonMB))
		}
	}
	tw.Flush()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// throughput is the closed-loop measure: each pair sends as fast as it
// can, beside the seal+insert baseline and Mosquitto.
func throughput(o options, work string, wav []byte) ([]Result, error) {
	pairCounts, err := counts("--pairs", o.pairs)
	if err != nil {
		return nil, err
	}
	// The baseline runs before the rest, which is compared with it, and
	// again after: on a shared machine the load drifts during a run, and
	// the second row shows by how much.
	fmt.Fprintf(os.Stderr, "baseline: AES-GCM seal + durable SQLite insert of %d bytes...\n", len(wav))
	syscall.Sync() // what ran before (a build, other modes) written back first
	before, err := baseline(filepath.Join(work, "baseline"), wav, o.duration)
	if err != nil {
		return nil, err
	}
	settle(filepath.Join(work, "baseline"))
	before.Name += ", before"
	var results []Result
	for _, pairs := range pairCounts {
		var ref *Result
		if o.mosq != "" {
			fmt.Fprintf(os.Stderr, "mosquitto: %d pair(s) for %v...\n", pairs, o.duration)
			r, err := measureMosquitto(o.mosq, filepath.Join(work, fmt.Sprintf("mosquitto-%d", pairs)), pairs, wav, o.duration)
			if err != nil {
				return nil, err
			}
			results = append(results, r)
			ref = &results[len(results)-1]
			settle(filepath.Join(work, fmt.Sprintf("mosquitto-%d", pairs)))
		}
		fmt.Fprintf(os.Stderr, "hub: %d pair(s) for %v...\n", pairs, o.duration)
		r, err := measureHub(o.hubBin, filepath.Join(work, fmt.Sprintf("hub-%d", pairs)), pairs, wav, o.duration)
		if err != nil {
			return nil, err
		}
		if ref != nil {
			r.VsMosquitto = r.MsgPerSec / ref.MsgPerSec
		}
		results = append(results, r)
		settle(filepath.Join(work, fmt.Sprintf("hub-%d", pairs)))
	}
	fmt.Fprintf(os.Stderr, "baseline again, for the load's drift during the run...\n")
	after, err := baseline(filepath.Join(work, "baseline-after"), wav, o.duration)
	if err != nil {
		return nil, err
	}
	after.Name += ", after"
	settle(filepath.Join(work, "baseline-after"))
	return besideBaseline(before, after, results), nil
}

// settle removes what a measured run wrote and waits for the disk to
// write back the rest: a baseline's few gigabytes still flushing made the
// next run's the host's busiest seconds, as the baseline run again after
// everything showed (0.61–0.78× of itself in six runs).
func settle(dir string) {
	os.RemoveAll(dir)
	syscall.Sync()
}

// besideBaseline sets each result's VsBaseline against the baseline's
// run before the rest, as since the first make bench, and the run after
// against it too: how far the host's load drifted meanwhile. It returns
// them all, the baseline's first.
func besideBaseline(before, after Result, rs []Result) []Result {
	out := append([]Result{before, after}, rs...)
	for i := range out {
		out[i].VsBaseline = ratio(out[i].MsgPerSec, before.MsgPerSec)
	}
	return out
}

func printThroughput(results []Result, o options) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%d-byte recordings, %v each\t msgs\t msg/s\t MB/s\t p50 ms\t p99 ms\t ×baseline\t ×mosquitto\t server CPU\t devices CPU\t server peak RSS MB\t\n", o.size, o.duration)
	for _, r := range results {
		vsM, cpu, dev, rss := "", "", "", ""
		if r.VsMosquitto > 0 {
			vsM = fmt.Sprintf("%.2f", r.VsMosquitto)
		}
		if r.HubCPU > 0 {
			cpu = fmt.Sprintf("%.2f", r.HubCPU)
		}
		if r.DevicesCPU > 0 {
			dev = fmt.Sprintf("%.2f", r.DevicesCPU)
		}
		if r.HubPeakRSS > 0 {
			rss = fmt.Sprintf("%.1f", r.HubPeakRSS)
		}
		fmt.Fprintf(tw, "%s\t %d\t %.0f\t %.1f\t %.2f\t %.2f\t %.2f\t %s\t %s\t %s\t %s\t\n", r.Name, r.Messages, r.MsgPerSec, r.MBPerSec, r.P50ms, r.P99ms, r.VsBaseline, vsM, cpu, dev, rss)
	}
	tw.Flush()
	fmt.Printf("CPU in cores of this machine's %d; the baseline's store runs in the devices' process, so its CPU is in the server's column\n", runtime.NumCPU())
}

// recording is a valid WAV file of exactly size bytes.
func recording(size int) []byte {
	samples := make([]int16, (size-44)/2)
	noise := make([]byte, 2*len(samples))
	rand.Read(noise)
	for i := range samples {
		samples[i] = int16(noise[2*i]) | int16(noise[2*i+1])<<8
	}
	return wire.EncodeWAV(16000, samples)
}

func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return float64(s[i]) / float64(time.Millisecond)
}

// baseline seals each recording with AES-256-GCM and inserts it in its own
// durable transaction, with the hub's pragmas (WAL, synchronous=FULL,
// secure_delete, 4 KiB pages): the least any store of these bytes costs.
func baseline(dir string, wav []byte, duration time.Duration) (Result, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, err
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "b.db")+"?_pragma=synchronous(2)&_pragma=secure_delete(1)&_pragma=journal_mode(wal)&_txlock=immediate")
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE m (id INTEGER PRIMARY KEY, data BLOB NOT NULL) STRICT"); err != nil {
		return Result{}, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(blk)
	nonce := make([]byte, aead.NonceSize())
	var lat []time.Duration
	_, cpu0, err := procStats(os.Getpid())
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	for time.Since(start) < duration {
		t0 := time.Now()
		rand.Read(nonce)
		sealed := aead.Seal(slices.Clone(nonce), nonce, wav, nil)
		tx, err := db.Begin()
		if err != nil {
			return Result{}, err
		}
		if _, err := tx.Exec("INSERT INTO m (data) VALUES (?)", sealed); err != nil {
			return Result{}, err
		}
		if err := tx.Commit(); err != nil {
			return Result{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	el := time.Since(start).Seconds()
	_, cpu1, err := procStats(os.Getpid())
	if err != nil {
		return Result{}, err
	}
	// The store runs in this process: its CPU is the server's column.
	return Result{Name: "baseline: seal + durable insert", Messages: len(lat), MsgPerSec: float64(len(lat)) / el,
		MBPerSec: float64(len(lat)*len(wav)) / el / 1e6, P50ms: percentile(lat, .5), P99ms: percentile(lat, .99),
		HubCPU: (cpu1 - cpu0).Seconds() / el}, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// procStats reads a process's peak RSS (MB) and CPU time.
func procStats(pid int) (peakMB float64, cpu time.Duration, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			peakMB = kb / 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return peakMB, time.Duration(ut+st) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// benchLimits lift the hub's per-device limits: a benchmark sends far
// faster than a toy would.
var benchLimits = []string{"TOYHUB_LIMITS_MESSAGES_PER_MINUTE=1000000", "TOYHUB_LIMITS_BYTES_PER_DAY=1099511627776",
	"TOYHUB_LIMITS_BYTES_PER_SECOND_PER_CONNECTION=0", "TOYHUB_LIMITS_PACKETS_PER_SECOND_PER_CONNECTION=0",
	"TOYHUB_LIMITS_CONNECTIONS_PER_SOURCE=100000"}

type pair struct{ a, b *devices.Client }

// dialPairs enrolls and links pairs of toys on the hub in data and
// connects them; hangUp closes them.
func dialPairs(data, dir string, pairs int) (ps []pair, hangUp func(), err error) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	var clients []*devices.Client
	hangUp = func() {
		for _, c := range clients {
			c.Close()
		}
	}
	for i := range pairs {
		var cs [2]*devices.Client
		for j, side := range []string{"toy", "friend"} {
			name := fmt.Sprintf("%s %d", side, i)
			out := filepath.Join(dir, fmt.Sprintf("bundle-%d-%d", i, j))
			if _, err := control.AddDeviceBundle(data, name, "toy", out); err != nil {
				return nil, hangUp, err
			}
			b, err := certs.LoadBundle(out)
			if err != nil {
				return nil, hangUp, err
			}
			if cs[j], err = devices.Dial(ctx, b, devices.Options{Logger: quiet}); err != nil {
				return nil, hangUp, err
			}
			clients = append(clients, cs[j])
		}
		if _, err := control.Link.Call(data, control.LinkArgs{A: fmt.Sprintf("toy %d", i), B: fmt.Sprintf("friend %d", i)}); err != nil {
			return nil, hangUp, err
		}
		ps = append(ps, pair{cs[0], cs[1]})
	}
	return ps, hangUp, nil
}

// roundTrip sends one message from p.a to p.b, which fetches it and
// confirms it played, and returns the time to the last byte fetched.
func roundTrip(p pair, wav []byte) (time.Duration, error) {
	ctx := context.Background()
	id := wire.NewMessageID()
	t0 := time.Now()
	if err := p.a.SendNew(ctx, id, wav, nil); err != nil {
		return 0, err
	}
	n, err := nextNotify(p.b, id)
	if err != nil {
		return 0, err
	}
	if _, err := p.b.Fetch(ctx, n); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	return d, p.b.Played(ctx, id)
}

func measureHub(hubBin, dir string, pairs int, wav []byte, duration time.Duration) (Result, error) {
	srv, err := newHubServer(hubBin, dir, "", benchLimits)
	if err != nil {
		return Result{}, err
	}
	defer srv.stop()
	cmd := srv.cmd
	ps, hangUp, err := dialPairs(srv.data, dir, pairs)
	defer hangUp()
	if err != nil {
		return Result{}, err
	}
	c0 := markCPU(cmd.Process.Pid)
	lat, err := closedLoop(pairs, duration, func(i int) (time.Duration, error) { return roundTrip(ps[i], wav) })
	if err != nil {
		return Result{}, err
	}
	c1 := markCPU(cmd.Process.Pid)
	if c1.err != nil {
		return Result{}, c1.err
	}
	return result(fmt.Sprintf("hub: %d pair(s), toy→hub→toy", pairs), lat, len(wav), duration, c1.since(c0)), nil
}

// closedLoop runs one goroutine per pair, each repeating round (which
// sends one message and returns its latency) until the measuring window,
// after a one-second warm-up, ends. It returns the latencies of the rounds
// that started and ended inside the window.
func closedLoop(pairs int, duration time.Duration, round func(pair int) (time.Duration, error)) ([]time.Duration, error) {
	var (
		mu     sync.Mutex
		lat    []time.Duration
		errs   []error
		wg     sync.WaitGroup
		warmup = time.Now().Add(time.Second)
		stop   = warmup.Add(duration)
	)
	for i := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				t0 := time.Now()
				d, err := round(i)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if t0.After(warmup) && time.Now().Before(stop) {
					lat = append(lat, d)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d errors, first: %w", len(errs), errs[0])
	}
	return lat, nil
}

// result summarises a closed loop; cpu covers the warm-up too.
func result(name string, lat []time.Duration, size int, duration time.Duration, c cpuMark) Result {
	el := duration.Seconds()
	return Result{
		Name: name, Messages: len(lat),
		MsgPerSec: float64(len(lat)) / el, MBPerSec: float64(len(lat)*size) / el / 1e6,
		P50ms: percentile(lat, .5), P99ms: percentile(lat, .99),
		HubCPU: c.server.Seconds() / (el + 1), DevicesCPU: c.devices.Seconds() / (el + 1), HubPeakRSS: c.peakMB,
	}
}

// cpuMark is the CPU time a server and this process (the devices) had
// used when it was read, and the server's peak RSS then.
type cpuMark struct {
	server, devices time.Duration
	peakMB          float64
	err             error
}

func markCPU(server int) cpuMark {
	var m cpuMark
	m.peakMB, m.server, m.err = procStats(server)
	if m.err == nil {
		_, m.devices, m.err = procStats(os.Getpid())
	}
	return m
}

// since is what was used from m0 to m, with m's peak.
func (m cpuMark) since(m0 cpuMark) cpuMark {
	return cpuMark{server: m.server - m0.server, devices: m.devices - m0.devices, peakMB: m.peakMB}
}
func nextNotify(c *devices.Client, id wire.MessageID) (wire.Notify, error) {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case n := <-c.Notifications():
			if n.ID == id {
				return n, nil
			}
		case <-timeout:
			return wire.Notify{}, fmt.Errorf("no notification for %s", id)
		}
	}
}
