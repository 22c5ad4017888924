// Package sqlstore implements plugboard.Store on SQL databases through database/sql, with
// hand-written SQL and no ORM: SQLite (modernc.org/sqlite, no cgo) and PostgreSQL (pgx). The
// queries are written once; each dialect has its migration files, a placeholder style and an
// error classifier (see dialect.go).
//
// Representation, the same on every dialect:
//   - Ids are ULID strings; a static connection's end user id is stored as the empty string.
//   - Timestamps are BIGINT Unix nanoseconds, UTC, truncated to microseconds (PostgreSQL's
//     precision), so a value reads back exactly as written on either database.
//   - Create methods store the ids and timestamps the caller set. A zero CreatedAt becomes the
//     current time and a zero UpdatedAt becomes CreatedAt; update methods set a zero UpdatedAt to
//     the current time. On success the record holds the normalised (UTC, truncated) times stored.
//   - Empty slices and maps read back as nil, whether they were written nil or empty. Nil JSON
//     (Config, Public) and nil Sealed read back nil; JSON must be valid when set.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/sync/semaphore"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/telemetry"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DB is a plugboard.Store backed by an SQL database. Open returns one; it is safe for concurrent use.
type DB struct {
	// ops runs every Store method against the pools; transactions get their own ops bound to a *sql.Tx.
	ops
	// sqldb is the writer pool (on PostgreSQL, the one pool); readdb the pool reads run on.
	sqldb, readdb *sql.DB
	// feed is what WatchChanges connects with (PostgreSQL); nil on SQLite.
	feed *changeFeed
	// closed is closed by Close, which ends WatchChanges.
	closed    chan struct{}
	closeOnce sync.Once
}

var _ plugboard.Store = (*DB)(nil)

// sqliteParams are the connection settings every SQLite connection gets. WAL lets readers run
// beside the writer; busy_timeout makes a writer wait for the lock instead of failing at once;
// _txlock=immediate takes the write lock at BEGIN, so two read-then-write transactions cannot
// deadlock upgrading their locks (SQLite would fail one of them with SQLITE_BUSY at once).
var sqliteParams = []string{
	"_pragma=journal_mode(WAL)",
	"_pragma=busy_timeout(10000)",
	"_pragma=foreign_keys(1)",
	"_pragma=synchronous(NORMAL)",
	"_txlock=immediate",
}

// sqliteReadParams are the settings of the read-only pool's connections: the same file, WAL, and
// query_only, so that a write sent there by mistake fails instead of contending with the writer.
// Reads begin DEFERRED and never take the write lock.
var sqliteReadParams = []string{
	"_pragma=busy_timeout(10000)",
	"_pragma=foreign_keys(1)",
	"_pragma=query_only(1)",
}

// Options tune Open.
type Options struct {
	// Migrate applies pending migrations to a PostgreSQL database. Without it, Open refuses a
	// PostgreSQL database whose schema is behind this build (EUnavailable naming the fix), so that
	// replicas never migrate a shared database behind an operator's back. SQLite files always
	// migrate: the file belongs to the one process that serves it.
	Migrate bool
	// MaxOpenConns caps the PostgreSQL connection pool; 0 means DefaultMaxOpenConns.
	MaxOpenConns int
	// StatementTimeout bounds every PostgreSQL statement; 0 means DefaultStatementTimeout.
	StatementTimeout time.Duration
	// MustExist refuses to create a store, for the administrative commands, which must work on
	// the store a server uses and never make a new empty one beside it: an SQLite file that does
	// not exist is ENotFound (nothing is created, not even its directory), and so is a database of
	// either kind that has no Plugboard schema yet.
	MustExist bool
	// Tracing gives every statement and transaction a span; nil (tracing off) makes none.
	Tracing *telemetry.Tracing
	// SQLiteWriteWait bounds how long an SQLite write waits for its turn in the write queue before
	// it fails with EUnavailable (503 with Retry-After); 0 means DefaultSQLiteWriteWait.
	SQLiteWriteWait time.Duration
	// SQLiteSinglePool opens an SQLite file the way earlier versions did: one unbounded pool for
	// reads and writes, writers contending on SQLite's busy timeout. Only for benchmarks to compare.
	SQLiteSinglePool bool
	// Logger receives the store's changes of reachability ("store unavailable", "store available
	// again", once each per outage), and the change feed's; nil means slog.Default().
	Logger *slog.Logger
	// ChangeFeedCheck is how long WatchChanges's connection may stay silent before it is checked,
	// and how long the check may take, so that a connection lost without a word is noticed
	// within twice that; 0 means DefaultChangeFeedCheck.
	ChangeFeedCheck time.Duration
}

