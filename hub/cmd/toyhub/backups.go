package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/toyhub/toyhub/hub/archive"
	"github.com/toyhub/toyhub/hub/backup"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/internal/cmdline"
	"github.com/toyhub/toyhub/web/password"
)

// Backups, restores and exports, and deleting everything.

func backupCmd(cio *cmdline.IO, args []string) error {
	stdin, stdout, stderr := cio.Stdin, cio.Stdout, cio.Stderr
	fs := flag.NewFlagSet("toyhub backup", flag.ContinueOnError)
	data := dataFlag(fs)
	out := fs.String("out", "", "the backup file to write")
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (default: ask)")
	withoutKey := fs.Bool("without-key", false, "leave the master key out (restoring then needs the hub's key file)")
	if pos, err := cmdline.Parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *out == "" {
		return cmdline.Usagef("usage: toyhub backup --out FILE [--passphrase-file F] [--without-key]")
	}
	pass, err := readSecret("Backup passphrase", *passFile, stdin, stderr, true)
	if err != nil {
		return err
	}
	if err := password.Check(string(pass), []string{"backup"}); err != nil {
		return fmt.Errorf("choose another passphrase: %w", err)
	}
	show, done := progress(stderr, "Backing up")
	err = archive.Backup(*data, *out, archive.BackupOptions{Passphrase: pass, WithoutKey: *withoutKey, Progress: show})
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
func restoreCmd(cio *cmdline.IO, args []string) error {
	stdin, stdout, stderr := cio.Stdin, cio.Stdout, cio.Stderr
	fs := flag.NewFlagSet("toyhub restore", flag.ContinueOnError)
	data := dataFlag(fs)
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (default: ask)")
	keyFile := fs.String("key", "", "the master key file, for a backup made --without-key")
	force := fs.Bool("force", false, "stop a running hub and replace its data (the old data is kept, renamed)")
	pos, err := cmdline.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cmdline.Usagef("usage: toyhub restore FILE [--passphrase-file F] [--key FILE] [--force]")
	}
	pass, err := readSecret("Backup passphrase", *passFile, stdin, stderr, false)
	if err != nil {
		return err
	}
	show, done := progress(stderr, "Restoring")
	res, err := archive.Restore(pos[0], *data, archive.RestoreOptions{Passphrase: pass, Force: *force, MasterKey: *keyFile, Progress: show})
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
func exportCmd(cio *cmdline.IO, args []string) error {
	stdin, stdout, stderr := cio.Stdin, cio.Stdout, cio.Stderr
	fs := flag.NewFlagSet("toyhub export", flag.ContinueOnError)
	data := dataFlag(fs)
	out := fs.String("out", "", "the archive to write")
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (default: ask)")
	plain := fs.Bool("plain", false, "write the archive unencrypted (it holds every recording and name)")
	if pos, err := cmdline.Parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *out == "" {
		return cmdline.Usagef("usage: toyhub export --out FILE.zip [--passphrase-file F | --plain]")
	}
	var pass []byte
	if !*plain {
		var err error
		if pass, err = readSecret("Export passphrase", *passFile, stdin, stderr, true); err != nil {
			return err
		}
		if err := password.Check(string(pass), []string{"export"}); err != nil {
			return fmt.Errorf("choose another passphrase: %w", err)
		}
	}
	last := -1
	n, err := archive.ExportFile(*data, *out, archive.ExportOptions{Passphrase: pass, Progress: func(done, total int) {
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
func decryptCmd(cio *cmdline.IO, args []string) error {
	stdin, stdout, stderr := cio.Stdin, cio.Stdout, cio.Stderr
	fs := flag.NewFlagSet("toyhub decrypt", flag.ContinueOnError)
	out := fs.String("out", "", "the file to write")
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (default: ask)")
	pos, err := cmdline.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return cmdline.Usagef("usage: toyhub decrypt FILE --out FILE.zip [--passphrase-file F]")
	}
	pass, err := readSecret("Passphrase", *passFile, stdin, stderr, false)
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
func wipeCmd(cio *cmdline.IO, args []string) error {
	stdin, stdout, stderr := cio.Stdin, cio.Stdout, cio.Stderr
	fs := flag.NewFlagSet("toyhub wipe", flag.ContinueOnError)
	data := dataFlag(fs)
	login := fs.String("login", "", "the owner's name")
	if pos, err := cmdline.Parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *login == "" {
		return cmdline.Usagef("usage: toyhub wipe --login OWNER")
	}
	fmt.Fprintln(stderr, "This deletes every message, name, account, device and key on the hub, for good.")
	pw, err := readSecret("Owner's password", "", stdin, stderr, false)
	if err != nil {
		return err
	}
	if _, err := control.Wipe.Call(*data, control.WipeArgs{Login: *login, Password: string(pw)}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Everything is being deleted; the hub starts again as a new hub, with a new setup link.")
	return nil
}
