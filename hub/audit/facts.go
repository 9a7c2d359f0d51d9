package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"time"
)

// Listener kinds.
const (
	KindMQTT     = "mqtt"     // mutual TLS; every client needs a certificate
	KindEnroll   = "enroll"   // TLS 1.3, server authentication only
	KindWeb      = "web"      // HTTPS
	KindRedirect = "redirect" // plain HTTP that only redirects to HTTPS
	KindMetrics  = "metrics"  // plain HTTP /healthz and /metrics, on loopback only
	KindRemote   = "remote"   // remote access: devices, enrollment and browsers by ALPN, from anywhere
)

// Listener is a socket the hub means to listen on.
type Listener struct {
	Kind string
	Addr string // as bound, host:port
}

// Route is a web route, as the web app's route table has it.
type Route struct {
	Method, Path string
	// Session is true when the route must refuse a request without a
	// session (401, or a redirect to the login page).
	Session bool
}

// Probe is a client certificate the hub issued for a throw-away device,
// to check from outside that a valid certificate is accepted and a revoked
// one is not.
type Probe struct {
	Cert   tls.Certificate
	ID     string                          // the device ID, the MQTT client ID to use
	Revoke func(ctx context.Context) error // revokes the device and its certificate
	Remove func(ctx context.Context) error // deletes every trace of it
}

// Files are the hub's files whose protection is checked.
type Files struct {
	DataDir   string
	KeysDir   string
	Database  []string // hub.db, -wal, -shm as they exist
	Keys      []string // the master key, the CA key, the server key
	CAKey     string
	MasterKey string
	// Backups are directories that hold backups, to search for the master
	// key in clear.
	Backups []string
	// Reserve is the disk space below which the hub refuses new messages.
	Reserve int64
}

// Identity is what the identity hygiene checks look at.
type Identity struct {
	Certificates []Certificate
	Devices      []Device
	OpenInvites  []Invite
	Accounts     []Account
	// PasswordPolicy is the current version of the password policy.
	PasswordPolicy int
	// FailedLogins and RefusedConnections count, over the last day, the
	// failed logins and invite redemptions, and the TLS handshakes and
	// MQTT connections refused.
	FailedLogins       int
	RefusedConnections int
}

// Certificate is a device's current certificate.
type Certificate struct {
	Device   string
	NotAfter time.Time
}

// Device is an enrolled toy or family device (not a web account).
type Device struct {
	ID       string
	Created  time.Time
	LastSeen time.Time // zero if never
}

// Invite is an open invite.
type Invite struct {
	ID      string
	Expires time.Time
}

// Account is a person's web account.
type Account struct {
	ID            string
	Role          string
	HasTOTP       bool
	PolicyVersion int
}

// Facts is the hub as the audit sees it.
type Facts interface {
	Listeners() []Listener
	// ServerCAs verifies the hub's server certificate when probing it.
	ServerCAs() *x509.CertPool
	// NewProbe enrolls a throw-away device with a valid certificate.
	NewProbe(ctx context.Context) (Probe, error)
	WebRoutes() []Route
	Files() Files
	// Secrets are byte strings (the master key in each form it is written
	// in) that must appear in no file but the key file itself.
	Secrets() ([][]byte, error)
	// Names are the names of people, toys and the household, to search
	// for in clear in the database files.
	Names(ctx context.Context) ([]string, error)
	Identity(ctx context.Context) (Identity, error)
}

// Options tune a run; the zero value is the hub's daily run.
type Options struct {
	Trigger string
	Now     func() time.Time
	// Timeout bounds each probe of a socket.
	Timeout time.Duration
	// Probes keeps the probes' addresses, for the hub's listeners to
	// recognise its own (nil: not kept).
	Probes *Probes
	// WebRoots are directories a web server on this machine may serve;
	// the keys must not be inside one.
	WebRoots []string
	// ExpiringWithin, StaleAfter and AttackThreshold set when a
	// certificate is about to expire, a device is stale, and failures in
	// a day look like an attack.
	ExpiringWithin  time.Duration
	StaleAfter      time.Duration
	AttackThreshold int
	// PlaintextMQTT lists host:port pairs to check for a plaintext broker
	// (default: port 1883 on loopback and on each listener's host).
	PlaintextMQTT []string

	Network bool
	Scan    ScanOptions
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Trigger == "" {
		o.Trigger = "manual"
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	if o.WebRoots == nil {
		o.WebRoots = []string{"/var/www", "/srv/www", "/srv/http", "/usr/share/nginx", "/usr/share/caddy", "/var/lib/lighttpd"}
	}
	if o.ExpiringWithin == 0 {
		o.ExpiringWithin = 14 * 24 * time.Hour
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 30 * 24 * time.Hour
	}
	if o.AttackThreshold == 0 {
		o.AttackThreshold = 20
	}
}

// kindWords names a listener's kind for a parent.
func kindWords(kind string) string {
	switch kind {
	case KindMQTT:
		return "the toys' port"
	case KindEnroll:
		return "the pairing port"
	case KindWeb:
		return "the web app"
	case KindRedirect:
		return "the unencrypted web address"
	case KindMetrics:
		return "the health figures' port"
	case KindRemote:
		return "the remote access port"
	}
	return "the " + kind + " port"
}

// sentenceCase starts s with a capital letter.
func sentenceCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
