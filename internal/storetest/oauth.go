package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// testStandaloneCredentials: credentials that belong to no connection (a grant's client secret).
func testStandaloneCredentials(t *testing.T, f *fixture) {
	c := &plugboard.Credential{ID: ulid.Make(), OrganisationID: f.org, Type: "oauth2-client", Name: "grant",
		Public: json.RawMessage(`{"clientId":"abc","clientSecret":""}`), Sealed: []byte("sealed-1"), CreatedAt: at(1), UpdatedAt: at(1)}
	must(t, f.s.CreateCredential(f.ctx, c))
	if err := f.s.CreateCredential(f.ctx, c); !plugboard.IsCode(err, plugboard.EConflict) {
		t.Errorf("duplicate: %v", err)
	}
	got, err := f.s.GetCredential(f.ctx, f.org, c.ID)
	must(t, err)
	if string(got.Sealed) != "sealed-1" || got.Type != "oauth2-client" || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("got %+v", got)
	}
	if _, err := f.s.GetCredential(f.ctx, f.other, c.ID); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("other organisation: %v", err)
	}
	got.Sealed, got.UpdatedAt = []byte("sealed-2"), at(9)
	must(t, f.s.UpdateCredential(f.ctx, got))
	again, err := f.s.GetCredential(f.ctx, f.org, c.ID)
	must(t, err)
	if string(again.Sealed) != "sealed-2" || !again.CreatedAt.Equal(c.CreatedAt) || !again.UpdatedAt.Equal(at(9).UTC().Truncate(time.Microsecond)) {
		t.Errorf("after update %+v", again)
	}
	missing := *got
	missing.ID = ulid.Make()
	if err := f.s.UpdateCredential(f.ctx, &missing); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("update missing: %v", err)
	}

	// Deleting: never another organisation's, never a connection's, and only once.
	wantCode(t, f.s.DeleteCredential(f.ctx, f.other, c.ID), plugboard.ENotFound)
	wantCode(t, f.s.DeleteCredential(f.ctx, f.org, ulid.Make()), plugboard.ENotFound)
	conn := f.newConn(t, f.static, ulid.ULID{}, "owner", cred("api-key", "value"))
	wantCode(t, f.s.DeleteCredential(f.ctx, f.org, conn.Credentials[0].Credential.ID), plugboard.EConflict)
	if _, err := f.s.GetConnection(f.ctx, f.org, conn.ID); err != nil {
		t.Errorf("a refused delete touched the connection: %v", err)
	}
	must(t, f.s.DeleteCredential(f.ctx, f.org, c.ID))
	_, err = f.s.GetCredential(f.ctx, f.org, c.ID)
	wantCode(t, err, plugboard.ENotFound)
	wantCode(t, f.s.DeleteCredential(f.ctx, f.org, c.ID), plugboard.ENotFound)
	// Inside a transaction that fails, the delete is undone.
	kept := &plugboard.Credential{ID: ulid.Make(), OrganisationID: f.org, Type: "oauth2-client", Name: "kept",
		Public: json.RawMessage(`{}`), Sealed: []byte("sealed-3"), CreatedAt: at(1), UpdatedAt: at(1)}
	must(t, f.s.CreateCredential(f.ctx, kept))
	rollback := fmt.Errorf("roll back")
	if err := f.s.InTx(f.ctx, func(tx plugboard.Store) error {
		must(t, tx.DeleteCredential(f.ctx, f.org, kept.ID))
		return rollback
	}); err != rollback {
		t.Errorf("InTx: %v", err)
	}
	_, err = f.s.GetCredential(f.ctx, f.org, kept.ID)
	must(t, err)
}

