package httpapi

import (
	"context"
	"fmt"
	"net/url"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/trust"
)

// sealConfig validates nothing; it splits a config into its stored form, sealing the secrets.
func (s *Server) sealConfig(orgID, systemID ulid.ULID, cfg api.AuthSchemeConfig) (plugboard.AuthSchemeConfig, error) {
	id := credentials.ConfigID(cfg)
	public, secrets, err := credentials.SplitAuthSchemeConfig(cfg)
	if err != nil {
		return plugboard.AuthSchemeConfig{}, plugboard.Internal(fmt.Errorf("split auth scheme config: %w", err))
	}
	out := plugboard.AuthSchemeConfig{ID: id, Type: string(cfg.Type), Config: public}
	if secrets != nil {
		if out.Sealed, err = s.keys.SealConfig(orgID, systemID, id, secrets); err != nil {
			return out, err
		}
	}
	return out, nil
}

func checkTemplateBaseURL(field, v string, errs []plugboard.FieldError) []plugboard.FieldError {
	if v == "" {
		return errs
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return append(errs, plugboard.FieldError{Field: field, Message: "must be an absolute http or https URL"})
	}
	return append(errs, credentials.CheckURLUserinfo(field, v)...)
}

// CreateSystem implements api.StrictServerInterface.
func (s *Server) CreateSystem(ctx context.Context, req api.CreateSystemRequestObject) (api.CreateSystemResponseObject, error) {
	if req.Body == nil {
		return nil, bodyRequired()
	}
	sys, err := s.createSystem(ctx, req.OrganisationId, *req.Body)
	if err != nil {
		return nil, err
	}
	out, err := toAPISystem(sys)
	if err != nil {
		return nil, err
	}
	return api.CreateSystem201JSONResponse(out), nil
}

// createSystem validates b and creates the system in one transaction, with its event; the
// import creates through it too.
func (s *Server) createSystem(ctx context.Context, orgID ulid.ULID, b api.SystemCreate) (*plugboard.System, error) {
	var errs []plugboard.FieldError
	errs = checkName("name", b.Name, errs)
	errs = checkTemplateBaseURL("templateBaseUrl", b.TemplateBaseUrl, errs)
	seen := map[string]bool{}
	for i := range b.AuthSchemeConfigs {
		// A preset's fields are stored complete, so clients that do not know presets see them.
		credentials.ExpandPreset(&b.AuthSchemeConfigs[i])
	}
	for i, c := range b.AuthSchemeConfigs {
		path := fmt.Sprintf("authSchemeConfigs[%d]", i)
		errs = append(errs, credentials.ValidateAuthSchemeConfig(c, path)...)
		if id := credentials.ConfigID(c); id != "" {
			if seen[id] {
				errs = append(errs, plugboard.FieldError{Field: path, Message: fmt.Sprintf("duplicates the id %q of an earlier config", id)})
			}
			seen[id] = true
		}
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid system", errs...)
	}
	now := s.timestamp()
	sys := &plugboard.System{ID: newID(), OrganisationID: orgID, Name: b.Name, Domain: b.Domain,
		TemplateBaseURL: b.TemplateBaseUrl, Labels: b.Labels, CreatedAt: now, UpdatedAt: now}
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		var moves []trust.Move
		for i, c := range b.AuthSchemeConfigs {
			kept, err := s.connect.BindGrantCredential(ctx, tx, orgID, sys.ID, &c, fmt.Sprintf("authSchemeConfigs[%d]", i))
			if err != nil {
				return err
			}
			m, err := s.configMoves(ctx, tx, orgID, sys.ID, nil, nil, c, nil, kept, s.caller(ctx))
			if err != nil {
				return err
			}
			moves = append(moves, m...)
			sc, err := s.sealConfig(orgID, sys.ID, c)
			if err != nil {
				return err
			}
			sys.AuthSchemeConfigs = append(sys.AuthSchemeConfigs, sc)
		}
		if err := trust.Check(s.caller(ctx), moves...); err != nil {
			return err
		}
		if err := tx.CreateSystem(ctx, sys); err != nil {
			return err
		}
		return s.emit(ctx, tx, plugboard.Event{Type: events.SystemCreated, OrganisationID: sys.OrganisationID, SystemID: sys.ID})
	})
	if err != nil {
		return nil, err
	}
	return sys, nil
}

