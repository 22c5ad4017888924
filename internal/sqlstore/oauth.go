package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// CreateCredential inserts a credential that belongs to no connection.
func (o *ops) CreateCredential(ctx context.Context, c *plugboard.Credential) error {
	if c.ID == (ulid.ULID{}) || c.OrganisationID == (ulid.ULID{}) {
		return plugboard.Errorf(plugboard.EInvalid, "credential needs an id and an organisation")
	}
	if _, err := rawValue(c.Public, "credential "+c.ID.String()+" public data"); err != nil {
		return err
	}
	return o.insertCredential(ctx, c.OrganisationID, c)
}

// credentialCols are a credential's columns as scanCredential reads them (prefixed "cr." where
// credentials is joined).
const credentialCols = `cr.organisation_id, cr.id, cr.type, cr.name, cr.public, cr.sealed, cr.expires_at, cr.created_at, cr.updated_at,
	cr.refresh_attempts, cr.refresh_next_attempt, cr.refresh_last_error, cr.refresh_failing_since`

const credentialSelect = `SELECT ` + credentialCols + ` FROM credentials cr`

func scanCredential(r interface{ Scan(...any) error }, extra ...any) (*plugboard.Credential, error) {
	var cr plugboard.Credential
	err := r.Scan(append(extra, idCol{&cr.OrganisationID}, idCol{&cr.ID}, &cr.Type, &cr.Name, rawCol{&cr.Public}, bytesCol{&cr.Sealed},
		nullTimeCol{&cr.ExpiresAt}, timeCol{&cr.CreatedAt}, timeCol{&cr.UpdatedAt},
		&cr.Refresh.Attempts, nullTimeCol{&cr.Refresh.NextAttempt}, &cr.Refresh.LastError, nullTimeCol{&cr.Refresh.FailingSince})...)
	return &cr, err
}

// GetCredential returns a credential of the organisation by id.
func (o *ops) GetCredential(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Credential, error) {
	cr, err := scanCredential(o.queryRow(ctx, credentialSelect+" WHERE cr.organisation_id = ? AND cr.id = ?", idValue(orgID), idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "get credential", &onError{notFound: "credential " + id.String() + " not found"})
	}
	return cr, nil
}

