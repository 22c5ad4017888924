package systems_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/systems"
	"github.com/plugboard/plugboard/internal/trust"
	"github.com/plugboard/plugboard/internal/vault"
)

// fixture is a Service on a real SQLite file (PostgreSQL with PLUGBOARD_TEST_STORE=postgres) and
// an organisation, with the connect service beside it for the connections tests need.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	store   plugboard.Store
	svc     *systems.Service
	connect *connect.Service
	org     ulid.ULID
}

// A caller whose key may not read stored secrets, and one whose key may.
var (
	mayNotRead = trust.Caller{ReadScope: "connections:access"}
	mayRead    = trust.Caller{MayRead: true, ReadScope: "connections:access"}
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store := apitest.OpenStore(t).DB
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	log := events.New(events.Options{Now: clock})
	f := &fixture{t: t, ctx: ctx, store: store}
	f.connect = connect.New(connect.Config{Store: store, Keys: keys, Events: log, Now: clock})
	f.svc = systems.New(systems.Config{Store: store, Keys: keys, Connect: f.connect, Events: log, Now: clock})
	org := &plugboard.Organisation{ID: ulid.Make(), Name: "test", CreatedAt: now}
	must(t, store.CreateOrganisation(ctx, org))
	f.org = org.ID
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// config decodes an auth scheme config as a request would send it.
func config(t *testing.T, raw string) api.AuthSchemeConfig {
	t.Helper()
	var c api.AuthSchemeConfig
	must(t, json.Unmarshal([]byte(raw), &c))
	return c
}

const apiKeyConfig = `{"type": "api-key", "apiKey": {"id": "api-key", "description": "key", "name": "X-Api-Key", "in": "header"}}`

// fields returns the fields err names, failing the test unless it is a *plugboard.Error of code.
func fields(t *testing.T, err error, code string) map[string]string {
	t.Helper()
	var pe *plugboard.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("got %v, want a %s error", err, code)
	}
	out := map[string]string{}
	for _, f := range pe.Fields {
		out[f.Field] = f.Message
	}
	return out
}

// stored returns the organisation's systems and events as the store has them.
func (f *fixture) stored() ([]plugboard.System, []plugboard.Event) {
	f.t.Helper()
	page := plugboard.PageRequest{First: plugboard.MaxPageSize}
	sys, err := f.store.ListSystems(f.ctx, f.org, "", page)
	must(f.t, err)
	evs, err := f.store.ListEvents(f.ctx, f.org, plugboard.EventFilter{}, page)
	must(f.t, err)
	return sys.Items, evs.Items
}

