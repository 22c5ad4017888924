package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/vault"
)

func (f *fixture) newEndpoint(t *testing.T, org ulid.ULID, url string, enabled bool, types ...string) *plugboard.WebhookEndpoint {
	t.Helper()
	e := &plugboard.WebhookEndpoint{ID: ulid.Make(), OrganisationID: org, URL: url, Description: "d " + url,
		EventTypes: types, Enabled: enabled, Sealed: []byte{0x00, 0xff, 's', 'e', 'c'}, CreatedAt: at(6)}
	must(t, f.s.CreateWebhookEndpoint(f.ctx, e))
	return e
}

func (f *fixture) newEvent(t *testing.T, org ulid.ULID, typ string, occurred time.Time) *plugboard.Event {
	t.Helper()
	e := &plugboard.Event{ID: ulid.MustNew(ulid.Timestamp(occurred), ulid.DefaultEntropy()), OrganisationID: org,
		Type: typ, OccurredAt: occurred, Actor: "system"}
	must(t, f.s.AppendEvent(f.ctx, e))
	return e
}

// testWebhookEndpoints: endpoints are created, read, listed, updated, disabled and deleted within
// their organisation, and their sealed secrets are re-sealed by rotations like every sealed table.
func testWebhookEndpoints(t *testing.T, f *fixture) {
	e := f.newEndpoint(t, f.org, "https://hooks.example.com/a", true, "connection.created", "end_user.deleted")
	got, err := f.s.GetWebhookEndpoint(f.ctx, f.org, e.ID)
	must(t, err)
	equal(t, got, e)
	if !got.UpdatedAt.Equal(got.CreatedAt) || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("times: %v %v", got.CreatedAt, got.UpdatedAt)
	}
	_, err = f.s.GetWebhookEndpoint(f.ctx, f.other, e.ID)
	wantCode(t, err, plugboard.ENotFound)
	wantCode(t, f.s.CreateWebhookEndpoint(f.ctx, e), plugboard.EConflict)
	wantCode(t, f.s.CreateWebhookEndpoint(f.ctx, &plugboard.WebhookEndpoint{ID: ulid.Make(), OrganisationID: f.org, URL: "x"}), plugboard.EInvalid)
	wantCode(t, f.s.CreateWebhookEndpoint(f.ctx, &plugboard.WebhookEndpoint{ID: ulid.Make(), OrganisationID: ulid.Make(), URL: "x",
		Sealed: []byte{1}}), plugboard.ENotFound)

	// Update writes every field.
	until, failing := at(7), at(8)
	e.URL, e.Description, e.EventTypes, e.Enabled = "https://hooks.example.com/b", "", nil, false
	e.Sealed, e.PreviousSecretUntil, e.FailingSince = []byte{0x00, 0xfe, 'n', 'e', 'w'}, &until, &failing
	e.DisabledAt, e.DisabledReason, e.UpdatedAt = &failing, "failing", at(9)
	must(t, f.s.UpdateWebhookEndpoint(f.ctx, e))
	got, err = f.s.GetWebhookEndpoint(f.ctx, f.org, e.ID)
	must(t, err)
	equal(t, got, e)
	if !got.Matches("anything") {
		t.Error("an endpoint without types wants every type")
	}
	other := *e
	other.OrganisationID = f.other
	wantCode(t, f.s.UpdateWebhookEndpoint(f.ctx, &other), plugboard.ENotFound)

	// Disable only disables an enabled endpoint.
	ok, err := f.s.DisableWebhookEndpoint(f.ctx, f.org, e.ID, at(10), "again")
	if err != nil || ok {
		t.Errorf("disable of a disabled endpoint: %v %v", ok, err)
	}
	e.Enabled, e.DisabledAt, e.DisabledReason = true, nil, ""
	must(t, f.s.UpdateWebhookEndpoint(f.ctx, e))
	ok, err = f.s.DisableWebhookEndpoint(f.ctx, f.org, e.ID, at(10), "failing for 5 days")
	if err != nil || !ok {
		t.Fatalf("disable: %v %v", ok, err)
	}
	got, err = f.s.GetWebhookEndpoint(f.ctx, f.org, e.ID)
	must(t, err)
	if got.Enabled || got.DisabledAt == nil || !got.DisabledAt.Equal(at(10).Truncate(time.Microsecond)) || got.DisabledReason != "failing for 5 days" {
		t.Errorf("disabled: %+v", got)
	}

	// Lists page by id, within the organisation.
	var want []ulid.ULID
	want = append(want, e.ID)
	for range 6 {
		want = append(want, f.newEndpoint(t, f.org, "https://hooks.example.com/n", true).ID)
	}
	f.newEndpoint(t, f.other, "https://hooks.example.com/other", true)
	pagination(t, want, func(req plugboard.PageRequest) ([]ulid.ULID, int, ulid.ULID, ulid.ULID, error) {
		p, err := f.s.ListWebhookEndpoints(f.ctx, f.org, req)
		if err != nil {
			return nil, 0, ulid.ULID{}, ulid.ULID{}, err
		}
		return ids(p.Items, func(e plugboard.WebhookEndpoint) ulid.ULID { return e.ID }), p.TotalCount, p.Next, p.Prev, nil
	})

	// A key rotation finds the endpoint's sealed secrets and swaps them like any sealed value.
	v, err := vault.Parse(vault.NewKey())
	must(t, err)
	e.Sealed, err = v.SealWebhookSecrets(f.org, e.ID, []byte(`{"secret":"whsec_x"}`))
	must(t, err)
	must(t, f.s.UpdateWebhookEndpoint(f.ctx, e))
	recs, err := f.s.ListSealed(f.ctx, "webhook_endpoints", "", nil, 100)
	must(t, err)
	var rec *plugboard.SealedRecord
	for i := range recs {
		if recs[i].ID == e.ID.String() {
			rec = &recs[i]
		}
	}
	if rec == nil || rec.KeyID != v.PrimaryKeyID() || rec.OrganisationID != f.org || string(rec.Sealed) != string(e.Sealed) {
		t.Fatalf("sealed record of the endpoint: %+v", rec)
	}
	resealed, err := v.SealWebhookSecrets(f.org, e.ID, []byte(`{"secret":"whsec_x"}`))
	must(t, err)
	ok, err = f.s.ReplaceSealed(f.ctx, *rec, resealed)
	if err != nil || !ok {
		t.Fatalf("replace: %v %v", ok, err)
	}
	got, err = f.s.GetWebhookEndpoint(f.ctx, f.org, e.ID)
	must(t, err)
	if string(got.Sealed) != string(resealed) || got.URL != e.URL {
		t.Errorf("after replace: %+v", got)
	}

	must(t, f.s.DeleteWebhookEndpoint(f.ctx, f.org, e.ID))
	wantCode(t, f.s.DeleteWebhookEndpoint(f.ctx, f.org, e.ID), plugboard.ENotFound)
	_, err = f.s.GetWebhookEndpoint(f.ctx, f.org, e.ID)
	wantCode(t, err, plugboard.ENotFound)
}

