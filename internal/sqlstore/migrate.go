package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard"
)

// migrationFiles holds each dialect's migrations as migrations/<dialect>/NNNN_name.sql. They run
// in version order; schema_migrations records which have run.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one schema change.
type migration struct {
	version int64
	name    string
	sql     string
}

// afterMigration holds the data changes that SQL cannot make (new ULIDs), by the version of the
// migration they follow; each runs in that migration's transaction, on both dialects.
var afterMigration = map[int64]func(context.Context, *ops) error{
	11: backfillActivations,
}

// migrations returns the dialect's migrations in version order.
func migrations(d dialect) ([]migration, error) {
	dir := path.Join("migrations", d.name)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		prefix, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number", e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the migrations that schema_migrations does not list, each in its own
// transaction together with its record, so a failed migration leaves no trace and a second
// process opening the same database concurrently waits and then skips what the first applied.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	return migrateUpTo(ctx, db, d, math.MaxInt64)
}

// migrateUpTo is migrate, stopping after version upTo (tests start from older schemas with it).
func migrateUpTo(ctx context.Context, db *sql.DB, d dialect, upTo int64) error {
	fail := func(err error) error {
		return &plugboard.Error{Code: plugboard.EInternal, Message: "database migration failed", Err: err}
	}
	ms, err := migrations(d)
	if err != nil {
		return fail(err)
	}
	if err := createMigrationsTable(ctx, db, d); err != nil {
		return fail(err)
	}
	for _, m := range ms {
		if m.version > upTo {
			break
		}
		o := &ops{d: d, p: singlePool(db)}
		err := o.inTx(ctx, func(o *ops) error {
			if d.migrationLock != "" {
				if _, err := o.q.ExecContext(ctx, d.migrationLock); err != nil {
					return err
				}
			}
			applied, err := o.exists(ctx, "SELECT 1 FROM schema_migrations WHERE version = ?", m.version)
			if err != nil || applied {
				return err
			}
			if _, err := o.q.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if after := afterMigration[m.version]; after != nil {
				if err := after(ctx, o); err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
			_, err = o.exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
				m.version, timeValue(time.Now()))
			return err
		})
		if err != nil {
			return fail(err)
		}
	}
	return nil
}

// createMigrationsTable creates schema_migrations if it is missing, under the migration lock so
// that two replicas starting at once do not race on it. schema_migrations is the one table
// without organisation_id: it describes the database, not a tenant.
func createMigrationsTable(ctx context.Context, db *sql.DB, d dialect) error {
	o := &ops{d: d, p: singlePool(db)}
	return o.inTx(ctx, func(o *ops) error {
		if d.migrationLock != "" {
			if _, err := o.q.ExecContext(ctx, d.migrationLock); err != nil {
				return err
			}
		}
		_, err := o.q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT NOT NULL PRIMARY KEY,
			applied_at BIGINT NOT NULL
		)`)
		return err
	})
}

// SchemaStatus says how far a database's schema is from this build's migrations.
type SchemaStatus struct {
	// Applied is the highest migration version recorded in the database, 0 for none.
	Applied int64
	// Latest is the highest migration version this build has.
	Latest int64
	// Pending lists the versions this build has that the database has not applied.
	Pending []int64
}

// schemaStatus reads which migrations the database has applied, without changing anything.
func schemaStatus(ctx context.Context, db *sql.DB, d dialect) (SchemaStatus, error) {
	var st SchemaStatus
	ms, err := migrations(d)
	if err != nil {
		return st, plugboard.Internal(err)
	}
	applied := map[int64]bool{}
	o := &ops{d: d, p: singlePool(db)}
	ok, err := o.tableExists(ctx, "schema_migrations")
	if err != nil {
		return st, err
	}
	if ok {
		rows, err := db.QueryContext(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return st, d.translate(err, "read schema_migrations", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			var v int64
			if err := r.Scan(&v); err != nil {
				return err
			}
			applied[v] = true
			st.Applied = max(st.Applied, v)
			return nil
		})
		if err != nil {
			return st, d.translate(err, "read schema_migrations", nil)
		}
	}
	for _, m := range ms {
		st.Latest = max(st.Latest, m.version)
		if !applied[m.version] {
			st.Pending = append(st.Pending, m.version)
		}
	}
	return st, nil
}

// tableExists reports whether a table of that name is visible (on PostgreSQL: in the search path).
func (o *ops) tableExists(ctx context.Context, name string) (bool, error) {
	q := "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
	if o.d.name == "postgres" {
		q = "SELECT 1 WHERE to_regclass(?) IS NOT NULL"
	}
	return o.exists(ctx, q, name)
}
