package main

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toyhub/toyhub/hub/internal/webflood"
)

// PeakBoundMB is the most the hub may hold while two people log in and 25
// toys send at once: the MemoryHigh of packaging/toyhub.service, above
// which the kernel starts to reclaim from the hub. By design it cannot be
// passed for long: Argon2id runs two at a time (46 MiB each), and the
// collector works harder above the unit's GOMEMLIMIT of 192 MiB.
// docs/performance.md says why a Pi Zero 2 W affords it.
const PeakBoundMB = 256

// PeakResult is the hub's peak memory with the heaviest things a family
// does at once: two logins (Argon2id, 46 MiB each) while 25 pairs of toys
// send 10-second messages in a closed loop.
type PeakResult struct {
	Pairs     int     `json:"pairs"`
	Messages  int     `json:"messages"`
	Logins    int     `json:"logins"`
	IdleMB    float64 `json:"idle_rss_mb"` // before, with the toys connected
	PeakMB    float64 `json:"peak_rss_mb"` // VmHWM over the run
	BoundMB   float64 `json:"bound_mb"`
	WithinMax bool    `json:"within_bound"`
}

func peak(o options, work string, wav []byte) (PeakResult, error) {
	const pairs, browsers = 25, 2
	dir := filepath.Join(work, "peak")
	web, err := freeAddr()
	if err != nil {
		return PeakResult{}, err
	}
	srv, err := newHubServer(o.hubBin, dir, web, append([]string{"GOMEMLIMIT=192MiB"}, benchLimits...))
	if err != nil {
		return PeakResult{}, err
	}
	defer srv.stop()
	target, err := benchTarget(srv)
	if err != nil {
		return PeakResult{}, err
	}
	var clients []*webflood.Client
	for i := range browsers {
		c := webflood.NewClient(target, fmt.Sprintf("127.0.0.%d", 21+i))
		defer c.Close()
		clients = append(clients, c)
	}
	if err := setupOwner(srv, clients[0]); err != nil {
		return PeakResult{}, err
	}
	ps, hangUp, err := dialPairs(srv.data, dir, pairs)
	defer hangUp()
	if err != nil {
		return PeakResult{}, err
	}
	idle, err := procRSS(srv.pid())
	if err != nil {
		return PeakResult{}, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var logins atomic.Int64
	for _, c := range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Login("Mum", ownerPassword); err == nil {
					logins.Add(1)
				}
			}
		})
	}
	lat, err := closedLoop(pairs, o.duration, func(i int) (time.Duration, error) { return roundTrip(ps[i], wav) })
	close(stop)
	wg.Wait()
	if err != nil {
		return PeakResult{}, err
	}
	hwm, _, err := procStats(srv.pid())
	if err != nil {
		return PeakResult{}, err
	}
	return PeakResult{Pairs: pairs, Messages: len(lat), Logins: int(logins.Load()), IdleMB: idle, PeakMB: hwm, BoundMB: PeakBoundMB, WithinMax: hwm <= PeakBoundMB}, nil
}

func printPeak(r PeakResult) {
	verdict := "within"
	if !r.WithinMax {
		verdict = "ABOVE"
	}
	fmt.Printf("\npeak: %d pairs sending (%d messages) while %d logins ran, two at a time: RSS %.1f MB idle, peak %.1f MB, %s the bound of %.0f MB\n",
		r.Pairs, r.Messages, r.Logins, r.IdleMB, r.PeakMB, verdict, r.BoundMB)
}
