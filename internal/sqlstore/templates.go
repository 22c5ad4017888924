package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

const templateCols = `organisation_id, id, project_id, environment_id, system_id, name, dynamic,
	auth_scheme_config_ids, allow_base_url_override, created_at, updated_at`

func scanTemplate(r interface{ Scan(...any) error }) (plugboard.ConnectionTemplate, error) {
	var t plugboard.ConnectionTemplate
	err := r.Scan(idCol{&t.OrganisationID}, idCol{&t.ID}, idCol{&t.ProjectID}, idCol{&t.EnvironmentID},
		idCol{&t.SystemID}, &t.Name, &t.Dynamic, stringsCol{&t.AuthSchemeConfigIDs},
		&t.AllowBaseURLOverride, timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt})
	return t, err
}

// CreateTemplate inserts t after checking that its project, environment (of that project) and
// system exist, so that the ENotFound names the missing one.
func (o *ops) CreateTemplate(ctx context.Context, t *plugboard.ConnectionTemplate) error {
	if err := requireID(t.ID, "connection template"); err != nil {
		return err
	}
	stamp(&t.CreatedAt, &t.UpdatedAt)
	return o.inTx(ctx, func(o *ops) error {
		org := idValue(t.OrganisationID)
		if err := o.requireProject(ctx, t.OrganisationID, t.ProjectID); err != nil {
			return err
		}
		ok, err := o.exists(ctx, "SELECT 1 FROM environments WHERE organisation_id = ? AND project_id = ? AND id = ?",
			org, idValue(t.ProjectID), idValue(t.EnvironmentID))
		if err != nil {
			return err
		}
		if !ok {
			return plugboard.Errorf(plugboard.ENotFound, "environment %s not found in project %s", t.EnvironmentID, t.ProjectID)
		}
		if err := o.requireSystem(ctx, t.OrganisationID, t.SystemID); err != nil {
			return err
		}
		_, err = o.exec(ctx, "INSERT INTO connection_templates ("+templateCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			org, idValue(t.ID), idValue(t.ProjectID), idValue(t.EnvironmentID), idValue(t.SystemID), t.Name,
			t.Dynamic, jsonValue(t.AuthSchemeConfigIDs, "[]"), t.AllowBaseURLOverride, timeValue(t.CreatedAt), timeValue(t.UpdatedAt))
		return o.d.translate(err, "insert connection template", &onError{
			conflict: fmt.Sprintf("connection template %q already exists in this environment", t.Name),
			fkCode:   plugboard.ENotFound, fkMsg: "the template's project, environment or system was not found",
		})
	})
}

// GetTemplate returns the template or ENotFound.
func (o *ops) GetTemplate(ctx context.Context, orgID, id ulid.ULID) (*plugboard.ConnectionTemplate, error) {
	return o.getTemplate(ctx, orgID, id, "")
}

// getTemplate reads a template, with lock (a dialect's forShare, or "") after the SELECT.
func (o *ops) getTemplate(ctx context.Context, orgID, id ulid.ULID, lock string) (*plugboard.ConnectionTemplate, error) {
	t, err := scanTemplate(o.queryRow(ctx, "SELECT "+templateCols+" FROM connection_templates WHERE organisation_id = ? AND id = ?"+lock,
		idValue(orgID), idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "get connection template", &onError{notFound: "connection template " + id.String() + " not found"})
	}
	return &t, nil
}

// ShareTemplate returns the template and holds its row until the transaction ends, as
// ShareConnectSession does the session's: UpdateTemplate and DeleteTemplate wait for this commit.
func (o *ops) ShareTemplate(ctx context.Context, orgID, id ulid.ULID) (*plugboard.ConnectionTemplate, error) {
	if o.tx == nil {
		return nil, plugboard.Internal(fmt.Errorf("ShareTemplate needs a transaction"))
	}
	return o.getTemplate(ctx, orgID, id, o.d.forShare)
}

