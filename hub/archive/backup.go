// Package archive writes and reads a household's data as files: encrypted
// backups (the database, the CA and, unless left out, the master key) made
// while the hub serves, daily or from the console; their verified restore;
// and exports of every message, person and log entry in files anyone can
// open. The file format itself is package backup's.
//
// Backup, Restore and ExportFile run in the console's process, beside the
// running hub, which they reach through the control socket; the rest runs
// in the hub.
package archive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/backup"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/hub/datadir"
	"github.com/toyhub/toyhub/store"
)

// Names of the files inside a backup.
const (
	backupDB        = "hub.db"
	backupMasterKey = "keys/master.key"
	backupCAKey     = "keys/ca.key"
	backupCACert    = "ca.pem"
)

// BackupExt ends the name of every backup the hub writes.
const BackupExt = ".toyhub-backup"

// Snapshot is a consistent copy of the database that the hub made for a
// backup; whoever asked for it removes it.
type Snapshot struct {
	Path       string
	Schema     int
	HubVersion string
}

// TakeSnapshot copies the database, consistently, into the data directory
// (0700), while the hub keeps serving.
func TakeSnapshot(ctx context.Context, st *store.Store, dir datadir.Dir, version string) (Snapshot, error) {
	b := make([]byte, 8)
	rand.Read(b)
	path := dir.Join("backup-" + hex.EncodeToString(b) + ".db.tmp")
	if err := st.Snapshot(ctx, path); err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Path: path, Schema: store.SchemaVersion(), HubVersion: version}, nil
}

// backupFiles are what a backup holds: the snapshot, the CA, and the
// master key unless left out.
func backupFiles(dir datadir.Dir, snapshot string, withKey bool) []backup.File {
	fs := []backup.File{{Name: backupDB, Path: snapshot}, {Name: backupCACert, Path: dir.CACert()}, {Name: backupCAKey, Path: dir.CAKey()}}
	if withKey {
		fs = append(fs, backup.File{Name: backupMasterKey, Path: dir.MasterKey()})
	}
	return fs
}

// writeBackupFile writes a backup to out (0600, whole or not at all).
func writeBackupFile(out string, files []backup.File, pass []byte, h backup.Header, progress backup.Progress) error {
	if err := writeWhole(out, func(w io.Writer) error { return backup.Write(w, files, pass, h, progress) }); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// writeWhole writes a new file, mode 0600, with write: whole and durable,
// or not at all.
func writeWhole(out string, write func(io.Writer) error) error {
	tmp := out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// BackupOptions say how 'toyhub backup' works.
type BackupOptions struct {
	Passphrase []byte
	// WithoutKey leaves the master key out: restoring then needs the
	// hub's current key.
	WithoutKey bool
	Progress   backup.Progress
}

// Backup takes a backup of the running hub into out: the hub makes a
// consistent snapshot of its database while it keeps serving, and this
// process (the hub's user) encrypts it with the CA and the master key.
func Backup(dataDir, out string, o BackupOptions) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists; choose another file", out)
	}
	snap, err := control.BackupSnapshot.Call(dataDir, control.None{})
	if err != nil {
		return err
	}
	defer os.Remove(snap.Path)
	err = writeBackupFile(out, backupFiles(datadir.Dir{Path: dataDir}, snap.Path, !o.WithoutKey), o.Passphrase,
		backup.Header{Schema: snap.Schema, HubVersion: snap.HubVersion, MasterKey: !o.WithoutKey}, o.Progress)
	if err != nil {
		return err
	}
	_, err = control.BackupDone.Call(dataDir, control.None{})
	return err
}

