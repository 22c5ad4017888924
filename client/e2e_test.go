package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/client"
	"github.com/plugboard/plugboard/internal/testlog"
)

// plugboard is a running plugboard binary, as cmd/plugboard's end-to-end tests start it.
type plugboard struct {
	bin, dataDir, url string
	org               ulid.ULID
	key               string
}

var firstStart = regexp.MustCompile(`organisation id: (\S+)\n\s+API key:\s+(\S+)`)

// startPlugboard builds the binary, starts it on a free 127.0.0.1 port and a fresh data dir with
// loopback upstreams allowed, and reads the default organisation and API key it prints.
func startPlugboard(t *testing.T) *plugboard {
	t.Helper()
	pb := &plugboard{bin: filepath.Join(t.TempDir(), "plugboard"), dataDir: filepath.Join(t.TempDir(), "data")}
	build := exec.Command("go", "build", "-o", pb.bin, "github.com/plugboard/plugboard/cmd/plugboard")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pb.url = "http://" + addr
	stdout, stderr := &testlog.Buffer{}, &testlog.Buffer{}
	cmd := exec.Command(pb.bin, "serve", "--addr", addr, "--data-dir", pb.dataDir)
	cmd.Env = append(os.Environ(), "PLUGBOARD_ALLOW_CIDRS=127.0.0.0/8")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(pb.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugboard did not become ready; stderr:\n%s", stderr.String())
		}
	}
	m := firstStart.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no organisation and key in the first start's output:\n%s", stdout.String())
	}
	pb.org, pb.key = ulid.MustParse(m[1]), m[2]
	return pb
}

// apiKey creates another API key with `plugboard api-keys create` while the server runs.
func (pb *plugboard) apiKey(t *testing.T, scopes string) string {
	t.Helper()
	cmd := exec.Command(pb.bin, "api-keys", "create", "--org", pb.org.String(), "--scopes", scopes, "--json", "--data-dir", pb.dataDir)
	out, err := cmd.Output()
	var res struct {
		APIKey string `json:"apiKey"`
	}
	if err != nil || json.Unmarshal(out, &res) != nil || res.APIKey == "" {
		t.Fatalf("api-keys create: %v %s", err, out)
	}
	return res.APIKey
}

// received is one request the upstream got.
type received struct {
	method, path, query, body string
	header                    http.Header
}

