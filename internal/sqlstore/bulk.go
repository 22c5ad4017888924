package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/plugboard/plugboard"
)

// BulkInsertConnections loads many connections at once, for benchmarks and imports: COPY on
// PostgreSQL, multi-row INSERTs in one transaction on SQLite. The rows are those CreateConnection
// writes (connection, credentials, their association and the link to the template), but nothing is
// checked beyond the database's own constraints: templates, systems and end users must exist, and
// the caller sets every id and time. It is not part of plugboard.Store.
func (db *DB) BulkInsertConnections(ctx context.Context, cs []plugboard.Connection) error {
	tables := bulkRows(cs)
	if db.d.name == "postgres" {
		return db.copyRows(ctx, tables)
	}
	return db.insertRows(ctx, tables)
}

// bulkTable is one table's rows for a bulk load.
type bulkTable struct {
	name string
	cols []string
	rows [][]any
}

func bulkRows(cs []plugboard.Connection) []bulkTable {
	conns := bulkTable{name: "connections", cols: strings.Split(strings.ReplaceAll(connectionCols, " ", ""), ",")}
	creds := bulkTable{name: "credentials", cols: []string{"organisation_id", "id", "type", "name", "public", "sealed", "errors", "expires_at", "created_at", "updated_at"}}
	assoc := bulkTable{name: "connection_credentials", cols: []string{"organisation_id", "connection_id", "position", "id", "auth_scheme_config_id", "credential_id"}}
	links := bulkTable{name: "connection_links", cols: []string{"organisation_id", "template_id", "connection_id"}}
	for _, c := range cs {
		org := idValue(c.OrganisationID)
		conns.rows = append(conns.rows, []any{org, idValue(c.ID), idValue(c.TemplateID), idValue(c.SystemID), endUserValue(c.EndUserID),
			c.Name, c.BaseURL, timeValue(c.CreatedAt), timeValue(c.UpdatedAt)})
		links.rows = append(links.rows, []any{org, idValue(c.TemplateID), idValue(c.ID)})
		for i, cc := range c.Credentials {
			cr := cc.Credential
			var public any
			if len(cr.Public) > 0 {
				public = string(cr.Public)
			}
			creds.rows = append(creds.rows, []any{org, idValue(cr.ID), cr.Type, cr.Name, public, nullBytesValue(cr.Sealed),
				"[]", nullTimeValue(cr.ExpiresAt), timeValue(cr.CreatedAt), timeValue(cr.UpdatedAt)})
			assoc.rows = append(assoc.rows, []any{org, idValue(c.ID), i, idValue(cc.ID), cc.AuthSchemeConfigID, idValue(cr.ID)})
		}
	}
	// Parents before children, for the foreign keys.
	return []bulkTable{conns, creds, assoc, links}
}

// copyRows streams each table with COPY FROM on one connection, in one transaction.
func (db *DB) copyRows(ctx context.Context, tables []bulkTable) error {
	conn, err := db.sqldb.Conn(ctx)
	if err != nil {
		return db.d.translate(err, "bulk: get connection", nil)
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return db.d.translate(err, "bulk: begin", nil)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
		for _, t := range tables {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
				return db.d.translate(err, "bulk: copy "+t.name, &onError{conflict: "bulk: duplicate row in " + t.name})
			}
		}
		return db.d.translate(tx.Commit(ctx), "bulk: commit", nil)
	})
}

// insertRows writes each table with multi-row INSERTs in one transaction (SQLite).
func (db *DB) insertRows(ctx context.Context, tables []bulkTable) error {
	return db.inTx(ctx, func(o *ops) error {
		for _, t := range tables {
			// SQLite allows 32766 variables per statement.
			per := 32000 / len(t.cols)
			for start := 0; start < len(t.rows); start += per {
				end := min(start+per, len(t.rows))
				if err := insertBatch(ctx, o, t, t.rows[start:end]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func insertBatch(ctx context.Context, o *ops, t bulkTable, rows [][]any) error {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", t.name, strings.Join(t.cols, ", "))
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	args := make([]any, 0, len(rows)*len(t.cols))
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		args = append(args, r...)
	}
	_, err := o.exec(ctx, b.String(), args...)
	return o.d.translate(err, "bulk: insert "+t.name, &onError{conflict: "bulk: duplicate row in " + t.name})
}

// Analyze refreshes the planner's statistics after a bulk load (ANALYZE on both databases).
func (db *DB) Analyze(ctx context.Context) error {
	_, err := db.exec(ctx, "ANALYZE")
	return db.d.translate(err, "analyze", nil)
}
