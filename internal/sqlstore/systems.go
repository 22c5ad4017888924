package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

const systemCols = "organisation_id, id, name, domain, template_base_url, labels, created_at, updated_at"

func scanSystem(r interface{ Scan(...any) error }) (plugboard.System, error) {
	var s plugboard.System
	err := r.Scan(idCol{&s.OrganisationID}, idCol{&s.ID}, &s.Name, &s.Domain, &s.TemplateBaseURL,
		labelsCol{&s.Labels}, timeCol{&s.CreatedAt}, timeCol{&s.UpdatedAt})
	return s, err
}

// CreateSystem inserts s with its auth scheme configs; EConflict if two configs share an id.
func (o *ops) CreateSystem(ctx context.Context, s *plugboard.System) error {
	if err := requireID(s.ID, "system"); err != nil {
		return err
	}
	stamp(&s.CreatedAt, &s.UpdatedAt)
	return o.inTx(ctx, func(o *ops) error {
		_, err := o.exec(ctx, "INSERT INTO systems ("+systemCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			idValue(s.OrganisationID), idValue(s.ID), s.Name, s.Domain, s.TemplateBaseURL,
			jsonValue(s.Labels, "{}"), timeValue(s.CreatedAt), timeValue(s.UpdatedAt))
		if err := o.d.translate(err, "insert system", &onError{
			conflict: "system " + s.ID.String() + " already exists",
			fkCode:   plugboard.ENotFound, fkMsg: "organisation " + s.OrganisationID.String() + " not found",
		}); err != nil {
			return err
		}
		for i, c := range s.AuthSchemeConfigs {
			if err := o.insertAuthSchemeConfig(ctx, s.OrganisationID, s.ID, i, c); err != nil {
				return err
			}
		}
		return nil
	})
}

