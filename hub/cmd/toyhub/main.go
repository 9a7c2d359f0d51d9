// Command toyhub is the hub daemon (toyhub serve) and its admin CLI, which
// acts on the running hub through the control socket in its data
// directory.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/backup"
	"github.com/toyhub/toyhub/web/password"
)

// version is stamped by the Makefile with -ldflags -X.
var version = "dev"

const usage = `toyhub: a home hub for children's voice-message toys

Usage:
  toyhub serve [--data DIR] [--mqtt-addr ADDR] [--enroll-addr ADDR] [--web-addr ADDR] [--http-redirect-addr ADDR]
               [--mdns=true|false] [--mdns-iface NAME]... [--public-addr HOST:PORT]
               [--config FILE] [--metrics-addr ADDR]
               [--audit-every D] [--audit-after-change D] [--audit-network] [--audit-target CIDR]... [--backup-dir DIR]...
               [--log-format text|json] [--log-level LEVEL]
  toyhub pair --code CODE --name NAME [--data DIR]
  toyhub invite create --name NAME [--role family|parent] [--toys NAME,NAME] [--expires 72h] --out FILE [--data DIR]
  toyhub invite list [--data DIR]
  toyhub invite revoke ID [--data DIR]
  toyhub audit [--json] [--network] [--target ADDR|CIDR]... [--latest] [--data DIR]
               (exit status 1 when a high-severity finding exists)
  toyhub audit-log [--count N] [--data DIR]
  toyhub audit-log verify [--data DIR]   (exit status 1 if an entry was edited, inserted or removed)
  toyhub backup --out FILE [--passphrase-file F] [--without-key] [--data DIR]
  toyhub restore FILE [--passphrase-file F] [--key FILE] [--force] [--data DIR]
  toyhub config check [--config FILE]
  toyhub export --out FILE.zip [--passphrase-file F | --plain] [--data DIR]
  toyhub decrypt FILE --out FILE.zip [--passphrase-file F]   (opens an encrypted export)
  toyhub wipe --login OWNER [--data DIR]   (deletes everything; reads the owner's password from the console)
  toyhub setup-link [--data DIR]
  toyhub user reset-password --login NAME [--data DIR]   (reads the new password from the console)
  toyhub device add --name NAME --kind toy|family --out DIR [--data DIR]
  toyhub device list [--json] [--data DIR]
  toyhub device revoke NAME [--data DIR]
  toyhub device remove NAME [--delete-messages] [--data DIR]
  toyhub device set NAME [--retention 90d|forever|played] [--quiet 20:00-07:00|none] [--daily-limit N] [--data DIR]
  toyhub pending [--data DIR]            (contacts waiting for a parent: approve with 'toyhub link')
  toyhub mute NAME NAME [--data DIR]
  toyhub unmute NAME NAME [--data DIR]
  toyhub messages --toy NAME [--data DIR]
  toyhub message delete ID... [--data DIR]
  toyhub link NAME NAME [--data DIR]
  toyhub unlink NAME NAME [--data DIR]
  toyhub status [--data DIR]
  toyhub version [--data DIR]

Every command but serve, version, restore and config acts on the running
hub through DIR/control.sock, which only the hub's user can open. DIR
defaults to the configuration's data_dir, or ./data without one.

serve reads its configuration from --config, $TOYHUB_CONFIG, or
/etc/toyhub/toyhub.toml if it exists; TOYHUB_<KEY> variables override the
file (TOYHUB_WEB_ADDR for web_addr, TOYHUB_AUDIT_EVERY for audit.every),
and flags override both. 'toyhub help man' prints the manual page.
`

func main() {
	// The hub serves no profiles, and sampling its large audio buffers
	// for a memory profile nobody reads cost measurable CPU.
	runtime.MemProfileRate = 0
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exit codes
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	exitWiped = 75 // EX_TEMPFAIL: restart me
)

type cmdError struct {
	code int
	err  error
}

