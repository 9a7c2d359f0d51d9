// Command toy is the toy and family-device client, and the simulator used
// to try toyhub without hardware: it sends and receives voice messages
// with a device bundle made by 'toyhub device add'.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/internal/cmdline"
	"github.com/toyhub/toyhub/wire"
)

var version = "dev"

// program is every command of toy, in the order the usage lists them.
func program() cmdline.Program {
	return cmdline.Program{
		Name:    "toy",
		Title:   "a toyhub toy or family device (and simulator)",
		Version: version,
		Commands: []cmdline.Command{
			{Name: "send", Synopsis: "--bundle DIR [--to NAME]... [--hub HOST:PORT] [--id ID] [--timeout D] FILE.wav",
				Run: func(io *cmdline.IO, args []string) error { return send(args, io.Stdout, io.Stderr) }},
			{Name: "listen", Synopsis: "--bundle DIR --out DIR [--count N] [--timeout D] [--hub HOST:PORT]",
				Run: func(io *cmdline.IO, args []string) error { return listen(args, io.Stdout, io.Stderr) }},
			{Name: "run", Synopsis: "--bundle DIR [--outbox DIR] [--inbox DIR] [--play CMD] [--to NAME]... [--hub HOST:PORT]",
				Run: func(io *cmdline.IO, args []string) error { return runAgent(args, io.Stderr) }},
			{Name: "record", Synopsis: "--out FILE.wav [--seconds N] [--rate HZ] [--freq HZ]",
				Run: func(io *cmdline.IO, args []string) error { return record(args, io.Stdout) }},
			{Name: "label", Synopsis: "--out DIR", Run: func(io *cmdline.IO, args []string) error { return label(args, io.Stdout) }},
			{Name: "pair", Synopsis: "--code CODE --out DIR [--hub HOST:PORT] [--mdns-iface NAME]...",
				Run: func(io *cmdline.IO, args []string) error { return pairCmd(args, io.Stdout, io.Stderr) }},
			{Name: "join", Synopsis: "FILE-or-LINK --out DIR", Run: func(io *cmdline.IO, args []string) error { return join(args, io.Stdout) }},
			{Name: "discover", Synopsis: "[--timeout D] [--mdns-iface NAME]...",
				Run: func(io *cmdline.IO, args []string) error { return discover(args, io.Stdout) }},
			{Name: "version", Run: func(io *cmdline.IO, args []string) error {
				_, err := fmt.Fprintln(io.Stdout, "toy", version)
				return err
			}},
		},
		Description: `send, listen and run connect to the addresses in the bundle; if none
answers they look for the hub by mDNS (--mdns=false turns that off).
label makes a simulated toy: its key and a label with its pairing code
(text and QR code). pair enrolls it with that code once a parent has run
'toyhub pair'; without --hub it finds the hub by mDNS. join enrolls a family
device with an invite file or toyhub:// link.

'toy help man' prints the manual page.

send exits 0 only once the hub has committed the message, and prints its ID.
listen writes each message as DIR/<message-id>.wav and confirms it played.
record synthesises a recording (a tone) in place of a microphone.`,
		Sections: ".SH SEE ALSO\n.BR toyhub (1)\n",
		Say:      say,
	}
}

// say words an error for the family member at the terminal. A refusal
// from the hub is said in the hub's words, which are written for people,
// without the code that a toy's firmware acts on; a code or an invite
// that does not parse says what to do; and the client library's errors
// lose their package prefixes.
func say(err error) string {
	switch {
	case errors.Is(err, wire.ErrPairingCode):
		return "that is not the code on this toy's label; check each letter and number against the label"
	case errors.Is(err, wire.ErrInvite):
		return "that is not a whole toyhub invite: the file or link may be cut short or changed; ask for a new one"
	}
	msg := err.Error()
	if we, ok := errors.AsType[*wire.Error](err); ok {
		msg = strings.Replace(msg, we.Error(), we.Message, 1)
	}
	return strings.NewReplacer("devices: ", "", "wire: ", "").Replace(msg)
}