// TestCreateNamesEachBadField: every bad field of a create is named at once, by its JSON path,
// and nothing is stored.
func TestCreateNamesEachBadField(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(f.ctx, f.org, systems.CreateInput{Name: " ", TemplateBaseURL: "ftp://files.example",
		AuthSchemeConfigs: []api.AuthSchemeConfig{config(t, apiKeyConfig), config(t, apiKeyConfig)}, Caller: mayRead})
	got := fields(t, err, plugboard.EInvalid)
	for _, want := range []string{"name", "templateBaseUrl", "authSchemeConfigs[1]"} {
		if got[want] == "" {
			t.Errorf("the error does not name %s: %v", want, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("the error names %v, want exactly name, templateBaseUrl and authSchemeConfigs[1]", got)
	}
	if sys, evs := f.stored(); len(sys) != 0 || len(evs) != 0 {
		t.Fatalf("a refused create stored %d systems and %d events", len(sys), len(evs))
	}
}

// TestCreateWritesNothingWhenALaterConfigFails: the first config's grant client credential is
// created in the transaction before the second config is refused; the refusal takes it back with
// everything else.
func TestCreateWritesNothingWhenALaterConfigFails(t *testing.T) {
	f := newFixture(t)
	good := config(t, `{"type": "oauth2", "oauth2": {"id": "code", "description": "code", "authorizeUrl": "https://provider.example/authorize",
		"tokenUrl": "https://provider.example/token", "scopes": [{"name": "read"}], "defaultScopes": ["read"],
		"grant": {"type": "authorizationCode", "authorizationCode": {"clientId": "the-client", "clientSecret": "the-client-secret"}}}}`)
	bad := config(t, `{"type": "oauth2", "oauth2": {"id": "other", "description": "code", "authorizeUrl": "https://provider.example/authorize",
		"tokenUrl": "https://provider.example/token", "scopes": [{"name": "read"}], "defaultScopes": ["read"],
		"grant": {"type": "authorizationCode", "authorizationCode": {"credentialId": "`+ulid.Make().String()+`"}}}}`)
	in := systems.CreateInput{Name: "Provider", TemplateBaseURL: "https://provider.example", AuthSchemeConfigs: []api.AuthSchemeConfig{good, bad}, Caller: mayRead}
	_, err := f.svc.Create(f.ctx, f.org, in)
	got := fields(t, err, plugboard.EInvalid)
	if got["authSchemeConfigs[1].oauth2.grant.authorizationCode.credentialId"] == "" {
		t.Fatalf("the error names %v, want authSchemeConfigs[1].oauth2.grant.authorizationCode.credentialId", got)
	}
	// The first config's grant was bound (its credential created) inside the transaction.
	made := connect.GrantCredentialID(&in.AuthSchemeConfigs[0])
	if made == (ulid.ULID{}) {
		t.Fatal("the first config's grant was not bound before the second was refused; the test proves nothing")
	}
	if _, err := f.store.GetCredential(f.ctx, f.org, made); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Fatalf("the grant credential made before the refusal is still stored: %v", err)
	}
	if sys, evs := f.stored(); len(sys) != 0 || len(evs) != 0 {
		t.Fatalf("a refused create stored %d systems and %d events", len(sys), len(evs))
	}
}

// connected creates a system at base with the api-key config, and a connection of it with a
// stored API key and no base URL of its own, so that the key follows the system's base URL.
func (f *fixture) connected(base string) *plugboard.System {
	f.t.Helper()
	sys, err := f.svc.Create(f.ctx, f.org, systems.CreateInput{Name: "Provider", TemplateBaseURL: base,
		AuthSchemeConfigs: []api.AuthSchemeConfig{config(f.t, apiKeyConfig)}, Caller: mayNotRead})
	must(f.t, err)
	now := time.Now().UTC().Truncate(time.Microsecond)
	proj := &plugboard.Project{ID: ulid.Make(), OrganisationID: f.org, Name: "P", CreatedAt: now, UpdatedAt: now}
	env := plugboard.Environment{ID: ulid.Make(), OrganisationID: f.org, ProjectID: proj.ID, Name: "production", CreatedAt: now, UpdatedAt: now}
	proj.Environments = []plugboard.Environment{env}
	must(f.t, f.store.CreateProject(f.ctx, proj))
	tpl := &plugboard.ConnectionTemplate{ID: ulid.Make(), OrganisationID: f.org, ProjectID: proj.ID, EnvironmentID: env.ID,
		SystemID: sys.ID, Name: "Provider", CreatedAt: now, UpdatedAt: now}
	must(f.t, f.store.CreateTemplate(f.ctx, tpl))
	var cc api.ConnectionCredential
	must(f.t, json.Unmarshal([]byte(`{"authSchemeConfig": `+apiKeyConfig+`,
		"credential": {"type": "string", "data": {"string": {"value": "the-stored-api-key"}}}}`), &cc))
	_, err = f.connect.CreateConnection(f.ctx, f.org, connect.CreateInput{TemplateID: tpl.ID, Name: "acme",
		Credentials: []api.ConnectionCredential{cc}, CredentialsPath: "credentials", Caller: mayNotRead})
	must(f.t, err)
	return sys
}

// TestMovingAStoredSecretNeedsAKeyThatMayReadIt: a new templateBaseUrl would send the stored API
// key of a connection that follows it somewhere new. A caller whose key may not read it is
// refused, by an update and by an import into the system alike, and nothing changes; one whose
// key may is not.
func TestMovingAStoredSecretNeedsAKeyThatMayReadIt(t *testing.T) {
	f := newFixture(t)
	sys := f.connected("https://api.provider.example")
	_, before := f.stored()

	elsewhere := "https://elsewhere.example"
	_, err := f.svc.Update(f.ctx, f.org, sys.ID, systems.UpdateInput{TemplateBaseURL: &elsewhere, Caller: mayNotRead})
	fields(t, err, plugboard.EForbidden)
	doc := []byte(`{"openapi": "3.0.3", "info": {"title": "Provider", "version": "1"}, "paths": {},
		"servers": [{"url": "https://elsewhere.example"}]}`)
	_, err = f.svc.Import(f.ctx, f.org, systems.ImportInput{Document: doc, SystemID: sys.ID, Caller: mayNotRead})
	fields(t, err, plugboard.EForbidden)
	got, err := f.store.GetSystem(f.ctx, f.org, sys.ID)
	must(t, err)
	if _, after := f.stored(); got.TemplateBaseURL != "https://api.provider.example" || len(after) != len(before) {
		t.Fatalf("refused moves changed the system (templateBaseUrl %q) or wrote %d events", got.TemplateBaseURL, len(after)-len(before))
	}

	updated, err := f.svc.Update(f.ctx, f.org, sys.ID, systems.UpdateInput{TemplateBaseURL: &elsewhere, Caller: mayRead})
	must(t, err)
	if updated.TemplateBaseURL != elsewhere {
		t.Fatalf("templateBaseUrl is %q after the allowed move", updated.TemplateBaseURL)
	}
}

// TestImportIntoASystemKeepsItsBaseURL: a document without servers says nothing of where the
// API is, so importing it into a system keeps the stored templateBaseUrl and domain, and adds the
// document's configs.
func TestImportIntoASystemKeepsItsBaseURL(t *testing.T) {
	f := newFixture(t)
	sys, err := f.svc.Create(f.ctx, f.org, systems.CreateInput{Name: "Provider", Domain: "provider.example",
		TemplateBaseURL: "https://api.provider.example/v1", Caller: mayNotRead})
	must(t, err)
	doc := []byte(`{"openapi": "3.0.3", "info": {"title": "Provider", "version": "1"}, "paths": {},
		"components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}}}`)
	res, err := f.svc.Import(f.ctx, f.org, systems.ImportInput{Document: doc, SystemID: sys.ID, Caller: mayNotRead})
	must(t, err)
	got, err := f.store.GetSystem(f.ctx, f.org, sys.ID)
	must(t, err)
	for _, s := range []*plugboard.System{res.System, got} {
		if s.TemplateBaseURL != "https://api.provider.example/v1" || s.Domain != "provider.example" || s.Name != "Provider" {
			t.Fatalf("the import changed the system to templateBaseUrl %q, domain %q, name %q", s.TemplateBaseURL, s.Domain, s.Name)
		}
		if len(s.AuthSchemeConfigs) != 1 {
			t.Fatalf("the system has %d configs after the import, want the document's one", len(s.AuthSchemeConfigs))
		}
	}
}
