package connect

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/trust"
)

// DefaultSessionTTL is how long a connect session lasts unless Config.SessionTTL says otherwise.
const DefaultSessionTTL = 30 * time.Minute

// SessionTokenPrefix starts every connect session token.
const SessionTokenPrefix = "pbcs_"

// sessionTokenBytes is how many random bytes a token carries.
const sessionTokenBytes = 32

// SessionExpiredMessage is what the page and an OAuth popup say when a session ended.
const SessionExpiredMessage = "This connect session has expired; ask the app for a new link."

// CodeSessionExpired is the result code of an OAuth popup whose session ended mid-flow.
const CodeSessionExpired = "session_expired"

// CodeTemplateUnavailable is the result code of an OAuth popup whose template stopped taking end
// users' connections mid-flow (made static, or deleted), and TemplateUnavailableMessage its message.
const (
	CodeTemplateUnavailable    = "template_unavailable"
	TemplateUnavailableMessage = "This service can no longer be connected from this page; ask the app about it."
)

// SessionInput is a new connect session.
type SessionInput struct {
	// EndUserID or ExternalID names the end user; an unknown ExternalID creates one with DisplayName.
	EndUserID               ulid.ULID
	ExternalID, DisplayName string
	EnvironmentID           ulid.ULID
	// TemplateIDs are the templates offered; every dynamic template of the environment when empty.
	TemplateIDs    []ulid.ULID
	ReturnURL      string
	AllowedOrigins []string
}

// NewSession is a created session with its token, shown this once.
type NewSession struct {
	Session *plugboard.ConnectSession
	Token   string
	// URL is the hosted page, the token in its fragment.
	URL string
}

// HashSessionToken is what the store keeps of a token.
func HashSessionToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateSession checks what a session may do and stores it (and the end user named by a new
// external id) in one transaction, with connect_session.created.
func (s *Service) CreateSession(ctx context.Context, orgID ulid.ULID, in SessionInput) (*NewSession, error) {
	var errs []plugboard.FieldError
	switch {
	case in.EndUserID == (ulid.ULID{}) && strings.TrimSpace(in.ExternalID) == "":
		errs = append(errs, plugboard.FieldError{Field: "endUser", Message: "needs id or externalId"})
	case in.EndUserID != (ulid.ULID{}) && in.ExternalID != "":
		errs = append(errs, plugboard.FieldError{Field: "endUser", Message: "takes id or externalId, not both"})
	}
	if len(in.ExternalID) > 255 {
		errs = append(errs, plugboard.FieldError{Field: "endUser.externalId", Message: "must be at most 255 bytes"})
	}
	if len(in.DisplayName) > 255 {
		errs = append(errs, plugboard.FieldError{Field: "endUser.displayName", Message: "must be at most 255 bytes"})
	}
	if in.EnvironmentID == (ulid.ULID{}) {
		errs = append(errs, plugboard.FieldError{Field: "environmentId", Message: "is required"})
	}
	if in.ReturnURL != "" && (!absoluteHTTP(in.ReturnURL) || !s.allowedReturnURL(in.ReturnURL)) {
		errs = append(errs, plugboard.FieldError{Field: "returnUrl", Message: "must be an http(s) URL on an allowed origin (PLUGBOARD_RETURN_URL_ORIGINS, or this server's own)"})
	} else {
		errs = append(errs, credentials.CheckURLUserinfo("returnUrl", in.ReturnURL)...)
	}
	origins := make([]string, 0, len(in.AllowedOrigins))
	for i, o := range in.AllowedOrigins {
		origin, fe := s.openerOrigin(o)
		if fe != nil || origin == "" {
			errs = append(errs, plugboard.FieldError{Field: fmt.Sprintf("allowedOrigins[%d]", i), Message: openerOriginProblem})
			continue
		}
		if !slices.Contains(origins, origin) {
			origins = append(origins, origin)
		}
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid connect session", errs...)
	}
	env, err := s.store.GetEnvironment(ctx, orgID, in.EnvironmentID)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, &plugboard.Error{Code: plugboard.ENotFound, Message: "environment not found",
			Fields: []plugboard.FieldError{{Field: "environmentId", Message: "no such environment"}}}
	} else if err != nil {
		return nil, err
	}
	templates, err := s.sessionTemplates(ctx, orgID, env, in.TemplateIDs)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, sessionTokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, plugboard.Internal(err)
	}
	token := SessionTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := s.timestamp()
	ttl := s.sessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	cs := &plugboard.ConnectSession{ID: newID(), OrganisationID: orgID, EnvironmentID: env.ID, TemplateIDs: templates,
		TokenHash: HashSessionToken(token), ReturnURL: in.ReturnURL, AllowedOrigins: origins,
		ExpiresAt: now.Add(ttl), CreatedAt: now}
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		u, err := s.sessionEndUser(ctx, tx, orgID, in, now)
		if err != nil {
			return err
		}
		cs.EndUserID = u.ID
		if err := tx.CreateConnectSession(ctx, cs); err != nil {
			return err
		}
		return s.events.Emit(ctx, tx, events.ConnectSessionEvent(events.ConnectSessionCreated, cs))
	})
	if err != nil {
		return nil, err
	}
	return &NewSession{Session: cs, Token: token, URL: s.publicURL + "/connect/s/" + cs.ID.String() + "#token=" + token}, nil
}

