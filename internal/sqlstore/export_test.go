package sqlstore

import "context"

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
