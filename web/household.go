package web

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/toyhub/toyhub/store"
)

// Household is what the web app asks of the running hub. Every change a
// person makes goes through it, with who asks, whatever page it comes
// from: the hub checks it, authorizes it, records it in the audit log
// and tells the open pages, as it does for the console. An error that is
// a refusal (see refusal) says why in words for the person who asked.
type Household interface {
	// The message path: what a person does in the browser takes the same
	// path as what a device does.
	Send(ctx context.Context, by Actor, toy string, wav []byte) (messageID string, err error)
	Fetched(device, messageID string)
	Played(ctx context.Context, device, messageID string) error

	// Accounts.
	Setup(ctx context.Context, by Actor, o Owner) (store.User, error)
	Join(ctx context.Context, by Actor, secret, password string) (store.User, error)
	ChangePassword(ctx context.Context, by Actor, password string) error
	AddTOTP(ctx context.Context, by Actor, secret string, step int64) error
	RemoveTOTP(ctx context.Context, by Actor) error
	RequireTOTP(ctx context.Context, by Actor, on bool) error
	// TOTPRequired reports whether every account needs a code app.
	TOTPRequired(ctx context.Context) bool

	// Toys, people, contacts and invites.
	Pair(ctx context.Context, by Actor, code, name string) (time.Time, error)
	// PairingState says what became of the pairing of the toy to be
	// called name: "waiting" until the time given, "paired", "expired",
	// or "" when none was started.
	PairingState(name string) (state string, until time.Time)
	Rename(ctx context.Context, by Actor, device, name string) error
	Revoke(ctx context.Context, by Actor, device string) error
	// Remove removes a device for good (and its account, if it is one),
	// keeping its messages without its name, or deleting them.
	Remove(ctx context.Context, by Actor, device string, keepMessages bool) error
	Link(ctx context.Context, by Actor, a, b string) error
	Unlink(ctx context.Context, by Actor, a, b string) error
	Mute(ctx context.Context, by Actor, a, b string, muted bool) error
	SetToys(ctx context.Context, by Actor, person string, toys []string) error
	SetSettings(ctx context.Context, by Actor, device string, st Settings) error
	Pending(ctx context.Context) ([]PendingRow, error)
	// Invite makes an invite for a family member (linked to toys) or,
	// with parent set, for a parent.
	Invite(ctx context.Context, by Actor, name string, parent bool, toys []string) (Invite, error)
	Invites(ctx context.Context) ([]InviteRow, error)
	RevokeInvite(ctx context.Context, by Actor, id string) error

	// Messages and the household's care.
	DeleteMessages(ctx context.Context, by Actor, ids []string) (int, error)
	// Export writes the household's archive to w, encrypted under
	// passphrase unless it is empty.
	Export(ctx context.Context, by Actor, w io.Writer, passphrase []byte) (int, error)
	// Wipe deletes everything (the household's data, keys and CA) once the
	// owner's password is confirmed; the hub stops and starts anew.
	Wipe(ctx context.Context, by Actor, login, password string) error
	// StartCheck starts a self-check (with the network scan if asked) and
	// returns at once; pages hear of its end as a change.
	StartCheck(ctx context.Context, by Actor, network bool) error

	// What the running hub knows besides the store.
	Online(device string) bool
	// Security returns the newest self-check report, the history of
	// runs, and whether one is running.
	Security(ctx context.Context) (SecurityState, error)
	// Watch reports what changed, until stop is called: each receive
	// lists the devices whose pages should reload (none: every page).
	Watch() (changes <-chan []string, stop func())
	// LoginFailed counts a failed login (wrong password or code).
	LoginFailed()

	// Remote access and browsers' certificates.
	RemoteStatus(ctx context.Context, by Actor) (RemoteView, error)
	EnableRemote(ctx context.Context, by Actor, host string, port int, mapPort bool) (RemoteView, error)
	DisableRemote(ctx context.Context, by Actor) error
	// RemotePublic is https://NAME:PORT/'s NAME:PORT, "" while remote
	// access is off.
	RemotePublic() string
	// IssueBrowserCert makes a certificate for a browser of the actor's
	// own account.
	IssueBrowserCert(ctx context.Context, by Actor) (BrowserCertFile, error)
	RevokeBrowserCert(ctx context.Context, by Actor, serial string) error
}

// RemoteView is remote access as a parent sees it.
type RemoteView struct {
	Enabled, Map, Listening bool
	Host                    string
	Port                    int
	Public                  string
	Problem, Warning        string
	MapState, MapMethod     string
	MapMessage              string
	External                string
	Renews                  time.Time
	LastDevice, LastBrowser time.Time
}

// BrowserCertFile is a browser's new certificate: its file, to download,
// and the passphrase that opens it, shown once.
type BrowserCertFile struct {
	Serial     string
	NotAfter   time.Time
	P12        []byte
	Passphrase string
}

// Actor is who asks for an action, for the audit log: an account ID and
// the address it came from.
type Actor struct{ User, Remote string }

// Owner is the first account, as the setup page asks for it.
type Owner struct {
	Token, Login, Email, Household, Password string
}

// Settings change a device's settings, as a parent typed them: retention
// ("90d", "forever", "played"), quiet hours ("20:00-07:00", "none") and
// the daily limit ("0": none). A nil field stays as it was.
type Settings struct {
	Retention, Quiet, DailyLimit *string
}

// ErrBadAudio marks a recording that is not one the toys accept.
var ErrBadAudio = errors.New("not a recording the toys can play")

// Invite is a new invite, with its secret (shown once).
type Invite struct {
	ID         string
	Secret     string
	WebLink    string // https://…/join… on the hub's configured name, for a browser
	RemoteLink string // the same at the remote port, "" while remote access is off
	DeviceLink string // toyhub://join… for a family device
	Expires    time.Time
}

// InviteRow is an invite on the family page.
type InviteRow struct {
	ID      string
	Name    string
	Parent  bool
	Toys    []string
	State   string
	Expires time.Time
}

// PendingRow is a contact waiting for a parent's approval.
type PendingRow struct {
	PersonID, PersonName string
	ToyID, ToyName       string
}

// SecurityState is what the security page shows.
type SecurityState struct {
	Latest  *SecurityReport // nil before the first check
	History []SecurityRun   // newest first
	Running bool            // a check is running now
}

// SecurityReport is a self-check's result as the security page shows it.
type SecurityReport struct {
	At                time.Time
	Trigger           string
	High, Medium, Low int
	Problems          []SecurityFinding // worst first
	Passed            []SecurityFinding
	Network           string // what the network scan covered, if it ran
}

// SecurityFinding is one finding, in plain words.
type SecurityFinding struct {
	Severity, Title, Checked, Seen, Fix, Where string
}

// SecurityRun is a line of the self-check's history.
type SecurityRun struct {
	At                time.Time
	Trigger           string
	High, Medium, Low int
}

// refusal is the text of an error the household refused with, if it is
// one: words for the person who asked, as a sentence.
func refusal(err error) (string, bool) {
	var r interface {
		error
		Refused() bool
	}
	if !errors.As(err, &r) || !r.Refused() {
		return "", false
	}
	return sentence(r.Error()), true
}

// sentence starts text with a capital and ends it with a full stop.
func sentence(text string) string {
	text = strings.TrimSpace(text)
	if r, n := utf8.DecodeRuneInString(text); n > 0 {
		text = string(unicode.ToUpper(r)) + text[n:]
	}
	if !strings.HasSuffix(text, ".") {
		text += "."
	}
	return text
}
