package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/oidctest"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/vault"
)

// TestRefreshOnceAcrossReplicas: two plugboard processes on one PostgreSQL database, 100
// concurrent proxy calls on an expired token split between them: exactly one refresh grant at
// oidc-provider (refresh rotation on, so a second refresh with the old token would also show up
// as a failure). Needs PLUGBOARD_TEST_DATABASE_URL and PLUGBOARD_TEST_OIDC=1.
func TestRefreshOnceAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	url := pgtest.URL(t)
	const redirect = "http://127.0.0.1:62168/oauth/callback"
	const ttl = 4 * time.Second
	p := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{redirect}, AccessTokenTTL: ttl})
	var upstreamHits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(401)
		}
	}))
	defer up.Close()

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, p.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	env := []string{"PLUGBOARD_DATABASE_URL=" + url, "PLUGBOARD_ENCRYPTION_KEY=" + vault.NewKey(),
		"PLUGBOARD_ALLOW_CIDRS=127.0.0.0/8", "PLUGBOARD_OUTBOUND_CA_FILE=" + caFile,
		// Refresh at expiry, not ahead: a slow run must not see the new token fall due.
		"PLUGBOARD_REFRESH_SKEW=100ms"}
	run(t, bin, env, "migrate")
	a := startServer(t, bin, filepath.Join(t.TempDir(), "a"), env...)
	b := startServer(t, bin, filepath.Join(t.TempDir(), "b"), env...)
	org, key := a.org, a.key

	call := func(base, method, path string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = strings.NewReader(string(data))
		}
		req, _ := http.NewRequest(method, base+"/o/"+org+path, rd)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return 0, nil
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}
	must := func(want int) func(int, []byte) []byte {
		return func(got int, out []byte) []byte {
			t.Helper()
			if got != want {
				t.Fatalf("status %d, want %d: %s", got, want, out)
			}
			return out
		}
	}
	client := p.Clients.Basic
	var sys struct {
		ID                string `json:"id"`
		AuthSchemeConfigs []struct {
			Oauth2 struct {
				Grant struct {
					AuthorizationCode struct {
						CredentialID string `json:"credentialId"`
					} `json:"authorizationCode"`
				} `json:"grant"`
			} `json:"oauth2"`
		} `json:"authSchemeConfigs"`
	}
	json.Unmarshal(must(201)(call(a.url, "POST", "/systems", map[string]any{"name": "S", "domain": "d", "templateBaseUrl": up.URL,
		"authSchemeConfigs": []any{map[string]any{"type": "oauth2", "oauth2": map[string]any{"id": "o", "description": "",
			"authorizeUrl": p.AuthorizeURL, "tokenUrl": p.TokenURL, "pkce": true, "defaultScopes": []string{"read"},
			"grant": map[string]any{"type": "authorizationCode", "authorizationCode": map[string]any{"clientId": client.ID, "clientSecret": client.Secret}}}}}})), &sys)
	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	json.Unmarshal(must(200)(call(b.url, "POST", "/projects", map[string]any{"name": "P"})), &proj)
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	json.Unmarshal(must(200)(call(a.url, "POST", "/projects/"+proj.ID+"/connection-templates", map[string]any{"systemId": sys.ID, "name": "t", "environmentId": proj.Environments[0].ID})), &tpl)
	var init struct {
		URL string `json:"url"`
	}
	json.Unmarshal(must(200)(call(b.url, "POST", "/systems/"+sys.ID+"/oauth2/initialise", map[string]any{"authorizeUrl": p.AuthorizeURL,
		"clientId": client.ID, "credential": map[string]any{"id": sys.AuthSchemeConfigs[0].Oauth2.Grant.AuthorizationCode.CredentialID},
		"scopes": []string{"openid", "read"}, "redirectUrl": redirect})), &init)
	q := p.Authorize(t, init.URL).Query()
	var conn struct {
		ID string `json:"id"`
	}
	json.Unmarshal(must(201)(call(a.url, "POST", "/connections", map[string]any{"connectionTemplateId": tpl.ID, "connection": map[string]any{"name": "c",
		"credentials": []any{map[string]any{"id": "00000000000000000000000000", "authSchemeConfig": map[string]any{"type": "oauth2", "oauth2": map[string]any{"id": "o"}},
			"credential": map[string]any{"type": "oauth2-code", "data": map[string]any{"oauth2Code": map[string]any{"code": q.Get("code"), "state": q.Get("state")}}}}}}})), &conn)
	p.Reset(t)

	time.Sleep(ttl + 500*time.Millisecond)
	const n = 100
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			base := a.url
			if i%2 == 1 {
				base = b.url
			}
			statuses[i], _ = call(base, "GET", "/connections/"+conn.ID+"/proxy/data", nil)
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("call %d: %d", i, s)
		}
	}
	counts := p.Counts(t)
	if counts["refresh_token"] != 1 || counts["refresh_token_failed"] != 0 {
		t.Errorf("provider counted %v, want exactly one refresh across both replicas", counts)
	}
	if upstreamHits.Load() != n {
		t.Errorf("the upstream got %d calls, want %d", upstreamHits.Load(), n)
	}
	a.stop(t)
	b.stop(t)
}