// idGen returns a delivery id generator.
func idGen() func() ulid.ULID { return func() ulid.ULID { return ulid.Make() } }

// claimAll claims every delivery due at now, leasing it for a minute.
func (f *fixture) claimAll(t *testing.T, now time.Time) []plugboard.WebhookDelivery {
	t.Helper()
	ds, err := f.s.ClaimDeliveries(f.ctx, now, now.Add(time.Minute), 1000)
	must(t, err)
	return ds
}

func pairs(ds []plugboard.WebhookDelivery) map[[2]ulid.ULID]int {
	out := map[[2]ulid.ULID]int{}
	for _, d := range ds {
		out[[2]ulid.ULID{d.EndpointID, d.EventID}]++
	}
	return out
}

// testWebhookDeliveries: the outbox. Dispatch makes one delivery per event and matching enabled
// endpoint, once; a claim leases a delivery so that no other claim returns it until the lease runs
// out; an attempt's outcome is written only under the lease it was claimed with; attempts list by
// endpoint and event; redelivery, replay, endpoint deletion and event pruning.
func testWebhookDeliveries(t *testing.T, f *fixture) {
	all := f.newEndpoint(t, f.org, "https://hooks.example.com/all", true)
	created := f.newEndpoint(t, f.org, "https://hooks.example.com/created", true, "connection.created")
	f.newEndpoint(t, f.org, "https://hooks.example.com/off", false)
	otherEp := f.newEndpoint(t, f.other, "https://hooks.example.com/other", true)

	now := time.Now().UTC().Truncate(time.Microsecond)
	e1 := f.newEvent(t, f.org, "connection.created", now.Add(-3*time.Hour))
	e2 := f.newEvent(t, f.org, "end_user.created", now.Add(-2*time.Hour))
	e3 := f.newEvent(t, f.other, "end_user.created", now.Add(-time.Hour))

	n, err := f.s.DispatchEvents(f.ctx, now, 2, idGen())
	must(t, err)
	if n != 2 {
		t.Errorf("dispatched %d events, want a batch of 2", n)
	}
	n, err = f.s.DispatchEvents(f.ctx, now, 100, idGen())
	must(t, err)
	if n != 1 {
		t.Errorf("dispatched %d events, want the remaining 1", n)
	}
	n, err = f.s.DispatchEvents(f.ctx, now, 100, idGen())
	if err != nil || n != 0 {
		t.Errorf("dispatch again: %d %v", n, err)
	}

	if ds := f.claimAll(t, now.Add(-time.Second)); len(ds) != 0 {
		t.Errorf("claimed %d deliveries before they were due", len(ds))
	}
	ds := f.claimAll(t, now)
	want := map[[2]ulid.ULID]int{{all.ID, e1.ID}: 1, {created.ID, e1.ID}: 1, {all.ID, e2.ID}: 1, {otherEp.ID, e3.ID}: 1}
	equal(t, pairs(ds), want)
	for _, d := range ds {
		if d.State != plugboard.DeliveryPending || d.Attempts != 0 || !d.NextAttemptAt.Equal(now.Add(time.Minute)) {
			t.Errorf("claimed delivery: %+v", d)
		}
	}
	if again := f.claimAll(t, now.Add(30*time.Second)); len(again) != 0 {
		t.Errorf("claimed %d leased deliveries", len(again))
	}

	// The lease runs out (a worker died): the deliveries are claimed again, and the first claim's
	// outcome is no longer written.
	later := now.Add(time.Minute)
	reclaimed := f.claimAll(t, later)
	equal(t, pairs(reclaimed), want)
	byPair := func(ds []plugboard.WebhookDelivery, ep, ev ulid.ULID) *plugboard.WebhookDelivery {
		for i := range ds {
			if ds[i].EndpointID == ep && ds[i].EventID == ev {
				return &ds[i]
			}
		}
		t.Fatalf("no delivery of %s to %s", ev, ep)
		return nil
	}
	stale := byPair(ds, all.ID, e1.ID)
	a0 := &plugboard.WebhookAttempt{ID: ulid.Make(), AttemptedAt: later, StatusCode: 200, Latency: 1500 * time.Microsecond}
	held, err := f.s.FinishDelivery(f.ctx, stale, a0, plugboard.DeliveryOutcome{State: plugboard.DeliveryDelivered, NextAttemptAt: later})
	if err != nil || held {
		t.Errorf("finish under a lost lease: %v %v", held, err)
	}

	// A failure keeps the delivery pending until its next attempt and marks the endpoint failing;
	// a success delivers it and clears that.
	d := byPair(reclaimed, all.ID, e1.ID)
	a1 := &plugboard.WebhookAttempt{ID: ulid.Make(), AttemptedAt: later, StatusCode: 500, Latency: 2 * time.Millisecond,
		Response: "oops", ErrorCode: "http_status"}
	held, err = f.s.FinishDelivery(f.ctx, d, a1, plugboard.DeliveryOutcome{State: plugboard.DeliveryPending, NextAttemptAt: later.Add(time.Hour)})
	if err != nil || !held {
		t.Fatalf("finish: %v %v", held, err)
	}
	wantCode(t, func() error {
		_, err := f.s.FinishDelivery(f.ctx, d, a1, plugboard.DeliveryOutcome{State: plugboard.DeliveryPending, NextAttemptAt: later})
		return err
	}(), plugboard.EConflict)
	ep, err := f.s.GetWebhookEndpoint(f.ctx, f.org, all.ID)
	must(t, err)
	if ep.FailingSince == nil || !ep.FailingSince.Equal(later) {
		t.Errorf("failing since %v, want %v", ep.FailingSince, later)
	}
	// (The other three stay leased until later+1m by the second claim.)
	for _, x := range f.claimAll(t, later.Add(59*time.Minute)) {
		if x.ID == d.ID {
			t.Errorf("claimed a delivery before its retry")
		}
	}
	retry := byPair(f.claimAll(t, later.Add(time.Hour)), all.ID, e1.ID)
	if retry.ID != d.ID || retry.Attempts != 1 {
		t.Fatalf("retry: %+v", retry)
	}
	a2 := &plugboard.WebhookAttempt{ID: ulid.Make(), AttemptedAt: later.Add(time.Hour), StatusCode: 204}
	held, err = f.s.FinishDelivery(f.ctx, retry, a2, plugboard.DeliveryOutcome{State: plugboard.DeliveryDelivered, NextAttemptAt: later.Add(time.Hour)})
	if err != nil || !held {
		t.Fatalf("finish: %v %v", held, err)
	}
	ep, err = f.s.GetWebhookEndpoint(f.ctx, f.org, all.ID)
	must(t, err)
	if ep.FailingSince != nil {
		t.Errorf("failing since %v after a success", ep.FailingSince)
	}
	if again := f.claimAll(t, later.Add(48*time.Hour)); len(again) != 3 {
		t.Errorf("claimed %d deliveries, want the 3 never finished", len(again))
	}

	// Attempts, by endpoint and by event, oldest first, within the organisation.
	p, err := f.s.ListWebhookAttempts(f.ctx, f.org, plugboard.AttemptFilter{EndpointID: all.ID}, plugboard.PageRequest{})
	must(t, err)
	if got := ids(p.Items, func(a plugboard.WebhookAttempt) ulid.ULID { return a.ID }); !slices.Equal(got, []ulid.ULID{a0.ID, a1.ID, a2.ID}) {
		t.Errorf("attempts of the endpoint: %v", got)
	}
	got := p.Items[1]
	if got.StatusCode != 500 || got.Latency != 2*time.Millisecond || got.Response != "oops" || got.ErrorCode != "http_status" ||
		got.DeliveryID != d.ID || got.EventID != e1.ID || got.EndpointID != all.ID || got.OrganisationID != f.org || !got.AttemptedAt.Equal(later) {
		t.Errorf("attempt: %+v", got)
	}
	p, err = f.s.ListWebhookAttempts(f.ctx, f.org, plugboard.AttemptFilter{EventID: e2.ID}, plugboard.PageRequest{})
	must(t, err)
	if p.TotalCount != 0 {
		t.Errorf("attempts of e2: %d", p.TotalCount)
	}
	p, err = f.s.ListWebhookAttempts(f.ctx, f.other, plugboard.AttemptFilter{EventID: e1.ID}, plugboard.PageRequest{})
	must(t, err)
	if p.TotalCount != 0 {
		t.Errorf("another organisation sees %d attempts", p.TotalCount)
	}

	// Redelivery and replay make new deliveries, due at once.
	far := later.Add(72 * time.Hour)
	f.claimAll(t, far) // lease away what is still pending
	n, err = f.s.RedeliverEvent(f.ctx, f.org, e1.ID, far, idGen())
	if err != nil || n != 2 {
		t.Errorf("redeliver: %d %v, want 2", n, err)
	}
	_, err = f.s.RedeliverEvent(f.ctx, f.other, e1.ID, far, idGen())
	wantCode(t, err, plugboard.ENotFound)
	equal(t, pairs(f.claimAll(t, far)), map[[2]ulid.ULID]int{{all.ID, e1.ID}: 1, {created.ID, e1.ID}: 1})
	n, more, err := f.s.ReplayEvents(f.ctx, f.org, all.ID, now.Add(-150*time.Minute), far, 10, idGen())
	if err != nil || n != 1 || more {
		t.Errorf("replay since e1: %d %v %v, want 1", n, more, err)
	}
	n, more, err = f.s.ReplayEvents(f.ctx, f.org, all.ID, now.Add(-4*time.Hour), far, 1, idGen())
	if err != nil || n != 1 || !more {
		t.Errorf("replay with a limit: %d %v %v, want 1 and more", n, more, err)
	}
	n, _, err = f.s.ReplayEvents(f.ctx, f.org, created.ID, now.Add(-4*time.Hour), far, 10, idGen())
	if err != nil || n != 1 {
		t.Errorf("replay to a typed endpoint: %d %v, want 1", n, err)
	}
	_, _, err = f.s.ReplayEvents(f.ctx, f.other, all.ID, now, far, 10, idGen())
	wantCode(t, err, plugboard.ENotFound)
	equal(t, pairs(f.claimAll(t, far)), map[[2]ulid.ULID]int{{all.ID, e2.ID}: 1, {all.ID, e1.ID}: 1, {created.ID, e1.ID}: 1})

	// A disabled endpoint's deliveries wait; deleting an endpoint drops its deliveries and attempts.
	n, err = f.s.RedeliverEvent(f.ctx, f.org, e1.ID, far.Add(time.Hour), idGen())
	must(t, err)
	ok, err := f.s.DisableWebhookEndpoint(f.ctx, f.org, created.ID, far, "test")
	if err != nil || !ok {
		t.Fatal(err)
	}
	for _, x := range f.claimAll(t, far.Add(time.Hour)) {
		if x.EndpointID == created.ID {
			t.Errorf("claimed a delivery to a disabled endpoint")
		}
	}
	must(t, f.s.DeleteWebhookEndpoint(f.ctx, f.org, all.ID))
	p, err = f.s.ListWebhookAttempts(f.ctx, f.org, plugboard.AttemptFilter{EventID: e1.ID}, plugboard.PageRequest{})
	must(t, err)
	if p.TotalCount != 0 {
		t.Errorf("%d attempts outlived their endpoint", p.TotalCount)
	}

	// Pruning events prunes their deliveries and attempts.
	created.Enabled = true
	must(t, f.s.UpdateWebhookEndpoint(f.ctx, created))
	var toCreated *plugboard.WebhookDelivery
	ds = f.claimAll(t, far.Add(3*time.Hour))
	for i := range ds {
		if ds[i].EndpointID == created.ID {
			toCreated = &ds[i]
		}
	}
	if toCreated == nil {
		t.Fatal("no delivery to the re-enabled endpoint")
	}
	_, err = f.s.FinishDelivery(f.ctx, toCreated, &plugboard.WebhookAttempt{ID: ulid.Make(), AttemptedAt: far, StatusCode: 200},
		plugboard.DeliveryOutcome{State: plugboard.DeliveryDelivered, NextAttemptAt: far})
	must(t, err)
	pruned, err := f.s.PruneEvents(f.ctx, now, 100)
	if err != nil || pruned != 3 {
		t.Fatalf("prune: %d %v", pruned, err)
	}
	p, err = f.s.ListWebhookAttempts(f.ctx, f.org, plugboard.AttemptFilter{EndpointID: created.ID}, plugboard.PageRequest{})
	must(t, err)
	if p.TotalCount != 0 {
		t.Errorf("%d attempts outlived their event", p.TotalCount)
	}
	if n, err := f.s.RedeliverEvent(f.ctx, f.org, e1.ID, far, idGen()); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("redeliver of a pruned event: %d %v", n, err)
	}
	if left := f.claimAll(t, far.Add(1000*time.Hour)); len(left) != 0 {
		t.Errorf("%d deliveries outlived their events", len(left))
	}

	// A deleted organisation's deliveries are not claimed.
	late := far.Add(2000 * time.Hour)
	f.newEvent(t, f.other, "end_user.deleted", late)
	if n, err := f.s.DispatchEvents(f.ctx, late, 10, idGen()); err != nil || n != 1 {
		t.Fatalf("dispatch: %d %v", n, err)
	}
	must(t, f.s.DeleteOrganisation(f.ctx, f.other, late))
	if left := f.claimAll(t, late); len(left) != 0 {
		t.Errorf("claimed %d deliveries of a deleted organisation", len(left))
	}
}
