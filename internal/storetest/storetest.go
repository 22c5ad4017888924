// Package storetest is the contract test suite that every plugboard.Store backend must pass. A
// backend's own test calls Run with a function that opens a fresh, empty store; the suite then
// checks every Store method against the behaviour documented on the interface, using only the
// interface, so SQLite and PostgreSQL are held to the same contract.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

// Run runs the contract suite as subtests of t. open must return a new, empty store for each call
// and arrange (with t.Cleanup) for it to be closed.
func Run(t *testing.T, open func(t *testing.T) plugboard.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"Ping", testPing},
		{"Organisations", testOrganisations},
		{"APIKeys", testAPIKeys},
		{"APIKeyLifecycle", testAPIKeyLifecycle},
		{"OrganisationLifecycle", testOrganisationLifecycle},
		{"Times", testTimes},
		{"Systems", testSystems},
		{"ListSystems", testListSystems},
		{"AuthSchemeConfigs", testAuthSchemeConfigs},
		{"Projects", testProjects},
		{"Templates", testTemplates},
		{"EndUsers", testEndUsers},
		{"ListEndUsers", testListEndUsers},
		{"PageSizes", testPageSizes},
		{"Connections", testConnections},
		{"ListConnections", testListConnections},
		{"ListEnvironmentConnections", testListEnvironmentConnections},
		{"UpdateConnection", testUpdateConnection},
		{"DeleteConnection", testDeleteConnection},
		{"Links", testLinks},
		{"DeleteEndUserCascades", testDeleteEndUserCascades},
		{"Environments", testEnvironments},
		{"EnsureActivation", testEnsureActivation},
		{"ConcurrentEnsureActivation", testConcurrentEnsureActivation},
		{"ActivationConnections", testActivationConnections},
		{"ListEndUsersActivated", testListEndUsersActivated},
		{"DeleteProjectWithActivations", testDeleteProjectWithActivations},
		{"DeleteProject", testDeleteProject},
		{"DeleteTemplate", testDeleteTemplate},
		{"DeleteSystem", testDeleteSystem},
		{"DeleteAuthSchemeConfig", testDeleteAuthSchemeConfig},
		{"InTx", testInTx},
		{"ConcurrentCreateConnection", testConcurrentCreateConnection},
		{"ConcurrentUpdateConnection", testConcurrentUpdateConnection},
		{"StandaloneCredentials", testStandaloneCredentials},
		{"OAuthStates", testOAuthStates},
		{"ConnectSessions", testConnectSessions},
		{"ShareSessionAndTemplate", testShareSessionAndTemplate},
		{"TemplateBaseURLOverride", testTemplateBaseURLOverride},
		{"LockCredential", testLockCredential},
		{"ListRefreshDue", testListRefreshDue},
		{"ExpiredCredentials", testExpiredCredentials},
		{"ExpiredCredentialRaces", testExpiredCredentialRaces},
		{"RefreshDueSkipsExpired", testRefreshDueSkipsExpired},
		{"ExpiringCredentials", testExpiringCredentials},
		{"RefreshState", testRefreshState},
		{"ListConnectionsByTemplate", testListConnectionsByTemplate},
		{"SealedKeyIDs", testSealedKeyIDs},
		{"Events", testEvents},
		{"WebhookEndpoints", testWebhookEndpoints},
		{"WebhookDeliveries", testWebhookDeliveries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newFixture(t, open(t)))
		})
	}
}

// Markers put into every credential's Public and Sealed data; no error message may contain them.
const (
	publicMarker = "public-marker-7f3a"
	sealedMarker = "sealed-marker-9c1e"
)

// fixture is the world most tests start from: two organisations (records of the second must never
// be visible through the first), a system with two auth scheme configs, a project with two
// environments, a static and a dynamic template in production, and an end user.
type fixture struct {
	s     plugboard.Store
	ctx   context.Context
	org   ulid.ULID
	other ulid.ULID

	system  *plugboard.System
	project *plugboard.Project
	prod    ulid.ULID
	staging ulid.ULID
	static  *plugboard.ConnectionTemplate
	dynamic *plugboard.ConnectionTemplate
	user    *plugboard.EndUser
}

func newFixture(t *testing.T, s plugboard.Store) *fixture {
	t.Helper()
	f := &fixture{s: s, ctx: t.Context(), org: ulid.Make(), other: ulid.Make()}
	must(t, s.CreateOrganisation(f.ctx, &plugboard.Organisation{ID: f.org, Name: "Acme", CreatedAt: at(0)}))
	must(t, s.CreateOrganisation(f.ctx, &plugboard.Organisation{ID: f.other, Name: "Globex", CreatedAt: at(0)}))
	f.system = f.newSystem(t, f.org, "GitHub", "api.github.com")
	f.project = &plugboard.Project{ID: ulid.Make(), OrganisationID: f.org, Name: "Main", CreatedAt: at(1), UpdatedAt: at(1)}
	f.prod, f.staging = ulid.Make(), ulid.Make()
	f.project.Environments = []plugboard.Environment{
		{ID: f.prod, Name: "production", CreatedAt: at(1), UpdatedAt: at(1)},
		{ID: f.staging, Name: "staging", CreatedAt: at(1), UpdatedAt: at(1)},
	}
	must(t, s.CreateProject(f.ctx, f.project))
	f.static = f.newTemplate(t, f.prod, "github", false)
	f.dynamic = f.newTemplate(t, f.prod, "github-users", true)
	f.user = f.newEndUser(t, f.org, "customer-1", "Customer One")
	return f
}

