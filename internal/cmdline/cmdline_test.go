package cmdline

import (
	"bytes"
	"errors"
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
