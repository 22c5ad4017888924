package storetest

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// expiring returns a credential for config that expires at t.
func expiring(config, value string, t time.Time) plugboard.ConnectionCredential {
	c := cred(config, value)
	c.Credential.ExpiresAt = &t
	return c
}

func refOf(c *plugboard.Connection, cc plugboard.ConnectionCredential) plugboard.CredentialRef {
	return plugboard.CredentialRef{OrganisationID: c.OrganisationID, ConnectionID: c.ID, CredentialID: cc.Credential.ID}
}

// testExpiredCredentials: expired connection credentials are listed across organisations, soonest
// first; deleting one keeps the connection and its other credentials, records the gap (read back by
// Get and List), and a credential added by UpdateConnection clears it; replacing the remaining
// credentials without adding one does not.
func testExpiredCredentials(t *testing.T, f *fixture) {
	early, late, keep := expiring("api-key", "early", at(10)), expiring("oauth2", "late", at(20)), cred("api-key", "keep")
	keep.Credential.ExpiresAt = nil
	c := f.newConn(t, f.static, ulid.ULID{}, "expiring", early, late, keep)
	noExpiry := cred("api-key", "none")
	noExpiry.Credential.ExpiresAt = nil
	f.newConn(t, f.dynamic, f.user.ID, "never", noExpiry)

	refs, err := f.s.ListExpiredCredentials(f.ctx, at(9), 10)
	must(t, err)
	if len(refs) != 0 {
		t.Errorf("expired by at(9): %+v", refs)
	}
	refs, err = f.s.ListExpiredCredentials(f.ctx, at(10), 10) // at its expiresAt it is expired
	must(t, err)
	equal(t, refs, []plugboard.CredentialRef{refOf(c, early)})
	refs, err = f.s.ListExpiredCredentials(f.ctx, at(30), 1)
	must(t, err)
	equal(t, refs, []plugboard.CredentialRef{refOf(c, early)})
	refs, err = f.s.ListExpiredCredentials(f.ctx, at(30), 10)
	must(t, err)
	equal(t, refs, []plugboard.CredentialRef{refOf(c, early), refOf(c, late)})

	// Not yet expired at the deletion's time: refused, nothing changes.
	_, err = f.s.DeleteExpiredCredential(f.ctx, refOf(c, late), at(15))
	wantCode(t, err, plugboard.EConflict)
	// The wrong connection, or a credential not of it: not found.
	_, err = f.s.DeleteExpiredCredential(f.ctx, plugboard.CredentialRef{OrganisationID: f.org, ConnectionID: ulid.Make(), CredentialID: early.Credential.ID}, at(30))
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.DeleteExpiredCredential(f.ctx, plugboard.CredentialRef{OrganisationID: f.other, ConnectionID: c.ID, CredentialID: early.Credential.ID}, at(30))
	wantCode(t, err, plugboard.ENotFound)

	gone, err := f.s.DeleteExpiredCredential(f.ctx, refOf(c, early), at(30))
	must(t, err)
	want := plugboard.ExpiredCredential{ConnectionCredentialID: early.ID, CredentialID: early.Credential.ID,
		AuthSchemeConfigID: "api-key", Type: "string", Name: "early", ExpiresAt: at(10), DeletedAt: at(30)}
	equal(t, *gone, want)
	_, err = f.s.DeleteExpiredCredential(f.ctx, refOf(c, early), at(30))
	wantCode(t, err, plugboard.ENotFound) // once
	_, err = f.s.GetCredential(f.ctx, f.org, early.Credential.ID)
	wantCode(t, err, plugboard.ENotFound)

	got, err := f.s.GetConnection(f.ctx, f.org, c.ID)
	must(t, err)
	wantConn := *c
	wantConn.Credentials = []plugboard.ConnectionCredential{c.Credentials[1], c.Credentials[2]}
	wantConn.Expired = []plugboard.ExpiredCredential{want}
	wantConn.UpdatedAt = at(30)
	equal(t, *got, wantConn)
	page, err := f.s.ListConnections(f.ctx, f.org, plugboard.ConnectionFilter{}, plugboard.PageRequest{})
	must(t, err)
	for _, item := range page.Items {
		if item.ID == c.ID {
			equal(t, item.Expired, []plugboard.ExpiredCredential{want})
		} else if len(item.Expired) != 0 {
			t.Errorf("connection %s has gaps %+v", item.ID, item.Expired)
		}
	}
	refs, err = f.s.ListExpiredCredentials(f.ctx, at(30), 10)
	must(t, err)
	equal(t, refs, []plugboard.CredentialRef{refOf(c, late)})

	// Writing back what was read before the sweep (the swept credential as new) is refused.
	stale := *got
	stale.Credentials = []plugboard.ConnectionCredential{early, late, keep}
	wantCode(t, updateConnection(f, &stale), plugboard.EConflict)

	// Replacing the remaining credentials without adding one keeps the gap.
	upd := *got
	upd.Name = "renamed"
	upd.Expired = nil
	must(t, updateConnection(f, &upd))
	equal(t, upd.Expired, []plugboard.ExpiredCredential{want})
	got, err = f.s.GetConnection(f.ctx, f.org, c.ID)
	must(t, err)
	equal(t, got.Expired, []plugboard.ExpiredCredential{want})

	// Adding a credential closes it.
	upd = *got
	upd.Credentials = append(upd.Credentials, cred("api-key", "fresh"))
	must(t, updateConnection(f, &upd))
	if len(upd.Expired) != 0 {
		t.Errorf("after adding a credential: %+v", upd.Expired)
	}
	got, err = f.s.GetConnection(f.ctx, f.org, c.ID)
	must(t, err)
	if len(got.Expired) != 0 {
		t.Errorf("stored gaps after adding a credential: %+v", got.Expired)
	}

	// A connection with gaps is deleted whole; a deleted organisation's credentials are not listed.
	_, err = f.s.DeleteExpiredCredential(f.ctx, refOf(c, late), at(30))
	must(t, err)
	_, err = f.s.DeleteConnection(f.ctx, f.org, c.ID)
	must(t, err)
	_, err = f.s.GetConnection(f.ctx, f.org, c.ID)
	wantCode(t, err, plugboard.ENotFound)
	d := f.newConn(t, f.static, ulid.ULID{}, "doomed", expiring("api-key", "doomed", at(5)))
	_, err = f.s.DeleteExpiredCredential(f.ctx, refOf(d, d.Credentials[0]), at(30))
	must(t, err)
	f.newConn(t, f.static, ulid.ULID{}, "in-deleted-org", expiring("api-key", "in-deleted-org", at(5)))
	must(t, f.s.DeleteOrganisation(f.ctx, f.org, at(40)))
	refs, err = f.s.ListExpiredCredentials(f.ctx, at(50), 10)
	must(t, err)
	if len(refs) != 0 {
		t.Errorf("credentials of a deleted organisation listed: %+v", refs)
	}
	must(t, f.s.PurgeOrganisation(f.ctx, f.org)) // with a gap still recorded on "doomed"
}

