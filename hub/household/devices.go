package household

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// Device is a toy, a family device, or an account's device.
type Device struct {
	ID       string
	Name     string
	Kind     string
	Created  time.Time
	LastSeen time.Time
	Revoked  bool
	Online   bool
}

func (s *Service) view(d store.Device) Device {
	return Device{ID: d.ID, Name: d.Name, Kind: string(d.Kind), Created: d.CreatedAt, LastSeen: d.LastSeen,
		Revoked: d.Revoked(), Online: s.d.Connections.Online(d.ID)}
}

// Devices lists every device.
func (s *Service) Devices(ctx context.Context) ([]Device, error) {
	ds, err := s.st.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, s.view(d))
	}
	return out, nil
}

// DeviceByName finds a device by the name the family gave it.
func (s *Service) DeviceByName(ctx context.Context, name string) (Device, error) {
	d, err := s.st.DeviceByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return Device{}, refuseErr(err, "no device is called %q", name)
	}
	if err != nil {
		return Device{}, err
	}
	return s.view(d), nil
}

// device finds a device by ID; one that does not exist is a refusal.
func (s *Service) device(ctx context.Context, id string) (store.Device, error) {
	d, err := s.st.Device(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, refuseErr(err, "that device is not there any more")
	}
	return d, err
}

// Added is a device the console added: what its bundle is made of.
type Added struct {
	Device        Device
	CertPEM       string
	CAPEM         string
	CAFingerprint string
	Hub           []string // the broker's addresses, in order
}

// AddDevice enrolls a device for a certificate request made beside the
// hub (the private key never reaches it): a toy without pairing, or a
// family device.
func (s *Service) AddDevice(ctx context.Context, by Actor, name, kind, csrPEM string) (Added, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return Added{}, err
	}
	k, err := store.ParseKind(kind)
	if err != nil {
		return Added{}, refuseErr(err, "%s", strings.TrimPrefix(err.Error(), "store: "))
	}
	if err := store.CheckName(name); err != nil {
		return Added{}, refuseErr(err, "device name: %v", err)
	}
	csr, err := certs.ParseCSR([]byte(csrPEM))
	if err != nil {
		return Added{}, refuseErr(err, "%v", err)
	}
	id := wire.NewDeviceID()
	iss, err := s.d.Issuer.Issue(csr.PublicKey, id)
	if err != nil {
		return Added{}, err
	}
	d, err := s.st.AddDevice(ctx, store.NewDevice{ID: id, Name: name, Kind: k, CertSerial: iss.Serial, CertExpiry: iss.Cert.NotAfter})
	if errors.Is(err, store.ErrExists) {
		return Added{}, refuseErr(err, "a device with that name already exists; choose another name")
	}
	if err != nil {
		return Added{}, err
	}
	s.log.Info("Device added", "device", id, "kind", k, "serial", iss.Serial, "not_after", iss.Cert.NotAfter.UTC().Format(time.RFC3339))
	s.audit(by, store.EvDeviceAdded, id, string(k)+", certificate "+iss.Serial)
	if k == store.KindToy {
		s.linkParents(ctx, id)
	}
	s.changed(id)
	ca := s.d.Issuer.CA()
	return Added{Device: s.view(d), CertPEM: string(iss.PEM), CAPEM: string(ca.PEM), CAFingerprint: ca.Fingerprint(),
		Hub: s.d.Addresses.MQTT()}, nil
}

// Enrolled is what the household does once a device is in through the
// enrollment endpoint (a toy that paired, a device that joined with an
// invite, linked to these devices): a toy becomes the parents' contact,
// and the pages and the self-check hear of it.
func (s *Service) Enrolled(ctx context.Context, device string, kind store.Kind, linked []string) {
	if kind == store.KindToy {
		s.linkParents(ctx, device)
	}
	s.changed(append([]string{device}, linked...)...)
}

// linkParents links a toy to the parents' accounts, so that it can send
// to them and they to it.
func (s *Service) linkParents(ctx context.Context, toy string) {
	users, err := s.st.Users(ctx)
	if err != nil {
		s.log.Error("Parents not linked", "device", toy, "error", err)
		return
	}
	for _, u := range users {
		if (u.Role == store.RoleOwner || u.Role == store.RoleParent) && u.DeviceID != "" {
			if err := s.st.Link(ctx, toy, u.DeviceID); err != nil {
				s.log.Error("Parent not linked", "device", toy, "user", u.ID, "error", err)
			}
		}
	}
}

