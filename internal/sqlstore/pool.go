package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/sync/semaphore"

	"github.com/plugboard/plugboard"
)

// pools are the connections a store runs on. On PostgreSQL w and r are one pool. On an SQLite
// file they are two pools on the same file: w has one connection, behind a FIFO queue (gate), so
// writers wait their turn in Go instead of spinning on SQLite's busy timeout, which served them in
// no order and failed the unlucky ones under bursts; r has a few read-only connections, which WAL
// lets read beside the writer.
type pools struct {
	w, r *sql.DB
	// gate queues the writers of the w pool in arrival order; nil when writers are not queued.
	gate *semaphore.Weighted
	// writeWait bounds a writer's wait in gate; past it the write is EUnavailable.
	writeWait time.Duration
	// retryReads retries, once on a fresh connection, a read that failed because the server
	// closed its connection (PostgreSQL: a restart, an administrator's pg_terminate_backend).
	retryReads bool
	// idle is r's idle connection limit, restored after a retry dropped the idle connections.
	idle int
	// dropping serialises dropIdle, so two retries at once do not restore the limit early.
	dropping sync.Mutex
	health   *health
	// stmts caches prepared statements (SQLite); nil runs every statement as text.
	stmts *stmtCache
	// pgx lets the hottest read (a connection with its credentials, on every miss of the
	// opened-connection cache) run on r's connections straight through pgx: PostgreSQL pools whose
	// driver is pgx's own, that is, with tracing off (with it on, statements go through
	// database/sql so that each gets its span).
	pgx bool
}

// readPgx runs fn on one of r's connections, as pgx's connection, bypassing database/sql's
// statement layer (its per-query context goroutine and per-column conversions) but not its pool,
// whose limits still apply. A read that failed because the server closed its connection runs
// again once on a fresh one, as query's do.
func (p *pools) readPgx(ctx context.Context, fn func(*pgx.Conn) error) error {
	err := p.withPgx(ctx, fn)
	if p.retryable(err) {
		p.dropIdle()
		err = p.withPgx(ctx, fn)
	}
	return err
}

func (p *pools) withPgx(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := p.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("sqlstore: the pool's driver connection is a %T, not pgx's", dc)
		}
		// A connection pgx closed (the server went away) goes back to the pool closed; the pool
		// discards it when it next hands it out (pgx's stdlib ResetSession reports it bad).
		return fn(sc.Conn())
	})
}