// sessionTemplates checks the templates a session offers: dynamic templates of env, each once;
// every dynamic template of env when ids is empty.
func (s *Service) sessionTemplates(ctx context.Context, orgID ulid.ULID, env *plugboard.Environment, ids []ulid.ULID) ([]ulid.ULID, error) {
	if len(ids) == 0 {
		all, err := s.store.ListTemplates(ctx, orgID, env.ProjectID, env.ID)
		if err != nil {
			return nil, err
		}
		for _, t := range all {
			if t.Dynamic {
				ids = append(ids, t.ID)
			}
		}
		if len(ids) == 0 {
			return nil, fieldErr("invalid connect session", "environmentId", "the environment has no dynamic connection templates to connect")
		}
		return ids, nil
	}
	var errs []plugboard.FieldError
	for i, id := range ids {
		field := fmt.Sprintf("templateIds[%d]", i)
		if slices.Contains(ids[:i], id) {
			errs = append(errs, plugboard.FieldError{Field: field, Message: "names a template an earlier entry names"})
			continue
		}
		t, err := s.store.GetTemplate(ctx, orgID, id)
		switch {
		case plugboard.IsCode(err, plugboard.ENotFound):
			errs = append(errs, plugboard.FieldError{Field: field, Message: "no such connection template"})
		case err != nil:
			return nil, err
		case t.EnvironmentID != env.ID:
			errs = append(errs, plugboard.FieldError{Field: field, Message: "is not a connection template of the environment environmentId names"})
		case !t.Dynamic:
			errs = append(errs, plugboard.FieldError{Field: field, Message: "is a static template; the connect page makes end users' connections, under dynamic templates"})
		}
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid connect session", errs...)
	}
	return ids, nil
}

// sessionEndUser finds the session's end user, creating one for a new external id.
func (s *Service) sessionEndUser(ctx context.Context, tx plugboard.Store, orgID ulid.ULID, in SessionInput, now time.Time) (*plugboard.EndUser, error) {
	if in.EndUserID != (ulid.ULID{}) {
		u, err := tx.GetEndUser(ctx, orgID, in.EndUserID)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			return nil, fieldErr("invalid connect session", "endUser.id", "no such end user")
		}
		return u, err
	}
	u, err := tx.GetEndUserByExternalID(ctx, orgID, in.ExternalID)
	if !plugboard.IsCode(err, plugboard.ENotFound) {
		return u, err
	}
	u = &plugboard.EndUser{ID: newID(), OrganisationID: orgID, ExternalID: in.ExternalID, DisplayName: in.DisplayName, CreatedAt: now, UpdatedAt: now}
	if err := tx.CreateEndUser(ctx, u); err != nil {
		return nil, err
	}
	return u, s.events.Emit(ctx, tx, plugboard.Event{Type: events.EndUserCreated, OrganisationID: orgID, EndUserID: u.ID})
}

