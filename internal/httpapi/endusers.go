package httpapi

import (
	"context"
	"errors"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/textcheck"
)

// CreateEndUser implements api.StrictServerInterface.
func (s *Server) CreateEndUser(ctx context.Context, req api.CreateEndUserRequestObject) (api.CreateEndUserResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	var errs []plugboard.FieldError
	errs = textcheck.Name("externalId", b.ExternalId, errs)
	if len(b.DisplayName) > 255 {
		errs = append(errs, plugboard.FieldError{Field: "displayName", Message: "must be at most 255 bytes"})
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid end user", errs...)
	}
	now := s.timestamp()
	u := &plugboard.EndUser{ID: newID(), OrganisationID: req.OrganisationId, ExternalID: b.ExternalId,
		DisplayName: b.DisplayName, CreatedAt: now, UpdatedAt: now}
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		if err := tx.CreateEndUser(ctx, u); err != nil {
			return err
		}
		return s.emit(ctx, tx, plugboard.Event{Type: events.EndUserCreated, OrganisationID: u.OrganisationID, EndUserID: u.ID})
	})
	if err != nil {
		return nil, err
	}
	return api.CreateEndUser201JSONResponse(toAPIEndUser(u)), nil
}

// ListEndUsers implements api.StrictServerInterface. activated filters by activation: in
// environment_id when it is given (which needs activated), in any environment otherwise. An
// unknown environment_id is like any environment without activations, as other id filters are.
func (s *Server) ListEndUsers(ctx context.Context, req api.ListEndUsersRequestObject) (api.ListEndUsersResponseObject, error) {
	p := req.Params
	page, errs := parsePage(p.First, p.After, p.Before)
	envID, perr := parseOptionalID("environment_id", p.EnvironmentId)
	if perr != nil {
		errs = append(errs, perr.Fields...)
	}
	if envID != (ulid.ULID{}) && p.Activated == nil {
		errs = append(errs, plugboard.FieldError{Field: "activated", Message: "is required with environment_id"})
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid query parameters", errs...)
	}
	f := plugboard.EndUserFilter{Activated: p.Activated, EnvironmentID: envID}
	if p.Search != nil {
		f.Search = *p.Search
	}
	res, err := s.store.ListEndUsers(ctx, req.OrganisationId, f, page)
	if err != nil {
		return nil, err
	}
	out := api.EndUserPage{Users: []api.EndUser{}}
	out.TotalCount, out.Next, out.Prev = res.TotalCount, cursor(res.Next), cursor(res.Prev)
	for i := range res.Items {
		out.Users = append(out.Users, toAPIEndUser(&res.Items[i]))
	}
	return api.ListEndUsers200JSONResponse(out), nil
}

// findEndUser looks an end user up by Plugboard id first, then by external id.
func findEndUser(ctx context.Context, st plugboard.Store, orgID ulid.ULID, idOrExternal string) (*plugboard.EndUser, error) {
	if id, err := ulid.Parse(idOrExternal); err == nil {
		u, err := st.GetEndUser(ctx, orgID, id)
		if err == nil || !plugboard.IsCode(err, plugboard.ENotFound) {
			return u, err
		}
	}
	return st.GetEndUserByExternalID(ctx, orgID, idOrExternal)
}

// GetEndUser implements api.StrictServerInterface; user_id is the id or the external id.
func (s *Server) GetEndUser(ctx context.Context, req api.GetEndUserRequestObject) (api.GetEndUserResponseObject, error) {
	u, err := findEndUser(ctx, s.store, req.OrganisationId, req.UserId)
	if err != nil {
		return nil, err
	}
	return api.GetEndUser200JSONResponse(toAPIEndUser(u)), nil
}

// DeleteEndUser implements api.StrictServerInterface; user_id is the id or the external id. The
// end user's connections, their credentials and its activations go with it.
func (s *Server) DeleteEndUser(ctx context.Context, req api.DeleteEndUserRequestObject) (api.DeleteEndUserResponseObject, error) {
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		u, err := findEndUser(ctx, tx, req.OrganisationId, req.UserId)
		if err != nil {
			return err
		}
		deleted, err := tx.DeleteEndUser(ctx, req.OrganisationId, u.ID)
		if err != nil {
			return err
		}
		for _, d := range deleted.Connections {
			if err := s.events.EmitConnectionDeleted(ctx, tx, req.OrganisationId, d); err != nil {
				return err
			}
		}
		for i := range deleted.Activations {
			if err := s.emit(ctx, tx, events.ActivationEvent(events.ActivationDeleted, &deleted.Activations[i])); err != nil {
				return err
			}
		}
		return s.emit(ctx, tx, plugboard.Event{Type: events.EndUserDeleted, OrganisationID: req.OrganisationId, EndUserID: u.ID})
	})
	s.access.ForgetAll() // its connections are gone
	if err != nil {
		return nil, err
	}
	return api.DeleteEndUser204Response{}, nil
}

// Healthz implements api.StrictServerInterface: the process answers.
func (s *Server) Healthz(ctx context.Context, _ api.HealthzRequestObject) (api.HealthzResponseObject, error) {
	return api.Healthz200JSONResponse{Status: api.Ok}, nil
}

// Readyz implements api.StrictServerInterface: the store answers. Not ready is 503 unavailable
// whose details name each part's state, "store: unavailable[ since TIME]; keys: ok": the store
// is "ok" or "unavailable"; the keys are "ok" when the vault holds a key to seal with (serve
// has checked at start that its keys open every key id the store uses) and "missing" otherwise.
// The states never carry the driver's error, which can name hosts and users: the log has it.
func (s *Server) Readyz(ctx context.Context, _ api.ReadyzRequestObject) (api.ReadyzResponseObject, error) {
	if err := s.store.Ping(ctx); err != nil {
		store := "store: unavailable"
		var pe *plugboard.Error
		if errors.As(err, &pe) && strings.HasPrefix(pe.Details, "unavailable since ") {
			store = "store: " + pe.Details
		}
		keys := "keys: ok"
		if s.keys == nil || s.keys.PrimaryKeyID() == "" {
			keys = "keys: missing"
		}
		return nil, &plugboard.Error{Code: plugboard.EUnavailable, Message: "not ready: the store does not answer",
			Details: store + "; " + keys, Err: err}
	}
	return api.Readyz200JSONResponse{Status: api.Ok}, nil
}
