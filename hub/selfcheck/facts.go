package selfcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
	"github.com/toyhub/toyhub/wire"
)

// facts is the hub as the audit sees it.
type facts struct{ c *Checker }

var _ audit.Facts = facts{}

func (f facts) Listeners() []audit.Listener { return f.c.d.Listeners() }

func (f facts) ServerCAs() *x509.CertPool { return f.c.d.CAs }

func (f facts) WebRoutes() []audit.Route { return f.c.d.WebRoutes }

func (f facts) Files() audit.Files {
	fs := f.c.d.Files
	fs.Database = f.c.d.Store.Files() // as they exist now
	return fs
}

func (f facts) Secrets() ([][]byte, error) { return store.MasterKeyForms(f.c.d.Files.MasterKey) }

func (f facts) Names(ctx context.Context) ([]string, error) { return f.c.d.Store.Names(ctx) }

// NewProbe enrolls a throw-away toy straight in the store (no links, no
// pairing, nothing announced), with a certificate good for ten minutes.
func (f facts) NewProbe(ctx context.Context) (audit.Probe, error) {
	st, conns := f.c.d.Store, f.c.d.Connections
	key, err := certs.NewKey()
	if err != nil {
		return audit.Probe{}, err
	}
	id := wire.NewDeviceID()
	iss, err := f.c.d.Issuer.IssueFor(key.Public(), id, 10*time.Minute)
	if err != nil {
		return audit.Probe{}, err
	}
	if _, err := st.AddDevice(ctx, store.NewDevice{ID: id, Name: "security check " + id[:8], Kind: store.KindToy,
		CertSerial: iss.Serial, CertExpiry: iss.Cert.NotAfter}); err != nil {
		return audit.Probe{}, err
	}
	return audit.Probe{
		Cert: tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key, Leaf: iss.Cert},
		ID:   id,
		Revoke: func(ctx context.Context) error {
			if err := st.RevokeDevice(ctx, id); err != nil {
				return err
			}
			conns.Disconnect(id)
			return nil
		},
		Remove: func(ctx context.Context) error {
			conns.Disconnect(id)
			return st.DeleteDevice(ctx, id)
		},
	}, nil
}

func (f facts) Identity(ctx context.Context) (audit.Identity, error) {
	st := f.c.d.Store
	var id audit.Identity
	certs, err := st.CurrentCertificates(ctx)
	if err != nil {
		return id, err
	}
	ds, err := st.Devices(ctx)
	if err != nil {
		return id, err
	}
	accountDevice := map[string]bool{}
	for _, d := range ds {
		if d.Revoked() {
			continue
		}
		if d.Account != "" {
			accountDevice[d.ID] = true
			continue
		}
		id.Devices = append(id.Devices, audit.Device{ID: d.ID, Created: d.CreatedAt, LastSeen: d.LastSeen})
	}
	for _, c := range certs {
		if !accountDevice[c.Device] {
			id.Certificates = append(id.Certificates, audit.Certificate{Device: c.Device, NotAfter: c.NotAfter})
		}
	}
	invs, err := st.Invites(ctx)
	if err != nil {
		return id, err
	}
	now := f.c.cfg.Now()
	for _, i := range invs {
		if i.Open(now) {
			id.OpenInvites = append(id.OpenInvites, audit.Invite{ID: i.ID, Expires: i.Expires})
		}
	}
	users, err := st.Users(ctx)
	if err != nil {
		return id, err
	}
	for _, u := range users {
		id.Accounts = append(id.Accounts, audit.Account{ID: u.ID, Role: u.Role, HasTOTP: u.TOTPSecret != "", PolicyVersion: u.PolicyVersion})
	}
	id.PasswordPolicy = password.PolicyVersion
	day := now.Add(-24 * time.Hour)
	if id.FailedLogins, err = st.CountEvents(ctx, day, store.EvLoginFailed, store.EvLoginRefused, store.EvJoinRefused, store.EvPairRefused); err != nil {
		return id, err
	}
	id.RefusedConnections = f.c.d.Refusals.Since(day)
	return id, nil
}
