package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/datadir"
	"github.com/toyhub/toyhub/hub/remote"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// Config is everything the hub needs; Defaults gives a hub that works with
// no further settings.
type Config struct {
	DataDir  string // holds the database, keys and control socket
	MQTTAddr string // the mTLS broker
	// WebAddr is where the HTTPS web app listens; empty turns it off.
	WebAddr string
	// HTTPRedirectAddr, if set, serves plain HTTP that does nothing but
	// redirect to the web app's HTTPS address. Off by default.
	HTTPRedirectAddr string

	// EnrollAddr is the enrollment endpoint (TLS 1.3, server
	// authentication only) where toys pair and invited devices join.
	EnrollAddr string
	// Discovery advertises the hub by mDNS on DiscoveryInterfaces (empty:
	// the LAN interfaces, not Docker or other virtual bridges), and
	// re-registers when their addresses change (checked every
	// DiscoveryRefresh).
	Discovery           bool
	DiscoveryInterfaces []string
	DiscoveryRefresh    time.Duration
	// Remote is remote access for grandparents far away, as the
	// configuration file sets it; a parent's later choice (in the web app
	// or with 'toyhub remote') wins. Off by default. RemoteListen is the
	// address the remote port binds to (default: every interface).
	Remote       remote.Settings
	RemoteListen string

	PairingWindow   time.Duration // how long 'toyhub pair' waits for the toy
	InviteExpiry    time.Duration // default lifetime of an invite
	MaxInviteExpiry time.Duration
	// Failed enrollment attempts allowed per source address, for pairing
	// and for joining each; then the address waits EnrollFailureWindow
	// after its last failure. EnrollPerSource bounds the connections an
	// address may hold open on the enrollment endpoint.
	EnrollFailuresPerSource int
	EnrollFailureWindow     time.Duration
	EnrollPerSource         int

	// AdvertiseHosts are the hub addresses written into device bundles,
	// tried in order by devices. Empty means: the broker's address if it
	// is bound to one, otherwise this machine's LAN addresses, its .local
	// name and loopback.
	AdvertiseHosts []string
	// MasterKeyPath overrides DATA/keys/master.key, for example to keep
	// the key on another medium.
	MasterKeyPath string

	// The security self-check runs AuditEvery (daily; the first time two
	// minutes after start if a day has passed since the last), and
	// AuditAfterChange after a change of configuration (devices, invites,
	// links, accounts, settings). Zero turns either off.
	// AuditNetwork adds the home network scan to those runs, on
	// AuditTargets (empty: the LAN subnets). BackupDirs are searched for
	// the master key in clear.
	AuditEvery       time.Duration
	AuditStartDelay  time.Duration // default 2 minutes
	AuditAfterChange time.Duration
	AuditNetwork     bool
	AuditTargets     []string
	BackupDirs       []string

	// MetricsAddr serves /healthz and Prometheus /metrics, in plain HTTP,
	// and must be a loopback address; "" turns them off.
	MetricsAddr string
	// BackupDir, if set, receives an encrypted backup every BackupEvery,
	// keeping the newest BackupKeep; the passphrase is read from
	// BackupPassphraseFile.
	BackupDir            string
	BackupPassphraseFile string
	BackupKeep           int
	BackupEvery          time.Duration

	// LogFormat ("text" or "json") and LogLevel are for the command that
	// builds Logger.
	LogFormat string
	LogLevel  string

	// RetentionEvery is how often messages past their toy's retention are
	// deleted; QuietEvery how often the end of quiet hours is noticed.
	RetentionEvery time.Duration
	QuietEvery     time.Duration

	MaxMessageBytes     int64         // per recording
	MaxDuration         time.Duration // per recording
	MaxChunk            int           // per chunk, at most wire.MaxChunk
	MaxUploadsPerDevice int           // uploads in progress per sender
	// MaxMessagesPerMinute and MaxBytesPerDay bound what one device may
	// send, whatever its parents set.
	MaxMessagesPerMinute int
	MaxBytesPerDay       int64
	// MinFreeBytes is disk space messages may not use, so that parents
	// can still delete, and the system still runs, on a full card.
	MinFreeBytes   int64
	StaleUploadAge time.Duration // unfinished uploads are dropped after this

	DeviceCertValidity time.Duration // at most 90 days
	ServerCertValidity time.Duration
	HandshakeTimeout   time.Duration // TLS handshake plus the CONNECT packet
	MaxHandshakes      int           // concurrent TLS handshakes
	// MaxPerSource bounds the MQTT connections one address may have
	// opening (in the TLS handshake) and the web connections it may have
	// open at once.
	MaxPerSource   int
	MaxConnections int64
	// MaxConnBytesPerSecond and MaxConnPacketsPerSecond bound what one
	// connected device may send, with four seconds' worth in a burst
	// (ample for the largest message); beyond them the hub reads it more
	// slowly. 0 is unlimited.
	MaxConnBytesPerSecond   int64
	MaxConnPacketsPerSecond int
	MaxKeepalive            time.Duration // longest keepalive a client may ask for

	Version string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Defaults returns the embedded defaults: data in ./data, the broker on
// :8883.
func Defaults() Config {
	return Config{
		DataDir:          "data",
		MQTTAddr:         ":8883",
		WebAddr:          ":8443",
		EnrollAddr:       ":8884",
		Remote:           remote.Settings{Port: remote.DefaultPort, Map: true},
		Discovery:        true,
		DiscoveryRefresh: 30 * time.Second,
		PairingWindow:    10 * time.Minute,
		InviteExpiry:     72 * time.Hour,
		MaxInviteExpiry:  30 * 24 * time.Hour,

		EnrollFailuresPerSource: 5,
		EnrollPerSource:         4,
		EnrollFailureWindow:     10 * time.Minute,
		AuditEvery:              24 * time.Hour,
		AuditStartDelay:         2 * time.Minute,
		AuditAfterChange:        30 * time.Second,
		MetricsAddr:             "127.0.0.1:9464",
		RetentionEvery:          time.Hour,
		QuietEvery:              time.Minute,
		BackupKeep:              7,
		BackupEvery:             24 * time.Hour,
		LogFormat:               "text",
		LogLevel:                "info",
		MaxMessageBytes:         2 << 20,
		MaxDuration:             120 * time.Second,
		MaxChunk:                wire.MaxChunk,
		MaxUploadsPerDevice:     8,
		MaxMessagesPerMinute:    20,
		MaxBytesPerDay:          256 << 20,
		MinFreeBytes:            store.DefaultMinFreeBytes,
		StaleUploadAge:          7 * 24 * time.Hour,
		DeviceCertValidity:      certs.MaxClientValidity,
		ServerCertValidity:      90 * 24 * time.Hour,
		HandshakeTimeout:        10 * time.Second,
		MaxHandshakes:           64,
		MaxPerSource:            32,
		MaxConnBytesPerSecond:   1 << 20,
		MaxConnPacketsPerSecond: 200,
		MaxConnections:          2000,
		MaxKeepalive:            5 * time.Minute,
		Version:                 "dev",
	}
}

// Check validates a configuration and names every bad value.
func (c Config) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DataDir == "" {
		bad("data directory is empty")
	}
	for name, addr := range map[string]string{"mqtt address": c.MQTTAddr, "web address": c.WebAddr, "http redirect address": c.HTTPRedirectAddr, "enrollment address": c.EnrollAddr} {
		if addr == "" && (name == "mqtt address" || name == "enrollment address") {
			bad("%s is empty", name)
			continue
		}
		if addr == "" && name != "mqtt address" && name != "enrollment address" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("%s %q: %v", name, addr, err)
		}
	}
	if c.MetricsAddr != "" {
		if host, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("metrics address %q: %v", c.MetricsAddr, err)
		} else if ip, err := netip.ParseAddr(host); (err != nil && host != "localhost") || (err == nil && !ip.IsLoopback()) {
			bad("metrics address %q: must be a loopback address such as 127.0.0.1:9464; metrics are never served to the network", c.MetricsAddr)
		}
	}
	if c.BackupDir != "" && c.BackupPassphraseFile == "" {
		bad("backup dir %q: daily backups need backup.passphrase_file", c.BackupDir)
	}
	if c.RetentionEvery <= 0 || c.RetentionEvery > time.Hour {
		bad("retention every %v: want at most 1h (retention is enforced at least hourly)", c.RetentionEvery)
	}
	if c.QuietEvery <= 0 || c.QuietEvery > 5*time.Minute {
		bad("quiet every %v: want up to 5m", c.QuietEvery)
	}
	if c.BackupKeep < 1 || c.BackupKeep > 1000 {
		bad("backup keep %d: want 1 to 1000", c.BackupKeep)
	}
	if c.BackupEvery < time.Hour {
		bad("backup every %v: want at least 1h", c.BackupEvery)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log format %q: want text or json", c.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	if len(c.AuditTargets) > 0 {
		if _, err := audit.ParseTargets(c.AuditTargets); err != nil {
			bad("audit targets: %v", err)
		}
	}
	if c.HTTPRedirectAddr != "" && c.WebAddr == "" {
		bad("http redirect address %q: there is no web app to redirect to", c.HTTPRedirectAddr)
	}
	if c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 64<<20 {
		bad("max message size %d: want 1 KiB to 64 MiB", c.MaxMessageBytes)
	}
	if c.MaxDuration < time.Second {
		bad("max duration %v: want at least 1s", c.MaxDuration)
	}
	if c.MaxChunk < 256 || c.MaxChunk > wire.MaxChunk {
		bad("max chunk %d: want 256 to %d", c.MaxChunk, wire.MaxChunk)
	}
	if c.DeviceCertValidity <= 0 || c.DeviceCertValidity > certs.MaxClientValidity {
		bad("device certificate validity %v: want at most %v", c.DeviceCertValidity, certs.MaxClientValidity)
	}
	if c.ServerCertValidity < time.Hour {
		bad("server certificate validity %v: want at least 1h", c.ServerCertValidity)
	}
	if c.MaxConnBytesPerSecond < 0 || c.MaxConnPacketsPerSecond < 0 {
		bad("per-connection limits must be 0 (none) or more")
	}
	if c.MaxConnBytesPerSecond > 0 && c.MaxConnBytesPerSecond*4 < c.MaxMessageBytes {
		bad("bytes a second per connection %d: four seconds' worth must hold the largest message (%d bytes)", c.MaxConnBytesPerSecond, c.MaxMessageBytes)
	}
	if c.MinFreeBytes < 0 {
		bad("free space kept in reserve %d: must be 0 or more", c.MinFreeBytes)
	}
	if c.MaxMessagesPerMinute <= 0 || c.MaxBytesPerDay < c.MaxMessageBytes {
		bad("per-device limits: messages a minute must be positive, and bytes a day at least one message")
	}
	if c.HandshakeTimeout <= 0 || c.MaxHandshakes <= 0 || c.MaxConnections <= 0 || c.MaxUploadsPerDevice <= 0 || c.MaxPerSource <= 0 {
		bad("handshake timeout, handshake, connection and upload limits must be positive")
	}
	if c.PairingWindow < 10*time.Second || c.PairingWindow > time.Hour {
		bad("pairing window %v: want 10s to 1h", c.PairingWindow)
	}
	if c.InviteExpiry <= 0 || c.InviteExpiry > c.MaxInviteExpiry {
		bad("invite expiry %v: want up to %v", c.InviteExpiry, c.MaxInviteExpiry)
	}
	if c.EnrollFailuresPerSource <= 0 || c.EnrollPerSource <= 0 || c.EnrollFailureWindow <= 0 {
		bad("enrollment rate limits must be positive")
	}
	if err := c.Remote.Check(); err != nil {
		bad("remote access: %v", err)
	}
	if c.Discovery && c.DiscoveryRefresh < time.Second {
		bad("discovery refresh %v: want at least 1s", c.DiscoveryRefresh)
	}
	if c.MaxKeepalive < 10*time.Second || c.MaxKeepalive > 18*time.Hour {
		bad("max keepalive %v: want 10s to 18h", c.MaxKeepalive)
	}
	return errors.Join(errs...)
}

