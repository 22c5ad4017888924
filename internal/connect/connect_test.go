package connect

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/trust"
	"github.com/plugboard/plugboard/internal/vault"
)

// fixture is a Service on a real SQLite file (PostgreSQL with PLUGBOARD_TEST_STORE=postgres), with an organisation, a system offering an api-key
// config and two OAuth 2.0 authorization code configs (their grants bound), and a dynamic
// template offering all three. Its clock moves only when the test says.
type fixture struct {
	t        *testing.T
	svc      *Service
	store    plugboard.Store
	org      ulid.ULID
	sys      *plugboard.System
	template ulid.ULID
	now      time.Time
	// grant is, by config id, the id of the config's grant credential.
	grant map[string]ulid.ULID
	// pgApp is the application_name of the store's PostgreSQL connections ("" on SQLite).
	pgApp string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{}
	opened := apitest.OpenStore(t)
	store := opened.DB
	// application_name names the test's schema, so lockWait finds this test's connections.
	f.pgApp = pgtest.Schema(opened.URL)
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	f.t, f.store, f.now, f.grant = t, store, time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), map[string]ulid.ULID{}
	f.svc = New(Config{Store: store, Keys: keys, OAuth: oauth.New(outbound.New(outbound.DefaultConfig())),
		Now: func() time.Time { return f.now }, PublicURL: "https://plugboard.example", ReturnURLOrigins: []string{"https://app.example"}})
	org := &plugboard.Organisation{ID: ulid.Make(), Name: "test", CreatedAt: f.now}
	must(t, store.CreateOrganisation(ctx, org))
	f.org = org.ID

	f.sys = &plugboard.System{ID: ulid.Make(), OrganisationID: f.org, Name: "Provider", Domain: "provider.example", CreatedAt: f.now, UpdatedAt: f.now}
	configs := []string{
		`{"type": "api-key", "apiKey": {"id": "api-key", "description": "key", "name": "X-Api-Key", "in": "header"}}`,
		oauth2Config("code-a"), oauth2Config("code-b"),
	}
	must(t, store.InTx(ctx, func(tx plugboard.Store) error {
		for _, raw := range configs {
			var c api.AuthSchemeConfig
			must(t, json.Unmarshal([]byte(raw), &c))
			if _, err := f.svc.BindGrantCredential(ctx, tx, f.org, f.sys.ID, &c, ""); err != nil {
				return err
			}
			public, secrets, err := credentials.SplitAuthSchemeConfig(c)
			must(t, err)
			if secrets != nil {
				t.Fatalf("config %s keeps secrets after binding its grant: %s", credentials.ConfigID(c), secrets)
			}
			f.sys.AuthSchemeConfigs = append(f.sys.AuthSchemeConfigs, plugboard.AuthSchemeConfig{ID: credentials.ConfigID(c), Type: string(c.Type), Config: public})
			if c.Oauth2 != nil {
				f.grant[c.Oauth2.ID] = GrantCredentialID(&c)
			}
		}
		return tx.CreateSystem(ctx, f.sys)
	}))
	proj := &plugboard.Project{ID: ulid.Make(), OrganisationID: f.org, Name: "P", CreatedAt: f.now, UpdatedAt: f.now}
	env := plugboard.Environment{ID: ulid.Make(), OrganisationID: f.org, ProjectID: proj.ID, Name: "production", CreatedAt: f.now, UpdatedAt: f.now}
	proj.Environments = []plugboard.Environment{env}
	must(t, store.CreateProject(ctx, proj))
	tpl := &plugboard.ConnectionTemplate{ID: ulid.Make(), OrganisationID: f.org, ProjectID: proj.ID, EnvironmentID: env.ID,
		SystemID: f.sys.ID, Name: "Provider", Dynamic: true, CreatedAt: f.now, UpdatedAt: f.now}
	must(t, store.CreateTemplate(ctx, tpl))
	f.template = tpl.ID
	return f
}

