package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/textcheck"
)

// DefaultEnvironment is the environment a project gets when its create request names none.
const DefaultEnvironment = "production"

// CreateProject implements api.StrictServerInterface.
func (s *Server) CreateProject(ctx context.Context, req api.CreateProjectRequestObject) (api.CreateProjectResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	var errs []plugboard.FieldError
	errs = textcheck.Name("name", b.Name, errs)
	names := b.Environments
	if len(names) == 0 {
		names = []string{DefaultEnvironment}
	}
	seen := map[string]bool{}
	for i, n := range names {
		field := fmt.Sprintf("environments[%d]", i)
		errs = textcheck.Name(field, n, errs)
		if seen[n] {
			errs = append(errs, plugboard.FieldError{Field: field, Message: "duplicates an earlier environment name"})
		}
		seen[n] = true
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid project", errs...)
	}
	now := s.timestamp()
	p := &plugboard.Project{ID: newID(), OrganisationID: req.OrganisationId, Name: b.Name, CreatedAt: now, UpdatedAt: now}
	for _, n := range names {
		p.Environments = append(p.Environments, plugboard.Environment{ID: newID(), OrganisationID: req.OrganisationId,
			ProjectID: p.ID, Name: n, CreatedAt: now, UpdatedAt: now})
	}
	if err := s.store.CreateProject(ctx, p); err != nil {
		return nil, err
	}
	return api.CreateProject200JSONResponse(toAPIProject(p)), nil
}

// ListProjects implements api.StrictServerInterface.
func (s *Server) ListProjects(ctx context.Context, req api.ListProjectsRequestObject) (api.ListProjectsResponseObject, error) {
	ps, err := s.store.ListProjects(ctx, req.OrganisationId)
	if err != nil {
		return nil, err
	}
	out := api.ProjectsList{Projects: []api.ProjectSummary{}}
	for i := range ps {
		out.Projects = append(out.Projects, toAPIProjectSummary(&ps[i]))
	}
	return api.ListProjects200JSONResponse(out), nil
}

// GetProject implements api.StrictServerInterface.
func (s *Server) GetProject(ctx context.Context, req api.GetProjectRequestObject) (api.GetProjectResponseObject, error) {
	p, err := s.store.GetProject(ctx, req.OrganisationId, req.ProjectId)
	if err != nil {
		return nil, err
	}
	return api.GetProject200JSONResponse(toAPIProject(p)), nil
}

// UpdateProject implements api.StrictServerInterface. Only the name is kept; settings and
// metadata concern deployments, which Plugboard does not run.
func (s *Server) UpdateProject(ctx context.Context, req api.UpdateProjectRequestObject) (api.UpdateProjectResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	if b.Name != nil {
		if errs := textcheck.Name("name", *b.Name, nil); len(errs) > 0 {
			return nil, plugboard.Invalid("invalid project", errs...)
		}
	}
	var p *plugboard.Project
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		var err error
		p, err = tx.GetProject(ctx, req.OrganisationId, req.ProjectId)
		if err != nil {
			return err
		}
		if b.Name != nil {
			p.Name = *b.Name
		}
		p.UpdatedAt = s.timestamp()
		return tx.UpdateProject(ctx, p)
	})
	if err != nil {
		return nil, err
	}
	return api.UpdateProject200JSONResponse(toAPIProject(p)), nil
}

