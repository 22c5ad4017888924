// Package systems is the systems use case: creating a system (from a request, an imported
// document or a catalogue entry), updating it and its auth scheme configs, importing a document
// into an existing system, and deleting. Each change validates what it is given (field errors
// name the request's JSON paths), binds the grants' client credentials, seals the configs'
// secrets, lets internal/trust rule on every stored secret that would move (moves.go), and writes
// its rows and events in one transaction: nothing is stored when anything fails. It knows nothing
// of HTTP: callers pass what a request says and render what comes back.
//
// Auth scheme configs travel as the API's type (api.AuthSchemeConfig), as in internal/connect:
// that is what internal/credentials validates and splits. Everything else is the domain's.
package systems

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/textcheck"
	"github.com/plugboard/plugboard/internal/trust"
	"github.com/plugboard/plugboard/internal/vault"
)

// Config is what a Service needs.
type Config struct {
	Store plugboard.Store
	// Keys seals the configs' secrets; a system without secrets (an imported one) needs none.
	Keys *vault.Vault
	// Connect binds the OAuth 2.0 grants' client credentials; one on Store, Keys and Events is
	// made when nil.
	Connect *connect.Service
	// Access is told to forget the connections it opened when a system's base URL or configs
	// change; nil when nothing opens connections (a command).
	Access *access.Service
	// Events writes each change's event in the change's transaction; one is made when nil.
	Events *events.Log
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Outbound fetches the OpenID Connect discovery documents an import names; when nil, the
	// import leaves such schemes out with a warning.
	Outbound *outbound.Client
}

// Service runs the systems use case on a store.
type Service struct {
	store    plugboard.Store
	keys     *vault.Vault
	connect  *connect.Service
	access   *access.Service
	events   *events.Log
	now      func() time.Time
	outbound *outbound.Client
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, keys: cfg.Keys, connect: cfg.Connect, access: cfg.Access, events: cfg.Events,
		now: cfg.Now, outbound: cfg.Outbound}
	if s.now == nil {
		s.now = time.Now
	}
	if s.events == nil {
		s.events = events.New(events.Options{Now: s.now})
	}
	if s.connect == nil {
		s.connect = connect.New(connect.Config{Store: cfg.Store, Keys: cfg.Keys, Access: cfg.Access, Events: s.events, Now: s.now})
	}
	return s
}

// timestamp returns the current time as the store keeps it: UTC, microsecond precision.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// forgetOpened drops the opened connections, which show their system's base URL and configs.
func (s *Service) forgetOpened() {
	if s.access != nil {
		s.access.ForgetAll()
	}
}

// CreateInput is a system to create.
type CreateInput struct {
	Name            string
	Domain          string
	TemplateBaseURL string
	Labels          map[string]string
	// AuthSchemeConfigs are as the request sent them (secrets included); their JSON path is
	// authSchemeConfigs[i]. Presets are expanded and grants bound in place.
	AuthSchemeConfigs []api.AuthSchemeConfig
	// Caller is what the trust rule needs to know of whoever asks.
	Caller trust.Caller
}

// FromAPI is the system an API request, an imported document or a catalogue entry describes, to
// create.
func FromAPI(b api.SystemCreate, c trust.Caller) CreateInput {
	return CreateInput{Name: b.Name, Domain: b.Domain, TemplateBaseURL: b.TemplateBaseUrl, Labels: b.Labels,
		AuthSchemeConfigs: b.AuthSchemeConfigs, Caller: c}
}

// Create validates in and creates the system in one transaction, with its event: the configs'
// grants bound, their secrets sealed, trust.Check ruling on the credentials the configs name.
func (s *Service) Create(ctx context.Context, orgID ulid.ULID, in CreateInput) (*plugboard.System, error) {
	var errs []plugboard.FieldError
	errs = textcheck.Name("name", in.Name, errs)
	errs = checkTemplateBaseURL("templateBaseUrl", in.TemplateBaseURL, errs)
	seen := map[string]bool{}
	for i := range in.AuthSchemeConfigs {
		// A preset's fields are stored complete, so clients that do not know presets see them.
		credentials.ExpandPreset(&in.AuthSchemeConfigs[i])
	}
	for i, c := range in.AuthSchemeConfigs {
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
	sys := &plugboard.System{ID: ulid.Make(), OrganisationID: orgID, Name: in.Name, Domain: in.Domain,
		TemplateBaseURL: in.TemplateBaseURL, Labels: in.Labels, CreatedAt: now, UpdatedAt: now}
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		var moves []trust.Move
		for i, c := range in.AuthSchemeConfigs {
			kept, err := s.connect.BindGrantCredential(ctx, tx, orgID, sys.ID, &c, fmt.Sprintf("authSchemeConfigs[%d]", i))
			if err != nil {
				return err
			}
			m, err := configMoves(ctx, tx, orgID, sys.ID, nil, nil, c, nil, kept, in.Caller)
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
		if err := trust.Check(in.Caller, moves...); err != nil {
			return err
		}
		if err := tx.CreateSystem(ctx, sys); err != nil {
			return err
		}
		return s.events.Emit(ctx, tx, plugboard.Event{Type: events.SystemCreated, OrganisationID: sys.OrganisationID, SystemID: sys.ID})
	})
	if err != nil {
		return nil, err
	}
	return sys, nil
}

// UpdateInput changes a system's fields; nil ones keep their values.
type UpdateInput struct {
	Name            *string
	Domain          *string
	TemplateBaseURL *string
	Caller          trust.Caller
}

