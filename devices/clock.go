package devices

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ClockError is a TLS failure that a wrong date on the hub or on the
// device explains. It is retried, not taken as a refusal: it ends when the
// date is set.
type ClockError struct {
	Err  error
	Hint string
}

func (e *ClockError) Error() string { return e.Err.Error() + ": " + e.Hint }
func (e *ClockError) Unwrap() error { return e.Err }

// clockHint explains the TLS failures a wrong date causes, on the hub or
// on the device: a certificate that is "expired" may only be judged by a
// clock that jumped. A Raspberry Pi hub, and many toys, have no
// battery-backed clock.
func clockHint(err error, now time.Time) error {
	if err == nil {
		return nil
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired || strings.Contains(err.Error(), "certificate has expired or is not yet valid") {
		return &ClockError{err, fmt.Sprintf("the hub's certificate is not valid at this device's time (%s); the date on the hub or on this device is wrong",
			now.UTC().Format(time.RFC3339))}
	}
	// The hub judged this device's certificate by its own clock. Go's TLS
	// hands the alert over only as text.
	if strings.Contains(err.Error(), "tls: expired certificate") {
		return &ClockError{err, "the hub finds this device's certificate expired or not yet valid; check the date on the hub and on this device, and if both are right, pair the device again"}
	}
	return err
}