// Defaults for PostgreSQL connections.
const (
	DefaultMaxOpenConns     = 20
	DefaultStatementTimeout = 15 * time.Second
)

// Defaults for SQLite files: the read-only pool's size and a write's longest wait in the queue.
const (
	SQLiteReaders          = 8
	DefaultSQLiteWriteWait = 10 * time.Second
)

// IsPostgres reports whether url names a PostgreSQL database.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open opens the store at url with default Options; see OpenWith.
func Open(ctx context.Context, url string) (*DB, error) {
	return OpenWith(ctx, url, Options{})
}

// OpenWith opens the store at url. url is a PostgreSQL URL ("postgres://..." in pgx's format,
// where a search_path parameter selects the schema), an SQLite file path, a "sqlite:///path" URL or
// a "file:" URI; SQLite files and their parent directories are created when missing.
func OpenWith(ctx context.Context, url string, opts Options) (*DB, error) {
	switch {
	case url == "":
		return nil, plugboard.Errorf(plugboard.EInvalid, "database URL is empty")
	case IsPostgres(url):
		return openPostgres(ctx, url, opts)
	}
	dsn, path, err := sqliteDSN(url)
	if err != nil {
		return nil, err
	}
	if path != "" && opts.MustExist {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, &plugboard.Error{Code: plugboard.ENotFound, Message: "there is no SQLite store at " + path}
		} else if err != nil {
			return nil, &plugboard.Error{Code: plugboard.EUnavailable, Message: "cannot read the SQLite store at " + path, Err: err}
		}
	}
	if path != "" {
		// 0700: the directory holds sealed credentials; nobody else needs to list it.
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, &plugboard.Error{Code: plugboard.EUnavailable, Message: "cannot create the database directory", Err: err}
		}
	}
	db, err := openSQLite(dsn, path, url, opts)
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.requireSchema(ctx, opts); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db.sqldb, sqliteDialect); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openSQLite opens the pools on an SQLite file: one writer connection behind a FIFO queue, and
// SQLiteReaders read-only connections. An in-memory database is one connection for both, since
// every connection to ":memory:" would be a database of its own (so there, a read on the store
// from inside its own InTx callback, rather than on the callback's tx, waits for the transaction).
func openSQLite(dsn, path, url string, opts Options) (*DB, error) {
	open := func(dsn string) (*sql.DB, error) {
		sqldb, err := opts.Tracing.OpenDB("sqlite", dsn)
		if err != nil {
			return nil, &plugboard.Error{Code: plugboard.EInvalid, Message: "invalid SQLite database URL", Err: err}
		}
		return sqldb, nil
	}
	w, err := open(dsn)
	if err != nil {
		return nil, err
	}
	wait := opts.SQLiteWriteWait
	if wait <= 0 {
		wait = DefaultSQLiteWriteWait
	}
	p := &pools{w: w, r: w, writeWait: wait, health: newHealth(opts.logger(), Location(url)), stmts: newStmtCache()}
	switch {
	case opts.SQLiteSinglePool:
		// database/sql keeps 2 idle connections by default; with more busy readers than that, every
		// request would open (and configure) a new SQLite connection.
		w.SetMaxIdleConns(16)
	case path == "":
		w.SetMaxOpenConns(1)
		p.gate = semaphore.NewWeighted(1)
	default:
		// The writer connection is kept open for good: reopening it would redo its pragmas.
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		p.gate = semaphore.NewWeighted(1)
		rdsn, _, err := sqliteDSNWith(url, sqliteReadParams)
		if err != nil {
			w.Close()
			return nil, err
		}
		if p.r, err = open(rdsn); err != nil {
			w.Close()
			return nil, err
		}
		p.r.SetMaxOpenConns(SQLiteReaders)
		p.r.SetMaxIdleConns(SQLiteReaders)
		p.idle = SQLiteReaders
	}
	return &DB{ops: ops{d: sqliteDialect, p: p}, sqldb: p.w, readdb: p.r, closed: make(chan struct{})}, nil
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// openPostgres opens a pool on PostgreSQL. Every statement runs with a statement_timeout, and
// database/sql cancels it with its request's context.
func openPostgres(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL, password included; say only what is wrong.
		return nil, &plugboard.Error{Code: plugboard.EInvalid, Message: "invalid PostgreSQL database URL"}
	}
	timeout := opts.StatementTimeout
	if timeout <= 0 {
		timeout = DefaultStatementTimeout
	}
	if _, ok := cfg.RuntimeParams["statement_timeout"]; !ok {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "plugboard"
	}
	sqldb := opts.Tracing.OpenConnector(stdlib.GetConnector(*cfg), "postgresql")
	maxOpen := opts.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpenConns
	}
	sqldb.SetMaxOpenConns(maxOpen)
	sqldb.SetMaxIdleConns(maxOpen)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	sqldb.SetConnMaxLifetime(30 * time.Minute)
	p := &pools{w: sqldb, r: sqldb, retryReads: true, idle: maxOpen, health: newHealth(opts.logger(), Location(url)),
		pgx: opts.Tracing == nil}
	db := &DB{ops: ops{d: postgresDialect, p: p}, sqldb: sqldb, readdb: sqldb, closed: make(chan struct{}),
		feed: newChangeFeed(cfg, opts, Location(url))}
	if err := db.Ping(ctx); err != nil {
		sqldb.Close()
		return nil, err
	}
	if err := db.requireSchema(ctx, opts); err != nil {
		sqldb.Close()
		return nil, err
	}
	if opts.Migrate {
		if err := migrate(ctx, sqldb, postgresDialect); err != nil {
			sqldb.Close()
			return nil, err
		}
		return db, nil
	}
	st, err := schemaStatus(ctx, sqldb, postgresDialect)
	if err != nil {
		sqldb.Close()
		return nil, err
	}
	if len(st.Pending) > 0 {
		sqldb.Close()
		return nil, &plugboard.Error{Code: plugboard.EUnavailable,
			Message: fmt.Sprintf("the database schema is out of date (applied %d, this build needs %d)", st.Applied, st.Latest),
			Details: "run `plugboard migrate` (or start with `serve --migrate`) against this database first"}
	}
	return db, nil
}

