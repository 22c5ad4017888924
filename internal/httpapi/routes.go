package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plugboard/plugboard/api"
)

// operation is what the server enforces for one operation of api/openapi.yaml before its handler
// runs. The spec is the one source: each operation's `security` requirement names its scope
// (`security: []` marks a public one, `bearerToken: []` one any valid key may call) and
// `x-plugboard-max-body-bytes` its body limit.
type operation struct {
	ID     string
	Method string
	Path   string // as the spec writes it, e.g. /o/{organisation_id}/connections
	Public bool
	Scope  string
	// MaxBody bounds the request body; 0 means unbounded (the proxy streams).
	MaxBody int64
}

// operations indexes the spec's operations by route.
type operations struct {
	byRoute map[string]*operation // "METHOD /path", as ServeMux patterns are registered
	byID    map[string]*operation
}

// route returns the operation for a method and spec path.
func (o *operations) route(method, path string) *operation {
	return o.byRoute[method+" "+path]
}

// bodyLimitExtension is the spec extension that sets an operation's body limit in bytes (0:
// unbounded); operations without it get MaxBodyBytes.
const bodyLimitExtension = "x-plugboard-max-body-bytes"

// specOperations reads the operation table from the spec embedded in package api, once.
var specOperations = sync.OnceValues(func() (*operations, error) {
	doc, err := api.Spec()
	if err != nil {
		return nil, err
	}
	return operationsOf(doc)
})

// operationsOf builds the table, refusing a spec in which an operation does not say who may call
// it: every operation states its security, public, any valid key (`bearerToken: []`) or exactly one
// scope of the bearer key.
func operationsOf(doc *openapi3.T) (*operations, error) {
	ops := &operations{byRoute: map[string]*operation{}, byID: map[string]*operation{}}
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, o := range doc.Paths.Find(path).Operations() {
			op := &operation{ID: o.OperationID, Method: method, Path: path, MaxBody: MaxBodyBytes}
			switch {
			case o.Security == nil:
				return nil, fmt.Errorf("operation %s states no security: give it `security: []` (public) or one scope", op.ID)
			case len(*o.Security) == 0:
				op.Public = true
			case len(*o.Security) == 1 && len((*o.Security)[0]) == 1 && (*o.Security)[0]["bearerToken"] != nil && len((*o.Security)[0]["bearerToken"]) == 0:
				// `bearerToken: []`: any valid key of any scope (the catalogue, which holds no tenant data).
				// Never for an organisation's resources, whose scope is what keeps a key to its job.
				if strings.Contains(path, "{organisation_id}") {
					return nil, fmt.Errorf("operation %s is under an organisation and must name one scope, not `bearerToken: []`", op.ID)
				}
			case len(*o.Security) == 1 && len((*o.Security)[0]) == 1 && len((*o.Security)[0]["bearerToken"]) == 1:
				op.Scope = (*o.Security)[0]["bearerToken"][0]
				if !slices.Contains(Scopes, op.Scope) {
					return nil, fmt.Errorf("operation %s names the unknown scope %q", op.ID, op.Scope)
				}
			default:
				return nil, fmt.Errorf("operation %s must name exactly one scope of bearerToken", op.ID)
			}
			if v, ok := o.Extensions[bodyLimitExtension]; ok {
				n, ok := v.(float64)
				if !ok || n < 0 || n != float64(int64(n)) {
					return nil, fmt.Errorf("operation %s: %s must be a whole number of bytes", op.ID, bodyLimitExtension)
				}
				op.MaxBody = int64(n)
			}
			ops.byRoute[method+" "+path] = op
			ops.byID[op.ID] = op
		}
	}
	return ops, nil
}

// mustOperations returns the table; the spec is embedded, so an error is a build defect.
func mustOperations() *operations {
	ops, err := specOperations()
	if err != nil {
		panic("api/openapi.yaml: " + err.Error())
	}
	return ops
}

