package httpapi

import (
	"context"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/textcheck"
)

// systemConfigs returns the system's configs in their public form, by id.
func systemConfigs(sys *plugboard.System) (map[string]api.AuthSchemeConfig, error) {
	return connect.SystemConfigs(sys)
}

// connectionResponse renders a connection with its system's current configs.
func (s *Server) connectionResponse(ctx context.Context, st plugboard.Store, c *plugboard.Connection) (api.Connection, error) {
	sys, err := st.GetSystem(ctx, c.OrganisationID, c.SystemID)
	if err != nil {
		return api.Connection{}, err
	}
	return renderConnection(c, sys, s.timestamp())
}

// renderConnection renders a connection with the configs its system has now; now is the clock its
// derived errors[] are computed at.
func renderConnection(c *plugboard.Connection, sys *plugboard.System, now time.Time) (api.Connection, error) {
	configs, err := systemConfigs(sys)
	if err != nil {
		return api.Connection{}, err
	}
	return toAPIConnection(c, configs, now)
}

// CreateConnection implements api.StrictServerInterface: it checks the connection's name, base URL
// and external id, and connect.Service.CreateConnection does the rest (credentials, exchanges,
// the end user on first use, the store and the events).
func (s *Server) CreateConnection(ctx context.Context, req api.CreateConnectionRequestObject) (api.CreateConnectionResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	orgID := req.OrganisationId
	var errs []plugboard.FieldError
	if b.EnvironmentSystemID == (ulid.ULID{}) {
		errs = append(errs, plugboard.FieldError{Field: "connectionTemplateId", Message: "is required"})
	}
	errs = textcheck.Name("connection.name", b.Connection.Name, errs)
	baseURL, err := normaliseBaseURL(b.Connection.BaseURL)
	if err != nil {
		errs = append(errs, plugboard.FieldError{Field: "connection.baseUrl", Message: err.Error()})
	}
	if b.ExternalId != nil {
		errs = textcheck.Name("externalId", *b.ExternalId, errs)
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid connection", errs...)
	}
	res, err := s.connect.CreateConnection(ctx, orgID, connect.CreateInput{TemplateID: b.EnvironmentSystemID, Name: b.Connection.Name,
		BaseURL: baseURL, ExternalID: b.ExternalId, Credentials: b.Connection.Credentials, CredentialsPath: "connection.credentials",
		Caller: s.caller(ctx)})
	if err != nil {
		return nil, err
	}
	out, err := renderConnection(res.Connection, res.System, res.At)
	if err != nil {
		return nil, err
	}
	return api.CreateConnection201JSONResponse(out), nil
}

// GetConnection implements api.StrictServerInterface.
func (s *Server) GetConnection(ctx context.Context, req api.GetConnectionRequestObject) (api.GetConnectionResponseObject, error) {
	c, err := s.store.GetConnection(ctx, req.OrganisationId, req.ConnectionId)
	if err != nil {
		return nil, err
	}
	out, err := s.connectionResponse(ctx, s.store, c)
	if err != nil {
		return nil, err
	}
	return api.GetConnection200JSONResponse(out), nil
}

// UpdateConnection implements api.StrictServerInterface through connect.Service.UpdateConnection.
// The credential list replaces the stored one (in its order); credentials sent with their ids keep
// their stored secrets wherever a secret field is empty; an empty baseUrl keeps the stored one.
func (s *Server) UpdateConnection(ctx context.Context, req api.UpdateConnectionRequestObject) (api.UpdateConnectionResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	orgID := req.OrganisationId
	var errs []plugboard.FieldError
	errs = textcheck.Name("name", b.Name, errs)
	baseURL, err := normaliseBaseURL(b.BaseURL)
	if err != nil {
		errs = append(errs, plugboard.FieldError{Field: "baseUrl", Message: err.Error()})
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid connection", errs...)
	}
	res, err := s.connect.UpdateConnection(ctx, orgID, connect.UpdateInput{ConnectionID: req.ConnectionId, Name: b.Name,
		BaseURL: baseURL, Credentials: b.Credentials, CredentialsPath: "credentials", Caller: s.caller(ctx)})
	if err != nil {
		return nil, err
	}
	out, err := renderConnection(res.Connection, res.System, res.At)
	if err != nil {
		return nil, err
	}
	return api.UpdateConnection200JSONResponse(out), nil
}

// DeleteConnection implements api.StrictServerInterface.
func (s *Server) DeleteConnection(ctx context.Context, req api.DeleteConnectionRequestObject) (api.DeleteConnectionResponseObject, error) {
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		deleted, err := tx.DeleteConnection(ctx, req.OrganisationId, req.ConnectionId)
		if err != nil {
			return err
		}
		return s.events.EmitConnectionDeleted(ctx, tx, req.OrganisationId, *deleted)
	})
	s.access.Forget(req.OrganisationId, req.ConnectionId)
	if err != nil {
		return nil, err
	}
	return api.DeleteConnection204Response{}, nil
}

