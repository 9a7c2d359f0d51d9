package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// StartResult is what a console command costs to start: 'toyhub
// version', which does nothing but print, beside 'toyhub status', which
// asks the running hub over its control socket.
type StartResult struct {
	Command string  `json:"command"`
	Runs    int     `json:"runs"`
	P50MS   float64 `json:"p50_ms"`
	MaxRSS  float64 `json:"max_rss_mb"` // the largest of the runs
	Ratio   float64 `json:"ratio"`      // P50 beside version's
}

// starts runs each command runs times, interleaved so that the machine's
// noise falls on both alike.
func starts(o options, work string, runs int) ([]StartResult, error) {
	srv, err := newHubServer(o.hubBin, filepath.Join(work, "start"), "", nil)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	// version is given a data directory with no hub, so that it only prints.
	cmds := [][]string{{"version", "--data", filepath.Join(work, "nowhere")}, {"status", "--data", srv.data}}
	times := make([][]time.Duration, len(cmds))
	rss := make([]int64, len(cmds))
	for range runs {
		for i, args := range cmds {
			cmd := exec.Command(o.hubBin, args...)
			start := time.Now()
			out, err := cmd.Output()
			if err != nil {
				return nil, fmt.Errorf("toyhub %s: %w: %s", args[0], err, out)
			}
			times[i] = append(times[i], time.Since(start))
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rss[i] = max(rss[i], ru.Maxrss)
			}
		}
	}
	var out []StartResult
	for i, args := range cmds {
		slices.Sort(times[i])
		p50 := times[i][len(times[i])/2]
		out = append(out, StartResult{Command: "toyhub " + args[0], Runs: runs, P50MS: float64(p50.Microseconds()) / 1000, MaxRSS: float64(rss[i]) / 1024})
	}
	for i := range out {
		out[i].Ratio = out[i].P50MS / out[0].P50MS
	}
	return out, nil
}

func printStarts(rs []StartResult) {
	fmt.Fprintln(os.Stdout, "\nstart: a console command, median of interleaved runs")
	fmt.Printf("%-16s %6s %9s %10s %7s\n", "command", "runs", "p50 ms", "max RSS MB", "ratio")
	for _, r := range rs {
		fmt.Printf("%-16s %6d %9.1f %10.1f %6.2f×\n", r.Command, r.Runs, r.P50MS, r.MaxRSS, r.Ratio)
	}
}