// testRefreshDueSkipsExpired: the background refresher's queue leaves out expired credentials.
func testRefreshDueSkipsExpired(t *testing.T, f *fixture) {
	e := expiring("oauth2", "tok", at(10))
	due := at(5)
	e.Credential.RefreshDue = &due
	c := f.newConn(t, f.static, ulid.ULID{}, "due-then-expired", e)
	refs, err := f.s.ListRefreshDue(f.ctx, at(8), 10)
	must(t, err)
	equal(t, refs, []plugboard.CredentialRef{refOf(c, e)})
	refs, err = f.s.ListRefreshDue(f.ctx, at(10), 10)
	must(t, err)
	if len(refs) != 0 {
		t.Errorf("an expired credential is due for refresh: %+v", refs)
	}
}

// testExpiredCredentialRaces: a renewal (UpdateConnection with a later expiresAt) between listing
// and deleting wins; concurrent deletions of one credential delete it once.
func testExpiredCredentialRaces(t *testing.T, f *fixture) {
	e := expiring("api-key", "racy", at(10))
	c := f.newConn(t, f.static, ulid.ULID{}, "racy", e)
	refs, err := f.s.ListExpiredCredentials(f.ctx, at(20), 10)
	must(t, err)
	equal(t, refs, []plugboard.CredentialRef{refOf(c, e)})
	renewed := *c
	r := e
	later := at(120)
	r.Credential.ExpiresAt = &later
	renewed.Credentials = []plugboard.ConnectionCredential{r}
	must(t, updateConnection(f, &renewed))
	_, err = f.s.DeleteExpiredCredential(f.ctx, refs[0], at(20))
	wantCode(t, err, plugboard.EConflict)

	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := f.s.DeleteExpiredCredential(f.ctx, refs[0], at(130))
			errs <- err
		}()
	}
	ok := 0
	for range 4 {
		if err := <-errs; err == nil {
			ok++
		} else if !plugboard.IsCode(err, plugboard.ENotFound) {
			t.Errorf("concurrent deletion: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent deletions succeeded, want 1", ok)
	}
	// In a transaction that fails, nothing is deleted.
	f2 := f.newConn(t, f.static, ulid.ULID{}, "rolled-back", expiring("api-key", "rb", at(10)))
	err = f.s.InTx(f.ctx, func(tx plugboard.Store) error {
		if _, err := tx.DeleteExpiredCredential(f.ctx, refOf(f2, f2.Credentials[0]), at(20)); err != nil {
			return err
		}
		return plugboard.Errorf(plugboard.EConflict, "rolled back")
	})
	wantCode(t, err, plugboard.EConflict)
	got, err := f.s.GetConnection(f.ctx, f.org, f2.ID)
	must(t, err)
	if len(got.Credentials) != 1 || len(got.Expired) != 0 {
		t.Errorf("after a rolled-back deletion: %+v", got)
	}
}