// RevokeSession revokes a session of the organisation, with connect_session.revoked in the same
// transaction; revoking twice is no error, and the second writes nothing.
func (s *Service) RevokeSession(ctx context.Context, orgID, id ulid.ULID) error {
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		cs, err := tx.GetConnectSession(ctx, orgID, id)
		if err != nil {
			return err
		}
		first, err := tx.RevokeConnectSession(ctx, orgID, id, s.timestamp())
		if err != nil || !first {
			return err
		}
		return s.events.Emit(ctx, tx, events.ConnectSessionEvent(events.ConnectSessionRevoked, cs))
	})
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return plugboard.Errorf(plugboard.ENotFound, "connect session %s not found", id)
	}
	return err
}

func unauthenticated(msg, details string) *plugboard.Error {
	return &plugboard.Error{Code: plugboard.EUnauthenticated, Message: msg, Details: details}
}

// AuthenticateSession returns the live session a token belongs to. Every refusal is a 401 whose
// message says what to do; none says more about the session than that.
func (s *Service) AuthenticateSession(ctx context.Context, token string) (*plugboard.ConnectSession, error) {
	if token == "" {
		return nil, unauthenticated("a connect session token is required: send it as Authorization: Bearer <token>", askAgain)
	}
	if !strings.HasPrefix(token, SessionTokenPrefix) || len(token) > 200 {
		return nil, unauthenticated("the connect session token is not valid", askAgain)
	}
	hash := HashSessionToken(token)
	cs, err := s.store.GetConnectSessionByTokenHash(ctx, hash)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, unauthenticated("the connect session token is not valid", askAgain)
	} else if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(cs.TokenHash, hash) != 1 {
		return nil, unauthenticated("the connect session token is not valid", askAgain)
	}
	return cs, s.liveSession(ctx, cs)
}

// askAgain is the details of every refusal of a session token.
const askAgain = "the app that sent you here can make a new link"

// SessionRevokedMessage is what the page's API says of a revoked session.
const SessionRevokedMessage = "This connect session was revoked; ask the app for a new link."

// liveSession refuses a revoked or expired session, or one of a deleted organisation.
func (s *Service) liveSession(ctx context.Context, cs *plugboard.ConnectSession) error {
	if err := s.sessionEnded(cs); err != nil {
		return err
	}
	org, err := s.store.GetOrganisation(ctx, cs.OrganisationID)
	if err != nil && !plugboard.IsCode(err, plugboard.ENotFound) {
		return err
	}
	if err != nil || org.DeletedAt != nil {
		return unauthenticated("the connect session token is not valid", askAgain)
	}
	return nil
}

// sessionStillOpen reads the session again in tx, the transaction that writes a connection made in
// it: a session revoked, expired or gone since it was checked (while a provider exchange ran, say)
// makes no change. The read holds the session until tx ends (ShareConnectSession), so a revoke
// either commits first and is seen here, or waits until this write has committed. The
// organisation needs no second look: deleting it deletes its sessions.
func (s *Service) sessionStillOpen(ctx context.Context, tx plugboard.Store, cs *plugboard.ConnectSession) error {
	cur, err := tx.ShareConnectSession(ctx, cs.OrganisationID, cs.ID)
	switch {
	case plugboard.IsCode(err, plugboard.ENotFound):
		return unauthenticated(SessionExpiredMessage, askAgain)
	case err != nil:
		return err
	case cur.EndUserID != cs.EndUserID:
		return unauthenticated(SessionExpiredMessage, askAgain)
	}
	return s.sessionEnded(cur)
}

