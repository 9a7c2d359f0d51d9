// Package cmdline is what the project's two commands, toyhub and toy,
// share: a table of commands from which both the usage text and the
// manual page are made (so the two cannot disagree), the dispatch of
// arguments to a command, exit statuses, and flags that may come before
// or after positional arguments.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Command is one command of a program.
type Command struct {
	// Name is the command's words, such as "device add".
	Name string
	// Synopsis is what follows the name in the usage text, such as
	// "--name NAME [--data DIR]"; a line break continues it on the next
	// line, indented.
	Synopsis string
	Run      func(io *IO, args []string) error
}

// IO is where a command reads and writes.
type IO struct {
	Stdin          *os.File
	Stdout, Stderr io.Writer
}

// Program is a command-line program.
type Program struct {
	Name     string // as typed: "toyhub"
	Title    string // what it is, for the usage's first line and the manual's NAME
	Version  string
	Commands []Command
	// Description is the text after the commands: paragraphs separated by
	// blank lines.
	Description string
	// Sections are further sections of the manual page, in roff.
	Sections string
	// Say words a command's error for the person at the terminal, after
	// the program's name; nil prints err.Error().
	Say func(error) string
}

// Exit statuses.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// ExitError ends a command with an exit status of its own.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Usagef is a usage error: exit status 2.
func Usagef(format string, args ...any) error {
	return &ExitError{ExitUsage, fmt.Errorf(format, args...)}
}

// Usage is the program's usage text.
func (p Program) Usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n\nUsage:\n", p.Name, p.Title)
	for _, c := range p.Commands {
		lead := "  " + p.Name + " " + c.Name
		lines := strings.Split(c.Synopsis, "\n")
		fmt.Fprintln(&b, strings.TrimRight(lead+" "+strings.TrimSpace(lines[0]), " "))
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "%s %s\n", strings.Repeat(" ", len(lead)), strings.TrimSpace(l))
		}
	}
	if p.Description != "" {
		b.WriteString("\n" + strings.TrimSpace(p.Description) + "\n")
	}
	return b.String()
}

// Man is the program's manual page, in roff.
func (p Program) Man() string {
	var b strings.Builder
	esc := func(s string) string {
		s = strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\e`), "-", `\-`)
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
			s = `\&` + s // not a request
		}
		return s
	}
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"toyhub %s\" \"User Commands\"\n", strings.ToUpper(p.Name), esc(p.Version))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n.SH SYNOPSIS\n.nf\n", p.Name, esc(p.Title))
	for _, c := range p.Commands {
		lines := strings.Split(c.Synopsis, "\n")
		b.WriteString(esc(strings.TrimSpace(p.Name+" "+c.Name+" "+strings.TrimSpace(lines[0]))) + "\n")
		for _, l := range lines[1:] {
			b.WriteString(esc(strings.TrimSpace(l)) + "\n")
		}
	}
	b.WriteString(".fi\n.SH DESCRIPTION\n")
	for _, l := range strings.Split(strings.TrimSpace(p.Description), "\n") {
		if strings.TrimSpace(l) == "" {
			b.WriteString(".PP\n")
			continue
		}
		b.WriteString(esc(strings.TrimSpace(l)) + "\n")
	}
	b.WriteString(p.Sections)
	return b.String()
}

// Main runs the command args name, and returns the exit status. Errors
// are printed on io.Stderr, after the program's name.
func (p Program) Main(io *IO, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, p.Usage())
		return ExitUsage
	}
	var err error
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] == "man" {
			fmt.Fprint(io.Stdout, p.Man())
		} else {
			fmt.Fprint(io.Stdout, p.Usage())
		}
		return ExitOK
	}
	c, rest, ok := p.find(args)
	if ok {
		err = c.Run(io, rest)
	} else {
		err = p.unknown(args)
	}
	if h, isHelp := errors.AsType[*Help](err); isHelp {
		fmt.Fprintf(io.Stdout, "usage: %s %s %s\n\n%s", p.Name, c.Name, strings.ReplaceAll(c.Synopsis, "\n", "\n    "), h.Flags)
		return ExitOK
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	said := err.Error()
	if p.Say != nil {
		said = p.Say(err)
	}
	fmt.Fprintln(io.Stderr, p.Name+":", said)
	if e, ok := errors.AsType[*ExitError](err); ok {
		return e.Code
	}
	return ExitFailure
}

// find finds the command with the most words matching args.
func (p Program) find(args []string) (Command, []string, bool) {
	var best Command
	n := 0
	for _, c := range p.Commands {
		words := strings.Fields(c.Name)
		if len(words) > n && len(words) <= len(args) && strings.Join(args[:len(words)], " ") == c.Name {
			best, n = c, len(words)
		}
	}
	return best, args[n:], n > 0
}

// unknown explains an unknown command: for a known first word, its
// subcommands; otherwise the whole usage.
func (p Program) unknown(args []string) error {
	var subs []string
	for _, c := range p.Commands {
		if first, rest, ok := strings.Cut(c.Name, " "); ok && first == args[0] {
			subs = append(subs, rest)
		}
	}
	if len(subs) > 0 {
		if len(args) == 1 {
			return Usagef("%s %s: want %s", p.Name, args[0], strings.Join(subs, ", "))
		}
		return Usagef("%s %s %s: unknown command; want %s", p.Name, args[0], args[1], strings.Join(subs, ", "))
	}
	return Usagef("unknown command %q\n\n%s", args[0], p.Usage())
}

// Parse parses flags that may come before or after positional arguments,
// and returns the positional ones.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				var b strings.Builder
				fs.SetOutput(&b)
				fs.PrintDefaults()
				return nil, &Help{Flags: b.String()}
			}
			return nil, Usagef("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// List is a repeatable string flag.
type List []string

func (l *List) String() string     { return strings.Join(*l, ",") }
func (l *List) Set(v string) error { *l = append(*l, v); return nil }

// Help is what -h or --help asks of a command: Run prints the command's
// usage and these flags to standard output, and exits 0.
type Help struct{ Flags string }

func (h *Help) Error() string { return "help requested" }
func (h *Help) Unwrap() error { return flag.ErrHelp }
