package sqlstore

import "context"

// CountMigrations lets the external tests see how many migrations a database records.
func CountMigrations(ctx context.Context, db *DB) (int, error) {
	var n int
	err := db.sqldb.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n)
	return n, err
}
