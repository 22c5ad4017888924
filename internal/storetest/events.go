package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

// newEvent returns an event of the organisation at minute m, with an id of that time, so ids and
// times sort alike.
func newEvent(org ulid.ULID, typ string, m int) *plugboard.Event {
	when := at(m)
	return &plugboard.Event{ID: ulid.MustNew(ulid.Timestamp(when), ulid.DefaultEntropy()), OrganisationID: org,
		Type: typ, OccurredAt: when, Actor: "system"}
}

func testEvents(t *testing.T, f *fixture) {
	conn, user := ulid.Make(), ulid.Make()
	full := newEvent(f.org, "credential.deleted", 1)
	full.Reason, full.ConnectionID, full.CredentialID, full.EndUserID = "expired", conn, ulid.Make(), user
	full.SystemID, full.TemplateID, full.WebhookEndpointID, full.AuthSchemeConfigID = ulid.Make(), ulid.Make(), ulid.Make(), "api-key"
	full.Data = json.RawMessage(`{"name":"main"}`)
	full.Sealed = []byte{0x01, 0xfe, 's', 'e', 'c'}
	must(t, f.s.AppendEvent(f.ctx, full))
	got, err := f.s.GetEvent(f.ctx, f.org, full.ID)
	must(t, err)
	equal(t, *got, *full)
	// Every id empty: they read back zero.
	bare := newEvent(f.org, "system.created", 2)
	must(t, f.s.AppendEvent(f.ctx, bare))
	got, err = f.s.GetEvent(f.ctx, f.org, bare.ID)
	must(t, err)
	equal(t, *got, *bare)

	_, err = f.s.GetEvent(f.ctx, f.other, full.ID)
	wantCode(t, err, plugboard.ENotFound)
	wantCode(t, f.s.AppendEvent(f.ctx, full), plugboard.EConflict)
	wantCode(t, f.s.AppendEvent(f.ctx, newEvent(ulid.Make(), "system.created", 3)), plugboard.ENotFound)
	bad := newEvent(f.org, "system.created", 3)
	bad.Data = json.RawMessage(`{`)
	wantCode(t, f.s.AppendEvent(f.ctx, bad), plugboard.EInvalid)

	// A failed transaction leaves no event.
	lost := newEvent(f.org, "system.deleted", 4)
	boom := errors.New("boom")
	if err := f.s.InTx(f.ctx, func(tx plugboard.Store) error {
		must(t, tx.AppendEvent(f.ctx, lost))
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	_, err = f.s.GetEvent(f.ctx, f.org, lost.ID)
	wantCode(t, err, plugboard.ENotFound)

	// Lists: newest first, filtered, paged both ways, never another organisation's.
	for m := 10; m < 20; m++ {
		e := newEvent(f.org, "connection.updated", m)
		if m%2 == 0 {
			e.ConnectionID = conn
		} else {
			e.EndUserID = user
		}
		must(t, f.s.AppendEvent(f.ctx, e))
	}
	must(t, f.s.AppendEvent(f.ctx, newEvent(f.other, "connection.updated", 15)))
	ids := func(p *plugboard.Page[plugboard.Event]) []int {
		var out []int
		for _, e := range p.Items {
			out = append(out, int(e.OccurredAt.Sub(at(0)).Round(time.Minute)/time.Minute))
		}
		return out
	}
	list := func(fl plugboard.EventFilter, req plugboard.PageRequest) *plugboard.Page[plugboard.Event] {
		t.Helper()
		p, err := f.s.ListEvents(f.ctx, f.org, fl, req)
		must(t, err)
		return p
	}
	all := list(plugboard.EventFilter{}, plugboard.PageRequest{First: 5})
	equal(t, ids(all), []int{19, 18, 17, 16, 15})
	if all.TotalCount != 12 || all.Next != all.Items[4].ID || all.Prev != (ulid.ULID{}) {
		t.Fatalf("first page: total %d next %v prev %v", all.TotalCount, all.Next, all.Prev)
	}
	older := list(plugboard.EventFilter{}, plugboard.PageRequest{First: 5, After: all.Next})
	equal(t, ids(older), []int{14, 13, 12, 11, 10})
	if older.Prev != older.Items[0].ID || older.Next != older.Items[4].ID {
		t.Fatalf("second page: next %v prev %v", older.Next, older.Prev)
	}
	last := list(plugboard.EventFilter{}, plugboard.PageRequest{First: 5, After: older.Next})
	equal(t, ids(last), []int{2, 1})
	if last.Next != (ulid.ULID{}) || last.Prev != last.Items[0].ID {
		t.Fatalf("last page: next %v prev %v", last.Next, last.Prev)
	}
	newer := list(plugboard.EventFilter{}, plugboard.PageRequest{First: 5, Before: older.Prev})
	equal(t, ids(newer), []int{19, 18, 17, 16, 15})
	if newer.Prev != (ulid.ULID{}) || newer.Next != newer.Items[4].ID {
		t.Fatalf("newer page: next %v prev %v", newer.Next, newer.Prev)
	}
	equal(t, ids(list(plugboard.EventFilter{ConnectionID: conn}, plugboard.PageRequest{})), []int{18, 16, 14, 12, 10, 1})
	equal(t, ids(list(plugboard.EventFilter{EndUserID: user}, plugboard.PageRequest{})), []int{19, 17, 15, 13, 11, 1})
	equal(t, ids(list(plugboard.EventFilter{Types: []string{"system.created", "credential.deleted"}}, plugboard.PageRequest{})), []int{2, 1})
	since, until := at(12), at(15)
	equal(t, ids(list(plugboard.EventFilter{Since: &since, Until: &until}, plugboard.PageRequest{})), []int{14, 13, 12})
	if p := list(plugboard.EventFilter{Types: []string{"end_user.deleted"}}, plugboard.PageRequest{}); len(p.Items) != 0 || p.TotalCount != 0 {
		t.Fatalf("no match: %+v", p)
	}

	// Pruning takes the oldest first, across organisations, in bounded batches.
	n, err := f.s.PruneEvents(f.ctx, at(12), 1)
	must(t, err)
	if n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	n, err = f.s.PruneEvents(f.ctx, at(12), 100)
	must(t, err)
	if n != 3 { // minutes 2, 10, 11
		t.Fatalf("pruned %d, want 3", n)
	}
	equal(t, ids(list(plugboard.EventFilter{}, plugboard.PageRequest{First: 100})), []int{19, 18, 17, 16, 15, 14, 13, 12})
	if _, err := f.s.GetEvent(f.ctx, f.other, ulid.Make()); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Fatal(err)
	}
}
