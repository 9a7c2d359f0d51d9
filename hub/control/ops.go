package control

import "time"

// The operations of the control protocol, each declared once: its name,
// the types of its arguments and result, and how long the hub may take.
// The daemon binds each to its handler (Handle) and the console's commands
// call it (Op.Call). Whether an operation changes the household, and so
// makes the self-check run again, is for the household service to say,
// whatever door the operation comes through.
var (
	// Devices.
	DeviceAdd    = declare[AddDeviceArgs, AddDeviceResult]("device.add", short)
	DeviceList   = declare[None, []DeviceView]("device.list", short)
	DeviceRevoke = declare[NameArgs, DeviceView]("device.revoke", short)
	DeviceRemove = declare[RemoveArgs, None]("device.remove", short)
	DeviceSet    = declare[SettingsArgs, SettingsView]("device.set", short)
	PairOpen     = declare[PairArgs, PairResult]("pair.open", short)

	// Contacts.
	Link    = declare[LinkArgs, None]("link", short)
	Unlink  = declare[LinkArgs, None]("unlink", short)
	Mute    = declare[LinkArgs, None]("mute", short)
	Unmute  = declare[LinkArgs, None]("unmute", short)
	Pending = declare[None, []PendingView]("links.pending", short)

	// Invites.
	InviteCreate = declare[InviteArgs, InviteResult]("invite.create", short)
	InviteList   = declare[None, []InviteView]("invite.list", short)
	InviteRevoke = declare[IDArgs, None]("invite.revoke", short)

	// People.
	SetupLink     = declare[None, SetupLinkResult]("setup.link", short)
	ResetPassword = declare[ResetArgs, None]("user.reset-password", short)
	RemoveCode    = declare[LoginArgs, None]("user.remove-code", short)

	// Remote access.
	RemoteEnable  = declare[RemoteArgs, RemoteView]("remote.enable", short)
	RemoteDisable = declare[None, None]("remote.disable", short)
	RemoteStatus  = declare[None, RemoteView]("remote.status", short)

	// Messages.
	MessagesList   = declare[NameArgs, []MessageView]("messages.list", short)
	MessagesDelete = declare[IDsArgs, int]("messages.delete", short)

	// The self-check and the audit log.
	CheckRun    = declare[AuditArgs, AuditResult]("check.run", long) // a network scan takes minutes
	CheckLatest = declare[None, AuditResult]("check.latest", short)
	AuditList   = declare[CountArgs, []Event]("audit.list", short)
	AuditVerify = declare[None, VerifyResult]("audit.verify", short)

	// Backups, exports and the hub itself.
	BackupSnapshot = declare[None, SnapshotResult]("backup.snapshot", long)
	BackupDone     = declare[None, None]("backup.done", short)
	ExportDone     = declare[ExportArgs, None]("export.done", short)
	Status         = declare[None, StatusResult]("status", short)
	Wipe           = declare[WipeArgs, None]("wipe", short)
	Shutdown       = declare[None, None]("shutdown", short)
)

// Timeouts of a request, as the hub serves it.
const (
	short = 30 * time.Second
	long  = 10 * time.Minute
)
