package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/oidctest"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/testlog"
)

// storeEnv returns the environment that points a server and the admin commands at the test's
// store: nothing for SQLite (the data dir holds it), a fresh PostgreSQL schema when
// PLUGBOARD_TEST_STORE=postgres. The PostgreSQL schema is migrated with `plugboard migrate`, after
// checking that serve refuses it unmigrated.
func storeEnv(t *testing.T, bin string) []string {
	t.Helper()
	if os.Getenv("PLUGBOARD_TEST_STORE") != "postgres" {
		return nil
	}
	env := []string{"PLUGBOARD_DATABASE_URL=" + pgtest.URL(t)}
	refused := exec.Command(bin, "serve", "--addr", freeAddr(t), "--data-dir", t.TempDir())
	refused.Env = append(os.Environ(), env...)
	out, err := refused.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "plugboard migrate") {
		t.Fatalf("serve on an unmigrated PostgreSQL schema: %v\n%s", err, out)
	}
	run(t, bin, env, "migrate")
	return env
}

// run runs an admin command with the given extra environment and returns its stdout.
func run(t *testing.T, bin string, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("plugboard %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// buildBinary compiles the plugboard command once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plugboard")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a running plugboard process.
type server struct {
	cmd    *exec.Cmd
	url    string
	stdout *testlog.Buffer
	stderr *testlog.Buffer
	org    string
	key    string
}

var firstStart = regexp.MustCompile(`organisation id: (\S+)\n\s+API key:\s+(\S+)`)

func startServer(t *testing.T, bin, dataDir string, env ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	s := &server{url: "http://" + addr, stdout: &testlog.Buffer{}, stderr: &testlog.Buffer{}}
	s.cmd = exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(s.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready; stderr:\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := firstStart.FindStringSubmatch(s.stdout.String()); m != nil {
		s.org, s.key = m[1], m[2]
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v; stderr:\n%s", err, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
}

func client(t *testing.T, url, key string) *api.ClientWithResponses {
	t.Helper()
	c, err := api.NewClientWithResponses(url, api.WithRequestEditorFn(func(ctx context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// TestEndToEnd builds the binary, starts it on a fresh data dir, and drives it with the generated
// client through the README's walkthrough, an admin command run while it serves, and a restart.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := context.Background()
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := storeEnv(t, bin)
	srv := startServer(t, bin, dataDir, env...)
	if srv.key == "" {
		t.Fatalf("first start printed no organisation and key; stdout:\n%s", srv.stdout.String())
	}
	orgID := ulid.MustParse(srv.org)
	c := client(t, srv.url, srv.key)

	const secret = "SECRET-e2e-api-key-4b9f"

	sys, err := c.CreateSystemWithResponse(ctx, orgID, api.CreateSystemJSONRequestBody{Name: "Shop", Domain: "shop.example",
		TemplateBaseUrl: "https://api.shop.example"})
	if err != nil || sys.JSON201 == nil {
		t.Fatalf("create system: %v %s", err, sys.Body)
	}
	var cfg api.AuthSchemeConfig
	cfg.Type = api.AuthSchemeTypeApiKey
	cfg.ApiKey = &api.AuthSchemeConfigAPIKey{ID: "api-key", Description: "key", Name: "X-Api-Key", In: api.AuthSchemeConfigAPIKeyInHeader}
	up, err := c.UpsertAuthSchemeConfigWithResponse(ctx, orgID, sys.JSON201.ID, "api-key", cfg)
	if err != nil || up.JSON201 == nil {
		t.Fatalf("upsert auth scheme config: %v %s", err, up.Body)
	}
	proj, err := c.CreateProjectWithResponse(ctx, orgID, api.CreateProjectJSONRequestBody{Name: "Integration"})
	if err != nil || proj.JSON200 == nil {
		t.Fatalf("create project: %v %s", err, proj.Body)
	}
	environment := proj.JSON200.Environments[0]
	if environment.Name != "production" {
		t.Errorf("default environment %q", environment.Name)
	}
	tpl, err := c.CreateConnectionTemplateWithResponse(ctx, orgID, proj.JSON200.ID, api.CreateConnectionTemplateJSONRequestBody{
		SystemID: sys.JSON201.ID, Name: "shop", EnvironmentID: environment.ID})
	if err != nil || tpl.JSON200 == nil {
		t.Fatalf("create template: %v %s", err, tpl.Body)
	}
	// As Versori's CLI does: list templates by environment, copy authSchemeConfigs[0].
	list, err := c.ListProjectConnectionTemplatesWithResponse(ctx, orgID, proj.JSON200.ID, &api.ListProjectConnectionTemplatesParams{EnvId: ptr(environment.ID.String())})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 {
		t.Fatalf("list templates: %v %s", err, list.Body)
	}
	offered := list.JSON200.Items[0].AuthSchemeConfigs[0]
	created, err := c.CreateConnectionWithResponse(ctx, orgID, api.CreateConnectionJSONRequestBody{
		EnvironmentSystemID: tpl.JSON200.EnvironmentSystemID,
		Connection: api.ConnectionCreate{Name: "main", BaseURL: "shop.customer.example/admin", Credentials: api.ConnectionCredentialsCreate{{
			AuthSchemeConfig: &offered,
			Credential: &api.Credential{OrganisationID: orgID, Type: api.CredentialTypeString,
				Data: &api.CredentialData{String: &api.CredentialDataString{Value: secret}}},
		}}},
	})
	if err != nil || created.JSON201 == nil {
		t.Fatalf("create connection: %v %s", err, created.Body)
	}
	conn := created.JSON201
	if conn.BaseURL != "https://shop.customer.example" || conn.Credentials[0].Credential.ID == (ulid.ULID{}) {
		t.Errorf("created connection: %+v", conn)
	}
	got, err := c.GetConnectionWithResponse(ctx, orgID, conn.ID)
	if err != nil || got.JSON200 == nil || got.JSON200.Credentials[0].Credential.Data.String.Value != "" {
		t.Fatalf("get connection: %v %s", err, got.Body)
	}
	page, err := c.ListConnectionsWithResponse(ctx, orgID, &api.ListConnectionsParams{})
	if err != nil || page.JSON200 == nil || page.JSON200.TotalCount != 1 {
		t.Fatalf("list connections: %v %s", err, page.Body)
	}
	upd, err := c.UpdateConnectionWithResponse(ctx, orgID, conn.ID, api.UpdateConnectionJSONRequestBody{
		Name: "renamed", Credentials: got.JSON200.Credentials})
	if err != nil || upd.JSON200 == nil || upd.JSON200.Name != "renamed" {
		t.Fatalf("update connection: %v %s", err, upd.Body)
	}

	// An admin command works against the same store while the server runs.
	out := run(t, bin, env, "orgs", "create", "--name", "second", "--json", "--data-dir", dataDir)
	var second struct {
		OrganisationID string `json:"organisationId"`
		APIKey         string `json:"apiKey"`
	}
	if err := json.Unmarshal(out, &second); err != nil || second.APIKey == "" {
		t.Fatalf("orgs create printed %q", out)
	}
	c2 := client(t, srv.url, second.APIKey)
	other, err := c2.GetConnectionWithResponse(ctx, ulid.MustParse(second.OrganisationID), conn.ID)
	if err != nil || other.StatusCode() != 404 {
		t.Errorf("another organisation read the connection: %v %d", err, other.StatusCode())
	}
	out = run(t, bin, env, "api-keys", "create", "--org", srv.org, "--json", "--data-dir", dataDir)
	var newKey struct {
		APIKey string `json:"apiKey"`
	}
	if err := json.Unmarshal(out, &newKey); err != nil || newKey.APIKey == "" {
		t.Fatalf("api-keys create printed %q", out)
	}
	if res, err := client(t, srv.url, newKey.APIKey).GetConnectionWithResponse(ctx, orgID, conn.ID); err != nil || res.StatusCode() != 200 {
		t.Errorf("new key: %v", err)
	}

	// Restart on the same data dir: no second default organisation, data and key survive.
	srv.stop(t)
	srv2 := startServer(t, bin, dataDir, env...)
	if srv2.key != "" {
		t.Errorf("a restart created another default organisation")
	}
	c = client(t, srv2.url, srv.key)
	if res, err := c.GetConnectionWithResponse(ctx, orgID, conn.ID); err != nil || res.StatusCode() != 200 {
		t.Fatalf("after restart: %v", err)
	}
	del, err := c.DeleteConnectionWithResponse(ctx, orgID, conn.ID)
	if err != nil || del.StatusCode() != 204 {
		t.Fatalf("delete: %v %d", err, del.StatusCode())
	}
	if res, _ := c.GetConnectionWithResponse(ctx, orgID, conn.ID); res.StatusCode() != 404 || res.JSONDefault == nil || res.JSONDefault.Code != "not_found" {
		t.Errorf("deleted connection: %d %s", res.StatusCode(), res.Body)
	}
	srv2.stop(t)

	for name, text := range map[string]string{"stdout": srv.stdout.String() + srv2.stdout.String(), "log": srv.stderr.String() + srv2.stderr.String()} {
		if strings.Contains(text, secret) {
			t.Errorf("%s contains the stored secret", name)
		}
	}
	if !strings.Contains(srv.stderr.String(), "master key") {
		t.Errorf("no warning about the generated master key in the log:\n%s", srv.stderr.String())
	}
	info, err := os.Stat(filepath.Join(dataDir, "master.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("master key file: %v %v", info, err)
	}
}

// TestEncryptionKeyFromEnvironment checks that a configured key is used and no key file written,
// and that a malformed key is refused without being echoed.
func TestEncryptionKeyFromEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, bin, dataDir, "PLUGBOARD_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	srv.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, "master.key")); !os.IsNotExist(err) {
		t.Errorf("a key file was written although a key was configured: %v", err)
	}
	bad := "not-a-key-but-a-secret-value"
	cmd := exec.Command(bin, "serve", "--addr", freeAddr(t), "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "PLUGBOARD_ENCRYPTION_KEY="+bad)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		t.Fatal("serve started with a malformed key")
	}
	if strings.Contains(stderr.String(), bad) {
		t.Errorf("the malformed key was echoed: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "PLUGBOARD_ENCRYPTION_KEY") {
		t.Errorf("the error does not name the setting: %s", stderr.String())
	}
}

// runnable matches a shell block a doc marks as runnable as it stands.
var runnable = regexp.MustCompile("(?s)<!-- runnable -->\n```sh\n(.*?)```")

// docRun is what a doc's runnable blocks need to run in a test, and what their output must show.
type docRun struct {
	// setup starts what the blocks call besides Plugboard (the upstream, an OAuth provider) and
	// returns the blocks' environment, the server's, and what the output must contain.
	setup func(t *testing.T) (blockEnv, serverEnv, want []string)
	// secretOut is a secret the blocks store that their output must not show either.
	secretOut string
}

// docRuns names every doc with runnable blocks; a doc that marks blocks without an entry here
// fails the test, so that no marked block goes unrun.
var docRuns = map[string]docRun{
	"README.md": {
		setup: func(t *testing.T) ([]string, []string, []string) {
			return nil, nil, []string{
				`"apiKey":{"description":"API key","id":"api-key","in":"header","name":"X-Api-Key"}`,
				`"baseUrl":"https://acme-eu.example"`,
				`"data":{"string":{"value":""}}`,
				`"totalCount":1`,
				`"name":"acme-renamed"`,
				"204\n",
				`"code":"not_found"`,
			}
		},
		secretOut: "sk_live_walkthrough",
	},
	"docs/calling.md": {setup: callingSetup},
	"docs/catalogue.md": {
		setup: func(t *testing.T) ([]string, []string, []string) {
			return nil, nil, []string{
				`{"items":[{"categories":["collaboration","messaging"],"curated":true,"domain":"slack.com"`,
				`"name":"GitHub (ours)"`,
				`"tokenUrl":"https://github.com/login/oauth/access_token"`,
			}
		},
	},
	"docs/oauth.md": {setup: oauthSetup},
}

// callingSetup gives docs/calling.md an upstream on 127.0.0.1 that answers what it received.
func callingSetup(t *testing.T) ([]string, []string, []string) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"method": r.Method, "uri": r.URL.RequestURI(), "apiKey": r.Header.Get("X-Api-Key"),
			"authorization": r.Header.Get("Authorization"), "body": string(body)})
	}))
	t.Cleanup(up.Close)
	return []string{"UPSTREAM=" + up.URL}, []string{"PLUGBOARD_ALLOW_CIDRS=127.0.0.0/8"}, []string{
		// The proxy: the upstream got the call with the connection's key, and not the caller's.
		`{"apiKey":"sk_live_calling","authorization":"","body":"{\"sku\":\"A-1\"}","method":"POST","uri":"/v1/orders?notify=false"}`,
		// The access endpoint.
		`{"baseUrl":"` + up.URL + `","cookies":[],"headers":{"X-Api-Key":"sk_live_calling"},"query":{}}`,
		`"scopes":["connections:proxy"]`,
		`"name":"billing-service"`,
		"204\n",
		// client/example through client.Transport.
		`200 {"apiKey":"sk_live_calling","authorization":"","body":"","method":"GET","uri":"/v1/orders"}`,
	}
}