// sessionEnded refuses a session that was revoked or has expired: the one rule liveSession and
// sessionStillOpen apply.
func (s *Service) sessionEnded(cs *plugboard.ConnectSession) error {
	switch {
	case cs.RevokedAt != nil:
		return unauthenticated(SessionRevokedMessage, askAgain)
	case !s.timestamp().Before(cs.ExpiresAt):
		return unauthenticated(SessionExpiredMessage, askAgain)
	}
	return nil
}

// SessionContext returns ctx with the session as the actor of the changes made under it.
func SessionContext(ctx context.Context, cs *plugboard.ConnectSession) context.Context {
	return events.WithActor(ctx, events.SessionActor(cs.ID))
}

// The states of a session template for its end user.
const (
	StateConnected      = "connected"
	StateNeedsAttention = "needs_attention"
	StateNotConnected   = "not_connected"

	AttentionRefreshFailed     = "refresh_failed"
	AttentionCredentialExpired = "credential_expired"
)

// SessionView is what the page shows: the session, its end user and environment, and each
// template with its state for the end user.
type SessionView struct {
	Session     *plugboard.ConnectSession
	EndUser     *plugboard.EndUser
	Environment *plugboard.Environment
	Templates   []SessionTemplate
}

// SessionTemplate is one template of a session for its end user.
type SessionTemplate struct {
	Template *plugboard.ConnectionTemplate
	System   *plugboard.System
	Schemes  []Scheme
	// Connection is the end user's connection under the template; nil when none.
	Connection *plugboard.Connection
	State      string
	// Attention and AttentionMessage say why a connection needs attention.
	Attention, AttentionMessage string
}

// ViewSession reads what the page shows. Templates deleted since the session was made are left out.
func (s *Service) ViewSession(ctx context.Context, cs *plugboard.ConnectSession) (*SessionView, error) {
	u, err := s.store.GetEndUser(ctx, cs.OrganisationID, cs.EndUserID)
	if err != nil {
		return nil, err
	}
	env, err := s.store.GetEnvironment(ctx, cs.OrganisationID, cs.EnvironmentID)
	if err != nil {
		return nil, err
	}
	out := &SessionView{Session: cs, EndUser: u, Environment: env, Templates: []SessionTemplate{}}
	now := s.now()
	for _, id := range cs.TemplateIDs {
		t, sys, offered, err := s.templateOffer(ctx, s.store, cs.OrganisationID, id)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		st := SessionTemplate{Template: t, System: sys, State: StateNotConnected, Schemes: []Scheme{}}
		for _, cfg := range offered {
			if sc, ok := SchemeOf(cfg); ok {
				st.Schemes = append(st.Schemes, sc)
			}
		}
		c, err := s.sessionConnection(ctx, cs, t.ID)
		if err != nil {
			return nil, err
		}
		if c != nil {
			st.Connection, st.State = c, StateConnected
			if access.Usable(c, now) != nil {
				st.State, st.Attention = StateNeedsAttention, AttentionCredentialExpired
				st.AttentionMessage = "A credential of this connection has expired; reconnect to use it again."
			} else if slices.ContainsFunc(c.Credentials, func(cc plugboard.ConnectionCredential) bool { return cc.Credential.Refresh.Failing() }) {
				st.State, st.Attention = StateNeedsAttention, AttentionRefreshFailed
				st.AttentionMessage = "Access to this service could not be renewed; reconnect to restore it."
			}
		}
		out.Templates = append(out.Templates, st)
	}
	return out, nil
}

// sessionConnection returns the end user's oldest connection under the template, or nil.
func (s *Service) sessionConnection(ctx context.Context, cs *plugboard.ConnectSession, templateID ulid.ULID) (*plugboard.Connection, error) {
	page, err := s.store.ListConnections(ctx, cs.OrganisationID, plugboard.ConnectionFilter{EndUserID: cs.EndUserID, TemplateID: templateID},
		plugboard.PageRequest{First: 1})
	if err != nil || len(page.Items) == 0 {
		return nil, err
	}
	return &page.Items[0], nil
}

