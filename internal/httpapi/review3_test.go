package httpapi_test

// Holes found in the review of events, credential expiry and inbound webhooks (branch review).
// Each test fails while the hole is open.

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// TestReviewTemplateDeletionDropsLinksWithoutEvents: unlinking a connection from another
// environment's template is a connection.updated event (data.link "deleted"), and a delete that
// takes other records with it reports each of them (docs/events.md). Deleting the linked template,
// or its project, removes the connection's link in the store (connection_links rows) but emits
// only template.deleted: a subscriber that tracks where a connection is linked from its
// connection.updated events never learns that the link is gone.
func TestReviewTemplateDeletionDropsLinksWithoutEvents(t *testing.T) {
	h := newHarness(t)
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Acme", "domain": "acme.example", "templateBaseUrl": "https://api.acme.example",
		"authSchemeConfigs": arr{configByID("api-key")}})).JSON(t, &sys)
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": templateOffering(t, h, sys.ID, "api-key"), "connection": obj{
		"name": "shared", "credentials": arr{obj{"id": zeroID, "authSchemeConfig": configByID("api-key"),
			"credential": obj{"type": "string", "data": obj{"string": obj{"value": "SECRET-linked"}}}}}}})).JSON(t, &c)

	linkDeleted := func(templateID string) bool {
		j := newJournal(h)
		for _, e := range j.all("&type=connection.updated&connection_id=" + c.ID) {
			if e.TemplateID == templateID && e.Data["link"] == "deleted" {
				return true
			}
		}
		return false
	}
	newProject := func(name string) (projectID, templateID string) {
		var proj struct {
			ID           string                `json:"id"`
			Environments []struct{ ID string } `json:"environments"`
		}
		h.must(200, h.do("POST", "/projects", obj{"name": name})).JSON(t, &proj)
		var tpl struct {
			ID string `json:"connectionTemplateId"`
		}
		h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": "t",
			"environmentId": proj.Environments[0].ID})).JSON(t, &tpl)
		h.must(201, h.do("POST", "/connections/"+c.ID+"/link", obj{"connectionTemplateId": tpl.ID}))
		return proj.ID, tpl.ID
	}

	// Control: an explicit unlink is reported.
	_, tpl := newProject("unlinked")
	h.must(204, h.do("DELETE", "/connections/"+c.ID+"/link", obj{"connectionTemplateId": tpl}))
	if !linkDeleted(tpl) {
		t.Fatalf("setup: an explicit unlink emitted no connection.updated with link deleted")
	}

	proj, tpl := newProject("template deleted")
	h.must(204, h.do("DELETE", "/projects/"+proj+"/connection-templates/"+tpl, nil))
	if !linkDeleted(tpl) {
		t.Errorf("deleting a template removed connection %s's link to it without a connection.updated event", c.ID)
	}

	proj, tpl = newProject("project deleted")
	h.must(204, h.do("DELETE", "/projects/"+proj, nil))
	if !linkDeleted(tpl) {
		t.Errorf("deleting a project removed connection %s's link to its template without a connection.updated event", c.ID)
	}
}

