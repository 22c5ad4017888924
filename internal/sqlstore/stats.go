package sqlstore

import (
	"context"
	"database/sql"
)

// Stats are the connection pool's figures, for the store metrics (internal/telemetry).
func (db *DB) Stats() sql.DBStats { return db.sqldb.Stats() }

// PendingDeliveries counts the webhook deliveries still to be made, of every organisation, for the
// store metrics. It reads the partial index of pending deliveries.
func (db *DB) PendingDeliveries(ctx context.Context) (int64, error) {
	var n int64
	err := db.sqldb.QueryRowContext(ctx, "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'").Scan(&n)
	if err != nil {
		return 0, db.d.translate(err, "count pending deliveries", nil)
	}
	return n, nil
}
