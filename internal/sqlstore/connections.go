package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

const connectionCols = "organisation_id, id, template_id, system_id, end_user_id, name, base_url, created_at, updated_at"

// maxInList bounds the ids bound into one IN (...) list, well under SQLite's and PostgreSQL's
// parameter limits.
const maxInList = 500

func scanConnection(r interface{ Scan(...any) error }) (plugboard.Connection, error) {
	var c plugboard.Connection
	err := r.Scan(idCol{&c.OrganisationID}, idCol{&c.ID}, idCol{&c.TemplateID}, idCol{&c.SystemID},
		idCol{&c.EndUserID}, &c.Name, &c.BaseURL, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt})
	return c, err
}

// conflictMsg names the duplicate a connection's unique constraint rejected.
func conflictMsg(c *plugboard.Connection) string {
	if c.EndUserID == (ulid.ULID{}) {
		return fmt.Sprintf("static connection %q already exists for this template", c.Name)
	}
	return fmt.Sprintf("connection %q already exists for this template and end user", c.Name)
}

// CreateConnection inserts c with its credentials in order and links it to its template. A zero
// SystemID is taken from the template; a different one is EInvalid. Credentials with a zero
// OrganisationID take c's. Duplicate names are caught by the UNIQUE constraint, not a prior read,
// so concurrent creates cannot both succeed.
func (o *ops) CreateConnection(ctx context.Context, c *plugboard.Connection) error {
	if err := requireID(c.ID, "connection"); err != nil {
		return err
	}
	stamp(&c.CreatedAt, &c.UpdatedAt)
	if err := prepareCredentials(c); err != nil {
		return err
	}
	return o.inTx(ctx, func(o *ops) error {
		org := idValue(c.OrganisationID)
		var systemID ulid.ULID
		err := o.queryRow(ctx, "SELECT system_id FROM connection_templates WHERE organisation_id = ? AND id = ?",
			org, idValue(c.TemplateID)).Scan(idCol{&systemID})
		if err != nil {
			return o.d.translate(err, "get connection template", &onError{notFound: "connection template " + c.TemplateID.String() + " not found"})
		}
		if err := own(&c.SystemID, systemID, "connection", "system"); err != nil {
			return err
		}
		if c.EndUserID != (ulid.ULID{}) {
			// end_user_id has no foreign key (static connections store ''), so the check is here,
			// in the transaction that inserts. On PostgreSQL it holds a share lock on the end user's
			// row until commit, so a concurrent DeleteEndUser (which deletes that row first) either
			// waits and then deletes this connection too, or wins and this check fails.
			var one int
			err := o.queryRow(ctx, "SELECT 1 FROM end_users WHERE organisation_id = ? AND id = ?"+o.d.forShare,
				org, idValue(c.EndUserID)).Scan(&one)
			if err != nil {
				return o.d.translate(err, "check end user", &onError{notFound: "end user " + c.EndUserID.String() + " not found"})
			}
		}
		_, err = o.exec(ctx, "INSERT INTO connections ("+connectionCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			org, idValue(c.ID), idValue(c.TemplateID), idValue(c.SystemID), endUserValue(c.EndUserID),
			c.Name, c.BaseURL, timeValue(c.CreatedAt), timeValue(c.UpdatedAt))
		if err := o.d.translate(err, "insert connection", &onError{
			conflict: conflictMsg(c),
			fkCode:   plugboard.ENotFound, fkMsg: "the connection's template or system was not found",
		}); err != nil {
			return err
		}
		for i := range c.Credentials {
			if err := o.insertCredential(ctx, c.OrganisationID, &c.Credentials[i].Credential); err != nil {
				return err
			}
			if err := o.insertConnectionCredential(ctx, c, i); err != nil {
				return err
			}
		}
		_, err = o.exec(ctx, "INSERT INTO connection_links (organisation_id, template_id, connection_id) VALUES (?, ?, ?)",
			org, idValue(c.TemplateID), idValue(c.ID))
		return o.d.translate(err, "link connection", nil)
	})
}

