package sqlstore

import (
	"context"
	"database/sql"
)

// Stats are the connection pools' figures, for the store metrics (internal/telemetry): on an
// SQLite file, the writer's and the read pool's added together.
func (db *DB) Stats() sql.DBStats {
	s := db.sqldb.Stats()
	if db.readdb == nil || db.readdb == db.sqldb {
		return s
	}
	r := db.readdb.Stats()
	s.MaxOpenConnections += r.MaxOpenConnections
	s.OpenConnections += r.OpenConnections
	s.InUse += r.InUse
	s.Idle += r.Idle
	s.WaitCount += r.WaitCount
	s.WaitDuration += r.WaitDuration
	s.MaxIdleClosed += r.MaxIdleClosed
	s.MaxIdleTimeClosed += r.MaxIdleTimeClosed
	s.MaxLifetimeClosed += r.MaxLifetimeClosed
	return s
}

// PendingDeliveries counts the webhook deliveries still to be made, of every organisation, for the
// store metrics. It reads the partial index of pending deliveries, on the read pool: on SQLite the
// writer's one connection belongs to the writers queued for it.
func (db *DB) PendingDeliveries(ctx context.Context) (int64, error) {
	var n int64
	err := db.readdb.QueryRowContext(ctx, "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'").Scan(&n)
	if err != nil {
		return 0, db.d.translate(err, "count pending deliveries", nil)
	}
	return n, nil
}
