package storetest

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// testOrganisationLifecycle: an organisation is listed, deleted (once), kept while deleted, and
// purged with every record of it; another organisation's records stay.
func testOrganisationLifecycle(t *testing.T, f *fixture) {
	// The fixture's organisation holds one of everything.
	key := &plugboard.APIKey{ID: ulid.Make(), OrganisationID: f.org, Hash: []byte("hash"), CreatedAt: at(1)}
	must(t, f.s.CreateAPIKey(f.ctx, key))
	due := at(10)
	c := cred("api-key", "purged")
	c.Credential.RefreshDue = &due
	conn := f.newConn(t, f.static, ulid.ULID{}, "main", c)
	must(t, f.s.LinkConnection(f.ctx, f.org, conn.ID, f.dynamic.ID))
	f.newConn(t, f.dynamic, f.user.ID, "user's", cred("api-key", "user"))
	grant := &plugboard.Credential{ID: ulid.Make(), OrganisationID: f.org, Type: "oauth2-client", Sealed: []byte("s"), CreatedAt: at(1), UpdatedAt: at(1)}
	must(t, f.s.CreateCredential(f.ctx, grant))
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(t, f.s.CreateOAuthState(f.ctx, &plugboard.OAuthState{ID: "state", OrganisationID: f.org, Kind: "oauth2",
		SystemID: f.system.ID, ConfigID: "oauth2", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	// The other organisation holds a system and a key, which must survive the purge.
	otherSystem := f.newSystem(t, f.other, "Other", "other.example")
	otherKey := &plugboard.APIKey{ID: ulid.Make(), OrganisationID: f.other, Hash: []byte("hash"), CreatedAt: at(1)}
	must(t, f.s.CreateAPIKey(f.ctx, otherKey))

	orgs, err := f.s.ListOrganisations(f.ctx)
	must(t, err)
	if len(orgs) != 2 || orgs[0].ID.Compare(orgs[1].ID) >= 0 || orgs[0].DeletedAt != nil || orgs[1].DeletedAt != nil {
		t.Fatalf("ListOrganisations: %+v", orgs)
	}

	// Purging a live organisation is refused; deleting a missing one is not found.
	wantCode(t, f.s.PurgeOrganisation(f.ctx, f.org), plugboard.EConflict)
	wantCode(t, f.s.DeleteOrganisation(f.ctx, ulid.Make(), at(20)), plugboard.ENotFound)
	wantCode(t, f.s.PurgeOrganisation(f.ctx, ulid.Make()), plugboard.ENotFound)

	must(t, f.s.DeleteOrganisation(f.ctx, f.org, at(20)))
	got, err := f.s.GetOrganisation(f.ctx, f.org)
	must(t, err)
	if got.DeletedAt == nil || !got.DeletedAt.Equal(at(20).Truncate(time.Microsecond)) {
		t.Errorf("deleted organisation: %+v", got)
	}
	// A second deletion is refused and keeps the first time (the purge date depends on it).
	wantCode(t, f.s.DeleteOrganisation(f.ctx, f.org, at(30)), plugboard.EConflict)
	if got, _ := f.s.GetOrganisation(f.ctx, f.org); got.DeletedAt == nil || !got.DeletedAt.Equal(at(20).Truncate(time.Microsecond)) {
		t.Errorf("after a second deletion: %+v", got)
	}
	// Deleted, its records are kept (for export) but its tokens are no longer refreshed.
	if _, err := f.s.GetConnection(f.ctx, f.org, conn.ID); err != nil {
		t.Errorf("a deleted organisation's connection before the purge: %v", err)
	}
	refs, err := f.s.ListRefreshDue(f.ctx, at(40), 10)
	must(t, err)
	if len(refs) != 0 {
		t.Errorf("a deleted organisation's credentials are due for refresh: %+v", refs)
	}
	orgs, err = f.s.ListOrganisations(f.ctx)
	must(t, err)
	for _, o := range orgs {
		if (o.ID == f.org) != (o.DeletedAt != nil) {
			t.Errorf("listed %+v", o)
		}
	}

	must(t, f.s.PurgeOrganisation(f.ctx, f.org))
	wantCode(t, f.s.PurgeOrganisation(f.ctx, f.org), plugboard.ENotFound)
	_, err = f.s.GetOrganisation(f.ctx, f.org)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetAPIKey(f.ctx, f.org, key.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetSystem(f.ctx, f.org, f.system.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetProject(f.ctx, f.org, f.project.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetTemplate(f.ctx, f.org, f.static.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetEndUser(f.ctx, f.org, f.user.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetConnection(f.ctx, f.org, conn.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetCredential(f.ctx, f.org, c.Credential.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetCredential(f.ctx, f.org, grant.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetOAuthState(f.ctx, f.org, "state")
	wantCode(t, err, plugboard.ENotFound)
	page, err := f.s.ListConnections(f.ctx, f.org, plugboard.ConnectionFilter{}, plugboard.PageRequest{First: 10})
	must(t, err)
	if page.TotalCount != 0 {
		t.Errorf("connections after the purge: %d", page.TotalCount)
	}

	if _, err := f.s.GetSystem(f.ctx, f.other, otherSystem.ID); err != nil {
		t.Errorf("the other organisation's system: %v", err)
	}
	if _, err := f.s.GetAPIKey(f.ctx, f.other, otherKey.ID); err != nil {
		t.Errorf("the other organisation's key: %v", err)
	}
	if n, err := f.s.CountOrganisations(f.ctx); err != nil || n != 1 {
		t.Errorf("CountOrganisations after the purge: %d %v", n, err)
	}
}
