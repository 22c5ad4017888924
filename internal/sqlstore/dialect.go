package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/plugboard/plugboard"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is everything that differs between the SQL databases the store runs on. Queries are
// written once, with ? placeholders and portable SQL; the dialect rewrites placeholders and
// classifies driver errors. Adding PostgreSQL means adding a dialect value, its migrations
// directory and a classify function for pgx errors (SQLSTATE 23505, 23503).
type dialect struct {
	// name is the migrations directory under migrations/.
	name string
	// dollar selects $1, $2, ... placeholders instead of ?.
	dollar bool
	// classify says what kind of failure a driver error is.
	classify func(error) failure
	// forShare is appended to a SELECT that must keep the row it read from being changed or
	// deleted until the transaction ends. SQLite needs none: its write transactions are serialised.
	forShare string
	// forUpdate is appended to a SELECT that must hold the row it read against other writers until
	// the transaction ends.
	forUpdate string
	// migrationLock, when set, is run first in every migration transaction so that replicas
	// migrating at once apply each migration once.
	migrationLock string
}

// failure is a driver error's kind, as far as the store's callers care.
type failure int

const (
	failOther failure = iota
	failUnique
	failForeignKey
	failBusy
)

// sqliteDialect is the modernc.org/sqlite dialect.
var sqliteDialect = dialect{name: "sqlite", classify: classifySQLite}

// postgresDialect is PostgreSQL through pgx's database/sql driver.
var postgresDialect = dialect{name: "postgres", dollar: true, classify: classifyPostgres, forShare: " FOR SHARE", forUpdate: " FOR UPDATE",
	// An arbitrary constant key: "plugboard" in ASCII, as a bigint.
	migrationLock: "SELECT pg_advisory_xact_lock(112108117103098111)"}

// classifyPostgres reads the SQLSTATE of a pgx error.
func classifyPostgres(err error) failure {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return failOther
	}
	switch e.Code {
	case "23505": // unique_violation
		return failUnique
	case "23503": // foreign_key_violation
		return failForeignKey
	case "40001", "40P01", "55P03", "57014": // serialization failure, deadlock, lock not available, statement timeout
		return failBusy
	}
	return failOther
}

// classifySQLite reads the extended result code of a modernc.org/sqlite error.
func classifySQLite(err error) failure {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return failOther
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return failUnique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return failForeignKey
	}
	switch e.Code() & 0xff { // primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return failBusy
	}
	return failOther
}

// rebound keeps rebind's results for the store's fixed statements (those cacheable, as the
// statement cache counts them), so that a statement run on every call, such as GetConnection on
// the proxy's cold path, is not rewritten on every call. Past maxRebound entries new statements
// are rewritten each time; the store has far fewer fixed statements than that.
var (
	rebound      sync.Map // query -> rewritten query
	reboundCount atomic.Int64
)

const maxRebound = 1024

// rebind rewrites the ? placeholders of query for the dialect. ? inside single-quoted string
// literals is left alone; the store's queries contain no other quoting.
func (d dialect) rebind(query string) string {
	if !d.dollar || !strings.Contains(query, "?") {
		return query
	}
	if !cacheable(query) {
		return dollarPlaceholders(query)
	}
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	q := dollarPlaceholders(query)
	if reboundCount.Load() < maxRebound {
		if _, loaded := rebound.LoadOrStore(query, q); !loaded {
			reboundCount.Add(1)
		}
	}
	return q
}

// dollarPlaceholders numbers the ? placeholders of query $1, $2, ...
func dollarPlaceholders(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// onError says what a statement's failures mean to its caller. Messages name the record (its id
// or name, never its contents: Public, Sealed and Config never appear in an error).
type onError struct {
	// notFound is the message of the ENotFound returned for sql.ErrNoRows.
	notFound string
	// conflict is the message of the EConflict returned for a unique violation.
	conflict string
	// fkCode and fkMsg are returned for a foreign key violation: ENotFound when an insert names a
	// missing parent, EConflict when a delete would orphan children.
	fkCode, fkMsg string
}

// translate is the one place driver errors become *plugboard.Error values. op names the action for
// the log (it goes into Err, never shown to clients); on maps the expected failures.
func (d dialect) translate(err error, op string, on *onError) error {
	if err == nil {
		return nil
	}
	var pe *plugboard.Error
	if errors.As(err, &pe) {
		return err
	}
	if on == nil {
		on = &onError{}
	}
	wrapped := fmt.Errorf("%s: %w", op, err)
	switch {
	case errors.Is(err, sql.ErrNoRows) && on.notFound != "":
		return &plugboard.Error{Code: plugboard.ENotFound, Message: on.notFound, Err: wrapped}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return plugboard.Internal(wrapped)
	case connectionLost(err):
		// The database is down, restarting or out of reach: retry later, not a bug of ours.
		return &plugboard.Error{Code: plugboard.EUnavailable, Message: "database unavailable", Err: wrapped}
	}
	switch d.classify(err) {
	case failUnique:
		if on.conflict != "" {
			return &plugboard.Error{Code: plugboard.EConflict, Message: on.conflict, Err: wrapped}
		}
	case failForeignKey:
		if on.fkCode != "" {
			return &plugboard.Error{Code: on.fkCode, Message: on.fkMsg, Err: wrapped}
		}
	case failBusy:
		return &plugboard.Error{Code: plugboard.EUnavailable, Message: "database busy", Err: wrapped}
	}
	return plugboard.Internal(wrapped)
}