// queryRead runs a multi-row read on r, through the statement cache.
func (p *pools) queryRead(ctx context.Context, query string, args []any) (*sql.Rows, error) {
	if s := p.stmts.get(ctx, p.r, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.r.QueryContext(ctx, query, args...)
}

// queryRowOn runs a single-row statement on db, through the statement cache.
func (p *pools) queryRowOn(ctx context.Context, db *sql.DB, query string, args []any) *sql.Row {
	if s := p.stmts.get(ctx, db, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.QueryRowContext(ctx, query, args...)
}

// singlePool is the pools value for work on one *sql.DB without queueing (migrations at open).
func singlePool(db *sql.DB) *pools {
	return &pools{w: db, r: db, health: newHealth(nil, "")}
}

// acquireWrite waits for the writer's turn, at most writeWait. The returned release must be called.
func (p *pools) acquireWrite(ctx context.Context) (func(), error) {
	if p.gate == nil {
		return func() {}, nil
	}
	if p.gate.TryAcquire(1) {
		return func() { p.gate.Release(1) }, nil
	}
	wctx, cancel := context.WithTimeout(ctx, p.writeWait)
	defer cancel()
	if err := p.gate.Acquire(wctx, 1); err != nil {
		if ctx.Err() != nil {
			return nil, plugboard.Internal(ctx.Err())
		}
		return nil, &plugboard.Error{Code: plugboard.EUnavailable, Message: "database busy: too many writes queued",
			Details: "a write waited longer than " + p.writeWait.String() + " (PLUGBOARD_SQLITE_WRITE_WAIT) for its turn; retry after the Retry-After header's seconds"}
	}
	return func() { p.gate.Release(1) }, nil
}

// dropIdle closes r's idle connections, so that the next read opens a fresh one. A connection the
// server closed usually means it restarted or ended every session, and pooled connections that
// have not noticed yet would fail the retry the same way.
func (p *pools) dropIdle() {
	if p.idle <= 0 {
		return
	}
	p.dropping.Lock()
	defer p.dropping.Unlock()
	p.r.SetMaxIdleConns(0)
	p.r.SetMaxIdleConns(p.idle)
}

// retryable reports whether a read that failed with err may run again on a fresh connection.
func (p *pools) retryable(err error) bool {
	return p.retryReads && err != nil && connectionLost(err)
}

// note records what a statement's outcome says about the database's reachability.
func (p *pools) note(err error) {
	switch {
	case err == nil:
		p.health.up()
	case connectionLost(err):
		p.health.down(err)
		if p.retryReads {
			// The statement is not retried here (it may be a write), but the next one should not
			// meet the pooled connections the server closed with this one.
			p.dropIdle()
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The caller gave up; says nothing about the database.
	default:
		p.health.up() // the database answered, if only with an error
	}
}

// connectionLost reports whether err means the database could not be reached or closed the
// connection: the server is down, restarting or ended the session, or the network is cut. Such
// failures are EUnavailable (503, retry later), never internal errors.
func connectionLost(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		case strings.HasPrefix(pe.Code, "08"): // connection_exception
			return true
		}
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
		return true
	}
	// pgx's own words for a connection it has already closed (it wraps no error then).
	return strings.Contains(err.Error(), "conn closed")
}

// health is the store's reachability as the last statements saw it. It logs the change of state,
// once per outage, instead of one error per failed request.
type health struct {
	downSince atomic.Pointer[time.Time]
	log       *slog.Logger
	what      string
}

func newHealth(log *slog.Logger, what string) *health {
	return &health{log: log, what: what}
}

func (h *health) down(err error) {
	now := time.Now().UTC()
	if h.downSince.CompareAndSwap(nil, &now) && h.log != nil {
		h.log.Warn("store unavailable", "store", h.what, "err", err)
	}
}

func (h *health) up() {
	if since := h.downSince.Load(); since != nil && h.downSince.CompareAndSwap(since, nil) && h.log != nil {
		h.log.Info("store available again", "store", h.what, "unavailable_for", time.Since(*since).Round(time.Millisecond).String())
	}
}

// unavailableSince returns when the current outage began, or nil when the store is reachable.
func (h *health) unavailableSince() *time.Time { return h.downSince.Load() }

// row is a single-row statement, run by Scan. Its Scan notes the database's reachability, and
// for a read on the pool retries once on a fresh connection when the server closed the one it ran on.
type row struct {
	o     *ops
	ctx   context.Context
	query string
	args  []any
}

// Scan runs the statement and copies the first row's columns into dest, as sql.Row.Scan.
func (r *row) Scan(dest ...any) error {
	o := r.o
	var err error
	switch {
	case o.tx != nil:
		// Scan reads the one row and closes it, so the connection's cached statement is free again.
		if s := o.p.stmts.inTx(o.db, r.query); s != nil {
			err = o.tx.StmtContext(r.ctx, s).QueryRowContext(r.ctx, r.args...).Scan(dest...)
		} else {
			err = o.tx.QueryRowContext(r.ctx, r.query, r.args...).Scan(dest...)
		}
	case !isRead(r.query):
		release, werr := o.p.acquireWrite(r.ctx)
		if werr != nil {
			return werr
		}
		err = o.p.queryRowOn(r.ctx, o.p.w, r.query, r.args).Scan(dest...)
		release()
	default:
		err = o.p.queryRowOn(r.ctx, o.p.r, r.query, r.args).Scan(dest...)
		if o.p.retryable(err) {
			o.p.dropIdle()
			err = o.p.queryRowOn(r.ctx, o.p.r, r.query, r.args).Scan(dest...)
		}
	}
	o.note(err)
	return err
}