func (e cmdError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return cmdError{exitUsage, fmt.Errorf(format, args...)}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serve(rest, stderr)
	case "device":
		if len(rest) == 0 {
			err = usageErr("toyhub device: want add, list or revoke")
			break
		}
		switch rest[0] {
		case "add":
			err = deviceAdd(rest[1:], stdout)
		case "list":
			err = deviceList(rest[1:], stdout)
		case "revoke":
			err = deviceRevoke(rest[1:], stdout)
		case "set":
			err = deviceSet(rest[1:], stdout)
		case "remove":
			err = deviceRemove(rest[1:], stdout)
		default:
			err = usageErr("toyhub device %s: unknown command; want add, list, set, revoke or remove", rest[0])
		}
	case "link", "unlink":
		err = link(cmd, rest, stdout)
	case "mute", "unmute":
		err = link(cmd, rest, stdout)
	case "pending":
		err = pending(rest, stdout)
	case "messages":
		err = messages(rest, stdout)
	case "message":
		if len(rest) == 0 || rest[0] != "delete" {
			err = usageErr("usage: toyhub message delete ID...")
			break
		}
		err = messageDelete(rest[1:], stdout)
	case "pair":
		err = pair(rest, stdout)
	case "invite":
		err = invite(rest, stdout)
	case "audit":
		err = auditRun(rest, stdout)
	case "config":
		if len(rest) == 0 || rest[0] != "check" {
			err = usageErr("usage: toyhub config check [--config FILE]")
			break
		}
		err = configCheck(rest[1:], stdout)
	case "backup":
		err = backupCmd(rest, os.Stdin, stdout, stderr)
	case "export":
		err = exportCmd(rest, os.Stdin, stdout, stderr)
	case "decrypt":
		err = decryptCmd(rest, os.Stdin, stdout, stderr)
	case "wipe":
		err = wipeCmd(rest, os.Stdin, stdout, stderr)
	case "restore":
		err = restoreCmd(rest, os.Stdin, stdout, stderr)
	case "audit-log":
		err = auditLog(rest, stdout)
	case "setup-link":
		err = setupLink(rest, stdout)
	case "user":
		if len(rest) == 0 || rest[0] != "reset-password" {
			err = usageErr("usage: toyhub user reset-password --login NAME")
			break
		}
		err = resetPassword(rest[1:], os.Stdin, stdout)
	case "status":
		err = status(rest, stdout)
	case "version":
		err = printVersion(rest, stdout)
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] == "man" {
			fmt.Fprint(stdout, manPage())
			break
		}
		fmt.Fprint(stdout, usage)
	default:
		err = usageErr("toyhub: unknown command %q\n\n%s", cmd, usage)
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(stderr, "toyhub:", err)
	var ce cmdError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitError
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// dataFlag is --data, defaulting to the configuration file's data_dir
// (so that on a packaged hub 'toyhub device list' finds /var/lib/toyhub).
func dataFlag(fs *flag.FlagSet) *string {
	def := hub.Defaults().DataDir
	if cfg, err := hub.LoadConfig(hub.ConfigFile(os.Environ()), os.Environ()); err == nil {
		def = cfg.DataDir
	}
	return fs.String("data", def, "data directory of the hub")
}

// configArg finds --config in args, before the other flags are defined
// (their defaults come from the file).
func configArg(args []string) string {
	for i, a := range args {
		for _, p := range []string{"--config=", "-config="} {
			if v, ok := strings.CutPrefix(a, p); ok {
				return v
			}
		}
		if (a == "--config" || a == "-config") && i+1 < len(args) {
			return args[i+1]
		}
	}
	return hub.ConfigFile(os.Environ())
}

