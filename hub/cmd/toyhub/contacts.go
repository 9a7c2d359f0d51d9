package main

import (
	"flag"
	"fmt"

	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// Contacts: who may message whom, and the contacts waiting for a parent.

// contact is link, unlink, mute or unmute, of two devices named.
func contact(cmd string) func(*cmdline.IO, []string) error {
	op := map[string]control.Op[control.LinkArgs, control.None]{
		"link": control.Link, "unlink": control.Unlink, "mute": control.Mute, "unmute": control.Unmute}[cmd]
	return func(io *cmdline.IO, args []string) error {
		fs := flag.NewFlagSet("toyhub "+cmd, flag.ContinueOnError)
		data := dataFlag(fs)
		pos, err := cmdline.Parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return cmdline.Usagef("usage: toyhub %s NAME NAME", cmd)
		}
		if _, err := op.Call(*data, control.LinkArgs{A: pos[0], B: pos[1]}); err != nil {
			return err
		}
		switch cmd {
		case "link":
			fmt.Fprintf(io.Stdout, "Linked %q and %q: they can now message each other\n", pos[0], pos[1])
		case "unlink":
			fmt.Fprintf(io.Stdout, "Unlinked %q and %q\n", pos[0], pos[1])
		default:
			fmt.Fprintf(io.Stdout, "%s and %s %sd.\n", pos[0], pos[1], cmd)
		}
		return nil
	}
}

func pending(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub pending", flag.ContinueOnError)
	data := dataFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	ps, err := control.Pending.Call(*data, control.None{})
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		fmt.Fprintln(io.Stdout, "Nobody is waiting for approval.")
		return nil
	}
	for _, p := range ps {
		fmt.Fprintf(io.Stdout, "%s wants to talk to %s: approve with 'toyhub link %q %q', or 'toyhub unlink' to refuse.\n", p.Person, p.Toy, p.Person, p.Toy)
	}
	return nil
}
