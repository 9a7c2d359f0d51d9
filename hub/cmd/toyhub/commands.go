package main

import (
	"fmt"
	"strings"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// program is every command of toyhub, in the order the usage lists them.
func program() cmdline.Program {
	return cmdline.Program{
		Name:    "toyhub",
		Title:   "a home hub for children's voice-message toys",
		Version: version,
		Commands: []cmdline.Command{
			{Name: "serve", Synopsis: "[--data DIR] [--mqtt-addr ADDR] [--enroll-addr ADDR] [--web-addr ADDR] [--http-redirect-addr ADDR]\n" +
				"[--mdns=true|false] [--mdns-iface NAME]... [--remote-listen HOST]\n" +
				"[--config FILE] [--metrics-addr ADDR]\n" +
				"[--audit-every D] [--audit-after-change D] [--audit-network] [--audit-target CIDR]... [--backup-dir DIR]...\n" +
				"[--log-format text|json] [--log-level LEVEL]", Run: serve},
			{Name: "pair", Synopsis: "--code CODE --name NAME [--data DIR]", Run: pair},
			{Name: "invite create", Synopsis: "--name NAME [--role family|parent] [--toys NAME,NAME] [--expires 72h] --out FILE [--data DIR]", Run: inviteCreate},
			{Name: "invite list", Synopsis: "[--data DIR]", Run: inviteList},
			{Name: "invite revoke", Synopsis: "ID [--data DIR]", Run: inviteRevoke},
			{Name: "remote enable", Synopsis: "--host NAME [--port PORT] [--no-map] [--data DIR]   (grandparents far away reach the hub at NAME:PORT)", Run: remoteEnable},
			{Name: "remote disable", Synopsis: "[--data DIR]", Run: remoteDisable},
			{Name: "remote status", Synopsis: "[--json] [--data DIR]", Run: remoteStatus},
			{Name: "audit", Synopsis: "[--json] [--network] [--target ADDR|CIDR]... [--latest] [--data DIR]\n" +
				"(exit status 1 when a high-severity finding exists)", Run: auditRun},
			{Name: "audit-log", Synopsis: "[--count N] [--data DIR]", Run: auditLog},
			{Name: "audit-log verify", Synopsis: "[--data DIR]   (exit status 1 if an entry was edited, inserted or removed)", Run: auditVerify},
			{Name: "backup", Synopsis: "--out FILE [--passphrase-file F] [--without-key] [--data DIR]", Run: backupCmd},
			{Name: "restore", Synopsis: "FILE [--passphrase-file F] [--key FILE] [--force] [--data DIR]", Run: restoreCmd},
			{Name: "config check", Synopsis: "[--config FILE]", Run: configCheck},
			{Name: "export", Synopsis: "--out FILE.zip [--passphrase-file F | --plain] [--data DIR]", Run: exportCmd},
			{Name: "decrypt", Synopsis: "FILE --out FILE.zip [--passphrase-file F]   (opens an encrypted export)", Run: decryptCmd},
			{Name: "wipe", Synopsis: "--login OWNER [--data DIR]   (deletes everything; reads the owner's password from the console)", Run: wipeCmd},
			{Name: "setup-link", Synopsis: "[--data DIR]", Run: setupLink},
			{Name: "user reset-password", Synopsis: "--login NAME [--data DIR]   (reads the new password from the console)", Run: resetPassword},
			{Name: "user remove-code", Synopsis: "--login NAME [--data DIR]   (for a lost phone: removes the account's code app)", Run: removeCode},
			{Name: "device add", Synopsis: "--name NAME --kind toy|family --out DIR [--data DIR]", Run: deviceAdd},
			{Name: "device list", Synopsis: "[--json] [--data DIR]", Run: deviceList},
			{Name: "device revoke", Synopsis: "NAME [--data DIR]", Run: deviceRevoke},
			{Name: "device remove", Synopsis: "NAME [--delete-messages] [--data DIR]", Run: deviceRemove},
			{Name: "device set", Synopsis: "NAME [--retention 90d|forever|played] [--quiet 20:00-07:00|none] [--daily-limit N] [--data DIR]", Run: deviceSet},
			{Name: "pending", Synopsis: "[--data DIR]            (contacts waiting for a parent: approve with 'toyhub link')", Run: pending},
			{Name: "mute", Synopsis: "NAME NAME [--data DIR]", Run: contact("mute")},
			{Name: "unmute", Synopsis: "NAME NAME [--data DIR]", Run: contact("unmute")},
			{Name: "messages", Synopsis: "--toy NAME [--data DIR]", Run: messages},
			{Name: "message delete", Synopsis: "ID... [--data DIR]", Run: messageDelete},
			{Name: "link", Synopsis: "NAME NAME [--data DIR]", Run: contact("link")},
			{Name: "unlink", Synopsis: "NAME NAME [--data DIR]", Run: contact("unlink")},
			{Name: "status", Synopsis: "[--data DIR]", Run: status},
			{Name: "conformance", Synopsis: "--device-bundle DIR [--listen ADDR] [--hub HOST:PORT]... [--start-cmd CMD] [--send-cmd CMD]\n" +
				"[--step D] [--watch D] [--cert-life D] [--retry-ms N] [--only WORDS]...\n" +
				"(for toy makers: checks a device against docs/protocol.md; exit status 1 when it gets a behaviour wrong)", Run: conformanceCmd},
			{Name: "version", Synopsis: "[--data DIR]", Run: printVersion},
		},
		Description: `Every command but serve, version, restore, config and conformance acts
on the running hub through DIR/control.sock, which only the hub's user
can open. DIR defaults to the configuration's data_dir, or ./data
without one.

serve reads its configuration from --config, $TOYHUB_CONFIG, or
/etc/toyhub/toyhub.toml if it exists; TOYHUB_<KEY> variables override the
file (TOYHUB_WEB_ADDR for web_addr, TOYHUB_AUDIT_EVERY for audit.every),
and flags override both. 'toyhub help man' prints the manual page.`,
		Sections: manSections(),
	}
}

// manSections are the manual page's sections besides the usage: the
// configuration file's keys (from the table the program reads), files,
// exit statuses.
func manSections() string {
	var b strings.Builder
	esc := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\e`), "-", `\-`) }
	b.WriteString(".SH CONFIGURATION\nThe configuration file is TOML; every key is optional.\n")
	for _, kv := range hub.SettingKeys() {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s (environment: %s).\n", esc(kv[0]), esc(kv[1]), esc(hub.EnvName(kv[0])))
	}
	b.WriteString(`.SH FILES
.TP
.I /etc/toyhub/toyhub.toml
the configuration
.TP
.I /var/lib/toyhub
the data directory of the packaged hub: the encrypted database, the keys, the control socket
.SH EXIT STATUS
0 on success, 1 on failure (and for audit, when a high\-severity finding exists), 2 on a usage error.
.SH SEE ALSO
.BR toy (1),
.BR systemd.exec (5)
`)
	return b.String()
}
