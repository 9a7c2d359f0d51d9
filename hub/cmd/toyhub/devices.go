package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// Devices: adding, listing, pairing, setting, revoking and removing toys
// and family devices.

func deviceAdd(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub device add", flag.ContinueOnError)
	data := dataFlag(fs)
	name := fs.String("name", "", "name of the toy or person, as the family calls it")
	kind := fs.String("kind", "toy", "toy or family")
	out := fs.String("out", "", "directory to write the device bundle to")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *name == "" || *out == "" {
		return cmdline.Usagef("usage: toyhub device add --name NAME --kind toy|family --out DIR")
	}
	res, err := control.AddDeviceBundle(*data, *name, *kind, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "Added %s %q; its bundle is in %s\n", res.Device.Kind, res.Device.Name, *out)
	return nil
}

func deviceList(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub device list", flag.ContinueOnError)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	ds, err := control.DeviceList.Call(*data, control.None{})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ds)
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tID\tSTATE\tLAST SEEN")
	for _, d := range ds {
		state := "offline"
		switch {
		case d.Revoked:
			state = "revoked"
		case d.Online:
			state = "online"
		}
		seen := "never"
		if !d.LastSeen.IsZero() {
			seen = d.LastSeen.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Kind, d.ID, state, seen)
	}
	return tw.Flush()
}

// oneName parses a command's flags and its one positional argument, a
// device's name.
func oneName(fs *flag.FlagSet, args []string, usage string) (string, error) {
	pos, err := cmdline.Parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", cmdline.Usagef("usage: %s", usage)
	}
	return pos[0], nil
}

func deviceRevoke(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub device revoke", flag.ContinueOnError)
	data := dataFlag(fs)
	name, err := oneName(fs, args, "toyhub device revoke NAME")
	if err != nil {
		return err
	}
	d, err := control.DeviceRevoke.Call(*data, control.NameArgs{Name: name})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "Revoked %q: it can no longer connect\n", d.Name)
	return nil
}

func deviceRemove(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub device remove", flag.ContinueOnError)
	data := dataFlag(fs)
	del := fs.Bool("delete-messages", false, "delete every message it sent or received too (default: keep them, without its name)")
	name, err := oneName(fs, args, "toyhub device remove NAME [--delete-messages]")
	if err != nil {
		return err
	}
	if _, err := control.DeviceRemove.Call(*data, control.RemoveArgs{Name: name, KeepMessages: !*del}); err != nil {
		return err
	}
	if *del {
		fmt.Fprintf(io.Stdout, "%s removed, with every message it sent or received.\n", name)
	} else {
		fmt.Fprintf(io.Stdout, "%s removed; its messages stay, without its name.\n", name)
	}
	return nil
}

func deviceSet(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub device set", flag.ContinueOnError)
	data := dataFlag(fs)
	retention := fs.String("retention", "", "how long its messages are kept: a number of days such as 90d, forever, or played")
	quiet := fs.String("quiet", "", "quiet hours, such as 20:00-07:00, or none: messages wait until they end")
	limit := fs.Int("daily-limit", 0, "messages it may send in 24 hours (0: no limit)")
	name, err := oneName(fs, args, "toyhub device set NAME [--retention 90d|forever|played] [--quiet 20:00-07:00|none] [--daily-limit N]")
	if err != nil {
		return err
	}
	a := control.SettingsArgs{Name: name, Retention: *retention, Quiet: *quiet}
	// Only a limit given is changed; any given value goes to the hub,
	// which refuses one out of range in words.
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "daily-limit" {
			a.DailyLimit = limit
		}
	})
	v, err := control.DeviceSet.Call(*data, a)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "%s: messages kept %s, quiet hours %s, daily limit %s.\n", v.Name, v.Kept, v.Quiet, limitText(v.DailyLimit))
	return nil
}

func limitText(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

func pair(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub pair", flag.ContinueOnError)
	data := dataFlag(fs)
	code := fs.String("code", "", "the pairing code on the toy's label")
	name := fs.String("name", "", "what the family calls the toy")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *code == "" || *name == "" {
		return cmdline.Usagef("usage: toyhub pair --code CODE --name NAME")
	}
	res, err := control.PairOpen.Call(*data, control.PairArgs{Code: *code, Name: *name})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "Waiting for the toy until %s: put it in pairing mode now.\n", res.Expires.Local().Format(time.TimeOnly))
	return nil
}

func status(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub status", flag.ContinueOnError)
	data := dataFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	st, err := control.Status.Call(*data, control.None{})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "toyhub %s, schema %d\nbroker:  %s (devices try %s)\nCA code: %s (the page \"How to trust this hub\" shows the same)\nCA:      %s\ndevices: %d enrolled, %d online\n",
		st.Version, st.Schema, st.MQTTAddr, strings.Join(st.Hub, ", "), st.CACode, st.CAFingerprint, st.Devices, st.Online)
	return nil
}

func printVersion(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub version", flag.ContinueOnError)
	data := dataFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(io.Stdout, "toyhub", version)
	if st, err := control.Status.Call(*data, control.None{}); err == nil {
		fmt.Fprintf(io.Stdout, "running hub in %s: toyhub %s, schema %d\n", *data, st.Version, st.Schema)
	}
	return nil
}
