package sqlstore

import (
	"context"
	"errors"
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
	f := &changeFeed{cfg: c, log: opts.logger(), what: what, check: opts.ChangeFeedCheck}
	if f.check <= 0 {
		f.check = DefaultChangeFeedCheck
	}
	return f
}

// WatchChanges tells w of every change committed to the store's connections and systems, by any
// replica, until ctx ends; then it returns. On PostgreSQL it holds a connection of its own that
// LISTENs on the channel migration 0013's triggers announce on; it says w.Watching(true) once it
// listens, and w.Watching(false) when the connection is lost (or, silent for ChangeFeedCheck,
// does not answer a check within ChangeFeedCheck), then connects again, waiting up to feedRetryMax between
// attempts, and logs the loss once and the recovery once. On SQLite, where one process holds the
// file and every change is its own, w hears nothing.
func (db *DB) WatchChanges(ctx context.Context, w plugboard.ChangeWatcher) {
	if db.feed == nil {
		<-ctx.Done()
		return
	}
	wait := feedRetryMin
	var lostAt time.Time
	for ctx.Err() == nil {
		err := db.feed.listen(ctx, w, func() {
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

// listen connects, listens, and delivers changes until the connection fails or ctx ends. It calls
// live once it listens. w.Watching(false) has been said when it returns after Watching(true).
func (f *changeFeed) listen(ctx context.Context, w plugboard.ChangeWatcher, live func()) error {
	// Setting up is bounded too: a server that does not answer is retried, not waited for.
	sctx, cancel := context.WithTimeout(ctx, 2*f.check)
	defer cancel()
	conn, err := pgx.ConnectConfig(sctx, f.cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(sctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(sctx, "LISTEN "+changesChannel); err != nil {
		return err
	}
	w.Watching(true)
	defer w.Watching(false)
	live()
	for {
		wctx, cancel := context.WithTimeout(ctx, f.check)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if c, ok := parseChange(n.Payload, schema); ok {
				w.Changed(c)
			}
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return err
		}
		// Silent for f.check: make sure the server still hears us, so that a connection lost
		// without a word (a network cut that drops packets) is noticed.
		cctx, cancel := context.WithTimeout(ctx, f.check)
		err = conn.Ping(cctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// parseChange reads a payload of migration 0013's triggers: "<schema> c|s <organisation> <id>".
// Changes in other schemas than the store's are not its own.
func parseChange(payload, schema string) (plugboard.Change, bool) {
	f := strings.Split(payload, " ")
	if len(f) != 4 || f[0] != schema {
		return plugboard.Change{}, false
	}
	var c plugboard.Change
	switch f[1] {
	case "c":
		c.Kind = plugboard.ChangedConnection
	case "s":
		c.Kind = plugboard.ChangedSystem
	default:
		return plugboard.Change{}, false
	}
	var err1, err2 error
	c.OrganisationID, err1 = ulid.Parse(f[2])
	c.ID, err2 = ulid.Parse(f[3])
	if err1 != nil || err2 != nil {
		return plugboard.Change{}, false
	}
	return c, true
}
