package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

const activationCols = "organisation_id, id, environment_id, end_user_id, dynamic_variables, created_at, updated_at"

func scanActivation(r interface{ Scan(...any) error }) (plugboard.Activation, error) {
	var a plugboard.Activation
	err := r.Scan(idCol{&a.OrganisationID}, idCol{&a.ID}, idCol{&a.EnvironmentID}, idCol{&a.EndUserID},
		rawCol{&a.DynamicVariables}, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	return a, err
}

// prefixed qualifies each column of a column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = alias + "." + p
	}
	return strings.Join(parts, ", ")
}

// activationConnections is the condition, on connections c, that c is a connection of activation a:
// the end user's, linked to a template of a's environment.
const activationConnections = `c.organisation_id = a.organisation_id AND c.end_user_id = a.end_user_id AND EXISTS (
	SELECT 1 FROM connection_links l
	JOIN connection_templates t ON t.organisation_id = l.organisation_id AND t.id = l.template_id
	WHERE l.organisation_id = c.organisation_id AND l.connection_id = c.id AND t.environment_id = a.environment_id)`

// GetEnvironment returns the environment or ENotFound.
func (o *ops) GetEnvironment(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Environment, error) {
	var e plugboard.Environment
	err := o.queryRow(ctx, "SELECT "+environmentCols+" FROM environments WHERE organisation_id = ? AND id = ?",
		idValue(orgID), idValue(id)).Scan(idCol{&e.OrganisationID}, idCol{&e.ID}, idCol{&e.ProjectID}, &e.Name,
		timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt})
	if err != nil {
		return nil, o.d.translate(err, "get environment", &onError{notFound: "environment " + id.String() + " not found"})
	}
	return &e, nil
}

