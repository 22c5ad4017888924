package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

// apiKeyCols are the columns scanAPIKey reads, in its order.
const apiKeyCols = "organisation_id, id, name, hash, scopes, created_at, expires_at, last_used_at"

// scanAPIKey reads one row of apiKeyCols from a *sql.Row or *sql.Rows.
func scanAPIKey(r interface{ Scan(...any) error }) (*plugboard.APIKey, error) {
	k := &plugboard.APIKey{}
	err := r.Scan(idCol{&k.OrganisationID}, idCol{&k.ID}, &k.Name, bytesCol{&k.Hash}, stringsCol{&k.Scopes},
		timeCol{&k.CreatedAt}, nullTimeCol{&k.ExpiresAt}, nullTimeCol{&k.LastUsedAt})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// ListAPIKeys returns a page of the organisation's API keys, expired ones included, ordered by id.
func (o *ops) ListAPIKeys(ctx context.Context, orgID ulid.ULID, req plugboard.PageRequest) (*plugboard.Page[plugboard.APIKey], error) {
	spec := listSpec{cols: apiKeyCols, table: "api_keys", where: "organisation_id = ?", args: []any{idValue(orgID)}}
	var page *plugboard.Page[plugboard.APIKey]
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		page, err = listPage(ctx, o, spec, req,
			func(r *sql.Rows) (plugboard.APIKey, error) {
				k, err := scanAPIKey(r)
				if err != nil {
					return plugboard.APIKey{}, err
				}
				return *k, nil
			},
			func(k *plugboard.APIKey) ulid.ULID { return k.ID })
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// DeleteAPIKey removes the key; ENotFound if it does not exist.
func (o *ops) DeleteAPIKey(ctx context.Context, orgID, id ulid.ULID) error {
	res, err := o.exec(ctx, "DELETE FROM api_keys WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
	if err != nil {
		return o.d.translate(err, "delete API key", nil)
	}
	return o.affected(res, "API key "+id.String()+" not found")
}

// TouchAPIKey sets the key's LastUsedAt to at unless it holds a later time already; a missing key
// is no error. One statement, so that concurrent touches from several processes keep the latest.
func (o *ops) TouchAPIKey(ctx context.Context, orgID, id ulid.ULID, at time.Time) error {
	v := timeValue(at)
	_, err := o.exec(ctx, `UPDATE api_keys SET last_used_at = ?
		WHERE organisation_id = ? AND id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		v, idValue(orgID), idValue(id), v)
	return o.d.translate(err, "record API key use", nil)
}