func main() {
	os.Exit(program().Main(&cmdline.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}

// usageError is a usage error: exit status 2.
func usageError(err error) error { return cmdline.Usagef("%w", err) }

// list is a repeatable string flag.
type list = cmdline.List

func parse(fs *flag.FlagSet, args []string) ([]string, error) { return cmdline.Parse(fs, args) }

type common struct {
	bundle string
	hubs   list
	level  string
	mdns   bool
	ifaces list
}

func (c *common) register(fs *flag.FlagSet, level string) {
	fs.StringVar(&c.bundle, "bundle", "", "device bundle directory (from toyhub device add, toy pair or toy join)")
	fs.Var(&c.hubs, "hub", "hub address HOST:PORT, instead of those in the bundle (repeatable)")
	fs.StringVar(&c.level, "log-level", level, "log level: debug, info, warn or error")
	fs.BoolVar(&c.mdns, "mdns", true, "look for the hub by mDNS when its remembered addresses do not answer")
	fs.Var(&c.ifaces, "mdns-iface", "browse mDNS on this interface only (repeatable)")
}

func (c *common) load(stderr io.Writer) (*certs.Bundle, devices.Options, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.level)); err != nil {
		return nil, devices.Options{}, usageError(fmt.Errorf("--log-level %q: want debug, info, warn or error", c.level))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if c.bundle == "" {
		return nil, devices.Options{}, usageError(errors.New("--bundle DIR is required"))
	}
	b, err := certs.LoadBundle(c.bundle)
	if err != nil {
		return nil, devices.Options{}, err
	}
	ifaces, err := devices.Interfaces(c.ifaces)
	if err != nil {
		return nil, devices.Options{}, usageError(err)
	}
	return b, devices.Options{Hubs: c.hubs, Logger: log, Discover: c.mdns, DiscoverIfaces: ifaces}, nil
}

func signalContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if timeout <= 0 {
		return ctx, stop
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	return tctx, func() { cancel(); stop() }
}

func send(args []string, stdout, stderr io.Writer) error {
	var c common
	var to list
	fs := flag.NewFlagSet("toy send", flag.ContinueOnError)
	c.register(fs, "warn")
	fs.Var(&to, "to", "recipient name (repeatable); none means every contact")
	idFlag := fs.String("id", "", "message ID (32 hex characters); reuse it to retry without duplicates")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(errors.New("usage: toy send --bundle DIR [--to NAME] FILE.wav"))
	}
	b, opt, err := c.load(stderr)
	if err != nil {
		return err
	}
	wav, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	id := wire.NewMessageID()
	if *idFlag != "" {
		if id, err = wire.ParseMessageID(*idFlag); err != nil {
			return usageError(err)
		}
	}
	ctx, cancel := signalContext(*timeout)
	defer cancel()
	if err := devices.Deliver(ctx, b, opt, id, wav, to); err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return fmt.Errorf("the hub refused the message: %w", we)
		}
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}

func listen(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := flag.NewFlagSet("toy listen", flag.ContinueOnError)
	c.register(fs, "warn")
	out := fs.String("out", "", "directory to write received messages to")
	count := fs.Int("count", 0, "exit after this many messages (0: never)")
	timeout := fs.Duration("timeout", 0, "exit with an error after this long (0: never)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *out == "" || *count < 0 {
		return usageError(errors.New("usage: toy listen --bundle DIR --out DIR [--count N] [--timeout D]"))
	}
	b, opt, err := c.load(stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	ctx, cancel := signalContext(*timeout)
	defer cancel()
	got := 0
	in := devices.Inbox{Dir: *out, Resync: 15 * time.Second, Done: func(r devices.Received) bool {
		fmt.Fprintln(stdout, r.Path)
		got++
		return *count > 0 && got >= *count
	}}
	bo := 500 * time.Millisecond
	for {
		cl, err := devices.Dial(ctx, b, opt)
		if err == nil {
			err = cl.Receive(ctx, in)
			cl.Close()
			if err == nil {
				return nil
			}
		}
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return fmt.Errorf("timed out after %v with %d of %d messages", *timeout, got, *count)
		}
		if !devices.IsRetryable(err) {
			return err
		}
		select {
		case <-time.After(bo):
			bo = min(2*bo, 30*time.Second)
		case <-ctx.Done():
		}
	}
}

func runAgent(args []string, stderr io.Writer) error {
	var c common
	var to list
	fs := flag.NewFlagSet("toy run", flag.ContinueOnError)
	c.register(fs, "info")
	outbox := fs.String("outbox", "", "folder of WAV files to send (default BUNDLE/outbox)")
	inbox := fs.String("inbox", "", "folder for received messages (default BUNDLE/inbox)")
	play := fs.String("play", "", "command that plays a file, e.g. \"aplay -q\"; the file's path is appended")
	fs.Var(&to, "to", "recipient of outbox messages (repeatable); none means every contact")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(fmt.Errorf("toy run: unexpected argument %q", pos[0]))
	}
	b, opt, err := c.load(stderr)
	if err != nil {
		return err
	}
	if *outbox == "" {
		*outbox = b.Dir + "/outbox"
	}
	if *inbox == "" {
		*inbox = b.Dir + "/inbox"
	}
	a := &devices.Agent{Bundle: b, Options: opt, Outbox: *outbox, Inbox: *inbox, Play: strings.Fields(*play), To: to}
	ctx, cancel := signalContext(0)
	defer cancel()
	return a.Run(ctx)
}

