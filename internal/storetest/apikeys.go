package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

// testAPIKeyLifecycle covers what a key's life adds to CreateAPIKey and GetAPIKey: expiry and
// recorded use round-trip, keys are listed by id per organisation, deleted, and their use recorded
// only forward in time.
func testAPIKeyLifecycle(t *testing.T, f *fixture) {
	exp := at(60)
	k := &plugboard.APIKey{ID: ulid.Make(), OrganisationID: f.org, Name: "expiring", Hash: []byte{7},
		Scopes: []string{"api-keys:manage"}, CreatedAt: at(1), ExpiresAt: &exp}
	must(t, f.s.CreateAPIKey(f.ctx, k))
	got, err := f.s.GetAPIKey(f.ctx, f.org, k.ID)
	must(t, err)
	equal(t, *got, *k)
	if got.LastUsedAt != nil {
		t.Errorf("LastUsedAt = %v for a key never used", got.LastUsedAt)
	}

	// Listing: by id, per organisation, paged, expired keys included.
	want := []ulid.ULID{k.ID}
	for i := range 6 {
		past := at(-10)
		n := &plugboard.APIKey{ID: ulid.Make(), OrganisationID: f.org, Name: fmt.Sprintf("key-%d", i), Hash: []byte{byte(i)}, CreatedAt: at(2)}
		if i == 3 {
			n.ExpiresAt = &past
		}
		must(t, f.s.CreateAPIKey(f.ctx, n))
		want = append(want, n.ID)
	}
	must(t, f.s.CreateAPIKey(f.ctx, &plugboard.APIKey{ID: ulid.Make(), OrganisationID: f.other, Name: "elsewhere", Hash: []byte{9}, CreatedAt: at(2)}))
	pagination(t, want, func(req plugboard.PageRequest) ([]ulid.ULID, int, ulid.ULID, ulid.ULID, error) {
		p, err := f.s.ListAPIKeys(f.ctx, f.org, req)
		if err != nil {
			return nil, 0, ulid.ULID{}, ulid.ULID{}, err
		}
		return ids(p.Items, func(k plugboard.APIKey) ulid.ULID { return k.ID }), p.TotalCount, p.Next, p.Prev, nil
	})
	p, err := f.s.ListAPIKeys(f.ctx, f.org, plugboard.PageRequest{First: 1})
	must(t, err)
	equal(t, p.Items, []plugboard.APIKey{*k})

	// Use is recorded forward only: an earlier time (a slower process) never overwrites a later one.
	must(t, f.s.TouchAPIKey(f.ctx, f.org, k.ID, at(5)))
	must(t, f.s.TouchAPIKey(f.ctx, f.org, k.ID, at(3)))
	got, err = f.s.GetAPIKey(f.ctx, f.org, k.ID)
	must(t, err)
	if want := at(5).UTC().Truncate(time.Microsecond); got.LastUsedAt == nil || !got.LastUsedAt.Equal(want) ||
		got.LastUsedAt.Location() != time.UTC {
		t.Errorf("LastUsedAt = %v, want %v (UTC)", got.LastUsedAt, want)
	}
	must(t, f.s.TouchAPIKey(f.ctx, f.org, k.ID, at(6)))
	got, err = f.s.GetAPIKey(f.ctx, f.org, k.ID)
	must(t, err)
	if want := at(6).UTC().Truncate(time.Microsecond); got.LastUsedAt == nil || !got.LastUsedAt.Equal(want) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, want)
	}
	// Touching a missing key, or one of another organisation, is no error and changes nothing.
	must(t, f.s.TouchAPIKey(f.ctx, f.org, ulid.Make(), at(7)))
	must(t, f.s.TouchAPIKey(f.ctx, f.other, k.ID, at(7)))
	got, err = f.s.GetAPIKey(f.ctx, f.org, k.ID)
	must(t, err)
	if want := at(6).UTC().Truncate(time.Microsecond); got.LastUsedAt == nil || !got.LastUsedAt.Equal(want) {
		t.Errorf("LastUsedAt = %v after touching other keys, want %v", got.LastUsedAt, want)
	}

	// Deleting: another organisation's key is not found, exactly like a missing one.
	wantCode(t, f.s.DeleteAPIKey(f.ctx, f.other, k.ID), plugboard.ENotFound)
	wantCode(t, f.s.DeleteAPIKey(f.ctx, f.org, ulid.Make()), plugboard.ENotFound)
	must(t, f.s.DeleteAPIKey(f.ctx, f.org, k.ID))
	_, err = f.s.GetAPIKey(f.ctx, f.org, k.ID)
	wantCode(t, err, plugboard.ENotFound)
	wantCode(t, f.s.DeleteAPIKey(f.ctx, f.org, k.ID), plugboard.ENotFound)
	p, err = f.s.ListAPIKeys(f.ctx, f.org, plugboard.PageRequest{})
	must(t, err)
	if p.TotalCount != 6 {
		t.Errorf("TotalCount = %d after a delete, want 6", p.TotalCount)
	}

	// A delete inside a transaction that fails is undone.
	err = f.s.InTx(f.ctx, func(tx plugboard.Store) error {
		must(t, tx.DeleteAPIKey(f.ctx, f.org, want[1]))
		return plugboard.Errorf(plugboard.EConflict, "roll back")
	})
	wantCode(t, err, plugboard.EConflict)
	_, err = f.s.GetAPIKey(f.ctx, f.org, want[1])
	must(t, err)
}
