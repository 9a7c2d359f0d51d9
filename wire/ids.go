package wire

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"fmt"
)

// deviceIDEncoding is RFC 4648 base32 in lower case without padding: safe in
// topics, file names and MQTT client IDs.
var deviceIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DeviceIDLen is the length of a device ID in characters.
const DeviceIDLen = 26

// NewDeviceID returns a new random device ID of 128 bits.
func NewDeviceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (Go ≥ 1.24 panics instead)
	return deviceIDEncoding.EncodeToString(b[:])
}

// ValidDeviceID reports whether s has the form of a device ID.
func ValidDeviceID(s string) bool {
	if len(s) != DeviceIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// MessageID is a sender-chosen 128-bit message identifier.
type MessageID [16]byte

// NewMessageID returns a random message ID.
func NewMessageID() MessageID {
	var id MessageID
	_, _ = rand.Read(id[:])
	return id
}

// String returns the 32-character lower-case hex form.
func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// ParseMessageID parses the 32-character lower-case hex form.
func ParseMessageID(s string) (MessageID, error) {
	var id MessageID
	if len(s) != 32 {
		return id, fmt.Errorf("wire: message ID %q: want 32 hex characters", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return id, fmt.Errorf("wire: message ID %q: want lower-case hex", s)
		}
	}
	_, err := hex.Decode(id[:], []byte(s))
	return id, err
}

// MarshalText implements encoding.TextMarshaler.
func (id MessageID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *MessageID) UnmarshalText(b []byte) error {
	v, err := ParseMessageID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
