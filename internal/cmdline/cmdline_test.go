package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
)

func testProgram(ran *string) Program {
	run := func(name string) func(*IO, []string) error {
		return func(io *IO, args []string) error {
			*ran = name + " " + strings.Join(args, " ")
			if len(args) > 0 && args[0] == "fail" {
				return errors.New("it failed")
			}
			if len(args) > 0 && args[0] == "wiped" {
				return &ExitError{Code: 75, Err: errors.New("restart me")}
			}
			return nil
		}
	}
	return Program{Name: "prog", Title: "a test program", Version: "v1",
		Commands: []Command{
			{Name: "device add", Synopsis: "--name NAME\n[--data DIR]", Run: run("device add")},
			{Name: "device", Synopsis: "NAME", Run: run("device")},
			{Name: "status", Run: run("status")},
		},
		Description: "Words about it.\n\nMore -words.",
		Sections:    ".SH SEE ALSO\n"}
}

// TestMainDispatch: arguments reach the command with the most matching words,
// with the exit status its error asks for.
func TestMainDispatch(t *testing.T) {
	tests := []struct {
		args   []string
		ran    string
		status int
		stderr string
	}{
		{[]string{"device", "add", "--name", "x"}, "device add --name x", 0, ""},
		{[]string{"device", "teddy"}, "device teddy", 0, ""},
		{[]string{"status"}, "status ", 0, ""},
		{[]string{"status", "fail"}, "status fail", 1, "prog: it failed"},
		{[]string{"status", "wiped"}, "status wiped", 75, "restart me"},
		{[]string{"frobnicate"}, "", 2, `unknown command "frobnicate"`},
		{nil, "", 2, "Usage:"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var ran string
			var out, errb bytes.Buffer
			status := testProgram(&ran).Main(&IO{Stdin: os.Stdin, Stdout: &out, Stderr: &errb}, tt.args)
			if status != tt.status || ran != tt.ran || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("status %d, ran %q, stderr %q", status, ran, errb.String())
			}
		})
	}
}

// TestSay: a program words its commands' errors its own way, and the
// exit status still follows the error.
func TestSay(t *testing.T) {
	var ran string
	p := testProgram(&ran)
	p.Say = func(err error) string { return "in other words: " + strings.ToUpper(err.Error()) }
	tests := []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"status", "fail"}, 1, "prog: in other words: IT FAILED\n"},
		{[]string{"status", "wiped"}, 75, "prog: in other words: RESTART ME\n"},
	}
	for _, tt := range tests {
		var errb bytes.Buffer
		if status := p.Main(&IO{Stdin: os.Stdin, Stdout: &bytes.Buffer{}, Stderr: &errb}, tt.args); status != tt.status || errb.String() != tt.stderr {
			t.Errorf("%v: status %d, stderr %q; want %d, %q", tt.args, status, errb.String(), tt.status, tt.stderr)
		}
	}
}

// TestUsageAndMan: both come from the same table.
func TestUsageAndMan(t *testing.T) {
	var ran string
	p := testProgram(&ran)
	u := p.Usage()
	for _, want := range []string{"prog: a test program\n", "  prog device add --name NAME\n" + strings.Repeat(" ", 18) + "[--data DIR]\n", "  prog status\n", "More -words."} {
		if !strings.Contains(u, want) {
			t.Errorf("usage lacks %q:\n%s", want, u)
		}
	}
	m := p.Man()
	for _, want := range []string{".TH PROG 1", "prog device add \\-\\-name NAME\n[\\-\\-data DIR]\n", "prog status\n", ".PP\nMore \\-words.", ".SH SEE ALSO"} {
		if !strings.Contains(m, want) {
			t.Errorf("man page lacks %q:\n%s", want, m)
		}
	}
}

// TestCommandHelp: -h and --help after a command print its usage and its
// flags on standard output, and exit 0; they run nothing else.
func TestCommandHelp(t *testing.T) {
	p := Program{Name: "prog", Commands: []Command{{Name: "serve", Synopsis: "[--data DIR]\n[--port N]", Run: func(io *IO, args []string) error {
		fs := flag.NewFlagSet("prog serve", flag.ContinueOnError)
		fs.String("data", "data", "where the data lives")
		fs.Int("port", 1, "the port")
		if _, err := Parse(fs, args); err != nil {
			return err
		}
		return errors.New("ran")
	}}}}
	for _, arg := range []string{"-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			var out, errb bytes.Buffer
			status := p.Main(&IO{Stdin: os.Stdin, Stdout: &out, Stderr: &errb}, []string{"serve", arg})
			if status != ExitOK || errb.Len() != 0 || !strings.HasPrefix(out.String(), "usage: prog serve [--data DIR]\n    [--port N]\n") ||
				!strings.Contains(out.String(), "where the data lives") {
				t.Fatalf("status %d\nstdout %q\nstderr %q", status, out.String(), errb.String())
			}
		})
	}
}
