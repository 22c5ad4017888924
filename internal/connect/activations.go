package connect

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/trust"
)

// ActivationInput activates an end user in an environment.
type ActivationInput struct {
	// UserID is the end user's id or external id; an unknown one creates the end user with it as
	// external id (the caller checked it as one).
	UserID        string
	EnvironmentID ulid.ULID
	Entries       []ActivationEntry
	// DynamicVariables, a JSON object, replace the activation's when not nil.
	DynamicVariables json.RawMessage
	Caller           trust.Caller
}

// ActivationEntry is one connection of an activation: one to create (Create) or an existing
// connection of the end user to link (ExistingConnectionID), under a template of the environment.
type ActivationEntry struct {
	TemplateID ulid.ULID
	// Create is the connection to create: its name and base URL checked by the caller, its
	// credentials here (CredentialsPath names them, e.g. "connections[0].connection.credentials").
	// Its TemplateID, ExternalID, EndUserID and Caller are set by Activate.
	Create               *CreateInput
	ExistingConnectionID ulid.ULID
	// Path is the entry's JSON path, e.g. "connections[0]"; field errors name fields under it.
	Path string
}

// activate makes sure the end user is activated in the environment, emitting activation.created
// when it was not; vars, when not nil, replace the activation's dynamic variables.
func (s *Service) activate(ctx context.Context, tx plugboard.Store, orgID, envID, userID ulid.ULID, vars json.RawMessage) (*plugboard.Activation, error) {
	now := s.timestamp()
	a := &plugboard.Activation{ID: newID(), OrganisationID: orgID, EnvironmentID: envID, EndUserID: userID,
		DynamicVariables: vars, CreatedAt: now, UpdatedAt: now}
	created, err := tx.EnsureActivation(ctx, a)
	if err != nil {
		return nil, err
	}
	if created {
		if err := s.events.Emit(ctx, tx, events.ActivationEvent(events.ActivationCreated, a)); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// fieldErr is a 400 naming one field.
func fieldErr(msg, field, fieldMsg string) *plugboard.Error {
	return plugboard.Invalid(msg, plugboard.FieldError{Field: field, Message: fieldMsg})
}

// activationTemplate reads an entry's template and checks that it is a dynamic template of the
// environment; errors name the entry's connectionTemplateId.
func activationTemplate(ctx context.Context, st plugboard.Store, orgID, envID ulid.ULID, e ActivationEntry) (*plugboard.ConnectionTemplate, error) {
	field := e.Path + ".connectionTemplateId"
	t, err := st.GetTemplate(ctx, orgID, e.TemplateID)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, &plugboard.Error{Code: plugboard.ENotFound, Message: "connection template not found",
			Fields: []plugboard.FieldError{{Field: field, Message: "no such connection template"}}}
	} else if err != nil {
		return nil, err
	}
	if t.EnvironmentID != envID {
		return nil, fieldErr("invalid activation", field, "the connection template is not in the environment environmentId names")
	}
	if !t.Dynamic {
		return nil, fieldErr("invalid activation", field, "the connection template is static; activations hold end users' connections, under dynamic templates")
	}
	return t, nil
}

// Activate activates an end user in an environment with the entries' connections, in one
// transaction: the end user (created on first use), the activation (created when missing), each
// connection created (as CreateConnection would) or linked, and their events. Provider exchanges
// of the connections to create run first, outside it. Nothing is stored when anything fails.
func (s *Service) Activate(ctx context.Context, orgID ulid.ULID, in ActivationInput) (*plugboard.Activation, error) {
	if _, err := s.store.GetEnvironment(ctx, orgID, in.EnvironmentID); plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, &plugboard.Error{Code: plugboard.ENotFound, Message: "environment not found",
			Fields: []plugboard.FieldError{{Field: "environmentId", Message: "no such environment"}}}
	} else if err != nil {
		return nil, err
	}
	seen := map[ulid.ULID]bool{}
	type exchanged struct {
		creds    []api.ConnectionCredential
		produced map[int]bool
	}
	pending := make([]exchanged, len(in.Entries))
	for i, e := range in.Entries {
		if seen[e.TemplateID] {
			return nil, fieldErr("invalid activation", e.Path+".connectionTemplateId", "names a connection template an earlier entry names")
		}
		seen[e.TemplateID] = true
		if e.Create == nil {
			continue
		}
		t, err := activationTemplate(ctx, s.store, orgID, in.EnvironmentID, e)
		if err != nil {
			return nil, err
		}
		_, sys, offered, err := s.templateOffer(ctx, s.store, orgID, t.ID)
		if err != nil {
			return nil, err
		}
		creds, produced, err := s.exchangeCredentials(ctx, orgID, sys, e.Create.Credentials, offered, e.Create.CredentialsPath, nil, nil)
		if err != nil {
			return nil, err
		}
		pending[i] = exchanged{creds, produced}
	}
	var out *plugboard.Activation
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		u, err := s.endUser(ctx, tx, orgID, in.UserID)
		if err != nil {
			return err
		}
		a, err := s.activate(ctx, tx, orgID, in.EnvironmentID, u.ID, in.DynamicVariables)
		if err != nil {
			return err
		}
		for i, e := range in.Entries {
			t, err := activationTemplate(ctx, tx, orgID, in.EnvironmentID, e)
			if err != nil {
				return err
			}
			if _, err := tx.GetActivationConnection(ctx, orgID, a.ID, t.ID); err == nil {
				return &plugboard.Error{Code: plugboard.EConflict, Message: "the activation already has a connection for this connection template",
					Fields: []plugboard.FieldError{{Field: e.Path + ".connectionTemplateId", Message: "the activation has a connection for it already; delete that connection first"}}}
			} else if !plugboard.IsCode(err, plugboard.ENotFound) {
				return err
			}
			if e.Create != nil {
				create := *e.Create
				create.TemplateID, create.ExternalID, create.EndUserID, create.Caller = t.ID, nil, u.ID, in.Caller
				if _, err := s.create(ctx, tx, orgID, create, pending[i].creds, pending[i].produced); err != nil {
					return err
				}
				continue
			}
			if err := s.link(ctx, tx, orgID, u.ID, t, e); err != nil {
				return err
			}
		}
		out, err = tx.GetActivation(ctx, orgID, a.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// endUser finds the end user by id or external id, or creates one with userID as external id.
func (s *Service) endUser(ctx context.Context, tx plugboard.Store, orgID ulid.ULID, userID string) (*plugboard.EndUser, error) {
	if id, err := ulid.Parse(userID); err == nil {
		u, err := tx.GetEndUser(ctx, orgID, id)
		if err == nil || !plugboard.IsCode(err, plugboard.ENotFound) {
			return u, err
		}
	}
	u, err := tx.GetEndUserByExternalID(ctx, orgID, userID)
	if !plugboard.IsCode(err, plugboard.ENotFound) {
		return u, err
	}
	now := s.timestamp()
	u = &plugboard.EndUser{ID: newID(), OrganisationID: orgID, ExternalID: userID, CreatedAt: now, UpdatedAt: now}
	if err := tx.CreateEndUser(ctx, u); err != nil {
		return nil, err
	}
	return u, s.events.Emit(ctx, tx, plugboard.Event{Type: events.EndUserCreated, OrganisationID: orgID, EndUserID: u.ID})
}

// link links an existing connection of the end user, of the template's system, to the template.
func (s *Service) link(ctx context.Context, tx plugboard.Store, orgID, userID ulid.ULID, t *plugboard.ConnectionTemplate, e ActivationEntry) error {
	field := e.Path + ".existingConnectionId"
	if e.ExistingConnectionID == (ulid.ULID{}) {
		return fieldErr("invalid activation", e.Path, "needs connection or existingConnectionId")
	}
	c, err := tx.GetConnection(ctx, orgID, e.ExistingConnectionID)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return &plugboard.Error{Code: plugboard.ENotFound, Message: "connection not found",
			Fields: []plugboard.FieldError{{Field: field, Message: "no such connection"}}}
	} else if err != nil {
		return err
	}
	switch {
	case c.EndUserID == (ulid.ULID{}):
		return fieldErr("invalid activation", field, "is a static connection; an activation holds its end user's connections")
	case c.EndUserID != userID:
		return fieldErr("invalid activation", field, "is a connection of another end user")
	case c.SystemID != t.SystemID:
		return fieldErr("invalid activation", field, "is a connection to another system than the connection template's")
	}
	if err := tx.LinkConnection(ctx, orgID, c.ID, t.ID); err != nil {
		if plugboard.IsCode(err, plugboard.EConflict) {
			return &plugboard.Error{Code: plugboard.EConflict, Message: fmt.Sprintf("connection %s is already linked to the connection template", c.ID),
				Fields: []plugboard.FieldError{{Field: field, Message: "is linked to the connection template already"}}}
		}
		return err
	}
	ev := events.ConnectionEvent(events.ConnectionUpdated, c)
	ev.TemplateID, ev.Data = t.ID, events.Data("link", "created")
	return s.events.Emit(ctx, tx, ev)
}