// requireSchema refuses, when opts.MustExist, a database that Plugboard never migrated.
func (db *DB) requireSchema(ctx context.Context, opts Options) error {
	if !opts.MustExist {
		return nil
	}
	ok, err := db.tableExists(ctx, "schema_migrations")
	if err != nil || ok {
		return err
	}
	if db.d.name == "postgres" {
		return &plugboard.Error{Code: plugboard.ENotFound, Message: "the PostgreSQL database has no Plugboard schema",
			Details: "run `plugboard migrate` against it first, or point at the database the server uses"}
	}
	return &plugboard.Error{Code: plugboard.ENotFound, Message: "the SQLite file is not a Plugboard store (it has no schema)"}
}

// Migrate applies pending migrations to the database at url and reports the schema before them.
// An SQLite file must exist already (serve creates it); a PostgreSQL database may be empty.
func Migrate(ctx context.Context, url string) (before SchemaStatus, err error) {
	if !IsPostgres(url) {
		db, err := OpenWith(ctx, url, Options{MustExist: true})
		if err != nil {
			return before, err
		}
		defer db.Close()
		// Open has migrated; report what the file had before from what it records now.
		after, err := schemaStatus(ctx, db.sqldb, sqliteDialect)
		if err != nil {
			return before, err
		}
		before = SchemaStatus{Applied: after.Latest, Latest: after.Latest}
		return before, nil
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return before, &plugboard.Error{Code: plugboard.EInvalid, Message: "invalid PostgreSQL database URL"}
	}
	sqldb := stdlib.OpenDB(*cfg)
	defer sqldb.Close()
	if before, err = schemaStatus(ctx, sqldb, postgresDialect); err != nil {
		return before, err
	}
	return before, migrate(ctx, sqldb, postgresDialect)
}

// sqliteDSN turns the accepted URL forms into a modernc.org/sqlite DSN carrying sqliteParams, and
// returns the file's path when there is one on disk (so Open can create its directory).
func sqliteDSN(url string) (dsn, path string, err error) {
	return sqliteDSNWith(url, sqliteParams)
}

// sqliteDSNWith is sqliteDSN with the given connection settings.
func sqliteDSNWith(url string, settings []string) (dsn, path string, err error) {
	rest, query, _ := strings.Cut(url, "?")
	params := strings.Join(settings, "&")
	if query != "" {
		params += "&" + query
	}
	switch {
	case strings.HasPrefix(rest, "sqlite://"):
		path = strings.TrimPrefix(rest, "sqlite://")
		if path == "" {
			return "", "", plugboard.Errorf(plugboard.EInvalid, "SQLite URL %q names no file", url)
		}
		return path + "?" + params, path, nil
	case strings.HasPrefix(rest, "file:"):
		// A file: URI is passed to SQLite as is. Its path is "file:PATH" or "file://HOST/PATH".
		path = strings.TrimPrefix(rest, "file:")
		if strings.HasPrefix(path, "//") {
			if i := strings.IndexByte(path[2:], '/'); i >= 0 {
				path = path[2+i:]
			} else {
				path = ""
			}
		}
		if path == ":memory:" || strings.Contains(query, "mode=memory") {
			path = ""
		}
		return rest + "?" + params, path, nil
	default:
		return rest + "?" + params, rest, nil
	}
}

