package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web"
	"github.com/toyhub/toyhub/web/password"
)

// ErrWiped is what Run returns after "delete everything": the hub stopped
// and its data directory is empty. 'toyhub serve' exits with status 75 so
// that systemd starts a new, empty hub, with a new setup link.
var ErrWiped = errors.New("hub: everything was deleted")

// WipeArgs confirm "delete everything" with the owner's password.
type WipeArgs struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// checkOwner verifies the owner's password.
func (h *Hub) checkOwner(ctx context.Context, login, pw string) (store.User, error) {
	u, err := h.store.UserByLogin(ctx, login)
	if err == nil && u.Role == store.RoleOwner {
		if ok, verr := password.Verify(pw, u.PasswordHash); verr == nil && ok {
			return u, nil
		}
	}
	return store.User{}, errors.New("that is not the owner's name and password")
}

// requestWipe stops the hub and has Run delete everything once it has.
func (h *Hub) requestWipe(by web.Actor) {
	h.log.Warn("Deleting everything, as the owner asked", "user", by.User, "remote", by.Remote)
	h.wipe.Store(true)
	h.stopOnce.Do(func() { close(h.stopReq) })
}

// destroy deletes the household: the database and its copies, the master
// key, the CA and the server certificate. The key files are overwritten
// before they are removed: without the master key, any copy of the
// database left on the card is unreadable.
func (h *Hub) destroy() error {
	var errs []error
	for _, k := range []string{h.cfg.Dir().MasterKey(), h.cfg.Dir().CAKey(), h.cfg.Dir().ServerKey()} {
		if st, err := os.Stat(k); err == nil {
			if f, err := os.OpenFile(k, os.O_WRONLY, 0); err == nil {
				f.Write(make([]byte, st.Size()))
				f.Sync()
				f.Close()
			}
		}
	}
	entries, err := os.ReadDir(h.cfg.DataDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "hub.lock" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(h.cfg.DataDir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(h.cfg.Dir().MasterKey()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err) // when kept outside the data directory
	}
	if len(errs) > 0 {
		return fmt.Errorf("hub: delete everything: %w", errors.Join(errs...))
	}
	return nil
}
