package webhooks_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/client"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
	"github.com/plugboard/plugboard/internal/webhooks"
)

// openStore opens a new store: an SQLite file, or a PostgreSQL schema with PLUGBOARD_TEST_STORE=postgres.
func openStore(t testing.TB) *sqlstore.DB {
	t.Helper()
	url := filepath.Join(t.TempDir(), "plugboard.db")
	if os.Getenv("PLUGBOARD_TEST_STORE") == "postgres" {
		url = pgtest.URL(t)
	}
	st, err := sqlstore.OpenWith(t.Context(), url, sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// clock is the injected clock: it moves only when the test says.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// receiver records what it is sent and answers with status().
type receiver struct {
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	status int
	srv    *httptest.Server
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req)
		r.bodies = append(r.bodies, body)
		status := r.status
		r.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, strings.Repeat("x", 2000))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }
func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = s
}

type env struct {
	st      *sqlstore.DB
	v       *vault.Vault
	keyText string
	clock   *clock
	log     *events.Log
	org     ulid.ULID
	worker  *webhooks.Worker
}

func loopbackClient(allow bool) *http.Client {
	cfg := outbound.Config{Resolver: outbound.NoDNSResolver()}
	if allow {
		cfg.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	return outbound.New(cfg).HTTPClient(nil)
}

func newEnv(t testing.TB, cfg webhooks.Config) *env {
	t.Helper()
	e := &env{st: openStore(t), clock: &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, org: ulid.Make()}
	var err error
	e.keyText = vault.NewKey()
	if e.v, err = vault.Parse(e.keyText); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateOrganisation(t.Context(), &plugboard.Organisation{ID: e.org, Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	e.log = events.New(events.Options{Now: e.clock.Now})
	cfg.Store, cfg.Vault, cfg.Events, cfg.Now = e.st, e.v, e.log, e.clock.Now
	if cfg.Client == nil {
		cfg.Client = loopbackClient(true)
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func() float64 { return 0.5 }
	}
	e.worker = webhooks.New(cfg)
	return e
}

func (e *env) endpoint(t *testing.T, url string, s webhooks.Secrets, prevUntil *time.Time, types ...string) *plugboard.WebhookEndpoint {
	t.Helper()
	ep := &plugboard.WebhookEndpoint{ID: ulid.Make(), OrganisationID: e.org, URL: url, EventTypes: types, Enabled: true,
		PreviousSecretUntil: prevUntil, CreatedAt: e.clock.Now()}
	var err error
	if ep.Sealed, err = s.Seal(e.v, e.org, ep.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateWebhookEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func (e *env) emit(t *testing.T, typ string) ulid.ULID {
	t.Helper()
	var id ulid.ULID
	err := e.st.InTx(t.Context(), func(tx plugboard.Store) error {
		ev := plugboard.Event{Type: typ, OrganisationID: e.org, EndUserID: ulid.Make()}
		var err error
		if ev.ID, err = e.log.NewID(e.clock.Now()); err != nil {
			return err
		}
		id = ev.ID
		return e.log.Emit(t.Context(), tx, ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) run(t *testing.T) {
	t.Helper()
	if err := e.worker.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) attempts(t *testing.T, ep ulid.ULID) []plugboard.WebhookAttempt {
	t.Helper()
	p, err := e.st.ListWebhookAttempts(t.Context(), e.org, plugboard.AttemptFilter{EndpointID: ep}, plugboard.PageRequest{First: 500})
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func mustSecret(t *testing.T) string {
	s, err := webhooks.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDeliverySignedAndRecorded: an event reaches a matching endpoint once, as the event's API JSON,
// signed per the Standard Webhooks specification (checked by the client's verifier), and the attempt
// is recorded with its status and the first KiB of the answer; an endpoint of other types gets
// nothing.
func TestDeliverySignedAndRecorded(t *testing.T) {
	e := newEnv(t, webhooks.Config{})
	rcv := newReceiver(t, 202)
	secret := mustSecret(t)
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+44 {
		t.Fatalf("secret shape: %d characters", len(secret))
	}
	ep := e.endpoint(t, rcv.srv.URL+"/hook", webhooks.Secrets{Current: secret}, nil, events.EndUserCreated)
	other := e.endpoint(t, rcv.srv.URL+"/other", webhooks.Secrets{Current: mustSecret(t)}, nil, events.SystemCreated)
	id := e.emit(t, events.EndUserCreated)
	e.run(t)
	e.run(t)
	if rcv.count() != 1 {
		t.Fatalf("received %d deliveries, want 1", rcv.count())
	}
	req, body := rcv.got[0], rcv.bodies[0]
	if req.URL.Path != "/hook" || req.Header.Get("webhook-id") != id.String() || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request: %s %v", req.URL.Path, req.Header)
	}
	if err := client.VerifyWebhook(secret, req.Header, body, 0, e.clock.Now()); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := client.VerifyWebhook(secret, req.Header, body, 0, e.clock.Now().Add(10*time.Minute)); err == nil {
		t.Error("verified ten minutes later")
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil || got["id"] != id.String() || got["type"] != events.EndUserCreated || got["organisationId"] != e.org.String() {
		t.Errorf("body %s: %v", body, err)
	}
	as := e.attempts(t, ep.ID)
	if len(as) != 1 || as[0].StatusCode != 202 || as[0].ErrorCode != "" || len(as[0].Response) != webhooks.ResponseKeep || as[0].EventID != id {
		t.Errorf("attempts: %+v", as)
	}
	if len(e.attempts(t, other.ID)) != 0 {
		t.Error("an endpoint of other types was sent the event")
	}
}

// TestRetryScheduleWithInjectedClock: a failing endpoint is retried after each wait of the schedule
// (with the jitter the test fixes), never before, and the delivery fails once the schedule runs out.
func TestRetryScheduleWithInjectedClock(t *testing.T) {
	schedule := []time.Duration{time.Minute, 10 * time.Minute, time.Hour}
	e := newEnv(t, webhooks.Config{Schedule: schedule, Jitter: func() float64 { return 0.5 }})
	rcv := newReceiver(t, 503)
	ep := e.endpoint(t, rcv.srv.URL, webhooks.Secrets{Current: mustSecret(t)}, nil)
	e.emit(t, events.EndUserDeleted)
	e.run(t)
	if rcv.count() != 1 {
		t.Fatalf("first attempt: %d", rcv.count())
	}
	for i, wait := range schedule {
		jittered := wait + wait/10 // Jitter 0.5 of up to 20%
		e.clock.Add(jittered - time.Second)
		e.run(t)
		if rcv.count() != i+1 {
			t.Fatalf("retry %d came before its wait of %v", i+1, jittered)
		}
		e.clock.Add(time.Second)
		e.run(t)
		if rcv.count() != i+2 {
			t.Fatalf("retry %d did not come after %v (%d requests)", i+1, jittered, rcv.count())
		}
	}
	e.clock.Add(100 * time.Hour)
	e.run(t)
	if rcv.count() != len(schedule)+1 {
		t.Errorf("%d requests after the schedule ran out, want %d", rcv.count(), len(schedule)+1)
	}
	as := e.attempts(t, ep.ID)
	for _, a := range as {
		if a.StatusCode != 503 || a.ErrorCode != webhooks.ErrHTTPStatus {
			t.Errorf("attempt: %+v", a)
		}
	}
	// A success later clears the endpoint's failing state.
	rcv.setStatus(200)
	e.emit(t, events.EndUserDeleted)
	e.run(t)
	got, err := e.st.GetWebhookEndpoint(t.Context(), e.org, ep.ID)
	if err != nil || got.FailingSince != nil || !got.Enabled {
		t.Errorf("after a success: %+v %v", got, err)
	}
}

// TestFailingEndpointDisabled: an endpoint whose attempts fail for DisableAfter is disabled, with one
// webhook_endpoint.disabled event, and is sent nothing more; a success in between restarts the
// window.
func TestFailingEndpointDisabled(t *testing.T) {
	e := newEnv(t, webhooks.Config{Schedule: []time.Duration{time.Hour, time.Hour, time.Hour, time.Hour, time.Hour},
		DisableAfter: 3 * time.Hour, Jitter: func() float64 { return 0 }})
	rcv := newReceiver(t, 500)
	ep := e.endpoint(t, rcv.srv.URL, webhooks.Secrets{Current: mustSecret(t)}, nil, events.EndUserDeleted)
	e.emit(t, events.EndUserDeleted)
	e.run(t) // t0: fails
	for range 2 {
		e.clock.Add(time.Hour)
		e.run(t) // t0+1h, t0+2h: fail
	}
	got, _ := e.st.GetWebhookEndpoint(t.Context(), e.org, ep.ID)
	if !got.Enabled {
		t.Fatal("disabled before the window passed")
	}
	e.clock.Add(time.Hour)
	e.run(t) // t0+3h: fails, 3h after the first failure
	got, _ = e.st.GetWebhookEndpoint(t.Context(), e.org, ep.ID)
	if got.Enabled || got.DisabledAt == nil || got.DisabledReason != webhooks.ReasonFailing {
		t.Fatalf("not disabled: %+v", got)
	}
	page, err := e.st.ListEvents(t.Context(), e.org, plugboard.EventFilter{Types: []string{events.WebhookEndpointDisabled}}, plugboard.PageRequest{})
	if err != nil || len(page.Items) != 1 || page.Items[0].WebhookEndpointID != ep.ID || page.Items[0].Reason != webhooks.ReasonFailing ||
		page.Items[0].Actor != events.System {
		t.Fatalf("disabled events: %+v %v", page, err)
	}
	n := rcv.count()
	e.clock.Add(10 * time.Hour)
	e.emit(t, events.EndUserDeleted)
	e.run(t)
	if rcv.count() != n {
		t.Error("a disabled endpoint was sent a delivery")
	}
}

// TestRotationOverlapSignsTwice: during the overlap a delivery carries a signature per secret, each
// verifying; after it, only the new secret's.
func TestRotationOverlapSignsTwice(t *testing.T) {
	e := newEnv(t, webhooks.Config{})
	rcv := newReceiver(t, 200)
	oldS, newS := mustSecret(t), mustSecret(t)
	until := e.clock.Now().Add(time.Hour)
	e.endpoint(t, rcv.srv.URL, webhooks.Secrets{Current: newS, Previous: oldS}, &until)
	first := e.clock.Now()
	e.emit(t, events.SystemCreated)
	e.run(t)
	e.clock.Add(time.Hour)
	e.emit(t, events.SystemCreated)
	e.run(t)
	if rcv.count() != 2 {
		t.Fatalf("%d deliveries", rcv.count())
	}
	during, after := rcv.got[0].Header.Get("webhook-signature"), rcv.got[1].Header.Get("webhook-signature")
	if len(strings.Fields(during)) != 2 || len(strings.Fields(after)) != 1 {
		t.Errorf("signatures during the overlap %q, after %q", during, after)
	}
	for _, s := range []string{oldS, newS} {
		if err := client.VerifyWebhook(s, rcv.got[0].Header, rcv.bodies[0], 0, first); err != nil {
			t.Errorf("during the overlap: %v", err)
		}
	}
	if err := client.VerifyWebhook(oldS, rcv.got[1].Header, rcv.bodies[1], 0, e.clock.Now()); err == nil {
		t.Error("the old secret verified after the overlap")
	}
	if err := client.VerifyWebhook(newS, rcv.got[1].Header, rcv.bodies[1], 0, e.clock.Now()); err != nil {
		t.Errorf("after the overlap: %v", err)
	}
}

// TestLeaseOfADeadWorker: a worker that claimed a delivery and died before recording it leaves it
// to others once its lease runs out, never before.
func TestLeaseOfADeadWorker(t *testing.T) {
	e := newEnv(t, webhooks.Config{Timeout: 10 * time.Second})
	rcv := newReceiver(t, 200)
	e.endpoint(t, rcv.srv.URL, webhooks.Secrets{Current: mustSecret(t)}, nil)
	e.emit(t, events.TemplateCreated)
	if _, err := e.worker.Dispatch(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	dead, err := e.st.ClaimDeliveries(t.Context(), now, now.Add(40*time.Second), 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("claim: %v %v", dead, err)
	}
	e.clock.Add(39 * time.Second)
	e.run(t)
	if rcv.count() != 0 {
		t.Fatal("delivered under another worker's lease")
	}
	e.clock.Add(time.Second)
	e.run(t)
	e.run(t)
	if rcv.count() != 1 {
		t.Fatalf("%d deliveries after the lease ran out, want 1", rcv.count())
	}
}

// TestPrivateAddressRefusedAtDelivery: without PLUGBOARD_ALLOW_*, the guarded client refuses a
// loopback endpoint; the attempt records the refusal and no request arrives.
func TestPrivateAddressRefusedAtDelivery(t *testing.T) {
	e := newEnv(t, webhooks.Config{Client: loopbackClient(false)})
	rcv := newReceiver(t, 200)
	ep := e.endpoint(t, rcv.srv.URL, webhooks.Secrets{Current: mustSecret(t)}, nil)
	e.emit(t, events.TemplateDeleted)
	e.run(t)
	as := e.attempts(t, ep.ID)
	if rcv.count() != 0 || len(as) != 1 || as[0].ErrorCode != outbound.EUpstreamRefused || as[0].StatusCode != 0 {
		t.Errorf("received %d, attempts %+v", rcv.count(), as)
	}
}

// TestReplicasDeliverOnce: two workers on one PostgreSQL schema (two replicas) deliver N events, each
// at least once and, since no worker dies after sending, exactly once, including those a third
// replica claimed and died holding.
func TestReplicasDeliverOnce(t *testing.T) {
	if os.Getenv("PLUGBOARD_TEST_STORE") != "postgres" {
		t.Skip("two replicas need PostgreSQL: set PLUGBOARD_TEST_STORE=postgres and " + pgtest.EnvURL)
	}
	a := newEnv(t, webhooks.Config{Batch: 7, Concurrency: 3})
	b := webhooks.New(webhooks.Config{Store: a.st, Vault: a.v, Events: a.log, Now: a.clock.Now, Batch: 5, Concurrency: 4,
		Client: loopbackClient(true)})
	rcv := newReceiver(t, 200)
	a.endpoint(t, rcv.srv.URL, webhooks.Secrets{Current: mustSecret(t)}, nil)
	const n = 60
	want := map[string]bool{}
	for range n {
		want[a.emit(t, events.ConnectionCreated).String()] = true
	}
	// A third replica dispatches, claims ten deliveries and dies before sending them; once its
	// lease has run out the other two deliver them too.
	if _, err := a.st.DispatchEvents(t.Context(), a.clock.Now(), 100, ulid.Make); err != nil {
		t.Fatal(err)
	}
	dead, err := a.st.ClaimDeliveries(t.Context(), a.clock.Now(), a.clock.Now().Add(time.Minute), 10)
	if err != nil || len(dead) != 10 {
		t.Fatalf("dead replica's claim: %d %v", len(dead), err)
	}
	a.clock.Add(time.Minute)
	var wg sync.WaitGroup
	for _, w := range []*webhooks.Worker{a.worker, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for rcv.count() < n && ctx.Err() == nil {
				if err := w.RunOnce(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, r := range rcv.got {
		seen[r.Header.Get("webhook-id")]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s delivered %d times", id, seen[id])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct deliveries, want %d", len(seen), n)
	}
}

// TestMasterKeyRotationResealsSecrets: a rewrap re-seals webhook endpoints' secrets like every sealed
// value, and deliveries go on signing with them under the new master key alone.
func TestMasterKeyRotationResealsSecrets(t *testing.T) {
	e := newEnv(t, webhooks.Config{})
	rcv := newReceiver(t, 200)
	secret := mustSecret(t)
	ep := e.endpoint(t, rcv.srv.URL, webhooks.Secrets{Current: secret}, nil)
	newKey := vault.NewKey()
	both, err := vault.Parse(newKey + "," + e.keyText)
	if err != nil {
		t.Fatal(err)
	}
	res, err := both.Rewrap(t.Context(), e.st, vault.RewrapOptions{Rate: -1})
	if err != nil || res.Rewrapped != 1 {
		t.Fatalf("rewrap: %+v %v", res, err)
	}
	onlyNew, err := vault.Parse(newKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.st.GetWebhookEndpoint(t.Context(), e.org, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := webhooks.OpenSecrets(onlyNew, got); err != nil || s.Current != secret {
		t.Fatalf("secrets after the rewrap do not open under the new key alone: %v", err)
	}
	w := webhooks.New(webhooks.Config{Store: e.st, Vault: onlyNew, Events: e.log, Now: e.clock.Now, Client: loopbackClient(true)})
	e.emit(t, events.SystemDeleted)
	if err := w.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rcv.count() != 1 || client.VerifyWebhook(secret, rcv.got[0].Header, rcv.bodies[0], 0, e.clock.Now()) != nil {
		t.Errorf("delivery after the rotation: %d received", rcv.count())
	}
}

// TestSealedDetailsDelivered: an event with sealed details (an inbound webhook's request) is
// delivered with them opened, as the events API shows it, while the store holds them sealed.
func TestSealedDetailsDelivered(t *testing.T) {
	e := newEnv(t, webhooks.Config{})
	rcv := newReceiver(t, 200)
	e.endpoint(t, rcv.srv.URL, webhooks.Secrets{Current: mustSecret(t)}, nil, events.InboundReceived)
	err := e.st.InTx(t.Context(), func(tx plugboard.Store) error {
		ev := plugboard.Event{Type: events.InboundReceived, OrganisationID: e.org, ConnectionID: ulid.Make(), AuthSchemeConfigID: "github-webhook"}
		var err error
		if ev.ID, err = e.log.NewID(e.clock.Now()); err != nil {
			return err
		}
		if ev.Sealed, err = e.v.SealEvent(e.org, ev.ID, []byte(`{"inbound":{"method":"POST","body":"sealed-body-marker"}}`)); err != nil {
			return err
		}
		return e.log.Emit(t.Context(), tx, ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	if rcv.count() != 1 {
		t.Fatalf("%d deliveries", rcv.count())
	}
	var got struct {
		Data struct {
			Inbound struct {
				Body string `json:"body"`
			} `json:"inbound"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rcv.bodies[0], &got); err != nil || got.Data.Inbound.Body != "sealed-body-marker" {
		t.Errorf("delivered %s: %v", rcv.bodies[0], err)
	}
}