// InTx runs fn in one transaction; see plugboard.Store.
func (db *DB) InTx(ctx context.Context, fn func(tx plugboard.Store) error) error {
	return db.inTx(ctx, func(o *ops) error { return fn(&txStore{ops: *o}) })
}

// Ping reports whether the database answers (on SQLite, the read pool: a long write queue is
// not unreachability). A failure is EUnavailable whose Details say since when.
func (db *DB) Ping(ctx context.Context) error {
	err := db.readdb.PingContext(ctx)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		db.p.health.down(err)
	} else {
		db.p.note(err)
	}
	if err != nil {
		e := &plugboard.Error{Code: plugboard.EUnavailable, Message: "database unavailable", Err: err}
		if since := db.p.health.unavailableSince(); since != nil {
			e.Details = "unavailable since " + since.Format(time.RFC3339)
		}
		return e
	}
	return nil
}

// Close closes the connection pools.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.closed) })
	db.p.stmts.close()
	err := db.sqldb.Close()
	if db.readdb != nil && db.readdb != db.sqldb {
		err = errors.Join(err, db.readdb.Close())
	}
	if err != nil {
		return plugboard.Internal(err)
	}
	return nil
}

// txStore is the Store handed to an InTx callback: the same methods, bound to the transaction.
type txStore struct{ ops }

// InTx joins the running transaction: fn's writes commit or roll back with the outer ones.
func (t *txStore) InTx(ctx context.Context, fn func(tx plugboard.Store) error) error {
	return fn(t)
}

// Ping checks the transaction's connection.
func (t *txStore) Ping(ctx context.Context) error {
	var one int
	if err := t.queryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return &plugboard.Error{Code: plugboard.EUnavailable, Message: "database unavailable", Err: err}
	}
	return nil
}

// Close is refused: the store belongs to whoever opened it, not to a transaction's callback.
func (t *txStore) Close() error {
	return plugboard.Errorf(plugboard.EInvalid, "cannot close the store inside a transaction")
}

// queryer is what *sql.DB and *sql.Tx have in common, so every method runs on either.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ops implements the Store methods. When tx is nil it runs on the pools (reads on the read pool,
// writes on the writer's, in turn) and opens its own transactions for multi-statement work;
// otherwise it runs inside tx, and q is tx.
//
// Outside a transaction, exec is a write and query and queryRow are reads: a statement that
// writes and returns rows (UPDATE ... RETURNING) runs in inTx. On SQLite the read pool is
// query_only, so a write sent to it fails in the contract suite rather than passing unnoticed.
type ops struct {
	q  queryer
	d  dialect
	tx *sql.Tx
	// db is the pool tx was begun on, whose cached statements it may use.
	db *sql.DB
	p  *pools
	// firstTry marks a read-only transaction that runs again if the server closed its connection:
	// its failure is not yet an outage.
	firstTry bool
}

// note records what a statement's outcome says about the database's reachability.
func (o *ops) note(err error) {
	if o.firstTry && err != nil && connectionLost(err) {
		return
	}
	o.p.note(err)
}

// inTx runs fn with ops bound to a write transaction, joining the current one if there is one.
// It is never retried: a write that may have reached the database is not repeated.
func (o *ops) inTx(ctx context.Context, fn func(*ops) error) error {
	if o.tx != nil {
		return fn(o)
	}
	release, err := o.p.acquireWrite(ctx)
	if err != nil {
		return err
	}
	defer release()
	return o.begin(ctx, o.p.w, nil, fn)
}

// inReadTx runs fn with ops bound to a read-only transaction, so that reads made of several
// queries (a page and its count, a record and its children) see one snapshot. With SQLite a
// read-only transaction begins DEFERRED and so does not take the write lock. On PostgreSQL a
// transaction that failed because the server closed its connection runs once more on a fresh
// one: fn may run twice, so it must set its results afresh rather than append to them.
func (o *ops) inReadTx(ctx context.Context, fn func(*ops) error) error {
	if o.tx != nil {
		return fn(o)
	}
	readOnly := &sql.TxOptions{ReadOnly: true}
	first := *o
	first.firstTry = o.p.retryReads
	err := first.begin(ctx, o.p.r, readOnly, fn)
	if o.p.retryable(err) {
		o.p.dropIdle()
		err = o.begin(ctx, o.p.r, readOnly, fn)
	}
	return err
}

