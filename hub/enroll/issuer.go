package enroll

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/store"
)

// Issuer issues device certificates from the household CA: to a toy that
// pairs, a device that joins, a device the console adds, a connected
// device that renews, and the self-check's throw-away probe. It is safe
// for concurrent use.
type Issuer struct {
	ca       *certs.CA
	st       *store.Store
	validity time.Duration // of a device's certificate, at most 90 days
	now      func() time.Time
	log      *slog.Logger
}

// NewIssuer issues certificates valid for validity.
func NewIssuer(ca *certs.CA, st *store.Store, validity time.Duration, now func() time.Time, log *slog.Logger) *Issuer {
	return &Issuer{ca: ca, st: st, validity: validity, now: now, log: log}
}

// Issue issues a device certificate for a key.
func (i *Issuer) Issue(pub crypto.PublicKey, device string) (certs.Issued, error) {
	return i.IssueFor(pub, device, i.validity)
}

// IssueFor issues a device certificate valid for life.
func (i *Issuer) IssueFor(pub crypto.PublicKey, device string, life time.Duration) (certs.Issued, error) {
	iss, err := i.ca.IssueClient(pub, device, life, i.now())
	if err != nil {
		return iss, fmt.Errorf("enroll: issue: %w", err)
	}
	return iss, nil
}

// Renew issues a new certificate to a connected device for the key it is
// connected with (connected): the connection is the device's
// authentication, so a request for any other key is refused.
func (i *Issuer) Renew(ctx context.Context, device string, connected any, csrPEM string) (string, error) {
	csr, err := certs.ParseCSR([]byte(csrPEM))
	if err != nil {
		return "", err
	}
	current, ok := connected.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return "", errors.New("no client certificate")
	}
	if !current.Equal(csr.PublicKey) {
		return "", errors.New("the request must be for the key this device is connected with")
	}
	iss, err := i.Issue(csr.PublicKey, device)
	if err != nil {
		return "", err
	}
	if err := i.st.AddCertificate(ctx, device, iss.Serial, iss.Cert.NotAfter); err != nil {
		return "", err
	}
	i.log.Info("Certificate renewed", "device", device, "serial", iss.Serial, "not_after", iss.Cert.NotAfter.UTC().Format(time.RFC3339))
	i.st.Audit(store.Event{Kind: store.EvCertRenewed, Device: device, Detail: iss.Serial})
	return string(iss.PEM), nil
}

// CA is the household CA's certificate, in PEM, as devices pin it.
func (i *Issuer) CA() *certs.CA { return i.ca }
