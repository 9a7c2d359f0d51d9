package hub

import (
	"time"

	"github.com/toyhub/toyhub/hub/archive"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/store"
)

// checkClock warns when the hub's clock is earlier than its own records:
// a Raspberry Pi has no battery-backed clock, and this hub asks no time
// server beyond the LAN. Until the date is right, toys' certificates look
// not yet valid and every toy is refused.
func (h *Hub) checkClock() {
	now := h.cfg.Now()
	last, err := h.store.LastRecorded(h.ctx)
	if err != nil {
		h.log.Warn("Clock not checked", "error", err)
	}
	seen := h.ca.Cert.NotBefore
	if last.After(seen) {
		seen = last
	}
	if now.Before(seen.Add(-time.Hour)) {
		h.log.Error("Clock is behind", "now", now.UTC().Format(time.RFC3339), "latest_record", seen.UTC().Format(time.RFC3339),
			"fix", "if today is not the date in now, set it (timedatectl set-time, or the router's time server): until then toys cannot connect; if it is, the clock was ahead when the newer records were made")
		h.store.Audit(store.Event{Kind: store.EvClockBehind, Detail: "clock " + now.UTC().Format(time.RFC3339) + ", latest record " + seen.UTC().Format(time.RFC3339)})
	}
}

// maintain renews the server certificate and takes the daily backup,
// looking hourly.
func (h *Hub) maintain() {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		h.renewCerts()
		if h.cfg.BackupDir != "" {
			if at, ok := archive.LastBackup(h.ctx, h.store); !ok || h.cfg.Now().Sub(at) >= h.cfg.BackupEvery {
				_ = h.service.DailyBackup(h.ctx, archive.DailyOptions{Dir: h.cfg.BackupDir, PassphraseFile: h.cfg.BackupPassphraseFile,
					Keep: h.cfg.BackupKeep, Version: h.cfg.Version, Now: h.cfg.Now})
			}
		}
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// files are the hub's files whose protection the self-check checks.
func (h *Hub) files() audit.Files {
	d := h.cfg.Dir()
	return audit.Files{DataDir: d.Path, KeysDir: d.Keys(), Keys: []string{d.MasterKey(), d.CAKey(), d.ServerKey()},
		CAKey: d.CAKey(), MasterKey: d.MasterKey(), Backups: h.cfg.BackupDirs, Reserve: h.cfg.MinFreeBytes}
}
