package devices

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"path/filepath"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// RenewalDue is when a certificate should be renewed: after two thirds of
// its life.
func RenewalDue(b *certs.Bundle) time.Time {
	leaf := b.Cert.Leaf
	return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
}

// Renew asks the hub, over this authenticated connection, for a new
// certificate for the device's key, checks it, and writes it into the
// bundle. It returns the reloaded bundle; this connection keeps using the
// old certificate, the next one uses the new.
func (c *Client) Renew(ctx context.Context) (*certs.Bundle, error) {
	key, ok := c.b.Cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("devices: the bundle's key is not ECDSA")
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		return nil, err
	}
	for {
		if err := c.publish(ctx, wire.UpRenew, wire.Encode(wire.Renew{CSR: string(csr)})); err != nil {
			return nil, err
		}
		select {
		case pemCert := <-c.certs:
			cert, err := certs.ParseCert([]byte(pemCert))
			if err != nil {
				return nil, err
			}
			if err := checkIssued(cert, c.b.CA, c.ID(), &key.PublicKey); err != nil {
				return nil, err
			}
			if err := certs.WriteFileAtomic(filepath.Join(c.b.Dir, certs.BundleCert), []byte(pemCert), 0o644); err != nil {
				return nil, err
			}
			return certs.LoadBundle(c.b.Dir)
		case a := <-c.renewals:
			return nil, hubError(a)
		case <-time.After(c.opt.Timeout):
		case <-c.lost:
			return nil, ErrConnectionLost
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