// DeleteProject implements api.StrictServerInterface.
func (s *Server) DeleteProject(ctx context.Context, req api.DeleteProjectRequestObject) (api.DeleteProjectResponseObject, error) {
	// The project's activations and templates go with it, each with its events.
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		deleted, err := tx.DeleteProject(ctx, req.OrganisationId, req.ProjectId)
		if err != nil {
			return err
		}
		for i := range deleted.Activations {
			if err := s.emit(ctx, tx, events.ActivationEvent(events.ActivationDeleted, &deleted.Activations[i])); err != nil {
				return err
			}
		}
		for _, d := range deleted.Templates {
			if err := s.emitTemplateDeleted(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return api.DeleteProject204Response{}, nil
}

// CreateConnectionTemplate implements api.StrictServerInterface.
func (s *Server) CreateConnectionTemplate(ctx context.Context, req api.CreateConnectionTemplateRequestObject) (api.CreateConnectionTemplateResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	var errs []plugboard.FieldError
	errs = textcheck.Name("name", b.Name, errs)
	if b.SystemID == (ulid.ULID{}) {
		errs = append(errs, plugboard.FieldError{Field: "systemId", Message: "is required"})
	}
	if b.EnvironmentID == (ulid.ULID{}) {
		errs = append(errs, plugboard.FieldError{Field: "environmentId", Message: "is required"})
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid connection template", errs...)
	}
	var (
		t   *plugboard.ConnectionTemplate
		sys *plugboard.System
	)
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		p, err := tx.GetProject(ctx, req.OrganisationId, req.ProjectId)
		if err != nil {
			return err
		}
		if !hasEnvironment(p, b.EnvironmentID) {
			return plugboard.Invalid("invalid connection template",
				plugboard.FieldError{Field: "environmentId", Message: "is not an environment of this project"})
		}
		sys, err = tx.GetSystem(ctx, req.OrganisationId, b.SystemID)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			return plugboard.Invalid("invalid connection template", plugboard.FieldError{Field: "systemId", Message: "no such system"})
		} else if err != nil {
			return err
		}
		now := s.timestamp()
		t = &plugboard.ConnectionTemplate{ID: newID(), OrganisationID: req.OrganisationId, ProjectID: p.ID,
			EnvironmentID: b.EnvironmentID, SystemID: sys.ID, Name: b.Name, Dynamic: b.Dynamic, AllowBaseURLOverride: b.AllowBaseURLOverride,
			CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateTemplate(ctx, t); err != nil {
			return err
		}
		return s.emit(ctx, tx, templateEvent(events.TemplateCreated, t))
	})
	if err != nil {
		return nil, err
	}
	out, err := toAPITemplate(t, sys)
	if err != nil {
		return nil, err
	}
	return api.CreateConnectionTemplate200JSONResponse(out), nil
}

func hasEnvironment(p *plugboard.Project, envID ulid.ULID) bool {
	for _, e := range p.Environments {
		if e.ID == envID {
			return true
		}
	}
	return false
}

// ListProjectConnectionTemplates implements api.StrictServerInterface.
func (s *Server) ListProjectConnectionTemplates(ctx context.Context, req api.ListProjectConnectionTemplatesRequestObject) (api.ListProjectConnectionTemplatesResponseObject, error) {
	envID, perr := parseOptionalID("env_id", req.Params.EnvId)
	if perr != nil {
		return nil, perr
	}
	ts, err := s.store.ListTemplates(ctx, req.OrganisationId, req.ProjectId, envID)
	if err != nil {
		return nil, err
	}
	out := api.EnvironmentSystemPage{Items: []api.ConnectionTemplate{}, TotalCount: len(ts)}
	systems := map[ulid.ULID]*plugboard.System{}
	for i := range ts {
		sys, ok := systems[ts[i].SystemID]
		if !ok {
			sys, err = s.store.GetSystem(ctx, req.OrganisationId, ts[i].SystemID)
			if err != nil {
				return nil, err
			}
			systems[sys.ID] = sys
		}
		item, err := toAPITemplate(&ts[i], sys)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, item)
	}
	return api.ListProjectConnectionTemplates200JSONResponse(out), nil
}

