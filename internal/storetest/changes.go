package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// ChangeFeed checks a store's change feed (watch, as sqlstore.DB.WatchChanges): it says
// Watching(true) once it listens; every committed write that changes an existing connection with
// its credentials, an existing system with its configs, or an API key (but its last use), is
// heard, naming it (the store's own
// writes, a key rotation's rewrap, and a write to each table alone, run by raw on the store's
// database with $1 and $2 for the organisation and an id, since the store's own writes often touch
// more than one table); nothing else is (a new connection or system, a rolled-back write, a store
// of the same kind in another schema of the same database). cut ends the feed's session on the
// server, after which it says Watching(false), then Watching(true) again, and changes are heard
// again.
//
// Changes are collected up to a marker: a change to a system made for the purpose, whose change
// is always heard after the step's own, since the feed delivers in commit order.
func ChangeFeed(t *testing.T, s plugboard.Store, watch func(context.Context, plugboard.ChangeWatcher), elsewhere plugboard.Store, cut func(),
	raw func(query string, args ...any) error) {
	f := newFixture(t, s)
	marker := f.newSystem(t, f.org, "Marker", "marker.example")
	markerConfig := marker.AuthSchemeConfigs[0]
	// The feed starts after the set-up, which it does not hear.
	rec := NewFeedRecorder(nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watch(ctx, rec)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	rec.Want(t, true)

	// step runs do and returns the changes heard after it, up to the marker's.
	step := func(name string, do func()) []plugboard.Change {
		t.Helper()
		do()
		markerConfig.Config = []byte(`{"in":"header","name":"X-` + ulid.Make().String() + `"}`)
		if _, err := s.UpsertAuthSchemeConfig(f.ctx, f.org, marker.ID, markerConfig); err != nil {
			t.Fatalf("%s: marker: %v", name, err)
		}
		var got []plugboard.Change
		for {
			c := rec.NextChange(t, name)
			if c == (plugboard.Change{Kind: plugboard.ChangedSystem, OrganisationID: f.org, ID: marker.ID}) {
				return got
			}
			got = append(got, c)
		}
	}
	connection := func(c *plugboard.Connection) plugboard.Change {
		return plugboard.Change{Kind: plugboard.ChangedConnection, OrganisationID: c.OrganisationID, ID: c.ID}
	}
	want := func(name string, got []plugboard.Change, want ...plugboard.Change) {
		t.Helper()
		// A write may announce the same thing more than once (once per transaction that wrote it).
		got = slices.Compact(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: heard %v, want %v", name, got, want)
		}
	}
	var c1, c2, c3 *plugboard.Connection
	a, b := cred("api-key", "first"), cred("api-key", "second")
	// A new connection is in nobody's memory: nothing to announce.
	want("create connections", step("create connections", func() {
		c1 = f.newConn(t, f.static, ulid.ULID{}, "c1", a, b)
		c2 = f.newConn(t, f.static, ulid.ULID{}, "c2", cred("api-key", "third"))
		c3 = f.newConn(t, f.dynamic, f.user.ID, "c3", cred("api-key", "fourth"))
	}))
	want("add a credential to a connection", step("add a credential to a connection", func() {
		c2.Credentials = append(c2.Credentials, cred("api-key", "added"))
		must(t, updateConnection(f, c2))
	}), connection(c2))
	want("update a connection", step("update a connection", func() {
		c1.Name = "c1 renamed"
		must(t, updateConnection(f, c1))
	}), connection(c1))
	want("update a credential", step("update a credential", func() {
		stored, err := s.GetCredential(f.ctx, f.org, b.Credential.ID)
		must(t, err)
		stored.Sealed = []byte("new sealed value")
		must(t, s.UpdateCredential(f.ctx, stored))
	}), connection(c1))
	want("expire a credential", step("expire a credential", func() {
		_, err := s.DeleteExpiredCredential(f.ctx, refOf(c1, a), at(61))
		must(t, err)
	}), connection(c1))
	want("roll back", step("roll back", func() {
		err := s.InTx(f.ctx, func(tx plugboard.Store) error {
			c2.Name = "never"
			if _, err := tx.UpdateConnection(f.ctx, c2); err != nil {
				return err
			}
			return errRollBack
		})
		if !errors.Is(err, errRollBack) {
			t.Fatalf("roll back: %v", err)
		}
	}))
	system := func(id ulid.ULID) plugboard.Change {
		return plugboard.Change{Kind: plugboard.ChangedSystem, OrganisationID: f.org, ID: id}
	}
	want("add a system's config", step("add a system's config", func() {
		_, err := s.UpsertAuthSchemeConfig(f.ctx, f.org, f.system.ID, plugboard.AuthSchemeConfig{ID: "basic", Type: "basic"})
		must(t, err)
	}), system(f.system.ID))
	want("delete a system's config", step("delete a system's config", func() {
		must(t, s.DeleteAuthSchemeConfig(f.ctx, f.org, f.system.ID, "basic"))
	}), system(f.system.ID))
	want("update a system", step("update a system", func() {
		f.system.TemplateBaseURL = "https://api2.github.com"
		must(t, s.UpdateSystem(f.ctx, f.system))
	}), system(f.system.ID))
	var spare *plugboard.System
	want("create a system", step("create a system", func() { spare = f.newSystem(t, f.org, "Spare", "spare.example") }))
	want("delete a system", step("delete a system", func() { must(t, s.DeleteSystem(f.ctx, f.org, spare.ID)) }), system(spare.ID))
	// A key rotation's rewrap (ReplaceSealed) changes only sealed bytes; it is announced too.
	want("rewrap a credential", step("rewrap a credential", func() {
		stored, err := s.GetCredential(f.ctx, f.org, b.Credential.ID)
		must(t, err)
		ok, err := s.ReplaceSealed(f.ctx, plugboard.SealedRecord{Table: "credentials", OrganisationID: f.org, ID: stored.ID.String(),
			Sealed: stored.Sealed}, []byte("rewrapped"))
		must(t, err)
		if !ok {
			t.Fatal("rewrap a credential: not replaced")
		}
	}), connection(c1))
	want("rewrap a config", step("rewrap a config", func() {
		ok, err := s.ReplaceSealed(f.ctx, plugboard.SealedRecord{Table: "auth_scheme_configs", OrganisationID: f.org, SystemID: f.system.ID,
			ID: "oauth2", Sealed: f.system.AuthSchemeConfigs[1].Sealed}, []byte("rewrapped"))
		must(t, err)
		if !ok {
			t.Fatal("rewrap a config: not replaced")
		}
	}), system(f.system.ID))
	key := &plugboard.APIKey{ID: ulid.Make(), OrganisationID: f.org, Name: "feed", Hash: make([]byte, 32), CreatedAt: at(6)}
	must(t, s.CreateAPIKey(f.ctx, key))
	apiKey := plugboard.Change{Kind: plugboard.ChangedAPIKey, OrganisationID: f.org, ID: key.ID}
	want("use an API key", step("use an API key", func() { must(t, s.TouchAPIKey(f.ctx, f.org, key.ID, at(7))) }))
	// Each table's trigger on its own, by a write that touches nothing else.
	for _, w := range []struct {
		table, query string
		id           string
		heard        plugboard.Change
	}{
		{"connections", `UPDATE connections SET name = name WHERE organisation_id = $1 AND id = $2`, c1.ID.String(), connection(c1)},
		{"connection_credentials", `UPDATE connection_credentials SET position = position WHERE organisation_id = $1 AND connection_id = $2`,
			c1.ID.String(), connection(c1)},
		{"credentials", `UPDATE credentials SET name = name WHERE organisation_id = $1 AND id = $2`, b.Credential.ID.String(), connection(c1)},
		{"expired_credentials", `UPDATE expired_credentials SET name = name WHERE organisation_id = $1 AND connection_id = $2`,
			c1.ID.String(), connection(c1)},
		{"systems", `UPDATE systems SET name = name WHERE organisation_id = $1 AND id = $2`, f.system.ID.String(), system(f.system.ID)},
		{"auth_scheme_configs", `UPDATE auth_scheme_configs SET position = position WHERE organisation_id = $1 AND system_id = $2`,
			f.system.ID.String(), system(f.system.ID)},
		// api_keys' trigger compares the row (less its last use): the write must change something.
		{"api_keys", `UPDATE api_keys SET name = name || ' renamed' WHERE organisation_id = $1 AND id = $2`, key.ID.String(), apiKey},
	} {
		name := "a write to " + w.table + " alone"
		want(name, step(name, func() { must(t, raw(w.query, f.org.String(), w.id)) }), w.heard)
	}
	want("delete an API key", step("delete an API key", func() { must(t, s.DeleteAPIKey(f.ctx, f.org, key.ID)) }), apiKey)
	want("delete an end user", step("delete an end user", func() {
		_, err := s.DeleteEndUser(f.ctx, f.org, f.user.ID)
		must(t, err)
	}), connection(c3))
	want("delete a connection", step("delete a connection", func() {
		_, err := s.DeleteConnection(f.ctx, f.org, c2.ID)
		must(t, err)
	}), connection(c2))
	want("another schema", step("another schema", func() {
		g := newFixture(t, elsewhere)
		c := g.newConn(t, g.static, ulid.ULID{}, "elsewhere", cred("api-key", "fifth"))
		c.Name = "elsewhere renamed"
		must(t, updateConnection(g, c))
	}))

	cut()
	rec.Want(t, false)
	rec.Want(t, true)
	want("after the feed came back", step("after the feed came back", func() {
		stored, err := s.GetCredential(f.ctx, f.org, b.Credential.ID)
		must(t, err)
		stored.Sealed = []byte("newer sealed value")
		must(t, s.UpdateCredential(f.ctx, stored))
	}), connection(c1))
}

var errRollBack = errors.New("roll back")
