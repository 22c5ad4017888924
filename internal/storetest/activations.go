package storetest

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

// activate ensures the end user's activation in env and returns it.
func (f *fixture) activate(t *testing.T, env, user ulid.ULID) *plugboard.Activation {
	t.Helper()
	a := &plugboard.Activation{ID: ulid.Make(), OrganisationID: f.org, EnvironmentID: env, EndUserID: user,
		CreatedAt: at(6), UpdatedAt: at(6)}
	_, err := f.s.EnsureActivation(f.ctx, a)
	must(t, err)
	return a
}

func testEnvironments(t *testing.T, f *fixture) {
	got, err := f.s.GetEnvironment(f.ctx, f.org, f.prod)
	must(t, err)
	equal(t, *got, f.project.Environments[0])
	_, err = f.s.GetEnvironment(f.ctx, f.other, f.prod)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetEnvironment(f.ctx, f.org, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)
}

func testEnsureActivation(t *testing.T, f *fixture) {
	a := &plugboard.Activation{ID: ulid.Make(), OrganisationID: f.org, EnvironmentID: f.prod, EndUserID: f.user.ID,
		DynamicVariables: json.RawMessage(`{"region":"eu"}`), CreatedAt: at(6), UpdatedAt: at(6)}
	want := *a
	created, err := f.s.EnsureActivation(f.ctx, a)
	must(t, err)
	equal(t, created, true)
	equal(t, *a, want)

	// The same pair again: the existing activation, its variables kept when none are sent ...
	again := &plugboard.Activation{ID: ulid.Make(), OrganisationID: f.org, EnvironmentID: f.prod, EndUserID: f.user.ID}
	created, err = f.s.EnsureActivation(f.ctx, again)
	must(t, err)
	equal(t, created, false)
	equal(t, *again, want)
	// ... and replaced when they are.
	again = &plugboard.Activation{ID: ulid.Make(), OrganisationID: f.org, EnvironmentID: f.prod, EndUserID: f.user.ID,
		DynamicVariables: json.RawMessage(`{"region":"us"}`), UpdatedAt: at(9)}
	created, err = f.s.EnsureActivation(f.ctx, again)
	must(t, err)
	equal(t, created, false)
	want.DynamicVariables, want.UpdatedAt = json.RawMessage(`{"region":"us"}`), at(9)
	equal(t, *again, want)

	got, err := f.s.GetActivation(f.ctx, f.org, a.ID)
	must(t, err)
	equal(t, *got, want)
	_, err = f.s.GetActivation(f.ctx, f.other, a.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetActivation(f.ctx, f.org, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)

	for name, bad := range map[string]plugboard.Activation{
		"unknown environment": {EnvironmentID: ulid.Make(), EndUserID: f.user.ID},
		"unknown end user":    {EnvironmentID: f.staging, EndUserID: ulid.Make()},
		"other organisation":  {OrganisationID: f.other, EnvironmentID: f.staging, EndUserID: f.user.ID},
	} {
		bad.ID = ulid.Make()
		if bad.OrganisationID == (ulid.ULID{}) {
			bad.OrganisationID = f.org
		}
		_, err := f.s.EnsureActivation(f.ctx, &bad)
		if !plugboard.IsCode(err, plugboard.ENotFound) {
			t.Errorf("%s: %v, want not_found", name, err)
		}
	}
	_, err = f.s.EnsureActivation(f.ctx, &plugboard.Activation{OrganisationID: f.org, EnvironmentID: f.staging, EndUserID: f.user.ID})
	wantCode(t, err, plugboard.EInvalid)
}

func testConcurrentEnsureActivation(t *testing.T, f *fixture) {
	const n = 8
	var wg sync.WaitGroup
	got := make([]ulid.ULID, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &plugboard.Activation{ID: ulid.Make(), OrganisationID: f.org, EnvironmentID: f.prod, EndUserID: f.user.ID}
			errs[i] = f.s.InTx(f.ctx, func(tx plugboard.Store) error {
				_, err := tx.EnsureActivation(f.ctx, a)
				return err
			})
			got[i] = a.ID
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil && !plugboard.IsCode(errs[i], plugboard.EUnavailable) {
			t.Fatalf("call %d: %v", i, errs[i])
		}
	}
	list, err := f.s.ListActivations(f.ctx, f.org, plugboard.ActivationFilter{})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("%d activations, want 1", len(list))
	}
	for i := range n {
		if errs[i] == nil && got[i] != list[0].ID {
			t.Errorf("call %d saw activation %s, want %s", i, got[i], list[0].ID)
		}
	}
}

