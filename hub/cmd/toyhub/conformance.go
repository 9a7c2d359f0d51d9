package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/toyhub/toyhub/hub/conformance"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// conformanceCmd plays a hub that misbehaves on purpose, for a toy maker
// to check a device against docs/protocol.md.
func conformanceCmd(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub conformance", flag.ContinueOnError)
	bundle := fs.String("device-bundle", "", "directory to write the device's bundle into (created)")
	listen := fs.String("listen", "127.0.0.1:0", "address the kit listens on; give a LAN address for a device on a bench")
	var hubs cmdline.List
	fs.Var(&hubs, "hub", "HOST:PORT the device dials, written into device.json (repeatable; default the listening address)")
	start := fs.String("start-cmd", "", "shell command that starts the device (left running); without it, the kit asks you to")
	send := fs.String("send-cmd", "", "shell command that makes the device send one message; without it, the kit asks you to")
	step := fs.Duration("step", 2*time.Minute, "how long to wait for the device to act")
	watch := fs.Duration("watch", 10*time.Second, "how long to watch that the device does not retry or reconnect")
	life := fs.Duration("cert-life", 3*time.Minute, "life of the device's first certificate, which it must renew")
	retry := fs.Int("retry-ms", 3000, "retry time told to the device")
	var only cmdline.List
	fs.Var(&only, "only", "run only the behaviours whose names contain this (repeatable)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *bundle == "" {
		return cmdline.Usagef("toyhub conformance: --device-bundle DIR is required")
	}
	k, err := conformance.New(conformance.Options{Addr: *listen, Hubs: hubs, BundleDir: *bundle, Step: *step, Watch: *watch,
		CertLife: *life, RetryMS: *retry, Only: only,
		Log: slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer k.Close()
	fmt.Fprintf(io.Stderr, "Conformance kit for protocol v1 listening on %s.\nThe device's bundle is in %s (device %s).\n",
		k.Addr(), *bundle, k.DeviceID())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dev := &shellDevice{start: *start, send: *send, out: io.Stderr, bundle: *bundle}
	defer dev.stop()
	if failed := conformance.Report(io.Stdout, k.Run(ctx, dev)); failed > 0 {
		return &cmdline.ExitError{Code: cmdline.ExitFailure, Err: fmt.Errorf("%d behaviours wrong; docs/protocol.md says what each should be", failed)}
	}
	return nil
}

// shellDevice drives a device with the commands given, or by asking the
// person at the bench.
type shellDevice struct {
	start, send, bundle string
	out                 io.Writer

	mu      sync.Mutex
	running *exec.Cmd
	exited  chan struct{}
}

func (d *shellDevice) Start(ctx context.Context) error {
	if d.start == "" {
		fmt.Fprintf(d.out, "→ Start the device now, with the bundle from %s (if it is not running).\n", d.bundle)
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.exited != nil {
		select {
		case <-d.exited:
		default:
			return nil // still running
		}
	}
	cmd := exec.Command("/bin/sh", "-c", d.start)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the device: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d.running, d.exited = cmd, exited
	return nil
}

func (d *shellDevice) Send(ctx context.Context) error {
	if d.send == "" {
		fmt.Fprintln(d.out, "→ Make the device send a message now (press its button and speak).")
		return nil
	}
	out, err := exec.CommandContext(ctx, "/bin/sh", "-c", d.send).CombinedOutput()
	if err != nil {
		return fmt.Errorf("send command: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stop ends the device the kit started, and everything it started.
func (d *shellDevice) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running == nil {
		return
	}
	_ = syscall.Kill(-d.running.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-d.running.Process.Pid, syscall.SIGKILL)
		<-d.exited
	}
}