func (o *ops) insertAuthSchemeConfig(ctx context.Context, orgID, systemID ulid.ULID, position int, c plugboard.AuthSchemeConfig) error {
	if c.ID == "" {
		return plugboard.Errorf(plugboard.EInvalid, "auth scheme config id is required")
	}
	cfg, err := rawValue(c.Config, fmt.Sprintf("auth scheme config %q", c.ID))
	if err != nil {
		return err
	}
	_, err = o.exec(ctx, `INSERT INTO auth_scheme_configs
		(organisation_id, system_id, id, position, type, config, sealed) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		idValue(orgID), idValue(systemID), c.ID, position, c.Type, cfg, nullBytesValue(c.Sealed))
	return o.d.translate(err, "insert auth scheme config", &onError{
		conflict: fmt.Sprintf("auth scheme config %q already exists in system %s", c.ID, systemID),
		fkCode:   plugboard.ENotFound, fkMsg: "system " + systemID.String() + " not found",
	})
}

// GetSystem returns the system with its auth scheme configs, or ENotFound.
func (o *ops) GetSystem(ctx context.Context, orgID, id ulid.ULID) (*plugboard.System, error) {
	var s plugboard.System
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		s, err = scanSystem(o.queryRow(ctx, "SELECT "+systemCols+" FROM systems WHERE organisation_id = ? AND id = ?",
			idValue(orgID), idValue(id)))
		if err != nil {
			return o.d.translate(err, "get system", &onError{notFound: "system " + id.String() + " not found"})
		}
		return o.loadConfigs(ctx, orgID, []*plugboard.System{&s})
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// loadConfigs fills in the auth scheme configs of systems with one query.
func (o *ops) loadConfigs(ctx context.Context, orgID ulid.ULID, systems []*plugboard.System) error {
	if len(systems) == 0 {
		return nil
	}
	byID := make(map[ulid.ULID]*plugboard.System, len(systems))
	ids := make([]ulid.ULID, len(systems))
	for i, s := range systems {
		byID[s.ID], ids[i] = s, s.ID
	}
	rows, err := o.query(ctx, `SELECT system_id, id, type, config, sealed FROM auth_scheme_configs
		WHERE organisation_id = ? AND system_id IN (`+placeholders(len(ids))+`)
		ORDER BY system_id, position`, append([]any{idValue(orgID)}, idArgs(ids)...)...)
	if err != nil {
		return o.d.translate(err, "list auth scheme configs", nil)
	}
	err = scanRows(rows, func(r *sql.Rows) error {
		var sysID ulid.ULID
		var c plugboard.AuthSchemeConfig
		if err := r.Scan(idCol{&sysID}, &c.ID, &c.Type, rawCol{&c.Config}, bytesCol{&c.Sealed}); err != nil {
			return err
		}
		if s := byID[sysID]; s != nil {
			s.AuthSchemeConfigs = append(s.AuthSchemeConfigs, c)
		}
		return nil
	})
	return o.d.translate(err, "list auth scheme configs", nil)
}

// ListSystems returns a page of systems matching search, with their auth scheme configs.
func (o *ops) ListSystems(ctx context.Context, orgID ulid.ULID, search string, req plugboard.PageRequest) (*plugboard.Page[plugboard.System], error) {
	spec := listSpec{cols: systemCols, table: "systems", where: "organisation_id = ?", args: []any{idValue(orgID)}}
	if search != "" {
		p := likePattern(search)
		spec.where += ` AND (LOWER(name) LIKE ? ESCAPE '\' OR LOWER(domain) LIKE ? ESCAPE '\')`
		spec.args = append(spec.args, p, p)
	}
	var page *plugboard.Page[plugboard.System]
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		page, err = listPage(ctx, o, spec, req,
			func(r *sql.Rows) (plugboard.System, error) { return scanSystem(r) },
			func(s *plugboard.System) ulid.ULID { return s.ID })
		if err != nil {
			return err
		}
		ptrs := make([]*plugboard.System, len(page.Items))
		for i := range page.Items {
			ptrs[i] = &page.Items[i]
		}
		return o.loadConfigs(ctx, orgID, ptrs)
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// UpdateSystem writes s's name, domain, template base URL, labels and UpdatedAt.
func (o *ops) UpdateSystem(ctx context.Context, s *plugboard.System) error {
	touch(&s.UpdatedAt)
	res, err := o.exec(ctx, `UPDATE systems SET name = ?, domain = ?, template_base_url = ?, labels = ?, updated_at = ?
		WHERE organisation_id = ? AND id = ?`,
		s.Name, s.Domain, s.TemplateBaseURL, jsonValue(s.Labels, "{}"), timeValue(s.UpdatedAt),
		idValue(s.OrganisationID), idValue(s.ID))
	if err != nil {
		return o.d.translate(err, "update system", nil)
	}
	return o.affected(res, "system "+s.ID.String()+" not found")
}

// DeleteSystem removes the system and its configs; EConflict while a template uses it.
func (o *ops) DeleteSystem(ctx context.Context, orgID, id ulid.ULID) error {
	return o.inTx(ctx, func(o *ops) error {
		if err := o.requireSystem(ctx, orgID, id); err != nil {
			return err
		}
		used, err := o.exists(ctx, "SELECT 1 FROM connection_templates WHERE organisation_id = ? AND system_id = ?",
			idValue(orgID), idValue(id))
		if err != nil {
			return err
		}
		if used {
			return plugboard.Errorf(plugboard.EConflict, "system %s is used by connection templates; delete them first", id)
		}
		if _, err := o.exec(ctx, "DELETE FROM auth_scheme_configs WHERE organisation_id = ? AND system_id = ?",
			idValue(orgID), idValue(id)); err != nil {
			return o.d.translate(err, "delete auth scheme configs", nil)
		}
		_, err = o.exec(ctx, "DELETE FROM systems WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
		return o.d.translate(err, "delete system", &onError{
			fkCode: plugboard.EConflict, fkMsg: "system " + id.String() + " is still in use",
		})
	})
}

// requireSystem returns ENotFound unless the system exists in the organisation.
func (o *ops) requireSystem(ctx context.Context, orgID, id ulid.ULID) error {
	ok, err := o.exists(ctx, "SELECT 1 FROM systems WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
	if err == nil && !ok {
		err = plugboard.Errorf(plugboard.ENotFound, "system %s not found", id)
	}
	return err
}

// UpsertAuthSchemeConfig adds c to the system (last) or replaces the config with its id in place.
func (o *ops) UpsertAuthSchemeConfig(ctx context.Context, orgID, systemID ulid.ULID, c plugboard.AuthSchemeConfig) (bool, error) {
	if c.ID == "" {
		return false, plugboard.Errorf(plugboard.EInvalid, "auth scheme config id is required")
	}
	cfg, err := rawValue(c.Config, fmt.Sprintf("auth scheme config %q", c.ID))
	if err != nil {
		return false, err
	}
	created := false
	err = o.inTx(ctx, func(o *ops) error {
		if err := o.touchSystem(ctx, orgID, systemID); err != nil {
			return err
		}
		res, err := o.exec(ctx, `UPDATE auth_scheme_configs SET type = ?, config = ?, sealed = ?
			WHERE organisation_id = ? AND system_id = ? AND id = ?`,
			c.Type, cfg, nullBytesValue(c.Sealed), idValue(orgID), idValue(systemID), c.ID)
		if err != nil {
			return o.d.translate(err, "update auth scheme config", nil)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return o.d.translate(err, "update auth scheme config", nil)
		}
		var next int
		if err := o.queryRow(ctx, `SELECT COALESCE(MAX(position) + 1, 0) FROM auth_scheme_configs
			WHERE organisation_id = ? AND system_id = ?`, idValue(orgID), idValue(systemID)).Scan(&next); err != nil {
			return o.d.translate(err, "next auth scheme config position", nil)
		}
		created = true
		return o.insertAuthSchemeConfig(ctx, orgID, systemID, next, c)
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// touchSystem sets the system's UpdatedAt to now, or returns ENotFound. Doing it first in a write
// also serialises concurrent changes to the system's configs on databases with row locks.
func (o *ops) touchSystem(ctx context.Context, orgID, id ulid.ULID) error {
	res, err := o.exec(ctx, "UPDATE systems SET updated_at = ? WHERE organisation_id = ? AND id = ?",
		timeValue(time.Now()), idValue(orgID), idValue(id))
	if err != nil {
		return o.d.translate(err, "touch system", nil)
	}
	return o.affected(res, "system "+id.String()+" not found")
}

// DeleteAuthSchemeConfig removes one config unless a template or a connection credential uses it.
// It touches the system's UpdatedAt, as UpsertAuthSchemeConfig does.
func (o *ops) DeleteAuthSchemeConfig(ctx context.Context, orgID, systemID ulid.ULID, id string) error {
	return o.inTx(ctx, func(o *ops) error {
		if err := o.touchSystem(ctx, orgID, systemID); err != nil {
			return err
		}
		ok, err := o.exists(ctx, "SELECT 1 FROM auth_scheme_configs WHERE organisation_id = ? AND system_id = ? AND id = ?",
			idValue(orgID), idValue(systemID), id)
		if err != nil {
			return err
		}
		if !ok {
			return plugboard.Errorf(plugboard.ENotFound, "auth scheme config %q not found in system %s", id, systemID)
		}
		// AuthSchemeConfigIDs is JSON text; decoding it here keeps the query portable (no json_each).
		rows, err := o.query(ctx, `SELECT name, auth_scheme_config_ids FROM connection_templates
			WHERE organisation_id = ? AND system_id = ? ORDER BY id`, idValue(orgID), idValue(systemID))
		if err != nil {
			return o.d.translate(err, "list templates of system", nil)
		}
		var usedBy string
		err = scanRows(rows, func(r *sql.Rows) error {
			var name, ids string
			if err := r.Scan(&name, &ids); err != nil {
				return err
			}
			var list []string
			if err := json.Unmarshal([]byte(ids), &list); err != nil {
				return err
			}
			if usedBy == "" && slices.Contains(list, id) {
				usedBy = name
			}
			return nil
		})
		if err != nil {
			return o.d.translate(err, "list templates of system", nil)
		}
		if usedBy != "" {
			return plugboard.Errorf(plugboard.EConflict, "auth scheme config %q is used by connection template %q", id, usedBy)
		}
		used, err := o.exists(ctx, `SELECT 1 FROM connection_credentials cc
			JOIN connections c ON c.organisation_id = cc.organisation_id AND c.id = cc.connection_id
			WHERE cc.organisation_id = ? AND c.system_id = ? AND cc.auth_scheme_config_id = ?`,
			idValue(orgID), idValue(systemID), id)
		if err != nil {
			return err
		}
		if used {
			return plugboard.Errorf(plugboard.EConflict, "auth scheme config %q is used by connection credentials", id)
		}
		_, err = o.exec(ctx, "DELETE FROM auth_scheme_configs WHERE organisation_id = ? AND system_id = ? AND id = ?",
			idValue(orgID), idValue(systemID), id)
		return o.d.translate(err, "delete auth scheme config", nil)
	})
}