// prepareCredentials checks c's credentials before any write and normalises their times.
func prepareCredentials(c *plugboard.Connection) error {
	for i := range c.Credentials {
		cc := &c.Credentials[i]
		if err := requireID(cc.ID, "connection credential"); err != nil {
			return err
		}
		if err := requireID(cc.Credential.ID, "credential"); err != nil {
			return err
		}
		if err := own(&cc.Credential.OrganisationID, c.OrganisationID, "credential", "organisation"); err != nil {
			return err
		}
		if _, err := rawValue(cc.Credential.Public, fmt.Sprintf("credential %s public data", cc.Credential.ID)); err != nil {
			return err
		}
		if cc.Credential.ExpiresAt != nil {
			t := normTime(*cc.Credential.ExpiresAt)
			cc.Credential.ExpiresAt = &t
		}
	}
	return nil
}

func (o *ops) insertCredential(ctx context.Context, orgID ulid.ULID, cr *plugboard.Credential) error {
	stamp(&cr.CreatedAt, &cr.UpdatedAt)
	public, _ := rawValue(cr.Public, "") // validated by prepareCredentials
	normRefresh(&cr.Refresh)
	_, err := o.exec(ctx, `INSERT INTO credentials
		(organisation_id, id, type, name, public, sealed, errors, expires_at, created_at, updated_at, refresh_due,
		 refresh_attempts, refresh_next_attempt, refresh_last_error, refresh_failing_since)
		VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?)`,
		idValue(orgID), idValue(cr.ID), cr.Type, cr.Name, public, nullBytesValue(cr.Sealed),
		nullTimeValue(cr.ExpiresAt), timeValue(cr.CreatedAt), timeValue(cr.UpdatedAt), nullTimeValue(cr.RefreshDue),
		cr.Refresh.Attempts, nullTimeValue(cr.Refresh.NextAttempt), cr.Refresh.LastError, nullTimeValue(cr.Refresh.FailingSince))
	return o.d.translate(err, "insert credential", &onError{
		conflict: "credential " + cr.ID.String() + " already exists",
		fkCode:   plugboard.ENotFound, fkMsg: "organisation " + orgID.String() + " not found",
	})
}

func (o *ops) insertConnectionCredential(ctx context.Context, c *plugboard.Connection, position int) error {
	cc := c.Credentials[position]
	_, err := o.exec(ctx, `INSERT INTO connection_credentials
		(organisation_id, connection_id, position, id, auth_scheme_config_id, credential_id) VALUES (?, ?, ?, ?, ?, ?)`,
		idValue(c.OrganisationID), idValue(c.ID), position, idValue(cc.ID), cc.AuthSchemeConfigID, idValue(cc.Credential.ID))
	return o.d.translate(err, "insert connection credential", &onError{
		conflict: fmt.Sprintf("connection credential %s or its credential %s is already in use", cc.ID, cc.Credential.ID),
	})
}