// ownedConnection returns a connection the session may change: the end user's, under one of the
// session's templates. Any other is not found, whether it exists or not.
func (s *Service) ownedConnection(ctx context.Context, cs *plugboard.ConnectSession, id ulid.ULID) (*plugboard.Connection, error) {
	notFound := &plugboard.Error{Code: plugboard.ENotFound, Message: "connection not found",
		Fields: []plugboard.FieldError{{Field: "connectionId", Message: "is not one of your connections in this connect session"}}}
	c, err := s.store.GetConnection(ctx, cs.OrganisationID, id)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	if c.EndUserID != cs.EndUserID || !slices.Contains(cs.TemplateIDs, c.TemplateID) {
		return nil, notFound
	}
	return c, nil
}

// SessionConnect is what the page sends to connect or reconnect.
type SessionConnect struct {
	TemplateID         ulid.ULID
	AuthSchemeConfigID string
	BaseURL            string
	Values             map[string]string
}

// sessionTemplate checks that templateID is one of the session's, still a dynamic template of its
// environment, and finds the offered config; it returns the normalised base URL.
func (s *Service) sessionTemplate(ctx context.Context, cs *plugboard.ConnectSession, templateID ulid.ULID, configID, baseURL string) (
	*plugboard.ConnectionTemplate, *api.AuthSchemeConfig, string, error) {
	if !slices.Contains(cs.TemplateIDs, templateID) {
		return nil, nil, "", fieldErr("invalid connection", "templateId", "is not a template of this connect session")
	}
	t, _, offered, err := s.templateOffer(ctx, s.store, cs.OrganisationID, templateID)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, nil, "", fieldErr("invalid connection", "templateId", "the connection template no longer exists")
	} else if err != nil {
		return nil, nil, "", err
	}
	if err := sessionMayUse(t, cs); err != nil {
		return nil, nil, "", err
	}
	var cfg *api.AuthSchemeConfig
	for i := range offered {
		if configIDOf(offered[i]) == configID {
			cfg = &offered[i]
		}
	}
	var errs []plugboard.FieldError
	if cfg == nil {
		errs = append(errs, plugboard.FieldError{Field: "authSchemeConfigId", Message: "is not an auth scheme the template offers"})
	}
	base := ""
	if strings.TrimSpace(baseURL) != "" {
		if !t.AllowBaseURLOverride {
			errs = append(errs, plugboard.FieldError{Field: "baseUrl", Message: "this service's address is fixed; leave it empty"})
		} else if base, err = NormaliseBaseURL(baseURL); err != nil {
			errs = append(errs, plugboard.FieldError{Field: "baseUrl", Message: err.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, nil, "", plugboard.Invalid("invalid connection", errs...)
	}
	return t, cfg, base, nil
}

// ConnectInSession creates the end user's connection under one of the session's templates from
// the values of a form. One connection per end user and template: a second is a 409 (reconnect it).
func (s *Service) ConnectInSession(ctx context.Context, cs *plugboard.ConnectSession, in SessionConnect) (*Result, error) {
	t, cfg, base, err := s.sessionTemplate(ctx, cs, in.TemplateID, in.AuthSchemeConfigID, in.BaseURL)
	if err != nil {
		return nil, err
	}
	cc, err := FormCredential(*cfg, in.Values)
	if err != nil {
		return nil, err
	}
	existing, err := s.sessionConnection(ctx, cs, t.ID)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, &plugboard.Error{Code: plugboard.EConflict, Message: "you are already connected to this service; reconnect to replace the connection's credentials",
			Fields: []plugboard.FieldError{{Field: "templateId", Message: "already has your connection " + existing.ID.String()}}}
	}
	res, err := s.CreateConnection(SessionContext(ctx, cs), cs.OrganisationID, CreateInput{TemplateID: t.ID, Name: t.Name, BaseURL: base,
		EndUserID: cs.EndUserID, Credentials: []api.ConnectionCredential{cc}, CredentialsPath: formPath, Caller: trust.Caller{}, session: cs})
	return res, formErrors(err)
}

// ReconnectInSession replaces the credentials of one of the end user's connections of the session.
func (s *Service) ReconnectInSession(ctx context.Context, cs *plugboard.ConnectSession, connectionID ulid.ULID, in SessionConnect) (*Result, error) {
	c, err := s.ownedConnection(ctx, cs, connectionID)
	if err != nil {
		return nil, err
	}
	if in.TemplateID != c.TemplateID {
		return nil, fieldErr("invalid connection", "templateId", "is not the template of this connection")
	}
	_, cfg, base, err := s.sessionTemplate(ctx, cs, in.TemplateID, in.AuthSchemeConfigID, in.BaseURL)
	if err != nil {
		return nil, err
	}
	cc, err := FormCredential(*cfg, in.Values)
	if err != nil {
		return nil, err
	}
	res, err := s.UpdateConnection(SessionContext(ctx, cs), cs.OrganisationID, UpdateInput{ConnectionID: c.ID, Name: c.Name, BaseURL: base,
		Credentials: []api.ConnectionCredential{cc}, CredentialsPath: formPath, Caller: trust.Caller{}, session: cs})
	return res, formErrors(err)
}

// DisconnectInSession deletes one of the end user's connections of the session, with its events.
func (s *Service) DisconnectInSession(ctx context.Context, cs *plugboard.ConnectSession, connectionID ulid.ULID) (*plugboard.Connection, error) {
	c, err := s.ownedConnection(ctx, cs, connectionID)
	if err != nil {
		return nil, err
	}
	ctx = SessionContext(ctx, cs)
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		if err := s.sessionStillOpen(ctx, tx, cs); err != nil {
			return err
		}
		d, err := tx.DeleteConnection(ctx, cs.OrganisationID, c.ID)
		if err != nil {
			return err
		}
		return s.events.EmitConnectionDeleted(ctx, tx, cs.OrganisationID, *d)
	})
	if s.access != nil {
		s.access.Forget(cs.OrganisationID, c.ID)
	}
	return c, err
}

