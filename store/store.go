package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// applicationID marks the file as a toyhub database ("toyh").
const applicationID = 0x746f7968

// Sentinel errors.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrExists      = errors.New("store: already exists")
	ErrRevoked     = errors.New("store: revoked")
	ErrClosed      = errors.New("store: closed")
	ErrNewerSchema = errors.New("store: database schema is newer than this program")
	ErrNotToyhub   = errors.New("store: not a toyhub database")
	ErrPastEnd     = errors.New("store: the offset is at or past the end of the message")
	ErrIDInUse     = errors.New("store: message ID belongs to another message")
	ErrMismatch    = errors.New("store: header differs from the upload in progress")
	ErrOutOfOrder  = errors.New("store: chunk out of order")
	ErrNotContact  = errors.New("store: recipient is not a contact")
)

// Options configure Open. Path and MasterKeyPath are required.
type Options struct {
	Path          string // the database file
	MasterKeyPath string // the master key file, outside the database
	// Journal is "wal" (the default) or "delete". WAL won in
	// BenchmarkJournal: with recipients reading while senders write, a
	// rollback journal makes each wait for the other (README, Performance).
	Journal string
	// PageSize applies when the database is created. Default 4096: as
	// fast as 65536 under load, faster for one sender, and a 32 KiB chunk
	// fills its overflow pages instead of half of a 64 KiB page.
	PageSize int
	// MaxUploadsPerDevice bounds uploads in progress per sender: a new
	// one takes the place of the one untouched the longest. Default 8.
	MaxUploadsPerDevice int
	// MaxMessagesPerMinute and MaxBytesPerDay bound what one device may
	// send (default 20 a minute, 256 MiB a day): a toy gone wrong, or a
	// stolen one, cannot fill the hub.
	MaxMessagesPerMinute int
	MaxBytesPerDay       int64
	// MinFreeBytes is disk space new messages may not use (default
	// DefaultMinFreeBytes; negative: none). An upload that would leave
	// less is refused with ErrFull.
	MinFreeBytes int64
	// HotCacheBytes bounds the sealed chunks of recently committed
	// messages kept in memory for delivery (see hotCache). Default 32 MiB;
	// negative disables it.
	HotCacheBytes int
	// Now is the clock; tests replace it.
	Now func() time.Time
	// SchemaLimit stops migrations at this version (0: the newest); for
	// tests that need a database of an older schema.
	SchemaLimit int
	// PreMigrationDir receives a copy of the database before a migration
	// changes an existing one (default: the database's directory).
	PreMigrationDir string
}

// Store is the hub's database.
type Store struct {
	db   *sql.DB // read pool: query-only connections
	w    *writer
	keys *keyring
	hot  *hotCache
	opt  Options

	settings settingsCache

	closeOnce sync.Once
}

