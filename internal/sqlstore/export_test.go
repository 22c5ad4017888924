package sqlstore

import (
	"context"
	"database/sql"
)

// CountMigrations lets the external tests see how many migrations a database records.
func CountMigrations(ctx context.Context, db *DB) (int, error) {
	var n int
	err := db.sqldb.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n)
	return n, err
}

// OpenRawAt opens the database at url without the store, migrated up to version only, so that
// tests can write rows as an older build did and then open the store to migrate the rest.
func OpenRawAt(ctx context.Context, url string, version int64) (*sql.DB, func(string) string, error) {
	d, driver, dsn := sqliteDialect, "sqlite", url
	if IsPostgres(url) {
		d, driver = postgresDialect, "pgx"
	} else {
		var err error
		if dsn, _, err = sqliteDSN(url); err != nil {
			return nil, nil, err
		}
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, err
	}
	if err := migrateUpTo(ctx, db, d, version); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, d.rebind, nil
}