// Update changes the system's fields in one transaction, with its event. A new templateBaseUrl
// moves the secrets of the connections that follow it, if trust.Check allows.
func (s *Service) Update(ctx context.Context, orgID, systemID ulid.ULID, in UpdateInput) (*plugboard.System, error) {
	var errs []plugboard.FieldError
	if in.Name != nil {
		errs = textcheck.Name("name", *in.Name, errs)
	}
	if in.TemplateBaseURL != nil {
		errs = checkTemplateBaseURL("templateBaseUrl", *in.TemplateBaseURL, errs)
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid system", errs...)
	}
	var sys *plugboard.System
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		var err error
		sys, err = tx.GetSystem(ctx, orgID, systemID)
		if err != nil {
			return err
		}
		if in.Name != nil {
			sys.Name = *in.Name
		}
		if in.Domain != nil {
			sys.Domain = *in.Domain
		}
		if in.TemplateBaseURL != nil {
			if err := moveSystemBase(ctx, tx, sys, *in.TemplateBaseURL, in.Caller); err != nil {
				return err
			}
		}
		sys.UpdatedAt = s.timestamp()
		if err := tx.UpdateSystem(ctx, sys); err != nil {
			return err
		}
		return s.events.Emit(ctx, tx, plugboard.Event{Type: events.SystemUpdated, OrganisationID: sys.OrganisationID, SystemID: sys.ID})
	})
	if err != nil {
		return nil, err
	}
	s.forgetOpened()
	return sys, nil
}

// Delete deletes the system with the grant credentials its configs created, in one transaction
// (a refused delete keeps them all), with its event.
func (s *Service) Delete(ctx context.Context, orgID, systemID ulid.ULID) error {
	return s.store.InTx(ctx, func(tx plugboard.Store) error {
		sys, err := tx.GetSystem(ctx, orgID, systemID)
		if err != nil {
			return err
		}
		if err := tx.DeleteSystem(ctx, orgID, systemID); err != nil {
			return err
		}
		for _, c := range sys.AuthSchemeConfigs {
			if err := connect.DeleteGrantCredential(ctx, tx, orgID, sys.ID, c); err != nil {
				return err
			}
		}
		return s.events.Emit(ctx, tx, plugboard.Event{Type: events.SystemDeleted, OrganisationID: sys.OrganisationID, SystemID: sys.ID})
	})
}

// UpsertConfig adds or updates the system's config configID, as stored. Secret fields sent empty
// keep the stored secret, so a client can send back what it read.
func (s *Service) UpsertConfig(ctx context.Context, orgID, systemID ulid.ULID, configID string, cfg api.AuthSchemeConfig,
	caller trust.Caller) (plugboard.AuthSchemeConfig, error) {
	// A preset's fields are stored complete, so clients that do not know presets see them.
	credentials.ExpandPreset(&cfg)
	if id := credentials.ConfigID(cfg); id != "" && id != configID {
		return plugboard.AuthSchemeConfig{}, plugboard.Invalid("invalid auth scheme config",
			plugboard.FieldError{Field: memberName(cfg.Type) + ".id", Message: "must equal the id in the path"})
	}
	var stored plugboard.AuthSchemeConfig
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		sys, err := tx.GetSystem(ctx, orgID, systemID)
		if err != nil {
			return err
		}
		stored, err = s.upsertConfig(ctx, tx, sys, cfg, caller)
		return err
	})
	if err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	s.forgetOpened()
	return stored, nil
}

// upsertConfig adds or updates one config of sys in tx (whose id it holds), with its event.
// Secret fields sent empty keep the stored secret; trust.Check rules on every secret that would
// move.
func (s *Service) upsertConfig(ctx context.Context, tx plugboard.Store, sys *plugboard.System, cfg api.AuthSchemeConfig,
	caller trust.Caller) (plugboard.AuthSchemeConfig, error) {
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
		p, err := connect.PublicConfig(old)
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
	moves, err := configMoves(ctx, tx, sys.OrganisationID, sys.ID, previous, grantFrom, cfg, keptConfig, keptGrant, caller)
	if err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	if err := trust.Check(caller, moves...); err != nil {
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
	if err := s.events.Emit(ctx, tx, plugboard.Event{Type: events.SystemUpdated, OrganisationID: sys.OrganisationID, SystemID: sys.ID,
		AuthSchemeConfigID: stored.ID, Data: events.Data("authSchemeConfig", change)}); err != nil {
		return plugboard.AuthSchemeConfig{}, err
	}
	return stored, nil
}

// DeleteConfig deletes the system's config configID with the grant credential it created, in
// one transaction (a refused delete keeps both), with its event.
func (s *Service) DeleteConfig(ctx context.Context, orgID, systemID ulid.ULID, configID string) error {
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		sys, err := tx.GetSystem(ctx, orgID, systemID)
		if err != nil {
			return err
		}
		if err := tx.DeleteAuthSchemeConfig(ctx, orgID, systemID, configID); err != nil {
			return err
		}
		for _, c := range sys.AuthSchemeConfigs {
			if c.ID == configID {
				if err := connect.DeleteGrantCredential(ctx, tx, orgID, sys.ID, c); err != nil {
					return err
				}
			}
		}
		return s.events.Emit(ctx, tx, plugboard.Event{Type: events.SystemUpdated, OrganisationID: sys.OrganisationID, SystemID: sys.ID,
			AuthSchemeConfigID: configID, Data: events.Data("authSchemeConfig", "deleted")})
	})
	if err != nil {
		return err
	}
	s.forgetOpened()
	return nil
}

// sealConfig validates nothing; it splits a config into its stored form, sealing the secrets.
func (s *Service) sealConfig(orgID, systemID ulid.ULID, cfg api.AuthSchemeConfig) (plugboard.AuthSchemeConfig, error) {
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
