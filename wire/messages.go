package wire

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the protocol version carried in headers and advertised by the hub.
const Version = 1

// MaxChunk is the protocol's upper bound on a chunk's data; hubs may set a
// lower limit, and toys with little memory choose smaller chunks.
const MaxChunk = 32 * 1024

// FormatWAV is the only audio format of protocol version 1.
const FormatWAV = "wav"

// Ack statuses.
const (
	StatusAccepted  = "accepted"
	StatusStored    = "stored"
	StatusCommitted = "committed"
	StatusPlayed    = "played"
	StatusDone      = "done"
	StatusRejected  = "rejected"
	StatusCancelled = "cancelled"
)

// Ack operations, naming the request an Ack answers.
const (
	OpHeader = "header"
	OpChunk  = "chunk"
	OpFetch  = "fetch"
	OpPlayed = "played"
	OpSync   = "sync"
	OpRenew  = "renew"
	OpCancel = "cancel"
	OpHeard  = "heard"
)

// Delivery states reported to senders in a Status.
const (
	StateDelivered = "delivered"
	StatePlayed    = "played"
)

// Error codes. Devices act on the code; the message is for people.
const (
	CodeBadRequest   = "bad_request"   // malformed JSON or frame
	CodeBadHeader    = "bad_header"    // a header field is missing or out of range
	CodeTooLarge     = "too_large"     // size above the hub's limit
	CodeTooLong      = "too_long"      // duration above the hub's limit
	CodeNotWAV       = "not_wav"       // not WAV PCM 16-bit mono 8–48 kHz
	CodeNotContact   = "not_contact"   // a recipient is unknown or not linked
	CodeIDInUse      = "id_in_use"     // the message ID belongs to another message
	CodeMismatch     = "mismatch"      // header differs from the upload being resumed
	CodeUnknown      = "unknown"       // no such upload or delivery
	CodeOutOfOrder   = "out_of_order"  // chunk is not the next one; see Next
	CodeBeyondSize   = "beyond_size"   // chunk reaches past the declared size
	CodeBadChunk     = "bad_chunk"     // chunk length or offset does not fit the header
	CodeHashMismatch = "hash_mismatch" // bytes received do not match the SHA-256
	CodeLimit        = "limit"         // the sender is sending too fast or too much, or reached its daily limit
	CodeQuiet        = "quiet"         // the recipient is in its quiet hours; the message waits
	CodeStorage      = "storage"       // the hub could not store; retry later
	CodeFull         = "full"          // the hub's disk is full; retry once a parent has freed space
)

// Digest is a SHA-256 digest, hex in JSON.
type Digest [32]byte

// String returns the hex form.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("wire: sha256 must be 64 hex characters, got %d", len(b))
	}
	_, err := hex.Decode(d[:], b)
	return err
}

// Header opens or resumes an upload (up/header).
type Header struct {
	V      int       `json:"v"`
	ID     MessageID `json:"id"`
	To     []string  `json:"to,omitempty"`
	Format string    `json:"format"`
	Size   int64     `json:"size"`
	SHA256 Digest    `json:"sha256"`
	Chunk  int       `json:"chunk"`
	// Batch asks the hub to answer chunks made durable together with
	// one "stored", naming the last of them, whose Next covers every
	// chunk before it; only to a hub whose Limits say Batch.
	Batch bool `json:"batch,omitempty"`
}

// Chunks is the number of chunks the message is split into.
func (h Header) Chunks() int {
	if h.Chunk <= 0 {
		return 0
	}
	return int((h.Size + int64(h.Chunk) - 1) / int64(h.Chunk))
}

// Check validates the fields every hub requires, whatever its limits.
func (h Header) Check() error {
	switch {
	case h.V != Version:
		return fmt.Errorf("protocol version %d is not supported (want %d)", h.V, Version)
	case h.Format != FormatWAV:
		return fmt.Errorf("format %q is not supported (want %q)", h.Format, FormatWAV)
	case h.Size < wavHeaderMin:
		return fmt.Errorf("size %d is too small for a WAV file", h.Size)
	case h.Chunk < 1 || h.Chunk > MaxChunk:
		return fmt.Errorf("chunk size %d is outside 1..%d", h.Chunk, MaxChunk)
	case len(h.To) > 64:
		return errors.New("too many recipients (at most 64)")
	}
	return nil
}

// Error explains a refusal.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Ack answers a request (down/ack).
type Ack struct {
	ID      MessageID `json:"id,omitzero"` // absent when the request names no message (sync, renew)
	Op      string    `json:"op"`
	Status  string    `json:"status"`
	Seq     int       `json:"seq,omitempty"`     // chunk acknowledged
	Next    int       `json:"next"`              // next chunk the hub expects
	Pending int       `json:"pending,omitempty"` // messages notified by a sync
	// Attempt names the upload attempt an answer to a header or chunk
	// belongs to: the hub numbers every header it accepts anew, and an
	// answer whose Attempt is not the one the last header's answer gave
	// is stale and must be ignored.
	Attempt uint32 `json:"attempt,omitempty"`
	Error   *Error `json:"error,omitempty"`
}

