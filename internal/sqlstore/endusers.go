package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

const endUserCols = "organisation_id, id, external_id, display_name, created_at, updated_at"

func scanEndUser(r interface{ Scan(...any) error }) (plugboard.EndUser, error) {
	var u plugboard.EndUser
	err := r.Scan(idCol{&u.OrganisationID}, idCol{&u.ID}, &u.ExternalID, &u.DisplayName,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	return u, err
}

// CreateEndUser inserts u; EConflict if its ExternalID is taken in the organisation.
func (o *ops) CreateEndUser(ctx context.Context, u *plugboard.EndUser) error {
	if err := requireID(u.ID, "end user"); err != nil {
		return err
	}
	stamp(&u.CreatedAt, &u.UpdatedAt)
	_, err := o.exec(ctx, "INSERT INTO end_users ("+endUserCols+") VALUES (?, ?, ?, ?, ?, ?)",
		idValue(u.OrganisationID), idValue(u.ID), u.ExternalID, u.DisplayName, timeValue(u.CreatedAt), timeValue(u.UpdatedAt))
	return o.d.translate(err, "insert end user", &onError{
		conflict: fmt.Sprintf("end user with external id %q already exists", u.ExternalID),
		fkCode:   plugboard.ENotFound, fkMsg: "organisation " + u.OrganisationID.String() + " not found",
	})
}

// GetEndUser returns the end user or ENotFound.
func (o *ops) GetEndUser(ctx context.Context, orgID, id ulid.ULID) (*plugboard.EndUser, error) {
	u, err := scanEndUser(o.queryRow(ctx, "SELECT "+endUserCols+" FROM end_users WHERE organisation_id = ? AND id = ?",
		idValue(orgID), idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "get end user", &onError{notFound: "end user " + id.String() + " not found"})
	}
	return &u, nil
}

// GetEndUserByExternalID returns the end user or ENotFound.
func (o *ops) GetEndUserByExternalID(ctx context.Context, orgID ulid.ULID, externalID string) (*plugboard.EndUser, error) {
	u, err := scanEndUser(o.queryRow(ctx, "SELECT "+endUserCols+" FROM end_users WHERE organisation_id = ? AND external_id = ?",
		idValue(orgID), externalID))
	if err != nil {
		return nil, o.d.translate(err, "get end user by external id", &onError{
			notFound: fmt.Sprintf("end user with external id %q not found", externalID),
		})
	}
	return &u, nil
}

// ListEndUsers returns a page of the end users matching f.
func (o *ops) ListEndUsers(ctx context.Context, orgID ulid.ULID, f plugboard.EndUserFilter, req plugboard.PageRequest) (*plugboard.Page[plugboard.EndUser], error) {
	spec := listSpec{cols: endUserCols, table: "end_users", where: "organisation_id = ?", args: []any{idValue(orgID)}}
	if f.Search != "" {
		p := likePattern(f.Search)
		spec.where += ` AND (LOWER(id) LIKE ? ESCAPE '\' OR LOWER(external_id) LIKE ? ESCAPE '\' OR LOWER(display_name) LIKE ? ESCAPE '\')`
		spec.args = append(spec.args, p, p, p)
	}
	if f.Activated != nil {
		sub := "EXISTS (SELECT 1 FROM activations a WHERE a.organisation_id = end_users.organisation_id AND a.end_user_id = end_users.id"
		if f.EnvironmentID != (ulid.ULID{}) {
			sub += " AND a.environment_id = ?"
			spec.args = append(spec.args, idValue(f.EnvironmentID))
		}
		sub += ")"
		if !*f.Activated {
			sub = "NOT " + sub
		}
		spec.where += " AND " + sub
	}
	var page *plugboard.Page[plugboard.EndUser]
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		page, err = listPage(ctx, o, spec, req,
			func(r *sql.Rows) (plugboard.EndUser, error) { return scanEndUser(r) },
			func(u *plugboard.EndUser) ulid.ULID { return u.ID })
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// DeleteEndUser removes the end user with its activations, connections, their credentials and links.
func (o *ops) DeleteEndUser(ctx context.Context, orgID, id ulid.ULID) (*plugboard.DeletedEndUser, error) {
	var out plugboard.DeletedEndUser
	err := o.inTx(ctx, func(o *ops) error {
		// The end user's row is locked first: on PostgreSQL that waits for any transaction creating
		// a connection, an activation or a connect session for it (which holds a share lock on the
		// row), and the deletes that follow then see what it created. See CreateConnection.
		ok, err := o.exists(ctx, "SELECT 1 FROM end_users WHERE organisation_id = ? AND id = ?"+o.d.forUpdate, idValue(orgID), idValue(id))
		if err != nil {
			return err
		}
		if !ok {
			return plugboard.Errorf(plugboard.ENotFound, "end user %s not found", id)
		}
		if out.Activations, err = o.activations(ctx, orgID, plugboard.ActivationFilter{EndUserID: id}); err != nil {
			return err
		}
		if _, err := o.exec(ctx, "DELETE FROM activations WHERE organisation_id = ? AND end_user_id = ?", idValue(orgID), idValue(id)); err != nil {
			return o.d.translate(err, "delete activations", nil)
		}
		if _, err := o.exec(ctx, "DELETE FROM connect_sessions WHERE organisation_id = ? AND end_user_id = ?", idValue(orgID), idValue(id)); err != nil {
			return o.d.translate(err, "delete connect sessions", nil)
		}
		if out.Connections, err = o.deleteConnections(ctx, orgID, "end_user_id = ?", idValue(id)); err != nil {
			return err
		}
		_, err = o.exec(ctx, "DELETE FROM end_users WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
		return o.d.translate(err, "delete end user", nil)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