// ListTemplates returns the project's templates ordered by id, only envID's unless it is zero.
func (o *ops) ListTemplates(ctx context.Context, orgID, projectID, envID ulid.ULID) ([]plugboard.ConnectionTemplate, error) {
	var list []plugboard.ConnectionTemplate
	err := o.inReadTx(ctx, func(o *ops) error {
		list = nil // a retried read starts again
		if err := o.requireProject(ctx, orgID, projectID); err != nil {
			return err
		}
		q := "SELECT " + templateCols + " FROM connection_templates WHERE organisation_id = ? AND project_id = ?"
		args := []any{idValue(orgID), idValue(projectID)}
		if envID != (ulid.ULID{}) {
			q += " AND environment_id = ?"
			args = append(args, idValue(envID))
		}
		rows, err := o.query(ctx, q+" ORDER BY id", args...)
		if err != nil {
			return o.d.translate(err, "list connection templates", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			t, err := scanTemplate(r)
			list = append(list, t)
			return err
		})
		return o.d.translate(err, "list connection templates", nil)
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// UpdateTemplate writes t's name, dynamic flag, AuthSchemeConfigIDs, AllowBaseURLOverride and UpdatedAt.
func (o *ops) UpdateTemplate(ctx context.Context, t *plugboard.ConnectionTemplate) error {
	touch(&t.UpdatedAt)
	res, err := o.exec(ctx, `UPDATE connection_templates SET name = ?, dynamic = ?, auth_scheme_config_ids = ?, allow_base_url_override = ?, updated_at = ?
		WHERE organisation_id = ? AND id = ?`,
		t.Name, t.Dynamic, jsonValue(t.AuthSchemeConfigIDs, "[]"), t.AllowBaseURLOverride, timeValue(t.UpdatedAt),
		idValue(t.OrganisationID), idValue(t.ID))
	if err != nil {
		return o.d.translate(err, "update connection template", &onError{
			conflict: fmt.Sprintf("connection template %q already exists in this environment", t.Name),
		})
	}
	return o.affected(res, "connection template "+t.ID.String()+" not found")
}

// DeleteTemplate removes the template and the links to it, unless connections were created under it.
func (o *ops) DeleteTemplate(ctx context.Context, orgID, projectID, id ulid.ULID) (*plugboard.DeletedTemplate, error) {
	var out *plugboard.DeletedTemplate
	err := o.inTx(ctx, func(o *ops) error {
		org, tid := idValue(orgID), idValue(id)
		// Locked, so no link to it is added or removed between the read below and the delete.
		t, err := scanTemplate(o.queryRow(ctx, "SELECT "+templateCols+" FROM connection_templates WHERE organisation_id = ? AND project_id = ? AND id = ?"+o.d.forUpdate,
			org, idValue(projectID), tid))
		if err != nil {
			return o.d.translate(err, "get connection template", &onError{
				notFound: fmt.Sprintf("connection template %s not found in project %s", id, projectID)})
		}
		used, err := o.exists(ctx, "SELECT 1 FROM connections WHERE organisation_id = ? AND template_id = ?", org, tid)
		if err != nil {
			return err
		}
		if used {
			return plugboard.Errorf(plugboard.EConflict, "connection template %s has connections created under it; delete them first", id)
		}
		deleted, err := o.deleteTemplates(ctx, orgID, []plugboard.ConnectionTemplate{t})
		if err != nil {
			return err
		}
		out = &deleted[0]
		return nil
	})
	return out, err
}

// deleteTemplates removes templates with their links to connections, and returns them with the
// connections they unlinked.
func (o *ops) deleteTemplates(ctx context.Context, orgID ulid.ULID, templates []plugboard.ConnectionTemplate) ([]plugboard.DeletedTemplate, error) {
	org := idValue(orgID)
	out := make([]plugboard.DeletedTemplate, len(templates))
	for i, t := range templates {
		out[i].ConnectionTemplate = t
		rows, err := o.query(ctx, "SELECT connection_id FROM connection_links WHERE organisation_id = ? AND template_id = ? ORDER BY connection_id",
			org, idValue(t.ID))
		if err != nil {
			return nil, o.d.translate(err, "list template links", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			var id ulid.ULID
			if err := r.Scan(idCol{&id}); err != nil {
				return err
			}
			out[i].UnlinkedConnectionIDs = append(out[i].UnlinkedConnectionIDs, id)
			return nil
		})
		if err != nil {
			return nil, o.d.translate(err, "list template links", nil)
		}
		if _, err := o.exec(ctx, "DELETE FROM connection_links WHERE organisation_id = ? AND template_id = ?", org, idValue(t.ID)); err != nil {
			return nil, o.d.translate(err, "delete template links", nil)
		}
		_, err = o.exec(ctx, "DELETE FROM connection_templates WHERE organisation_id = ? AND id = ?", org, idValue(t.ID))
		if err != nil {
			return nil, o.d.translate(err, "delete connection template", &onError{
				fkCode: plugboard.EConflict, fkMsg: "connection template " + t.ID.String() + " is still in use",
			})
		}
	}
	return out, nil
}