// oauthSetup points docs/oauth.md's OAuth 2.0 examples at npm oidc-provider (PLUGBOARD_TEST_OIDC=1).
func oauthSetup(t *testing.T) ([]string, []string, []string) {
	p := oidctest.Start(t, oidctest.Config{})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, p.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"AUTHORIZE_URL=" + p.AuthorizeURL, "TOKEN_URL=" + p.TokenURL,
			"CLIENT_ID=" + p.Clients.Basic.ID, "CLIENT_SECRET=" + p.Clients.Basic.Secret,
			"SERVICE_CLIENT_ID=" + p.Clients.ClientCredentials.ID, "SERVICE_CLIENT_SECRET=" + p.Clients.ClientCredentials.Secret},
		[]string{"PLUGBOARD_ALLOW_CIDRS=127.0.0.0/8", "PLUGBOARD_OUTBOUND_CA_FILE=" + caFile},
		[]string{
			// initialise answers the provider's authorize URL, unescaped, with the client and PKCE.
			`{"url":"` + p.AuthorizeURL + `?client_id=` + url.QueryEscape(p.Clients.Basic.ID) + `&code_challenge=`,
			`"type":"oauth2-client"`,
			`"oauth2":{"accessToken":"`,
		}
}

// TestDocsRun runs every doc's runnable shell blocks (README's walkthrough, docs/calling.md, docs/catalogue.md,
// docs/oauth.md), each doc's in order in one shell, as written, against a freshly built server, so
// the docs cannot drift from what the service does. Upstreams and providers come from the
// variables the docs give defaults to.
func TestDocsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	root := filepath.Join("..", "..")
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	bin := buildBinary(t)
	for _, path := range docs {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var script strings.Builder
		for _, m := range runnable.FindAllSubmatch(text, -1) {
			script.Write(m[1])
		}
		name := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
		run, ok := docRuns[name]
		switch {
		case script.Len() == 0 && !ok:
			continue
		case script.Len() == 0:
			t.Errorf("%s has no runnable block", name)
			continue
		case !ok:
			t.Errorf("%s marks runnable blocks, but TestDocsRun does not know how to run them", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			blockEnv, serverEnv, want := run.setup(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			srv := startServer(t, bin, dataDir, serverEnv...)
			cmd := exec.Command("bash", "-euo", "pipefail", "-c", script.String())
			cmd.Dir = root
			cmd.Env = append(append(os.Environ(), "PB="+srv.url, "PLUGBOARD_DATA_DIR="+dataDir), blockEnv...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s's blocks failed: %v\n%s", name, err, out)
			}
			text := string(out)
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("%s's output lacks %s:\n%s", name, w, text)
				}
			}
			if run.secretOut != "" && strings.Contains(text, run.secretOut) {
				t.Errorf("the stored API key appears in the output")
			}
			for _, secret := range []string{"sk_live_walkthrough", "sk_live_calling"} {
				if strings.Contains(srv.stderr.String(), secret) || strings.Contains(srv.stdout.String(), secret) {
					t.Errorf("the stored API key %s appears in the server's output", secret)
				}
			}
			srv.stop(t)
		})
	}
}