// CompleteSession records that the end user is done, emitting connect_session.completed once.
func (s *Service) CompleteSession(ctx context.Context, cs *plugboard.ConnectSession) error {
	ctx = SessionContext(ctx, cs)
	return s.store.InTx(ctx, func(tx plugboard.Store) error {
		first, err := tx.CompleteConnectSession(ctx, cs.OrganisationID, cs.ID, s.timestamp())
		if err != nil || !first {
			return err
		}
		return s.events.Emit(ctx, tx, events.ConnectSessionEvent(events.ConnectSessionCompleted, cs))
	})
}

// SessionOAuth starts a provider's flow for the page's popup.
type SessionOAuth struct {
	TemplateID         ulid.ULID
	AuthSchemeConfigID string
	BaseURL            string
	// ConnectionID, when set, is the connection a reconnect replaces the credentials of.
	ConnectionID ulid.ULID
}

// sessionBinding ties an OAuth flow to the connect session that started it; it is kept sealed with
// the flow's state, and makes the callback finish the connection itself.
type sessionBinding struct {
	SessionID    ulid.ULID `json:"sessionId"`
	EndUserID    ulid.ULID `json:"endUserId"`
	TemplateID   ulid.ULID `json:"templateId"`
	ConnectionID ulid.ULID `json:"connectionId,omitzero"`
	BaseURL      string    `json:"baseUrl,omitempty"`
}