// ListSystems implements api.StrictServerInterface.
func (s *Server) ListSystems(ctx context.Context, req api.ListSystemsRequestObject) (api.ListSystemsResponseObject, error) {
	p := req.Params
	page, errs := parsePage(p.First, p.After, p.Before)
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid query parameters", errs...)
	}
	search := ""
	if p.Search != nil {
		search = *p.Search
	}
	res, err := s.store.ListSystems(ctx, req.OrganisationId, search, page)
	if err != nil {
		return nil, err
	}
	out := api.SystemPage{Items: []api.System{}, TotalCount: res.TotalCount, Next: cursor(res.Next), Prev: cursor(res.Prev)}
	for i := range res.Items {
		sys, err := toAPISystem(&res.Items[i])
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, sys)
	}
	return api.ListSystems200JSONResponse(out), nil
}

// GetSystem implements api.StrictServerInterface.
func (s *Server) GetSystem(ctx context.Context, req api.GetSystemRequestObject) (api.GetSystemResponseObject, error) {
	sys, err := s.store.GetSystem(ctx, req.OrganisationId, req.SystemId)
	if err != nil {
		return nil, err
	}
	out, err := toAPISystem(sys)
	if err != nil {
		return nil, err
	}
	return api.GetSystem200JSONResponse(out), nil
}

// UpdateSystem implements api.StrictServerInterface. Fields left out keep their values.
func (s *Server) UpdateSystem(ctx context.Context, req api.UpdateSystemRequestObject) (api.UpdateSystemResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	var errs []plugboard.FieldError
	if b.Name != nil {
		errs = checkName("name", *b.Name, errs)
	}
	if b.TemplateBaseUrl != nil {
		errs = checkTemplateBaseURL("templateBaseUrl", *b.TemplateBaseUrl, errs)
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid system", errs...)
	}
	var sys *plugboard.System
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		var err error
		sys, err = tx.GetSystem(ctx, req.OrganisationId, req.SystemId)
		if err != nil {
			return err
		}
		if b.Name != nil {
			sys.Name = *b.Name
		}
		if b.Domain != nil {
			sys.Domain = *b.Domain
		}
		if b.TemplateBaseUrl != nil {
			if err := s.moveSystemBase(ctx, tx, sys, *b.TemplateBaseUrl); err != nil {
				return err
			}
		}
		sys.UpdatedAt = s.timestamp()
		if err := tx.UpdateSystem(ctx, sys); err != nil {
			return err
		}
		return s.emit(ctx, tx, plugboard.Event{Type: events.SystemUpdated, OrganisationID: sys.OrganisationID, SystemID: sys.ID})
	})
	if err != nil {
		return nil, err
	}
	s.access.ForgetAll() // connections show their system's base URL and configs
	out, err := toAPISystem(sys)
	if err != nil {
		return nil, err
	}
	return api.UpdateSystem201JSONResponse(out), nil
}

// moveSystemBase sets the system's templateBaseUrl, if trust.Check allows: connections without a
// base URL of their own follow the system's, so their secrets move.
func (s *Server) moveSystemBase(ctx context.Context, tx plugboard.Store, sys *plugboard.System, base string) error {
	from, to := trust.Use{Origin: credentials.Origin(sys.TemplateBaseURL)}, trust.Use{Origin: credentials.Origin(base)}
	if c := s.caller(ctx); from != to && !c.MayRead {
		m, err := systemSecretsMove(ctx, tx, sys.OrganisationID, sys.ID, "the secrets of connections that use the system's templateBaseUrl",
			from, to, func(c *plugboard.Connection, _ *plugboard.ConnectionCredential) bool { return c.BaseURL == "" })
		if err != nil {
			return err
		}
		if m != nil {
			if err := trust.Check(c, *m); err != nil {
				return err
			}
		}
	}
	sys.TemplateBaseURL = base
	return nil
}