func dsn(path string, opt Options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	// Deleted content is overwritten, not left in free pages.
	q.Add("_pragma", "secure_delete(1)")
	// FULL: a commit is on disk when it returns, in WAL mode too.
	q.Add("_pragma", "synchronous(2)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// A reader's page cache is emptied whenever the WAL has changed
		// since its last transaction, so it only ever serves one
		// transaction: 256 KiB (64 pages) holds any of the hub's. At the
		// default 2,000 KiB, readers that once ran a long transaction
		// kept megabytes each in SQLite's allocator (see README, soak).
		q.Add("_pragma", "cache_size(-256)")
	} else {
		q.Add("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens the database, creating it and the master key on first use.
// It refuses to create a master key beside an existing database, refuses a
// key that does not match the database, and refuses a schema newer than it
// knows.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.Path == "" || opt.MasterKeyPath == "" {
		return nil, errors.New("store: Path and MasterKeyPath are required")
	}
	if opt.Journal == "" {
		opt.Journal = "wal"
	}
	if opt.Journal != "wal" && opt.Journal != "delete" {
		return nil, fmt.Errorf("store: journal mode %q: want wal or delete", opt.Journal)
	}
	if opt.PageSize == 0 {
		opt.PageSize = 4096
	}
	if opt.MaxUploadsPerDevice == 0 {
		opt.MaxUploadsPerDevice = 8
	}
	if opt.MaxMessagesPerMinute == 0 {
		opt.MaxMessagesPerMinute = 20
	}
	if opt.MaxBytesPerDay == 0 {
		opt.MaxBytesPerDay = 256 << 20
	}
	if opt.MinFreeBytes == 0 {
		opt.MinFreeBytes = DefaultMinFreeBytes
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.HotCacheBytes == 0 {
		opt.HotCacheBytes = 32 << 20
	}

	st, err := os.Stat(opt.Path)
	dbExists := err == nil && st.Size() > 0
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store: open %s: %w", opt.Path, err)
	}
	master, err := loadMasterKey(opt.MasterKeyPath, !dbExists)
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring(master)
	if err != nil {
		return nil, err
	}
	if err := restrictFiles(opt.Path); err != nil {
		return nil, err
	}

	wdb, err := sql.Open("sqlite", dsn(opt.Path, opt, false))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opt.Path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxIdleTime(0)
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s (is it damaged? restore it from a backup with 'toyhub restore'): %w", opt.Path, err)
	}
	if err := prepare(ctx, conn, opt, keys); err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", opt.Path, err)
	}

	rdb, err := sql.Open("sqlite", dsn(opt.Path, opt, true))
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", opt.Path, err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)

	var ck *checkpointer
	if opt.Journal == "wal" {
		// Checkpoints run beside the writer (see checkpointer), not in
		// the commit that crosses SQLite's threshold.
		ck, err = newCheckpointer(dsn(opt.Path, opt, true))
		if err == nil {
			_, err = conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0")
		}
		if err != nil {
			if ck != nil {
				ck.close()
			}
			conn.Close()
			wdb.Close()
			rdb.Close()
			return nil, fmt.Errorf("store: open %s: %w", opt.Path, err)
		}
	}
	s := &Store{db: rdb, keys: keys, opt: opt, hot: newHotCache(opt.HotCacheBytes)}
	s.w = newWriter(wdb, conn, ck)
	if opt.SchemaLimit == 0 || opt.SchemaLimit >= 7 {
		if err := s.chainAudit(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("store: audit log: %w", err)
		}
	}
	if opt.SchemaLimit == 0 || opt.SchemaLimit >= 10 {
		if err := s.foldNames(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	if opt.SchemaLimit == 0 {
		// Known from the start, so that an idle hub never asks SQLite for
		// them; a failure here is the next DeviceSettings's to report.
		_, _ = s.readSettings(ctx, 0)
	}
	return s, nil
}

// prepare checks the file is ours, sets the page size and journal mode on a
// new file, runs migrations and checks (or records) the master key.
func prepare(ctx context.Context, conn *sql.Conn, opt Options, keys *keyring) error {
	var appID, version int
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("read application_id (is it damaged? restore it from a backup with 'toyhub restore'): %w", err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if appID != 0 && appID != applicationID {
		return ErrNotToyhub
	}
	if appID == 0 && version == 0 {
		// A new file: page size first, before any table exists.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d", opt.PageSize)); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return err
		}
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = "+opt.Journal).Scan(&mode); err != nil {
		return err
	}
	if mode != opt.Journal {
		return fmt.Errorf("journal mode is %q, want %q", mode, opt.Journal)
	}
	// Keep the WAL from growing without bound between checkpoints.
	if _, err := conn.ExecContext(ctx, "PRAGMA journal_size_limit = 67108864"); err != nil {
		return err
	}
	// An existing database is checked against the key before anything
	// changes it; a new one records the key's check value once created.
	if version > 0 {
		if err := checkKey(ctx, conn, opt, keys); err != nil {
			return err
		}
	}
	if err := migrate(ctx, conn, opt); err != nil {
		return err
	}
	return checkKey(ctx, conn, opt, keys)
}

func checkKey(ctx context.Context, conn *sql.Conn, opt Options, keys *keyring) error {
	var check []byte
	err := conn.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'key_check'").Scan(&check)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = conn.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('key_check', ?)", keys.checkValue())
		return err
	case err != nil:
		return err
	case !keys.matches(check):
		return fmt.Errorf("%w: %s belongs to another database; restore the right key from your backup", ErrWrongMasterKey, opt.MasterKeyPath)
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		var v int
		if _, err := fmt.Sscanf(e.Name(), "%04d_", &v); err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a 4-digit number", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, e.Name(), string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this program writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err)
	}
	return len(ms)
}

