package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/events"
)

// eventsOf returns the organisation's events of one type, newest first.
func eventsOf(t *testing.T, h *harness, typ string) []plugboard.Event {
	t.Helper()
	page, err := h.store.ListEvents(context.Background(), h.org, plugboard.EventFilter{Types: []string{typ}}, plugboard.PageRequest{First: plugboard.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// sweeper is an access service on the test's store and clock, as serve runs one.
func (h *harness) sweeper(st plugboard.Store) *access.Service {
	return access.New(access.Config{Store: st, Keys: h.keys, Now: h.clock})
}

// expiryView is what these tests read of a connection.
type expiryView struct {
	ID          string   `json:"id"`
	Errors      []string `json:"errors"`
	Credentials []struct {
		ID         string `json:"id"`
		Credential struct {
			ID        string   `json:"id"`
			Errors    []string `json:"errors"`
			ExpiresAt string   `json:"expiresAt"`
		} `json:"credential"`
	} `json:"credentials"`
}

// twoCredentialConnection makes a system at base with an api-key and a basic-auth scheme and a
// static connection holding both: the api-key one expiring at expires.
func (h *harness) twoCredentialConnection(base string, expires time.Time) (tpl string, c expiryView) {
	h.t.Helper()
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Upstream", "domain": "up", "templateBaseUrl": base,
		"authSchemeConfigs": arr{configByID("api-key"), configByID("basic")}})).JSON(h.t, &sys)
	tpl = h.templateFor(sys.ID, "")
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "c", "credentials": arr{
		obj{"id": zeroID, "authSchemeConfig": configByID("api-key"), "credential": obj{"type": "string",
			"data": obj{"string": obj{"value": "SECRET-expiring-key"}}, "expiresAt": expires.UTC().Format(time.RFC3339Nano)}},
		obj{"id": zeroID, "authSchemeConfig": configByID("basic"), "credential": obj{"type": "basic-auth",
			"data": obj{"basicAuth": obj{"username": "alice", "password": "SECRET-lasting-password"}}}},
	}}})).JSON(h.t, &c)
	return tpl, c
}

// TestCredentialExpiresAtUse: from its expiresAt (by the server's clock) a credential is never
// applied: the proxy and the access endpoint answer 409 credential_expired at once, before any
// sweep, without calling the upstream, and the credential's errors[] say so.
func TestCredentialExpiresAtUse(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	_, c := h.twoCredentialConnection(up.srv.URL, h.clock().Add(time.Hour))
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/before", nil))
	h.must(200, h.doAs(h.key, h.org, "POST", "/connections/"+c.ID+"/access", nil))
	calls := len(up.reqs)

	h.advance(time.Hour) // exactly at expiresAt: expired
	r := h.do("GET", "/connections/"+c.ID+"/proxy/after", nil)
	if r.Status != 409 || r.Error(t).Code != plugboard.ECredentialExpired || r.Header.Get("X-Plugboard-Error") != "true" {
		t.Errorf("proxy: %d %s %v", r.Status, r.Body, r.Header)
	}
	if e := r.Error(t); !strings.Contains(e.Message, c.Credentials[0].Credential.ID) {
		t.Errorf("the error does not name the credential: %s", r.Body)
	}
	r = h.do("POST", "/connections/"+c.ID+"/access", nil)
	if r.Status != 409 || r.Error(t).Code != plugboard.ECredentialExpired {
		t.Errorf("access: %d %s", r.Status, r.Body)
	}
	if up.mu.Lock(); len(up.reqs) != calls {
		t.Errorf("the upstream was called with an expired credential")
	}
	up.mu.Unlock()
	var got expiryView
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
	if errs := got.Credentials[0].Credential.Errors; len(errs) != 1 || !strings.HasPrefix(errs[0], "expired at ") {
		t.Errorf("expired credential's errors %q", errs)
	}
	if len(got.Credentials[1].Credential.Errors) != 0 || len(got.Errors) != 0 {
		t.Errorf("other errors: %q %q", got.Credentials[1].Credential.Errors, got.Errors)
	}
	for _, b := range [][]byte{r.Body, h.do("GET", "/connections/"+c.ID, nil).Body} {
		if strings.Contains(string(b), "SECRET-") {
			t.Errorf("a response holds a secret: %s", b)
		}
	}
}

