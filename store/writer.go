package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Batch bounds: enough to amortise one fsync over many chunks, small enough
// that no caller waits long behind a huge transaction.
const (
	maxBatchOps   = 128
	maxBatchBytes = 8 << 20
)

// Tx is the writer's transaction as operations see it. Statements are
// prepared once on the writer's connection and reused: re-parsing SQL for
// every chunk cost about a seventh of the writer's time. Only the writer
// goroutine uses a Tx.
type Tx struct {
	w   *writer
	ctx context.Context
}

// Exec runs a statement.
func (t *Tx) Exec(query string, args ...any) (sql.Result, error) {
	st, err := t.w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

// execOne runs a statement that must change a row: none is ErrNotFound.
func (t *Tx) execOne(query string, args ...any) error {
	r, err := t.Exec(query, args...)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// QueryRow runs a query expected to return at most one row.
func (t *Tx) QueryRow(query string, args ...any) *sql.Row {
	st, err := t.w.stmt(query)
	if err != nil {
		// Surface the prepare error through Row.Scan.
		return t.w.conn.QueryRowContext(t.ctx, query, args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}

// QueryContext runs a query.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// Query runs a query.
func (t *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	return t.QueryContext(t.ctx, query, args...)
}

// writeOp is one unit of work for the writer. Exactly one of tx and conn is
// set. done is called once, after the transaction holding tx has committed
// (or failed); it runs on the writer goroutine and must not block.
type writeOp struct {
	tx   func(*Tx) error
	conn func(*sql.Conn) error
	size int
	// lazy marks a change that the protocol repairs if a power cut loses
	// it (a status the sender hears again, an upload header the device
	// sends again): a batch of only such changes commits without an
	// fsync of its own, and becomes durable with the next commit that
	// has one, since the WAL is synced whole and replayed in order.
	lazy bool
	// group names ops whose callers want to know whether another op of
	// theirs follows in the same commit (more): an upload's chunks, so
	// that one answer can cover them all.
	group any
	more  bool
	done  func(error)
	err   error
}

// writer owns the only writing connection and commits in groups.
type writer struct {
	db    *sql.DB
	conn  *sql.Conn
	ops   chan *writeOp
	stmts map[string]*sql.Stmt // used by the writer goroutine only

	mu     sync.RWMutex
	closed bool
	exited chan struct{}

	normal bool // the connection is at synchronous=NORMAL; used by the writer goroutine only

	ck       *checkpointer // nil without a WAL
	walBytes int           // committed since the last pass was asked for; writer goroutine only
}

func newWriter(db *sql.DB, conn *sql.Conn, ck *checkpointer) *writer {
	w := &writer{db: db, conn: conn, ck: ck, ops: make(chan *writeOp, 1024), stmts: map[string]*sql.Stmt{}, exited: make(chan struct{})}
	go w.loop()
	return w
}

// submit queues op. It fails only when the store is closed.
func (w *writer) submit(op *writeOp) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	w.ops <- op
	return nil
}

// do runs fn in a transaction (or, if conn is set, runs conn alone) and
// waits until it is durable.
func (w *writer) do(ctx context.Context, fn func(*Tx) error, conn func(*sql.Conn) error) error {
	return w.wait(ctx, &writeOp{tx: fn, conn: conn}, nil)
}

// doLazy is do for a change the protocol repairs if it is lost (see
// writeOp.lazy): it returns once committed, perhaps before it is synced.
func (w *writer) doLazy(ctx context.Context, fn func(*Tx) error) error {
	return w.wait(ctx, &writeOp{tx: fn, lazy: true}, nil)
}

// doThen is do, with then called on the writer goroutine once the
// transaction has committed or failed, even if ctx ended before: for
// caches that must forget what it changed only after it is visible.
func (w *writer) doThen(ctx context.Context, fn func(*Tx) error, conn func(*sql.Conn) error, then func()) error {
	return w.wait(ctx, &writeOp{tx: fn, conn: conn}, then)
}

func (w *writer) wait(ctx context.Context, op *writeOp, then func()) error {
	done := make(chan error, 1)
	op.done = func(err error) {
		if then != nil {
			then()
		}
		done <- err
	}
	if op.conn != nil {
		op.tx = nil
	}
	if err := w.submit(op); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The operation may still commit; the caller only stops waiting.
		return ctx.Err()
	}
}

func (w *writer) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.exited
		return nil
	}
	w.closed = true
	close(w.ops)
	w.mu.Unlock()
	<-w.exited
	for _, st := range w.stmts {
		st.Close()
	}
	if w.conn == nil {
		return nil // a read-only store's
	}
	var err error
	if w.ck != nil {
		err = w.ck.close() // before the writer's, whose close may checkpoint the rest
	}
	return errors.Join(err, w.conn.Close(), w.db.Close())
}