func serve(args []string, stderr io.Writer) error {
	path := configArg(args)
	cfg, err := hub.LoadConfig(path, os.Environ())
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	fs := flag.NewFlagSet("toyhub serve", flag.ContinueOnError)
	fs.String("config", path, "configuration file (TOML; default $TOYHUB_CONFIG, or "+hub.DefaultConfigFile+" if it exists)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	fs.StringVar(&cfg.MQTTAddr, "mqtt-addr", cfg.MQTTAddr, "address of the mTLS MQTT broker")
	fs.StringVar(&cfg.EnrollAddr, "enroll-addr", cfg.EnrollAddr, "address of the enrollment endpoint (pairing and invites)")
	fs.StringVar(&cfg.WebAddr, "web-addr", cfg.WebAddr, "address of the HTTPS web app; empty turns it off")
	fs.StringVar(&cfg.HTTPRedirectAddr, "http-redirect-addr", cfg.HTTPRedirectAddr, "address of a plain-HTTP listener that only redirects to the web app (off when empty)")
	fs.BoolVar(&cfg.Discovery, "mdns", cfg.Discovery, "advertise the hub by mDNS on the LAN interfaces")
	var ifaces list
	fs.Var(&ifaces, "mdns-iface", "advertise on this interface only (repeatable; default: the LAN interfaces)")
	fs.DurationVar(&cfg.DiscoveryRefresh, "mdns-refresh", cfg.DiscoveryRefresh, "how often to check for changed addresses")
	fs.StringVar(&cfg.PublicAddress, "public-addr", cfg.PublicAddress, "public HOST:PORT of the enrollment endpoint to put in invites (remote access; off by default)")
	fs.DurationVar(&cfg.AuditEvery, "audit-every", cfg.AuditEvery, "how often the security self-check runs (0: never on its own)")
	fs.DurationVar(&cfg.AuditAfterChange, "audit-after-change", cfg.AuditAfterChange, "run the self-check this long after a change of devices, invites or settings (0: not)")
	fs.BoolVar(&cfg.AuditNetwork, "audit-network", cfg.AuditNetwork, "include the home network scan in the hub's own self-checks (off by default)")
	auditTargets, backupDirs := list(cfg.AuditTargets), list(cfg.BackupDirs)
	fs.Var(&auditTargets, "audit-target", "address or prefix (at most a /22, private only) for the network scan (repeatable; default: the LAN subnets)")
	fs.Var(&backupDirs, "backup-dir", "a directory holding backups, searched for the master key in clear (repeatable)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "loopback address of /healthz and /metrics; empty turns them off")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("toyhub serve: unexpected argument %q", pos[0])
	}
	if len(ifaces) > 0 {
		cfg.DiscoveryInterfaces = ifaces
	}
	cfg.AuditTargets, cfg.BackupDirs = auditTargets, backupDirs
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return usageErr("toyhub serve: log level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch cfg.LogFormat {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return usageErr("toyhub serve: log format %q: want text or json", cfg.LogFormat)
	}
	slog.SetDefault(cfg.Logger)
	cfg.Version = version

	h, err := hub.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = h.Run(ctx)
	if errors.Is(err, hub.ErrWiped) {
		// Not a clean exit: systemd (Restart=on-failure) starts a new,
		// empty hub with a new setup link.
		return cmdError{exitWiped, err}
	}
	return err
}

func deviceAdd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub device add", flag.ContinueOnError)
	data := dataFlag(fs)
	name := fs.String("name", "", "name of the toy or person, as the family calls it")
	kind := fs.String("kind", "toy", "toy or family")
	out := fs.String("out", "", "directory to write the device bundle to")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *name == "" || *out == "" {
		return usageErr("usage: toyhub device add --name NAME --kind toy|family --out DIR")
	}
	res, err := hub.AddDevice(*data, *name, *kind, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Added %s %q (%s); its bundle is in %s\n", res.Device.Kind, res.Device.Name, res.Device.ID, *out)
	return nil
}

func deviceList(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub device list", flag.ContinueOnError)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("toyhub device list: unexpected argument %q", pos[0])
	}
	var ds []hub.DeviceView
	if err := hub.Call(*data, hub.OpDeviceList, nil, &ds); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ds)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
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

func deviceRevoke(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub device revoke", flag.ContinueOnError)
	data := dataFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("usage: toyhub device revoke NAME")
	}
	var d hub.DeviceView
	if err := hub.Call(*data, hub.OpDeviceRevoke, hub.NameArgs{Name: pos[0]}, &d); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Revoked %q (%s): it can no longer connect\n", d.Name, d.ID)
	return nil
}

