package connect

import (
	"context"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/trust"
)

// templateOffer reads a template, its system and the configs it offers. A missing template is a 404
// naming connectionTemplateId.
func (s *Service) templateOffer(ctx context.Context, st plugboard.Store, orgID, templateID ulid.ULID) (*plugboard.ConnectionTemplate, *plugboard.System, []api.AuthSchemeConfig, error) {
	t, err := st.GetTemplate(ctx, orgID, templateID)
	return s.offer(ctx, st, orgID, t, err)
}

// heldTemplateOffer is templateOffer inside tx, the transaction that writes a connection under the
// template: it holds the template until tx ends (ShareTemplate), so a change of the template (made
// static, say) either commits first and is seen here, or waits until the write has committed.
func (s *Service) heldTemplateOffer(ctx context.Context, tx plugboard.Store, orgID, templateID ulid.ULID) (*plugboard.ConnectionTemplate, *plugboard.System, []api.AuthSchemeConfig, error) {
	t, err := tx.ShareTemplate(ctx, orgID, templateID)
	return s.offer(ctx, tx, orgID, t, err)
}

// offer completes templateOffer and heldTemplateOffer from the template read (t, err).
func (s *Service) offer(ctx context.Context, st plugboard.Store, orgID ulid.ULID, t *plugboard.ConnectionTemplate, err error) (*plugboard.ConnectionTemplate, *plugboard.System, []api.AuthSchemeConfig, error) {
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, nil, nil, &plugboard.Error{Code: plugboard.ENotFound, Message: "connection template not found",
			Fields: []plugboard.FieldError{{Field: "connectionTemplateId", Message: "no such connection template"}}}
	} else if err != nil {
		return nil, nil, nil, err
	}
	sys, err := st.GetSystem(ctx, orgID, t.SystemID)
	if err != nil {
		return nil, nil, nil, err
	}
	offered, err := OfferedConfigs(sys, t)
	if err != nil {
		return nil, nil, nil, err
	}
	return t, sys, offered, nil
}

// OfferedConfigs returns the system's configs a template offers: those it names, in the order it
// names them, or all of the system's in the system's order.
func OfferedConfigs(sys *plugboard.System, t *plugboard.ConnectionTemplate) ([]api.AuthSchemeConfig, error) {
	byID := make(map[string]plugboard.AuthSchemeConfig, len(sys.AuthSchemeConfigs))
	for _, c := range sys.AuthSchemeConfigs {
		byID[c.ID] = c
	}
	picked := sys.AuthSchemeConfigs
	if len(t.AuthSchemeConfigIDs) > 0 {
		picked = nil
		for _, id := range t.AuthSchemeConfigIDs {
			if c, ok := byID[id]; ok {
				picked = append(picked, c)
			}
		}
	}
	out := make([]api.AuthSchemeConfig, 0, len(picked))
	for _, c := range picked {
		ac, err := PublicConfig(c)
		if err != nil {
			return nil, err
		}
		out = append(out, ac)
	}
	return out, nil
}

// SystemConfigs returns the system's configs in their public form, by id.
func SystemConfigs(sys *plugboard.System) (map[string]api.AuthSchemeConfig, error) {
	out := make(map[string]api.AuthSchemeConfig, len(sys.AuthSchemeConfigs))
	for _, c := range sys.AuthSchemeConfigs {
		ac, err := PublicConfig(c)
		if err != nil {
			return nil, err
		}
		out[c.ID] = ac
	}
	return out, nil
}

// CreateInput is a new connection. Its name, base URL and external id are already checked (the
// caller names their fields); its credentials are checked here.
type CreateInput struct {
	// TemplateID is the connection template (environment system) it is created under.
	TemplateID ulid.ULID
	Name       string
	// BaseURL is the normalised base URL; "" for the system's templateBaseUrl.
	BaseURL string
	// ExternalID names the end user the connection belongs to (created on first use); nil for a
	// static connection.
	ExternalID *string
	// EndUserID, when set, is the end user the connection belongs to (in place of ExternalID); the
	// template must be dynamic (the caller checks it).
	EndUserID ulid.ULID
	// Credentials are as the request sent them; CredentialsPath is their JSON path in it.
	Credentials     []api.ConnectionCredential
	CredentialsPath string
	// Caller is what the trust rule needs to know of whoever asks.
	Caller trust.Caller
	// session is the connect session the connection is made in; nil for an API request.
	session *plugboard.ConnectSession
}

