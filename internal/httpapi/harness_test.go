package httpapi_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/testlog"
	"github.com/plugboard/plugboard/internal/vault"
)

// harness is a server on a real SQLite file with every response validated against the contract.
// It records every response body so secret-leak tests can search them all.
type harness struct {
	t      testing.TB
	srv    *httptest.Server
	store  plugboard.Store
	keys   *vault.Vault
	dbPath string // the SQLite file, when the store is SQLite
	pgURL  string // the PostgreSQL URL (with its own schema), when the store is PostgreSQL
	logs   *testlog.Buffer
	org    ulid.ULID
	key    string

	mu        sync.Mutex
	responses [][]byte
	skew      time.Duration // added to the server's clock, to expire things
}

// clock is the server's clock: now, plus what advance added.
func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Add(h.skew)
}

// advance moves the server's clock forward.
func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.skew += d
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	// Providers in these tests run on 127.0.0.1; nothing may be looked up in DNS.
	return newHarnessWith(t, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver(), RequestTimeout: 3 * time.Second})
}

// newHarnessWith is newHarness with the outbound client configured by the test, and the server's
// Config adjusted by each of opts.
func newHarnessWith(t testing.TB, outCfg outbound.Config, opts ...func(*httpapi.Config)) *harness {
	t.Helper()
	return newHarnessOn(t, nil, outCfg, opts...)
}

// newHarnessOn is newHarnessWith serving on listener l (from listen), for a peer that must know the
// server's address before the server starts; a listener of its own when l is nil.
func newHarnessOn(t testing.TB, l net.Listener, outCfg outbound.Config, opts ...func(*httpapi.Config)) *harness {
	t.Helper()
	store := apitest.OpenStore(t)
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store.DB, keys: keys, dbPath: store.Path, pgURL: store.URL, logs: &testlog.Buffer{}}
	h.org, h.key = h.newOrg("test")
	logger := apitest.Logger(h.logs)
	out := outbound.New(outCfg)
	h.srv = httptest.NewUnstartedServer(nil)
	if l != nil {
		h.srv.Listener.Close()
		h.srv.Listener = l
	}
	cfg := httpapi.Config{Store: store.DB, Keys: keys, Logger: logger, Outbound: out,
		PublicURL: "http://" + h.srv.Listener.Addr().String(), Now: h.clock, ReturnURLOrigins: []string{"https://app.example"},
		// Tokens are refreshed when they expire, not ahead: the tests' tokens live seconds, and a
		// slow run (the race detector) must not see a new token expire within the skew.
		RefreshSkew: 10 * time.Millisecond}
	for _, opt := range opts {
		opt(&cfg)
	}
	handler := httpapi.New(cfg)
	h.srv.Config.Handler = apitest.Validator(t, handler)
	if _, bench := t.(*testing.B); bench {
		// Benchmarks measure the server, not the test's validation of its answers (which costs more
		// than most operations).
		h.srv.Config.Handler = handler
	}
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// listen returns a listener on 127.0.0.1 for newHarnessOn; its address is known at once.
func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// rawDB opens the test's database directly, bypassing the store, with a function that adapts
// ?-placeholder queries to it.
func (h *harness) rawDB() (*sql.DB, func(string) string) {
	h.t.Helper()
	if h.pgURL != "" {
		db, err := sql.Open("pgx", h.pgURL)
		if err != nil {
			h.t.Fatal(err)
		}
		return db, func(q string) string {
			for n := 1; strings.Contains(q, "?"); n++ {
				q = strings.Replace(q, "?", "$"+strconv.Itoa(n), 1)
			}
			return q
		}
	}
	db, err := sql.Open("sqlite", h.dbPath)
	if err != nil {
		h.t.Fatal(err)
	}
	return db, func(q string) string { return q }
}

// databaseDumps returns the raw bytes the database holds: the SQLite file with its WAL, or a
// pg_dump of the test's schema.
func (h *harness) databaseDumps() map[string][]byte {
	h.t.Helper()
	out := map[string][]byte{}
	if h.pgURL != "" {
		cmd := exec.Command("pg_dump", "--schema="+pgtest.Schema(h.pgURL), "--data-only", "--inserts", pgtest.BaseURL(h.t))
		data, err := cmd.Output()
		if err != nil {
			h.t.Fatalf("pg_dump: %v", err)
		}
		if !bytes.Contains(data, []byte("INSERT INTO")) {
			h.t.Fatalf("pg_dump holds no rows")
		}
		out["pg_dump"] = data
		return out
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if data, err := os.ReadFile(h.dbPath + suffix); err == nil {
			out["plugboard.db"+suffix] = data
		}
	}
	return out
}