func link(cmd string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub "+cmd, flag.ContinueOnError)
	data := dataFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErr("usage: toyhub %s NAME NAME", cmd)
	}
	op := map[string]string{"link": hub.OpLink, "unlink": hub.OpUnlink, "mute": hub.OpMute, "unmute": hub.OpUnmute}[cmd]
	if err := hub.Call(*data, op, hub.LinkArgs{A: pos[0], B: pos[1]}, nil); err != nil {
		return err
	}
	if cmd == "mute" || cmd == "unmute" {
		fmt.Fprintf(stdout, "%s and %s %sd.\n", pos[0], pos[1], cmd)
		return nil
	}
	if cmd == "link" {
		fmt.Fprintf(stdout, "Linked %q and %q: they can now message each other\n", pos[0], pos[1])
	} else {
		fmt.Fprintf(stdout, "Unlinked %q and %q\n", pos[0], pos[1])
	}
	return nil
}

func status(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub status", flag.ContinueOnError)
	data := dataFlag(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("toyhub status: unexpected argument %q", pos[0])
	}
	var st hub.StatusResult
	if err := hub.Call(*data, hub.OpStatus, nil, &st); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "toyhub %s, schema %d\nbroker:  %s (devices try %s)\nCA:      %s\ndevices: %d enrolled, %d online\n",
		st.Version, st.Schema, st.MQTTAddr, strings.Join(st.Hub, ", "), st.CAFingerprint, st.Devices, st.Online)
	return nil
}

func printVersion(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub version", flag.ContinueOnError)
	data := dataFlag(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("toyhub version: unexpected argument %q", pos[0])
	}
	fmt.Fprintln(stdout, "toyhub", version)
	var st hub.StatusResult
	if hub.Call(*data, hub.OpStatus, nil, &st) == nil {
		fmt.Fprintf(stdout, "running hub in %s: toyhub %s, schema %d\n", *data, st.Version, st.Schema)
	}
	return nil
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func pair(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub pair", flag.ContinueOnError)
	data := dataFlag(fs)
	code := fs.String("code", "", "the pairing code on the toy's label")
	name := fs.String("name", "", "what the family calls the toy")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *code == "" || *name == "" {
		return usageErr("usage: toyhub pair --code CODE --name NAME")
	}
	var res hub.PairResult
	if err := hub.Call(*data, hub.OpPairOpen, hub.PairArgs{Code: *code, Name: *name}, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Waiting for the toy until %s: put it in pairing mode now.\n", res.Expires.Local().Format(time.TimeOnly))
	return nil
}

func invite(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageErr("toyhub invite: want create, list or revoke")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("toyhub invite "+sub, flag.ContinueOnError)
	data := dataFlag(fs)
	switch sub {
	case "create":
		name := fs.String("name", "", "who the invite is for, as the family calls them")
		role := fs.String("role", "family", "family (only the toys given) or parent (everything, in the web app)")
		toys := fs.String("toys", "", "comma-separated toys the new device may message")
		expires := fs.String("expires", "", "how long the invite is valid (default 72h)")
		out := fs.String("out", "", "file to write the invite to; FILE.png gets its QR code")
		if pos, err := parse(fs, args); err != nil {
			return err
		} else if len(pos) > 0 || *name == "" || *out == "" {
			return usageErr("usage: toyhub invite create --name NAME [--toys NAME,NAME] [--expires 72h] --out FILE")
		}
		a := hub.InviteArgs{Name: *name, Role: *role, Expires: *expires}
		for _, t := range strings.Split(*toys, ",") {
			if t = strings.TrimSpace(t); t != "" {
				a.Toys = append(a.Toys, t)
			}
		}
		res, err := hub.CreateInvite(*data, a, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Invite %s for %q, valid until %s, written to %s and %s.png.\nIt works once; send it privately.\n",
			res.ID, *name, res.Expires.Local().Format(time.DateTime), *out, *out)
		if res.Role != "parent" {
			fmt.Fprintf(stdout, "For a family device:\n%s\n", res.Link)
		}
		if res.WebLink != "" {
			fmt.Fprintf(stdout, "In a web browser:\n%s\n", res.WebLink)
		}
		return nil
	case "list":
		if pos, err := parse(fs, args); err != nil {
			return err
		} else if len(pos) > 0 {
			return usageErr("toyhub invite list: unexpected argument %q", pos[0])
		}
		var invs []hub.InviteView
		if err := hub.Call(*data, hub.OpInviteList, nil, &invs); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTOYS\tSTATE\tEXPIRES")
		for _, i := range invs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.ID, i.Name, strings.Join(i.Toys, ","), i.State, i.Expires.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case "revoke":
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageErr("usage: toyhub invite revoke ID")
		}
		if err := hub.Call(*data, hub.OpInviteRevoke, hub.IDArgs{ID: pos[0]}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Invite %s revoked: it can no longer be used\n", pos[0])
		return nil
	}
	return usageErr("toyhub invite %s: unknown command; want create, list or revoke", sub)
}

func auditLog(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "verify" {
		fs := flag.NewFlagSet("toyhub audit-log verify", flag.ContinueOnError)
		data := dataFlag(fs)
		if pos, err := parse(fs, args[1:]); err != nil {
			return err
		} else if len(pos) > 0 {
			return usageErr("toyhub audit-log verify: unexpected argument %q", pos[0])
		}
		var res hub.VerifyResult
		if err := hub.Call(*data, hub.OpAuditVerify, nil, &res); err != nil {
			return err
		}
		if res.Problem != "" {
			return fmt.Errorf("the audit log was tampered with: %s (%d entries verified before it)", res.Problem, res.Entries)
		}
		fmt.Fprintf(stdout, "The audit log is intact: %d entries, each chained to the one before.\n", res.Entries)
		return nil
	}
	fs := flag.NewFlagSet("toyhub audit-log", flag.ContinueOnError)
	data := dataFlag(fs)
	count := fs.Int("count", 50, "how many of the newest events")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("toyhub audit-log: unexpected argument %q", pos[0])
	}
	var events []struct {
		At                                 time.Time
		Kind, User, Device, Remote, Detail string
	}
	if err := hub.Call(*data, hub.OpAuditList, hub.CountArgs{Count: *count}, &events); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tACCOUNT\tDEVICE\tFROM\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Kind, e.User, e.Device, e.Remote, e.Detail)
	}
	return tw.Flush()
}

