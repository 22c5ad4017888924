package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// normRefresh normalises a refresh state's times.
func normRefresh(r *plugboard.RefreshState) {
	for _, t := range []**time.Time{&r.NextAttempt, &r.FailingSince} {
		if *t != nil {
			n := normTime(**t)
			*t = &n
		}
	}
}

// loadExpired fills in the Expired gaps of the connections ids names (at most maxInList), by id.
func (o *ops) loadExpired(ctx context.Context, orgID ulid.ULID, ids []ulid.ULID, byID map[ulid.ULID]*plugboard.Connection) error {
	rows, err := o.query(ctx, `SELECT connection_id, connection_credential_id, credential_id, auth_scheme_config_id, type, name,
			expires_at, deleted_at
		FROM expired_credentials WHERE organisation_id = ? AND connection_id IN (`+placeholders(len(ids))+`)
		ORDER BY connection_id, deleted_at, credential_id`, append([]any{idValue(orgID)}, idArgs(ids)...)...)
	if err != nil {
		return o.d.translate(err, "list expired credentials", nil)
	}
	err = scanRows(rows, func(r *sql.Rows) error {
		var connID ulid.ULID
		var e plugboard.ExpiredCredential
		if err := r.Scan(idCol{&connID}, idCol{&e.ConnectionCredentialID}, idCol{&e.CredentialID}, &e.AuthSchemeConfigID,
			&e.Type, &e.Name, timeCol{&e.ExpiresAt}, timeCol{&e.DeletedAt}); err != nil {
			return err
		}
		if c := byID[connID]; c != nil {
			c.Expired = append(c.Expired, e)
		}
		return nil
	})
	return o.d.translate(err, "list expired credentials", nil)
}

