package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ExporterLabel is the TLS exporter label of RFC 9266.
const ExporterLabel = "EXPORTER-Channel-Binding"

// ExporterLen is the length of the exporter value both sides use.
const ExporterLen = 32

// Enrollment request kinds.
const (
	EnrollPair = "pair"
	EnrollJoin = "join"
)

// More error codes, for enrollment.
const (
	CodeBadProof    = "bad_proof"    // no open pairing window matches the proof
	CodeBadInvite   = "bad_invite"   // unknown, used, expired or revoked invite
	CodeRateLimited = "rate_limited" // too many failed attempts; wait
)

// EnrollRequest is what a device sends to the enrollment endpoint.
type EnrollRequest struct {
	V      int    `json:"v"`
	Kind   string `json:"kind"`
	CSR    string `json:"csr"`              // PEM
	Proof  []byte `json:"proof,omitempty"`  // pairing: ToyProof
	Secret string `json:"secret,omitempty"` // joining: the invite secret
}

// EnrollResponse is the hub's answer.
type EnrollResponse struct {
	Error    *Error   `json:"error,omitempty"`
	DeviceID string   `json:"device_id,omitempty"`
	Kind     string   `json:"kind,omitempty"`
	Cert     string   `json:"cert,omitempty"` // PEM
	CA       string   `json:"ca,omitempty"`   // PEM
	Hub      []string `json:"hub,omitempty"`  // MQTT addresses
	Proof    []byte   `json:"proof,omitempty"`
}

func proof(code PairingCode, role string, exporter, bound []byte) []byte {
	m := hmac.New(sha256.New, code.key())
	m.Write([]byte("toyhub pair v1 " + role + "\x00"))
	m.Write(exporter)
	sum := sha256.Sum256(bound)
	m.Write(sum[:])
	return m.Sum(nil)
}

// ToyProof is the toy's proof of the code, bound to the TLS channel and
// its CSR (DER).
func ToyProof(code PairingCode, exporter, csrDER []byte) []byte {
	return proof(code, "toy", exporter, csrDER)
}

// HubProof is the hub's answer, bound to the TLS channel and its CA
// certificate (DER).
func HubProof(code PairingCode, exporter, caDER []byte) []byte {
	return proof(code, "hub", exporter, caDER)
}

// CheckExporter rejects an exporter value of the wrong length, so that a
// missing channel binding can never produce a valid proof.
func CheckExporter(exporter []byte) error {
	if len(exporter) != ExporterLen {
		return fmt.Errorf("wire: exporter value of %d bytes, want %d", len(exporter), ExporterLen)
	}
	for _, b := range exporter {
		if b != 0 {
			return nil
		}
	}
	return errors.New("wire: all-zero exporter value")
}
