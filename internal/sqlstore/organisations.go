package sqlstore

import (
	"context"
	"database/sql"
	"time"

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
	err := o.queryRow(ctx, "SELECT organisation_id, name, created_at, deleted_at FROM organisations WHERE organisation_id = ?",
		idValue(id)).Scan(idCol{&org.ID}, &org.Name, timeCol{&org.CreatedAt}, nullTimeCol{&org.DeletedAt})
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

// ListOrganisations returns every organisation, deleted ones included, by id.
func (o *ops) ListOrganisations(ctx context.Context) ([]plugboard.Organisation, error) {
	rows, err := o.query(ctx, "SELECT organisation_id, name, created_at, deleted_at FROM organisations ORDER BY organisation_id")
	if err != nil {
		return nil, o.d.translate(err, "list organisations", nil)
	}
	var out []plugboard.Organisation
	err = scanRows(rows, func(r *sql.Rows) error {
		var org plugboard.Organisation
		if err := r.Scan(idCol{&org.ID}, &org.Name, timeCol{&org.CreatedAt}, nullTimeCol{&org.DeletedAt}); err != nil {
			return err
		}
		out = append(out, org)
		return nil
	})
	return out, o.d.translate(err, "list organisations", nil)
}

// DeleteOrganisation marks the organisation deleted; see plugboard.Store.
func (o *ops) DeleteOrganisation(ctx context.Context, id ulid.ULID, at time.Time) error {
	return o.inTx(ctx, func(o *ops) error {
		org, err := o.GetOrganisation(ctx, id)
		if err != nil {
			return err
		}
		if org.DeletedAt != nil {
			return plugboard.Errorf(plugboard.EConflict, "organisation %s was deleted already, at %s", id, org.DeletedAt.Format(time.RFC3339))
		}
		_, err = o.exec(ctx, "UPDATE organisations SET deleted_at = ? WHERE organisation_id = ? AND deleted_at IS NULL",
			timeValue(at), idValue(id))
		return o.d.translate(err, "delete organisation", nil)
	})
}

// purgeOrder lists every table that holds an organisation's rows, children before the parents
// their foreign keys name; PurgeOrganisation deletes from each in this order. A test checks that
// every table with an organisation_id column is listed, so a new table cannot outlive a purge.
var purgeOrder = []string{
	"events",
	"webhook_attempts",
	"webhook_deliveries",
	"webhook_endpoints",
	"connection_links",
	"connection_credentials",
	"expired_credentials",
	"connections",
	"credentials",
	"activations",
	"connect_sessions",
	"connection_templates",
	"environments",
	"projects",
	"auth_scheme_configs",
	"systems",
	"end_users",
	"oauth_states",
	"api_keys",
	"organisations",
}

// PurgeOrganisation removes a deleted organisation and all its rows, in one transaction.
func (o *ops) PurgeOrganisation(ctx context.Context, id ulid.ULID) error {
	return o.inTx(ctx, func(o *ops) error {
		org, err := o.GetOrganisation(ctx, id)
		if err != nil {
			return err
		}
		if org.DeletedAt == nil {
			return plugboard.Errorf(plugboard.EConflict, "organisation %s is not deleted; only deleted organisations are purged", id)
		}
		for _, table := range purgeOrder {
			if _, err := o.exec(ctx, "DELETE FROM "+table+" WHERE organisation_id = ?", idValue(id)); err != nil {
				return o.d.translate(err, "purge organisation: "+table, nil)
			}
		}
		return nil
	})
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
