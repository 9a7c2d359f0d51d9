package store

import "slices"

// EventKind says what an entry of the audit log records. Every kind the
// hub writes is declared below, once, with what it means in plain words:
// the Log page shows that text, and the self-check counts kinds by these
// constants, never by their spelling. A test fails if anything writes a
// kind that is not declared here.
type EventKind string

// Devices, their certificates and enrollment.
const (
	EvDeviceAdded   EventKind = "device.added"
	EvDeviceRenamed EventKind = "device.renamed"
	EvDeviceRevoked EventKind = "device.revoked"
	EvDeviceRemoved EventKind = "device.removed"
	EvCertRenewed   EventKind = "cert.renewed"
	EvPairOpened    EventKind = "pair.opened"
	EvPaired        EventKind = "pair.ok"
	EvPairRefused   EventKind = "pair.refused"
	EvJoined        EventKind = "join.ok"
	EvJoinRefused   EventKind = "join.refused"
)

// Contacts: who may message whom.
const (
	EvLinkAdded    EventKind = "link.added"
	EvLinkApproved EventKind = "link.approved"
	EvLinkRefused  EventKind = "link.refused"
	EvLinkRemoved  EventKind = "link.removed"
	EvLinkMuted    EventKind = "link.muted"
	EvLinkUnmuted  EventKind = "link.unmuted"
)

// Invites, accounts and the web app's door.
const (
	EvInviteCreated   EventKind = "invite.created"
	EvInviteRevoked   EventKind = "invite.revoked"
	EvSetup           EventKind = "setup.ok"
	EvSetupRefused    EventKind = "setup.refused"
	EvLogin           EventKind = "login.ok"
	EvLoginFailed     EventKind = "login.failed"
	EvLoginRefused    EventKind = "login.refused"
	EvLogout          EventKind = "logout"
	EvSessionEnded    EventKind = "session.ended"
	EvPasswordChanged EventKind = "password.changed"
	EvPasswordRefused EventKind = "password.change_refused"
	EvPasswordReset   EventKind = "password.reset"
	EvTOTPAdded       EventKind = "totp.added"
	EvTOTPRemoved     EventKind = "totp.removed"
	EvTOTPRequired    EventKind = "setting.totp_required"
	EvWebRefused      EventKind = "web.refused"
	EvReauthRefused   EventKind = "reauth.refused"
)

// Parents' settings, messages and the household's care.
const (
	EvSettingsChanged EventKind = "settings.changed"
	EvMessagesDeleted EventKind = "messages.deleted"
	EvCheckStarted    EventKind = "check.started"
	EvCheckDone       EventKind = "check.done"
	EvClockBehind     EventKind = "clock.behind"
	EvBackupDone      EventKind = "backup.done"
	EvBackupFailed    EventKind = "backup.failed"
	EvExport          EventKind = "export"
	EvWipeRefused     EventKind = "wipe.refused"
)

// Remote access.
const (
	EvBrowserCertIssued  EventKind = "browser_cert.issued"
	EvBrowserCertRevoked EventKind = "browser_cert.revoked"
	EvRemoteEnabled      EventKind = "remote.enabled"
	EvRemoteDisabled     EventKind = "remote.disabled"
	EvRemoteMapped       EventKind = "remote.mapped"
	EvRemoteMapFailed    EventKind = "remote.map_failed"
	EvRemoteRefused      EventKind = "remote.refused"
)

// eventKinds are the kinds with their text. Legacy kinds are the
// spellings of hubs before schema 9, kept so that their entries still read
// well; nothing writes them any more.
type kindInfo struct {
	kind   EventKind
	text   string
	legacy bool
}