// Notify tells a recipient that a message waits for it (down/notify).
type Notify struct {
	ID       MessageID `json:"id"`
	From     string    `json:"from"`
	FromName string    `json:"from_name,omitempty"`
	Format   string    `json:"format"`
	Size     int64     `json:"size"`
	SHA256   Digest    `json:"sha256"`
	Chunk    int       `json:"chunk"`
	SentAt   int64     `json:"sent_at"`
}

// Fetch asks for the bytes of a message from Offset on (up/fetch).
type Fetch struct {
	ID     MessageID `json:"id"`
	Offset int64     `json:"offset"`
	// Max bounds the bytes of the answer, for a device whose buffer is
	// smaller than the sender's chunks; 0 means to the end of the stored
	// chunk that holds Offset.
	Max int `json:"max,omitempty"`
	// Count asks for that many pieces from Offset on, each its own
	// answer, in order, stopping at the end of the message: at most the
	// fetch window, and only to a hub whose Limits say Batch. 0 means 1.
	Count int `json:"count,omitempty"`
}

// Played confirms that a message was received whole and played (up/played).
type Played struct {
	ID MessageID `json:"id"`
}

// Limits are what the hub allows this device (down/limits), published
// once the device has subscribed to its down/ prefix. A device that has
// not heard them (yet) uses DefaultLimits.
type Limits struct {
	Chunk        int   `json:"chunk"`         // largest upload chunk, bytes
	UploadWindow int   `json:"upload_window"` // chunks in flight, at most
	FetchWindow  int   `json:"fetch_window"`  // fetches in flight, at most
	RetryMS      int   `json:"retry_ms"`      // repeat a request unanswered this long
	MaxBytes     int64 `json:"max_bytes"`     // largest message
	MaxSeconds   int   `json:"max_seconds"`   // longest message
	KeepaliveS   int   `json:"keepalive_s"`   // MQTT keepalive to use
	// Batch says the hub takes Header.Batch and Fetch.Count.
	Batch bool `json:"batch,omitempty"`
}

// DefaultLimits are what a device assumes until the hub says otherwise:
// safe for every hub of this version.
var DefaultLimits = Limits{Chunk: 8192, UploadWindow: 4, FetchWindow: 4, RetryMS: 10000, MaxBytes: 2 << 20, MaxSeconds: 120, KeepaliveS: 30}

// Cancel abandons an unfinished upload (up/cancel): its chunks are
// dropped and its place is free. A committed message is not touched.
type Cancel struct {
	ID MessageID `json:"id"`
}

// Sync asks the hub to resend every pending notification and status
// (up/sync). It has no fields; an empty payload is accepted.
type Sync struct{}

// Status tells a sender what happened to a message (down/status).
type Status struct {
	ID    MessageID `json:"id"`
	To    string    `json:"to"`
	State string    `json:"state"`
	At    int64     `json:"at"`
}

// Heard tells the hub that the sender heard a Status (up/heard), so that
// it is not sent again. Until then the hub sends it at every sync, for up
// to 30 days. The hub answers only a Heard it refuses.
type Heard struct {
	ID    MessageID `json:"id"`
	To    string    `json:"to"`
	State string    `json:"state"`
}

// Renew asks for a new certificate for the device's key (up/renew).
type Renew struct {
	CSR string `json:"csr"` // PEM
}

// Certificate answers a Renew (down/cert).
type Certificate struct {
	Cert string `json:"cert"` // PEM
}

// Decode parses a JSON control message strictly, as the hub reads a
// device's: unknown fields and trailing data are errors, so that a typo in
// a device's firmware shows up at once instead of being ignored.
func Decode(b []byte, v any) error { return decode(b, v, true) }

// DecodeDown parses a message from the hub as a device must: like
// Decode, except that fields it does not know are ignored, so that fields
// added to v1 later do not break it (docs/protocol.md, section 10).
func DecodeDown(b []byte, v any) error { return decode(b, v, false) }

func decode(b []byte, v any, strict bool) error {
	if len(b) > 16*1024 {
		return errors.New("wire: control message larger than 16 KiB")
	}
	d := json.NewDecoder(bytesReader(b))
	if strict {
		d.DisallowUnknownFields()
	}
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("wire: %w", err)
	}
	if d.More() {
		return errors.New("wire: trailing data after JSON value")
	}
	return nil
}

// Encode marshals a control message.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Every control message type marshals; failing here is a bug.
		panic(fmt.Sprintf("wire: encode %T: %v", v, err))
	}
	return b
}
