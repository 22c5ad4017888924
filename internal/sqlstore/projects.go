package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

const projectCols = "organisation_id, id, name, created_at, updated_at"

const environmentCols = "organisation_id, id, project_id, name, created_at, updated_at"

// CreateProject inserts p with its environments; EConflict if two environments share a name.
// Environments with a zero OrganisationID or ProjectID take p's.
func (o *ops) CreateProject(ctx context.Context, p *plugboard.Project) error {
	if err := requireID(p.ID, "project"); err != nil {
		return err
	}
	stamp(&p.CreatedAt, &p.UpdatedAt)
	for i := range p.Environments {
		e := &p.Environments[i]
		if err := requireID(e.ID, "environment"); err != nil {
			return err
		}
		if err := own(&e.OrganisationID, p.OrganisationID, "environment", "organisation"); err != nil {
			return err
		}
		if err := own(&e.ProjectID, p.ID, "environment", "project"); err != nil {
			return err
		}
		stamp(&e.CreatedAt, &e.UpdatedAt)
	}
	return o.inTx(ctx, func(o *ops) error {
		_, err := o.exec(ctx, "INSERT INTO projects ("+projectCols+") VALUES (?, ?, ?, ?, ?)",
			idValue(p.OrganisationID), idValue(p.ID), p.Name, timeValue(p.CreatedAt), timeValue(p.UpdatedAt))
		if err := o.d.translate(err, "insert project", &onError{
			conflict: "project " + p.ID.String() + " already exists",
			fkCode:   plugboard.ENotFound, fkMsg: "organisation " + p.OrganisationID.String() + " not found",
		}); err != nil {
			return err
		}
		for _, e := range p.Environments {
			_, err := o.exec(ctx, "INSERT INTO environments ("+environmentCols+") VALUES (?, ?, ?, ?, ?, ?)",
				idValue(e.OrganisationID), idValue(e.ID), idValue(e.ProjectID), e.Name,
				timeValue(e.CreatedAt), timeValue(e.UpdatedAt))
			if err := o.d.translate(err, "insert environment", &onError{
				conflict: fmt.Sprintf("environment %q already exists in project %s", e.Name, p.ID),
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// own fills a child's parent id from the parent when it is zero, and refuses a different one: a
// child record stored under another parent than the one it names would be a tenancy bug.
func own(child *ulid.ULID, parent ulid.ULID, what, of string) error {
	switch *child {
	case parent:
	case ulid.ULID{}:
		*child = parent
	default:
		return plugboard.Errorf(plugboard.EInvalid, "%s names another %s than its parent", what, of)
	}
	return nil
}

func scanProject(r interface{ Scan(...any) error }) (plugboard.Project, error) {
	var p plugboard.Project
	err := r.Scan(idCol{&p.OrganisationID}, idCol{&p.ID}, &p.Name, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt})
	return p, err
}

// GetProject returns the project with its environments (ordered by id), or ENotFound.
func (o *ops) GetProject(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Project, error) {
	var p plugboard.Project
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		p, err = scanProject(o.queryRow(ctx, "SELECT "+projectCols+" FROM projects WHERE organisation_id = ? AND id = ?",
			idValue(orgID), idValue(id)))
		if err != nil {
			return o.d.translate(err, "get project", &onError{notFound: "project " + id.String() + " not found"})
		}
		return o.loadEnvironments(ctx, orgID, []*plugboard.Project{&p}, "project_id = ?", idValue(id))
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// loadEnvironments fills in the environments of projects from those matching cond, in one query.
func (o *ops) loadEnvironments(ctx context.Context, orgID ulid.ULID, projects []*plugboard.Project, cond string, args ...any) error {
	byID := make(map[ulid.ULID]*plugboard.Project, len(projects))
	for _, p := range projects {
		byID[p.ID] = p
	}
	q := "SELECT " + environmentCols + " FROM environments WHERE organisation_id = ?"
	if cond != "" {
		q += " AND " + cond
	}
	rows, err := o.query(ctx, q+" ORDER BY id", append([]any{idValue(orgID)}, args...)...)
	if err != nil {
		return o.d.translate(err, "list environments", nil)
	}
	err = scanRows(rows, func(r *sql.Rows) error {
		var e plugboard.Environment
		if err := r.Scan(idCol{&e.OrganisationID}, idCol{&e.ID}, idCol{&e.ProjectID}, &e.Name,
			timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt}); err != nil {
			return err
		}
		if p := byID[e.ProjectID]; p != nil {
			p.Environments = append(p.Environments, e)
		}
		return nil
	})
	return o.d.translate(err, "list environments", nil)
}

// ListProjects returns all the organisation's projects with their environments, ordered by id.
func (o *ops) ListProjects(ctx context.Context, orgID ulid.ULID) ([]plugboard.Project, error) {
	var projects []plugboard.Project
	err := o.inReadTx(ctx, func(o *ops) error {
		projects = nil // a retried read starts again
		rows, err := o.query(ctx, "SELECT "+projectCols+" FROM projects WHERE organisation_id = ? ORDER BY id", idValue(orgID))
		if err != nil {
			return o.d.translate(err, "list projects", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			p, err := scanProject(r)
			projects = append(projects, p)
			return err
		})
		if err != nil {
			return o.d.translate(err, "list projects", nil)
		}
		ptrs := make([]*plugboard.Project, len(projects))
		for i := range projects {
			ptrs[i] = &projects[i]
		}
		return o.loadEnvironments(ctx, orgID, ptrs, "")
	})
	if err != nil {
		return nil, err
	}
	return projects, nil
}

// UpdateProject writes p's name and UpdatedAt; ENotFound if it does not exist.
func (o *ops) UpdateProject(ctx context.Context, p *plugboard.Project) error {
	touch(&p.UpdatedAt)
	res, err := o.exec(ctx, "UPDATE projects SET name = ?, updated_at = ? WHERE organisation_id = ? AND id = ?",
		p.Name, timeValue(p.UpdatedAt), idValue(p.OrganisationID), idValue(p.ID))
	if err != nil {
		return o.d.translate(err, "update project", nil)
	}
	return o.affected(res, "project "+p.ID.String()+" not found")
}

// DeleteProject removes the project, its environments with their activations, its templates and
// their links, unless connections were created under its templates.
func (o *ops) DeleteProject(ctx context.Context, orgID, id ulid.ULID) (*plugboard.DeletedProject, error) {
	var out plugboard.DeletedProject
	err := o.inTx(ctx, func(o *ops) error {
		org, pid := idValue(orgID), idValue(id)
		// The project's row is locked first: a template being created in it (which holds a key
		// share lock on the row) commits before, and is read below, or waits and then fails.
		ok, err := o.exists(ctx, "SELECT 1 FROM projects WHERE organisation_id = ? AND id = ?"+o.d.forUpdate, org, pid)
		if err != nil {
			return err
		}
		if !ok {
			return plugboard.Errorf(plugboard.ENotFound, "project %s not found", id)
		}
		used, err := o.exists(ctx, `SELECT 1 FROM connections c
			JOIN connection_templates t ON t.organisation_id = c.organisation_id AND t.id = c.template_id
			WHERE c.organisation_id = ? AND t.project_id = ?`, org, pid)
		if err != nil {
			return err
		}
		if used {
			return plugboard.Errorf(plugboard.EConflict, "project %s has connections under its templates; delete them first", id)
		}
		inProject := "environment_id IN (SELECT id FROM environments WHERE organisation_id = ? AND project_id = ?)"
		acts, err := o.query(ctx, "SELECT "+activationCols+" FROM activations WHERE organisation_id = ? AND "+inProject+" ORDER BY id"+o.d.forUpdate, org, org, pid)
		if err != nil {
			return o.d.translate(err, "list project activations", nil)
		}
		err = scanRows(acts, func(r *sql.Rows) error {
			a, err := scanActivation(r)
			out.Activations = append(out.Activations, a)
			return err
		})
		if err != nil {
			return o.d.translate(err, "list project activations", nil)
		}
		if _, err := o.exec(ctx, "DELETE FROM activations WHERE organisation_id = ? AND "+inProject, org, org, pid); err != nil {
			return o.d.translate(err, "delete project activations", nil)
		}
		if _, err := o.exec(ctx, "DELETE FROM connect_sessions WHERE organisation_id = ? AND "+inProject, org, org, pid); err != nil {
			return o.d.translate(err, "delete project connect sessions", nil)
		}
		rows, err := o.query(ctx, "SELECT "+templateCols+" FROM connection_templates WHERE organisation_id = ? AND project_id = ? ORDER BY id", org, pid)
		if err != nil {
			return o.d.translate(err, "list project templates", nil)
		}
		var templates []plugboard.ConnectionTemplate
		err = scanRows(rows, func(r *sql.Rows) error {
			t, err := scanTemplate(r)
			templates = append(templates, t)
			return err
		})
		if err != nil {
			return o.d.translate(err, "list project templates", nil)
		}
		if out.Templates, err = o.deleteTemplates(ctx, orgID, templates); err != nil {
			return err
		}
		for _, step := range []struct {
			what, q string
			args    []any
		}{
			{"environments", "DELETE FROM environments WHERE organisation_id = ? AND project_id = ?", []any{org, pid}},
			{"project", "DELETE FROM projects WHERE organisation_id = ? AND id = ?", []any{org, pid}},
		} {
			if _, err := o.exec(ctx, step.q, step.args...); err != nil {
				return o.d.translate(err, "delete project "+step.what, &onError{
					fkCode: plugboard.EConflict, fkMsg: "project " + id.String() + " is still in use",
				})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// requireProject returns ENotFound unless the project exists in the organisation.
func (o *ops) requireProject(ctx context.Context, orgID, id ulid.ULID) error {
	ok, err := o.exists(ctx, "SELECT 1 FROM projects WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
	if err == nil && !ok {
		err = plugboard.Errorf(plugboard.ENotFound, "project %s not found", id)
	}
	return err
}