// UpdateInput replaces a connection's name, base URL and credentials.
type UpdateInput struct {
	ConnectionID ulid.ULID
	Name         string
	// BaseURL is the normalised base URL; "" keeps the stored one.
	BaseURL string
	// Credentials replace the stored ones, in their order; a credential sent with its ids keeps
	// its stored secrets wherever a secret field is empty. CredentialsPath is their JSON path.
	Credentials     []api.ConnectionCredential
	CredentialsPath string
	Caller          trust.Caller
	// session is the connect session the connection is reconnected in; nil for an API request.
	session *plugboard.ConnectSession
}

// Result is a connection as stored, with its system as the transaction read it; At is the
// transaction's time (the clock its derived errors are computed at).
type Result struct {
	Connection *plugboard.Connection
	System     *plugboard.System
	At         time.Time
}

// staticTemplate refuses an end user's connection under a static template, whether the end user
// is named by external id (the API) or by id (a connect session).
func staticTemplate(t *plugboard.ConnectionTemplate, in CreateInput) error {
	switch {
	case t.Dynamic:
		return nil
	case in.ExternalID != nil:
		return plugboard.Invalid("invalid connection", plugboard.FieldError{Field: "externalId",
			Message: "the connection template is static; end-user connections need a dynamic template"})
	case in.EndUserID != (ulid.ULID{}):
		return errTemplateUnavailable()
	}
	return nil
}

// sessionMayUse refuses a connect session's connection under a template it may not use: one not
// (or no longer) dynamic, or of another environment than the session's.
func sessionMayUse(t *plugboard.ConnectionTemplate, cs *plugboard.ConnectSession) error {
	if !t.Dynamic || t.EnvironmentID != cs.EnvironmentID {
		return errTemplateUnavailable()
	}
	return nil
}

// errTemplateUnavailable refuses a connect session's connection under a template that no longer
// takes end users' connections (made static, moved or deleted since the session began).
func errTemplateUnavailable() error {
	return fieldErr("invalid connection", "templateId", "no longer takes end users' connections")
}

// CreateConnection validates every credential against the template's auth scheme configs,
// exchanges those that stand for a provider's tokens, seals the secrets and stores the connection
// (creating the end user named by ExternalID on first use, and the end user's activation in the
// template's environment when missing) in one transaction, with its events.
// Nothing is stored when anything fails.
func (s *Service) CreateConnection(ctx context.Context, orgID ulid.ULID, in CreateInput) (*Result, error) {
	// Provider exchanges happen before the transaction: they wait on the network, and a store
	// transaction (SQLite's write lock above all) must not.
	t, sys, offered, err := s.templateOffer(ctx, s.store, orgID, in.TemplateID)
	if err != nil {
		return nil, err
	}
	if err := staticTemplate(t, in); err != nil {
		return nil, err
	}
	creds, produced, err := s.exchangeCredentials(ctx, orgID, sys, in.Credentials, offered, in.CredentialsPath, nil, in.session)
	if err != nil {
		return nil, err
	}
	var out *Result
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		out, err = s.create(ctx, tx, orgID, in, creds, produced)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// create stores a connection whose credentials were exchanged (creds, produced) in tx, with its
// events: it reads the template again, prepares and seals the credentials, lets trust.Check rule,
// creates the end user named by ExternalID on first use, makes sure the end user is activated in
// the template's environment, and inserts the connection.
func (s *Service) create(ctx context.Context, tx plugboard.Store, orgID ulid.ULID, in CreateInput,
	creds []api.ConnectionCredential, produced map[int]bool) (*Result, error) {
	if in.session != nil {
		if err := s.sessionStillOpen(ctx, tx, in.session); err != nil {
			return nil, err
		}
	}
	// Read again inside the transaction, and held until it ends: the template may have changed
	// since the exchange, and must not change (made static, say) before this commits.
	t, sys, offered, err := s.heldTemplateOffer(ctx, tx, orgID, in.TemplateID)
	if err != nil {
		return nil, err
	}
	if err := staticTemplate(t, in); err != nil {
		return nil, err
	}
	now := s.timestamp()
	prepared, err := s.prepareCredentials(orgID, creds, offered, nil, in.CredentialsPath, now, produced, nil)
	if err != nil {
		return nil, err
	}
	// A new connection's own secrets are the request's; its configs' sealed secrets are not,
	// and go wherever its requests go.
	if err := trust.Check(in.Caller, configSecretMoves(sys, nil, "", effectiveBase(in.BaseURL, sys), bindings(prepared))...); err != nil {
		return nil, err
	}
	c := &plugboard.Connection{ID: newID(), OrganisationID: orgID, TemplateID: t.ID, SystemID: t.SystemID,
		Name: in.Name, BaseURL: in.BaseURL, Credentials: prepared, CreatedAt: now, UpdatedAt: now}
	if in.ExternalID != nil {
		u, err := tx.GetEndUserByExternalID(ctx, orgID, *in.ExternalID)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			u = &plugboard.EndUser{ID: newID(), OrganisationID: orgID, ExternalID: *in.ExternalID, CreatedAt: now, UpdatedAt: now}
			err = tx.CreateEndUser(ctx, u)
			if err == nil {
				err = s.events.Emit(ctx, tx, plugboard.Event{Type: events.EndUserCreated, OrganisationID: orgID, EndUserID: u.ID})
			}
		}
		if err != nil {
			return nil, err
		}
		c.EndUserID = u.ID
	}
	if in.EndUserID != (ulid.ULID{}) {
		c.EndUserID = in.EndUserID
	}
	if c.EndUserID != (ulid.ULID{}) {
		if _, err := s.activate(ctx, tx, orgID, t.EnvironmentID, c.EndUserID, nil); err != nil {
			return nil, err
		}
	}
	if err := tx.CreateConnection(ctx, c); err != nil {
		return nil, err
	}
	if err := s.events.Emit(ctx, tx, events.ConnectionEvent(events.ConnectionCreated, c)); err != nil {
		return nil, err
	}
	return &Result{Connection: c, System: sys, At: now}, nil
}

