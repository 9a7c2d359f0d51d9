package main

import (
	"fmt"
	"strings"

	"github.com/toyhub/toyhub/hub"
)

// manPage is toyhub(1), made from the same usage text and settings table
// the program uses, so that the two cannot disagree.
func manPage() string {
	var b strings.Builder
	esc := func(s string) string {
		s = strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\e`), "-", `\-`)
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
			s = `\&` + s // not a request
		}
		return s
	}
	lines := strings.Split(strings.TrimSpace(usage), "\n")
	fmt.Fprintf(&b, ".TH TOYHUB 1 \"\" \"toyhub %s\" \"User Commands\"\n", esc(version))
	b.WriteString(".SH NAME\ntoyhub \\- a home hub for children's voice\\-message toys\n.SH SYNOPSIS\n.nf\n")
	i := 0
	for ; i < len(lines) && !strings.HasPrefix(lines[i], "Usage:"); i++ {
	}
	for i++; i < len(lines) && lines[i] != ""; i++ {
		b.WriteString(esc(strings.TrimSpace(lines[i])) + "\n")
	}
	b.WriteString(".fi\n.SH DESCRIPTION\n")
	for ; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "" {
			b.WriteString(".PP\n")
			continue
		}
		b.WriteString(esc(strings.TrimSpace(lines[i])) + "\n")
	}
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