// TestLostMasterKeyIsRefused: with secrets stored, a missing key file or a wrong key stops serve at
// start, naming the key id the secrets need, instead of sealing new ones under a key nobody kept.
func TestLostMasterKeyIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := context.Background()
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := storeEnv(t, bin)
	srv := startServer(t, bin, dataDir, env...)
	orgID := ulid.MustParse(srv.org)
	c := client(t, srv.url, srv.key)
	sys, err := c.CreateSystemWithResponse(ctx, orgID, api.CreateSystemJSONRequestBody{Name: "S", Domain: "s",
		AuthSchemeConfigs: []api.AuthSchemeConfig{{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{ID: "k", Name: "X-Key", In: api.AuthSchemeConfigAPIKeyInHeader}}}})
	if err != nil || sys.JSON201 == nil {
		t.Fatalf("create system: %v", err)
	}
	proj, _ := c.CreateProjectWithResponse(ctx, orgID, api.CreateProjectJSONRequestBody{Name: "P"})
	tpl, _ := c.CreateConnectionTemplateWithResponse(ctx, orgID, proj.JSON200.ID, api.CreateConnectionTemplateJSONRequestBody{
		SystemID: sys.JSON201.ID, Name: "t", EnvironmentID: proj.JSON200.Environments[0].ID})
	created, err := c.CreateConnectionWithResponse(ctx, orgID, api.CreateConnectionJSONRequestBody{EnvironmentSystemID: tpl.JSON200.EnvironmentSystemID,
		Connection: api.ConnectionCreate{Name: "c", Credentials: api.ConnectionCredentialsCreate{{AuthSchemeConfig: &sys.JSON201.AuthSchemeConfigs[0],
			Credential: &api.Credential{Type: api.CredentialTypeString, Data: &api.CredentialData{String: &api.CredentialDataString{Value: "v"}}}}}}})
	if err != nil || created.JSON201 == nil {
		t.Fatalf("create connection: %v %s", err, created.Body)
	}
	srv.stop(t)

	keyFile := filepath.Join(dataDir, "master.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	for name, extra := range map[string][]string{
		"missing key file": nil,
		"wrong key":        {"PLUGBOARD_ENCRYPTION_KEY=" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
	} {
		cmd := exec.Command(bin, "serve", "--addr", freeAddr(t), "--data-dir", dataDir)
		cmd.Env = append(append(os.Environ(), env...), extra...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("%s: serve started", name)
		}
		if !strings.Contains(string(out), "do not open the secrets already stored") || !strings.Contains(string(out), "PLUGBOARD_ENCRYPTION_KEY") {
			t.Errorf("%s: the refusal does not explain itself:\n%s", name, out)
		}
	}
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Errorf("a new key file was left behind: %v", err)
	}
}