// testExpiringCredentials: credentials expiring within the window are listed until marked, marked
// once per expiresAt value, and listed again when their expiresAt changes.
func testExpiringCredentials(t *testing.T, f *fixture) {
	soon, later, past := expiring("api-key", "soon", at(30)), expiring("api-key", "later", at(200)), expiring("api-key", "past", at(5))
	c := f.newConn(t, f.static, ulid.ULID{}, "expiring", soon, later, past)
	refs, err := f.s.ListExpiringCredentials(f.ctx, at(10), at(100), 10)
	must(t, err)
	equal(t, refs, []plugboard.CredentialRef{refOf(c, soon)}) // not the expired one, not the far one
	got, err := f.s.MarkCredentialExpiring(f.ctx, f.org, soon.Credential.ID, at(10), at(100))
	must(t, err)
	equal(t, *got, at(30))
	_, err = f.s.MarkCredentialExpiring(f.ctx, f.org, soon.Credential.ID, at(10), at(100))
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.MarkCredentialExpiring(f.ctx, f.other, later.Credential.ID, at(10), at(300))
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.MarkCredentialExpiring(f.ctx, f.org, later.Credential.ID, at(10), at(100)) // outside the window
	wantCode(t, err, plugboard.ENotFound)
	refs, err = f.s.ListExpiringCredentials(f.ctx, at(10), at(100), 10)
	must(t, err)
	if len(refs) != 0 {
		t.Errorf("listed after marking: %+v", refs)
	}
	// A PUT that keeps the expiry keeps the mark; one that moves it re-arms.
	upd := *c
	must(t, updateConnection(f, &upd))
	refs, err = f.s.ListExpiringCredentials(f.ctx, at(10), at(100), 10)
	must(t, err)
	if len(refs) != 0 {
		t.Errorf("listed after an update keeping the expiry: %+v", refs)
	}
	moved := soon
	t2 := at(40)
	moved.Credential.ExpiresAt = &t2
	upd.Credentials = []plugboard.ConnectionCredential{moved, later, past}
	must(t, updateConnection(f, &upd))
	refs, err = f.s.ListExpiringCredentials(f.ctx, at(10), at(100), 10)
	must(t, err)
	equal(t, refs, []plugboard.CredentialRef{refOf(c, soon)})
}

// testRefreshState: UpdateCredential writes the refresh state and GetCredential, LockCredential and
// GetConnection read it back; zero clears it.
func testRefreshState(t *testing.T, f *fixture) {
	cc := cred("oauth2", "tok")
	cc.Credential.Refresh = plugboard.RefreshState{}
	c := f.newConn(t, f.static, ulid.ULID{}, "refreshing", cc)
	stored, err := f.s.GetCredential(f.ctx, f.org, cc.Credential.ID)
	must(t, err)
	equal(t, stored.Refresh, plugboard.RefreshState{})
	next, since := at(3), at(1)
	stored.Refresh = plugboard.RefreshState{Attempts: 3, NextAttempt: &next, LastError: plugboard.EUpstreamUnavailable, FailingSince: &since}
	must(t, f.s.UpdateCredential(f.ctx, stored))
	must(t, f.s.InTx(f.ctx, func(tx plugboard.Store) error {
		locked, err := tx.LockCredential(f.ctx, f.org, cc.Credential.ID)
		if err == nil {
			equal(t, locked.Refresh, stored.Refresh)
		}
		return err
	}))
	got, err := f.s.GetConnection(f.ctx, f.org, c.ID)
	must(t, err)
	equal(t, got.Credentials[0].Credential.Refresh, stored.Refresh)
	stored.Refresh = plugboard.RefreshState{}
	must(t, f.s.UpdateCredential(f.ctx, stored))
	again, err := f.s.GetCredential(f.ctx, f.org, cc.Credential.ID)
	must(t, err)
	equal(t, again.Refresh, plugboard.RefreshState{})
}