var eventKinds = []kindInfo{
	{EvDeviceAdded, "A device was added from the hub's console", false},
	{EvDeviceRenamed, "A toy was renamed", false},
	{EvDeviceRevoked, "A device was revoked: it can no longer connect", false},
	{EvDeviceRemoved, "A device was removed for good", false},
	{EvCertRenewed, "A device renewed its certificate", false},
	{EvPairOpened, "A parent started pairing a toy", false},
	{EvPaired, "A toy paired with the hub", false},
	{EvPairRefused, "A toy's pairing was refused", false},
	{EvJoined, "Someone joined with an invite", false},
	{EvJoinRefused, "An invite was refused", false},

	{EvLinkAdded, "A parent let a person and a toy message each other", false},
	{EvLinkApproved, "A parent approved a new contact", false},
	{EvLinkRefused, "A parent refused a new contact", false},
	{EvLinkRemoved, "A parent stopped a person and a toy messaging each other", false},
	{EvLinkMuted, "A parent muted a contact", false},
	{EvLinkUnmuted, "A parent unmuted a contact", false},

	{EvInviteCreated, "An invite was made", false},
	{EvInviteRevoked, "An invite was withdrawn", false},
	{EvSetup, "The owner's account was created", false},
	{EvSetupRefused, "A setup link was refused", false},
	{EvLogin, "Someone logged in", false},
	{EvLoginFailed, "A login failed", false},
	{EvLoginRefused, "A login was refused: too many failed attempts", false},
	{EvLogout, "Someone logged out", false},
	{EvSessionEnded, "A session was ended", false},
	{EvPasswordChanged, "A password was changed", false},
	{EvPasswordRefused, "A password change was refused: the password or code given again was wrong", false},
	{EvPasswordReset, "A password was reset from the hub's console", false},
	{EvTOTPAdded, "A code app was added to an account", false},
	{EvTOTPRemoved, "A code app was removed from an account", false},
	{EvTOTPRequired, "The owner changed whether every account needs a code app", false},
	{EvWebRefused, "A page or action was refused to an account", false},
	{EvReauthRefused, "A code app change or an export was refused: the password or code given again was wrong", false},

	{EvSettingsChanged, "A parent changed a device's settings", false},
	{EvMessagesDeleted, "Messages were deleted for good", false},
	{EvCheckStarted, "A parent started the security check", false},
	{EvCheckDone, "The security check ran", false},
	{EvClockBehind, "The hub's clock was behind its records", false},
	{EvBackupDone, "A backup was taken", false},
	{EvBackupFailed, "The daily backup failed", false},
	{EvExport, "Everything was exported", false},
	{EvWipeRefused, "Deleting everything was refused: the owner's password or code was wrong", false},

	{EvBrowserCertIssued, "A browser got a certificate for remote access", false},
	{EvBrowserCertRevoked, "A browser's certificate was withdrawn", false},
	{EvRemoteEnabled, "Remote access was turned on", false},
	{EvRemoteDisabled, "Remote access was turned off", false},
	{EvRemoteMapped, "The home router forwards the remote port to the hub", false},
	{EvRemoteMapFailed, "The home router did not forward the remote port", false},
	{EvRemoteRefused, "A connection from outside was refused", false},

	{"link", "A parent let two devices message each other", true},
	{"unlink", "A parent stopped two devices messaging each other", true},
	{"links.changed", "A parent changed who a person may message", true},
	{"mute", "A parent muted a contact", true},
	{"unmute", "A parent unmuted a contact", true},
}

// Text says what an event of this kind means, in plain words.
func (k EventKind) Text() string {
	for _, e := range eventKinds {
		if e.kind == k {
			return e.text
		}
	}
	return string(k)
}

// Declared reports whether the hub may write events of this kind: it is
// declared above and is not a legacy spelling.
func (k EventKind) Declared() bool {
	return slices.ContainsFunc(eventKinds, func(e kindInfo) bool { return e.kind == k && !e.legacy })
}

// EventKinds lists the kinds the hub writes.
func EventKinds() []EventKind {
	var out []EventKind
	for _, e := range eventKinds {
		if !e.legacy {
			out = append(out, e.kind)
		}
	}
	return out
}