// DeleteSystem implements api.StrictServerInterface.
func (s *Server) DeleteSystem(ctx context.Context, req api.DeleteSystemRequestObject) (api.DeleteSystemResponseObject, error) {
	// The configs' grant credentials go in the same transaction: a refused delete keeps them all.
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		sys, err := tx.GetSystem(ctx, req.OrganisationId, req.SystemId)
		if err != nil {
			return err
		}
		if err := tx.DeleteSystem(ctx, req.OrganisationId, req.SystemId); err != nil {
			return err
		}
		for _, c := range sys.AuthSchemeConfigs {
			if err := connect.DeleteGrantCredential(ctx, tx, req.OrganisationId, sys.ID, c); err != nil {
				return err
			}
		}
		return s.emit(ctx, tx, plugboard.Event{Type: events.SystemDeleted, OrganisationID: sys.OrganisationID, SystemID: sys.ID})
	})
	if err != nil {
		return nil, err
	}
	return api.DeleteSystem204Response{}, nil
}

// UpsertAuthSchemeConfig implements api.StrictServerInterface. Secret fields sent empty keep the
// stored secret, so a client can PUT back what it read.
func (s *Server) UpsertAuthSchemeConfig(ctx context.Context, req api.UpsertAuthSchemeConfigRequestObject) (api.UpsertAuthSchemeConfigResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	cfg := *b
	// A preset's fields are stored complete, so clients that do not know presets see them.
	credentials.ExpandPreset(&cfg)
	if id := credentials.ConfigID(cfg); id != "" && id != req.AuthSchemeConfigId {
		return nil, plugboard.Invalid("invalid auth scheme config",
			plugboard.FieldError{Field: memberName(cfg.Type) + ".id", Message: "must equal the id in the path"})
	}
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		sys, err := tx.GetSystem(ctx, req.OrganisationId, req.SystemId)
		if err != nil {
			return err
		}
		stored, err := s.upsertConfig(ctx, tx, sys, cfg)
		if err != nil {
			return err
		}
		cfg, err = publicConfig(stored)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.access.ForgetAll()
	return api.UpsertAuthSchemeConfig201JSONResponse(cfg), nil
}