// TestSweepDeletesExpiredCredentials: a round of the sweeper deletes the expired credential with
// exactly one credential.deleted (reason expired, actor system) in its transaction; the connection
// is kept with its other credential, reports the gap in errors[] and is refused with
// credential_expired, also after a PUT that adds nothing, until a PUT adds a credential.
func TestSweepDeletesExpiredCredentials(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	_, c := h.twoCredentialConnection(up.srv.URL, h.clock().Add(time.Minute))
	expiredID, keptID := c.Credentials[0].Credential.ID, c.Credentials[1].Credential.ID
	ctx := context.Background()
	sw := h.sweeper(h.store)
	if res, err := sw.SweepOnce(ctx, access.SweeperConfig{ExpiringLead: -1}); err != nil || res.Deleted != 0 {
		t.Fatalf("before expiry: %+v %v", res, err)
	}
	h.advance(time.Minute + time.Second)
	if res, err := sw.SweepOnce(ctx, access.SweeperConfig{ExpiringLead: -1}); err != nil || res.Deleted != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if res, err := sw.SweepOnce(ctx, access.SweeperConfig{ExpiringLead: -1}); err != nil || res.Deleted != 0 {
		t.Fatalf("second sweep: %+v %v", res, err)
	}
	evs := eventsOf(t, h, events.CredentialDeleted)
	if len(evs) != 1 {
		t.Fatalf("%d credential.deleted events, want 1", len(evs))
	}
	e := evs[0]
	if e.Reason != events.ReasonExpired || e.Actor != events.System || e.CredentialID.String() != expiredID ||
		e.ConnectionID.String() != c.ID || e.AuthSchemeConfigID != "api-key" || !strings.Contains(string(e.Data), "expiresAt") {
		t.Errorf("event %+v data %s", e, e.Data)
	}

	var got expiryView
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
	if len(got.Credentials) != 1 || got.Credentials[0].Credential.ID != keptID {
		t.Errorf("credentials after the sweep: %+v", got.Credentials)
	}
	if len(got.Errors) != 1 || !strings.Contains(got.Errors[0], expiredID) || !strings.Contains(got.Errors[0], "credential_expired") {
		t.Errorf("connection errors %q", got.Errors)
	}
	refused := func(when string) {
		t.Helper()
		if r := h.do("GET", "/connections/"+c.ID+"/proxy/x", nil); r.Status != 409 || r.Error(t).Code != plugboard.ECredentialExpired {
			t.Errorf("%s: proxy %d %s", when, r.Status, r.Body)
		}
		if r := h.do("POST", "/connections/"+c.ID+"/access", nil); r.Status != 409 || r.Error(t).Code != plugboard.ECredentialExpired {
			t.Errorf("%s: access %d %s", when, r.Status, r.Body)
		}
	}
	refused("after the sweep")

	// A PUT of what is left (nothing added) keeps the gap.
	var raw map[string]any
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &raw)
	creds := raw["credentials"].([]any)
	var kept expiryView
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": "c", "baseUrl": "", "credentials": creds})).JSON(t, &kept)
	if len(kept.Errors) != 1 || !strings.Contains(kept.Errors[0], expiredID) {
		t.Errorf("a PUT adding nothing cleared the gap: %q", kept.Errors)
	}
	refused("after a PUT adding nothing")

	// A PUT adding a credential closes it.
	creds = append(creds, obj{"id": zeroID, "authSchemeConfig": configByID("api-key"),
		"credential": obj{"type": "string", "data": obj{"string": obj{"value": "SECRET-new-key"}}}})
	var after expiryView
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": "c", "baseUrl": "", "credentials": creds})).JSON(t, &after)
	if len(after.Errors) != 0 || len(after.Credentials) != 2 {
		t.Errorf("after adding a credential: %+v", after)
	}
	after = expiryView{}
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &after)
	if len(after.Errors) != 0 {
		t.Errorf("stored errors after adding a credential: %q", after.Errors)
	}
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/again", nil))
	if req, _ := up.last(t); req.Header.Get("X-Api-Key") != "SECRET-new-key" {
		t.Errorf("the new credential was not applied: %v", req.Header)
	}
	if n := len(eventsOf(t, h, events.CredentialDeleted)); n != 1 {
		t.Errorf("%d credential.deleted events in the end, want 1", n)
	}
}

// failingCommit is the real store whose transactions all fail at the end, after their work: what
// a sweep transaction that cannot commit leaves behind.
type failingCommit struct{ plugboard.Store }

func (f failingCommit) InTx(ctx context.Context, fn func(tx plugboard.Store) error) error {
	return f.Store.InTx(ctx, func(tx plugboard.Store) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errors.New("injected: the transaction fails after its work")
	})
}

