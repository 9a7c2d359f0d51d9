package household

import (
	"context"
	"fmt"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/remote"
	"github.com/toyhub/toyhub/store"
)

// Remote access: one port, opened by the hub on request, where nothing is
// served without a household certificate but redeeming an open invite.

// RemoteStatus is remote access as a parent sees it.
func (s *Service) RemoteStatus(ctx context.Context, by Actor) (remote.Status, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return remote.Status{}, err
	}
	return s.d.Remote.Status(), nil
}

// EnableRemote turns remote access on: the hub answers on port from
// anywhere, and, with mapPort, asks the home router to forward it. host
// is how the Internet reaches the router (a dynamic-DNS name, or a fixed
// address); it is checked by its spelling, with no DNS look-up.
func (s *Service) EnableRemote(ctx context.Context, by Actor, host string, port int, mapPort bool) (remote.Status, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return remote.Status{}, err
	}
	if port == 0 {
		port = remote.DefaultPort
	}
	st, err := s.d.Remote.Apply(ctx, remote.Settings{Enabled: true, Host: host, Port: port, Map: mapPort})
	if err != nil {
		return st, refuseErr(err, "%v", err)
	}
	detail := fmt.Sprintf("port %d", port)
	if !mapPort {
		detail += ", forwarded by hand"
	}
	s.audit(by, store.EvRemoteEnabled, "", detail)
	s.log.Info("Remote access turned on", "port", port, "map", mapPort)
	s.d.Checks.ConfigChanged()
	s.changed()
	if !s.d.Issuer.CA().Scope().Permits(host) {
		// The household CA vouches for the hub's own names only; it is
		// re-issued for this one as the hub starts again.
		st.Problem = "The hub starts again, to vouch for " + host + " too: the page reconnects by itself in a few seconds."
		s.log.Info("Restarting, to vouch for the remote name")
		time.AfterFunc(500*time.Millisecond, s.d.Stopper.Restart)
	}
	return st, nil
}

// DisableRemote turns remote access off: the port closes and the router
// forgets the mapping.
func (s *Service) DisableRemote(ctx context.Context, by Actor) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	cur := s.d.Remote.Status().Settings
	cur.Enabled = false
	if _, err := s.d.Remote.Apply(ctx, cur); err != nil {
		return err
	}
	s.audit(by, store.EvRemoteDisabled, "", "")
	s.log.Info("Remote access turned off")
	s.d.Checks.ConfigChanged()
	s.changed()
	return nil
}

// BrowserCertLife is how long a browser's certificate lasts: as long as
// a device's. The web app offers the renewed one once two thirds of it
// have passed.
const BrowserCertLife = certs.MaxClientValidity

// BrowserCertFile is a browser's certificate with its key, to download
// once; its passphrase is shown once.
type BrowserCertFile struct {
	Serial     string
	NotAfter   time.Time
	P12        []byte
	Passphrase string
}

// IssueBrowserCert makes a certificate for a browser of the actor's own
// account (a new one, another browser's, or the renewal of this one's).
func (s *Service) IssueBrowserCert(ctx context.Context, by Actor) (BrowserCertFile, error) {
	u, err := s.allow(ctx, by, member)
	if err != nil {
		return BrowserCertFile{}, err
	}
	if u.ID == "" {
		return BrowserCertFile{}, refuse("a browser's certificate is for a person's account")
	}
	bc, err := s.d.Issuer.CA().IssueBrowser(u.ID, BrowserCertLife, s.cfg.Now())
	if err != nil {
		return BrowserCertFile{}, err
	}
	if err := s.st.AddBrowserCert(ctx, u.ID, bc.Serial, bc.Cert.NotAfter); err != nil {
		return BrowserCertFile{}, err
	}
	s.audit(by, store.EvBrowserCertIssued, u.DeviceID, bc.Serial)
	s.log.Info("Browser certificate issued", "user", u.ID, "serial", bc.Serial)
	s.changed()
	return BrowserCertFile{Serial: bc.Serial, NotAfter: bc.Cert.NotAfter, P12: bc.P12, Passphrase: bc.Passphrase}, nil
}

// RevokeBrowserCert withdraws a browser's certificate: its account's
// sessions end at once, and its next handshake is refused.
func (s *Service) RevokeBrowserCert(ctx context.Context, by Actor, serial string) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	user, err := s.st.RevokeBrowserCert(ctx, serial)
	if err != nil {
		return refuseErr(err, "no browser has that certificate")
	}
	if err := s.st.EndSessions(ctx, user); err != nil {
		return err
	}
	device := ""
	if u, err := s.st.User(ctx, user); err == nil {
		device = u.DeviceID
	}
	s.audit(by, store.EvBrowserCertRevoked, device, serial)
	s.log.Info("Browser certificate revoked", "user", user, "serial", serial)
	s.changed()
	return nil
}