// Pair opens a pairing window for the toy whose label carries code; it
// will be called name. The toy has until the time returned.
func (s *Service) Pair(ctx context.Context, by Actor, code, name string) (time.Time, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return time.Time{}, err
	}
	c, err := wire.ParsePairingCode(strings.TrimSpace(code))
	if err != nil {
		return time.Time{}, refuseErr(err, "that is not the code on a toy's label. Check each letter and number against the label, or take a photo of its QR code")
	}
	if err := store.CheckName(name); err != nil {
		return time.Time{}, refuseErr(err, "toy name: %v", err)
	}
	if used, err := s.st.PairingCodeUsed(ctx, string(c)); err != nil {
		return time.Time{}, err
	} else if used {
		return time.Time{}, refuse("this code has already paired a toy; a label's code works once")
	}
	if _, err := s.st.DeviceByName(ctx, name); err == nil {
		return time.Time{}, refuse("a device with that name already exists; choose another name")
	}
	until, err := s.d.Pairing.Open(c, name)
	if err != nil {
		return time.Time{}, refuseErr(err, "%v", err)
	}
	s.audit(by, store.EvPairOpened, "", "window "+s.d.Pairing.Life().String())
	s.d.Checks.ConfigChanged()
	return until, nil
}

// PairingState says what became of the pairing of the toy to be called
// name: "waiting" until the time given, "paired", "expired", or "" when
// no pairing was started for that name.
func (s *Service) PairingState(name string) (string, time.Time) { return s.d.Pairing.State(name) }

// Rename renames a device.
func (s *Service) Rename(ctx context.Context, by Actor, id, name string) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	if _, err := s.device(ctx, id); err != nil {
		return err
	}
	if err := store.CheckName(name); err != nil {
		return refuseErr(err, "that name cannot be used: %v", err)
	}
	err := s.st.RenameDevice(ctx, id, name)
	switch {
	case errors.Is(err, store.ErrExists):
		return refuseErr(err, "another toy or person already has that name")
	case errors.Is(err, store.ErrNotFound):
		return refuseErr(err, "that device is not there any more")
	case err != nil:
		return err
	}
	s.audit(by, store.EvDeviceRenamed, id, "")
	s.d.Live.Publish(id)
	return nil
}

// Revoke revokes a device, which may then never connect again, and drops
// its connection at once.
func (s *Service) Revoke(ctx context.Context, by Actor, id string) (Device, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return Device{}, err
	}
	if _, err := s.device(ctx, id); err != nil {
		return Device{}, err
	}
	if err := s.st.RevokeDevice(ctx, id); err != nil {
		return Device{}, err
	}
	dropped := s.d.Connections.Disconnect(id)
	s.log.Info("Device revoked", "device", id, "disconnected", dropped)
	s.audit(by, store.EvDeviceRevoked, id, "")
	s.changed(id)
	d, err := s.st.Device(ctx, id)
	return s.view(d), err
}

// Remove removes a device for good, keeping its messages (without its
// name) or deleting them; an account's device takes its account with it.
func (s *Service) Remove(ctx context.Context, by Actor, id string, keepMessages bool) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	d, err := s.device(ctx, id)
	if err != nil {
		return err
	}
	if d.Account != "" {
		if err := s.st.DeleteUser(ctx, d.Account); err != nil {
			return err
		}
	}
	if err := s.st.RemoveDevice(ctx, id, keepMessages); err != nil {
		return err
	}
	s.d.Connections.Disconnect(id)
	s.log.Info("Device removed", "device", id, "kept_messages", keepMessages)
	s.audit(by, store.EvDeviceRemoved, id, "messages "+map[bool]string{true: "kept", false: "deleted"}[keepMessages])
	s.changed(id)
	return nil
}

// Status describes the running hub.
type Status struct {
	Version       string
	Broker        string   // the address the broker is bound to
	Hub           []string // the broker's addresses, as devices are told
	CAFingerprint string
	CACode        string // the CA's short code (certs.Code)
	Devices       int
	Online        int
	Schema        int
}

// CACode is the household CA's short code (certs.Code), which a person
// compares between the console and the page that explains how to trust
// the hub.
func (s *Service) CACode() string { return s.d.Issuer.CA().Code() }

// Status describes the running hub.
func (s *Service) Status(ctx context.Context) (Status, error) {
	ds, err := s.st.Devices(ctx)
	if err != nil {
		return Status{}, err
	}
	online := 0
	for _, d := range ds {
		if s.d.Connections.Online(d.ID) {
			online++
		}
	}
	return Status{Version: s.cfg.Version, Broker: s.d.Addresses.Broker(), Hub: s.d.Addresses.MQTT(),
		CAFingerprint: s.d.Issuer.CA().Fingerprint(), CACode: s.d.Issuer.CA().Code(), Devices: len(ds), Online: online, Schema: store.SchemaVersion()}, nil
}