// TestReviewFarFutureTimesWrapAround: the store keeps times as Unix nanoseconds in an int64
// (sqlstore.timeValue), which holds nothing after 2262-04-11. A credential's expiresAt in 2300 is
// accepted (201), stored as a time in 1715, served back as such, refused at use as expired and
// deleted by the next sweep (credential.deleted, reason expired): valid input the API neither
// refuses with a field error nor keeps. The same wrap turns an events filter `since=2300-...` into
// "since 1715", listing every event.
func TestReviewFarFutureTimesWrapAround(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("credential expiresAt", func(t *testing.T) {
		// Refused as a field error (the store cannot keep it), or kept exactly: never kept as another time.
		var sys struct {
			ID string `json:"id"`
		}
		h.must(201, h.do("POST", "/systems", obj{"name": "Far", "domain": "far", "templateBaseUrl": up.srv.URL,
			"authSchemeConfigs": arr{configByID("api-key")}})).JSON(t, &sys)
		r := h.do("POST", "/connections", obj{"connectionTemplateId": h.templateFor(sys.ID, ""), "connection": obj{"name": "c", "credentials": arr{
			obj{"id": zeroID, "authSchemeConfig": configByID("api-key"), "credential": obj{"type": "string",
				"data": obj{"string": obj{"value": "SECRET-far-key"}}, "expiresAt": far.Format(time.RFC3339)}}}}})
		if r.Status == 400 {
			if e := r.Error(t); len(e.Fields) != 1 || e.Fields[0].Field != "connection.credentials[0].credential.expiresAt" {
				t.Errorf("expiresAt in 2300: %s", r.Body)
			}
			return
		}
		var c expiryView
		h.must(201, r).JSON(t, &c)
		var got expiryView
		h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
		if at := got.Credentials[0].Credential.ExpiresAt; at != far.Format(time.RFC3339) {
			t.Errorf("expiresAt %s was accepted and is served back as %s", far.Format(time.RFC3339), at)
		}
		if r := h.do("GET", "/connections/"+c.ID+"/proxy/x", nil); r.Status != 200 {
			t.Errorf("a credential expiring in 2300 is refused at use: %d %s", r.Status, r.Body)
		}
		res, err := h.sweeper(h.store).SweepOnce(context.Background(), access.SweeperConfig{ExpiringLead: -1})
		if err != nil || res.Deleted != 0 {
			t.Errorf("the sweep deleted %d credentials (err %v); the only expiry is in 2300", res.Deleted, err)
		}
	})

	t.Run("API key expiresAt", func(t *testing.T) {
		r := h.do("POST", "/api-keys", obj{"name": "long-lived", "scopes": arr{"connections:read"}, "expiresAt": far.Format(time.RFC3339)})
		if r.Status != 201 {
			if e := r.Error(t); r.Status != 400 || len(e.Fields) != 1 || e.Fields[0].Field != "expiresAt" {
				t.Errorf("API key expiring in 2300: %d %s", r.Status, r.Body)
			}
			return
		}
		var k struct {
			Key string `json:"key"`
		}
		r.JSON(t, &k)
		if got := h.doAs(k.Key, h.org, "GET", "/connections", nil); got.Status != 200 {
			t.Errorf("an API key created (201) expiring in 2300 is refused at once: %d %s", got.Status, got.Body)
		}
	})

	t.Run("events since", func(t *testing.T) {
		r := h.do("GET", "/events?since="+far.Format(time.RFC3339), nil)
		var page struct {
			Events []eventView `json:"events"`
		}
		if r.Status == 200 {
			r.JSON(t, &page)
			if len(page.Events) > 0 {
				t.Errorf("since=%s listed %d events that occurred in 2026", far.Format(time.RFC3339), len(page.Events))
			}
		} else if e := r.Error(t); r.Status != 400 || len(e.Fields) != 1 || e.Fields[0].Field != "since" {
			t.Errorf("since in 2300: %d %s", r.Status, r.Body)
		}
	})
}

// TestReviewInboundEventHandsOutReplayableSignature: an inbound.received event keeps the
// delivery's headers, the sender's signature among them, next to its body; events:read keys (read
// only: "events hold ids and public facts") and every webhook endpoint receive both. For senders
// that sign no timestamp (GitHub, Shopify), the pair is a signed delivery that verifies forever:
// a read-only key turns it into new "verified" inbound.received events at will, which flow to the
// organisation's webhooks as the sender's, and with an inbound rate limit set, into the
// connection's allowance, so that the real sender's next delivery is refused with 429. Plugboard
// has checked the signature already; the event need not carry it.
func TestReviewInboundEventHandsOutReplayableSignature(t *testing.T) {
	h := newHarnessWith(t, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver()}, func(c *httpapi.Config) {
		c.InboundRateLimit = ratelimit.Limit{PerSecond: 0.0001, Burst: 3} // no refill within a test
	})
	const secret = "SECRET-gh-replay-5120"
	path := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "gh", "description": "", "preset": "github"}}, secret)
	body := []byte(`{"action":"opened","number":7}`)
	h.must(202, h.deliver(path, body, signGitHub(secret, body)))

	// A read-only key reads the event...
	reader := h.keyWith("events:read")
	var page struct {
		Events []inboundEvent `json:"events"`
	}
	h.must(200, h.doAs(reader, h.org, "GET", "/events?type=inbound.received", nil)).JSON(t, &page)
	if len(page.Events) != 1 {
		t.Fatalf("setup: %d events", len(page.Events))
	}
	in := page.Events[0].Data.Inbound
	if sig := in.Headers["X-Hub-Signature-256"]; len(sig) > 0 {
		t.Errorf("the event shows events:read keys the sender's signature %q next to the body it signs", sig[0])
	}
	// ...and delivers it again, as it is.
	replay := map[string]string{}
	for k, vs := range in.Headers {
		replay[k] = vs[0]
	}
	replayed := 0
	for i := 0; i < 3; i++ {
		if h.deliver(path, []byte(in.Body), replay).Status == 202 {
			replayed++
		}
	}
	if replayed > 0 {
		t.Errorf("an events:read key replayed the delivery from the event %d times, each a new verified inbound.received event", replayed)
	}
	fresh := []byte(`{"action":"closed","number":7}`)
	if r := h.deliver(path, fresh, signGitHub(secret, fresh)); r.Status != 202 {
		t.Errorf("the sender's own next delivery: %d %s (its allowance spent by the replays)", r.Status, r.Body)
	}
}