// LastBackup is when the last backup was taken, if one was.
func LastBackup(ctx context.Context, st *store.Store) (time.Time, bool) {
	b, err := st.Meta(ctx, "last_backup_at")
	if err != nil {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// BackupTaken records when a backup was taken.
func BackupTaken(ctx context.Context, st *store.Store, at time.Time) error {
	return st.SetMeta(ctx, "last_backup_at", []byte(strconv.FormatInt(at.Unix(), 10)))
}

// DailyOptions say where daily backups go.
type DailyOptions struct {
	Dir            string // where the backups go
	PassphraseFile string
	Keep           int // how many of the newest to keep
	Version        string
	Now            func() time.Time
}

// Daily writes a backup into the backup directory, keeps the newest
// o.Keep there, and returns the file's name.
func Daily(ctx context.Context, st *store.Store, dir datadir.Dir, o DailyOptions, log *slog.Logger) (string, error) {
	pass, err := readPassphraseFile(o.PassphraseFile)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	snap, err := TakeSnapshot(ctx, st, dir, o.Version)
	if err != nil {
		return "", err
	}
	defer os.Remove(snap.Path)
	now := o.Now()
	out := filepath.Join(o.Dir, "toyhub-"+now.UTC().Format("20060102T150405Z")+BackupExt)
	if err := writeBackupFile(out, backupFiles(dir, snap.Path, true), pass,
		backup.Header{Schema: snap.Schema, HubVersion: snap.HubVersion, MasterKey: true, Created: now}, nil); err != nil {
		return "", err
	}
	if err := BackupTaken(ctx, st, now); err != nil {
		return "", err
	}
	old, _ := filepath.Glob(filepath.Join(o.Dir, "toyhub-*"+BackupExt))
	slices.Sort(old) // the names sort by time
	for len(old) > o.Keep {
		if err := os.Remove(old[0]); err != nil {
			log.Warn("Old backup not removed", "error", err)
		}
		old = old[1:]
	}
	log.Info("Backup written", "file", out, "kept", min(len(old), o.Keep))
	return out, nil
}

// readPassphraseFile reads a backup passphrase from a file that only its
// owner can read.
func readPassphraseFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("backup passphrase: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("backup passphrase: %s has mode %#o; run: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("backup passphrase: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if len(p) < 12 {
		return nil, fmt.Errorf("backup passphrase in %s: at least 12 characters", path)
	}
	return []byte(p), nil
}

// RestoreOptions say how 'toyhub restore' works.
type RestoreOptions struct {
	Passphrase []byte
	// Force replaces an existing data directory (kept beside it, renamed)
	// and stops a running hub first.
	Force bool
	// MasterKey is the key file to use when the backup holds none.
	MasterKey string
	Progress  backup.Progress
}

// RestoreResult says what was restored.
type RestoreResult struct {
	Header   backup.Header
	Messages int
	Replaced string // where the previous data directory went, if any
	Stopped  bool   // a running hub was stopped
}

// Restore verifies a backup completely (every record, the database's
// integrity, the master key against it) in a new directory beside
// dataDir, and only then puts it in place.
func Restore(file, dataDir string, o RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	in, err := os.Open(file)
	if err != nil {
		return res, err
	}
	defer in.Close()
	parent := filepath.Dir(filepath.Clean(dataDir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp) // gone once renamed into place
	if err := os.Chmod(tmp, 0o700); err != nil {
		return res, err
	}
	h, names, err := backup.Extract(in, o.Passphrase, tmp, o.Progress)
	if err != nil {
		return res, err
	}
	res.Header = h
	for _, need := range []string{backupDB, backupCACert, backupCAKey} {
		if !slices.Contains(names, need) {
			return res, fmt.Errorf("%w: %s is missing", backup.ErrCorrupt, need)
		}
	}
	dir := datadir.Dir{Path: tmp}
	if !slices.Contains(names, backupMasterKey) {
		if o.MasterKey == "" {
			return res, errors.New("this backup holds no master key; give the hub's key with --key FILE")
		}
		b, err := os.ReadFile(o.MasterKey)
		if err != nil {
			return res, err
		}
		if err := certs.WriteFileAtomic(dir.MasterKey(), b, 0o600); err != nil {
			return res, err
		}
	}
	if err := os.Chmod(dir.Keys(), 0o700); err != nil {
		return res, err
	}
	if res.Messages, err = verifyRestored(dir); err != nil {
		return res, err
	}

	// Now the running hub, if any, and the data in place.
	target := datadir.Dir{Path: dataDir}
	lock, err := target.Lock()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		if !o.Force {
			return res, fmt.Errorf("the hub is running on %s; stop it first (sudo systemctl stop toyhub), or give --force to have it stop", dataDir)
		}
		if _, err := control.Shutdown.Call(dataDir, control.None{}); err != nil {
			return res, fmt.Errorf("stop the running hub: %w", err)
		}
		res.Stopped = true
		for i := 0; ; i++ {
			if lock, err = target.Lock(); err == nil {
				break
			}
			if i > 300 {
				return res, errors.New("the hub did not stop within 30 seconds")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if lock != nil {
		defer lock.Close()
	}
	if _, err := os.Stat(filepath.Join(dataDir, "hub.db")); err == nil {
		if !o.Force {
			return res, fmt.Errorf("%s holds a hub's data already; give --force to replace it (it is kept, renamed)", dataDir)
		}
		res.Replaced = dataDir + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(dataDir, res.Replaced); err != nil {
			return res, err
		}
	} else if err == nil || !errors.Is(err, os.ErrNotExist) {
		return res, err
	} else if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
		// Only a lock file or a stale socket: make room.
		for _, e := range entries {
			if n := e.Name(); n != "hub.lock" && n != "control.sock" {
				return res, fmt.Errorf("%s is not empty (%s); move it away first", dataDir, n)
			}
		}
		os.RemoveAll(dataDir)
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		return res, err
	}
	return res, nil
}

// verifyRestored opens the restored database with its key, checks its
// integrity, and counts its messages.
func verifyRestored(dir datadir.Dir) (int, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: dir.DB(), MasterKeyPath: dir.MasterKey(), PreMigrationDir: dir.Path})
	if err != nil {
		return 0, fmt.Errorf("the restored database does not open: %w", err)
	}
	defer st.Close()
	if err := st.IntegrityCheck(ctx); err != nil {
		return 0, fmt.Errorf("the restored database is damaged: %w", err)
	}
	if _, err := certs.LoadCA(dir.CACert(), dir.CAKey()); err != nil {
		return 0, fmt.Errorf("the restored CA: %w", err)
	}
	return st.CountMessages(ctx)
}