// EnsureActivation inserts a unless its end user is activated in its environment already, and
// otherwise reads the existing activation into a. The insert does nothing on a conflict (on
// PostgreSQL it waits for a concurrent insert of the same pair to commit), so concurrent calls
// create one activation.
func (o *ops) EnsureActivation(ctx context.Context, a *plugboard.Activation) (bool, error) {
	if err := requireID(a.ID, "activation"); err != nil {
		return false, err
	}
	vars, err := rawValue(a.DynamicVariables, "dynamic variables")
	if err != nil {
		return false, err
	}
	stamp(&a.CreatedAt, &a.UpdatedAt)
	created := false
	err = o.inTx(ctx, func(o *ops) error {
		org := idValue(a.OrganisationID)
		res, err := o.exec(ctx, "INSERT INTO activations ("+activationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (organisation_id, environment_id, end_user_id) DO NOTHING`,
			org, idValue(a.ID), idValue(a.EnvironmentID), idValue(a.EndUserID), vars, timeValue(a.CreatedAt), timeValue(a.UpdatedAt))
		if err := o.d.translate(err, "insert activation", &onError{
			fkCode: plugboard.ENotFound, fkMsg: "the activation's environment or end user was not found",
		}); err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return o.d.translate(err, "insert activation", nil)
		}
		if n == 1 {
			created = true
			return nil
		}
		if vars != nil {
			if _, err := o.exec(ctx, `UPDATE activations SET dynamic_variables = ?, updated_at = ?
				WHERE organisation_id = ? AND environment_id = ? AND end_user_id = ?`,
				vars, timeValue(a.UpdatedAt), org, idValue(a.EnvironmentID), idValue(a.EndUserID)); err != nil {
				return o.d.translate(err, "update activation", nil)
			}
		}
		got, err := scanActivation(o.queryRow(ctx, "SELECT "+activationCols+` FROM activations
			WHERE organisation_id = ? AND environment_id = ? AND end_user_id = ?`,
			org, idValue(a.EnvironmentID), idValue(a.EndUserID)))
		if err != nil {
			return o.d.translate(err, "get activation", nil)
		}
		*a = got
		return nil
	})
	return created, err
}

// GetActivation returns the activation with its connections, or ENotFound.
func (o *ops) GetActivation(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Activation, error) {
	var a plugboard.Activation
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		a, err = scanActivation(o.queryRow(ctx, "SELECT "+activationCols+" FROM activations WHERE organisation_id = ? AND id = ?",
			idValue(orgID), idValue(id)))
		if err != nil {
			return o.d.translate(err, "get activation", &onError{notFound: "activation " + id.String() + " not found"})
		}
		return o.loadActivationConnections(ctx, orgID, []*plugboard.Activation{&a})
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ListActivations returns the activations matching f with their connections, ordered by id.
func (o *ops) ListActivations(ctx context.Context, orgID ulid.ULID, f plugboard.ActivationFilter) ([]plugboard.Activation, error) {
	var out []plugboard.Activation
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		if out, err = o.activations(ctx, orgID, f); err != nil {
			return err
		}
		ptrs := make([]*plugboard.Activation, len(out))
		for i := range out {
			ptrs[i] = &out[i]
		}
		return o.loadActivationConnections(ctx, orgID, ptrs)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// activations reads the activations matching f, without their connections, ordered by id.
func (o *ops) activations(ctx context.Context, orgID ulid.ULID, f plugboard.ActivationFilter) ([]plugboard.Activation, error) {
	q := "SELECT " + activationCols + " FROM activations WHERE organisation_id = ?"
	args := []any{idValue(orgID)}
	if f.EnvironmentID != (ulid.ULID{}) {
		q += " AND environment_id = ?"
		args = append(args, idValue(f.EnvironmentID))
	}
	if f.EndUserID != (ulid.ULID{}) {
		q += " AND end_user_id = ?"
		args = append(args, idValue(f.EndUserID))
	}
	rows, err := o.query(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, o.d.translate(err, "list activations", nil)
	}
	var out []plugboard.Activation
	err = scanRows(rows, func(r *sql.Rows) error {
		a, err := scanActivation(r)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, o.d.translate(err, "list activations", nil)
	}
	return out, nil
}

// GetActivationConnection returns the activation's oldest connection linked to the template, which
// must be one of the activation's environment.
func (o *ops) GetActivationConnection(ctx context.Context, orgID, activationID, templateID ulid.ULID) (*plugboard.Connection, error) {
	var c plugboard.Connection
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		c, err = scanConnection(o.queryRow(ctx, "SELECT "+prefixed("c", connectionCols)+` FROM activations a
			JOIN connections c ON `+activationConnections+`
			JOIN connection_links k ON k.organisation_id = c.organisation_id AND k.connection_id = c.id
			JOIN connection_templates kt ON kt.organisation_id = k.organisation_id AND kt.id = k.template_id
				AND kt.environment_id = a.environment_id
			WHERE a.organisation_id = ? AND a.id = ? AND k.template_id = ? ORDER BY c.id LIMIT 1`,
			idValue(orgID), idValue(activationID), idValue(templateID)))
		if err != nil {
			return o.d.translate(err, "get activation connection", &onError{
				notFound: "activation " + activationID.String() + " has no connection for connection template " + templateID.String(),
			})
		}
		return o.loadCredentials(ctx, orgID, []*plugboard.Connection{&c})
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// loadActivationConnections fills in the connections of acts (with their credentials), with one
// query per maxInList activations.
func (o *ops) loadActivationConnections(ctx context.Context, orgID ulid.ULID, acts []*plugboard.Activation) error {
	byID := make(map[ulid.ULID]*plugboard.Activation, len(acts))
	ids := make([]ulid.ULID, len(acts))
	for i, a := range acts {
		byID[a.ID], ids[i] = a, a.ID
	}
	type owned struct {
		activation ulid.ULID
		conn       plugboard.Connection
	}
	var found []owned
	for chunk := range slices.Chunk(ids, maxInList) {
		rows, err := o.query(ctx, "SELECT a.id, "+prefixed("c", connectionCols)+` FROM activations a
			JOIN connections c ON `+activationConnections+`
			WHERE a.organisation_id = ? AND a.id IN (`+placeholders(len(chunk))+`) ORDER BY a.id, c.id`,
			append([]any{idValue(orgID)}, idArgs(chunk)...)...)
		if err != nil {
			return o.d.translate(err, "list activation connections", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			var f owned
			var c plugboard.Connection
			err := r.Scan(idCol{&f.activation}, idCol{&c.OrganisationID}, idCol{&c.ID}, idCol{&c.TemplateID}, idCol{&c.SystemID},
				idCol{&c.EndUserID}, &c.Name, &c.BaseURL, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt})
			f.conn = c
			found = append(found, f)
			return err
		})
		if err != nil {
			return o.d.translate(err, "list activation connections", nil)
		}
	}
	conns := make([]*plugboard.Connection, len(found))
	for i := range found {
		conns[i] = &found[i].conn
	}
	// A connection of two activations (linked into two environments) is loaded once per activation.
	if err := o.loadCredentialsDup(ctx, orgID, conns); err != nil {
		return err
	}
	for _, f := range found {
		a := byID[f.activation]
		a.Connections = append(a.Connections, f.conn)
	}
	return nil
}

// loadCredentialsDup is loadCredentials for a list that may hold one connection more than once.
func (o *ops) loadCredentialsDup(ctx context.Context, orgID ulid.ULID, conns []*plugboard.Connection) error {
	first := map[ulid.ULID]*plugboard.Connection{}
	var unique []*plugboard.Connection
	for _, c := range conns {
		if _, ok := first[c.ID]; !ok {
			first[c.ID] = c
			unique = append(unique, c)
		}
	}
	if err := o.loadCredentials(ctx, orgID, unique); err != nil {
		return err
	}
	for _, c := range conns {
		if f := first[c.ID]; f != c {
			c.Credentials, c.Expired = f.Credentials, f.Expired
		}
	}
	return nil
}

// DeleteActivation removes the activation, the end user's connections created under its
// environment's templates and the links of the end user's other connections to those templates.
func (o *ops) DeleteActivation(ctx context.Context, orgID, id ulid.ULID) (*plugboard.DeletedActivation, error) {
	var out plugboard.DeletedActivation
	err := o.inTx(ctx, func(o *ops) error {
		org := idValue(orgID)
		a, err := scanActivation(o.queryRow(ctx, "SELECT "+activationCols+" FROM activations WHERE organisation_id = ? AND id = ?"+o.d.forUpdate,
			org, idValue(id)))
		if err != nil {
			return o.d.translate(err, "get activation", &onError{notFound: "activation " + id.String() + " not found"})
		}
		if err := o.loadActivationConnections(ctx, orgID, []*plugboard.Activation{&a}); err != nil {
			return err
		}
		out.Activation = a
		envTemplates := "SELECT id FROM connection_templates WHERE organisation_id = ? AND environment_id = ?"
		if out.Deleted, err = o.deleteConnections(ctx, orgID, "end_user_id = ? AND template_id IN ("+envTemplates+")",
			idValue(a.EndUserID), org, idValue(a.EnvironmentID)); err != nil {
			return err
		}
		rows, err := o.query(ctx, `SELECT l.connection_id, l.template_id FROM connection_links l
			JOIN connection_templates t ON t.organisation_id = l.organisation_id AND t.id = l.template_id
			JOIN connections c ON c.organisation_id = l.organisation_id AND c.id = l.connection_id
			WHERE l.organisation_id = ? AND t.environment_id = ? AND c.end_user_id = ?
			ORDER BY l.connection_id, l.template_id`, org, idValue(a.EnvironmentID), idValue(a.EndUserID))
		if err != nil {
			return o.d.translate(err, "list activation links", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			l := plugboard.ConnectionLink{EndUserID: a.EndUserID}
			out.Unlinked = append(out.Unlinked, l)
			return r.Scan(idCol{&out.Unlinked[len(out.Unlinked)-1].ConnectionID}, idCol{&out.Unlinked[len(out.Unlinked)-1].TemplateID})
		})
		if err != nil {
			return o.d.translate(err, "list activation links", nil)
		}
		for _, l := range out.Unlinked {
			if _, err := o.exec(ctx, "DELETE FROM connection_links WHERE organisation_id = ? AND template_id = ? AND connection_id = ?",
				org, idValue(l.TemplateID), idValue(l.ConnectionID)); err != nil {
				return o.d.translate(err, "unlink connection", nil)
			}
		}
		_, err = o.exec(ctx, "DELETE FROM activations WHERE organisation_id = ? AND id = ?", org, idValue(id))
		return o.d.translate(err, "delete activation", nil)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// backfillActivations creates the activations of the end users' connections that exist when
// migration 0011 runs: one per organisation, environment and end user with a connection linked to
// a template of the environment, dated by its oldest such connection.
func backfillActivations(ctx context.Context, o *ops) error {
	rows, err := o.query(ctx, `SELECT c.organisation_id, t.environment_id, c.end_user_id, MIN(c.created_at)
		FROM connections c
		JOIN connection_links l ON l.organisation_id = c.organisation_id AND l.connection_id = c.id
		JOIN connection_templates t ON t.organisation_id = l.organisation_id AND t.id = l.template_id
		WHERE c.end_user_id <> ''
		GROUP BY c.organisation_id, t.environment_id, c.end_user_id
		ORDER BY c.organisation_id, t.environment_id, c.end_user_id`)
	if err != nil {
		return o.d.translate(err, "list activations to create", nil)
	}
	var acts []plugboard.Activation
	err = scanRows(rows, func(r *sql.Rows) error {
		var a plugboard.Activation
		err := r.Scan(idCol{&a.OrganisationID}, idCol{&a.EnvironmentID}, idCol{&a.EndUserID}, timeCol{&a.CreatedAt})
		acts = append(acts, a)
		return err
	})
	if err != nil {
		return o.d.translate(err, "list activations to create", nil)
	}
	for _, a := range acts {
		id, err := ulid.New(ulid.Timestamp(a.CreatedAt), rand.Reader)
		if err != nil {
			return plugboard.Internal(err)
		}
		if _, err := o.exec(ctx, "INSERT INTO activations ("+activationCols+") VALUES (?, ?, ?, ?, NULL, ?, ?)",
			idValue(a.OrganisationID), idValue(id), idValue(a.EnvironmentID), idValue(a.EndUserID),
			timeValue(a.CreatedAt), timeValue(a.CreatedAt)); err != nil {
			return o.d.translate(err, "create activation", nil)
		}
	}
	return nil
}
