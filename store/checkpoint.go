package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointer copies committed pages from the WAL into the database file
// on a connection of its own, so that the writer never does it inside a
// commit. With SQLite's automatic checkpoint, the commit that took the WAL
// past 1,000 pages copied all of them before it returned: in a profile of
// the hub at 25 sending pairs that was 43% of the writer goroutine's CPU,
// and every commit queued behind it waited.
//
// A passive checkpoint runs beside the writer's commits, copying the
// frames committed when it began; the WAL starts again from its beginning
// at the first commit after a checkpoint that copied all of it. Under
// steady load that moment may not come (each pass ends with newer frames
// behind it), so when a pass leaves more than walBound frames in the WAL
// the writer runs one passive checkpoint itself, between two commits,
// where no frame can be added while it runs.
//
// Durability is unchanged: a commit is durable once its frames are synced
// in the WAL, wherever the checkpoint runs, and a checkpoint syncs the
// database file before the WAL may be reused.
type checkpointer struct {
	db      *sql.DB // one query-only connection, opened at the first pass
	wake    chan struct{}
	stopped chan struct{}
	big     atomic.Bool  // the last pass left more than walBound frames
	passes  atomic.Int64 // background passes run, and the writer's
	inlines atomic.Int64
	// mu is held by every checkpoint of the store, whichever connection
	// runs it: SQLite refuses a second one at once with "busy" rather
	// than waiting.
	mu sync.Mutex
}

const (
	// walKick is how many bytes the writer commits between two passes:
	// SQLite's own default of 1,000 pages.
	walKick = 1000 * 4096
	// walBound is how many frames a pass may leave in the WAL before the
	// writer checkpoints between two commits: four passes' worth.
	walBound = 4000
)

func newCheckpointer(dsn string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	// An idle hub checkpoints nothing; its connection need not stay.
	db.SetConnMaxIdleTime(time.Minute)
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go c.loop()
	return c, nil
}

// kick asks for a pass; it never blocks.
func (c *checkpointer) kick() {
	select {
	case c.wake <- struct{}{}:
	default: // a pass is asked for already
	}
}

func (c *checkpointer) loop() {
	defer close(c.stopped)
	for range c.wake {
		c.mu.Lock()
		r, err := passive(c.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)"))
		c.mu.Unlock()
		c.passes.Add(1)
		// A pass that failed leaves the work to the writer's.
		c.big.Store(err != nil || r.log > walBound)
	}
}

// inline is the writer's own pass, between two commits, on its connection,
// when the last pass left the WAL large. It is asked for again at the next
// batch until it copies the whole WAL (a reader holding an old snapshot
// prevents that), as SQLite's automatic checkpoint is at every commit.
func (c *checkpointer) inline(conn *sql.Conn) {
	if !c.big.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := passive(conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)"))
	c.inlines.Add(1)
	c.big.Store(err != nil || r.busy != 0 || r.done < r.log)
}

// checkpointed is a checkpoint's answer: whether it was refused, how many
// frames the WAL holds and how many of them are in the database file.
type checkpointed struct{ busy, log, done int }

func passive(row *sql.Row) (r checkpointed, err error) {
	err = row.Scan(&r.busy, &r.log, &r.done)
	return r, err
}

func (c *checkpointer) close() error {
	close(c.wake)
	<-c.stopped
	return c.db.Close()
}
