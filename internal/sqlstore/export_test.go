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

// PurgeOrder is the list of tables PurgeOrganisation empties.
var PurgeOrder = purgeOrder

// TablesWithOrganisation lists the database's tables that have an organisation_id column.
func TablesWithOrganisation(ctx context.Context, db *DB) ([]string, error) {
	q := `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND c.name = 'organisation_id' ORDER BY m.name`
	if db.d.name == "postgres" {
		q = `SELECT table_name FROM information_schema.columns
			WHERE column_name = 'organisation_id' AND table_schema = current_schema() ORDER BY table_name`
	}
	rows, err := db.sqldb.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
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

// WriteOnReadPool tries a write on the store's read pool.
func WriteOnReadPool(ctx context.Context, db *DB) error {
	_, err := db.readdb.ExecContext(ctx, "UPDATE organisations SET name = name")
	return err
}

// StmtsPrepared is how many statements the store's statement cache prepared; StmtsCached how many
// it holds.
func StmtsPrepared(db *DB) int64 {
	if db.p.stmts == nil {
		return 0
	}
	return db.p.stmts.prepared.Load()
}

func StmtsCached(db *DB) int { return db.p.stmts.len() }

// PreparedOnSession counts the prepared statements of the pool's session (PostgreSQL, with a pool
// of one connection) whose text contains text.
func PreparedOnSession(ctx context.Context, db *DB, text string) (int, error) {
	var n int
	err := db.sqldb.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_prepared_statements WHERE strpos(statement, $1) > 0", text).Scan(&n)
	return n, err
}

// SetPgxRead switches whether the store reads a connection straight through pgx (the pools' pgx
// flag) and returns the previous setting, so that a benchmark can compare both reads in one
// process. Not safe while reads run.
func SetPgxRead(db *DB, on bool) bool {
	was := db.p.pgx
	db.p.pgx = on
	return was
}

// ExecForTest runs a statement on db's writer pool.
func ExecForTest(ctx context.Context, db *DB, query string) error {
	_, err := db.sqldb.ExecContext(ctx, query)
	return err
}
