package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxCachedStmts bounds the statement cache. The store's statements are constant strings, so the
// hot ones are prepared long before it fills; past it, new statements run unprepared.
const maxCachedStmts = 256

// maxCachedArgs leaves out of the cache statements with more placeholders than this: the IN (...)
// lists of whole pages, whose text changes with the page's length.
const maxCachedArgs = 16

// stmtCache keeps prepared statements by pool and query text, so that a statement is parsed once
// per connection instead of on every call. It is used on SQLite, whose driver (modernc.org/sqlite)
// prepares every statement it is handed as text anew, which was a quarter of the proxy's CPU on a
// cache miss. PostgreSQL needs none: pgx keeps its own per-connection cache of prepared
// statements (QueryExecModeCacheStatement, its default).
//
// A *sql.Stmt prepared on a *sql.DB is prepared once on each of the pool's connections, when a
// call first runs on it, and kept (the SQLite pools keep their connections). Inside a transaction
// the statement is used through Tx.StmtContext, which reuses the connection's prepared statement.
type stmtCache struct {
	mu     sync.RWMutex
	stmts  map[stmtKey]*sql.Stmt
	closed bool
	// pending are the statements being prepared in the background for a transaction (see use).
	pending map[stmtKey]bool
	// prepared counts the statements prepared into the cache, for the tests.
	prepared atomic.Int64
}

type stmtKey struct {
	db    *sql.DB
	query string
}

func newStmtCache() *stmtCache {
	return &stmtCache{stmts: map[stmtKey]*sql.Stmt{}, pending: map[stmtKey]bool{}}
}

// cacheable reports whether a statement's text is fixed enough to be worth a cache entry.
func cacheable(query string) bool { return strings.Count(query, "?") <= maxCachedArgs }

// lookup returns the cached statement for query on db, or nil.
func (c *stmtCache) lookup(db *sql.DB, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	s := c.stmts[stmtKey{db, query}]
	c.mu.RUnlock()
	return s
}

// inTx returns the cached statement for query on db for a transaction begun on db, or nil; on a
// miss it has the statement prepared in the background, for the calls after this one. It never
// prepares in the caller's goroutine: a transaction holds one of the pool's connections (the
// writer pool's only one), and preparing on the pool would wait for another.
func (c *stmtCache) inTx(db *sql.DB, query string) *sql.Stmt {
	if c == nil || db == nil || !cacheable(query) {
		return nil
	}
	if s := c.lookup(db, query); s != nil {
		return s
	}
	key := stmtKey{db, query}
	c.mu.Lock()
	start := !c.closed && !c.pending[key] && len(c.stmts) < maxCachedStmts
	if start {
		c.pending[key] = true
	}
	c.mu.Unlock()
	if start {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c.get(ctx, db, query)
			c.mu.Lock()
			delete(c.pending, key)
			c.mu.Unlock()
		}()
	}
	return nil
}

// get returns the statement for query on db, preparing it into the cache on first use; nil when
// the statement is not cached (it then runs as text). The caller must hold none of db's
// connections: preparing takes one from the pool.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	if c == nil || !cacheable(query) {
		return nil
	}
	if s := c.lookup(db, query); s != nil {
		return s
	}
	c.mu.RLock()
	full := c.closed || len(c.stmts) >= maxCachedStmts
	c.mu.RUnlock()
	if full {
		return nil
	}
	s, err := db.PrepareContext(ctx, query)
	if err != nil {
		// The statement runs as text and reports its own error.
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.stmts[stmtKey{db, query}]; prev != nil || c.closed || len(c.stmts) >= maxCachedStmts {
		s.Close()
		return prev
	}
	c.stmts[stmtKey{db, query}] = s
	c.prepared.Add(1)
	return s
}

// close closes the cached statements; later calls run as text.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts, c.closed = map[stmtKey]*sql.Stmt{}, true
}

// len is how many statements are cached.
func (c *stmtCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.stmts)
}