// TestReviewEventTypeFilterUnbounded: the type filter takes any number of items (17 types exist;
// duplicates are kept) and puts one SQL parameter per item into the count and list queries. Past
// the database's parameter limit (32766 on SQLite, 65535 on PostgreSQL) the list answers
// 500 internal, logged as a server failure, instead of a 400 naming type (or a deduplicated list).
func TestReviewEventTypeFilterUnbounded(t *testing.T) {
	h := newHarness(t)
	for _, n := range []int{40000, 66000} {
		q := "/events?type=" + strings.Repeat("system.created,", n-1) + "system.created"
		r := h.do("GET", q, nil)
		switch {
		case r.Status == 200, r.Status == 431:
		case r.Status == 400:
			if e := r.Error(t); len(e.Fields) == 0 || !strings.HasPrefix(e.Fields[0].Field, "type") {
				t.Errorf("%d types: 400 not naming type: %s", n, r.Body)
			}
		default:
			t.Errorf("a type filter of %d items (one type repeated) answers %d %s", n, r.Status, r.Body)
		}
	}
}

func typesOf(es []eventView) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

// pausedCommit is the real store whose transactions, once their work is done, wait for release
// before they commit: a sweep transaction caught between its deletion and its commit.
type pausedCommit struct {
	plugboard.Store
	paused, release chan struct{}
}

func (p pausedCommit) InTx(ctx context.Context, fn func(tx plugboard.Store) error) error {
	return p.Store.InTx(ctx, func(tx plugboard.Store) error {
		if err := fn(tx); err != nil {
			return err
		}
		p.paused <- struct{}{}
		<-p.release
		return nil
	})
}

// TestReviewDeleteRacingSweepReportsCredentialTwice: on PostgreSQL, DeleteConnection (and
// DeleteEndUser, through the same deleteConnections) read the connection's credential ids with a
// plain SELECT before taking any lock. A sweep that has deleted an expired credential and not yet
// committed is invisible to that read; the delete then waits for the sweep's row locks, goes on
// after its commit, and reports the credential the sweep already reported: one credential, two
// credential.deleted events (reason expired, then reason deleted). Commit d7ab0cc fixed exactly
// this for UpdateConnection only.
func TestReviewDeleteRacingSweepReportsCredentialTwice(t *testing.T) {
	if !apitest.UsePostgres() {
		t.Skip("SQLite's write lock, taken at BEGIN, serialises the two; run with " + apitest.EnvStore + "=postgres")
	}
	for _, via := range []string{"DELETE /connections/{id}", "DELETE /users/{id}"} {
		t.Run(via, func(t *testing.T) {
			h := newHarness(t)
			up := newUpstream(t)
			var sys struct {
				ID string `json:"id"`
			}
			h.must(201, h.do("POST", "/systems", obj{"name": "Upstream", "domain": "up", "templateBaseUrl": up.srv.URL,
				"authSchemeConfigs": arr{configByID("api-key")}})).JSON(t, &sys)
			var proj struct {
				ID           string                `json:"id"`
				Environments []struct{ ID string } `json:"environments"`
			}
			h.must(200, h.do("POST", "/projects", obj{"name": "p"})).JSON(t, &proj)
			var tpl struct {
				ID string `json:"connectionTemplateId"`
			}
			h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": "t",
				"environmentId": proj.Environments[0].ID, "dynamic": true})).JSON(t, &tpl)
			h.must(200, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{"api-key"}}))
			var c connectionView
			h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl.ID, "externalId": "customer-1", "connection": obj{
				"name": "c", "credentials": arr{obj{"id": zeroID, "authSchemeConfig": configByID("api-key"), "credential": obj{"type": "string",
					"data": obj{"string": obj{"value": "SECRET-expiring"}}, "expiresAt": h.clock().Add(time.Minute).UTC().Format(time.RFC3339Nano)}}}}})).JSON(t, &c)
			expiredID := c.Credentials[0].Credential.ID
			h.advance(2 * time.Minute)

			p := pausedCommit{Store: h.store, paused: make(chan struct{}), release: make(chan struct{})}
			swept := make(chan error, 1)
			go func() {
				_, err := h.sweeper(p).SweepOnce(context.Background(), access.SweeperConfig{ExpiringLead: -1})
				swept <- err
			}()
			<-p.paused // the credential is deleted with its event, not yet committed
			path := "/connections/" + c.ID
			if via == "DELETE /users/{id}" {
				path = "/users/" + c.EndUserID
			}
			deleted := make(chan int, 1)
			go func() { deleted <- h.do("DELETE", path, nil).Status }()
			h.waitForLockWait() // the delete has read the credential ids and waits for the sweep's locks
			close(p.release)
			if err := <-swept; err != nil {
				t.Fatal(err)
			}
			if status := <-deleted; status != 204 {
				t.Fatalf("delete: %d", status)
			}
			var reasons []string
			for _, e := range eventsOf(t, h, events.CredentialDeleted) {
				if e.CredentialID.String() == expiredID {
					reasons = append(reasons, e.Reason)
				}
			}
			if len(reasons) != 1 {
				t.Errorf("credential %s has %d credential.deleted events (reasons %v), want 1", expiredID, len(reasons), reasons)
			}
		})
	}
}