// TestAgainstPlugboard sets up a connection through client.New on the real binary and calls an
// upstream through client.Transport.
func TestAgainstPlugboard(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugboard binary")
	}
	ctx := context.Background()
	const secret = "SECRET-client-upstream-key"

	var (
		mu   sync.Mutex
		last received
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = received{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Clone()}
		mu.Unlock()
		switch r.URL.Path {
		case "/v1/missing":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"error":"no such order"}`)
		case "/v1/old":
			http.Redirect(w, r, "/v1/orders?moved=1", http.StatusMovedPermanently)
		default:
			w.Header().Set("X-Upstream", "yes")
			w.WriteHeader(201)
			_, _ = io.WriteString(w, "created by upstream")
		}
	}))
	defer upstream.Close()
	lastRequest := func() received {
		mu.Lock()
		defer mu.Unlock()
		r := last
		last = received{}
		return r
	}

	pb := startPlugboard(t)
	c, err := client.New(pb.url, pb.key)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := c.CreateSystemWithResponse(ctx, pb.org, api.CreateSystemJSONRequestBody{Name: "Shop", Domain: "shop.example",
		TemplateBaseUrl: upstream.URL, AuthSchemeConfigs: []api.AuthSchemeConfig{{Type: api.AuthSchemeTypeApiKey,
			ApiKey: &api.AuthSchemeConfigAPIKey{ID: "api-key", Description: "key", Name: "X-Api-Key", In: api.AuthSchemeConfigAPIKeyInHeader}}}})
	if err != nil || sys.JSON201 == nil {
		t.Fatalf("create system: %v %s", err, sys.Body)
	}
	proj, err := c.CreateProjectWithResponse(ctx, pb.org, api.CreateProjectJSONRequestBody{Name: "Shop sync"})
	if err != nil || proj.JSON200 == nil {
		t.Fatalf("create project: %v %s", err, proj.Body)
	}
	tpl, err := c.CreateConnectionTemplateWithResponse(ctx, pb.org, proj.JSON200.ID, api.CreateConnectionTemplateJSONRequestBody{
		SystemID: sys.JSON201.ID, Name: "shop", EnvironmentID: proj.JSON200.Environments[0].ID})
	if err != nil || tpl.JSON200 == nil {
		t.Fatalf("create template: %v %s", err, tpl.Body)
	}
	created, err := c.CreateConnectionWithResponse(ctx, pb.org, api.CreateConnectionJSONRequestBody{
		EnvironmentSystemID: tpl.JSON200.EnvironmentSystemID,
		Connection: api.ConnectionCreate{Name: "main", Credentials: api.ConnectionCredentialsCreate{{
			AuthSchemeConfig: &sys.JSON201.AuthSchemeConfigs[0],
			Credential: &api.Credential{Type: api.CredentialTypeString,
				Data: &api.CredentialData{String: &api.CredentialDataString{Value: secret}}},
		}}},
	})
	if err != nil || created.JSON201 == nil {
		t.Fatalf("create connection: %v %s", err, created.Body)
	}
	connID := created.JSON201.ID

	t.Run("connect sessions", func(t *testing.T) {
		dyn, err := c.CreateConnectionTemplateWithResponse(ctx, pb.org, proj.JSON200.ID, api.CreateConnectionTemplateJSONRequestBody{
			SystemID: sys.JSON201.ID, Name: "shop-users", EnvironmentID: proj.JSON200.Environments[0].ID, Dynamic: true})
		if err != nil || dyn.JSON200 == nil {
			t.Fatalf("create template: %v %s", err, dyn.Body)
		}
		cs, err := client.CreateConnectSession(ctx, c, pb.org, api.ConnectSessionCreate{
			EndUser: api.ConnectSessionEndUser{ExternalID: "client-user"}, EnvironmentID: proj.JSON200.Environments[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cs.Token, "pbcs_") || !strings.HasSuffix(cs.URL, "/connect/s/"+cs.ID.String()+"#token="+cs.Token) {
			t.Errorf("session %+v", cs)
		}
		pageSession := func() int {
			req, _ := http.NewRequest("GET", pb.url+"/connect/api/session", nil)
			req.Header.Set("Authorization", "Bearer "+cs.Token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		if got := pageSession(); got != 200 {
			t.Errorf("page session: %d", got)
		}
		if err := client.DeleteConnectSession(ctx, c, pb.org, cs.ID); err != nil {
			t.Fatal(err)
		}
		if got := pageSession(); got != 401 {
			t.Errorf("page session after revoke: %d, want 401", got)
		}
		var pe *client.Error
		err = client.DeleteConnectSession(ctx, c, pb.org, ulid.Make())
		if !errors.As(err, &pe) || pe.Code != "not_found" {
			t.Errorf("unknown session: %v", err)
		}
		_, err = client.CreateConnectSession(ctx, c, pb.org, api.ConnectSessionCreate{
			EndUser: api.ConnectSessionEndUser{ExternalID: "client-user"}, EnvironmentID: proj.JSON200.Environments[0].ID,
			AllowedOrigins: []string{"https://not-allowed.example"}})
		if !errors.As(err, &pe) || pe.Code != "invalid_argument" || len(pe.Fields) != 1 || pe.Fields[0].Field != "allowedOrigins[0]" {
			t.Errorf("origin not allowed: %v", err)
		}
	})

	proxyKey := pb.apiKey(t, "connections:proxy")
	tr := &client.Transport{BaseURL: pb.url, APIKey: proxyKey, OrganisationID: pb.org, ConnectionID: connID}
	hc := tr.Client()

	t.Run("forwards with the connection's credentials", func(t *testing.T) {
		req, _ := http.NewRequest("POST", "https://api.shop.example/v1/orders?x=1&y=a%20b", strings.NewReader(`{"item":42}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer caller-set-this")
		req.Header.Set("X-Custom", "kept")
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 201 || string(b) != "created by upstream" || res.Header.Get("X-Upstream") != "yes" {
			t.Errorf("response %d %q %v", res.StatusCode, b, res.Header)
		}
		got := lastRequest()
		checks := map[string]bool{
			"method":                    got.method == "POST",
			"path":                      got.path == "/v1/orders",
			"query":                     got.query == "x=1&y=a%20b",
			"body":                      got.body == `{"item":42}`,
			"the connection's API key":  got.header.Get("X-Api-Key") == secret,
			"no Authorization":          got.header.Get("Authorization") == "",
			"other headers kept":        got.header.Get("X-Custom") == "kept" && got.header.Get("Content-Type") == "application/json",
			"no Plugboard key anywhere": !strings.Contains(strings.Join(flatten(got.header), "\n"), "pbk_"),
		}
		for what, ok := range checks {
			if !ok {
				t.Errorf("upstream request: %s wrong: %+v", what, got)
			}
		}
	})

	t.Run("relative URL, force refresh and redirects", func(t *testing.T) {
		force := &client.Transport{BaseURL: pb.url, APIKey: proxyKey, OrganisationID: pb.org, ConnectionID: connID, ForceRefresh: true}
		res, err := force.Client().Get("/v1/old")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got := lastRequest()
		if res.StatusCode != 201 || got.path != "/v1/orders" || got.query != "moved=1" || got.header.Get("X-Plugboard-Force-Refresh") != "" {
			t.Errorf("redirect: %d %+v", res.StatusCode, got)
		}
	})

	t.Run("an upstream 404 is a response", func(t *testing.T) {
		res, err := hc.Get("https://api.shop.example/v1/missing")
		if err != nil {
			t.Fatalf("upstream 404 came back as an error: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 404 || string(b) != `{"error":"no such order"}` || res.Header.Get("X-Plugboard-Error") != "" {
			t.Errorf("upstream 404: %d %s", res.StatusCode, b)
		}
	})

	t.Run("Plugboard's errors are *client.Error", func(t *testing.T) {
		lastRequest() // forget earlier calls
		unknown := &client.Transport{BaseURL: pb.url, APIKey: proxyKey, OrganisationID: pb.org, ConnectionID: ulid.Make()}
		_, err := unknown.Client().Get("https://api.shop.example/v1/orders")
		var e *client.Error
		if !errors.As(err, &e) || e.Code != "not_found" || e.StatusCode != 404 || e.RequestID == "" {
			t.Errorf("unknown connection: %v", err)
		}

		readOnly := &client.Transport{BaseURL: pb.url, APIKey: pb.apiKey(t, "connections:read"), OrganisationID: pb.org, ConnectionID: connID}
		if _, err := readOnly.Client().Get("/v1/orders"); !errors.As(err, &e) || e.Code != "permission_denied" || e.StatusCode != 403 {
			t.Errorf("key without connections:proxy: %v", err)
		}

		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead := "http://" + ln.Addr().String()
		ln.Close()
		req, _ := http.NewRequest("GET", "/v1/orders", nil)
		req.Header.Set(client.HeaderBaseURL, dead)
		// Another base URL sends the credentials elsewhere: it takes the access scope too.
		if _, err := hc.Do(req); !errors.As(err, &e) || e.Code != "permission_denied" {
			t.Errorf("override with a proxy-only key: %v", err)
		}
		wide := &client.Transport{BaseURL: pb.url, APIKey: pb.apiKey(t, "connections:proxy,connections:access"), OrganisationID: pb.org, ConnectionID: connID}
		req, _ = http.NewRequest("GET", "/v1/orders", nil)
		req.Header.Set(client.HeaderBaseURL, dead)
		if _, err := wide.Client().Do(req); !errors.As(err, &e) || e.Code != "upstream_unavailable" || e.StatusCode != 502 {
			t.Errorf("unreachable upstream: %v", err)
		}
		if got := lastRequest(); got.method != "" {
			t.Errorf("the upstream was called: %+v", got)
		}
	})

	t.Run("an unknown API key is a *client.Error", func(t *testing.T) {
		bad := &client.Transport{BaseURL: pb.url, APIKey: "pbk_not-a-key", OrganisationID: pb.org, ConnectionID: connID}
		_, err := bad.Client().Get("/v1/orders")
		var pe *client.Error
		if !errors.As(err, &pe) || pe.StatusCode != 401 || pe.Code != "unauthenticated" {
			t.Errorf("unknown key: %v", err)
		}
	})

	t.Run("the runnable example", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "example")
		if out, err := exec.Command("go", "build", "-o", bin, "./example").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		cmd := exec.Command(bin, "GET", "/v1/orders?from=example")
		cmd.Env = append(os.Environ(), "PLUGBOARD_URL="+pb.url, "PLUGBOARD_API_KEY="+proxyKey,
			"PLUGBOARD_ORG="+pb.org.String(), "PLUGBOARD_CONNECTION="+connID.String())
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "201 created by upstream") {
			t.Fatalf("example: %v\n%s", err, out)
		}
		if got := lastRequest(); got.path != "/v1/orders" || got.query != "from=example" {
			t.Errorf("the example's request reached the upstream as %+v", got)
		}
	})

	t.Run("access endpoint and scopes", func(t *testing.T) {
		res, err := c.AccessConnectionWithResponse(ctx, pb.org, connID, api.AccessConnectionJSONRequestBody{})
		if err != nil || res.JSON200 == nil || res.JSON200.Headers["X-Api-Key"] != secret || res.JSON200.BaseUrl != upstream.URL {
			t.Errorf("access: %v %s", err, res.Body)
		}
		proxyOnly, err := client.New(pb.url, proxyKey)
		if err != nil {
			t.Fatal(err)
		}
		res, err = proxyOnly.AccessConnectionWithResponse(ctx, pb.org, connID, api.AccessConnectionJSONRequestBody{})
		if err != nil || res.StatusCode() != 403 || res.JSONDefault == nil || res.JSONDefault.Code != "permission_denied" {
			t.Errorf("access with a connections:proxy key: %v %d %s", err, res.StatusCode(), res.Body)
		}
	})
}

func flatten(h http.Header) []string {
	var out []string
	for name, values := range h {
		out = append(out, name+": "+strings.Join(values, ", "))
	}
	return out
}
