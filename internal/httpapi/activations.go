package httpapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/textcheck"
)

// activationsResponse renders activations with their end users, environment and connections.
func (s *Server) activationsResponse(ctx context.Context, st plugboard.Store, orgID ulid.ULID, acts []plugboard.Activation) ([]api.Activation, error) {
	out := make([]api.Activation, 0, len(acts))
	envs := map[ulid.ULID]api.ProjectEnvironment{}
	for i := range acts {
		a := &acts[i]
		env, ok := envs[a.EnvironmentID]
		if !ok {
			e, err := st.GetEnvironment(ctx, orgID, a.EnvironmentID)
			if err != nil {
				return nil, err
			}
			env = toAPIEnvironment(*e)
			envs[a.EnvironmentID] = env
		}
		u, err := st.GetEndUser(ctx, orgID, a.EndUserID)
		if err != nil {
			return nil, err
		}
		conns, err := s.connectionsResponse(ctx, orgID, a.Connections)
		if err != nil {
			return nil, err
		}
		r := api.Activation{ID: a.ID, User: toAPIEndUser(u), Environment: &env, Connections: &conns}
		if len(a.DynamicVariables) > 0 {
			if err := json.Unmarshal(a.DynamicVariables, &r.DynamicVariables); err != nil {
				return nil, plugboard.Internal(err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// activationInEnvironment reads the activation and refuses it (not found) unless it is in envID.
func activationInEnvironment(ctx context.Context, st plugboard.Store, orgID, envID, id ulid.ULID) (*plugboard.Activation, error) {
	a, err := st.GetActivation(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if a.EnvironmentID != envID {
		return nil, plugboard.Errorf(plugboard.ENotFound, "activation %s not found in environment %s", id, envID)
	}
	return a, nil
}

// ListActivations implements api.StrictServerInterface. static=true lists nothing: static
// connections belong to no end user, so to no activation.
func (s *Server) ListActivations(ctx context.Context, req api.ListActivationsRequestObject) (api.ListActivationsResponseObject, error) {
	if _, err := s.store.GetEnvironment(ctx, req.OrganisationId, req.EnvironmentId); err != nil {
		return nil, err
	}
	if req.Params.Static != nil && *req.Params.Static {
		return api.ListActivations200JSONResponse(api.ActivationsList{}), nil
	}
	acts, err := s.store.ListActivations(ctx, req.OrganisationId, plugboard.ActivationFilter{EnvironmentID: req.EnvironmentId})
	if err != nil {
		return nil, err
	}
	out, err := s.activationsResponse(ctx, s.store, req.OrganisationId, acts)
	if err != nil {
		return nil, err
	}
	return api.ListActivations200JSONResponse(out), nil
}

// GetActivation implements api.StrictServerInterface.
func (s *Server) GetActivation(ctx context.Context, req api.GetActivationRequestObject) (api.GetActivationResponseObject, error) {
	a, err := activationInEnvironment(ctx, s.store, req.OrganisationId, req.EnvironmentId, req.ActivationId)
	if err != nil {
		return nil, err
	}
	out, err := s.activationsResponse(ctx, s.store, req.OrganisationId, []plugboard.Activation{*a})
	if err != nil {
		return nil, err
	}
	return api.GetActivation200JSONResponse(out[0]), nil
}

// ListUserActivations implements api.StrictServerInterface: the end user's activation in the
// environment, if any. external_user_id is the external id or the Plugboard id.
func (s *Server) ListUserActivations(ctx context.Context, req api.ListUserActivationsRequestObject) (api.ListUserActivationsResponseObject, error) {
	if _, err := s.store.GetEnvironment(ctx, req.OrganisationId, req.EnvironmentId); err != nil {
		return nil, err
	}
	u, err := findEndUser(ctx, s.store, req.OrganisationId, req.ExternalUserId)
	if err != nil {
		return nil, err
	}
	acts, err := s.store.ListActivations(ctx, req.OrganisationId, plugboard.ActivationFilter{EnvironmentID: req.EnvironmentId, EndUserID: u.ID})
	if err != nil {
		return nil, err
	}
	out, err := s.activationsResponse(ctx, s.store, req.OrganisationId, acts)
	if err != nil {
		return nil, err
	}
	return api.ListUserActivations200JSONResponse(out), nil
}

// GetActivationConnection implements api.StrictServerInterface: env_system_id is a connection
// template of the activation's environment; the answer is the activation's oldest connection linked
// to it.
func (s *Server) GetActivationConnection(ctx context.Context, req api.GetActivationConnectionRequestObject) (api.GetActivationConnectionResponseObject, error) {
	a, err := s.store.GetActivation(ctx, req.OrganisationId, req.ActivationId)
	if err != nil {
		return nil, err
	}
	t, err := s.store.GetTemplate(ctx, req.OrganisationId, req.EnvSystemId)
	if err != nil {
		return nil, err
	}
	if t.EnvironmentID != a.EnvironmentID {
		return nil, plugboard.Errorf(plugboard.ENotFound, "connection template %s is not in the activation's environment", t.ID)
	}
	c, err := s.store.GetActivationConnection(ctx, req.OrganisationId, a.ID, t.ID)
	if err != nil {
		return nil, err
	}
	out, err := s.connectionResponse(ctx, s.store, c)
	if err != nil {
		return nil, err
	}
	return api.GetActivationConnection200JSONResponse(out), nil
}

// DeleteActivation implements api.StrictServerInterface: the activation goes with the connections
// created under its environment's templates (and their credentials); the end user's connections
// created elsewhere are unlinked from those templates.
func (s *Server) DeleteActivation(ctx context.Context, req api.DeleteActivationRequestObject) (api.DeleteActivationResponseObject, error) {
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		if _, err := activationInEnvironment(ctx, tx, req.OrganisationId, req.EnvironmentId, req.ActivationId); err != nil {
			return err
		}
		d, err := tx.DeleteActivation(ctx, req.OrganisationId, req.ActivationId)
		if err != nil {
			return err
		}
		return s.emitActivationDeleted(ctx, tx, d)
	})
	s.access.ForgetAll() // its connections are gone
	if err != nil {
		return nil, err
	}
	return api.DeleteActivation204Response{}, nil
}

// emitActivationDeleted records a deleted activation: its deleted connections, the links removed
// (connection.updated, as an explicit unlink), then the activation.
func (s *Server) emitActivationDeleted(ctx context.Context, tx plugboard.Store, d *plugboard.DeletedActivation) error {
	for _, c := range d.Deleted {
		if err := s.events.EmitConnectionDeleted(ctx, tx, d.OrganisationID, c); err != nil {
			return err
		}
	}
	for _, l := range d.Unlinked {
		e := plugboard.Event{Type: events.ConnectionUpdated, OrganisationID: d.OrganisationID, ConnectionID: l.ConnectionID,
			EndUserID: l.EndUserID, TemplateID: l.TemplateID, Data: eventData("link", "deleted")}
		if err := s.emit(ctx, tx, e); err != nil {
			return err
		}
	}
	return s.emit(ctx, tx, events.ActivationEvent(events.ActivationDeleted, &d.Activation))
}

// ActivateUser implements api.StrictServerInterface: it checks what the request says of each
// connection (names, base URLs, which of connection and existingConnectionId) and
// connect.Service.Activate does the rest in one transaction.
func (s *Server) ActivateUser(ctx context.Context, req api.ActivateUserRequestObject) (api.ActivateUserResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	var errs []plugboard.FieldError
	errs = textcheck.Name("userId", b.UserID, errs)
	if b.EnvironmentID == (ulid.ULID{}) {
		errs = append(errs, plugboard.FieldError{Field: "environmentId", Message: "is required"})
	}
	in := connect.ActivationInput{UserID: b.UserID, EnvironmentID: b.EnvironmentID, Caller: s.caller(ctx)}
	for i, c := range b.Connections {
		path := fmt.Sprintf("connections[%d]", i)
		e := connect.ActivationEntry{TemplateID: c.EnvironmentSystemID, Path: path}
		if c.EnvironmentSystemID == (ulid.ULID{}) {
			errs = append(errs, plugboard.FieldError{Field: path + ".connectionTemplateId", Message: "is required"})
		}
		switch {
		case c.Connection != nil: // wins over existingConnectionId, as the contract says
			errs = textcheck.Name(path+".connection.name", c.Connection.Name, errs)
			baseURL, err := normaliseBaseURL(c.Connection.BaseURL)
			if err != nil {
				errs = append(errs, plugboard.FieldError{Field: path + ".connection.baseUrl", Message: err.Error()})
			}
			e.Create = &connect.CreateInput{Name: c.Connection.Name, BaseURL: baseURL, Credentials: c.Connection.Credentials,
				CredentialsPath: path + ".connection.credentials"}
		case c.ExistingConnectionID != nil && *c.ExistingConnectionID != (ulid.ULID{}):
			e.ExistingConnectionID = *c.ExistingConnectionID
		default:
			errs = append(errs, plugboard.FieldError{Field: path + ".existingConnectionId", Message: "is required without connection"})
		}
		in.Entries = append(in.Entries, e)
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid activation", errs...)
	}
	if b.DynamicVariables != nil {
		raw, err := json.Marshal(b.DynamicVariables)
		if err != nil {
			return nil, plugboard.Invalid("invalid activation", plugboard.FieldError{Field: "dynamicVariables", Message: "is not a JSON object"})
		}
		in.DynamicVariables = raw
	}
	a, err := s.connect.Activate(ctx, req.OrganisationId, in)
	if err != nil {
		return nil, err
	}
	out, err := s.activationsResponse(ctx, s.store, req.OrganisationId, []plugboard.Activation{*a})
	if err != nil {
		return nil, err
	}
	return api.ActivateUser200JSONResponse(out[0]), nil
}