// DeleteCredential removes a credential that belongs to no connection.
func (o *ops) DeleteCredential(ctx context.Context, orgID, id ulid.ULID) error {
	return o.inTx(ctx, func(o *ops) error {
		owned, err := o.exists(ctx, "SELECT 1 FROM connection_credentials WHERE organisation_id = ? AND credential_id = ?",
			idValue(orgID), idValue(id))
		if err != nil {
			return err
		}
		if owned {
			return plugboard.Errorf(plugboard.EConflict, "credential %s belongs to a connection; it goes with the connection", id)
		}
		res, err := o.exec(ctx, "DELETE FROM credentials WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
		if err != nil {
			return o.d.translate(err, "delete credential", &onError{fkCode: plugboard.EConflict, fkMsg: "credential " + id.String() + " is in use"})
		}
		return o.affected(res, "credential "+id.String()+" not found")
	})
}

// RowLocks reports whether LockCredential locks a row rather than the whole database.
func (o *ops) RowLocks() bool { return o.d.forUpdate != "" }

// LockCredential reads a credential and holds it until the transaction ends. On SQLite the
// transaction's write lock (taken at BEGIN IMMEDIATE) already excludes every other writer.
func (o *ops) LockCredential(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Credential, error) {
	if o.tx == nil {
		return nil, plugboard.Internal(fmt.Errorf("LockCredential needs a transaction"))
	}
	cr, err := scanCredential(o.queryRow(ctx, credentialSelect+" WHERE cr.organisation_id = ? AND cr.id = ?"+o.d.forUpdate, idValue(orgID), idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "lock credential", &onError{notFound: "credential " + id.String() + " not found"})
	}
	return cr, nil
}

// UpdateCredential rewrites a credential's data, keeping its CreatedAt.
func (o *ops) UpdateCredential(ctx context.Context, c *plugboard.Credential) error {
	if _, err := rawValue(c.Public, "credential "+c.ID.String()+" public data"); err != nil {
		return err
	}
	return o.replaceCredential(ctx, c)
}

const oauthStateCols = `organisation_id, id, kind, system_id, config_id, redirect_uri, return_url, client_id, sealed,
	created_at, expires_at, consumed_at, opener_origin`

func scanOAuthState(r interface{ Scan(...any) error }) (*plugboard.OAuthState, error) {
	var st plugboard.OAuthState
	err := r.Scan(idCol{&st.OrganisationID}, &st.ID, &st.Kind, idCol{&st.SystemID}, &st.ConfigID, &st.RedirectURI,
		&st.ReturnURL, &st.ClientID, bytesCol{&st.Sealed}, timeCol{&st.CreatedAt}, timeCol{&st.ExpiresAt}, nullTimeCol{&st.ConsumedAt}, &st.OpenerOrigin)
	return &st, err
}

// CreateOAuthState records a pending flow and drops the organisation's long-expired ones.
func (o *ops) CreateOAuthState(ctx context.Context, st *plugboard.OAuthState) error {
	if st.ID == "" || st.OrganisationID == (ulid.ULID{}) {
		return plugboard.Errorf(plugboard.EInvalid, "OAuth state needs an id and an organisation")
	}
	stamp(&st.CreatedAt, &st.CreatedAt)
	st.ExpiresAt = normTime(st.ExpiresAt)
	return o.inTx(ctx, func(o *ops) error {
		if _, err := o.exec(ctx, "DELETE FROM oauth_states WHERE organisation_id = ? AND expires_at < ?",
			idValue(st.OrganisationID), timeValue(st.CreatedAt.Add(-24*time.Hour))); err != nil {
			return o.d.translate(err, "drop expired OAuth states", nil)
		}
		_, err := o.exec(ctx, "INSERT INTO oauth_states ("+oauthStateCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
			idValue(st.OrganisationID), st.ID, st.Kind, idValue(st.SystemID), st.ConfigID, st.RedirectURI, st.ReturnURL,
			st.ClientID, nullBytesValue(st.Sealed), timeValue(st.CreatedAt), timeValue(st.ExpiresAt), st.OpenerOrigin)
		return o.d.translate(err, "create OAuth state", &onError{conflict: "OAuth state already exists",
			fkCode: plugboard.ENotFound, fkMsg: "organisation " + st.OrganisationID.String() + " not found"})
	})
}

// GetOAuthState returns a state without consuming it.
func (o *ops) GetOAuthState(ctx context.Context, orgID ulid.ULID, id string) (*plugboard.OAuthState, error) {
	st, err := scanOAuthState(o.queryRow(ctx, "SELECT "+oauthStateCols+" FROM oauth_states WHERE organisation_id = ? AND id = ?",
		idValue(orgID), id))
	if err != nil {
		return nil, o.d.translate(err, "get OAuth state", &onError{notFound: "OAuth state not found"})
	}
	return st, nil
}

// ConsumeOAuthState marks a state used, once. The conditional UPDATE is what makes it single use:
// of two concurrent consumers, only one matches consumed_at IS NULL.
func (o *ops) ConsumeOAuthState(ctx context.Context, orgID ulid.ULID, id string, now time.Time) (*plugboard.OAuthState, error) {
	var st *plugboard.OAuthState
	err := o.inTx(ctx, func(o *ops) error {
		var err error
		st, err = scanOAuthState(o.queryRow(ctx, "UPDATE oauth_states SET consumed_at = ? WHERE organisation_id = ? AND id = ? AND consumed_at IS NULL RETURNING "+oauthStateCols,
			timeValue(now), idValue(orgID), id))
		if errors.Is(err, sql.ErrNoRows) {
			ok, xerr := o.exists(ctx, "SELECT 1 FROM oauth_states WHERE organisation_id = ? AND id = ?", idValue(orgID), id)
			if xerr != nil {
				return xerr
			}
			if ok {
				return plugboard.Errorf(plugboard.EConflict, "OAuth state already used")
			}
			return plugboard.Errorf(plugboard.ENotFound, "OAuth state not found")
		}
		return o.d.translate(err, "consume OAuth state", nil)
	})
	return st, err
}

// ListRefreshDue returns connection credentials due for a proactive refresh, soonest first.
func (o *ops) ListRefreshDue(ctx context.Context, before time.Time, limit int) ([]plugboard.CredentialRef, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := o.query(ctx, `SELECT cr.organisation_id, cc.connection_id, cr.id
		FROM credentials cr
		JOIN connection_credentials cc ON cc.organisation_id = cr.organisation_id AND cc.credential_id = cr.id
		JOIN organisations org ON org.organisation_id = cr.organisation_id AND org.deleted_at IS NULL
		WHERE cr.refresh_due IS NOT NULL AND cr.refresh_due < ? AND (cr.expires_at IS NULL OR cr.expires_at > ?)
		ORDER BY cr.refresh_due LIMIT ?`, timeValue(before), timeValue(before), limit)
	if err != nil {
		return nil, o.d.translate(err, "list credentials due for refresh", nil)
	}
	var out []plugboard.CredentialRef
	err = scanRows(rows, func(r *sql.Rows) error {
		var ref plugboard.CredentialRef
		if err := r.Scan(idCol{&ref.OrganisationID}, idCol{&ref.ConnectionID}, idCol{&ref.CredentialID}); err != nil {
			return err
		}
		out = append(out, ref)
		return nil
	})
	return out, o.d.translate(err, "list credentials due for refresh", nil)
}

// TryLead takes a session advisory lock on PostgreSQL, on a connection kept for as long as the
// role is held; on SQLite it always succeeds.
func (o *ops) TryLead(ctx context.Context, name string) (func(), bool, error) {
	if o.d.name != "postgres" {
		return func() {}, true, nil
	}
	if o.tx != nil {
		return nil, false, plugboard.Internal(errors.New("TryLead inside a transaction"))
	}
	conn, err := o.p.w.Conn(ctx)
	if err != nil {
		return nil, false, o.d.translate(err, "lead: connection", nil)
	}
	key := int64(0)
	for _, c := range "plugboard:" + name {
		key = key*31 + int64(c)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil || !got {
		conn.Close()
		return nil, false, o.d.translate(err, "lead: lock", nil)
	}
	release := func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key)
		conn.Close()
	}
	return release, true, nil
}
