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

// Messages: listing a toy's, and deleting for good.

func messages(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub messages", flag.ContinueOnError)
	data := dataFlag(fs)
	toy := fs.String("toy", "", "the toy whose messages to list")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *toy == "" {
		return cmdline.Usagef("usage: toyhub messages --toy NAME")
	}
	ms, err := control.MessagesList.Call(*data, control.NameArgs{Name: *toy})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tTO\tSENT\tSECONDS\tPLAYED\tDELETED")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%v\t%s\n", m.ID, m.From, strings.Join(m.To, ","), m.SentAt.Local().Format(time.DateTime), m.Seconds, m.Played, m.Deletion)
	}
	return tw.Flush()
}

func messageDelete(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub message delete", flag.ContinueOnError)
	data := dataFlag(fs)
	pos, err := cmdline.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return cmdline.Usagef("usage: toyhub message delete ID...")
	}
	n, err := control.MessagesDelete.Call(*data, control.IDsArgs{IDs: pos})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "%d messages deleted for good.\n", n)
	return nil
}
