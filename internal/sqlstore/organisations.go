package sqlstore

import (
	"context"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

// CreateOrganisation inserts o; EConflict if its id is taken.
func (o *ops) CreateOrganisation(ctx context.Context, org *plugboard.Organisation) error {
	if err := requireID(org.ID, "organisation"); err != nil {
		return err
	}
	stamp(&org.CreatedAt, nil)
	_, err := o.exec(ctx, "INSERT INTO organisations (organisation_id, name, created_at) VALUES (?, ?, ?)",
		idValue(org.ID), org.Name, timeValue(org.CreatedAt))
	return o.d.translate(err, "insert organisation", &onError{
		conflict: "organisation " + org.ID.String() + " already exists",
	})
}

// GetOrganisation returns the organisation or ENotFound.
func (o *ops) GetOrganisation(ctx context.Context, id ulid.ULID) (*plugboard.Organisation, error) {
	org := &plugboard.Organisation{}
	err := o.queryRow(ctx, "SELECT organisation_id, name, created_at FROM organisations WHERE organisation_id = ?",
		idValue(id)).Scan(idCol{&org.ID}, &org.Name, timeCol{&org.CreatedAt})
	if err != nil {
		return nil, o.d.translate(err, "get organisation", &onError{notFound: "organisation " + id.String() + " not found"})
	}
	return org, nil
}

// CountOrganisations returns how many organisations exist.
func (o *ops) CountOrganisations(ctx context.Context) (int, error) {
	var n int
	if err := o.queryRow(ctx, "SELECT COUNT(*) FROM organisations").Scan(&n); err != nil {
		return 0, o.d.translate(err, "count organisations", nil)
	}
	return n, nil
}

// CreateAPIKey inserts k; ENotFound if its organisation does not exist.
func (o *ops) CreateAPIKey(ctx context.Context, k *plugboard.APIKey) error {
	if err := requireID(k.ID, "API key"); err != nil {
		return err
	}
	stamp(&k.CreatedAt, nil)
	_, err := o.exec(ctx, `INSERT INTO api_keys (organisation_id, id, name, hash, scopes, created_at, expires_at, last_used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		idValue(k.OrganisationID), idValue(k.ID), k.Name, bytesValue(k.Hash), jsonValue(k.Scopes, "[]"),
		timeValue(k.CreatedAt), nullTimeValue(k.ExpiresAt), nullTimeValue(k.LastUsedAt))
	return o.d.translate(err, "insert API key", &onError{
		conflict: "API key " + k.ID.String() + " already exists",
		fkCode:   plugboard.ENotFound, fkMsg: "organisation " + k.OrganisationID.String() + " not found",
	})
}

// GetAPIKey returns the key or ENotFound.
func (o *ops) GetAPIKey(ctx context.Context, orgID, id ulid.ULID) (*plugboard.APIKey, error) {
	k, err := scanAPIKey(o.queryRow(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE organisation_id = ? AND id = ?",
		idValue(orgID), idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "get API key", &onError{notFound: "API key " + id.String() + " not found"})
	}
	return k, nil
}
