package control

import (
	"time"

	"github.com/toyhub/toyhub/hub/audit"
)

// None is the arguments, or the result, of an operation that has none.
type None struct{}

// NameArgs name one device.
type NameArgs struct {
	Name string `json:"name"`
}

// LinkArgs name two devices.
type LinkArgs struct {
	A string `json:"a"`
	B string `json:"b"`
}

// IDArgs name an invite.
type IDArgs struct {
	ID string `json:"id"`
}

// IDsArgs name messages.
type IDsArgs struct {
	IDs []string `json:"ids"`
}

// CountArgs bound a listing.
type CountArgs struct {
	Count int `json:"count"`
}

// AddDeviceArgs enroll a device for a CSR made on the console's side: the
// private key never passes through the socket.
type AddDeviceArgs struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	CSR  string `json:"csr"`
}

// AddDeviceResult is what a device bundle is made of.
type AddDeviceResult struct {
	Device        DeviceView `json:"device"`
	CertPEM       string     `json:"cert"`
	CAPEM         string     `json:"ca"`
	CAFingerprint string     `json:"ca_fingerprint"`
	Hub           []string   `json:"hub"`
	Protocol      int        `json:"protocol"`
}

// DeviceView describes a device.
type DeviceView struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Revoked  bool      `json:"revoked"`
	Online   bool      `json:"online"`
}

// RemoveArgs remove a device for good.
type RemoveArgs struct {
	Name         string `json:"name"`
	KeepMessages bool   `json:"keep_messages"`
}

// SettingsArgs change a device's settings; empty fields stay as they are.
type SettingsArgs struct {
	Name       string `json:"name"`
	Retention  string `json:"retention,omitempty"`
	Quiet      string `json:"quiet,omitempty"`
	DailyLimit *int   `json:"daily_limit,omitempty"`
}

// SettingsView is a device's settings.
type SettingsView struct {
	Name       string `json:"name"`
	Retention  string `json:"retention"`
	Quiet      string `json:"quiet"`
	DailyLimit int    `json:"daily_limit"`
	Kept       string `json:"kept"` // how long messages are kept, in words
}

// PendingView is a contact that waits for a parent's approval.
type PendingView struct {
	Person string `json:"person"`
	Toy    string `json:"toy"`
}

// MessageView is a message as 'toyhub messages' lists it.
type MessageView struct {
	ID       string    `json:"id"`
	From     string    `json:"from"`
	To       []string  `json:"to"`
	SentAt   time.Time `json:"sent_at"`
	Seconds  int       `json:"seconds"`
	Played   bool      `json:"played"`    // by every recipient
	DeleteAt time.Time `json:"delete_at"` // zero: kept forever, or until played
	Deletion string    `json:"deletion"`  // when retention deletes it, in words
}

// PairArgs open a pairing window for the toy with this label code.
type PairArgs struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// PairResult says until when the hub waits for the toy.
type PairResult struct {
	Expires time.Time `json:"expires"`
}

// InviteArgs describe an invite to create.
type InviteArgs struct {
	Name    string   `json:"name"`
	Role    string   `json:"role"`
	Toys    []string `json:"toys"`    // names
	Expires string   `json:"expires"` // a duration such as 72h; empty: the default
}

// InviteResult is a new invite. Its secret is in Link and File and is not
// kept by the hub, so this is the only time it can be read.
type InviteResult struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	// WebLink opens the invite in a browser, to make a web account (the
	// only way for a parent's invite); empty when the web app is off.
	WebLink string `json:"web_link,omitempty"`
	// RemoteLink opens it from beyond the LAN, with remote access on.
	RemoteLink string    `json:"remote_link,omitempty"`
	Link       string    `json:"link"`
	File       string    `json:"file"`
	Expires    time.Time `json:"expires"`
}

// InviteView describes an invite.
type InviteView struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Toys    []string  `json:"toys"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	State   string    `json:"state"` // open, used, expired, withdrawn
	Device  string    `json:"device,omitempty"`
}

// StatusResult describes the running hub.
type StatusResult struct {
	Version       string   `json:"version"`
	MQTTAddr      string   `json:"mqtt_addr"`
	Hub           []string `json:"hub"`
	CAFingerprint string   `json:"ca_fingerprint"`
	CACode        string   `json:"ca_code"`
	Devices       int      `json:"devices"`
	Online        int      `json:"online"`
	Schema        int      `json:"schema"`
}

// SetupLinkResult is a new one-time setup link.
type SetupLinkResult struct {
	Link string `json:"link"`
	Code string `json:"ca_code"` // the household CA's short code, to check on /trust
}

// LoginArgs name one account.
type LoginArgs struct {
	Login string `json:"login"`
}

// ResetArgs set an account's password from the hub's console.
type ResetArgs struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// WipeArgs confirm "delete everything" with the owner's password.
type WipeArgs struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// AuditArgs ask for a security check.
type AuditArgs struct {
	Network bool     `json:"network"`
	Targets []string `json:"targets"`
}

// AuditResult is a check's report, with the names of the devices and
// accounts it mentions (for display only: names are never stored with it).
type AuditResult struct {
	Report audit.Report      `json:"report"`
	Names  map[string]string `json:"names"`
}

// Event is an entry of the audit log.
type Event struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Text   string    `json:"text"` // what the kind means, in plain words
	User   string    `json:"user,omitempty"`
	Device string    `json:"device,omitempty"`
	Remote string    `json:"remote,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// VerifyResult is the audit log's verification.
type VerifyResult struct {
	Entries int    `json:"entries"`
	Problem string `json:"problem,omitempty"`
}

// ExportArgs record in the audit log an export the console made.
type ExportArgs struct {
	Messages  int    `json:"messages"`
	Encrypted bool   `json:"encrypted"`
	File      string `json:"file"` // its name, without the directory
}

// SnapshotResult names a consistent copy of the database that the hub
// made for a backup; the caller removes it.
type SnapshotResult struct {
	Path       string `json:"path"`
	Schema     int    `json:"schema"`
	HubVersion string `json:"hub_version"`
}

// RemoteArgs turn remote access on.
type RemoteArgs struct {
	Host  string `json:"host"`
	Port  int    `json:"port,omitempty"` // 0: the default, 8885
	NoMap bool   `json:"no_map,omitempty"`
}

// RemoteView is remote access as the console shows it (the web app's
// view, field for field).
type RemoteView struct {
	Enabled     bool      `json:"enabled"`
	Map         bool      `json:"map"`
	Listening   bool      `json:"listening"`
	Host        string    `json:"host,omitempty"`
	Port        int       `json:"port"`
	Public      string    `json:"public,omitempty"` // HOST:PORT
	Problem     string    `json:"problem,omitempty"`
	Warning     string    `json:"warning,omitempty"`
	MapState    string    `json:"map_state"`
	MapMethod   string    `json:"map_method,omitempty"`
	MapMessage  string    `json:"map_message,omitempty"`
	External    string    `json:"external,omitempty"`
	Renews      time.Time `json:"renews,omitzero"`
	LastDevice  time.Time `json:"last_device,omitzero"`
	LastBrowser time.Time `json:"last_browser,omitzero"`
}
