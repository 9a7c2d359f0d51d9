package devices

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// ErrNotOurHub means the other end could not prove it is the household's
// hub: the wrong hub, or someone in between. Nothing it sent is used.
var ErrNotOurHub = errors.New("devices: the hub could not prove it knows the code (not this household's hub, or someone in between)")

// Enrolled is what enrollment yields: everything for a bundle but the key.
type Enrolled struct {
	Info    certs.DeviceInfo
	CAPEM   []byte
	CertPEM []byte
}

// Pair enrolls a toy with the code on its label at the hub's enrollment
// endpoint addr. The toy trusts nothing from the hub until the hub has
// proved, over this TLS connection, that it knows the code and which CA
// it speaks for.
func Pair(ctx context.Context, addr string, code wire.PairingCode, key *ecdsa.PrivateKey) (Enrolled, error) {
	csrPEM, err := certs.NewCSR(key)
	if err != nil {
		return Enrolled{}, err
	}
	csr, err := certs.ParseCSR(csrPEM)
	if err != nil {
		return Enrolled{}, err
	}
	c, err := dialEnroll(ctx, addr, certs.PairingTLS())
	if err != nil {
		return Enrolled{}, err
	}
	defer c.Close()
	st := c.ConnectionState()
	exporter, err := st.ExportKeyingMaterial(wire.ExporterLabel, nil, wire.ExporterLen)
	if err != nil {
		return Enrolled{}, fmt.Errorf("devices: channel binding: %w", err)
	}
	resp, err := exchange(c, wire.EnrollRequest{V: wire.Version, Kind: wire.EnrollPair, CSR: string(csrPEM),
		Proof: wire.ToyProof(code, exporter, csr.Raw)})
	if err != nil {
		return Enrolled{}, err
	}
	ca, err := certs.ParseCert([]byte(resp.CA))
	if err != nil || !hmac.Equal(resp.Proof, wire.HubProof(code, exporter, ca.Raw)) {
		return Enrolled{}, ErrNotOurHub
	}
	if err := certs.VerifyServerChain(st.PeerCertificates, ca); err != nil {
		return Enrolled{}, fmt.Errorf("%w: %v", ErrNotOurHub, err)
	}
	return enrolled(resp, ca, &key.PublicKey)
}

// Join enrolls a family device with an invite, over TLS pinned to the CA
// key the invite names.
func Join(ctx context.Context, inv wire.Invite, key *ecdsa.PrivateKey) (Enrolled, error) {
	if time.Now().After(inv.Expires) {
		return Enrolled{}, fmt.Errorf("devices: this invite expired on %s; ask for a new one", inv.Expires.Local().Format(time.DateTime))
	}
	csrPEM, err := certs.NewCSR(key)
	if err != nil {
		return Enrolled{}, err
	}
	// Whichever of the invite's addresses answers first: the LAN ones
	// during a visit, the public one far away.
	conn, err := raceDial(ctx, inv.Hub, certs.PinnedTLS(inv.Pin), 15*time.Second)
	if err != nil {
		return Enrolled{}, fmt.Errorf("devices: no hub address of the invite answered: %w", err)
	}
	c := conn.(*tls.Conn)
	c.SetDeadline(time.Now().Add(15 * time.Second))
	resp, err := exchange(c, wire.EnrollRequest{V: wire.Version, Kind: wire.EnrollJoin, CSR: string(csrPEM), Secret: inv.Secret})
	c.Close()
	if err != nil {
		return Enrolled{}, err
	}
	ca, err := certs.ParseCert([]byte(resp.CA))
	if err != nil || certs.Pin(ca) != inv.Pin {
		return Enrolled{}, errors.New("devices: the hub answered with a CA other than the invite's")
	}
	return enrolled(resp, ca, &key.PublicKey)
}

func dialEnroll(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devices: enrollment endpoint %s: %w", addr, err)
	}
	tc := c.(*tls.Conn)
	tc.SetDeadline(time.Now().Add(15 * time.Second))
	return tc, nil
}

func exchange(c *tls.Conn, req wire.EnrollRequest) (wire.EnrollResponse, error) {
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("devices: enrollment: %w", err)
	}
	line, err := bufio.NewReaderSize(c, 64*1024).ReadSlice('\n')
	if err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("devices: enrollment: no answer: %w", err)
	}
	var resp wire.EnrollResponse
	if err := wire.Decode(line, &resp); err != nil {
		return resp, err
	}
	if resp.Error != nil {
		return resp, resp.Error
	}
	return resp, nil
}

// enrolled checks the issued certificate: from the pinned CA, for client
// authentication, for the device ID given, and for this device's key.
func enrolled(resp wire.EnrollResponse, ca *x509.Certificate, pub crypto.PublicKey) (Enrolled, error) {
	cert, err := certs.ParseCert([]byte(resp.Cert))
	if err != nil {
		return Enrolled{}, err
	}
	if err := checkIssued(cert, ca, resp.DeviceID, pub); err != nil {
		return Enrolled{}, err
	}
	return Enrolled{
		Info:  certs.DeviceInfo{DeviceID: resp.DeviceID, Kind: resp.Kind, Hub: resp.Hub, CAFingerprint: certs.Fingerprint(ca), Protocol: wire.Version},
		CAPEM: []byte(resp.CA), CertPEM: []byte(resp.Cert),
	}, nil
}

func checkIssued(cert, ca *x509.Certificate, id string, pub crypto.PublicKey) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("devices: the issued certificate does not verify: %w", err)
	}
	if !wire.ValidDeviceID(id) || cert.Subject.CommonName != id {
		return fmt.Errorf("devices: the issued certificate is for %q, not %q", cert.Subject.CommonName, id)
	}
	if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
		return errors.New("devices: the issued certificate is not for this device's key")
	}
	return nil
}

// Save writes an enrolled device's bundle: the same directory
// 'toyhub device add' writes.
func (e Enrolled) Save(dir string, key *ecdsa.PrivateKey) error {
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return err
	}
	return certs.WriteBundle(dir, e.Info, e.CAPEM, e.CertPEM, keyPEM)
}

// KeyFor returns the key in dir (from 'toy label'), or a new one. A
// directory that already holds an enrolled device is refused.
func KeyFor(dir string) (*ecdsa.PrivateKey, error) {
	if _, err := os.Stat(filepath.Join(dir, certs.BundleInfo)); err == nil {
		return nil, fmt.Errorf("%s already holds an enrolled device; choose an empty directory", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, certs.BundleKey))
	if errors.Is(err, os.ErrNotExist) {
		return certs.NewKey()
	}
	if err != nil {
		return nil, err
	}
	return certs.ParseKey(b)
}