func (f *fixture) newSystem(t *testing.T, org ulid.ULID, name, domain string) *plugboard.System {
	t.Helper()
	s := &plugboard.System{
		ID: ulid.Make(), OrganisationID: org, Name: name, Domain: domain,
		TemplateBaseURL: "https://" + domain, Labels: map[string]string{"team": "platform"},
		AuthSchemeConfigs: []plugboard.AuthSchemeConfig{
			{ID: "api-key", Type: "api-key", Config: json.RawMessage(`{"in":"header","name":"Authorization"}`)},
			{ID: "oauth2", Type: "oauth2", Config: json.RawMessage(`{"clientId":"abc","clientSecret":""}`),
				Sealed: []byte{0x00, 0x01, 0xfe, 0xff, 's', 'e', 'c'}},
		},
		CreatedAt: at(2), UpdatedAt: at(2),
	}
	must(t, f.s.CreateSystem(f.ctx, s))
	return s
}

func (f *fixture) newTemplate(t *testing.T, env ulid.ULID, name string, dynamic bool) *plugboard.ConnectionTemplate {
	t.Helper()
	tpl := &plugboard.ConnectionTemplate{
		ID: ulid.Make(), OrganisationID: f.org, ProjectID: f.project.ID, EnvironmentID: env,
		SystemID: f.system.ID, Name: name, Dynamic: dynamic, CreatedAt: at(3), UpdatedAt: at(3),
	}
	must(t, f.s.CreateTemplate(f.ctx, tpl))
	return tpl
}

func (f *fixture) newEndUser(t *testing.T, org ulid.ULID, externalID, name string) *plugboard.EndUser {
	t.Helper()
	u := &plugboard.EndUser{ID: ulid.Make(), OrganisationID: org, ExternalID: externalID, DisplayName: name,
		CreatedAt: at(4), UpdatedAt: at(4)}
	must(t, f.s.CreateEndUser(f.ctx, u))
	return u
}

// conn builds (without storing) a connection under tpl for user (zero for static).
func (f *fixture) conn(tpl *plugboard.ConnectionTemplate, user ulid.ULID, name string, creds ...plugboard.ConnectionCredential) *plugboard.Connection {
	return &plugboard.Connection{
		ID: ulid.Make(), OrganisationID: f.org, TemplateID: tpl.ID, SystemID: tpl.SystemID, EndUserID: user,
		Name: name, BaseURL: "https://api.github.com", Credentials: creds, CreatedAt: at(5), UpdatedAt: at(5),
	}
}

func (f *fixture) newConn(t *testing.T, tpl *plugboard.ConnectionTemplate, user ulid.ULID, name string, creds ...plugboard.ConnectionCredential) *plugboard.Connection {
	t.Helper()
	c := f.conn(tpl, user, name, creds...)
	must(t, f.s.CreateConnection(f.ctx, c))
	return c
}

// cred builds a connection credential for config with a recognisable value.
func cred(config, value string) plugboard.ConnectionCredential {
	exp, next, since := at(60), at(7), at(4)
	return plugboard.ConnectionCredential{
		ID:                 ulid.Make(),
		AuthSchemeConfigID: config,
		Credential: plugboard.Credential{
			ID: ulid.Make(), Type: "string", Name: value,
			Public:    json.RawMessage(fmt.Sprintf(`{"string":{"value":""},"note":%q,"marker":%q}`, value, publicMarker)),
			Sealed:    append([]byte{0x00, 0xff}, []byte(sealedMarker+value)...),
			ExpiresAt: &exp,
			Refresh:   plugboard.RefreshState{Attempts: 2, NextAttempt: &next, LastError: plugboard.EUpstreamRejected, FailingSince: &since},
			CreatedAt: at(5), UpdatedAt: at(5),
		},
	}
}

// at returns a fixed time min minutes after a base, with nanoseconds and a non-UTC zone, so the
// suite sees that the store returns UTC truncated to microseconds.
func at(min int) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600)).Add(time.Duration(min) * time.Minute)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantCode checks that err is a *plugboard.Error with code, whose message contains no secret.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var pe *plugboard.Error
	switch {
	case err == nil:
		t.Fatalf("got no error, want %s", code)
	case !errors.As(err, &pe):
		t.Fatalf("got %T %v, want *plugboard.Error %s", err, err, code)
	case pe.Code != code:
		t.Fatalf("got code %s (%v), want %s", pe.Code, err, code)
	case pe.Message == "":
		t.Errorf("error %v has no message", err)
	}
	noSecrets(t, err)
}