// StartSessionOAuth returns the provider's authorize URL for a popup flow of the session's end
// user. The callback, for this state, connects (or reconnects) the end user and answers the
// connect page's result page.
func (s *Service) StartSessionOAuth(ctx context.Context, cs *plugboard.ConnectSession, in SessionOAuth) (string, error) {
	b := &sessionBinding{SessionID: cs.ID, EndUserID: cs.EndUserID, TemplateID: in.TemplateID}
	if in.ConnectionID != (ulid.ULID{}) {
		c, err := s.ownedConnection(ctx, cs, in.ConnectionID)
		if err != nil {
			return "", err
		}
		if c.TemplateID != in.TemplateID {
			return "", fieldErr("invalid OAuth request", "templateId", "is not the template of this connection")
		}
		b.ConnectionID = c.ID
	} else if existing, err := s.sessionConnection(ctx, cs, in.TemplateID); err != nil {
		return "", err
	} else if existing != nil {
		b.ConnectionID = existing.ID
	}
	t, cfg, base, err := s.sessionTemplate(ctx, cs, in.TemplateID, in.AuthSchemeConfigID, in.BaseURL)
	if err != nil {
		return "", err
	}
	b.BaseURL = base
	if sc, _ := SchemeOf(*cfg); sc.Flow != FlowPopup {
		return "", fieldErr("invalid OAuth request", "authSchemeConfigId", "is not connected through the provider's page; send its form")
	}
	if cfg.Type == api.AuthSchemeTypeOauth1 {
		return s.InitialiseOAuth1(ctx, cs.OrganisationID, OAuth1Start{SystemID: t.SystemID, CredentialID: cfg.Oauth1.CredentialID, session: b})
	}
	clientID, _, err := access.GrantClient(ctx, s.store, s.keys, cs.OrganisationID, cfg.Oauth2)
	if err != nil {
		return "", err
	}
	// The popup ends at Plugboard's own callback, whose answer is the page's result page; a
	// redirectUrl of the config names a listener of another client's flows, never the popup's.
	return s.InitialiseOAuth2(ctx, cs.OrganisationID, OAuth2Start{SystemID: t.SystemID, CredentialID: GrantCredentialID(cfg), ClientID: clientID,
		AuthorizeURL: cfg.Oauth2.AuthorizeURL, AdditionalParams: cfg.Oauth2.AdditionalAuthorizeParams, RedirectURL: s.publicURL + OAuth2CallbackPath,
		session: b})
}

// SessionResult is the outcome of a session's OAuth popup, for the page's result page.
type SessionResult struct {
	OK           bool      `json:"ok"`
	ConnectionID ulid.ULID `json:"connectionId,omitzero"`
	TemplateID   ulid.ULID `json:"templateId,omitzero"`
	Code         string    `json:"code,omitempty"`
	Message      string    `json:"message,omitempty"`
}

func failed(code, msg string) *Callback {
	return &Callback{Session: &SessionResult{Code: code, Message: msg}}
}

// finishSessionFlow ends a session-bound flow at the callback: unless the session ended meanwhile
// or the provider refused, it connects (or reconnects) the end user with cred, consuming the state.
func (s *Service) finishSessionFlow(ctx context.Context, st *plugboard.OAuthState, b *sessionBinding, providerError string,
	cred func(cfg api.AuthSchemeConfig) api.ConnectionCredential) (*Callback, error) {
	cs, err := s.store.GetConnectSession(ctx, st.OrganisationID, b.SessionID)
	if err == nil {
		err = s.liveSession(ctx, cs)
	}
	if err != nil {
		var e *plugboard.Error
		if plugboard.IsCode(err, plugboard.ENotFound) || (asError(err, &e) && e.Code == plugboard.EUnauthenticated) {
			// The flow is over either way: its state is not left for another try.
			_, _ = s.store.ConsumeOAuthState(ctx, st.OrganisationID, st.ID, s.timestamp())
			return failed(CodeSessionExpired, SessionExpiredMessage), nil
		}
		return nil, err
	}
	if cs.EndUserID != b.EndUserID {
		return failed(CodeSessionExpired, SessionExpiredMessage), nil
	}
	if providerError != "" {
		_, _ = s.store.ConsumeOAuthState(ctx, st.OrganisationID, st.ID, s.timestamp())
		return failed("access_denied", "The provider did not grant access ("+providerError+"). You can close this window and try again."), nil
	}
	// What the page checked at the start, checked again: the template may have been made static,
	// or its sign-in settings changed, while the end user was at the provider.
	t, cfg, _, err := s.sessionTemplate(ctx, cs, b.TemplateID, st.ConfigID, b.BaseURL)
	if err != nil {
		// The flow is over: its state is not left for a replay once the template is dynamic again.
		_, _ = s.store.ConsumeOAuthState(ctx, st.OrganisationID, st.ID, s.timestamp())
		return resultOf(nil, b, err)
	}
	ctx = SessionContext(ctx, cs)
	creds := []api.ConnectionCredential{cred(*cfg)}
	if b.ConnectionID != (ulid.ULID{}) {
		c, err := s.ownedConnection(ctx, cs, b.ConnectionID)
		if err != nil {
			return resultOf(nil, b, err)
		}
		res, err := s.UpdateConnection(ctx, cs.OrganisationID, UpdateInput{ConnectionID: c.ID, Name: c.Name, BaseURL: b.BaseURL,
			Credentials: creds, CredentialsPath: formPath, Caller: trust.Caller{}, session: cs})
		return resultOf(res, b, err)
	}
	res, err := s.CreateConnection(ctx, cs.OrganisationID, CreateInput{TemplateID: t.ID, Name: t.Name, BaseURL: b.BaseURL,
		EndUserID: cs.EndUserID, Credentials: creds, CredentialsPath: formPath, Caller: trust.Caller{}, session: cs})
	return resultOf(res, b, err)
}