// getConnectionQuery reads a connection with its credentials in one statement: one row per
// credential (one row with NULL credential columns when it has none), each carrying the connection,
// whether it has Expired gaps, and the credential's position, by which getConnection orders them.
// One statement reads one snapshot on either database, so it needs no transaction: a cache miss of
// the proxy costs one statement instead of a transaction of three (and on PostgreSQL one round trip
// instead of five). It has no ORDER BY: on PostgreSQL that put a Sort node (and its tuplesort set-up)
// in every execution, about 5 µs of the server's CPU per read (docs/benchmarks.md), for a handful
// of rows that Go orders for free.
const getConnectionQuery = `SELECT c.organisation_id, c.id, c.template_id, c.system_id, c.end_user_id, c.name, c.base_url,
		c.created_at, c.updated_at,
		CASE WHEN EXISTS (SELECT 1 FROM expired_credentials e WHERE e.organisation_id = c.organisation_id AND e.connection_id = c.id)
			THEN 1 ELSE 0 END,
		cc.id, COALESCE(cc.auth_scheme_config_id, ''),
		cr.organisation_id, cr.id, COALESCE(cr.type, ''), COALESCE(cr.name, ''), cr.public, cr.sealed, cr.expires_at,
		COALESCE(cr.created_at, 0), COALESCE(cr.updated_at, 0), COALESCE(cr.refresh_attempts, 0), cr.refresh_next_attempt,
		COALESCE(cr.refresh_last_error, ''), cr.refresh_failing_since, COALESCE(cc.position, 0)
	FROM connections c
	LEFT JOIN connection_credentials cc ON cc.organisation_id = c.organisation_id AND cc.connection_id = c.id
	LEFT JOIN credentials cr ON cr.organisation_id = cc.organisation_id AND cr.id = cc.credential_id
	WHERE c.organisation_id = ? AND c.id = ?`