func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if st := w.stmts[query]; st != nil {
		return st, nil
	}
	st, err := w.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *writer) loop() {
	defer close(w.exited)
	var pending *writeOp // an op taken from the queue that did not fit the last batch
	for {
		first := pending
		pending = nil
		if first == nil {
			var ok bool
			if first, ok = <-w.ops; !ok {
				return
			}
		}
		if first.conn != nil {
			if err := w.sync(false); err != nil {
				first.done(err)
				continue
			}
			first.done(w.runConn(first.conn))
			continue
		}
		batch := []*writeOp{first}
		bytes := first.size
	gather:
		for len(batch) < maxBatchOps && bytes < maxBatchBytes {
			select {
			case op, ok := <-w.ops:
				if !ok {
					break gather
				}
				if op.conn != nil {
					pending = op
					break gather
				}
				batch = append(batch, op)
				bytes += op.size
			default:
				break gather
			}
		}
		w.run(batch)
	}
}

// runConn runs an operation on the connection alone. Such operations are
// checkpoints, so none runs while the checkpointer's does.
func (w *writer) runConn(fn func(*sql.Conn) error) error {
	if w.ck != nil {
		w.ck.mu.Lock()
		defer w.ck.mu.Unlock()
	}
	return fn(w.conn)
}

func (w *writer) run(batch []*writeOp) {
	ctx := context.Background()
	if w.ck != nil {
		w.ck.inline(w.conn)
	}
	tx := &Tx{w: w, ctx: ctx}
	finish := func(err error) {
		markMore(batch)
		for _, op := range batch {
			if op.err == nil {
				op.err = err
			}
			op.done(asFull(op.err))
		}
	}
	abort := func(what string, err error) {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		finish(fmt.Errorf("store: %s: %w", what, err))
	}
	lazy := true
	for _, op := range batch {
		lazy = lazy && op.lazy
	}
	if err := w.sync(lazy); err != nil {
		finish(err)
		return
	}
	if _, err := tx.Exec("BEGIN IMMEDIATE"); err != nil {
		finish(fmt.Errorf("store: begin: %w", err))
		return
	}
	for _, op := range batch {
		if _, err := tx.Exec("SAVEPOINT op"); err != nil {
			abort("savepoint", err)
			return
		}
		op.err = op.tx(tx)
		if op.err != nil {
			if _, err := tx.Exec("ROLLBACK TO op"); err != nil {
				abort("rollback to savepoint", err)
				return
			}
		}
		if _, err := tx.Exec("RELEASE op"); err != nil {
			abort("release savepoint", err)
			return
		}
	}
	if _, err := tx.Exec("COMMIT"); err != nil {
		// SQLite may leave the transaction open after a failed COMMIT
		// (SQLITE_BUSY, SQLITE_FULL); end it so the next batch starts clean.
		abort("commit", err)
		return
	}
	if w.ck != nil {
		for _, op := range batch {
			w.walBytes += op.size + 4096 // the op's bytes and about a page of rows
		}
		if w.walBytes >= walKick {
			w.walBytes = 0
			w.ck.kick()
		}
	}
	finish(nil)
}

// markMore sets more on each grouped op that another op of its group
// follows in the batch.
func markMore(batch []*writeOp) {
	var seen []any // groups met walking back from the end; few per batch
	for i := len(batch) - 1; i >= 0; i-- {
		g := batch[i].group
		if g == nil {
			continue
		}
		batch[i].more = slices.Contains(seen, g)
		if !batch[i].more {
			seen = append(seen, g)
		}
	}
}

// sync sets whether the next commit skips its fsync (synchronous=NORMAL,
// for lazy batches) or syncs the WAL before it returns (FULL, the
// store's default).
func (w *writer) sync(normal bool) error {
	if w.normal == normal {
		return nil
	}
	level := "FULL"
	if normal {
		level = "NORMAL"
	}
	// Prepared once and kept, as every statement of the writer's, rather
	// than parsed again at each switch.
	st, err := w.stmt("PRAGMA synchronous = " + level)
	if err == nil {
		_, err = st.ExecContext(context.Background())
	}
	if err != nil {
		return fmt.Errorf("store: synchronous %s: %w", level, err)
	}
	w.normal = normal
	return nil
}

// newClosedWriter is the writer of a read-only store: every write fails
// with ErrClosed, and closing it does nothing.
func newClosedWriter() *writer {
	w := &writer{closed: true, exited: make(chan struct{})}
	close(w.exited)
	return w
}