func (o *ops) begin(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*ops) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	o.note(err)
	if err != nil {
		return o.d.translate(err, "begin transaction", nil)
	}
	committed := false
	defer func() {
		if !committed {
			// The rollback error is dropped: fn's error (or the panic) is what the caller needs.
			_ = tx.Rollback()
		}
	}()
	if err := fn(&ops{q: tx, d: o.d, tx: tx, db: db, p: o.p, firstTry: o.firstTry}); err != nil {
		return err
	}
	err = tx.Commit()
	o.note(err)
	if err != nil {
		return o.d.translate(err, "commit", nil)
	}
	committed = true
	return nil
}

// rebind rewrites a query written with ? placeholders for the dialect.
func (o *ops) rebind(query string) string { return o.d.rebind(query) }

// exec runs a statement written with ? placeholders; outside a transaction, as a write in turn.
func (o *ops) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := o.rebind(query)
	if o.tx != nil {
		var res sql.Result
		var err error
		if s := o.p.stmts.inTx(o.db, q); s != nil {
			res, err = o.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
		} else {
			res, err = o.tx.ExecContext(ctx, q, args...)
		}
		o.note(err)
		return res, err
	}
	release, err := o.p.acquireWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var res sql.Result
	if s := o.p.stmts.get(ctx, o.p.w, q); s != nil {
		res, err = s.ExecContext(ctx, args...)
	} else {
		res, err = o.p.w.ExecContext(ctx, q, args...)
	}
	o.note(err)
	return res, err
}

// query runs a query written with ? placeholders; outside a transaction, a read on the read pool
// (retried once on a fresh connection when the server closed the one it ran on), through the
// statement cache. Inside a transaction it runs as text: its rows stay open on the transaction's
// connection while the caller reads them, and a cached statement is one per connection, which a
// second use of the same query before they are closed would reset under them.
func (o *ops) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := o.rebind(query)
	if o.tx != nil {
		rows, err := o.tx.QueryContext(ctx, q, args...)
		o.note(err)
		return rows, err
	}
	if !isRead(query) {
		return nil, plugboard.Internal(errors.New("sqlstore: a write returning rows runs in inTx, not on the read pool"))
	}
	rows, err := o.p.queryRead(ctx, q, args)
	if o.p.retryable(err) {
		o.p.dropIdle()
		rows, err = o.p.queryRead(ctx, q, args)
	}
	o.note(err)
	return rows, err
}

// queryRow runs a single-row statement written with ? placeholders when its Scan is called.
// Outside a transaction a SELECT is a read as query's, and anything else (UPDATE ... RETURNING)
// a write in turn.
func (o *ops) queryRow(ctx context.Context, query string, args ...any) *row {
	return &row{o: o, ctx: ctx, query: o.rebind(query), args: args}
}

// isRead reports whether a statement is a SELECT.
func isRead(query string) bool {
	q := strings.TrimLeft(query, " \t\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// exists reports whether the query returns a row.
func (o *ops) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	err := o.queryRow(ctx, "SELECT 1 WHERE EXISTS ("+query+")", args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, o.d.translate(err, "check existence", nil)
	}
	return true, nil
}

// affected returns ENotFound with msg when a write touched no row.
func (o *ops) affected(res sql.Result, msg string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return plugboard.Internal(fmt.Errorf("rows affected: %w", err))
	}
	if n == 0 {
		return plugboard.Errorf(plugboard.ENotFound, "%s", msg)
	}
	return nil
}

// Location describes the store a URL names, for messages to operators: the SQLite file's
// absolute path, or the PostgreSQL host, database and schema. It never includes a password.
func Location(url string) string {
	if IsPostgres(url) {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			return "an invalid PostgreSQL database URL"
		}
		out := fmt.Sprintf("the PostgreSQL database %q on %s:%d", cfg.Database, cfg.Host, cfg.Port)
		if cfg.User != "" {
			out += " as user " + cfg.User
		}
		if sp := cfg.RuntimeParams["search_path"]; sp != "" {
			out += ", schema " + sp
		}
		return out
	}
	_, path, err := sqliteDSN(url)
	switch {
	case err != nil:
		return "an invalid SQLite database URL"
	case path == "":
		return "an in-memory SQLite database"
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "the SQLite file " + path
}