// GetConnection returns the connection with its credentials in order, or ENotFound. It reads them
// in one statement; a connection with Expired gaps (which no call can use) is read again with them
// in a read-only transaction.
func (o *ops) GetConnection(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Connection, error) {
	c, expired, err := o.getConnection(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if !expired {
		return c, nil
	}
	return o.getConnectionWithGaps(ctx, orgID, id)
}

// getConnection runs getConnectionQuery. expired reports whether the connection has Expired gaps,
// which it does not read.
func (o *ops) getConnection(ctx context.Context, orgID, id ulid.ULID) (c *plugboard.Connection, expired bool, err error) {
	// row scans one row of getConnectionQuery with scan (sql.Rows' or pgx.Rows' Scan: both take
	// the same sql.Scanner destinations).
	var positions []int64
	row := func(scan func(dest ...any) error) error {
		var (
			conn     plugboard.Connection
			gaps     int
			ccID     ulid.ULID
			cc       plugboard.ConnectionCredential
			hasCred  bool
			position int64
		)
		cr := &cc.Credential
		if err := scan(idCol{&conn.OrganisationID}, idCol{&conn.ID}, idCol{&conn.TemplateID}, idCol{&conn.SystemID},
			idCol{&conn.EndUserID}, &conn.Name, &conn.BaseURL, timeCol{&conn.CreatedAt}, timeCol{&conn.UpdatedAt}, &gaps,
			nullIDCol{&ccID, &hasCred}, &cc.AuthSchemeConfigID,
			idCol{&cr.OrganisationID}, idCol{&cr.ID}, &cr.Type, &cr.Name, rawCol{&cr.Public}, bytesCol{&cr.Sealed},
			nullTimeCol{&cr.ExpiresAt}, timeCol{&cr.CreatedAt}, timeCol{&cr.UpdatedAt},
			&cr.Refresh.Attempts, nullTimeCol{&cr.Refresh.NextAttempt}, &cr.Refresh.LastError, nullTimeCol{&cr.Refresh.FailingSince},
			&position); err != nil {
			return err
		}
		if c == nil {
			c, expired = &conn, gaps != 0
		}
		if hasCred {
			cc.ID = ccID
			c.Credentials = append(c.Credentials, cc)
			positions = append(positions, position)
		}
		return nil
	}
	if o.tx == nil && o.p.pgx {
		err = o.p.readPgx(ctx, func(conn *pgx.Conn) error {
			c, expired, positions = nil, false, nil // a retry starts over
			rows, err := conn.Query(ctx, o.rebind(getConnectionQuery), idValue(orgID), idValue(id))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := row(rows.Scan); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		o.note(err)
	} else {
		var rows *sql.Rows
		if rows, err = o.query(ctx, getConnectionQuery, idValue(orgID), idValue(id)); err != nil {
			return nil, false, o.d.translate(err, "get connection", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error { return row(r.Scan) })
	}
	if err == nil && c != nil {
		c.Credentials = byPosition(c.Credentials, positions)
	}
	if err != nil {
		return nil, false, o.d.translate(err, "get connection", nil)
	}
	if c == nil {
		return nil, false, plugboard.Errorf(plugboard.ENotFound, "connection %s not found", id)
	}
	return c, expired, nil
}

// byPosition returns creds ordered by their positions (positions[i] is creds[i]'s), which are
// distinct; creds itself when they are in order already, as they usually come.
func byPosition(creds []plugboard.ConnectionCredential, positions []int64) []plugboard.ConnectionCredential {
	if slices.IsSorted(positions) {
		return creds
	}
	order := make([]int, len(positions))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(positions[a], positions[b]) })
	sorted := make([]plugboard.ConnectionCredential, len(order))
	for i, j := range order {
		sorted[i] = creds[j]
	}
	return sorted
}

// getConnectionWithGaps reads a connection, its credentials and its Expired gaps in one read-only
// transaction.
func (o *ops) getConnectionWithGaps(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Connection, error) {
	var c plugboard.Connection
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		c, err = scanConnection(o.queryRow(ctx, "SELECT "+connectionCols+" FROM connections WHERE organisation_id = ? AND id = ?",
			idValue(orgID), idValue(id)))
		if err != nil {
			return o.d.translate(err, "get connection", &onError{notFound: "connection " + id.String() + " not found"})
		}
		return o.loadCredentials(ctx, orgID, []*plugboard.Connection{&c})
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// loadCredentials fills in the credentials of conns, in order, with one query per maxInList
// connections rather than one per connection.
func (o *ops) loadCredentials(ctx context.Context, orgID ulid.ULID, conns []*plugboard.Connection) error {
	byID := make(map[ulid.ULID]*plugboard.Connection, len(conns))
	ids := make([]ulid.ULID, len(conns))
	for i, c := range conns {
		byID[c.ID], ids[i] = c, c.ID
	}
	for chunk := range slices.Chunk(ids, maxInList) {
		rows, err := o.query(ctx, `SELECT cc.connection_id, cc.id, cc.auth_scheme_config_id, `+credentialCols+`
			FROM connection_credentials cc
			JOIN credentials cr ON cr.organisation_id = cc.organisation_id AND cr.id = cc.credential_id
			WHERE cc.organisation_id = ? AND cc.connection_id IN (`+placeholders(len(chunk))+`)
			ORDER BY cc.connection_id, cc.position`, append([]any{idValue(orgID)}, idArgs(chunk)...)...)
		if err != nil {
			return o.d.translate(err, "list credentials", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			var connID ulid.ULID
			var cc plugboard.ConnectionCredential
			cr, err := scanCredential(r, idCol{&connID}, idCol{&cc.ID}, &cc.AuthSchemeConfigID)
			if err != nil {
				return err
			}
			cc.Credential = *cr
			if c := byID[connID]; c != nil {
				c.Credentials = append(c.Credentials, cc)
			}
			return nil
		})
		if err != nil {
			return o.d.translate(err, "list credentials", nil)
		}
		if err := o.loadExpired(ctx, orgID, chunk, byID); err != nil {
			return err
		}
	}
	return nil
}

// ListConnections returns a page of connections with their credentials.
func (o *ops) ListConnections(ctx context.Context, orgID ulid.ULID, f plugboard.ConnectionFilter, req plugboard.PageRequest) (*plugboard.Page[plugboard.Connection], error) {
	spec := listSpec{cols: connectionCols, table: "connections", where: "organisation_id = ?", args: []any{idValue(orgID)}}
	if f.SystemID != (ulid.ULID{}) {
		spec.where += " AND system_id = ?"
		spec.args = append(spec.args, idValue(f.SystemID))
	}
	if f.EndUserID != (ulid.ULID{}) {
		spec.where += " AND end_user_id = ?"
		spec.args = append(spec.args, idValue(f.EndUserID))
	}
	if f.TemplateID != (ulid.ULID{}) {
		spec.where += " AND template_id = ?"
		spec.args = append(spec.args, idValue(f.TemplateID))
	}
	var page *plugboard.Page[plugboard.Connection]
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		page, err = listPage(ctx, o, spec, req,
			func(r *sql.Rows) (plugboard.Connection, error) { return scanConnection(r) },
			func(c *plugboard.Connection) ulid.ULID { return c.ID })
		if err != nil {
			return err
		}
		return o.loadCredentials(ctx, orgID, connPtrs(page.Items))
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

func connPtrs(cs []plugboard.Connection) []*plugboard.Connection {
	ptrs := make([]*plugboard.Connection, len(cs))
	for i := range cs {
		ptrs[i] = &cs[i]
	}
	return ptrs
}

// ListEnvironmentConnections returns the static connections linked to a template of the project
// (of its environment envID unless zero), ordered by id.
func (o *ops) ListEnvironmentConnections(ctx context.Context, orgID, projectID, envID ulid.ULID) ([]plugboard.Connection, error) {
	var list []plugboard.Connection
	err := o.inReadTx(ctx, func(o *ops) error {
		list = nil // a retried read starts again
		if err := o.requireProject(ctx, orgID, projectID); err != nil {
			return err
		}
		q := `SELECT ` + connectionCols + ` FROM connections c
			WHERE c.organisation_id = ? AND c.end_user_id = '' AND EXISTS (
				SELECT 1 FROM connection_links l
				JOIN connection_templates t ON t.organisation_id = l.organisation_id AND t.id = l.template_id
				WHERE l.organisation_id = c.organisation_id AND l.connection_id = c.id AND t.project_id = ?`
		args := []any{idValue(orgID), idValue(projectID)}
		if envID != (ulid.ULID{}) {
			q += " AND t.environment_id = ?"
			args = append(args, idValue(envID))
		}
		rows, err := o.query(ctx, q+") ORDER BY c.id", args...)
		if err != nil {
			return o.d.translate(err, "list environment connections", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			c, err := scanConnection(r)
			list = append(list, c)
			return err
		})
		if err != nil {
			return o.d.translate(err, "list environment connections", nil)
		}
		return o.loadCredentials(ctx, orgID, connPtrs(list))
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// UpdateConnection writes c's name, base URL and UpdatedAt and makes its credential set c's:
// credentials of the connection whose Credential.ID is in c are replaced (their stored CreatedAt
// is kept when c's is zero), new ones inserted, the rest deleted, and the order becomes c's.
func (o *ops) UpdateConnection(ctx context.Context, c *plugboard.Connection) ([]ulid.ULID, error) {
	touch(&c.UpdatedAt)
	if err := prepareCredentials(c); err != nil {
		return nil, err
	}
	var removed []ulid.ULID
	err := o.inTx(ctx, func(o *ops) error {
		org, cid := idValue(c.OrganisationID), idValue(c.ID)
		res, err := o.exec(ctx, "UPDATE connections SET name = ?, base_url = ?, updated_at = ? WHERE organisation_id = ? AND id = ?",
			c.Name, c.BaseURL, timeValue(c.UpdatedAt), org, cid)
		if err != nil {
			return o.d.translate(err, "update connection", &onError{conflict: conflictMsg(c)})
		}
		if err := o.affected(res, "connection "+c.ID.String()+" not found"); err != nil {
			return err
		}
		old, err := o.credentialIDs(ctx, "SELECT credential_id FROM connection_credentials WHERE organisation_id = ? AND connection_id = ?", org, cid)
		if err != nil {
			return err
		}
		// The association rows are rewritten whole: it is the simplest way to a new order without
		// tripping the (connection, position) key halfway.
		if _, err := o.exec(ctx, "DELETE FROM connection_credentials WHERE organisation_id = ? AND connection_id = ?", org, cid); err != nil {
			return o.d.translate(err, "delete connection credentials", nil)
		}
		keep := make(map[ulid.ULID]bool, len(c.Credentials))
		for _, cc := range c.Credentials {
			keep[cc.Credential.ID] = true
		}
		var stale []ulid.ULID
		for _, id := range old {
			if !keep[id] {
				stale = append(stale, id)
			}
		}
		if err := o.deleteCredentials(ctx, c.OrganisationID, stale); err != nil {
			return err
		}
		removed = stale
		isOld := make(map[ulid.ULID]bool, len(old))
		for _, id := range old {
			isOld[id] = true
		}
		swept, err := o.credentialIDs(ctx, "SELECT credential_id FROM expired_credentials WHERE organisation_id = ? AND connection_id = ?", org, cid)
		if err != nil {
			return err
		}
		added := false
		for i := range c.Credentials {
			cr := &c.Credentials[i].Credential
			if isOld[cr.ID] {
				err = o.replaceCredential(ctx, cr)
			} else if slices.Contains(swept, cr.ID) {
				// Read before the sweep deleted it: writing it back would undo the deletion.
				return plugboard.Errorf(plugboard.EConflict, "credential %s of connection %s expired and was deleted meanwhile; read the connection again", cr.ID, c.ID)
			} else {
				added = true
				err = o.insertCredential(ctx, c.OrganisationID, cr)
			}
			if err != nil {
				return err
			}
			if err := o.insertConnectionCredential(ctx, c, i); err != nil {
				return err
			}
		}
		if added && len(swept) > 0 {
			// A credential was added: the gaps the sweep left are closed.
			if _, err := o.exec(ctx, "DELETE FROM expired_credentials WHERE organisation_id = ? AND connection_id = ?", org, cid); err != nil {
				return o.d.translate(err, "clear expired credentials", nil)
			}
			c.Expired = nil
			return nil
		}
		c.Expired = nil
		return o.loadExpired(ctx, c.OrganisationID, []ulid.ULID{c.ID}, map[ulid.ULID]*plugboard.Connection{c.ID: c})
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// replaceCredential overwrites a credential of the connection being updated.
func (o *ops) replaceCredential(ctx context.Context, cr *plugboard.Credential) error {
	touch(&cr.UpdatedAt)
	public, _ := rawValue(cr.Public, "") // validated by prepareCredentials
	var created any
	if !cr.CreatedAt.IsZero() {
		created = timeValue(cr.CreatedAt)
	}
	// RETURNING (SQLite 3.35+, PostgreSQL) gives back the kept CreatedAt without another query.
	normRefresh(&cr.Refresh)
	err := o.queryRow(ctx, `UPDATE credentials SET type = ?, name = ?, public = ?, sealed = ?, errors = '[]',
			expires_at = ?, created_at = COALESCE(?, created_at), updated_at = ?, refresh_due = ?,
			refresh_attempts = ?, refresh_next_attempt = ?, refresh_last_error = ?, refresh_failing_since = ?
		WHERE organisation_id = ? AND id = ? RETURNING created_at`,
		cr.Type, cr.Name, public, nullBytesValue(cr.Sealed),
		nullTimeValue(cr.ExpiresAt), created, timeValue(cr.UpdatedAt), nullTimeValue(cr.RefreshDue),
		cr.Refresh.Attempts, nullTimeValue(cr.Refresh.NextAttempt), cr.Refresh.LastError, nullTimeValue(cr.Refresh.FailingSince),
		idValue(cr.OrganisationID), idValue(cr.ID)).
		Scan(timeCol{&cr.CreatedAt})
	return o.d.translate(err, "replace credential", &onError{notFound: "credential " + cr.ID.String() + " not found"})
}

// credentialIDs runs a query returning credential ids.
func (o *ops) credentialIDs(ctx context.Context, q string, args ...any) ([]ulid.ULID, error) {
	rows, err := o.query(ctx, q, args...)
	if err != nil {
		return nil, o.d.translate(err, "list credential ids", nil)
	}
	var ids []ulid.ULID
	err = scanRows(rows, func(r *sql.Rows) error {
		var id ulid.ULID
		err := r.Scan(idCol{&id})
		ids = append(ids, id)
		return err
	})
	if err != nil {
		return nil, o.d.translate(err, "list credential ids", nil)
	}
	return ids, nil
}

// deleteCredentials deletes credentials by id; their connection_credentials rows must be gone.
func (o *ops) deleteCredentials(ctx context.Context, orgID ulid.ULID, ids []ulid.ULID) error {
	for chunk := range slices.Chunk(ids, maxInList) {
		_, err := o.exec(ctx, "DELETE FROM credentials WHERE organisation_id = ? AND id IN ("+placeholders(len(chunk))+")",
			append([]any{idValue(orgID)}, idArgs(chunk)...)...)
		if err != nil {
			return o.d.translate(err, "delete credentials", nil)
		}
	}
	return nil
}

// deleteConnections deletes the organisation's connections matching cond (a condition on the
// connections table), with their credentials and links. Children go first so that no foreign
// key is ever violated, whatever the dialect's cascade support.
func (o *ops) deleteConnections(ctx context.Context, orgID ulid.ULID, cond string, args ...any) ([]plugboard.DeletedConnection, error) {
	org := idValue(orgID)
	sub := "SELECT id FROM connections WHERE organisation_id = ? AND " + cond
	subArgs := append([]any{org}, args...)
	deleted, err := o.deletedConnections(ctx, orgID, cond, args...)
	if err != nil {
		return nil, err
	}
	var creds []ulid.ULID
	for _, d := range deleted {
		creds = append(creds, d.CredentialIDs...)
	}
	if _, err := o.exec(ctx, "DELETE FROM connection_credentials WHERE organisation_id = ? AND connection_id IN ("+sub+")",
		append([]any{org}, subArgs...)...); err != nil {
		return nil, o.d.translate(err, "delete connection credentials", nil)
	}
	if err := o.deleteCredentials(ctx, orgID, creds); err != nil {
		return nil, err
	}
	if _, err := o.exec(ctx, "DELETE FROM expired_credentials WHERE organisation_id = ? AND connection_id IN ("+sub+")",
		append([]any{org}, subArgs...)...); err != nil {
		return nil, o.d.translate(err, "delete expired credentials", nil)
	}
	if _, err := o.exec(ctx, "DELETE FROM connection_links WHERE organisation_id = ? AND connection_id IN ("+sub+")",
		append([]any{org}, subArgs...)...); err != nil {
		return nil, o.d.translate(err, "delete connection links", nil)
	}
	_, err = o.exec(ctx, "DELETE FROM connections WHERE organisation_id = ? AND "+cond, subArgs...)
	if err != nil {
		return nil, o.d.translate(err, "delete connections", nil)
	}
	return deleted, nil
}

// deletedConnections reads the connections matching cond with their credential ids, in order: what
// deleteConnections is about to remove.
func (o *ops) deletedConnections(ctx context.Context, orgID ulid.ULID, cond string, args ...any) ([]plugboard.DeletedConnection, error) {
	org := idValue(orgID)
	// Locked (on PostgreSQL), so a writer of these connections' credentials (an update, the expiry
	// sweep) that got there first has committed before the credentials are read below, and none
	// comes after: each deleted credential is reported by exactly one change.
	rows, err := o.query(ctx, "SELECT id, end_user_id FROM connections WHERE organisation_id = ? AND "+cond+" ORDER BY id"+o.d.forUpdate,
		append([]any{org}, args...)...)
	if err != nil {
		return nil, o.d.translate(err, "list deleted connections", nil)
	}
	var out []plugboard.DeletedConnection
	index := map[ulid.ULID]int{}
	err = scanRows(rows, func(r *sql.Rows) error {
		var d plugboard.DeletedConnection
		if err := r.Scan(idCol{&d.ID}, idCol{&d.EndUserID}); err != nil {
			return err
		}
		index[d.ID] = len(out)
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, o.d.translate(err, "list deleted connections", nil)
	}
	if len(out) == 0 {
		return nil, nil
	}
	rows, err = o.query(ctx, "SELECT connection_id, credential_id FROM connection_credentials WHERE organisation_id = ? AND connection_id IN ("+
		"SELECT id FROM connections WHERE organisation_id = ? AND "+cond+") ORDER BY connection_id, position",
		append([]any{org, org}, args...)...)
	if err != nil {
		return nil, o.d.translate(err, "list deleted credentials", nil)
	}
	err = scanRows(rows, func(r *sql.Rows) error {
		var conn, cred ulid.ULID
		if err := r.Scan(idCol{&conn}, idCol{&cred}); err != nil {
			return err
		}
		if i, ok := index[conn]; ok {
			out[i].CredentialIDs = append(out[i].CredentialIDs, cred)
		}
		return nil
	})
	if err != nil {
		return nil, o.d.translate(err, "list deleted credentials", nil)
	}
	return out, nil
}

// DeleteConnection removes the connection, its credentials and its links.
func (o *ops) DeleteConnection(ctx context.Context, orgID, id ulid.ULID) (*plugboard.DeletedConnection, error) {
	var out *plugboard.DeletedConnection
	err := o.inTx(ctx, func(o *ops) error {
		if err := o.requireConnection(ctx, orgID, id); err != nil {
			return err
		}
		deleted, err := o.deleteConnections(ctx, orgID, "id = ?", idValue(id))
		if err != nil {
			return err
		}
		if len(deleted) != 1 {
			return plugboard.Errorf(plugboard.ENotFound, "connection %s not found", id)
		}
		out = &deleted[0]
		return nil
	})
	return out, err
}

func (o *ops) requireConnection(ctx context.Context, orgID, id ulid.ULID) error {
	ok, err := o.exists(ctx, "SELECT 1 FROM connections WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
	if err == nil && !ok {
		err = plugboard.Errorf(plugboard.ENotFound, "connection %s not found", id)
	}
	return err
}

// LinkConnection links the connection to a template; EConflict if already linked.
func (o *ops) LinkConnection(ctx context.Context, orgID, connectionID, templateID ulid.ULID) error {
	return o.inTx(ctx, func(o *ops) error {
		if err := o.requireConnection(ctx, orgID, connectionID); err != nil {
			return err
		}
		ok, err := o.exists(ctx, "SELECT 1 FROM connection_templates WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(templateID))
		if err != nil {
			return err
		}
		if !ok {
			return plugboard.Errorf(plugboard.ENotFound, "connection template %s not found", templateID)
		}
		_, err = o.exec(ctx, "INSERT INTO connection_links (organisation_id, template_id, connection_id) VALUES (?, ?, ?)",
			idValue(orgID), idValue(templateID), idValue(connectionID))
		return o.d.translate(err, "link connection", &onError{
			conflict: fmt.Sprintf("connection %s is already linked to template %s", connectionID, templateID),
			fkCode:   plugboard.ENotFound, fkMsg: "connection or template not found",
		})
	})
}

// UnlinkConnection removes a link; ENotFound if there is no such link.
func (o *ops) UnlinkConnection(ctx context.Context, orgID, connectionID, templateID ulid.ULID) error {
	res, err := o.exec(ctx, "DELETE FROM connection_links WHERE organisation_id = ? AND template_id = ? AND connection_id = ?",
		idValue(orgID), idValue(templateID), idValue(connectionID))
	if err != nil {
		return o.d.translate(err, "unlink connection", nil)
	}
	return o.affected(res, fmt.Sprintf("connection %s is not linked to template %s", connectionID, templateID))
}
