package hub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// ErrWiped is what Run returns after "delete everything": the hub stopped
// and its data directory is empty. 'toyhub serve' exits with status 75 so
// that systemd starts a new, empty hub, with a new setup link.
var ErrWiped = errors.New("hub: everything was deleted")

// stopper stops the hub when the console or the owner asks
// (household.Stopper).
type stopper struct {
	req     chan struct{} // closed when the hub is to stop
	once    sync.Once
	wipe    atomic.Bool // delete everything once stopped
	restart atomic.Bool // start again once stopped
}

// ErrRestart is what Run returns when the hub stopped to start again (its
// household CA must vouch for a new name): 'toyhub serve' builds a new hub
// in the same process.
var ErrRestart = errors.New("hub: restarting")

// Restart stops the hub, for it to start again.
func (s *stopper) Restart() {
	s.restart.Store(true)
	s.Stop()
}

func (s *stopper) Stop() { s.once.Do(func() { close(s.req) }) }

func (s *stopper) Wipe() {
	s.wipe.Store(true)
	s.Stop()
}

// destroy deletes the household: the database and its copies, the master
// key, the CA and the server certificate. The key files are overwritten
// before they are removed: without the master key, any copy of the
// database left on the card is unreadable.
func (h *Hub) destroy() error {
	d := h.cfg.Dir()
	var errs []error
	for _, k := range []string{d.MasterKey(), d.CAKey(), d.ServerKey()} {
		if st, err := os.Stat(k); err == nil {
			if f, err := os.OpenFile(k, os.O_WRONLY, 0); err == nil {
				f.Write(make([]byte, st.Size()))
				f.Sync()
				f.Close()
			}
		}
	}
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == filepath.Base(d.LockFile()) {
			continue
		}
		if err := os.RemoveAll(d.Join(e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(d.MasterKey()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err) // when kept outside the data directory
	}
	if len(errs) > 0 {
		return fmt.Errorf("hub: delete everything: %w", errors.Join(errs...))
	}
	return nil
}