// credentialRefs runs a query returning (organisation, connection, credential) ids.
func (o *ops) credentialRefs(ctx context.Context, what, q string, args ...any) ([]plugboard.CredentialRef, error) {
	rows, err := o.query(ctx, q, args...)
	if err != nil {
		return nil, o.d.translate(err, what, nil)
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
	if err != nil {
		return nil, o.d.translate(err, what, nil)
	}
	return out, nil
}

// ListExpiredCredentials returns connection credentials of live organisations whose expiry is at
// or before the given time, soonest first.
func (o *ops) ListExpiredCredentials(ctx context.Context, at time.Time, limit int) ([]plugboard.CredentialRef, error) {
	if limit <= 0 {
		limit = 100
	}
	return o.credentialRefs(ctx, "list expired credentials", `SELECT cr.organisation_id, cc.connection_id, cr.id
		FROM credentials cr
		JOIN connection_credentials cc ON cc.organisation_id = cr.organisation_id AND cc.credential_id = cr.id
		JOIN organisations org ON org.organisation_id = cr.organisation_id AND org.deleted_at IS NULL
		WHERE cr.expires_at IS NOT NULL AND cr.expires_at <= ?
		ORDER BY cr.expires_at, cr.organisation_id, cr.id LIMIT ?`, timeValue(at), limit)
}

// DeleteExpiredCredential deletes one expired connection credential and records the gap, after
// locking the connection's row (so it is ordered with UpdateConnection, which locks it first too).
func (o *ops) DeleteExpiredCredential(ctx context.Context, ref plugboard.CredentialRef, now time.Time) (*plugboard.ExpiredCredential, error) {
	now = normTime(now)
	var out *plugboard.ExpiredCredential
	err := o.inTx(ctx, func(o *ops) error {
		org, cid := idValue(ref.OrganisationID), idValue(ref.ConnectionID)
		res, err := o.exec(ctx, "UPDATE connections SET updated_at = ? WHERE organisation_id = ? AND id = ?", timeValue(now), org, cid)
		if err != nil {
			return o.d.translate(err, "lock connection", nil)
		}
		if err := o.affected(res, "connection "+ref.ConnectionID.String()+" not found"); err != nil {
			return err
		}
		e := plugboard.ExpiredCredential{CredentialID: ref.CredentialID, DeletedAt: now}
		var expires *time.Time
		err = o.queryRow(ctx, `SELECT cc.id, cc.auth_scheme_config_id, cr.type, cr.name, cr.expires_at
			FROM connection_credentials cc
			JOIN credentials cr ON cr.organisation_id = cc.organisation_id AND cr.id = cc.credential_id
			WHERE cc.organisation_id = ? AND cc.connection_id = ? AND cc.credential_id = ?`, org, cid, idValue(ref.CredentialID)).
			Scan(idCol{&e.ConnectionCredentialID}, &e.AuthSchemeConfigID, &e.Type, &e.Name, nullTimeCol{&expires})
		if err != nil {
			return o.d.translate(err, "find expired credential", &onError{notFound: "credential " + ref.CredentialID.String() + " is not a credential of connection " + ref.ConnectionID.String()})
		}
		if expires == nil || expires.After(now) {
			return plugboard.Errorf(plugboard.EConflict, "credential %s no longer expires at or before %s", ref.CredentialID, now.Format(time.RFC3339))
		}
		e.ExpiresAt = *expires
		if _, err := o.exec(ctx, "DELETE FROM connection_credentials WHERE organisation_id = ? AND connection_id = ? AND credential_id = ?",
			org, cid, idValue(ref.CredentialID)); err != nil {
			return o.d.translate(err, "delete connection credential", nil)
		}
		if err := o.deleteCredentials(ctx, ref.OrganisationID, []ulid.ULID{ref.CredentialID}); err != nil {
			return err
		}
		_, err = o.exec(ctx, `INSERT INTO expired_credentials (organisation_id, connection_id, credential_id, connection_credential_id,
				auth_scheme_config_id, type, name, expires_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			org, cid, idValue(e.CredentialID), idValue(e.ConnectionCredentialID), e.AuthSchemeConfigID, e.Type, e.Name,
			timeValue(e.ExpiresAt), timeValue(e.DeletedAt))
		if err := o.d.translate(err, "record expired credential", nil); err != nil {
			return err
		}
		out = &e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListExpiringCredentials returns connection credentials of live organisations that expire after
// now and at or before before, and whose credential.expiring was not yet marked for that expiry.
func (o *ops) ListExpiringCredentials(ctx context.Context, now, before time.Time, limit int) ([]plugboard.CredentialRef, error) {
	if limit <= 0 {
		limit = 100
	}
	return o.credentialRefs(ctx, "list expiring credentials", `SELECT cr.organisation_id, cc.connection_id, cr.id
		FROM credentials cr
		JOIN connection_credentials cc ON cc.organisation_id = cr.organisation_id AND cc.credential_id = cr.id
		JOIN organisations org ON org.organisation_id = cr.organisation_id AND org.deleted_at IS NULL
		WHERE cr.expires_at IS NOT NULL AND cr.expires_at > ? AND cr.expires_at <= ?
			AND (cr.expiring_notified_for IS NULL OR cr.expiring_notified_for <> cr.expires_at)
		ORDER BY cr.expires_at, cr.organisation_id, cr.id LIMIT ?`, timeValue(now), timeValue(before), limit)
}

// MarkCredentialExpiring records, once per expiry time, that the credential's coming expiry was
// announced. The conditional UPDATE is what makes it once: of two markers, one matches.
func (o *ops) MarkCredentialExpiring(ctx context.Context, orgID, id ulid.ULID, now, before time.Time) (*time.Time, error) {
	var at time.Time
	err := o.queryRow(ctx, `UPDATE credentials SET expiring_notified_for = expires_at
		WHERE organisation_id = ? AND id = ? AND expires_at IS NOT NULL AND expires_at > ? AND expires_at <= ?
			AND (expiring_notified_for IS NULL OR expiring_notified_for <> expires_at)
		RETURNING expires_at`, idValue(orgID), idValue(id), timeValue(now), timeValue(before)).Scan(timeCol{&at})
	if err != nil {
		return nil, o.d.translate(err, "mark credential expiring", &onError{notFound: "credential " + id.String() + " is not expiring unannounced"})
	}
	return &at, nil
}
