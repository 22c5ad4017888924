package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

func testEndUsers(t *testing.T, f *fixture) {
	got, err := f.s.GetEndUser(f.ctx, f.org, f.user.ID)
	must(t, err)
	equal(t, *got, *f.user)
	got, err = f.s.GetEndUserByExternalID(f.ctx, f.org, "customer-1")
	must(t, err)
	equal(t, *got, *f.user)

	_, err = f.s.GetEndUser(f.ctx, f.other, f.user.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetEndUser(f.ctx, f.org, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetEndUserByExternalID(f.ctx, f.other, "customer-1")
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetEndUserByExternalID(f.ctx, f.org, "CUSTOMER-1") // external ids are exact
	wantCode(t, err, plugboard.ENotFound)

	dup := &plugboard.EndUser{ID: ulid.Make(), OrganisationID: f.org, ExternalID: "customer-1"}
	wantCode(t, f.s.CreateEndUser(f.ctx, dup), plugboard.EConflict)
	dup.OrganisationID = f.other // external ids are unique per organisation only
	must(t, f.s.CreateEndUser(f.ctx, dup))
	err = f.s.CreateEndUser(f.ctx, &plugboard.EndUser{ID: ulid.Make(), OrganisationID: ulid.Make(), ExternalID: "x"})
	wantCode(t, err, plugboard.ENotFound)
}

func testListEndUsers(t *testing.T, f *fixture) {
	want := []ulid.ULID{f.user.ID}
	for i := range 6 {
		want = append(want, f.newEndUser(t, f.org, fmt.Sprintf("ext-%d", i), fmt.Sprintf("Person %d", i)).ID)
	}
	f.newEndUser(t, f.other, "ext-0", "Person elsewhere")
	pagination(t, want, func(req plugboard.PageRequest) ([]ulid.ULID, int, ulid.ULID, ulid.ULID, error) {
		p, err := f.s.ListEndUsers(f.ctx, f.org, plugboard.EndUserFilter{}, req)
		if err != nil {
			return nil, 0, ulid.ULID{}, ulid.ULID{}, err
		}
		return ids(p.Items, func(u plugboard.EndUser) ulid.ULID { return u.ID }), p.TotalCount, p.Next, p.Prev, nil
	})

	odd := f.newEndUser(t, f.org, "a_b%c", "Wild Card")
	for _, c := range []struct {
		search string
		want   []ulid.ULID
	}{
		{"EXT-", want[1:]},
		{"person 3", want[4:5]},
		{"customer", want[:1]},
		{strings.ToLower(want[2].String()[10:]), want[2:3]}, // a part of the id, other case
		{"_", []ulid.ULID{odd.ID}},
		{"%", []ulid.ULID{odd.ID}},
		{"b%c", []ulid.ULID{odd.ID}},
		{"nobody", nil},
	} {
		p, err := f.s.ListEndUsers(f.ctx, f.org, plugboard.EndUserFilter{Search: c.search}, plugboard.PageRequest{})
		must(t, err)
		checkPage(t, "search "+c.search, ids(p.Items, func(u plugboard.EndUser) ulid.ULID { return u.ID }),
			p.TotalCount, p.Next, p.Prev, c.want, len(c.want), ulid.ULID{}, ulid.ULID{})
	}
	p, err := f.s.ListEndUsers(f.ctx, f.org, plugboard.EndUserFilter{}, plugboard.PageRequest{First: 1})
	must(t, err)
	equal(t, p.Items, []plugboard.EndUser{*f.user})
}

func testPageSizes(t *testing.T, f *fixture) {
	const n = plugboard.MaxPageSize + 1
	must(t, f.s.InTx(f.ctx, func(tx plugboard.Store) error {
		for i := range n - 1 { // the fixture has one already
			u := &plugboard.EndUser{ID: ulid.Make(), OrganisationID: f.org, ExternalID: fmt.Sprintf("bulk-%d", i)}
			if err := tx.CreateEndUser(f.ctx, u); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, c := range []struct{ first, want int }{
		{0, plugboard.DefaultPageSize},
		{-5, plugboard.DefaultPageSize},
		{7, 7},
		{plugboard.MaxPageSize * 2, plugboard.MaxPageSize},
	} {
		p, err := f.s.ListEndUsers(f.ctx, f.org, plugboard.EndUserFilter{}, plugboard.PageRequest{First: c.first})
		must(t, err)
		if len(p.Items) != c.want || p.TotalCount != n || p.Next != p.Items[len(p.Items)-1].ID {
			t.Errorf("First %d: %d items, total %d, next %v; want %d items, total %d, next set",
				c.first, len(p.Items), p.TotalCount, p.Next, c.want, n)
		}
	}
}

func testConnections(t *testing.T, f *fixture) {
	static := f.newConn(t, f.static, ulid.ULID{}, "main", cred("api-key", "first"), cred("oauth2", "second"))
	got, err := f.s.GetConnection(f.ctx, f.org, static.ID)
	must(t, err)
	equal(t, *got, *static)
	if got.Credentials[0].Credential.Name != "first" || got.Credentials[1].Credential.Name != "second" {
		t.Errorf("credential order lost: %+v", got.Credentials)
	}

	dyn := f.newConn(t, f.dynamic, f.user.ID, "main", cred("oauth2", "token"))
	got, err = f.s.GetConnection(f.ctx, f.org, dyn.ID)
	must(t, err)
	equal(t, *got, *dyn)
	noCreds := f.newConn(t, f.dynamic, f.newEndUser(t, f.org, "customer-2", "Two").ID, "main")
	got, err = f.s.GetConnection(f.ctx, f.org, noCreds.ID)
	must(t, err)
	equal(t, *got, *noCreds)

	// GetConnection (one statement, outside a transaction) and ListConnections (the connections,
	// then their credentials, in a transaction) read the same thing, and so does GetConnection
	// inside a transaction.
	page, err := f.s.ListConnections(f.ctx, f.org, plugboard.ConnectionFilter{}, plugboard.PageRequest{First: plugboard.MaxPageSize})
	must(t, err)
	listed := 0
	for _, item := range page.Items {
		got, err := f.s.GetConnection(f.ctx, f.org, item.ID)
		must(t, err)
		equal(t, *got, item)
		must(t, f.s.InTx(f.ctx, func(tx plugboard.Store) error {
			got, err := tx.GetConnection(f.ctx, f.org, item.ID)
			if err == nil {
				equal(t, *got, item)
			}
			return err
		}))
		if item.ID == static.ID || item.ID == dyn.ID || item.ID == noCreds.ID {
			listed++
		}
	}
	if listed != 3 {
		t.Errorf("ListConnections lists %d of the 3 connections made", listed)
	}

	_, err = f.s.GetConnection(f.ctx, f.other, static.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetConnection(f.ctx, f.org, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetConnection(f.ctx, f.other, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)

	otherUser := f.newEndUser(t, f.other, "customer-1", "Not ours")
	for _, c := range []struct {
		name string
		conn *plugboard.Connection
		code string
	}{
		{"missing template", func() *plugboard.Connection {
			c := f.conn(f.static, ulid.ULID{}, "x")
			c.TemplateID = ulid.Make()
			return c
		}(), plugboard.ENotFound},
		{"template of another organisation", func() *plugboard.Connection {
			c := f.conn(f.static, ulid.ULID{}, "x")
			c.OrganisationID = f.other
			return c
		}(), plugboard.ENotFound},
		{"missing end user", f.conn(f.dynamic, ulid.Make(), "x"), plugboard.ENotFound},
		{"end user of another organisation", f.conn(f.dynamic, otherUser.ID, "x"), plugboard.ENotFound},
		{"duplicate static", f.conn(f.static, ulid.ULID{}, "main", cred("api-key", "dup")), plugboard.EConflict},
		{"duplicate for end user", f.conn(f.dynamic, f.user.ID, "main", cred("api-key", "dup")), plugboard.EConflict},
		{"credential id taken", f.conn(f.static, ulid.ULID{}, "other", static.Credentials[0]), plugboard.EConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, f.s.CreateConnection(f.ctx, c.conn), c.code)
			_, err := f.s.GetConnection(f.ctx, f.org, c.conn.ID)
			wantCode(t, err, plugboard.ENotFound)
		})
	}

	// The same name is fine for another end user, another template, or static beside an end user's.
	f.newConn(t, f.dynamic, f.newEndUser(t, f.org, "customer-3", "Three").ID, "main")
	f.newConn(t, f.newTemplate(t, f.staging, "github", false), ulid.ULID{}, "main")
	f.newConn(t, f.dynamic, ulid.ULID{}, "main")
	// The failed creates left their credentials unwritten: their ids are still free.
	f.newConn(t, f.static, ulid.ULID{}, "retry", cred("api-key", "retry"))
}

func testListConnections(t *testing.T, f *fixture) {
	sys2 := f.newSystem(t, f.org, "Slack", "slack.com")
	tpl2 := &plugboard.ConnectionTemplate{ID: ulid.Make(), OrganisationID: f.org, ProjectID: f.project.ID,
		EnvironmentID: f.staging, SystemID: sys2.ID, Name: "slack"}
	must(t, f.s.CreateTemplate(f.ctx, tpl2))
	user2 := f.newEndUser(t, f.org, "customer-2", "Two")
	conns := []*plugboard.Connection{
		f.newConn(t, f.static, ulid.ULID{}, "a", cred("api-key", "c0")),
		f.newConn(t, f.dynamic, f.user.ID, "a", cred("oauth2", "c1a"), cred("api-key", "c1b")),
		f.newConn(t, tpl2, ulid.ULID{}, "a"),
		f.newConn(t, f.dynamic, f.user.ID, "b", cred("oauth2", "c3")),
		f.newConn(t, f.dynamic, user2.ID, "a", cred("oauth2", "c4")),
		f.newConn(t, tpl2, ulid.ULID{}, "b", cred("api-key", "c5")),
		f.newConn(t, f.dynamic, f.user.ID, "c", cred("api-key", "c6a"), cred("oauth2", "c6b"), cred("api-key", "c6c")),
	}
	byID := map[ulid.ULID]*plugboard.Connection{}
	var all []ulid.ULID
	for _, c := range conns {
		byID[c.ID] = c
		all = append(all, c.ID)
	}
	list := func(filter plugboard.ConnectionFilter) func(plugboard.PageRequest) ([]ulid.ULID, int, ulid.ULID, ulid.ULID, error) {
		return func(req plugboard.PageRequest) ([]ulid.ULID, int, ulid.ULID, ulid.ULID, error) {
			p, err := f.s.ListConnections(f.ctx, f.org, filter, req)
			if err != nil {
				return nil, 0, ulid.ULID{}, ulid.ULID{}, err
			}
			for _, c := range p.Items {
				equal(t, c, *byID[c.ID]) // with its credentials, in order
			}
			return ids(p.Items, func(c plugboard.Connection) ulid.ULID { return c.ID }), p.TotalCount, p.Next, p.Prev, nil
		}
	}
	pagination(t, all, list(plugboard.ConnectionFilter{}))

	var z ulid.ULID
	for _, c := range []struct {
		name       string
		filter     plugboard.ConnectionFilter
		req        plugboard.PageRequest
		want       []ulid.ULID
		total      int
		next, prev ulid.ULID
	}{
		{"end user", plugboard.ConnectionFilter{EndUserID: f.user.ID}, plugboard.PageRequest{}, []ulid.ULID{all[1], all[3], all[6]}, 3, z, z},
		{"end user paged", plugboard.ConnectionFilter{EndUserID: f.user.ID}, plugboard.PageRequest{First: 2}, []ulid.ULID{all[1], all[3]}, 3, all[3], z},
		{"end user page 2", plugboard.ConnectionFilter{EndUserID: f.user.ID}, plugboard.PageRequest{First: 2, After: all[3]}, []ulid.ULID{all[6]}, 3, z, all[6]},
		{"end user backwards", plugboard.ConnectionFilter{EndUserID: f.user.ID}, plugboard.PageRequest{First: 2, Before: all[6]}, []ulid.ULID{all[1], all[3]}, 3, all[3], z},
		{"system", plugboard.ConnectionFilter{SystemID: sys2.ID}, plugboard.PageRequest{}, []ulid.ULID{all[2], all[5]}, 2, z, z},
		{"system and end user", plugboard.ConnectionFilter{SystemID: f.system.ID, EndUserID: user2.ID}, plugboard.PageRequest{}, []ulid.ULID{all[4]}, 1, z, z},
		{"nothing", plugboard.ConnectionFilter{SystemID: sys2.ID, EndUserID: user2.ID}, plugboard.PageRequest{}, nil, 0, z, z},
	} {
		got, total, next, prev, err := list(c.filter)(c.req)
		must(t, err)
		checkPage(t, c.name, got, total, next, prev, c.want, c.total, c.next, c.prev)
	}

	p, err := f.s.ListConnections(f.ctx, f.other, plugboard.ConnectionFilter{}, plugboard.PageRequest{})
	must(t, err)
	if len(p.Items) != 0 || p.TotalCount != 0 {
		t.Errorf("another organisation sees %d connections (total %d)", len(p.Items), p.TotalCount)
	}
}

func testListEnvironmentConnections(t *testing.T, f *fixture) {
	stagingTpl := f.newTemplate(t, f.staging, "github", false)
	prodStatic := f.newConn(t, f.static, ulid.ULID{}, "prod", cred("api-key", "p"))
	f.newConn(t, f.dynamic, f.user.ID, "user") // not static: never listed
	stagingStatic := f.newConn(t, stagingTpl, ulid.ULID{}, "staging", cred("api-key", "s1"), cred("oauth2", "s2"))
	must(t, f.s.LinkConnection(f.ctx, f.org, prodStatic.ID, stagingTpl.ID))

	for _, c := range []struct {
		name string
		env  ulid.ULID
		want []plugboard.Connection
	}{
		{"project", ulid.ULID{}, []plugboard.Connection{*prodStatic, *stagingStatic}},
		{"production", f.prod, []plugboard.Connection{*prodStatic}},
		{"staging", f.staging, []plugboard.Connection{*prodStatic, *stagingStatic}},
		{"unknown environment", ulid.Make(), nil},
	} {
		got, err := f.s.ListEnvironmentConnections(f.ctx, f.org, f.project.ID, c.env)
		must(t, err)
		equal(t, got, c.want)
	}
	_, err := f.s.ListEnvironmentConnections(f.ctx, f.org, ulid.Make(), ulid.ULID{})
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.ListEnvironmentConnections(f.ctx, f.other, f.project.ID, ulid.ULID{})
	wantCode(t, err, plugboard.ENotFound)

	must(t, f.s.UnlinkConnection(f.ctx, f.org, prodStatic.ID, stagingTpl.ID))
	got, err := f.s.ListEnvironmentConnections(f.ctx, f.org, f.project.ID, f.staging)
	must(t, err)
	equal(t, got, []plugboard.Connection{*stagingStatic})
}

func testUpdateConnection(t *testing.T, f *fixture) {
	a, b, c := cred("api-key", "a"), cred("oauth2", "b"), cred("api-key", "c")
	conn := f.newConn(t, f.static, ulid.ULID{}, "main", a, b, c)

	// Replace c (same ids, new data), add d, keep a, drop b; the order becomes c, d, a.
	upd := *conn
	newC := c
	newC.AuthSchemeConfigID = "oauth2"
	newC.Credential.Name, newC.Credential.Type = "c-refreshed", "oauth2-token"
	newC.Credential.Public = []byte(`{"accessToken":"","tokenType":"Bearer","marker":"` + publicMarker + `"}`)
	newC.Credential.Sealed = []byte{0xca, 0xfe, 0x00}
	newC.Credential.Refresh, newC.Credential.ExpiresAt, newC.Credential.UpdatedAt = plugboard.RefreshState{}, nil, at(90)
	d := cred("api-key", "d")
	upd.Name, upd.BaseURL, upd.UpdatedAt = "renamed", "https://ghe.example.com/api/v3", at(90)
	upd.Credentials = []plugboard.ConnectionCredential{newC, d, a}
	removed, err := f.s.UpdateConnection(f.ctx, &upd)
	must(t, err)
	equal(t, removed, []ulid.ULID{b.Credential.ID}) // exactly what it deleted
	got, err := f.s.GetConnection(f.ctx, f.org, conn.ID)
	must(t, err)
	equal(t, *got, upd)

	// b's credential is gone: its ids can be used again.
	f.newConn(t, f.static, ulid.ULID{}, "reuses-b", b)

	t.Run("remove all", func(t *testing.T) {
		none := upd
		none.Credentials = nil
		must(t, updateConnection(f, &none))
		got, err := f.s.GetConnection(f.ctx, f.org, conn.ID)
		must(t, err)
		equal(t, *got, none)
		f.newConn(t, f.static, ulid.ULID{}, "reuses-all", newC, d, a)
	})

	t.Run("errors", func(t *testing.T) {
		other := f.newConn(t, f.static, ulid.ULID{}, "other", cred("api-key", "o"))
		dup := *other
		dup.Name = "renamed"
		wantCode(t, updateConnection(f, &dup), plugboard.EConflict)
		steal := *other
		steal.Credentials = append(steal.Credentials, b) // b now belongs to "reuses-b"
		wantCode(t, updateConnection(f, &steal), plugboard.EConflict)
		got, err := f.s.GetConnection(f.ctx, f.org, other.ID)
		must(t, err)
		equal(t, *got, *other) // the failed updates changed nothing

		missing := *other
		missing.ID = ulid.Make()
		wantCode(t, updateConnection(f, &missing), plugboard.ENotFound)
		foreign := *other
		foreign.OrganisationID = f.other
		foreign.Credentials = nil
		wantCode(t, updateConnection(f, &foreign), plugboard.ENotFound)
	})
}

func testDeleteConnection(t *testing.T, f *fixture) {
	a := cred("api-key", "a")
	c := f.newConn(t, f.static, ulid.ULID{}, "main", a)
	_, err := f.s.DeleteConnection(f.ctx, f.other, c.ID)
	wantCode(t, err, plugboard.ENotFound)
	deleted, err := f.s.DeleteConnection(f.ctx, f.org, c.ID)
	must(t, err)
	equal(t, *deleted, plugboard.DeletedConnection{ID: c.ID, CredentialIDs: []ulid.ULID{a.Credential.ID}})
	_, err = f.s.GetConnection(f.ctx, f.org, c.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.DeleteConnection(f.ctx, f.org, c.ID)
	wantCode(t, err, plugboard.ENotFound)
	// Its credential and its link went with it.
	f.newConn(t, f.dynamic, f.user.ID, "reuses", a)
	wantCode(t, f.s.UnlinkConnection(f.ctx, f.org, c.ID, f.static.ID), plugboard.ENotFound)
	must(t, deleteTemplate(f, f.org, f.project.ID, f.static.ID))
}

func testLinks(t *testing.T, f *fixture) {
	c := f.newConn(t, f.static, ulid.ULID{}, "main")
	staging := f.newTemplate(t, f.staging, "github", false)

	// CreateConnection linked the creating template.
	wantCode(t, f.s.LinkConnection(f.ctx, f.org, c.ID, f.static.ID), plugboard.EConflict)

	must(t, f.s.LinkConnection(f.ctx, f.org, c.ID, staging.ID))
	wantCode(t, f.s.LinkConnection(f.ctx, f.org, c.ID, staging.ID), plugboard.EConflict)
	wantCode(t, f.s.LinkConnection(f.ctx, f.org, ulid.Make(), staging.ID), plugboard.ENotFound)
	wantCode(t, f.s.LinkConnection(f.ctx, f.org, c.ID, ulid.Make()), plugboard.ENotFound)
	wantCode(t, f.s.LinkConnection(f.ctx, f.other, c.ID, staging.ID), plugboard.ENotFound)

	wantCode(t, f.s.UnlinkConnection(f.ctx, f.other, c.ID, staging.ID), plugboard.ENotFound)
	must(t, f.s.UnlinkConnection(f.ctx, f.org, c.ID, staging.ID))
	wantCode(t, f.s.UnlinkConnection(f.ctx, f.org, c.ID, staging.ID), plugboard.ENotFound)
	wantCode(t, f.s.UnlinkConnection(f.ctx, f.org, c.ID, ulid.Make()), plugboard.ENotFound)
	must(t, f.s.LinkConnection(f.ctx, f.org, c.ID, staging.ID))
}

func testDeleteEndUserCascades(t *testing.T, f *fixture) {
	staging := f.newTemplate(t, f.staging, "github-users", true)
	a, b := cred("oauth2", "a"), cred("api-key", "b")
	c1 := f.newConn(t, f.dynamic, f.user.ID, "one", a)
	c2 := f.newConn(t, staging, f.user.ID, "two", b)
	must(t, f.s.LinkConnection(f.ctx, f.org, c1.ID, staging.ID))
	keep := f.newConn(t, f.dynamic, f.newEndUser(t, f.org, "customer-2", "Two").ID, "one", cred("oauth2", "keep"))
	static := f.newConn(t, f.static, ulid.ULID{}, "static")
	f.activate(t, f.prod, f.user.ID)
	f.activate(t, f.staging, f.user.ID)
	kept := f.activate(t, f.prod, keep.EndUserID)

	_, err := f.s.DeleteEndUser(f.ctx, f.other, f.user.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.DeleteEndUser(f.ctx, f.org, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)
	deleted, err := f.s.DeleteEndUser(f.ctx, f.org, f.user.ID)
	must(t, err)
	want := []plugboard.DeletedConnection{{ID: c1.ID, EndUserID: f.user.ID, CredentialIDs: []ulid.ULID{a.Credential.ID}},
		{ID: c2.ID, EndUserID: f.user.ID, CredentialIDs: []ulid.ULID{b.Credential.ID}}}
	if c2.ID.Compare(c1.ID) < 0 {
		want[0], want[1] = want[1], want[0]
	}
	equal(t, deleted.Connections, want)
	if len(deleted.Activations) != 2 {
		t.Errorf("deleted activations: %d, want 2 (production and staging)", len(deleted.Activations))
	}
	left, err := f.s.ListActivations(f.ctx, f.org, plugboard.ActivationFilter{})
	must(t, err)
	equal(t, ids(left, func(a plugboard.Activation) ulid.ULID { return a.ID }), []ulid.ULID{kept.ID})

	_, err = f.s.GetEndUser(f.ctx, f.org, f.user.ID)
	wantCode(t, err, plugboard.ENotFound)
	for _, id := range []ulid.ULID{c1.ID, c2.ID} {
		_, err := f.s.GetConnection(f.ctx, f.org, id)
		wantCode(t, err, plugboard.ENotFound)
	}
	for _, c := range []*plugboard.Connection{keep, static} {
		got, err := f.s.GetConnection(f.ctx, f.org, c.ID)
		must(t, err)
		equal(t, *got, *c)
	}
	// Links and credentials are gone: the staging template can be deleted, the credential ids reused.
	must(t, deleteTemplate(f, f.org, f.project.ID, staging.ID))
	f.newConn(t, f.static, ulid.ULID{}, "reuses", a, b)
	// The external id is free again.
	f.newEndUser(t, f.org, f.user.ExternalID, "Back again")
}

func testInTx(t *testing.T, f *fixture) {
	boom := errors.New("boom")
	newUser := func(ext string) *plugboard.EndUser {
		return &plugboard.EndUser{ID: ulid.Make(), OrganisationID: f.org, ExternalID: ext}
	}
	gone := func(t *testing.T, u *plugboard.EndUser, c *plugboard.Connection) {
		t.Helper()
		_, err := f.s.GetEndUser(f.ctx, f.org, u.ID)
		wantCode(t, err, plugboard.ENotFound)
		_, err = f.s.GetConnection(f.ctx, f.org, c.ID)
		wantCode(t, err, plugboard.ENotFound)
	}

	t.Run("commit", func(t *testing.T) {
		u := newUser("tx-commit")
		c := f.conn(f.dynamic, u.ID, "main", cred("oauth2", "t"))
		must(t, f.s.InTx(f.ctx, func(tx plugboard.Store) error {
			if err := tx.CreateEndUser(f.ctx, u); err != nil {
				return err
			}
			if err := tx.CreateConnection(f.ctx, c); err != nil {
				return err
			}
			got, err := tx.GetConnection(f.ctx, f.org, c.ID) // reads see the transaction's writes
			if err == nil {
				equal(t, *got, *c)
			}
			return err
		}))
		got, err := f.s.GetConnection(f.ctx, f.org, c.ID)
		must(t, err)
		equal(t, *got, *c)
	})

	t.Run("rollback", func(t *testing.T) {
		u := newUser("tx-rollback")
		c := f.conn(f.dynamic, u.ID, "main", cred("oauth2", "t"))
		err := f.s.InTx(f.ctx, func(tx plugboard.Store) error {
			must(t, tx.CreateEndUser(f.ctx, u))
			must(t, tx.CreateConnection(f.ctx, c))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx returned %v, want fn's error", err)
		}
		gone(t, u, c)
	})

	t.Run("store error rolls back", func(t *testing.T) {
		u := newUser("tx-conflict")
		err := f.s.InTx(f.ctx, func(tx plugboard.Store) error {
			must(t, tx.CreateEndUser(f.ctx, u))
			return tx.CreateEndUser(f.ctx, &plugboard.EndUser{ID: ulid.Make(), OrganisationID: f.org, ExternalID: "tx-conflict"})
		})
		wantCode(t, err, plugboard.EConflict)
		_, err = f.s.GetEndUser(f.ctx, f.org, u.ID)
		wantCode(t, err, plugboard.ENotFound)
	})

	t.Run("nested joins", func(t *testing.T) {
		u := newUser("tx-nested")
		c := f.conn(f.dynamic, u.ID, "main")
		err := f.s.InTx(f.ctx, func(tx plugboard.Store) error {
			must(t, tx.CreateEndUser(f.ctx, u))
			must(t, tx.InTx(f.ctx, func(inner plugboard.Store) error { return inner.CreateConnection(f.ctx, c) }))
			return boom // the inner "commit" is undone with the outer transaction
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx returned %v, want fn's error", err)
		}
		gone(t, u, c)

		err = f.s.InTx(f.ctx, func(tx plugboard.Store) error {
			must(t, tx.CreateEndUser(f.ctx, u))
			return tx.InTx(f.ctx, func(inner plugboard.Store) error {
				must(t, inner.CreateConnection(f.ctx, c))
				return boom
			})
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx returned %v, want the inner error", err)
		}
		gone(t, u, c)
	})
}

func testConcurrentCreateConnection(t *testing.T, f *fixture) {
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = f.s.CreateConnection(f.ctx, f.conn(f.static, ulid.ULID{}, "shared", cred("api-key", fmt.Sprint(i))))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case plugboard.IsCode(err, plugboard.EConflict):
			noSecrets(t, err)
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creates succeeded, want exactly 1", ok)
	}
	p, err := f.s.ListConnections(f.ctx, f.org, plugboard.ConnectionFilter{}, plugboard.PageRequest{})
	must(t, err)
	if p.TotalCount != 1 {
		t.Errorf("%d connections stored, want 1", p.TotalCount)
	}
}

// testConcurrentUpdateConnection: concurrent updates of one connection, each read-then-write in a
// transaction as the API does, leave exactly one writer's complete credential list (last writer
// wins), never a mix of two.
func testConcurrentUpdateConnection(t *testing.T, f *fixture) {
	c := f.newConn(t, f.static, ulid.ULID{}, "contended", cred("api-key", "original"))
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = f.s.InTx(f.ctx, func(tx plugboard.Store) error {
				cur, err := tx.GetConnection(f.ctx, f.org, c.ID)
				if err != nil {
					return err
				}
				cur.Name = fmt.Sprintf("writer-%d", i)
				cur.Credentials = []plugboard.ConnectionCredential{
					cred("api-key", fmt.Sprintf("writer-%d-a", i)),
					cred("api-key", fmt.Sprintf("writer-%d-b", i)),
					cred("api-key", fmt.Sprintf("writer-%d-c", i)),
				}
				_, err = tx.UpdateConnection(f.ctx, cur)
				return err
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	got, err := f.s.GetConnection(f.ctx, f.org, c.ID)
	must(t, err)
	if len(got.Credentials) != 3 {
		t.Fatalf("%d credentials after concurrent updates, want 3", len(got.Credentials))
	}
	for i, cc := range got.Credentials {
		want := fmt.Sprintf("%s-%c", got.Name, 'a'+i)
		if cc.Credential.Name != want {
			t.Errorf("credential %d is %q, want %q: the list mixes writers", i, cc.Credential.Name, want)
		}
	}
}
