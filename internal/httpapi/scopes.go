package httpapi

import (
	"context"
	"slices"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/trust"
)

// API key scopes. A key with no scopes may do everything (keys made before scopes existed, and
// the default organisation's first key); a key with scopes may do only what they name.
const (
	// ScopeRead reads connections (never their secrets).
	ScopeRead = "connections:read"
	// ScopeWrite creates, updates, links and deletes connections and runs their OAuth flows.
	ScopeWrite = "connections:write"
	// ScopeProxy calls a connection's API through the proxy, without seeing its secrets.
	ScopeProxy = "connections:proxy"
	// ScopeAccess reads what to put on a request, secrets and tokens included.
	ScopeAccess = "connections:access"
	// ScopeAdmin manages systems, projects, templates and end users.
	ScopeAdmin = "admin"
	// ScopeAPIKeys lists, creates and revokes the organisation's API keys; it creates only keys
	// whose scopes it holds itself.
	ScopeAPIKeys = "api-keys:manage"
	// ScopeEvents reads the organisation's events (which never hold a secret).
	ScopeEvents = "events:read"
	// ScopeWebhooks manages webhook endpoints (their signing secrets included, shown only when made),
	// and redelivers and replays events to them.
	ScopeWebhooks = "webhooks:manage"
	// ScopeConnectSessions creates and revokes connect sessions for the hosted connect page.
	ScopeConnectSessions = "connect-sessions:create"
)

// Scopes lists every scope, for validation and docs.
var Scopes = []string{ScopeRead, ScopeWrite, ScopeProxy, ScopeAccess, ScopeAdmin, ScopeAPIKeys, ScopeEvents, ScopeWebhooks, ScopeConnectSessions}

// requireScope refuses a request whose API key lacks the scope.
func requireScope(ctx context.Context, scope string) error {
	if scope == "" {
		return nil
	}
	key, _ := ctx.Value(ctxAPIKey).(*plugboard.APIKey)
	if key == nil || len(key.Scopes) == 0 || slices.Contains(key.Scopes, scope) {
		return nil
	}
	return &plugboard.Error{Code: plugboard.EForbidden, Message: "the API key lacks the scope " + scope,
		Details: "create a key with it: plugboard api-keys create --org ORG --scopes " + scope}
}

// mayReadSecrets reports whether the request's API key may read stored secrets: whether it holds
// the scope of AccessConnection, the operation that returns them. Such a key may also send a
// stored secret somewhere new (internal/trust).
func (s *Server) mayReadSecrets(ctx context.Context) bool {
	return requireScope(ctx, s.ops.byID["AccessConnection"].Scope) == nil
}

// caller returns what the trust rule needs to know of the request's API key.
func (s *Server) caller(ctx context.Context) trust.Caller {
	return trust.Caller{MayRead: s.mayReadSecrets(ctx), ReadScope: s.ops.byID["AccessConnection"].Scope}
}
