package main

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// Invites: for family members far away and for other parents.

func inviteCreate(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub invite create", flag.ContinueOnError)
	data := dataFlag(fs)
	name := fs.String("name", "", "who the invite is for, as the family calls them")
	role := fs.String("role", "family", "family (only the toys given) or parent (everything, in the web app)")
	toys := fs.String("toys", "", "comma-separated toys the new device may message")
	expires := fs.String("expires", "", "how long the invite is valid (default 72h)")
	out := fs.String("out", "", "file to write the invite to; FILE.png gets its QR code")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *name == "" || *out == "" {
		return cmdline.Usagef("usage: toyhub invite create --name NAME [--toys NAME,NAME] [--expires 72h] --out FILE")
	}
	a := control.InviteArgs{Name: *name, Role: *role, Expires: *expires}
	for _, t := range strings.Split(*toys, ",") {
		if t = strings.TrimSpace(t); t != "" {
			a.Toys = append(a.Toys, t)
		}
	}
	res, err := control.InviteFiles(*data, a, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "Invite %s for %q, valid until %s, written to %s and %s.png.\nIt works once; send it privately.\n",
		res.ID, *name, res.Expires.Local().Format(time.DateTime), *out, *out)
	if res.Role != "parent" {
		fmt.Fprintf(io.Stdout, "For a family device:\n%s\n", res.Link)
	}
	if res.WebLink != "" {
		fmt.Fprintf(io.Stdout, "In a web browser:\n%s\n", res.WebLink)
		if res.RemoteLink != "" {
			fmt.Fprintf(io.Stdout, "In a web browser far away (remote access):\n%s\n", res.RemoteLink)
		}
	}
	return nil
}

func inviteList(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub invite list", flag.ContinueOnError)
	data := dataFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	invs, err := control.InviteList.Call(*data, control.None{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTOYS\tSTATE\tEXPIRES")
	for _, i := range invs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.ID, i.Name, strings.Join(i.Toys, ","), i.State, i.Expires.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func inviteRevoke(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub invite revoke", flag.ContinueOnError)
	data := dataFlag(fs)
	pos, err := cmdline.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cmdline.Usagef("usage: toyhub invite revoke ID")
	}
	if _, err := control.InviteRevoke.Call(*data, control.IDArgs{ID: pos[0]}); err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "Invite %s withdrawn: it can no longer be used\n", pos[0])
	return nil
}