// UpdateConnectionTemplate implements api.StrictServerInterface. name and dynamic are changed
// when given; authSchemeConfigIds is replaced (empty means all of the system's configs).
func (s *Server) UpdateConnectionTemplate(ctx context.Context, req api.UpdateConnectionTemplateRequestObject) (api.UpdateConnectionTemplateResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	if b.Name != nil {
		if errs := textcheck.Name("name", *b.Name, nil); len(errs) > 0 {
			return nil, plugboard.Invalid("invalid connection template", errs...)
		}
	}
	var (
		t   *plugboard.ConnectionTemplate
		sys *plugboard.System
	)
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		var err error
		t, err = tx.GetTemplate(ctx, req.OrganisationId, req.TemplateId)
		if err != nil {
			return err
		}
		if t.ProjectID != req.ProjectId {
			return plugboard.Errorf(plugboard.ENotFound, "connection template not found")
		}
		sys, err = tx.GetSystem(ctx, req.OrganisationId, t.SystemID)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, c := range sys.AuthSchemeConfigs {
			known[c.ID] = true
		}
		var errs []plugboard.FieldError
		seen := map[string]bool{}
		for i, id := range b.AuthSchemeConfigIds {
			field := fmt.Sprintf("authSchemeConfigIds[%d]", i)
			if !known[id] {
				errs = append(errs, plugboard.FieldError{Field: field, Message: "is not an auth scheme config of the template's system"})
			}
			if seen[id] {
				errs = append(errs, plugboard.FieldError{Field: field, Message: "is listed twice"})
			}
			seen[id] = true
		}
		if len(errs) > 0 {
			return plugboard.Invalid("invalid connection template", errs...)
		}
		if err := checkTemplateChange(ctx, tx, t, sys, b); err != nil {
			return err
		}
		if b.Name != nil {
			t.Name = *b.Name
		}
		if b.Dynamic != nil {
			t.Dynamic = *b.Dynamic
		}
		if b.AllowBaseURLOverride != nil {
			t.AllowBaseURLOverride = *b.AllowBaseURLOverride
		}
		t.AuthSchemeConfigIDs = b.AuthSchemeConfigIds
		t.UpdatedAt = s.timestamp()
		if err := tx.UpdateTemplate(ctx, t); err != nil {
			return err
		}
		return s.emit(ctx, tx, templateEvent(events.TemplateUpdated, t))
	})
	if err != nil {
		return nil, err
	}
	out, err := toAPITemplate(t, sys)
	if err != nil {
		return nil, err
	}
	return api.UpdateConnectionTemplate200JSONResponse(out), nil
}

// checkTemplateChange refuses, while connections were created under the template, the changes
// that would leave them invalid: turning a static template dynamic or back, and no longer offering
// a config the template offers now.
func checkTemplateChange(ctx context.Context, tx plugboard.Store, t *plugboard.ConnectionTemplate, sys *plugboard.System, b *api.UpdateConnectionTemplate) error {
	flips := b.Dynamic != nil && *b.Dynamic != t.Dynamic
	var dropped []string
	if len(b.AuthSchemeConfigIds) > 0 {
		now := t.AuthSchemeConfigIDs
		if len(now) == 0 {
			for _, c := range sys.AuthSchemeConfigs {
				now = append(now, c.ID)
			}
		}
		for _, id := range now {
			if !slices.Contains(b.AuthSchemeConfigIds, id) {
				dropped = append(dropped, id)
			}
		}
	}
	if !flips && len(dropped) == 0 {
		return nil
	}
	page, err := tx.ListConnections(ctx, t.OrganisationID, plugboard.ConnectionFilter{TemplateID: t.ID}, plugboard.PageRequest{First: 1})
	if err != nil {
		return err
	}
	if page.TotalCount == 0 {
		return nil
	}
	if flips {
		return plugboard.Errorf(plugboard.EConflict, "%d connections were created under this template; it cannot change between static and dynamic while they exist", page.TotalCount)
	}
	return plugboard.Errorf(plugboard.EConflict, "%d connections were created under this template; it must keep offering the auth scheme configs %s while they exist",
		page.TotalCount, strings.Join(dropped, ", "))
}

// DeleteConnectionTemplate implements api.StrictServerInterface.
func (s *Server) DeleteConnectionTemplate(ctx context.Context, req api.DeleteConnectionTemplateRequestObject) (api.DeleteConnectionTemplateResponseObject, error) {
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		deleted, err := tx.DeleteTemplate(ctx, req.OrganisationId, req.ProjectId, req.TemplateId)
		if err != nil {
			return err
		}
		return s.emitTemplateDeleted(ctx, tx, *deleted)
	})
	if err != nil {
		return nil, err
	}
	return api.DeleteConnectionTemplate204Response{}, nil
}
