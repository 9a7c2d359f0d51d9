package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// Remote access: one port, for grandparents far away.

func remoteEnable(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub remote enable", flag.ContinueOnError)
	data := dataFlag(fs)
	host := fs.String("host", "", "the name (your router's dynamic-DNS name) or fixed address the Internet reaches your home by")
	port := fs.Int("port", 0, "the one port, the same on the router and the hub (default 8885)")
	noMap := fs.Bool("no-map", false, "leave the router alone: you forward the port by hand")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *host == "" {
		return cmdline.Usagef("usage: toyhub remote enable --host NAME [--port PORT] [--no-map]")
	}
	v, err := control.RemoteEnable.Call(*data, control.RemoteArgs{Host: *host, Port: *port, NoMap: *noMap})
	if err != nil {
		return err
	}
	printRemote(io.Stdout, v)
	return nil
}

func remoteDisable(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub remote disable", flag.ContinueOnError)
	data := dataFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if _, err := control.RemoteDisable.Call(*data, control.None{}); err != nil {
		return err
	}
	fmt.Fprintln(io.Stdout, "Remote access is off: the port is closed, and the router was asked to forget it.")
	return nil
}

func remoteStatus(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub remote status", flag.ContinueOnError)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	v, err := control.RemoteStatus.Call(*data, control.None{})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printRemote(io.Stdout, v)
	return nil
}

// printRemote says where remote access stands, in words.
func printRemote(w io.Writer, v control.RemoteView) {
	if !v.Enabled {
		fmt.Fprintln(w, "Remote access: off. Only devices and browsers at home reach the hub.")
		return
	}
	fmt.Fprintf(w, "Remote access: on, at https://%s/\n", v.Public)
	if v.Problem != "" {
		fmt.Fprintf(w, "Problem: %s\n", v.Problem)
	}
	if v.Warning != "" {
		fmt.Fprintf(w, "Warning: %s\n", v.Warning)
	}
	fmt.Fprintf(w, "Router:  %s\n", v.MapMessage)
	if v.MapState == "mapped" && !v.Renews.IsZero() {
		fmt.Fprintf(w, "         renewed by the hub, next at %s", v.Renews.Local().Format(time.DateTime))
		if v.External != "" {
			fmt.Fprintf(w, "; the line's Internet address is %s", v.External)
		}
		fmt.Fprintln(w)
	}
	last := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format(time.DateTime)
	}
	fmt.Fprintf(w, "Last from outside: a device %s, a browser %s\n", last(v.LastDevice), last(v.LastBrowser))
}
