// Package datadir names what lives in a hub's data directory, so that
// the daemon, the console's commands and a restore agree on every path:
//
//	DATA/hub.db (+ -wal, -shm)   the encrypted database
//	DATA/ca.pem                  the household CA's certificate
//	DATA/server.pem              the hub's TLS certificate
//	DATA/keys/master.key         the master key (unless kept elsewhere)
//	DATA/keys/ca.key             the CA's key
//	DATA/keys/server.key         the TLS certificate's key
//	DATA/hub.lock                held by the running hub
//	DATA/control.sock            the console's socket
//
// DATA is mode 0700 and keys/ too; the key files are 0600.
package datadir

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Dir is a hub's data directory.
type Dir struct {
	Path string
	// MasterKeyPath, if set, is where the master key lives instead of
	// keys/master.key (for example on another medium).
	MasterKeyPath string
}

// Join is a path inside the directory.
func (d Dir) Join(elem ...string) string {
	return filepath.Join(append([]string{d.Path}, elem...)...)
}

// The files in the directory.
func (d Dir) DB() string         { return d.Join("hub.db") }
func (d Dir) Keys() string       { return d.Join("keys") }
func (d Dir) CACert() string     { return d.Join("ca.pem") }
func (d Dir) CAKey() string      { return d.Join("keys", "ca.key") }
func (d Dir) ServerCert() string { return d.Join("server.pem") }
func (d Dir) ServerKey() string  { return d.Join("keys", "server.key") }

// RemoteCert and RemoteKey are the remote door's server certificate: the
// LAN one's names and the public one. It is apart so that the LAN
// certificate never names what a CA copy from before remote access (in
// every device paired then) does not permit.
func (d Dir) RemoteCert() string    { return d.Join("server-remote.pem") }
func (d Dir) RemoteKey() string     { return d.Join("keys", "server-remote.key") }
func (d Dir) LockFile() string      { return d.Join("hub.lock") }
func (d Dir) ControlSocket() string { return d.Join("control.sock") }

// MasterKey is where the master key lives.
func (d Dir) MasterKey() string {
	if d.MasterKeyPath != "" {
		return d.MasterKeyPath
	}
	return d.Join("keys", "master.key")
}

// Lock takes an exclusive lock on the directory, so that two hubs never
// share it (two writers would corrupt nothing in SQLite, but would
// disagree about who is connected), and a restore never replaces a running
// hub's data. The lock lasts until the file is closed.
func (d Dir) Lock() (*os.File, error) {
	path := d.LockFile()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another toyhub is already using %s", path)
	}
	return f, nil
}