// upsertConfig adds or updates one config of sys in tx (whose id it holds), with its event.
// Secret fields sent empty keep the stored secret; trust.Check rules on every secret that would
// move.
func (s *Server) upsertConfig(ctx context.Context, tx plugboard.Store, sys *plugboard.System, cfg api.AuthSchemeConfig) (plugboard.AuthSchemeConfig, error) {
	id := credentials.ConfigID(cfg)
	// Fill secrets sent empty from the stored config first, so that validation sees them.
	var (
		previous       *api.AuthSchemeConfig
		previousStored plugboard.AuthSchemeConfig
		keptConfig     []string
	)
	for _, old := range sys.AuthSchemeConfigs {
		if old.ID == id && old.Type != string(cfg.Type) {
			// Credentials stored for the config were checked against its type; a new type
			// would leave them unusable. A config of another type needs an id of its own.
			return plugboard.AuthSchemeConfig{}, plugboard.Errorf(plugboard.EConflict,
				"auth scheme config %q is of type %s; delete it and add one of type %s, or use another id", old.ID, old.Type, cfg.Type)
		}
		if old.ID != id {
			continue
		}
		p, err := publicConfig(old)
		if err != nil {
			return plugboard.AuthSchemeConfig{}, err
		}
		previous, previousStored = &p, old
		if old.Sealed == nil {
			continue
		}
		secrets, err := s.keys.OpenConfig(sys.OrganisationID, sys.ID, old.ID, old.Sealed)
		if err != nil {
			return plugboard.AuthSchemeConfig{}, err
		}
		if keptConfig, err = connect.KeptConfigSecrets(cfg, secrets, ""); err != nil {
			return plugboard.AuthSchemeConfig{}, err
		}
		if err := credentials.KeepAuthSchemeConfigSecrets(&cfg, secrets); err != nil {
			return plugboard.AuthSchemeConfig{}, plugboard.Internal(err)
		}
	}
	if errs := credentials.ValidateAuthSchemeConfig(cfg, ""); len(errs) > 0 {
		return plugboard.AuthSchemeConfig{}, plugboard.Invalid("invalid auth scheme config", errs...)
	}
	keptGrant, err := s.connect.BindGrantCredential(ctx, tx, sys.OrganisationID, sys.ID, &cfg, "")
	if err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	// A grant credential other than the one the config names now comes from nowhere: its
	// secret was never this config's to send (it may be one the config used to name before
	// its token URL moved). The one it replaces goes, in this transaction.
	grantFrom := previous
	if previous != nil && connect.GrantCredentialID(previous) != connect.GrantCredentialID(&cfg) {
		grantFrom = nil
		if err := connect.DeleteGrantCredential(ctx, tx, sys.OrganisationID, sys.ID, previousStored); err != nil {
			return plugboard.AuthSchemeConfig{}, err
		}
	}
	moves, err := s.configMoves(ctx, tx, sys.OrganisationID, sys.ID, previous, grantFrom, cfg, keptConfig, keptGrant, s.caller(ctx))
	if err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	if err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	if err := trust.Check(s.caller(ctx), moves...); err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	stored, err := s.sealConfig(sys.OrganisationID, sys.ID, cfg)
	if err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	created, err := tx.UpsertAuthSchemeConfig(ctx, sys.OrganisationID, sys.ID, stored)
	if err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	change := "updated"
	if created {
		change = "created"
	}
	if err := s.emit(ctx, tx, plugboard.Event{Type: events.SystemUpdated, OrganisationID: sys.OrganisationID, SystemID: sys.ID,
		AuthSchemeConfigID: stored.ID, Data: eventData("authSchemeConfig", change)}); err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	return stored, nil
}

// DeleteAuthSchemeConfig implements api.StrictServerInterface.
func (s *Server) DeleteAuthSchemeConfig(ctx context.Context, req api.DeleteAuthSchemeConfigRequestObject) (api.DeleteAuthSchemeConfigResponseObject, error) {
	// The config's grant credential goes in the same transaction: a refused delete keeps both.
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		sys, err := tx.GetSystem(ctx, req.OrganisationId, req.SystemId)
		if err != nil {
			return err
		}
		if err := tx.DeleteAuthSchemeConfig(ctx, req.OrganisationId, req.SystemId, req.AuthSchemeConfigId); err != nil {
			return err
		}
		for _, c := range sys.AuthSchemeConfigs {
			if c.ID == req.AuthSchemeConfigId {
				if err := connect.DeleteGrantCredential(ctx, tx, req.OrganisationId, sys.ID, c); err != nil {
					return err
				}
			}
		}
		return s.emit(ctx, tx, plugboard.Event{Type: events.SystemUpdated, OrganisationID: sys.OrganisationID, SystemID: sys.ID,
			AuthSchemeConfigID: req.AuthSchemeConfigId, Data: eventData("authSchemeConfig", "deleted")})
	})
	if err != nil {
		return nil, err
	}
	s.access.ForgetAll()
	return api.DeleteAuthSchemeConfig204Response{}, nil
}

// memberName returns the JSON name of the AuthSchemeConfig member for a scheme type.
func memberName(t api.AuthSchemeType) string {
	switch t {
	case api.AuthSchemeTypeApiKey:
		return "apiKey"
	case api.AuthSchemeTypeBasicAuth:
		return "basicAuth"
	case api.AuthSchemeTypeJwtBearer:
		return "jwtBearer"
	}
	return string(t)
}