// Operation describes one operation of the API as the server enforces it, for tests and docs.
type Operation struct {
	ID, Method, Path string
	Public           bool
	Scope            string
	MaxBody          int64
}

// Operations lists every operation of the spec with what the server enforces for it.
func Operations() []Operation {
	ops := mustOperations()
	out := make([]Operation, 0, len(ops.byID))
	for _, op := range ops.byID {
		out = append(out, Operation(*op))
	}
	slices.SortFunc(out, func(a, b Operation) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// proxyPath is the spec's path of the proxy operations, which are served by hand.
const proxyPath = "/o/{organisation_id}/connections/{connection_id}/proxy/{path}"

// operationOf finds the operation a routed request is for, from the pattern ServeMux matched.
func (s *Server) operationOf(r *http.Request) *operation {
	if r.Pattern == proxyPattern {
		return s.ops.route(r.Method, proxyPath)
	}
	method, path, _ := strings.Cut(r.Pattern, " ")
	if r.Method == http.MethodHead && method == http.MethodGet {
		if op := s.ops.route(http.MethodHead, path); op != nil {
			return op
		}
	}
	return s.ops.route(method, path)
}

// proxyRoute serves a request for the proxy without ServeMux's matching when its path is plainly
// one: /o/{organisation_id}/connections/{connection_id}/proxy/ then anything, with ids that hold
// no escape or dot, and the path already clean (nothing ServeMux would redirect). Everything else
// goes through mux. ServeMux matches a path under a {path...} wildcard twice (the second time to
// look for a trailing-slash redirect), which was about a tenth of a warm proxied call's CPU
// (docs/benchmarks.md). The request is set up as ServeMux sets it up: the same Pattern and path
// values; no other route can match these paths, and TestProxyRouteAsServeMux holds the two to the
// same answers.
func proxyRoute(mux *http.ServeMux, proxy http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, conn, rest, ok := plainProxyPath(r)
		if !ok {
			mux.ServeHTTP(w, r)
			return
		}
		r.Pattern = proxyPattern
		r.SetPathValue("organisation_id", org)
		r.SetPathValue("connection_id", conn)
		r.SetPathValue("path", rest)
		proxy.ServeHTTP(w, r)
	})
}

// plainProxyPath reads a path that proxyRoute may serve without ServeMux: its ids, and the rest
// after /proxy/ unescaped as ServeMux gives it.
func plainProxyPath(r *http.Request) (org, conn, rest string, ok bool) {
	if r.Method == http.MethodConnect {
		return "", "", "", false // ServeMux routes CONNECT by its own rules
	}
	p := r.URL.EscapedPath()
	after, found := strings.CutPrefix(p, "/o/")
	if !found {
		return "", "", "", false
	}
	org, after, _ = strings.Cut(after, "/")
	after, found = strings.CutPrefix(after, "connections/")
	if !found {
		return "", "", "", false
	}
	conn, after, _ = strings.Cut(after, "/")
	rest, found = strings.CutPrefix(after, "proxy/")
	if !found || !plainSegment(org) || !plainSegment(conn) || !cleanPath(p) {
		return "", "", "", false
	}
	if strings.IndexByte(rest, '%') >= 0 {
		u, err := url.PathUnescape(rest)
		if err != nil {
			return "", "", "", false
		}
		rest = u
	}
	return org, conn, rest, true
}

// plainSegment reports whether s is a path segment that needs no unescaping and that no
// cleaning could change: not empty, no '%', no '.'.
func plainSegment(s string) bool {
	return s != "" && strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '.') < 0
}

// cleanPath reports whether ServeMux would leave p as it is: no empty, "." or ".." segment but a
// trailing slash (ServeMux's cleanPath is path.Clean keeping the trailing slash).
func cleanPath(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		return len(p) == len(c)+1 && strings.HasPrefix(p, c)
	}
	return c == p
}
