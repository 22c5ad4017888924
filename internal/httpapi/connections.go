package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/trust"
)

// openCredential returns the full data of a stored credential.
func (s *Server) openCredential(c *plugboard.Credential) (api.CredentialData, error) {
	return access.OpenCredential(s.keys, c)
}

// systemConfigs returns the system's configs in their public form, by id.
func systemConfigs(sys *plugboard.System) (map[string]api.AuthSchemeConfig, error) {
	out := make(map[string]api.AuthSchemeConfig, len(sys.AuthSchemeConfigs))
	for _, c := range sys.AuthSchemeConfigs {
		ac, err := publicConfig(c)
		if err != nil {
			return nil, err
		}
		out[c.ID] = ac
	}
	return out, nil
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

// prepareCredentials validates the credentials of a create or update against the configs the
// template offers, and returns them sealed and ready to store. existing holds the connection's
// current credentials on update: a credential whose id matches one of them keeps its ids, and its
// empty secret fields keep the stored secrets. prefix is the JSON path of the credentials array.
//
// produced marks, by index, credentials this server made from a provider exchange: they are stored
// as they are, without the checks a client's credential gets.
//
// change, set on update, says where the connection's requests went and will go: a credential
// that keeps a stored secret while its Use changes is a move that trust.Check rules on.
func (s *Server) prepareCredentials(orgID ulid.ULID, in []api.ConnectionCredential, offered []api.AuthSchemeConfig,
	existing []plugboard.ConnectionCredential, prefix string, now time.Time, produced map[int]bool, change *connectionChange) ([]plugboard.ConnectionCredential, error) {
	var errs []plugboard.FieldError
	if len(in) == 0 {
		errs = append(errs, plugboard.FieldError{Field: prefix, Message: "at least one credential is required"})
	}
	type prepared struct {
		cc     api.ConnectionCredential
		cfg    *api.AuthSchemeConfig
		old    *plugboard.ConnectionCredential
		fields []plugboard.FieldError
		// kept are the JSON paths of the stored secrets the credential keeps.
		kept []string
	}
	items := make([]prepared, len(in))
	usedIDs := map[ulid.ULID]bool{}
	for i, cc := range in {
		path := fmt.Sprintf("%s[%d]", prefix, i)
		item := prepared{cc: cc}
		// On update, find the credential this one replaces: every id it sends must be that one's.
		var credID ulid.ULID
		if cc.Credential != nil {
			credID = cc.Credential.ID
		}
		for j := range existing {
			ex := &existing[j]
			if (cc.ID != (ulid.ULID{}) || credID != (ulid.ULID{})) &&
				(cc.ID == (ulid.ULID{}) || cc.ID == ex.ID) &&
				(credID == (ulid.ULID{}) || credID == ex.Credential.ID) {
				item.old = ex
				break
			}
		}
		if existing != nil && item.old == nil {
			if cc.ID != (ulid.ULID{}) {
				item.fields = append(item.fields, plugboard.FieldError{Field: path + ".id",
					Message: "is not a credential of this connection; send 00000000000000000000000000 to add one"})
			} else if cc.Credential != nil && cc.Credential.ID != (ulid.ULID{}) {
				item.fields = append(item.fields, plugboard.FieldError{Field: path + ".credential.id",
					Message: "is not a credential of this connection; send 00000000000000000000000000 to add one"})
			}
		}
		if item.old != nil {
			if usedIDs[item.old.ID] {
				item.fields = append(item.fields, plugboard.FieldError{Field: path + ".id", Message: "names a credential listed twice"})
			}
			usedIDs[item.old.ID] = true
			// Secret fields sent empty keep the stored secret, so a client can PUT back what it read.
			// The stored secrets are opened only when some field needs them, so that sending every
			// secret anew replaces a credential even if its stored value can no longer be opened.
			// Credentials made by an exchange are complete: never mix a stored secret (an old refresh
			// token) into them.
			if !produced[i] && cc.Credential != nil && string(cc.Credential.Type) == item.old.Credential.Type && missingSecrets(*cc.Credential) {
				oldSecrets, err := access.OpenSecrets(s.keys, &item.old.Credential)
				if err != nil {
					return nil, err
				}
				kept, err := keptSecrets(*cc.Credential, oldSecrets)
				if err != nil {
					return nil, err
				}
				for _, f := range kept {
					item.kept = append(item.kept, path+".credential.data."+credentials.Member(cc.Credential.Type)+"."+f)
				}
				cred := *cc.Credential
				if cred.Data == nil {
					cred.Data = &api.CredentialData{}
				}
				data := *cred.Data
				if err := credentials.KeepSecrets(cred.Type, &data, oldSecrets); err != nil {
					return nil, plugboard.Internal(err)
				}
				cred.Data = &data
				item.cc.Credential = &cred
			}
		}
		if produced[i] {
			item.cfg = offeredByID(offered, item.cc.AuthSchemeConfig)
			if item.cfg == nil {
				return nil, plugboard.Internal(fmt.Errorf("exchanged credential %d lost its config", i))
			}
		} else {
			var fields []plugboard.FieldError
			item.cfg, fields = credentials.ValidateCredential(item.cc, offered, orgID, path)
			item.fields = append(item.fields, fields...)
		}
		if item.cc.Credential != nil && item.cc.Credential.ExpiresAt != nil && !plugboard.TimeInRange(*item.cc.Credential.ExpiresAt) {
			item.fields = append(item.fields, plugboard.FieldError{Field: path + ".credential.expiresAt", Message: timeRangeMessage})
		} else if item.cc.Credential != nil && item.cc.Credential.ExpiresAt != nil && !now.Before(*item.cc.Credential.ExpiresAt) {
			// It would never be applied, and would be deleted at the next sweep.
			item.fields = append(item.fields, plugboard.FieldError{Field: path + ".credential.expiresAt",
				Message: "is not in the future; an expired credential is never applied (leave expiresAt out for a credential that does not expire)"})
		}
		errs = append(errs, item.fields...)
		items[i] = item
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid credentials", errs...)
	}
	for i, item := range items {
		if !produced[i] && credentials.NeedsExchange(item.cc.Credential.Type) {
			return nil, &plugboard.Error{Code: plugboard.ENotImplemented,
				Message: fmt.Sprintf("credential type %s needs an exchange with the provider, which this version of Plugboard does not perform yet", item.cc.Credential.Type),
				Details: "store the provider's token directly as an oauth2-token (OAuth 2.0) or oauth1-token (OAuth 1.0a with tokenAuth) credential",
				Fields:  []plugboard.FieldError{{Field: fmt.Sprintf("%s[%d].credential.type", prefix, i), Message: "needs a provider exchange"}}}
		}
	}
	out := make([]plugboard.ConnectionCredential, len(items))
	for i, item := range items {
		cred := item.cc.Credential
		// New credentials always get ids from the server: ids a client sends on create (say, copied
		// from another connection) would only collide. Replaced ones keep theirs.
		ccID, credID, created := newID(), newID(), now
		if item.old != nil {
			ccID, credID = item.old.ID, item.old.Credential.ID
			created = item.old.Credential.CreatedAt
		}
		stored := plugboard.Credential{ID: credID, OrganisationID: orgID, ExpiresAt: cred.ExpiresAt, CreatedAt: created, UpdatedAt: now}
		if err := access.SealInto(s.keys, &stored, cred.Type, cred.Data); err != nil {
			return nil, err
		}
		if cred.Type == api.CredentialTypeOauth2Token && cred.Data != nil {
			stored.RefreshDue = access.RefreshDue(cred.Data.Oauth2Token, now)
			if item.old != nil && item.old.Credential.Refresh.Failing() && keepsRefreshToken(item.kept) {
				// The same refresh token keeps its streak of failures (and backoff): a PUT of what
				// was read neither retries at once nor starts a new streak.
				stored.Refresh = item.old.Credential.Refresh
				stored.RefreshDue = item.old.Credential.Refresh.NextAttempt
			}
		}
		if cred.Name != nil {
			stored.Name = *cred.Name
		}
		out[i] = plugboard.ConnectionCredential{ID: ccID, AuthSchemeConfigID: credentials.ConfigID(*item.cfg), Credential: stored}
	}
	if change != nil {
		var moves []trust.Move
		oldBindings, newBindings := bindings(existing), bindings(out)
		for i, item := range items {
			if item.old == nil || len(item.kept) == 0 {
				continue
			}
			from, err := credentialUse(change.oldBase, change.configs, item.old.AuthSchemeConfigID, oldBindings, item.old.Credential.Type, item.old.Credential.Public)
			if err != nil {
				return nil, plugboard.Internal(err)
			}
			to, err := credentialUse(change.newBase, change.configs, out[i].AuthSchemeConfigID, newBindings, out[i].Credential.Type, out[i].Credential.Public)
			if err != nil {
				return nil, plugboard.Internal(err)
			}
			moves = append(moves, trust.Move{What: fmt.Sprintf("%s[%d]", prefix, i), From: from, To: to, Resend: item.kept})
		}
		moves = append(moves, configSecretMoves(change.sys, oldBindings, change.oldBase, change.newBase, newBindings)...)
		if err := trust.Check(change.caller, moves...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// keepsRefreshToken reports whether a credential's kept secrets (JSON paths) include its stored
// OAuth 2.0 refresh token.
func keepsRefreshToken(kept []string) bool {
	for _, p := range kept {
		if strings.HasSuffix(p, ".oauth2Token.refreshToken") {
			return true
		}
	}
	return false
}

// connectionChange is what the trust rule needs to know of an update: where the connection's
// requests went and will go (base URLs), and the system's configs by id.
type connectionChange struct {
	oldBase, newBase string
	sys              *plugboard.System
	configs          map[string]api.AuthSchemeConfig
	caller           trust.Caller
}

// offeredByID returns the offered config a connection credential names.
func offeredByID(offered []api.AuthSchemeConfig, cfg *api.AuthSchemeConfig) *api.AuthSchemeConfig {
	if cfg == nil {
		return nil
	}
	id := credentials.ConfigID(*cfg)
	for i := range offered {
		if credentials.ConfigID(offered[i]) == id {
			return &offered[i]
		}
	}
	return nil
}

// missingSecrets reports whether a credential leaves any of its type's secret fields empty.
func missingSecrets(c api.Credential) bool {
	fields := credentials.SecretFields(c.Type)
	if len(fields) == 0 || c.Data == nil {
		return len(fields) > 0
	}
	_, secrets, err := credentials.SplitCredential(c)
	if err != nil || secrets == nil {
		return true
	}
	var got map[string]string
	if err := json.Unmarshal(secrets, &got); err != nil {
		return true
	}
	for _, f := range fields {
		if got[f] == "" {
			return true
		}
	}
	return false
}

// templateOffer reads a template, its system and the configs it offers. A missing template is a 404
// naming connectionTemplateId.
func (s *Server) templateOffer(ctx context.Context, st plugboard.Store, orgID, templateID ulid.ULID) (*plugboard.ConnectionTemplate, *plugboard.System, []api.AuthSchemeConfig, error) {
	t, err := st.GetTemplate(ctx, orgID, templateID)
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
	offered, err := offeredConfigs(sys, t)
	if err != nil {
		return nil, nil, nil, err
	}
	return t, sys, offered, nil
}

// CreateConnection implements api.StrictServerInterface: it validates every credential against the
// template's auth scheme configs, seals the secrets and stores the connection (creating the end
// user named by externalId on first use) in one transaction.
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
	errs = checkName("connection.name", b.Connection.Name, errs)
	baseURL, err := normaliseBaseURL(b.Connection.BaseURL)
	if err != nil {
		errs = append(errs, plugboard.FieldError{Field: "connection.baseUrl", Message: err.Error()})
	}
	if b.ExternalId != nil {
		errs = checkExternalID("externalId", *b.ExternalId, errs)
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid connection", errs...)
	}
	// Provider exchanges happen before the transaction: they wait on the network, and a store
	// transaction (SQLite's write lock above all) must not.
	t, sys, offered, err := s.templateOffer(ctx, s.store, orgID, b.EnvironmentSystemID)
	if err != nil {
		return nil, err
	}
	if b.ExternalId != nil && !t.Dynamic {
		return nil, plugboard.Invalid("invalid connection", plugboard.FieldError{Field: "externalId",
			Message: "the connection template is static; end-user connections need a dynamic template"})
	}
	in, produced, err := s.exchangeCredentials(ctx, orgID, sys, b.Connection.Credentials, offered, "connection.credentials", nil)
	if err != nil {
		return nil, err
	}
	var out api.Connection
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		// Read again inside the transaction: the template may have changed since the exchange.
		t, sys, offered, err := s.templateOffer(ctx, tx, orgID, b.EnvironmentSystemID)
		if err != nil {
			return err
		}
		if b.ExternalId != nil && !t.Dynamic {
			return plugboard.Invalid("invalid connection", plugboard.FieldError{Field: "externalId",
				Message: "the connection template is static; end-user connections need a dynamic template"})
		}
		now := s.timestamp()
		creds, err := s.prepareCredentials(orgID, in, offered, nil, "connection.credentials", now, produced, nil)
		if err != nil {
			return err
		}
		// A new connection's own secrets are the request's; its configs' sealed secrets are not,
		// and go wherever its requests go.
		if err := trust.Check(s.caller(ctx), configSecretMoves(sys, nil, "", effectiveBase(baseURL, sys), bindings(creds))...); err != nil {
			return err
		}
		c := &plugboard.Connection{ID: newID(), OrganisationID: orgID, TemplateID: t.ID, SystemID: t.SystemID,
			Name: b.Connection.Name, BaseURL: baseURL, Credentials: creds, CreatedAt: now, UpdatedAt: now}
		if b.ExternalId != nil {
			u, err := tx.GetEndUserByExternalID(ctx, orgID, *b.ExternalId)
			if plugboard.IsCode(err, plugboard.ENotFound) {
				u = &plugboard.EndUser{ID: newID(), OrganisationID: orgID, ExternalID: *b.ExternalId, CreatedAt: now, UpdatedAt: now}
				err = tx.CreateEndUser(ctx, u)
				if err == nil {
					err = s.emit(ctx, tx, plugboard.Event{Type: events.EndUserCreated, OrganisationID: orgID, EndUserID: u.ID})
				}
			}
			if err != nil {
				return err
			}
			c.EndUserID = u.ID
		}
		if err := tx.CreateConnection(ctx, c); err != nil {
			return err
		}
		if err := s.emit(ctx, tx, connectionEvent(events.ConnectionCreated, c)); err != nil {
			return err
		}
		out, err = renderConnection(c, sys, now)
		return err
	})
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

// UpdateConnection implements api.StrictServerInterface. The credential list replaces the stored
// one (in its order); credentials sent with their ids keep their stored secrets wherever a secret
// field is empty; an empty baseUrl keeps the stored one.
func (s *Server) UpdateConnection(ctx context.Context, req api.UpdateConnectionRequestObject) (api.UpdateConnectionResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	orgID := req.OrganisationId
	var errs []plugboard.FieldError
	errs = checkName("name", b.Name, errs)
	baseURL, err := normaliseBaseURL(b.BaseURL)
	if err != nil {
		errs = append(errs, plugboard.FieldError{Field: "baseUrl", Message: err.Error()})
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid connection", errs...)
	}
	current, err := s.store.GetConnection(ctx, orgID, req.ConnectionId)
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
	in, produced, err := s.exchangeCredentials(ctx, orgID, sys, b.Credentials, offered, "credentials", existing)
	if err != nil {
		return nil, err
	}
	var out api.Connection
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		c, err := tx.GetConnection(ctx, orgID, req.ConnectionId)
		if err != nil {
			return err
		}
		_, sys, offered, err := s.templateOffer(ctx, tx, orgID, c.TemplateID)
		if err != nil {
			return err
		}
		now := s.timestamp()
		existing := c.Credentials
		if existing == nil {
			existing = []plugboard.ConnectionCredential{}
		}
		configs, err := systemConfigs(sys)
		if err != nil {
			return err
		}
		change := &connectionChange{oldBase: effectiveBase(c.BaseURL, sys), newBase: effectiveBase(c.BaseURL, sys),
			sys: sys, configs: configs, caller: s.caller(ctx)}
		if baseURL != "" {
			change.newBase = baseURL
		}
		creds, err := s.prepareCredentials(orgID, in, offered, existing, "credentials", now, produced, change)
		if err != nil {
			return err
		}
		c.Name = b.Name
		if baseURL != "" {
			c.BaseURL = baseURL
		}
		c.Credentials = creds
		c.UpdatedAt = now
		removed, err := tx.UpdateConnection(ctx, c)
		if err != nil {
			return err
		}
		for _, id := range removed {
			if err := s.emit(ctx, tx, credentialDeleted(c.OrganisationID, c.ID, c.EndUserID, id, events.ReasonDeleted)); err != nil {
				return err
			}
		}
		if err := s.emit(ctx, tx, connectionEvent(events.ConnectionUpdated, c)); err != nil {
			return err
		}
		out, err = renderConnection(c, sys, now)
		return err
	})
	s.access.Forget(orgID, req.ConnectionId)
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
		return s.emitConnectionDeleted(ctx, tx, req.OrganisationId, *deleted)
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