// newOrg creates an organisation with an API key directly in the store.
func (h *harness) newOrg(name string) (ulid.ULID, string) {
	h.t.Helper()
	return apitest.NewOrganisation(h.t, h.store, name)
}

// newKey creates another API key (with every scope) of an organisation directly in the store.
func (h *harness) newKey(orgID ulid.ULID) string {
	h.t.Helper()
	return apitest.NewKey(h.t, h.store, orgID)
}

// response is one answer of the API.
type response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into v, failing the test if it cannot.
func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// apiError is the spec's Error as tests read it.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details string `json:"details"`
	Fields  []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"fields"`
}

func (r response) Error(t testing.TB) apiError {
	t.Helper()
	var e apiError
	r.JSON(t, &e)
	return e
}

// fieldNames lists the fields an error names.
func (e apiError) fieldNames() []string {
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

// do sends a request with the harness's key (or the one given with asKey) to a path relative to
// the organisation ("/connections") or absolute ("/healthz", starting with "//" for raw paths).
func (h *harness) do(method, path string, body any) response {
	return h.doAs(h.key, h.org, method, path, body)
}

func (h *harness) doAs(key string, org ulid.ULID, method, path string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	url := h.srv.URL + "/o/" + org.String() + path
	if strings.HasPrefix(path, "//") {
		url = h.srv.URL + path[1:]
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	// Redirects are answers to check, never to follow (a return URL may name any host).
	client := &http.Client{Transport: h.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.responses = append(h.responses, data)
	h.mu.Unlock()
	return response{Status: res.StatusCode, Body: data, Header: res.Header}
}

// doAsNoRedirect sends an unauthenticated GET and returns the answer, redirects included.
func (h *harness) doAsNoRedirect(path string) response {
	return h.doAs("", h.org, "GET", path, nil)
}

// must fails the test unless the response has the wanted status, and returns it.
func (h *harness) must(want int, r response) response {
	h.t.Helper()
	if r.Status != want {
		h.t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	return r
}

// allResponses returns every response body the harness has seen.
func (h *harness) allResponses() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.responses...)
}

// obj is shorthand for JSON objects in requests.
type obj = map[string]any

// arr is shorthand for JSON arrays in requests.
type arr = []any

const zeroID = "00000000000000000000000000"

// fixture is a system with one auth scheme config of each kind, a project and a template per
// config, so connections of every credential type can be created.
type fixture struct {
	systemID  string
	projectID string
	envID     string
	templates map[string]string // config id -> template id
}

// schemeConfigs returns one auth scheme config per scheme type, keyed by a config id.
func schemeConfigs() []obj {
	return []obj{
		{"type": "none", "none": obj{"id": "none", "description": "no auth"}},
		{"type": "api-key", "apiKey": obj{"id": "api-key", "description": "key in header", "name": "X-Api-Key", "in": "header"}},
		{"type": "basic-auth", "basicAuth": obj{"id": "basic", "description": "basic"}},
		{"type": "hmac", "hmac": obj{"id": "hmac", "description": "hmac", "name": "X-Signature", "in": "header",
			"algorithm": "sha256", "digestInputs": arr{"body", "url"}, "encoding": "hex",
			"prefix": "v1=", "timestampHeader": "X-Timestamp", "timestampTolerance": 600, "template": "v1:{timestamp}:{url}:{body}"}},
		{"type": "certificate", "certificate": obj{"id": "cert", "description": "mtls"}},
		{"type": "jwt-bearer", "jwtBearer": obj{"id": "jwt", "description": "jwt"}},
		{"type": "secret", "secret": obj{"id": "secret", "description": "webhook secret"}},
		{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "code", "authorizeUrl": "https://provider.example/authorize",
			"tokenUrl": "https://provider.example/token", "scopes": arr{obj{"name": "read"}}, "defaultScopes": arr{"read"},
			"grant": obj{"type": "authorizationCode"}}},
		{"type": "oauth2", "oauth2": obj{"id": "oauth2-password", "description": "password",
			"tokenUrl": "https://provider.example/token", "scopes": arr{}, "defaultScopes": arr{},
			"grant": obj{"type": "password"}}},
		{"type": "oauth2", "oauth2": obj{"id": "oauth2-client", "description": "client credentials",
			"tokenUrl": "https://provider.example/token", "scopes": arr{}, "defaultScopes": arr{},
			"grant": obj{"type": "clientCredentials"}}},
		{"type": "oauth1", "oauth1": obj{"id": "oauth1", "description": "three-legged", "consumerKey": "ck", "consumerSecret": "SECRET-consumer-secret",
			"signatureMethod":                    "sha1",
			"tempCredentialEndpoint":             obj{"url": "https://provider.example/request_token"},
			"resourceOwnerAuthorizationEndpoint": obj{"url": "https://provider.example/authorize"},
			"tokenEndpoint":                      obj{"url": "https://provider.example/access_token"}}},
		{"type": "oauth1", "oauth1": obj{"id": "oauth1-token", "description": "token given", "consumerKey": "ck2",
			"consumerSecret": "SECRET-consumer-secret-2", "signatureMethod": "sha256", "tokenAuth": true}},
	}
}

func (h *harness) fixture() fixture {
	h.t.Helper()
	var sys struct {
		ID string `json:"id"`
	}
	configs := schemeConfigs()
	list := make(arr, len(configs))
	for i, c := range configs {
		list[i] = c
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Everything", "domain": "everything.example",
		"templateBaseUrl": "https://api.everything.example", "authSchemeConfigs": list})).JSON(h.t, &sys)
	var proj struct {
		ID           string `json:"id"`
		Environments []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "Project"})).JSON(h.t, &proj)
	f := fixture{systemID: sys.ID, projectID: proj.ID, envID: proj.Environments[0].ID, templates: map[string]string{}}
	for _, c := range configs {
		for _, member := range c {
			m, ok := member.(obj)
			if !ok {
				continue
			}
			id := m["id"].(string)
			var tpl struct {
				ID string `json:"connectionTemplateId"`
			}
			h.must(200, h.do("POST", "/projects/"+f.projectID+"/connection-templates", obj{"systemId": sys.ID,
				"name": "tpl-" + id, "environmentId": f.envID, "dynamic": true})).JSON(h.t, &tpl)
			h.must(200, h.do("PUT", "/projects/"+f.projectID+"/connection-templates/"+tpl.ID,
				obj{"authSchemeConfigIds": arr{id}}))
			f.templates[id] = tpl.ID
		}
	}
	return f
}

// activationParams returns the path parameters of the activation operations for the end user's
// activation in the fixture's environment (its connection made it).
func (h *harness) activationParams(f fixture, userID string) map[string]string {
	h.t.Helper()
	var acts []struct {
		ID string `json:"id"`
	}
	h.must(200, h.do("GET", "/environment/"+f.envID+"/users/"+userID+"/activations", nil)).JSON(h.t, &acts)
	if len(acts) != 1 {
		h.t.Fatalf("end user %s has %d activations in the fixture's environment, want 1", userID, len(acts))
	}
	return map[string]string{"environment_id": f.envID, "activation_id": acts[0].ID,
		"env_system_id": f.templates["api-key"], "external_user_id": userID}
}

// latestEventID returns the id of the organisation's newest event.
func (h *harness) latestEventID() string {
	h.t.Helper()
	var page struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	h.must(200, h.do("GET", "/events?first=1", nil)).JSON(h.t, &page)
	if len(page.Events) == 0 {
		h.t.Fatal("the organisation has no events")
	}
	return page.Events[0].ID
}

// connectSessionFixture makes a connect session for a new end user through the API and returns
// its id, for the path parameter of DeleteConnectSession.
func (h *harness) connectSessionFixture(f fixture) string {
	h.t.Helper()
	var cs struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/connect-sessions", obj{"endUser": obj{"externalId": "session-fixture-" + ulid.Make().String()},
		"environmentId": f.envID, "templateIds": arr{f.templates["api-key"]}})).JSON(h.t, &cs)
	return cs.ID
}

// webhookFixture makes a webhook endpoint through the API and returns its id, for the path
// parameters of the webhook operations.
func (h *harness) webhookFixture() string {
	h.t.Helper()
	var ep struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/webhook-endpoints", obj{"url": "https://hooks.example.com/fixture"})).JSON(h.t, &ep)
	return ep.ID
}
