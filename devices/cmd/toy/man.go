package main

import (
	"fmt"
	"strings"
)

// manPage is toy(1), made from the usage text the program prints.
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
	fmt.Fprintf(&b, ".TH TOY 1 \"\" \"toyhub %s\" \"User Commands\"\n", esc(version))
	b.WriteString(".SH NAME\ntoy \\- a toyhub toy or family device, and a simulator of one\n.SH SYNOPSIS\n.nf\n")
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
	b.WriteString(".SH SEE ALSO\n.BR toyhub (1)\n")
	return b.String()
}