func testActivationConnections(t *testing.T, f *fixture) {
	staging := f.newTemplate(t, f.staging, "github-users", true)
	other := f.newEndUser(t, f.org, "customer-2", "Two")
	mine := f.newConn(t, f.dynamic, f.user.ID, "mine", cred("api-key", "mine"))
	theirs := f.newConn(t, f.dynamic, other.ID, "theirs", cred("api-key", "theirs"))
	linkedIn := f.newConn(t, staging, f.user.ID, "from-staging", cred("api-key", "staging"))
	must(t, f.s.LinkConnection(f.ctx, f.org, linkedIn.ID, f.dynamic.ID))
	f.newConn(t, f.static, ulid.ULID{}, "static")

	prod := f.activate(t, f.prod, f.user.ID)
	stag := f.activate(t, f.staging, f.user.ID)
	theirProd := f.activate(t, f.prod, other.ID)

	got, err := f.s.GetActivation(f.ctx, f.org, prod.ID)
	must(t, err)
	prod.Connections = []plugboard.Connection{*mine, *linkedIn}
	equal(t, *got, *prod)

	list, err := f.s.ListActivations(f.ctx, f.org, plugboard.ActivationFilter{EnvironmentID: f.prod})
	must(t, err)
	theirProd.Connections = []plugboard.Connection{*theirs}
	equal(t, list, []plugboard.Activation{*prod, *theirProd})
	list, err = f.s.ListActivations(f.ctx, f.org, plugboard.ActivationFilter{EnvironmentID: f.staging, EndUserID: f.user.ID})
	must(t, err)
	stag.Connections = []plugboard.Connection{*linkedIn}
	equal(t, list, []plugboard.Activation{*stag})
	list, err = f.s.ListActivations(f.ctx, f.other, plugboard.ActivationFilter{})
	must(t, err)
	equal(t, len(list), 0)

	c, err := f.s.GetActivationConnection(f.ctx, f.org, prod.ID, f.dynamic.ID)
	must(t, err)
	equal(t, *c, *mine)
	c, err = f.s.GetActivationConnection(f.ctx, f.org, stag.ID, staging.ID)
	must(t, err)
	equal(t, *c, *linkedIn)
	_, err = f.s.GetActivationConnection(f.ctx, f.org, stag.ID, f.dynamic.ID) // a template of another environment
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetActivationConnection(f.ctx, f.other, prod.ID, f.dynamic.ID)
	wantCode(t, err, plugboard.ENotFound)

	// Deleting the production activation deletes the connection created there and unlinks the one
	// created in staging, which stays in the staging activation.
	_, err = f.s.DeleteActivation(f.ctx, f.other, prod.ID)
	wantCode(t, err, plugboard.ENotFound)
	d, err := f.s.DeleteActivation(f.ctx, f.org, prod.ID)
	must(t, err)
	equal(t, d.Activation, *prod)
	equal(t, d.Deleted, []plugboard.DeletedConnection{{ID: mine.ID, EndUserID: f.user.ID, CredentialIDs: []ulid.ULID{mine.Credentials[0].Credential.ID}}})
	equal(t, d.Unlinked, []plugboard.ConnectionLink{{ConnectionID: linkedIn.ID, EndUserID: f.user.ID, TemplateID: f.dynamic.ID}})
	_, err = f.s.GetActivation(f.ctx, f.org, prod.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetConnection(f.ctx, f.org, mine.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetCredential(f.ctx, f.org, mine.Credentials[0].Credential.ID)
	wantCode(t, err, plugboard.ENotFound)
	got, err = f.s.GetActivation(f.ctx, f.org, stag.ID)
	must(t, err)
	equal(t, *got, *stag)
	got, err = f.s.GetActivation(f.ctx, f.org, theirProd.ID)
	must(t, err)
	equal(t, *got, *theirProd)
	_, err = f.s.DeleteActivation(f.ctx, f.org, prod.ID)
	wantCode(t, err, plugboard.ENotFound)
}

func testListEndUsersActivated(t *testing.T, f *fixture) {
	two := f.newEndUser(t, f.org, "customer-2", "Two")
	three := f.newEndUser(t, f.org, "customer-3", "Three")
	f.activate(t, f.prod, f.user.ID)
	f.activate(t, f.staging, two.ID)
	yes, no := true, false
	for _, c := range []struct {
		name string
		f    plugboard.EndUserFilter
		want []ulid.ULID
	}{
		{"all", plugboard.EndUserFilter{}, []ulid.ULID{f.user.ID, two.ID, three.ID}},
		{"activated anywhere", plugboard.EndUserFilter{Activated: &yes}, []ulid.ULID{f.user.ID, two.ID}},
		{"activated nowhere", plugboard.EndUserFilter{Activated: &no}, []ulid.ULID{three.ID}},
		{"activated in production", plugboard.EndUserFilter{Activated: &yes, EnvironmentID: f.prod}, []ulid.ULID{f.user.ID}},
		{"not activated in production", plugboard.EndUserFilter{Activated: &no, EnvironmentID: f.prod}, []ulid.ULID{two.ID, three.ID}},
		{"activated in staging, searched", plugboard.EndUserFilter{Activated: &yes, EnvironmentID: f.staging, Search: "two"}, []ulid.ULID{two.ID}},
		{"not activated in staging, searched", plugboard.EndUserFilter{Activated: &no, EnvironmentID: f.staging, Search: "two"}, nil},
	} {
		p, err := f.s.ListEndUsers(f.ctx, f.org, c.f, plugboard.PageRequest{})
		must(t, err)
		checkPage(t, c.name, ids(p.Items, func(u plugboard.EndUser) ulid.ULID { return u.ID }),
			p.TotalCount, p.Next, p.Prev, c.want, len(c.want), ulid.ULID{}, ulid.ULID{})
	}
}

func testDeleteProjectWithActivations(t *testing.T, f *fixture) {
	a := f.activate(t, f.staging, f.user.ID)
	b := f.activate(t, f.prod, f.user.ID)
	c := f.newConn(t, f.dynamic, f.user.ID, "c", cred("api-key", "c"))
	_, err := f.s.DeleteProject(f.ctx, f.org, f.project.ID)
	wantCode(t, err, plugboard.EConflict) // a connection under its templates
	_, err = f.s.DeleteConnection(f.ctx, f.org, c.ID)
	must(t, err)
	d, err := f.s.DeleteProject(f.ctx, f.org, f.project.ID)
	must(t, err)
	equal(t, ids(d.Activations, func(a plugboard.Activation) ulid.ULID { return a.ID }), sortedIDs(a.ID, b.ID))
	left, err := f.s.ListActivations(f.ctx, f.org, plugboard.ActivationFilter{})
	must(t, err)
	equal(t, len(left), 0)
}

// sortedIDs returns ids in ascending order.
func sortedIDs(ids ...ulid.ULID) []ulid.ULID {
	slices.SortFunc(ids, func(a, b ulid.ULID) int { return a.Compare(b) })
	return ids
}