func noSecrets(t *testing.T, err error) {
	t.Helper()
	var pe *plugboard.Error
	if errors.As(err, &pe) {
		for _, s := range []string{pe.Error(), pe.Message, pe.Details} {
			if strings.Contains(s, publicMarker) || strings.Contains(s, sealedMarker) {
				t.Errorf("error %q contains credential material", s)
			}
		}
	}
}

// equal compares records after canonicalising both: times to UTC microseconds, JSON to a canonical
// encoding, empty slices and maps to nil. Backends may choose how they return "none".
func equal(t *testing.T, got, want any) {
	t.Helper()
	g, w := canonical(got), canonical(want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("records differ\n got: %+v\nwant: %+v", g, w)
	}
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// canonical returns a canonicalised deep copy of v (which the caller keeps unchanged).
func canonical(v any) any {
	c := reflect.New(reflect.TypeOf(v)).Elem()
	c.Set(deepCopy(reflect.ValueOf(v)))
	canon(c)
	return c.Interface()
}

func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(deepCopy(v.Elem()))
		return p
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(deepCopy(v.Index(i)))
		}
		return s
	case reflect.Struct:
		if v.Type() == timeType {
			return v
		}
		s := reflect.New(v.Type()).Elem()
		s.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				s.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return s
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		m := reflect.MakeMap(v.Type())
		for _, k := range v.MapKeys() {
			m.SetMapIndex(k, deepCopy(v.MapIndex(k)))
		}
		return m
	}
	return v
}

func canon(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			canon(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC().Truncate(time.Microsecond)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				canon(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if v.Type() == rawType {
			var x any
			if err := json.Unmarshal(v.Bytes(), &x); err == nil {
				b, _ := json.Marshal(x) // map keys come out sorted
				v.SetBytes(b)
			}
			return
		}
		for i := range v.Len() {
			canon(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// ids returns the ids of items, for comparing pages.
func ids[T any](items []T, id func(T) ulid.ULID) []ulid.ULID {
	out := make([]ulid.ULID, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

// checkPage compares a page's ids, total, Next and Prev.
func checkPage(t *testing.T, name string, gotIDs []ulid.ULID, total int, next, prev ulid.ULID,
	wantIDs []ulid.ULID, wantTotal int, wantNext, wantPrev ulid.ULID) {
	t.Helper()
	if !reflect.DeepEqual(gotIDs, wantIDs) && !(len(gotIDs) == 0 && len(wantIDs) == 0) {
		t.Errorf("%s: ids %v, want %v", name, gotIDs, wantIDs)
	}
	if total != wantTotal {
		t.Errorf("%s: TotalCount %d, want %d", name, total, wantTotal)
	}
	if next != wantNext {
		t.Errorf("%s: Next %v, want %v", name, next, wantNext)
	}
	if prev != wantPrev {
		t.Errorf("%s: Prev %v, want %v", name, prev, wantPrev)
	}
}

// pagination walks a list of 7 records (want, ascending) with page size 3 in both directions.
// list returns one page as ids, total, next, prev.
func pagination(t *testing.T, want []ulid.ULID,
	list func(plugboard.PageRequest) ([]ulid.ULID, int, ulid.ULID, ulid.ULID, error)) {
	t.Helper()
	if len(want) != 7 {
		t.Fatalf("pagination needs 7 records, got %d", len(want))
	}
	var z ulid.ULID
	n := len(want)
	cases := []struct {
		name       string
		req        plugboard.PageRequest
		ids        []ulid.ULID
		next, prev ulid.ULID
	}{
		{"first page", plugboard.PageRequest{First: 3}, want[0:3], want[2], z},
		{"second page", plugboard.PageRequest{First: 3, After: want[2]}, want[3:6], want[5], want[3]},
		{"last page", plugboard.PageRequest{First: 3, After: want[5]}, want[6:7], z, want[6]},
		{"after the end", plugboard.PageRequest{First: 3, After: want[6]}, nil, z, z},
		{"before the end", plugboard.PageRequest{First: 3, Before: want[6]}, want[3:6], want[5], want[3]},
		{"before the middle", plugboard.PageRequest{First: 3, Before: want[3]}, want[0:3], want[2], z},
		{"before, short", plugboard.PageRequest{First: 3, Before: want[2]}, want[0:2], want[1], z},
		{"before the start", plugboard.PageRequest{First: 3, Before: want[0]}, nil, z, z},
		{"all", plugboard.PageRequest{First: 10}, want, z, z},
		{"default size", plugboard.PageRequest{}, want, z, z},
	}
	for _, c := range cases {
		got, total, next, prev, err := list(c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		checkPage(t, c.name, got, total, next, prev, c.ids, n, c.next, c.prev)
	}
	_, _, _, _, err := list(plugboard.PageRequest{First: 3, After: want[1], Before: want[5]})
	wantCode(t, err, plugboard.EInvalid)
}

// updateConnection is Store.UpdateConnection for tests that do not look at what it removed.
func updateConnection(f *fixture, c *plugboard.Connection) error {
	_, err := f.s.UpdateConnection(f.ctx, c)
	return err
}