// ListConnections implements api.StrictServerInterface. end_user_id takes an end user's id or
// external id.
func (s *Server) ListConnections(ctx context.Context, req api.ListConnectionsRequestObject) (api.ListConnectionsResponseObject, error) {
	p := req.Params
	page, errs := parsePage(p.First, p.After, p.Before)
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid query parameters", errs...)
	}
	var f plugboard.ConnectionFilter
	systemID, perr := parseOptionalID("system_id", p.SystemId)
	if perr != nil {
		return nil, perr
	}
	f.SystemID = systemID
	empty := api.ConnectionPage{Items: []api.Connection{}}
	if p.EndUserId != nil && *p.EndUserId != "" {
		u, err := findEndUser(ctx, s.store, req.OrganisationId, *p.EndUserId)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			return api.ListConnections200JSONResponse(empty), nil
		} else if err != nil {
			return nil, err
		}
		f.EndUserID = u.ID
	}
	res, err := s.store.ListConnections(ctx, req.OrganisationId, f, page)
	if err != nil {
		return nil, err
	}
	items, err := s.connectionsResponse(ctx, req.OrganisationId, res.Items)
	if err != nil {
		return nil, err
	}
	return api.ListConnections200JSONResponse(api.ConnectionPage{Items: items, TotalCount: res.TotalCount,
		Next: cursor(res.Next), Prev: cursor(res.Prev)}), nil
}

// connectionsResponse renders a list of connections, reading each system once.
func (s *Server) connectionsResponse(ctx context.Context, orgID ulid.ULID, cs []plugboard.Connection) ([]api.Connection, error) {
	out := make([]api.Connection, 0, len(cs))
	configsBySystem := map[ulid.ULID]map[string]api.AuthSchemeConfig{}
	for i := range cs {
		configs, ok := configsBySystem[cs[i].SystemID]
		if !ok {
			sys, err := s.store.GetSystem(ctx, orgID, cs[i].SystemID)
			if err != nil {
				return nil, err
			}
			if configs, err = systemConfigs(sys); err != nil {
				return nil, err
			}
			configsBySystem[sys.ID] = configs
		}
		c, err := toAPIConnection(&cs[i], configs, s.timestamp())
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ListEnvironmentConnections implements api.StrictServerInterface: the static connections linked to
// the project's environment env_id (all its environments when env_id is absent).
func (s *Server) ListEnvironmentConnections(ctx context.Context, req api.ListEnvironmentConnectionsRequestObject) (api.ListEnvironmentConnectionsResponseObject, error) {
	envID, perr := parseOptionalID("env_id", req.Params.EnvId)
	if perr != nil {
		return nil, perr
	}
	cs, err := s.store.ListEnvironmentConnections(ctx, req.OrganisationId, req.ProjectId, envID)
	if err != nil {
		return nil, err
	}
	items, err := s.connectionsResponse(ctx, req.OrganisationId, cs)
	if err != nil {
		return nil, err
	}
	return api.ListEnvironmentConnections200JSONResponse(api.ConnectionPage{Items: items, TotalCount: len(items)}), nil
}

// LinkConnectionToEnvironment implements api.StrictServerInterface: a static connection is linked
// to another template of the same system, typically in another environment.
func (s *Server) LinkConnectionToEnvironment(ctx context.Context, req api.LinkConnectionToEnvironmentRequestObject) (api.LinkConnectionToEnvironmentResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		c, err := tx.GetConnection(ctx, req.OrganisationId, req.ConnectionId)
		if err != nil {
			return err
		}
		t, err := tx.GetTemplate(ctx, req.OrganisationId, b.EnvironmentSystemID)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			return &plugboard.Error{Code: plugboard.ENotFound, Message: "connection template not found",
				Fields: []plugboard.FieldError{{Field: "connectionTemplateId", Message: "no such connection template"}}}
		} else if err != nil {
			return err
		}
		if c.EndUserID != (ulid.ULID{}) {
			return plugboard.Invalid("only static connections can be linked to environments; this one belongs to an end user")
		}
		if t.SystemID != c.SystemID {
			return plugboard.Invalid("invalid link", plugboard.FieldError{Field: "connectionTemplateId",
				Message: "the template is for another system than the connection"})
		}
		if err := tx.LinkConnection(ctx, req.OrganisationId, c.ID, t.ID); err != nil {
			return err
		}
		e := connectionEvent(events.ConnectionUpdated, c)
		e.TemplateID, e.Data = t.ID, eventData("link", "created")
		return s.emit(ctx, tx, e)
	})
	if err != nil {
		return nil, err
	}
	return api.LinkConnectionToEnvironment201JSONResponse(*b), nil
}

// UnlinkConnectionFromEnvironment implements api.StrictServerInterface. The link to the template a
// connection was created under cannot be removed; delete the connection instead.
func (s *Server) UnlinkConnectionFromEnvironment(ctx context.Context, req api.UnlinkConnectionFromEnvironmentRequestObject) (api.UnlinkConnectionFromEnvironmentResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		c, err := tx.GetConnection(ctx, req.OrganisationId, req.ConnectionId)
		if err != nil {
			return err
		}
		if c.TemplateID == b.EnvironmentSystemID {
			return plugboard.Errorf(plugboard.EConflict, "the connection was created under this template; delete the connection instead of unlinking it")
		}
		if err := tx.UnlinkConnection(ctx, req.OrganisationId, c.ID, b.EnvironmentSystemID); err != nil {
			return err
		}
		e := connectionEvent(events.ConnectionUpdated, c)
		e.TemplateID, e.Data = b.EnvironmentSystemID, eventData("link", "deleted")
		return s.emit(ctx, tx, e)
	})
	if err != nil {
		return nil, err
	}
	return api.UnlinkConnectionFromEnvironment204Response{}, nil
}
