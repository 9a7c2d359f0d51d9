package main

import (
	"flag"
	"fmt"

	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// People: the owner's first account, and a forgotten password.

func setupLink(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub setup-link", flag.ContinueOnError)
	data := dataFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	res, err := control.SetupLink.Call(*data, control.None{})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "Open this link to create the owner account (it works once; earlier links no longer do):\n  %s\n\n%s", res.Link, firstWarning(res.Code))
	return nil
}

// resetPassword sets a password from the hub's own console: running it
// needs the hub's user on the hub, which proves physical access.
func resetPassword(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub user reset-password", flag.ContinueOnError)
	data := dataFlag(fs)
	login := fs.String("login", "", "the account's name")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *login == "" {
		return cmdline.Usagef("usage: toyhub user reset-password --login NAME")
	}
	pw, err := readSecret("New password (at least 12 characters)", "", io.Stdin, io.Stderr, false)
	if err != nil {
		return err
	}
	if _, err := control.ResetPassword.Call(*data, control.ResetArgs{Login: *login, Password: string(pw)}); err != nil {
		return err
	}
	fmt.Fprintln(io.Stdout, "Password changed; every session of this account has ended.")
	return nil
}

// removeCode removes an account's code app from the hub's own console, for
// a person who lost the phone it was on.
func removeCode(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub user remove-code", flag.ContinueOnError)
	data := dataFlag(fs)
	login := fs.String("login", "", "the account's name")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *login == "" {
		return cmdline.Usagef("usage: toyhub user remove-code --login NAME")
	}
	if _, err := control.RemoveCode.Call(*data, control.LoginArgs{Login: *login}); err != nil {
		return err
	}
	fmt.Fprintln(io.Stdout, "Code app removed; every session of this account has ended. The next login asks for the password only, and then for a new code app if this hub requires one.")
	return nil
}

// firstWarning tells the person about to open the hub's first link what
// their browser will say, and how to check it is their hub.
func firstWarning(code string) string {
	return "Your browser will first warn that the connection is not private, because it does not know\n" +
		"this hub yet. That is expected this once: choose Advanced, then Proceed. The page\n" +
		"\"How to trust this hub\" must show this code:\n\n    " + code + "\n\n" +
		"If it does, follow its steps for each phone and computer, and the warning will not come again.\n" +
		"If it shows another code, stop: something else is answering in the hub's place.\n"
}