func oauth2Config(id string) string {
	return `{"type": "oauth2", "oauth2": {"id": "` + id + `", "description": "code", "authorizeUrl": "https://provider.example/authorize",
		"tokenUrl": "https://provider.example/token", "scopes": [{"name": "read"}], "defaultScopes": ["read"],
		"grant": {"type": "authorizationCode", "authorizationCode": {"clientId": "client-` + id + `", "clientSecret": "secret-` + id + `"}}}}`
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// credential decodes one connection credential as a request would send it.
func credential(t *testing.T, raw string) api.ConnectionCredential {
	t.Helper()
	var cc api.ConnectionCredential
	must(t, json.Unmarshal([]byte(raw), &cc))
	return cc
}

func apiKeyCredential(t *testing.T, value string) api.ConnectionCredential {
	return credential(t, `{"authSchemeConfig": {"type": "api-key", "apiKey": {"id": "api-key", "description": "key", "name": "X-Api-Key", "in": "header"}},
		"credential": {"type": "string", "data": {"string": {"value": "`+value+`"}}}}`)
}

func codeCredential(t *testing.T, configID, state string) api.ConnectionCredential {
	var cfg map[string]any
	must(t, json.Unmarshal([]byte(oauth2Config(configID)), &cfg))
	raw, _ := json.Marshal(map[string]any{"authSchemeConfig": cfg,
		"credential": map[string]any{"type": "oauth2-code", "data": map[string]any{"oauth2Code": map[string]any{"code": "the-code", "state": state}}}})
	return credential(t, string(raw))
}

// fieldsOf returns the fields an error names, or fails the test if it is no *plugboard.Error of code.
func fieldsOf(t *testing.T, err error, code string) map[string]string {
	t.Helper()
	var pe *plugboard.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("error = %v, want a %s error", err, code)
	}
	out := map[string]string{}
	for _, f := range pe.Fields {
		out[f.Field] = f.Message
	}
	return out
}

func (f *fixture) create(externalID *string, creds ...api.ConnectionCredential) (*Result, error) {
	return f.svc.CreateConnection(context.Background(), f.org, CreateInput{TemplateID: f.template, Name: "c", ExternalID: externalID,
		Credentials: creds, CredentialsPath: "connection.credentials", Caller: trust.Caller{}})
}

// initialise starts a flow for configID and returns its state.
func (f *fixture) initialise(configID string) string {
	f.t.Helper()
	u, err := f.svc.InitialiseOAuth2(context.Background(), f.org, OAuth2Start{SystemID: f.sys.ID, CredentialID: f.grant[configID],
		ClientID: "client-" + configID, AuthorizeURL: "https://provider.example/authorize"})
	must(f.t, err)
	parsed, err := url.Parse(u)
	must(f.t, err)
	return parsed.Query().Get("state")
}

// TestCredentialErrorsNameFields: every bad credential is refused with its JSON path under the
// path the caller gave, and the request as a whole, not the first problem only.
func TestCredentialErrorsNameFields(t *testing.T) {
	f := newFixture(t)
	_, err := f.create(nil, apiKeyCredential(t, ""), credential(t, `{"credential": {"type": "string", "data": {"string": {"value": "v"}}}}`))
	fields := fieldsOf(t, err, plugboard.EInvalid)
	for _, want := range []string{"connection.credentials[0].credential.data.string.value", "connection.credentials[1].authSchemeConfig"} {
		if _, ok := fields[want]; !ok {
			t.Errorf("fields %v do not name %s", fields, want)
		}
	}
	_, err = f.create(nil)
	if fields := fieldsOf(t, err, plugboard.EInvalid); fields["connection.credentials"] == "" {
		t.Errorf("no credentials: fields %v", fields)
	}
}