func migrate(ctx context.Context, conn *sql.Conn, opt Options) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var current int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("%w: the database is at version %d, this program knows %d; install a newer toyhub", ErrNewerSchema, current, len(ms))
	}
	if opt.SchemaLimit > 0 && opt.SchemaLimit < len(ms) {
		ms = ms[:opt.SchemaLimit]
	}
	if current > 0 && current < len(ms) {
		// An existing database is about to change shape: keep a copy of
		// it as it was, so that a failed or unwanted upgrade can be undone.
		if err := preMigrationCopy(ctx, conn, opt, current, len(ms)); err != nil {
			return fmt.Errorf("copy before migrating: %w", err)
		}
	}
	for _, m := range ms[current:] {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// keptPreMigration is how many pre-migration copies are kept.
const keptPreMigration = 3

// preMigrationCopy writes a consistent copy of the database (VACUUM
// INTO), 0600, named for the versions it goes from and to, and keeps the
// newest few. The copy is as encrypted as the database: names and audio
// are sealed, and the master key is not in it.
func preMigrationCopy(ctx context.Context, conn *sql.Conn, opt Options, from, to int) error {
	dir := opt.PreMigrationDir
	if dir == "" {
		dir = filepath.Dir(opt.Path)
	}
	if err := EnsureDir(dir); err != nil {
		return err
	}
	name := fmt.Sprintf("hub.db.pre-migration-v%d-to-v%d-%s", from, to, opt.Now().UTC().Format("20060102T150405Z"))
	path := filepath.Join(dir, name)
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "hub.db.pre-migration-*"))
	slices.SortFunc(old, func(a, b string) int { return modTime(a).Compare(modTime(b)) })
	for len(old) > keptPreMigration {
		os.Remove(old[0])
		old = old[1:]
	}
	return nil
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// Snapshot writes a consistent copy of the database to path (which must
// not exist) while the hub keeps serving: VACUUM INTO reads one snapshot
// of the database, and writers go on meanwhile. The file is 0600.
func (s *Store) Snapshot(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	f.Close()
	os.Remove(path) // VACUUM INTO wants to create it; the mode is set below
	// A connection of its own: VACUUM INTO needs one that may write (the
	// read pool is query-only), and on the writer's it would hold up
	// every commit while it runs. It reads one snapshot of the database.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+s.opt.Path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		os.Remove(path)
		return fmt.Errorf("store: snapshot: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

// Close waits for queued writes, then closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = errors.Join(s.w.close(), s.db.Close())
	})
	return err
}

// Files lists the database's files on disk (the database, and the WAL and
// shared-memory files if present), for checks that scan them.
func (s *Store) Files() []string {
	var out []string
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if _, err := os.Stat(s.opt.Path + suffix); err == nil {
			out = append(out, s.opt.Path+suffix)
		}
	}
	return out
}

// Ping is a round trip through the writer and a read: it fails if the
// writer is stuck or the database cannot be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.do(ctx, func(tx *Tx) error { return tx.QueryRow("SELECT 1").Scan(new(int)) }, nil); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM meta").Scan(&n); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Checkpoint copies the WAL into the database file and truncates it,
// after every write queued before it.
func (s *Store) Checkpoint(ctx context.Context) error { return s.truncateWAL(ctx) }

// IntegrityCheck runs SQLite's integrity check.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("store: integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}

func (s *Store) now() int64 { return s.opt.Now().Unix() }

func unixOrZero(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0)
}

// restrictFiles makes the database file (creating it if needed) and any
// WAL, shared-memory or journal file readable by the hub's user alone.
// SQLite would create them with the process umask, typically 0644; it
// gives the -wal, -shm and -journal files the database file's mode, so
// creating the database 0600 covers them all.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	f.Close()
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// DataDirMode is the permission a data directory must have.
const DataDirMode = 0o700

// EnsureDir creates dir with mode 0700 if needed.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, DataDirMode); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return os.Chmod(filepath.Clean(dir), DataDirMode)
}
