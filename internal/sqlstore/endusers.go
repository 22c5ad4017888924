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

// ListEndUsers returns a page of end users whose id, external id or display name contains search.
func (o *ops) ListEndUsers(ctx context.Context, orgID ulid.ULID, search string, req plugboard.PageRequest) (*plugboard.Page[plugboard.EndUser], error) {
	spec := listSpec{cols: endUserCols, table: "end_users", where: "organisation_id = ?", args: []any{idValue(orgID)}}
	if search != "" {
		p := likePattern(search)
		spec.where += ` AND (LOWER(id) LIKE ? ESCAPE '\' OR LOWER(external_id) LIKE ? ESCAPE '\' OR LOWER(display_name) LIKE ? ESCAPE '\')`
		spec.args = append(spec.args, p, p, p)
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

// DeleteEndUser removes the end user with its connections, their credentials and links.
func (o *ops) DeleteEndUser(ctx context.Context, orgID, id ulid.ULID) ([]plugboard.DeletedConnection, error) {
	var out []plugboard.DeletedConnection
	err := o.inTx(ctx, func(o *ops) error {
		// The end user's row goes first: on PostgreSQL that waits for any transaction creating a
		// connection for it (which holds a share lock on the row), and the connection delete that
		// follows then sees that connection. See CreateConnection.
		res, err := o.exec(ctx, "DELETE FROM end_users WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
		if err != nil {
			return o.d.translate(err, "delete end user", nil)
		}
		if err := o.affected(res, "end user "+id.String()+" not found"); err != nil {
			return err
		}
		out, err = o.deleteConnections(ctx, orgID, "end_user_id = ?", idValue(id))
		return err
	})
	return out, err
}