// TestNothingWrittenOnFailure: a create refused for its credentials leaves no end user, no
// connection and no event behind; an update refused leaves the connection as it was.
func TestNothingWrittenOnFailure(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	user := "user-1"
	if _, err := f.create(&user, apiKeyCredential(t, "")); err == nil {
		t.Fatal("created with an empty key")
	}
	if _, err := f.store.GetEndUserByExternalID(ctx, f.org, user); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("end user after a refused create: %v", err)
	}
	page, err := f.store.ListConnections(ctx, f.org, plugboard.ConnectionFilter{}, plugboard.PageRequest{First: 10})
	must(t, err)
	if len(page.Items) != 0 {
		t.Errorf("connections after a refused create: %d", len(page.Items))
	}
	evs, err := f.store.ListEvents(ctx, f.org, plugboard.EventFilter{}, plugboard.PageRequest{First: 10})
	must(t, err)
	if len(evs.Items) != 0 {
		t.Errorf("events after a refused create: %+v", evs.Items)
	}

	res, err := f.create(&user, apiKeyCredential(t, "key-1"))
	must(t, err)
	before, err := f.store.GetConnection(ctx, f.org, res.Connection.ID)
	must(t, err)
	_, err = f.svc.UpdateConnection(ctx, f.org, UpdateInput{ConnectionID: res.Connection.ID, Name: "renamed",
		Credentials: []api.ConnectionCredential{apiKeyCredential(t, "key-2"), apiKeyCredential(t, "")}, CredentialsPath: "credentials"})
	if fields := fieldsOf(t, err, plugboard.EInvalid); fields["credentials[1].credential.data.string.value"] == "" {
		t.Errorf("update fields %v", fields)
	}
	after, err := f.store.GetConnection(ctx, f.org, res.Connection.ID)
	must(t, err)
	if after.Name != before.Name || !after.UpdatedAt.Equal(before.UpdatedAt) || len(after.Credentials) != 1 ||
		!slices.Equal(after.Credentials[0].Credential.Sealed, before.Credentials[0].Credential.Sealed) {
		t.Errorf("a refused update changed the connection: %+v", after)
	}
}

// TestOAuthStateBinding: a flow's state is bound to its organisation, system and config, used
// once, and expires after StateTTL; each refusal names the state's field.
func TestOAuthStateBinding(t *testing.T) {
	const field = "connection.credentials[0].credential.data.oauth2Code.state"
	f := newFixture(t)
	ctx := context.Background()

	t.Run("another config", func(t *testing.T) {
		state := f.initialise("code-a")
		_, err := f.create(nil, codeCredential(t, "code-b", state))
		if msg := fieldsOf(t, err, plugboard.EInvalid)[field]; !strings.Contains(msg, "another system or auth scheme config") {
			t.Errorf("state of code-a used for code-b: %q", msg)
		}
		// Consumed by that attempt: a state is good for one exchange, whatever its outcome.
		_, err = f.create(nil, codeCredential(t, "code-a", state))
		if msg := fieldsOf(t, err, plugboard.EInvalid)[field]; msg != "has already been used" {
			t.Errorf("reused state: %q", msg)
		}
	})
	t.Run("another organisation", func(t *testing.T) {
		other, _ := oauth.NewState(ulid.Make())
		_, err := f.create(nil, codeCredential(t, "code-a", other))
		if msg := fieldsOf(t, err, plugboard.EInvalid)[field]; msg != "is not a state this server issued" {
			t.Errorf("foreign state: %q", msg)
		}
	})
	t.Run("expired", func(t *testing.T) {
		state := f.initialise("code-a")
		f.now = f.now.Add(StateTTL)
		_, err := f.svc.OAuth2Callback(ctx, OAuth2Redirect{State: state, Code: "c"})
		if msg := fieldsOf(t, err, plugboard.EInvalid)["state"]; !strings.Contains(msg, "expired") {
			t.Errorf("callback with an expired state: %q", msg)
		}
		_, err = f.create(nil, codeCredential(t, "code-a", state))
		if msg := fieldsOf(t, err, plugboard.EInvalid)[field]; !strings.Contains(msg, "expired") {
			t.Errorf("exchange with an expired state: %q", msg)
		}
	})
	t.Run("callback", func(t *testing.T) {
		state := f.initialise("code-a")
		cb, err := f.svc.OAuth2Callback(ctx, OAuth2Redirect{State: state, Code: "the-code"})
		must(t, err)
		if cb.Page == nil || cb.Redirect != "" || !strings.Contains(cb.Page.String(), `"https://plugboard.example"`) {
			t.Errorf("callback without a return URL: %+v", cb)
		}
		if _, err := f.svc.OAuth1Callback(ctx, OAuth1Redirect{State: state, Token: "t", Verifier: "v"}); fieldsOf(t, err, plugboard.EInvalid)["state"] == "" {
			t.Error("an OAuth 2.0 state was taken by the OAuth 1.0a callback")
		}
	})
}
