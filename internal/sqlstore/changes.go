package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// changesChannel is the channel migration 0013's triggers announce changes on.
const changesChannel = "plugboard_changes"

// DefaultChangeFeedCheck is Options.ChangeFeedCheck's default.
const DefaultChangeFeedCheck = 5 * time.Second

// The bounds of the change feed's wait before connecting again after a loss.
const (
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 5 * time.Second
)

// feedKeepalives are the server-side TCP settings of the feed's session, unless the URL sets
// them: a session whose client vanished without a word is ended by the server within about half a
// minute, instead of listening (and holding a connection slot and the notification queue's tail)
// for the hours TCP's defaults allow.
var feedKeepalives = map[string]string{
	"tcp_keepalives_idle":     "10",
	"tcp_keepalives_interval": "5",
	"tcp_keepalives_count":    "3",
	"tcp_user_timeout":        "30000",
}

// changeFeed is a PostgreSQL store's connection settings for listening to its changes.
type changeFeed struct {
	cfg   *pgx.ConnConfig
	log   *slog.Logger
	what  string
	check time.Duration // Options.ChangeFeedCheck
}

// newChangeFeed returns the feed of the store whose pool connects with cfg. Its session's
// application_name is the pool's with " changes" after it, so that an operator can tell it apart
// in pg_stat_activity.
func newChangeFeed(cfg *pgx.ConnConfig, opts Options, what string) *changeFeed {
	c := cfg.Copy()
	c.RuntimeParams["application_name"] += " changes"
	for k, v := range feedKeepalives {
		if _, ok := c.RuntimeParams[k]; !ok {
			c.RuntimeParams[k] = v
		}
	}
	f := &changeFeed{cfg: c, log: opts.logger(), what: what, check: opts.ChangeFeedCheck}
	if f.check <= 0 {
		f.check = DefaultChangeFeedCheck
	}
	return f
}

// errProbeLost is a probe that did not come back.
var errProbeLost = errors.New("a notification sent through the store's pool did not reach the feed's session in time " +
	"(is the database behind a pooler in transaction mode, or the feed connected to another server?)")

// WatchChanges tells w of every change committed to the store's connections, systems and API
// keys, by any replica, until ctx ends or the store is closed; then it returns. On PostgreSQL it holds a
// session of its own that LISTENs on the channel migration 0013's triggers announce on. It says
// w.Watching(true) only once a probe (a notification sent through the store's own pool) has come
// back through that session, so that a feed that cannot hear the store's writes (a pooler in
// transaction mode, another server) is never taken for heard; it sends such a probe every
// ChangeFeedCheck, and says w.Watching(false) when one does not come back within ChangeFeedCheck
// or the session fails, then connects again, waiting 100 ms, doubling up to 5 s. It logs the loss
// once and the recovery once, when the session has lasted through a check: a session that keeps
// failing early is one outage. On SQLite, where one process holds the file and every change is
// its own, w hears nothing.
func (db *DB) WatchChanges(ctx context.Context, w plugboard.ChangeWatcher) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-db.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	if db.feed == nil {
		<-ctx.Done()
		return
	}
	wait := feedRetryMin
	var lostAt time.Time
	for ctx.Err() == nil {
		err := db.feed.listen(ctx, db.sqldb, w, func() {
			if !lostAt.IsZero() {
				db.feed.log.Info("change feed back", "store", db.feed.what, "lost_for", time.Since(lostAt).Round(time.Millisecond).String())
				lostAt = time.Time{}
			}
			wait = feedRetryMin
		})
		if ctx.Err() != nil {
			return
		}
		if lostAt.IsZero() {
			lostAt = time.Now()
			db.feed.log.Warn("change feed lost: connections opened in memory are kept only briefly until it is back",
				"store", db.feed.what, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, feedRetryMax)
	}
}

// listen connects, listens, and delivers changes until the session fails, a probe does not come
// back, or ctx ends. It says w.Watching(true) after the first probe came back, and calls stable
// after the first periodic one did. w.Watching(false) has been said when it returns after
// Watching(true).
func (f *changeFeed) listen(ctx context.Context, pool *sql.DB, w plugboard.ChangeWatcher, stable func()) error {
	// Setting up is bounded too: a server that does not answer is retried, not waited for.
	sctx, cancel := context.WithTimeout(ctx, 2*f.check)
	defer cancel()
	conn, err := pgx.ConnectConfig(sctx, f.cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	// The schema the triggers name is the one of the tables the store's statements reach, which
	// is not always the first of the search path.
	var schema string
	if err := conn.QueryRow(sctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = 'connections'::regclass`).Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(sctx, "LISTEN "+changesChannel); err != nil {
		return err
	}
	if err := f.probe(ctx, conn, pool, schema, w); err != nil {
		return err
	}
	w.Watching(true)
	defer w.Watching(false)
	for first := true; ; first = false {
		if _, err := f.deliver(ctx, conn, schema, w, time.Now().Add(f.check), ""); err != nil {
			return err
		}
		if err := f.probe(ctx, conn, pool, schema, w); err != nil {
			return err
		}
		if first {
			stable()
		}
	}
}

// probe sends a notification of its own through the store's pool, and passes changes to w until
// it comes back through conn, within f.check.
func (f *changeFeed) probe(ctx context.Context, conn *pgx.Conn, pool *sql.DB, schema string, w plugboard.ChangeWatcher) error {
	token := ulid.Make().String()
	deadline := time.Now().Add(f.check)
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if _, err := pool.ExecContext(pctx, "SELECT pg_notify($1, $2)", changesChannel, "p "+token+" - "+schema); err != nil {
		return fmt.Errorf("sending the feed's probe: %w", err)
	}
	back, err := f.deliver(ctx, conn, schema, w, deadline, token)
	if err == nil && !back {
		err = errProbeLost
	}
	return err
}

// deliver passes the changes conn hears to w until deadline, or until the probe token (when not
// "") comes back (back), or the session fails.
func (f *changeFeed) deliver(ctx context.Context, conn *pgx.Conn, schema string, w plugboard.ChangeWatcher, deadline time.Time, token string) (back bool, err error) {
	for {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return false, ctx.Err()
		case err != nil && errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			return false, nil
		case err != nil:
			return false, err
		}
		c, probe, ok := parsePayload(n.Payload, schema)
		switch {
		case !ok:
		case probe == "":
			w.Changed(c)
		case probe == token && token != "":
			return true, nil
		}
	}
}

// parsePayload reads a payload of migration 0013's triggers, "c|s|k <organisation> <id> <schema>",
// or of a probe, "p <token> - <schema>". Payloads of other schemas than the store's are not its
// own.
func parsePayload(payload, schema string) (c plugboard.Change, probe string, ok bool) {
	f := strings.SplitN(payload, " ", 4)
	if len(f) != 4 || f[3] != schema {
		return plugboard.Change{}, "", false
	}
	switch f[0] {
	case "p":
		return plugboard.Change{}, f[1], f[1] != ""
	case "c":
		c.Kind = plugboard.ChangedConnection
	case "s":
		c.Kind = plugboard.ChangedSystem
	case "k":
		c.Kind = plugboard.ChangedAPIKey
	default:
		return plugboard.Change{}, "", false
	}
	var err1, err2 error
	c.OrganisationID, err1 = ulid.Parse(f[1])
	c.ID, err2 = ulid.Parse(f[2])
	if err1 != nil || err2 != nil {
		return plugboard.Change{}, "", false
	}
	return c, "", true
}