// UpdateConnection replaces a connection's name, base URL (when given) and credentials: it
// exchanges what stands for a provider's tokens first, then, in one transaction that re-reads the
// connection, validates and seals the credentials, lets trust.Check rule on every stored secret
// whose use changes, and stores the connection with its events. Nothing is stored when anything
// fails; the connection's opened credentials are forgotten either way.
func (s *Service) UpdateConnection(ctx context.Context, orgID ulid.ULID, in UpdateInput) (*Result, error) {
	current, err := s.store.GetConnection(ctx, orgID, in.ConnectionID)
	if err != nil {
		return nil, err
	}
	_, sys, offered, err := s.templateOffer(ctx, s.store, orgID, current.TemplateID)
	if err != nil {
		return nil, err
	}
	existing := current.Credentials
	if existing == nil {
		existing = []plugboard.ConnectionCredential{}
	}
	creds, produced, err := s.exchangeCredentials(ctx, orgID, sys, in.Credentials, offered, in.CredentialsPath, existing, in.session)
	if err != nil {
		return nil, err
	}
	var out Result
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		if in.session != nil {
			if err := s.sessionStillOpen(ctx, tx, in.session); err != nil {
				return err
			}
		}
		c, err := tx.GetConnection(ctx, orgID, in.ConnectionID)
		if err != nil {
			return err
		}
		if in.session != nil && c.EndUserID != in.session.EndUserID {
			return &plugboard.Error{Code: plugboard.ENotFound, Message: "connection not found",
				Fields: []plugboard.FieldError{{Field: "connectionId", Message: "is not one of your connections in this connect session"}}}
		}
		t, sys, offered, err := s.heldTemplateOffer(ctx, tx, orgID, c.TemplateID)
		if err != nil {
			return err
		}
		if in.session != nil {
			if err := sessionMayUse(t, in.session); err != nil {
				return err
			}
		}
		now := s.timestamp()
		existing := c.Credentials
		if existing == nil {
			existing = []plugboard.ConnectionCredential{}
		}
		configs, err := SystemConfigs(sys)
		if err != nil {
			return err
		}
		change := &connectionChange{oldBase: effectiveBase(c.BaseURL, sys), newBase: effectiveBase(c.BaseURL, sys),
			sys: sys, configs: configs, caller: in.Caller}
		if in.BaseURL != "" {
			change.newBase = in.BaseURL
		}
		prepared, err := s.prepareCredentials(orgID, creds, offered, existing, in.CredentialsPath, now, produced, change)
		if err != nil {
			return err
		}
		c.Name = in.Name
		if in.BaseURL != "" {
			c.BaseURL = in.BaseURL
		}
		c.Credentials = prepared
		c.UpdatedAt = now
		removed, err := tx.UpdateConnection(ctx, c)
		if err != nil {
			return err
		}
		for _, id := range removed {
			if err := s.events.Emit(ctx, tx, events.CredentialDeletedEvent(c.OrganisationID, c.ID, c.EndUserID, id, events.ReasonDeleted)); err != nil {
				return err
			}
		}
		if err := s.events.Emit(ctx, tx, events.ConnectionEvent(events.ConnectionUpdated, c)); err != nil {
			return err
		}
		out = Result{Connection: c, System: sys, At: now}
		return nil
	})
	if s.access != nil {
		s.access.Forget(orgID, in.ConnectionID)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}