// TestFailedSweepEmitsNothing: a sweep whose transaction fails deletes nothing and emits nothing;
// the next sweep does both, once.
func TestFailedSweepEmitsNothing(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	_, c := h.twoCredentialConnection(up.srv.URL, h.clock().Add(time.Minute))
	h.advance(2 * time.Minute)
	ctx := context.Background()
	if res, err := h.sweeper(failingCommit{h.store}).SweepOnce(ctx, access.SweeperConfig{}); err == nil || res.Deleted != 0 {
		t.Fatalf("failing sweep: %+v %v", res, err)
	}
	if n := len(eventsOf(t, h, events.CredentialDeleted)); n != 0 {
		t.Errorf("a failed sweep emitted %d events", n)
	}
	var got expiryView
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
	if len(got.Credentials) != 2 || len(got.Errors) != 0 {
		t.Errorf("a failed sweep changed the connection: %+v", got)
	}
	if res, err := h.sweeper(h.store).SweepOnce(ctx, access.SweeperConfig{}); err != nil || res.Deleted != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if n := len(eventsOf(t, h, events.CredentialDeleted)); n != 1 {
		t.Errorf("%d events after the sweep, want 1", n)
	}
}

// TestCredentialExpiringOnce: credential.expiring is emitted once per credential when its
// expiresAt comes within the lead time, by the sweeper, not before; a new expiresAt re-arms it.
func TestCredentialExpiringOnce(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	_, c := h.twoCredentialConnection(up.srv.URL, h.clock().Add(100*time.Hour))
	ctx := context.Background()
	sw := h.sweeper(h.store)
	round := func(want int) {
		t.Helper()
		res, err := sw.SweepOnce(ctx, access.SweeperConfig{}) // the default lead, 72h
		if err != nil || res.Expiring != want {
			t.Fatalf("round: %+v %v, want %d expiring", res, err, want)
		}
	}
	round(0)
	h.advance(29 * time.Hour) // 71h left
	round(1)
	round(0)
	h.advance(time.Hour)
	round(0)
	evs := eventsOf(t, h, events.CredentialExpiring)
	if len(evs) != 1 || evs[0].CredentialID.String() != c.Credentials[0].Credential.ID || evs[0].Actor != events.System ||
		evs[0].AuthSchemeConfigID != "api-key" || !strings.Contains(string(evs[0].Data), "expiresAt") {
		t.Fatalf("events %+v", evs)
	}
	// Renewed to a later expiry: announced again when that one comes near.
	var raw map[string]any
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &raw)
	creds := raw["credentials"].([]any)
	creds[0].(map[string]any)["credential"].(map[string]any)["expiresAt"] = h.clock().Add(200 * time.Hour).UTC().Format(time.RFC3339)
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": "c", "baseUrl": "", "credentials": creds}))
	round(0)
	h.advance(150 * time.Hour)
	round(1)
	if n := len(eventsOf(t, h, events.CredentialExpiring)); n != 2 {
		t.Errorf("%d credential.expiring events, want 2", n)
	}
	// Negative lead: never.
	if res, err := sw.SweepOnce(ctx, access.SweeperConfig{ExpiringLead: -1}); err != nil || res.Expiring != 0 {
		t.Errorf("lead off: %+v %v", res, err)
	}
}

