package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/internal/cmdline"
)

func serve(io *cmdline.IO, args []string) error {
	stderr := io.Stderr
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
	var ifaces cmdline.List
	fs.Var(&ifaces, "mdns-iface", "advertise on this interface only (repeatable; default: the LAN interfaces)")
	fs.DurationVar(&cfg.DiscoveryRefresh, "mdns-refresh", cfg.DiscoveryRefresh, "how often to check for changed addresses")
	fs.StringVar(&cfg.RemoteListen, "remote-listen", cfg.RemoteListen, "address the remote port binds to, when remote access is on (default: every interface)")
	fs.DurationVar(&cfg.AuditEvery, "audit-every", cfg.AuditEvery, "how often the security self-check runs (0: never on its own)")
	fs.DurationVar(&cfg.AuditAfterChange, "audit-after-change", cfg.AuditAfterChange, "run the self-check this long after a change of devices, invites or settings (0: not)")
	fs.BoolVar(&cfg.AuditNetwork, "audit-network", cfg.AuditNetwork, "include the home network scan in the hub's own self-checks (off by default)")
	auditTargets, backupDirs := cmdline.List(cfg.AuditTargets), cmdline.List(cfg.BackupDirs)
	fs.Var(&auditTargets, "audit-target", "address or prefix (at most a /22, private only) for the network scan (repeatable; default: the LAN subnets)")
	fs.Var(&backupDirs, "backup-dir", "a directory holding backups, searched for the master key in clear (repeatable)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "loopback address of /healthz and /metrics; empty turns them off")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if len(ifaces) > 0 {
		cfg.DiscoveryInterfaces = ifaces
	}
	cfg.AuditTargets, cfg.BackupDirs = auditTargets, backupDirs
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return cmdline.Usagef("toyhub serve: log level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch cfg.LogFormat {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return cmdline.Usagef("toyhub serve: log format %q: want text or json", cfg.LogFormat)
	}
	slog.SetDefault(cfg.Logger)
	cfg.Version = version

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		var h *hub.Hub
		if h, err = hub.New(cfg); err != nil {
			return err
		}
		// A hub that stopped to start again (its CA must vouch for a new
		// name) is built anew in the same process.
		if err = h.Run(ctx); !errors.Is(err, hub.ErrRestart) || ctx.Err() != nil {
			break
		}
	}
	if errors.Is(err, hub.ErrWiped) {
		// Not a clean exit: systemd (Restart=on-failure) starts a new,
		// empty hub with a new setup link.
		return &cmdline.ExitError{Code: exitWiped, Err: err}
	}
	return err
}