func setupLink(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub setup-link", flag.ContinueOnError)
	data := dataFlag(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("toyhub setup-link: unexpected argument %q", pos[0])
	}
	var res hub.SetupLinkResult
	if err := hub.Call(*data, hub.OpSetupLink, nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Open this link to create the owner account (it works once; earlier links no longer do):\n%s\n", res.Link)
	return nil
}

// resetPassword sets a password from the hub's own console: running it
// needs the hub's user on the hub, which proves physical access.
func resetPassword(args []string, stdin *os.File, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub user reset-password", flag.ContinueOnError)
	data := dataFlag(fs)
	login := fs.String("login", "", "the account's name")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *login == "" {
		return usageErr("usage: toyhub user reset-password --login NAME")
	}
	var pw string
	if term.IsTerminal(int(stdin.Fd())) {
		fmt.Fprint(stdout, "New password (at least 12 characters): ")
		b, err := term.ReadPassword(int(stdin.Fd()))
		fmt.Fprintln(stdout)
		if err != nil {
			return err
		}
		pw = string(b)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("no password on standard input")
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if err := hub.Call(*data, hub.OpResetPassword, hub.ResetArgs{Login: *login, Password: pw}, nil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Password changed; every session of this account has ended.")
	return nil
}

// auditRun asks the running hub for a security self-check and prints it;
// a high-severity finding makes the exit status 1.
func auditRun(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub audit", flag.ContinueOnError)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	network := fs.Bool("network", false, "also scan the home network for exposed services (opt-in)")
	latest := fs.Bool("latest", false, "print the newest report in the history instead of running the checks")
	var targets list
	fs.Var(&targets, "target", "address or prefix to scan, at most a /22 of private addresses (repeatable; default: the LAN subnets)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("toyhub audit: unexpected argument %q", pos[0])
	}
	if len(targets) > 0 && !*network {
		return usageErr("toyhub audit: --target needs --network")
	}
	if len(targets) > 0 {
		if _, err := audit.ParseTargets(targets); err != nil {
			return usageErr("toyhub audit: %v", err)
		}
	}
	var res hub.AuditResult
	op, a := hub.OpCheckRun, any(hub.AuditArgs{Network: *network, Targets: targets})
	if *latest {
		op, a = hub.OpCheckLatest, nil
	}
	if err := hub.Call(*data, op, a, &res); err != nil {
		return err
	}
	rep := res.Report
	if *asJSON {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		rep.Name(res.Names)
		if err := rep.WriteText(stdout); err != nil {
			return err
		}
	}
	if rep.Worst() >= audit.High {
		return cmdError{exitError, fmt.Errorf("%d high-severity findings", rep.Count(audit.High))}
	}
	return nil
}

// configCheck validates the configuration (file and environment) and
// prints what the hub would use, or every bad value.
func configCheck(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub config check", flag.ContinueOnError)
	path := fs.String("config", hub.ConfigFile(os.Environ()), "configuration file to check")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("toyhub config check: unexpected argument %q", pos[0])
	}
	cfg, err := hub.LoadConfig(*path, os.Environ())
	if err = errors.Join(err, cfg.Check()); err != nil { // every bad value, from reading and from checking
		return fmt.Errorf("the configuration is not valid:\n%w", err)
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stdout, "warning:", w)
	}
	src := *path
	if src == "" {
		src = "no file: the embedded defaults"
	}
	fmt.Fprintf(stdout, "The configuration is valid (%s).\n", src)
	return nil
}

// readPassphrase reads a passphrase from a file, or from the terminal
// (twice, when confirm is set).
func readPassphrase(prompt, file string, stdin *os.File, stderr io.Writer, confirm bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if !term.IsTerminal(int(stdin.Fd())) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return nil, errors.New("no passphrase: give --passphrase-file, or type it at a terminal")
		}
		return []byte(strings.TrimRight(line, "\r\n")), nil
	}
	fmt.Fprint(stderr, prompt+": ")
	p, err := term.ReadPassword(int(stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil || !confirm {
		return p, err
	}
	fmt.Fprint(stderr, "The same again: ")
	q, err := term.ReadPassword(int(stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	if string(p) != string(q) {
		return nil, errors.New("the two passphrases differ")
	}
	return p, nil
}

// progress prints a percentage on stderr for backups of a few megabytes
// or more.
func progress(stderr io.Writer, what string) (func(done, total int64), func()) {
	last := -1
	shown := false
	return func(done, total int64) {
			if total < 4<<20 {
				return
			}
			if pct := int(done * 100 / max(total, 1)); pct != last && pct%5 == 0 {
				last, shown = pct, true
				fmt.Fprintf(stderr, "\r%s: %3d%% of %d MB", what, pct, total>>20)
			}
		}, func() {
			if shown {
				fmt.Fprintln(stderr)
			}
		}
}

func backupCmd(args []string, stdin *os.File, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("toyhub backup", flag.ContinueOnError)
	data := dataFlag(fs)
	out := fs.String("out", "", "the backup file to write")
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (default: ask)")
	withoutKey := fs.Bool("without-key", false, "leave the master key out (restoring then needs the hub's key file)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *out == "" {
		return usageErr("usage: toyhub backup --out FILE [--passphrase-file F] [--without-key]")
	}
	pass, err := readPassphrase("Backup passphrase", *passFile, stdin, stderr, true)
	if err != nil {
		return err
	}
	if err := password.Check(string(pass), []string{"backup"}); err != nil {
		return fmt.Errorf("choose another passphrase: %w", err)
	}
	show, done := progress(stderr, "Backing up")
	err = hub.Backup(*data, *out, hub.BackupOptions{Passphrase: pass, WithoutKey: *withoutKey, Progress: show})
	done()
	if err != nil {
		return err
	}
	key := "It holds the master key, encrypted with the passphrase: keep the passphrase apart from the file."
	if *withoutKey {
		key = "It holds no master key: restoring it needs the hub's key file too."
	}
	fmt.Fprintf(stdout, "Backup written to %s. %s\n", *out, key)
	return nil
}

func restoreCmd(args []string, stdin *os.File, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("toyhub restore", flag.ContinueOnError)
	data := dataFlag(fs)
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (default: ask)")
	keyFile := fs.String("key", "", "the master key file, for a backup made --without-key")
	force := fs.Bool("force", false, "stop a running hub and replace its data (the old data is kept, renamed)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("usage: toyhub restore FILE [--passphrase-file F] [--key FILE] [--force]")
	}
	pass, err := readPassphrase("Backup passphrase", *passFile, stdin, stderr, false)
	if err != nil {
		return err
	}
	show, done := progress(stderr, "Restoring")
	res, err := hub.Restore(pos[0], *data, hub.RestoreOptions{Passphrase: pass, Force: *force, MasterKey: *keyFile, Progress: show})
	done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Restored the backup of %s into %s: %d messages, checked intact.\n",
		res.Header.Created.Local().Format(time.DateTime), *data, res.Messages)
	if res.Replaced != "" {
		fmt.Fprintf(stdout, "The data it replaced is kept in %s; delete it once all is well.\n", res.Replaced)
	}
	if res.Stopped {
		fmt.Fprintln(stdout, "The hub was stopped; start it again (sudo systemctl start toyhub).")
	}
	return nil
}

func deviceSet(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub device set", flag.ContinueOnError)
	data := dataFlag(fs)
	retention := fs.String("retention", "", "how long its messages are kept: a number of days such as 90d, forever, or played")
	quiet := fs.String("quiet", "", "quiet hours, such as 20:00-07:00, or none: messages wait until they end")
	limit := fs.Int("daily-limit", -1, "messages it may send in 24 hours (0: no limit)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("usage: toyhub device set NAME [--retention 90d|forever|played] [--quiet 20:00-07:00|none] [--daily-limit N]")
	}
	a := hub.SettingsArgs{Name: pos[0], Retention: *retention, Quiet: *quiet}
	if *limit >= 0 {
		a.DailyLimit = limit
	}
	var v hub.SettingsView
	if err := hub.Call(*data, hub.OpDeviceSet, a, &v); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: messages kept %s, quiet hours %s, daily limit %s.\n", v.Name,
		map[string]string{"forever": "forever", "played": "until played"}[v.Retention]+ifDays(v.Retention), v.Quiet, limitText(v.DailyLimit))
	return nil
}

func ifDays(r string) string {
	if strings.HasSuffix(r, "d") {
		return strings.TrimSuffix(r, "d") + " days"
	}
	return ""
}

func limitText(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

func deviceRemove(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub device remove", flag.ContinueOnError)
	data := dataFlag(fs)
	del := fs.Bool("delete-messages", false, "delete every message it sent or received too (default: keep them, without its name)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("usage: toyhub device remove NAME [--delete-messages]")
	}
	if err := hub.Call(*data, hub.OpDeviceRemove, hub.RemoveArgs{Name: pos[0], KeepMessages: !*del}, nil); err != nil {
		return err
	}
	if *del {
		fmt.Fprintf(stdout, "%s removed, with every message it sent or received.\n", pos[0])
	} else {
		fmt.Fprintf(stdout, "%s removed; its messages stay, without its name.\n", pos[0])
	}
	return nil
}

func pending(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub pending", flag.ContinueOnError)
	data := dataFlag(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("toyhub pending: unexpected argument %q", pos[0])
	}
	var ps []hub.PendingView
	if err := hub.Call(*data, hub.OpPending, nil, &ps); err != nil {
		return err
	}
	if len(ps) == 0 {
		fmt.Fprintln(stdout, "Nobody is waiting for approval.")
		return nil
	}
	for _, p := range ps {
		fmt.Fprintf(stdout, "%s wants to talk to %s: approve with 'toyhub link %q %q', or 'toyhub unlink' to refuse.\n", p.Person, p.Toy, p.Person, p.Toy)
	}
	return nil
}

func messages(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub messages", flag.ContinueOnError)
	data := dataFlag(fs)
	toy := fs.String("toy", "", "the toy whose messages to list")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *toy == "" {
		return usageErr("usage: toyhub messages --toy NAME")
	}
	var ms []hub.MessageView
	if err := hub.Call(*data, hub.OpMessagesList, hub.NameArgs{Name: *toy}, &ms); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tTO\tSENT\tSECONDS\tPLAYED\tDELETED")
	for _, m := range ms {
		del := "never"
		if !m.DeleteAt.IsZero() {
			del = m.DeleteAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%v\t%s\n", m.ID, m.From, strings.Join(m.To, ","), m.SentAt.Local().Format(time.DateTime), m.Seconds, m.Played, del)
	}
	return tw.Flush()
}

func messageDelete(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toyhub message delete", flag.ContinueOnError)
	data := dataFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("usage: toyhub message delete ID...")
	}
	var n int
	if err := hub.Call(*data, hub.OpMessagesDelete, hub.IDsArgs{IDs: pos}, &n); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d messages deleted for good.\n", n)
	return nil
}

func exportCmd(args []string, stdin *os.File, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("toyhub export", flag.ContinueOnError)
	data := dataFlag(fs)
	out := fs.String("out", "", "the archive to write")
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (default: ask)")
	plain := fs.Bool("plain", false, "write the archive unencrypted (it holds every recording and name)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *out == "" {
		return usageErr("usage: toyhub export --out FILE.zip [--passphrase-file F | --plain]")
	}
	var pass []byte
	if !*plain {
		var err error
		if pass, err = readPassphrase("Export passphrase", *passFile, stdin, stderr, true); err != nil {
			return err
		}
		if err := password.Check(string(pass), []string{"export"}); err != nil {
			return fmt.Errorf("choose another passphrase: %w", err)
		}
	}
	last := -1
	n, err := hub.ExportFile(*data, *out, hub.ExportOptions{Passphrase: pass, Progress: func(done, total int) {
		if pct := done * 100 / max(total, 1); pct/10 != last/10 {
			last = pct
			fmt.Fprintf(stderr, "\rExporting: %3d%% of %d messages", pct, total)
		}
	}})
	if last >= 0 {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	how := "encrypted with your passphrase; open it with 'toyhub decrypt'"
	if *plain {
		how = "unencrypted: keep it somewhere private"
	}
	fmt.Fprintf(stdout, "Exported %d messages, the people and devices, and the audit log to %s (%s).\n", n, *out, how)
	return nil
}

func decryptCmd(args []string, stdin *os.File, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("toyhub decrypt", flag.ContinueOnError)
	out := fs.String("out", "", "the file to write")
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (default: ask)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return usageErr("usage: toyhub decrypt FILE --out FILE.zip [--passphrase-file F]")
	}
	pass, err := readPassphrase("Passphrase", *passFile, stdin, stderr, false)
	if err != nil {
		return err
	}
	in, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer in.Close()
	dec, err := backup.NewDecrypter(in, pass)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, dec); err != nil {
		f.Close()
		os.Remove(*out)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Decrypted and checked: %s.\n", *out)
	return nil
}

func wipeCmd(args []string, stdin *os.File, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("toyhub wipe", flag.ContinueOnError)
	data := dataFlag(fs)
	login := fs.String("login", "", "the owner's name")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *login == "" {
		return usageErr("usage: toyhub wipe --login OWNER")
	}
	fmt.Fprintln(stderr, "This deletes every message, name, account, device and key on the hub, for good.")
	pw, err := readPassphrase("The owner's password", "", stdin, stderr, false)
	if err != nil {
		return err
	}
	if err := hub.Call(*data, hub.OpWipe, hub.WipeArgs{Login: *login, Password: string(pw)}, nil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Everything is being deleted; the hub starts again as a new hub, with a new setup link.")
	return nil
}
