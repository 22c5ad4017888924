package httpapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
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
)

// Scopes lists every scope, for validation and docs.
var Scopes = []string{ScopeRead, ScopeWrite, ScopeProxy, ScopeAccess, ScopeAdmin}

// operationScopes says which scope each operation needs; operations not listed need ScopeAdmin.
var operationScopes = map[string]string{
	"GetConnection": ScopeRead, "ListConnections": ScopeRead, "ListEnvironmentConnections": ScopeRead,
	"CreateConnection": ScopeWrite, "UpdateConnection": ScopeWrite, "DeleteConnection": ScopeWrite,
	"LinkConnectionToEnvironment": ScopeWrite, "UnlinkConnectionFromEnvironment": ScopeWrite,
	"InitialiseOAuth2Connection": ScopeWrite, "InitialiseOAuth1Connection": ScopeWrite,
	"AccessConnection": ScopeAccess,
	// Public: they check no key.
	"Healthz": "", "Readyz": "", "OAuth2Callback": "", "OAuth1Callback": "",
}

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

// scopeMiddleware checks the scope of every generated operation.
func scopeMiddleware(f api.StrictHandlerFunc, operationID string) api.StrictHandlerFunc {
	scope, ok := operationScopes[operationID]
	if !ok {
		scope = ScopeAdmin
	}
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		if err := requireScope(ctx, scope); err != nil {
			return nil, err
		}
		return f(ctx, w, r, request)
	}
}