// TestExpiresAtInThePast: on create a credential expiring now or earlier is a field error naming
// its expiresAt, and nothing is stored; the same on update. On update a credential sent without
// expiresAt no longer expires (the field is replaced, as every field of a PUT's credential).
func TestExpiresAtInThePast(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	tpl, c := h.twoCredentialConnection(up.srv.URL, h.clock().Add(time.Hour))
	past := h.clock().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	r := h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "late", "credentials": arr{
		obj{"id": zeroID, "authSchemeConfig": configByID("api-key"), "credential": obj{"type": "string",
			"data": obj{"string": obj{"value": "SECRET-late"}}, "expiresAt": past}}}}})
	if e := r.Error(t); r.Status != 400 || e.Code != plugboard.EInvalid || strings.Join(e.fieldNames(), ",") != "connection.credentials[0].credential.expiresAt" {
		t.Errorf("create with a past expiresAt: %d %s", r.Status, r.Body)
	}
	var list struct {
		TotalCount int `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/connections", nil)).JSON(t, &list)
	if list.TotalCount != 1 {
		t.Errorf("%d connections after the refused create", list.TotalCount)
	}

	var raw map[string]any
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &raw)
	creds := raw["credentials"].([]any)
	creds[0].(map[string]any)["credential"].(map[string]any)["expiresAt"] = past
	r = h.do("PUT", "/connections/"+c.ID, obj{"name": "c", "baseUrl": "", "credentials": creds})
	if e := r.Error(t); r.Status != 400 || strings.Join(e.fieldNames(), ",") != "credentials[0].credential.expiresAt" {
		t.Errorf("update with a past expiresAt: %d %s", r.Status, r.Body)
	}
	delete(creds[0].(map[string]any)["credential"].(map[string]any), "expiresAt")
	var got expiryView
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": "c", "baseUrl": "", "credentials": creds})).JSON(t, &got)
	if got.Credentials[0].Credential.ExpiresAt != "" {
		t.Errorf("expiresAt left out of a PUT kept %q", got.Credentials[0].Credential.ExpiresAt)
	}
	h.advance(2 * time.Hour)
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/still", nil))
}

// TestRefreshFailureAndRecoveryEvents: the first failed refresh of a streak emits
// credential.refresh_failed (actor system) with the state it wrote, later failures of the streak
// only update the state (and errors[]), and the success that ends it emits
// credential.refresh_recovered; a new streak emits again.
func TestRefreshFailureAndRecoveryEvents(t *testing.T) {
	h := newHarness(t)
	p := newGoProviderTTL(t, time.Hour)
	up := newUpstream(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	h.must(201, h.do("PUT", "/systems/"+st.systemID, obj{"templateBaseUrl": up.srv.URL}))
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "main", code, state))).JSON(t, &c)
	credErrors := func() []string {
		var got expiryView
		h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
		return got.Credentials[0].Credential.Errors
	}
	count := func(typ string) int { return len(eventsOf(t, h, typ)) }

	h.advance(2 * time.Hour) // the token has expired
	p.rejectNext(1)
	if r := h.do("GET", "/connections/"+c.ID+"/proxy/data", nil); r.Status != 400 {
		t.Fatalf("refused refresh: %d %s", r.Status, r.Body)
	}
	if n := count(events.CredentialRefreshFailed); n != 1 {
		t.Fatalf("%d refresh_failed events after the first failure", n)
	}
	e := eventsOf(t, h, events.CredentialRefreshFailed)[0]
	if e.Actor != events.System || e.ConnectionID.String() != c.ID || e.CredentialID.String() != c.Credentials[0].Credential.ID ||
		!strings.Contains(string(e.Data), `"errorCode":"upstream_rejected"`) || !strings.Contains(string(e.Data), `"attempts":1`) {
		t.Errorf("event %+v data %s", e, e.Data)
	}
	if errs := credErrors(); len(errs) != 1 || !strings.Contains(errs[0], "upstream_rejected") || !strings.Contains(errs[0], "1 failed attempt since") ||
		!strings.Contains(errs[0], "next attempt after") {
		t.Errorf("errors after one failure: %q", errs)
	}

	// A PUT of what was read keeps the refresh token, and with it the streak.
	var raw map[string]any
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &raw)
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": "main", "baseUrl": "", "credentials": raw["credentials"]}))
	if errs := credErrors(); len(errs) != 1 || !strings.Contains(errs[0], "1 failed attempt since") {
		t.Errorf("errors after a PUT of what was read: %q", errs)
	}
	if r := h.do("GET", "/connections/"+c.ID+"/proxy/data", nil); r.Status != 400 || !strings.Contains(string(r.Body), "failed recently") {
		t.Errorf("within the backoff after the PUT: %d %s", r.Status, r.Body)
	}

	h.advance(31 * time.Second)
	p.rejectNext(1)
	if r := h.do("GET", "/connections/"+c.ID+"/proxy/data", nil); r.Status != 400 {
		t.Fatalf("second refused refresh: %d %s", r.Status, r.Body)
	}
	if n := count(events.CredentialRefreshFailed); n != 1 {
		t.Errorf("%d refresh_failed events after the streak's second failure, want 1", n)
	}
	if errs := credErrors(); len(errs) != 1 || !strings.Contains(errs[0], "2 failed attempts") {
		t.Errorf("errors after two failures: %q", errs)
	}
	if n := count(events.CredentialRefreshRecovered); n != 0 {
		t.Errorf("recovered before any success: %d", n)
	}

	h.advance(61 * time.Second)
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	if n := count(events.CredentialRefreshRecovered); n != 1 {
		t.Errorf("%d refresh_recovered events after the success, want 1", n)
	}
	if errs := credErrors(); len(errs) != 0 {
		t.Errorf("errors after the success: %q", errs)
	}
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	if n := count(events.CredentialRefreshRecovered); n != 1 {
		t.Errorf("%d refresh_recovered events after a plain use, want 1", n)
	}

	// A new streak emits again.
	h.advance(2 * time.Hour)
	p.rejectNext(1)
	if r := h.do("GET", "/connections/"+c.ID+"/proxy/data", nil); r.Status != 400 {
		t.Fatalf("refused refresh: %d %s", r.Status, r.Body)
	}
	if n := count(events.CredentialRefreshFailed); n != 2 {
		t.Errorf("%d refresh_failed events after a second streak, want 2", n)
	}
}
