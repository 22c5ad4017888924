package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOperationsOfSecurity: the operation table reads each operation's security: `[]` is public,
// `bearerToken: []` any valid key (no scope), `bearerToken: [scope]` that scope; anything else, or
// no security at all, refuses the spec.
func TestOperationsOfSecurity(t *testing.T) {
	spec := func(security string) string {
		return specAt("/x", security)
	}
	load := func(t *testing.T, doc string) (*operations, error) {
		t.Helper()
		d, err := openapi3.NewLoader().LoadFromData([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return operationsOf(d)
	}
	for _, tc := range []struct {
		name, security string
		public         bool
		scope          string
		err            string
	}{
		{"public", "      security: []\n", true, "", ""},
		{"any valid key", "      security:\n      - bearerToken: []\n", false, "", ""},
		{"one scope", "      security:\n      - bearerToken: [admin]\n", false, ScopeAdmin, ""},
		{"no security", "", false, "", "states no security"},
		{"two scopes", "      security:\n      - bearerToken: [admin, events:read]\n", false, "", "exactly one scope"},
		{"another scheme", "      security:\n      - other: []\n", false, "", "exactly one scope"},
		{"unknown scope", "      security:\n      - bearerToken: [everything]\n", false, "", "unknown scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := load(t, spec(tc.security))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			op := ops.byID["X"]
			if op == nil || op.Public != tc.public || op.Scope != tc.scope {
				t.Errorf("operation = %+v, want public %v scope %q", op, tc.public, tc.scope)
			}
		})
	}
}

func specAt(path, security string) string {
	return "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  " + path + ":\n    get:\n      operationId: X\n" +
		"      parameters: []\n" + security + "      responses: {'200': {description: ok}}\n"
}

// TestAnyKeyOnlyOutsideOrganisations: `bearerToken: []` (any valid key, no scope) is refused on a
// path under an organisation, and the contract's scope-less operations are exactly the catalogue's
// two: a mistaken `bearerToken: []` elsewhere fails here, not only in review.
func TestAnyKeyOnlyOutsideOrganisations(t *testing.T) {
	d, err := openapi3.NewLoader().LoadFromData([]byte(specAt("/o/{organisation_id}/things",
		"      security:\n      - bearerToken: []\n")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := operationsOf(d); err == nil || !strings.Contains(err.Error(), "must name one scope") {
		t.Fatalf("err = %v, want the refusal of bearerToken: [] under an organisation", err)
	}
	var anyKey []string
	for id, op := range mustOperations().byID {
		if !op.Public && op.Scope == "" {
			anyKey = append(anyKey, id)
		}
	}
	slices.Sort(anyKey)
	if want := []string{"GetCatalogueEntry", "ListCatalogue"}; !slices.Equal(anyKey, want) {
		t.Errorf("operations any valid key may call: %v, want %v", anyKey, want)
	}
}

// TestProxyRouteAsServeMux holds proxyRoute to ServeMux: every path it serves without the mux, the
// server's own mux routes to the proxy too, with the same pattern and path values; and the
// ordinary proxied path is one of them.
func TestProxyRouteAsServeMux(t *testing.T) {
	type routed struct {
		pattern, org, conn, path string
	}
	var got *routed
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = &routed{r.Pattern, r.PathValue("organisation_id"), r.PathValue("connection_id"), r.PathValue("path")}
	})
	mux := (&Server{}).routes(Config{}, proxy)
	viaMux := func(method, target string) *routed {
		r := httptest.NewRequest(method, target, nil)
		if _, pattern := mux.Handler(r); pattern != proxyPattern {
			return nil
		}
		got = nil
		mux.ServeHTTP(httptest.NewRecorder(), r) // a redirect to a cleaned path never reaches proxy
		return got
	}
	viaRoute := func(method, target string) *routed {
		r := httptest.NewRequest(method, target, nil)
		got = nil
		proxyRoute(http.NewServeMux(), proxy).ServeHTTP(httptest.NewRecorder(), r)
		return got
	}
	const org, conn = "01M8RYJX865KEBJX9M4YWX0R25", "01M8RYJX8C7WYVA60P834WPDEH"
	base := "/o/" + org + "/connections/" + conn
	paths := []string{
		base + "/proxy/v1/customers/42", base + "/proxy/", base + "/proxy/v1/", base + "/proxy/v1/customers?x=1",
		base + "/proxy/a%2Fb/%3F/%25", base + "/proxy/ü",
		base + "/proxy", base + "/proxy//v1", base + "/proxy/./v1", base + "/proxy/../v1", base + "/proxy/v1/..",
		base + "/proxy/v1/.", base + "/proxy/%2E%2E/v1", base + "/proxy/v1//", "/o/" + org + "/connections//proxy/v1",
		"/o/" + org + "/connections/a%2Fb/proxy/v1", "/o/" + org + "/connections/x.y/proxy/v1",
		"/o/./connections/" + conn + "/proxy/v1", "/o/" + org + "/connections/" + conn + "/access",
		"/o/" + org + "/connections/" + conn, "/o/" + org + "/connections/import/proxy/v1",
		"/o/" + org + "/systems/import/proxy/v1", "//o/" + org + "/connections/" + conn + "/proxy/v1",
		"/o/o/connections/connections/proxy/proxy/", "/connect/o/x/connections/y/proxy/z",
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"} {
		for _, target := range paths {
			route := viaRoute(method, target)
			if route == nil {
				continue // left to the mux
			}
			if mux := viaMux(method, target); mux == nil || *mux != *route {
				t.Errorf("%s %s: served without the mux as %+v, the mux routes it to %+v", method, target, route, mux)
			}
		}
	}
	if viaRoute("GET", base+"/proxy/v1/customers/42") == nil {
		t.Error("an ordinary proxied call goes through the mux")
	}
	// No operation but the proxy's lies under a connection's /proxy/.
	for _, op := range Operations() {
		if strings.Contains(op.Path, "/proxy") && op.Path != proxyPath {
			t.Errorf("operation %s at %s is under the proxy's path, which proxyRoute serves without the mux", op.ID, op.Path)
		}
	}
}

// BenchmarkProxyRoute measures routing a proxied call to its handler, through the server's
// ServeMux and through proxyRoute.
//
//	go test ./internal/httpapi -run '^$' -bench ProxyRoute -benchmem -count 5
func BenchmarkProxyRoute(b *testing.B) {
	proxy := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := (&Server{}).routes(Config{}, proxy)
	target := "/o/01M8RYJX865KEBJX9M4YWX0R25/connections/01M8RYJX8C7WYVA60P834WPDEH/proxy/v1/customers/42"
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"mux", mux}, {"proxyRoute", proxyRoute(mux, proxy)}} {
		b.Run(bc.name, func(b *testing.B) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", target, nil)
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}