// testOAuthStates: a state is consumed once, whatever the concurrency; unknown and other
// organisations' states are not found; used ones are a conflict.
func testOAuthStates(t *testing.T, f *fixture) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	st := &plugboard.OAuthState{ID: "hash-1", OrganisationID: f.org, Kind: "oauth2", SystemID: f.system.ID, ConfigID: "oauth2",
		RedirectURI: "http://127.0.0.1:62168/oauth/callback", ReturnURL: "https://app.example/done", OpenerOrigin: "https://app.example",
		ClientID: "abc", Sealed: []byte("verifier"), CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	must(t, f.s.CreateOAuthState(f.ctx, st))
	got, err := f.s.GetOAuthState(f.ctx, f.org, "hash-1")
	must(t, err)
	if got.RedirectURI != st.RedirectURI || got.ReturnURL != st.ReturnURL || got.OpenerOrigin != st.OpenerOrigin ||
		string(got.Sealed) != "verifier" || got.ConsumedAt != nil || !got.ExpiresAt.Equal(st.ExpiresAt) {
		t.Errorf("got %+v", got)
	}
	if _, err := f.s.GetOAuthState(f.ctx, f.other, "hash-1"); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("other organisation: %v", err)
	}
	if _, err := f.s.ConsumeOAuthState(f.ctx, f.org, "nope", now); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("unknown: %v", err)
	}
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = f.s.ConsumeOAuthState(f.ctx, f.org, "hash-1", now) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !plugboard.IsCode(err, plugboard.EConflict):
			t.Errorf("concurrent consume: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d consumers succeeded, want 1", ok)
	}
	// Expired states are returned for the caller to refuse; long-expired ones are dropped on create.
	old := &plugboard.OAuthState{ID: "hash-old", OrganisationID: f.org, Kind: "oauth2", SystemID: f.system.ID,
		CreatedAt: now.Add(-72 * time.Hour), ExpiresAt: now.Add(-48 * time.Hour)}
	must(t, f.s.CreateOAuthState(f.ctx, old))
	must(t, f.s.CreateOAuthState(f.ctx, &plugboard.OAuthState{ID: "hash-2", OrganisationID: f.org, Kind: "oauth1", SystemID: f.system.ID,
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	if _, err := f.s.GetOAuthState(f.ctx, f.org, "hash-old"); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("a long-expired state survived: %v", err)
	}
	expired := &plugboard.OAuthState{ID: "hash-exp", OrganisationID: f.org, Kind: "oauth2", SystemID: f.system.ID,
		CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
	must(t, f.s.CreateOAuthState(f.ctx, expired))
	got, err = f.s.ConsumeOAuthState(f.ctx, f.org, "hash-exp", now)
	must(t, err)
	if !got.ExpiresAt.Before(now) || got.ConsumedAt == nil {
		t.Errorf("expired state: %+v", got)
	}
}

// testLockCredential: read-modify-write cycles under LockCredential never lose an update, however
// many run at once (a row lock on PostgreSQL, the write lock on SQLite). Refresh-once rests on it.
func testLockCredential(t *testing.T, f *fixture) {
	c := &plugboard.Credential{ID: ulid.Make(), OrganisationID: f.org, Type: "string", Public: json.RawMessage(`{"n":0}`), CreatedAt: at(1), UpdatedAt: at(1)}
	must(t, f.s.CreateCredential(f.ctx, c))
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = f.s.InTx(f.ctx, func(tx plugboard.Store) error {
				cur, err := tx.LockCredential(f.ctx, f.org, c.ID)
				if err != nil {
					return err
				}
				var v struct{ N int }
				if err := json.Unmarshal(cur.Public, &v); err != nil {
					return err
				}
				time.Sleep(2 * time.Millisecond) // widen the window a lost update needs
				cur.Public = json.RawMessage(fmt.Sprintf(`{"n":%d}`, v.N+1))
				return tx.UpdateCredential(f.ctx, cur)
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("cycle %d: %v", i, err)
		}
	}
	got, err := f.s.GetCredential(f.ctx, f.org, c.ID)
	must(t, err)
	if string(got.Public) != fmt.Sprintf(`{"n":%d}`, n) {
		t.Errorf("counter %s after %d locked increments: an update was lost", got.Public, n)
	}
	if _, err := f.s.LockCredential(f.ctx, f.org, c.ID); err == nil {
		t.Errorf("LockCredential outside a transaction should be refused")
	}
}

// testListRefreshDue: credentials with a RefreshDue before the time are listed, soonest first,
// across organisations, with their connections; others are not.
func testListRefreshDue(t *testing.T, f *fixture) {
	soon, later := cred("api-key", "soon"), cred("api-key", "later")
	d1, d2 := at(10), at(30)
	soon.Credential.RefreshDue, later.Credential.RefreshDue = &d1, &d2
	c := f.newConn(t, f.static, ulid.ULID{}, "due", soon, later, cred("api-key", "never"))
	refs, err := f.s.ListRefreshDue(f.ctx, at(20), 10)
	must(t, err)
	if len(refs) != 1 || refs[0].CredentialID != soon.Credential.ID || refs[0].ConnectionID != c.ID || refs[0].OrganisationID != f.org {
		t.Errorf("due before at(20): %+v", refs)
	}
	refs, err = f.s.ListRefreshDue(f.ctx, at(40), 10)
	must(t, err)
	if len(refs) != 2 || refs[0].CredentialID != soon.Credential.ID {
		t.Errorf("due before at(40): %+v", refs)
	}
	// UpdateCredential moves or clears it.
	stored, err := f.s.GetCredential(f.ctx, f.org, soon.Credential.ID)
	must(t, err)
	stored.RefreshDue = nil
	must(t, f.s.UpdateCredential(f.ctx, stored))
	refs, err = f.s.ListRefreshDue(f.ctx, at(40), 10)
	must(t, err)
	if len(refs) != 1 || refs[0].CredentialID != later.Credential.ID {
		t.Errorf("after clearing: %+v", refs)
	}
	release, ok, err := f.s.TryLead(f.ctx, "test")
	if err != nil || !ok {
		t.Fatalf("TryLead: %v %v", ok, err)
	}
	release()
}
