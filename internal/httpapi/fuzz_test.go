package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
)

// "TPL_<config id>" in a fuzz input is replaced by the id of the fixture's template offering that
// config, so seeds can be valid requests of every credential type and the fuzzer explores around
// them rather than only around "template not found".
const templatePlaceholder = "TPL_api-key"

// FuzzCreateConnection sends arbitrary bodies to CreateConnection on a real store. Whatever the
// body, the answer is never a failure of Plugboard (a 5xx other than the documented answers about
// an unreachable provider) and always matches the contract (an Error for failures).
// Seeds live in testdata/fuzz/FuzzCreateConnection; run with
//
//	go test -run '^$' -fuzz FuzzCreateConnection -fuzztime 60s ./internal/httpapi/
func FuzzCreateConnection(f *testing.F) {
	h := newHarness(f)
	fx := h.fixture()
	var replacements []string
	for configID, tplID := range fx.templates {
		replacements = append(replacements, "TPL_"+configID, tplID)
	}
	// Longest first, so "TPL_oauth1-token" is not read as "TPL_oauth1" followed by "-token".
	replacer := strings.NewReplacer(longestFirst(replacements)...)
	// A handler without the validating wrapper: inside the fuzz function, failures must be
	// reported on the iteration's own *testing.T.
	// Whatever URL the fuzzer makes up, nothing leaves the process: private addresses are refused
	// and no host name is looked up.
	handler := httpapi.New(httpapi.Config{Store: h.store, Keys: h.keys, Logger: slog.New(slog.DiscardHandler),
		Outbound: outbound.New(outbound.Config{Resolver: outbound.NoDNSResolver()})})
	path := "/o/" + h.org.String() + "/connections"

	f.Add([]byte(`{"connectionTemplateId":"` + templatePlaceholder + `","connection":{"name":"a","credentials":[{"id":"00000000000000000000000000","authSchemeConfig":{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}},"credential":{"id":"00000000000000000000000000","organisationId":"00000000000000000000000000","type":"string","data":{"string":{"value":"v"}}}}]}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, body []byte) {
		body = []byte(replacer.Replace(string(body)))
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.key)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		// Some 5xx are answers, not failures: 502/504 say the provider named in the body cannot be
		// reached (nothing leaves this test's process), 501 that a flow is not built yet. Any other
		// 5xx, above all 500, fails.
		if rec.Code >= 500 && !answeredUpstream(rec.Code, rec.Body.Bytes()) {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		check := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, io.NopCloser(bytes.NewReader(body)))
		if err := apitest.ValidateResponse(check, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("status %d response does not match the contract: %v\nbody: %q\nresponse: %s", rec.Code, err, body, rec.Body.Bytes())
		}
	})
}

// longestFirst orders old/new pairs by descending length of old, for strings.NewReplacer, which
// otherwise prefers the pair given first.
func longestFirst(pairs []string) []string {
	type pair struct{ old, new string }
	ps := make([]pair, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ps = append(ps, pair{pairs[i], pairs[i+1]})
	}
	sort.Slice(ps, func(i, j int) bool { return len(ps[i].old) > len(ps[j].old) })
	out := make([]string, 0, len(pairs))
	for _, p := range ps {
		out = append(out, p.old, p.new)
	}
	return out
}

// TestFuzzSeedsAreValidRequests keeps the checked-in seeds useful: each is a request the server
// accepts (201), or refuses only for needing a provider exchange (501).
func TestFuzzSeedsAreValidRequests(t *testing.T) {
	h := newHarness(t)
	fx := h.fixture()
	var pairs []string
	for configID, tplID := range fx.templates {
		pairs = append(pairs, "TPL_"+configID, tplID)
	}
	replacer := strings.NewReplacer(longestFirst(pairs)...)
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzCreateConnection", "seed-*"))
	if err != nil || len(files) < 10 {
		t.Fatalf("seeds: %v %d", err, len(files))
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(data), "\n", 3)
		lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		body, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		r := h.do("POST", "/connections", replacer.Replace(body))
		// Seeds of types that call a provider reach it here only to be refused (no flow was
		// started, no token endpoint listens): what matters is a 4xx naming why, never a 5xx.
		callsProvider := strings.Contains(file, "oauth2-code-oauth2-code") || strings.Contains(file, "oauth2-password-oauth2-password") ||
			strings.Contains(file, "oauth2-client") || strings.Contains(file, "oauth1-oauth1")
		switch {
		case callsProvider && (r.Status == 400 || r.Status == 501 || r.Status == 502):
		case r.Status != 201:
			t.Errorf("%s: status %d: %s", filepath.Base(file), r.Status, r.Body)
		}
	}
}

// answeredUpstream reports whether a 5xx is one of the documented answers about a provider (or a
// flow not built yet) rather than a failure of Plugboard itself.
func answeredUpstream(status int, body []byte) bool {
	var e struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	switch {
	case status == http.StatusNotImplemented && e.Code == "not_implemented",
		status == http.StatusBadGateway && (e.Code == "upstream_unavailable" || e.Code == "upstream_too_large"),
		status == http.StatusGatewayTimeout && e.Code == "upstream_timeout":
		return true
	}
	return false
}

// bodyOperation is an operation of the contract that takes a JSON request body.
type bodyOperation struct {
	id, method, path string // path as the contract writes it, with {parameters}
}

// bodyOperations lists, from api/openapi.yaml, every operation with a JSON request body, ordered by
// operation id; an operation added to the contract is fuzzed without a change here.
func bodyOperations(t testing.TB) []bodyOperation {
	t.Helper()
	var ops []bodyOperation
	for path, item := range apitest.Spec(t).Paths.Map() {
		for method, op := range item.Operations() {
			// Exactly application/json: Content.Get would also match the inbound webhook's */*, whose
			// raw bytes are the sender's, not JSON Plugboard decodes.
			if op.RequestBody == nil || op.RequestBody.Value == nil || op.RequestBody.Value.Content["application/json"] == nil {
				continue
			}
			ops = append(ops, bodyOperation{id: op.OperationID, method: method, path: path})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	if len(ops) == 0 || len(ops) > 256 {
		t.Fatalf("%d operations take a JSON body; the first input byte chooses among at most 256", len(ops))
	}
	return ops
}

// requestBodySeeds holds a valid body for each operation with a JSON body, by operation id.
// Placeholders (see FuzzRequestBodies) stand for the fixture's ids. A new operation needs a seed
// here: FuzzRequestBodies refuses to start without one.
var requestBodySeeds = map[string]string{
	"AccessConnection":                `{"forceRefresh":false}`,
	"ActivateUser":                    `{"userId":"fuzz-activated","environmentId":"ENV_ID","connections":[{"connectionTemplateId":"TPL_api-key","connection":{"name":"fuzz","credentials":[{"id":"00000000000000000000000000","authSchemeConfig":{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}},"credential":{"id":"00000000000000000000000000","organisationId":"00000000000000000000000000","type":"string","data":{"string":{"value":"SECRET-fuzz-activation"}}}}]}}],"dynamicVariables":{"region":"eu"}}`,
	"CreateAPIKey":                    `{"name":"fuzz-key","scopes":["api-keys:manage","connections:read"],"expiresAt":"2999-01-01T00:00:00Z"}`,
	"CreateConnection":                `{"connectionTemplateId":"TPL_api-key","connection":{"name":"fuzz","credentials":[{"id":"00000000000000000000000000","authSchemeConfig":{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}},"credential":{"id":"00000000000000000000000000","organisationId":"00000000000000000000000000","type":"string","data":{"string":{"value":"SECRET-fuzz-value"}}}}]}}`,
	"CreateConnectSession":            `{"endUser":{"externalId":"fuzz-session","displayName":"Fuzz"},"environmentId":"ENV_ID","templateIds":["TPL_api-key"],"returnUrl":"https://app.example/done","allowedOrigins":["https://app.example"]}`,
	"CreateConnectionTemplate":        `{"systemId":"SYS_ID","name":"fuzz-template","environmentId":"ENV_ID","dynamic":true}`,
	"CreateEndUser":                   `{"externalId":"fuzz-user","displayName":"Fuzz"}`,
	"CreateProject":                   `{"name":"Fuzz","environments":["production","staging"]}`,
	"CreateSystem":                    `{"name":"Fuzz","domain":"fuzz.example","templateBaseUrl":"https://api.fuzz.example","authSchemeConfigs":[{"type":"oauth2","oauth2":{"id":"code","description":"","authorizeUrl":"https://p.example/a","tokenUrl":"https://p.example/t","grant":{"type":"authorizationCode","authorizationCode":{"clientId":"c","clientSecret":"SECRET-fuzz-client"}}}}]}`,
	"InitialiseOAuth1Connection":      `{"credential":{"id":"00000000000000000000000000","organisationId":"ORG_ID"},"returnUrl":"https://app.example/back"}`,
	"InitialiseOAuth2Connection":      `{"authorizeUrl":"https://provider.example/authorize","clientId":"go-client","credential":{"id":"CRED_ID","organisationId":"ORG_ID"},"scopes":["read"],"redirectUrl":"http://127.0.0.1:62168/oauth/callback"}`,
	"LinkConnectionToEnvironment":     `{"connectionTemplateId":"TPL_api-key"}`,
	"UnlinkConnectionFromEnvironment": `{"connectionTemplateId":"TPL_api-key"}`,
	"UpdateConnection":                `{"name":"fuzz-updated","baseUrl":"","credentials":[{"id":"00000000000000000000000000","authSchemeConfig":{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}},"credential":{"id":"00000000000000000000000000","organisationId":"00000000000000000000000000","type":"string","data":{"string":{"value":"SECRET-fuzz-other"}}}}]}`,
	"UpdateConnectionTemplate":        `{"name":"fuzz-renamed","dynamic":true,"authSchemeConfigIds":["api-key"]}`,
	"UpdateProject":                   `{"name":"Fuzz renamed"}`,
	"UpdateSystem":                    `{"name":"Everything","domain":"everything.example","templateBaseUrl":"https://api.everything.example"}`,
	"ImportSystem":                    `{"openapi":"3.0.3","info":{"title":"Fuzz","version":"1"},"servers":[{"url":"https://{r}.fuzz.example","variables":{"r":{"default":"eu"}}}],"paths":{},"components":{"securitySchemes":{"o":{"type":"oauth2","flows":{"clientCredentials":{"tokenUrl":"/token","scopes":{"a":"b"}}}}}}}`,
	"CreateWebhookEndpoint":           `{"url":"https://hooks.example.com/fuzz","description":"fuzz","eventTypes":["connection.created"],"enabled":true}`,
	"UpdateWebhookEndpoint":           `{"url":"https://hooks.example.com/fuzz2","description":"","eventTypes":[],"enabled":false}`,
	"ReplayWebhookEndpoint":           `{"since":"2020-01-01T00:00:00Z"}`,
	"UpsertAuthSchemeConfig":          `{"type":"oauth1","oauth1":{"id":"fuzz-config","description":"","consumerKey":"ck","consumerSecret":"SECRET-fuzz-consumer","signatureMethod":"sha1","tempCredentialEndpoint":{"url":"https://p.example/rt"},"resourceOwnerAuthorizationEndpoint":{"url":"https://p.example/auth"},"tokenEndpoint":{"url":"https://p.example/at"}}}`,
}

// FuzzRequestBodies sends arbitrary bodies to every operation that decodes a JSON request body, on
// a real store, with a valid key and path ids that exist. The first input byte chooses the
// operation (in bodyOperations' order), the rest is the body. Whatever the body: no 5xx but the
// documented answers about an unreachable provider, every response matches the contract, no panic
// (the handler's recovery would answer 500), and no secret sent in the body comes back.
//
//	go test -run '^$' -fuzz '^FuzzRequestBodies$' -fuzztime 60s ./internal/httpapi/
func FuzzRequestBodies(f *testing.F) {
	h := newHarness(f)
	fx := h.fixture()
	ops := bodyOperations(f)

	// Ids for the path parameters, on records kept apart from the fixture's where an operation
	// changes them, so that fuzzing an update does not take away what other seeds rely on.
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+fx.projectID+"/connection-templates", obj{"systemId": fx.systemID,
		"name": "fuzz-path", "environmentId": fx.envID, "dynamic": true})).JSON(f, &tpl)
	h.must(200, h.do("PUT", "/projects/"+fx.projectID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{"api-key"}}))
	var conn connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl.ID, "connection": obj{"name": "fuzz-path", "credentials": arr{obj{
		"id": zeroID, "authSchemeConfig": configByID("api-key"),
		"credential": obj{"type": "string", "data": obj{"string": obj{"value": "SECRET-fuzz-path"}}}}}}})).JSON(f, &conn)
	var user struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/users", obj{"externalId": "fuzz-path"})).JSON(f, &user)
	params := map[string]string{
		"organisation_id":       h.org.String(),
		"project_id":            fx.projectID,
		"connection_id":         conn.ID,
		"user_id":               user.ID,
		"system_id":             fx.systemID,
		"template_id":           tpl.ID,
		"auth_scheme_config_id": "fuzz-config",
	}
	params["webhook_endpoint_id"], params["event_id"] = h.webhookFixture(), h.latestEventID()
	paths := make([]string, len(ops))
	for i, op := range ops {
		p := op.path
		for name, value := range params {
			p = strings.ReplaceAll(p, "{"+name+"}", value)
		}
		if strings.Contains(p, "{") {
			f.Fatalf("%s: no fixture id for a parameter of %s; add one to params", op.id, op.path)
		}
		paths[i] = p
	}

	// An OAuth 2.0 code config with its client credential, which InitialiseOAuth2Connection names.
	var code struct {
		Oauth2 struct {
			Grant struct {
				AuthorizationCode struct {
					CredentialID string `json:"credentialId"`
				} `json:"authorizationCode"`
			} `json:"grant"`
		} `json:"oauth2"`
	}
	h.must(201, h.do("PUT", "/systems/"+fx.systemID+"/auth-scheme-configs/fuzz-code", obj{"type": "oauth2", "oauth2": obj{
		"id": "fuzz-code", "description": "", "authorizeUrl": "https://provider.example/authorize", "tokenUrl": "https://provider.example/token",
		"scopes": arr{obj{"name": "read"}}, "defaultScopes": arr{"read"},
		"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": "go-client", "clientSecret": "SECRET-fuzz-code"}}}})).JSON(f, &code)
	credID := code.Oauth2.Grant.AuthorizationCode.CredentialID
	replacements := []string{"ORG_ID", h.org.String(), "SYS_ID", fx.systemID, "ENV_ID", fx.envID, "PROJ_ID", fx.projectID, "CRED_ID", credID}
	for configID, tplID := range fx.templates {
		replacements = append(replacements, "TPL_"+configID, tplID)
	}
	replacer := strings.NewReplacer(longestFirst(replacements)...)
	// Values a response may carry for reasons of its own, never taken for a leaked secret.
	public := map[string]bool{}
	for i := 1; i < len(replacements); i += 2 {
		public[replacements[i]] = true
	}
	for _, v := range params {
		public[v] = true
	}

	for i, op := range ops {
		seed, ok := requestBodySeeds[op.id]
		if !ok {
			f.Fatalf("%s takes a JSON body but has no seed in requestBodySeeds", op.id)
		}
		f.Add(append([]byte{byte(i)}, seed...))
	}
	f.Add([]byte{0})

	handler := httpapi.New(httpapi.Config{Store: h.store, Keys: h.keys, Logger: slog.New(slog.DiscardHandler),
		Outbound: outbound.New(outbound.Config{Resolver: outbound.NoDNSResolver()}), ReturnURLOrigins: []string{"https://app.example"}})

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		op, path := ops[int(in[0])%len(ops)], paths[int(in[0])%len(ops)]
		body := []byte(replacer.Replace(string(in[1:])))
		req := httptest.NewRequestWithContext(context.Background(), op.method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.key)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && !answeredUpstream(rec.Code, rec.Body.Bytes()) {
			t.Fatalf("%s: status %d for body %q: %s", op.id, rec.Code, body, rec.Body.Bytes())
		}
		check := httptest.NewRequestWithContext(context.Background(), op.method, path, io.NopCloser(bytes.NewReader(body)))
		if err := apitest.ValidateResponse(check, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("%s: status %d response does not match the contract: %v\nbody: %q\nresponse: %s", op.id, rec.Code, err, body, rec.Body.Bytes())
		}
		// AccessConnection answers with the connection's stored secrets by design (its scope says
		// so); a body that happens to repeat one of them proves nothing.
		if op.id == "AccessConnection" {
			return
		}
		for _, secret := range sentSecrets(body, public) {
			quoted, _ := json.Marshal(secret)
			if bytes.Contains(rec.Body.Bytes(), []byte(secret)) || bytes.Contains(rec.Body.Bytes(), quoted[1:len(quoted)-1]) {
				t.Fatalf("%s: status %d response holds the secret %q sent in the body %q: %s", op.id, rec.Code, secret, body, rec.Body.Bytes())
			}
		}
	})
}

// secretNames are the JSON names of secret fields: those of every credential type's data (from
// internal/credentials' table) and the auth scheme configs' client and consumer secrets.
var secretNames = func() map[string]bool {
	names := map[string]bool{"clientSecret": true, "consumerSecret": true}
	for _, typ := range []api.CredentialType{api.CredentialTypeNone, api.CredentialTypeString, api.CredentialTypeBinary,
		api.CredentialTypeBasicAuth, api.CredentialTypeOauth2Client, api.CredentialTypeOauth2Code, api.CredentialTypeOauth2Password,
		api.CredentialTypeOauth2Token, api.CredentialTypeOauth1, api.CredentialTypeOauth1Token, api.CredentialTypeCertificate,
		api.CredentialTypeJwtBearer} {
		for _, name := range credentials.SecretFields(typ) {
			names[name] = true
		}
	}
	return names
}()

// sentSecrets returns the secret values a request body holds: strings of at least 8 bytes in a
// secret field of a credential's data (under "data") or an auth scheme config (clientSecret,
// consumerSecret), leaving out values that also appear in the body's public fields or are ids the
// response may name anyway.
func sentSecrets(body []byte, public map[string]bool) []string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	secret, open := map[string]bool{}, map[string]bool{}
	var walk func(v any, key string, inData bool)
	walk = func(v any, key string, inData bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				open[k] = true
				walk(e, k, inData || k == "data")
			}
		case []any:
			for _, e := range x {
				walk(e, key, inData)
			}
		case string:
			isSecret := secretNames[key] && (inData || key == "clientSecret" || key == "consumerSecret")
			switch {
			case !isSecret:
				open[x] = true
			case len(x) >= 8:
				secret[x] = true
			}
		}
	}
	walk(v, "", false)
	var out []string
	for s := range secret {
		leaksAnyway := public[s]
		for o := range open {
			if strings.Contains(o, s) {
				leaksAnyway = true
				break
			}
		}
		if !leaksAnyway {
			out = append(out, s)
		}
	}
	return out
}