// waitForLockWait returns once one of the harness's PostgreSQL sessions waits for a lock another
// holds (the harness names its sessions after its schema). It fails the test after a minute: the
// wait it expects never came.
func (h *harness) waitForLockWait() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if app := pgtest.Schema(h.pgURL); !pgtest.LockWaitOr(h.t, app, ctx.Done()) {
		h.t.Fatalf("no session of %s waited for a lock within a minute", app)
	}
}

// pauseDeleteProject is the real store whose transactions' DeleteProject waits for release
// first: a project deletion caught between the handler's read of the templates and the delete.
type pauseDeleteProject struct {
	plugboard.Store
	paused, release chan struct{}
}

func (p pauseDeleteProject) InTx(ctx context.Context, fn func(tx plugboard.Store) error) error {
	return p.Store.InTx(ctx, func(tx plugboard.Store) error {
		return fn(pauseDeleteProject{Store: tx, paused: p.paused, release: p.release})
	})
}

func (p pauseDeleteProject) DeleteProject(ctx context.Context, orgID, id ulid.ULID) (*plugboard.DeletedProject, error) {
	p.paused <- struct{}{}
	<-p.release
	return p.Store.DeleteProject(ctx, orgID, id)
}

// TestReviewProjectDeletionMissesConcurrentTemplate: DeleteProject's handler lists the project's
// templates (for their template.deleted events) with a plain read, then the store deletes every
// template the project has at that later moment. On PostgreSQL a template created in between (its
// template.created committed) is deleted with the project and gets no template.deleted: a
// subscriber keeps a template that no longer exists. (UpdateConnection had the same read-then-
// delete shape for credentials; commit d7ab0cc made the store report what it deleted.)
func TestReviewProjectDeletionMissesConcurrentTemplate(t *testing.T) {
	if !apitest.UsePostgres() {
		t.Skip("SQLite's write lock, taken at BEGIN, serialises the two; run with " + apitest.EnvStore + "=postgres")
	}
	h := newHarness(t)
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Acme", "domain": "acme.example", "templateBaseUrl": "https://api.acme.example",
		"authSchemeConfigs": arr{configByID("api-key")}})).JSON(t, &sys)
	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "p"})).JSON(t, &proj)
	newTemplate := func(name string) string {
		var tpl struct {
			ID string `json:"connectionTemplateId"`
		}
		h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": name,
			"environmentId": proj.Environments[0].ID})).JSON(t, &tpl)
		return tpl.ID
	}
	newTemplate("first")

	p := pauseDeleteProject{Store: h.store, paused: make(chan struct{}), release: make(chan struct{})}
	other := h.replica(p)
	deleted := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("DELETE", other.URL+"/o/"+h.org.String()+"/projects/"+proj.ID, nil)
		req.Header.Set("Authorization", "Bearer "+h.key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			deleted <- 0
			return
		}
		res.Body.Close()
		deleted <- res.StatusCode
	}()
	<-p.paused // the handler has listed the templates
	late := newTemplate("late")
	close(p.release)
	if status := <-deleted; status != 204 {
		t.Fatalf("delete project: %d", status)
	}
	if r := h.do("GET", "/projects/"+proj.ID+"/connection-templates/"+late, nil); r.Status != 404 {
		t.Fatalf("setup: the late template survived the project: %d", r.Status)
	}
	created, gone := 0, 0
	for _, e := range newJournal(h).all("") {
		if e.TemplateID == late {
			switch e.Type {
			case "template.created":
				created++
			case "template.deleted":
				gone++
			}
		}
	}
	if created != 1 || gone != 1 {
		t.Errorf("template %s: %d template.created, %d template.deleted events; it was deleted with its project", late, created, gone)
	}
}