// Dir is the data directory.
func (c Config) Dir() datadir.Dir {
	return datadir.Dir{Path: c.DataDir, MasterKeyPath: c.MasterKeyPath}
}

// ControlSocket is the admin socket's path for a data directory.
func ControlSocket(dataDir string) string { return datadir.Dir{Path: dataDir}.ControlSocket() }

// Warnings are settings that are valid but need something done outside
// the hub.
func (c Config) Warnings() []string {
	var out []string
	for name, addr := range map[string]string{"mqtt_addr": c.MQTTAddr, "enroll_addr": c.EnrollAddr, "web_addr": c.WebAddr, "http_redirect_addr": c.HTTPRedirectAddr} {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 1024 {
				out = append(out, fmt.Sprintf("%s uses port %d, below 1024: the service needs CAP_NET_BIND_SERVICE; install /usr/share/doc/toyhub/examples/low-ports.conf as /etc/systemd/system/toyhub.service.d/low-ports.conf", name, n))
			}
		}
	}
	if c.Remote.Enabled {
		out = append(out, fmt.Sprintf("remote access is on (port %d): under systemd, the hub answers from beyond the LAN only through toyhub-remote.socket; "+
			"run 'sudo systemctl enable --now toyhub-remote.socket' and 'sudo systemctl restart toyhub' once "+
			"(the hub itself still starts no connection beyond the LAN)", c.Remote.Port))
		if c.Remote.Port != remote.DefaultPort {
			out = append(out, fmt.Sprintf("remote.port is %d: set the same in toyhub-remote.socket ('sudo systemctl edit toyhub-remote.socket': "+
				"ListenStream= empty, then ListenStream=%d)", c.Remote.Port, c.Remote.Port))
		}
		if !c.Remote.Map {
			out = append(out, fmt.Sprintf("remote.map is false: forward TCP port %d on your router to this hub by hand", c.Remote.Port))
		}
		if w := c.Remote.Warning(); w != "" {
			out = append(out, "remote.host: "+w)
		}
	}
	slices.Sort(out)
	return out
}