func record(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toy record", flag.ContinueOnError)
	out := fs.String("out", "", "WAV file to write")
	seconds := fs.Float64("seconds", 10, "length in seconds")
	rate := fs.Int("rate", 16000, "sample rate in Hz (8000 to 48000)")
	freq := fs.Float64("freq", 440, "tone frequency in Hz")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *out == "" || *seconds <= 0 || *rate < wire.MinSampleRate || *rate > wire.MaxSampleRate {
		return usageError(errors.New("usage: toy record --out FILE.wav [--seconds N] [--rate 8000..48000] [--freq HZ]"))
	}
	wav := wire.Tone(*rate, time.Duration(*seconds*float64(time.Second)), *freq, uint32(time.Now().UnixNano()))
	if err := os.WriteFile(*out, wav, 0o600); err != nil {
		return err
	}
	fmt.Fprintln(stdout, *out)
	return nil
}

func label(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toy label", flag.ContinueOnError)
	out := fs.String("out", "", "directory for the simulated toy")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *out == "" {
		return usageError(errors.New("usage: toy label --out DIR"))
	}
	code, err := devices.MakeLabel(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n(label in %s/%s and %s/%s)\n", code, *out, devices.LabelText, *out, devices.LabelPNG)
	return nil
}

func pairCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("toy pair", flag.ContinueOnError)
	codeFlag := fs.String("code", "", "the pairing code on the toy's label")
	out := fs.String("out", "", "the toy's directory (from toy label), where its bundle is written")
	hubAddr := fs.String("hub", "", "the hub's enrollment endpoint HOST:PORT; default: found by mDNS")
	var ifaces list
	fs.Var(&ifaces, "mdns-iface", "browse mDNS on this interface only (repeatable)")
	wait := fs.Duration("timeout", 5*time.Second, "how long to look for hubs by mDNS")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *codeFlag == "" || *out == "" {
		return usageError(errors.New("usage: toy pair --code CODE --out DIR [--hub HOST:PORT]"))
	}
	code, err := wire.ParsePairingCode(*codeFlag)
	if err != nil {
		return usageError(err)
	}
	key, err := devices.KeyFor(*out)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext(2 * time.Minute)
	defer cancel()
	addrs := []string{*hubAddr}
	if *hubAddr == "" {
		nifs, err := devices.Interfaces(ifaces)
		if err != nil {
			return usageError(err)
		}
		found, err := devices.Discover(ctx, *wait, nifs)
		if err != nil {
			// Which interface failed to join the group is the machine's
			// business; the family needs the way round it.
			return errors.New("the hub could not be looked for on this computer's networks; give its address with --hub HOST:8884")
		}
		addrs = nil
		for _, f := range found {
			if f.Proto == wire.Version {
				addrs = append(addrs, f.Enroll...)
			}
		}
		if len(addrs) == 0 {
			return errors.New("no hub answered on this network; give its address with --hub HOST:8884")
		}
	}
	var lastErr error
	for _, a := range addrs {
		e, err := devices.Pair(ctx, a, code, key)
		if err != nil {
			lastErr = err
			if len(addrs) > 1 {
				fmt.Fprintf(stderr, "toy: the hub at %s: %s\n", a, say(err))
			}
			continue
		}
		if err := e.Save(*out, key); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Paired with the hub. The toy's certificate and settings are in %s.\n", *out)
		return nil
	}
	return fmt.Errorf("pairing failed: %w", lastErr)
}

func join(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toy join", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the device's bundle to")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return usageError(errors.New("usage: toy join FILE-or-LINK --out DIR"))
	}
	text := pos[0]
	if !strings.HasPrefix(text, wire.InviteScheme+"://") {
		b, err := os.ReadFile(text)
		if err != nil {
			return err
		}
		text = string(b)
	}
	inv, err := wire.ParseInvite(text)
	if err != nil {
		return usageError(err)
	}
	key, err := devices.KeyFor(*out)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext(2 * time.Minute)
	defer cancel()
	e, err := devices.Join(ctx, inv, key)
	if err != nil {
		return err
	}
	if err := e.Save(*out, key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Joined the family's hub. This device's certificate and settings are in %s.\n", *out)
	return nil
}

func discover(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("toy discover", flag.ContinueOnError)
	wait := fs.Duration("timeout", 3*time.Second, "how long to listen")
	var ifaces list
	fs.Var(&ifaces, "mdns-iface", "browse on this interface only (repeatable)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError(fmt.Errorf("toy discover: unexpected argument %q", pos[0]))
	}
	nifs, err := devices.Interfaces(ifaces)
	if err != nil {
		return usageError(err)
	}
	found, err := devices.Discover(context.Background(), *wait, nifs)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return errors.New("no hub found")
	}
	for _, f := range found {
		fmt.Fprintf(stdout, "%s\thost=%s\tmqtt=%s\tenroll=%s\tca=%s\tproto=%d\n", f.Instance, f.Host,
			strings.Join(f.MQTT, ","), strings.Join(f.Enroll, ","), f.CA, f.Proto)
	}
	return nil
}
