package health

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notify sends a state to systemd when it started the hub as Type=notify
// (NOTIFY_SOCKET set); otherwise it does nothing. It is the protocol of
// sd_notify(3), written here without cgo.
func Notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// WatchdogInterval is half of the watchdog timeout systemd set for this
// process (WATCHDOG_USEC, for WATCHDOG_PID if given), or 0.
func WatchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// Watchdog pings systemd every interval while healthy says the hub is
// well, until ctx ends; a hub whose store or broker hangs stops pinging,
// and systemd restarts it.
func Watchdog(ctx context.Context, every time.Duration, healthy func(context.Context) error, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := healthy(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("Unhealthy: not pinging the watchdog", "error", err)
		} else if err := Notify("WATCHDOG=1"); err != nil {
			log.Warn("Watchdog not pinged", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