// resultOf turns a connect's outcome into the popup's result; errors other than the store's
// failures become ok:false with their code and message (which never hold a secret). A template
// that no longer takes the end user's connection is template_unavailable; other refusals of the
// template's settings (its config or base URL) ask to start again.
func resultOf(res *Result, b *sessionBinding, err error) (*Callback, error) {
	if err != nil {
		var e *plugboard.Error
		if !asError(err, &e) || e.Code == plugboard.EInternal || e.Code == plugboard.EUnavailable {
			return nil, err
		}
		if e.Code == plugboard.EUnauthenticated {
			// The session ended while the provider exchange ran (sessionStillOpen).
			return failed(CodeSessionExpired, SessionExpiredMessage), nil
		}
		if e.Code == plugboard.EInvalid || e.Code == plugboard.ENotFound {
			for _, f := range e.Fields {
				switch f.Field {
				case "templateId", "connectionTemplateId":
					return failed(CodeTemplateUnavailable, TemplateUnavailableMessage), nil
				case "authSchemeConfigId", "baseUrl":
					return failed(plugboard.EInvalid, "The service's sign-in settings changed meanwhile; start again."), nil
				}
			}
		}
		return failed(e.Code, e.Message), nil
	}
	return &Callback{Session: &SessionResult{OK: true, ConnectionID: res.Connection.ID, TemplateID: b.TemplateID}}, nil
}

// PageSession returns the session a page address names if it is live, for the page's frame
// ancestors; nil when it is unknown, revoked or expired (the page then shows what the API says).
func (s *Service) PageSession(ctx context.Context, id ulid.ULID) *plugboard.ConnectSession {
	cs, err := s.store.FindConnectSession(ctx, id)
	if err != nil || s.liveSession(ctx, cs) != nil {
		return nil
	}
	return cs
}

// sessionStateRefused answers a callback whose state lookupState refused (err): a flow the connect
// page started ends in the page's result page saying why, any other flow with err.
func (s *Service) sessionStateRefused(ctx context.Context, state, kind string, err error) (*Callback, error) {
	orgID, ok := oauth.StateOrganisation(state)
	if !ok {
		return nil, err
	}
	st, gerr := s.store.GetOAuthState(ctx, orgID, oauth.StateID(state))
	if gerr != nil || st.Kind != kind {
		return nil, err
	}
	secrets, oerr := s.openState(st)
	if oerr != nil || secrets.Session == nil {
		return nil, err
	}
	if st.ConsumedAt != nil {
		return failed("state_used", "This sign-in was already used; start again from the connect page."), nil
	}
	return failed("state_expired", "This sign-in took too long; start again from the connect page."), nil
}
