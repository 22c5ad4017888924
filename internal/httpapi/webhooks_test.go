package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/webhooks"
)

type webhookView struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	EventTypes     []string   `json:"eventTypes"`
	Enabled        bool       `json:"enabled"`
	Secret         string     `json:"secret"`
	DisabledAt     *time.Time `json:"disabledAt"`
	DisabledReason string     `json:"disabledReason"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
}

// checkSecretShape: whsec_ and the base64 of 32 bytes.
func checkSecretShape(t *testing.T, s string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if !strings.HasPrefix(s, "whsec_") || err != nil || len(raw) != 32 {
		t.Fatalf("secret is not whsec_ and the base64 of 32 bytes (%d bytes, %v)", len(raw), err)
	}
}

// TestWebhookEndpointsCRUD: create answers the secret once; get, list, update and every later answer,
// the logs and the database never show it; rotation answers a new one; delete removes the endpoint.
func TestWebhookEndpointsCRUD(t *testing.T) {
	h := newHarness(t)
	var ep webhookView
	h.must(201, h.do("POST", "/webhook-endpoints", obj{"url": "https://hooks.example.com/a", "description": "CRM",
		"eventTypes": arr{"connection.created", "credential.deleted", "connection.created"}})).JSON(t, &ep)
	checkSecretShape(t, ep.Secret)
	if !ep.Enabled || ep.URL != "https://hooks.example.com/a" || ep.Description != "CRM" ||
		!slices.Equal(ep.EventTypes, []string{"connection.created", "credential.deleted"}) {
		t.Errorf("created: %+v", ep)
	}
	secrets := []string{ep.Secret}

	var got webhookView
	h.must(200, h.do("GET", "/webhook-endpoints/"+ep.ID, nil)).JSON(t, &got)
	if got.Secret != "" || got.ID != ep.ID || !got.CreatedAt.Equal(ep.CreatedAt) {
		t.Errorf("get: %+v", got)
	}
	var page struct {
		Items      []webhookView `json:"items"`
		TotalCount int           `json:"totalCount"`
	}
	// This harness allows 127.0.0.0/8 (PLUGBOARD_ALLOW_CIDRS), so a loopback URL is accepted.
	h.must(201, h.do("POST", "/webhook-endpoints", obj{"url": "http://127.0.0.1:8080/b", "enabled": false}))
	h.must(200, h.do("GET", "/webhook-endpoints?first=1", nil)).JSON(t, &page)
	if page.TotalCount != 2 || len(page.Items) != 1 || page.Items[0].ID != ep.ID || len(page.Items[0].EventTypes) != 2 {
		t.Errorf("list: %+v", page)
	}

	// PUT replaces the settings and keeps the secret; disabling and enabling.
	h.must(200, h.do("PUT", "/webhook-endpoints/"+ep.ID, obj{"url": "https://hooks.example.com/c", "enabled": false})).JSON(t, &got)
	if got.Enabled || got.Description != "" || len(got.EventTypes) != 0 || got.URL != "https://hooks.example.com/c" || got.Secret != "" {
		t.Errorf("updated: %+v", got)
	}
	h.must(200, h.do("PUT", "/webhook-endpoints/"+ep.ID, obj{"url": "https://hooks.example.com/c", "enabled": true,
		"eventTypes": arr{"end_user.deleted"}})).JSON(t, &got)
	if !got.Enabled || got.DisabledAt != nil || !slices.Equal(got.EventTypes, []string{"end_user.deleted"}) {
		t.Errorf("enabled again: %+v", got)
	}

	// Rotation: a new secret, shown once.
	var rotated webhookView
	h.must(200, h.do("POST", "/webhook-endpoints/"+ep.ID+"/rotate-secret", nil)).JSON(t, &rotated)
	checkSecretShape(t, rotated.Secret)
	if rotated.Secret == ep.Secret || rotated.ID != ep.ID {
		t.Errorf("rotated: same secret or other endpoint")
	}
	secrets = append(secrets, rotated.Secret)
	h.must(200, h.do("GET", "/webhook-endpoints/"+ep.ID, nil))
	h.must(200, h.do("GET", "/webhook-endpoints", nil))

	// Attempts lists exist (empty), and 404 for what does not.
	h.must(200, h.do("GET", "/webhook-endpoints/"+ep.ID+"/attempts", nil))
	h.must(404, h.do("GET", "/webhook-endpoints/"+zeroID+"/attempts", nil))
	h.must(404, h.do("GET", "/events/"+zeroID+"/attempts", nil))
	h.must(404, h.do("POST", "/events/"+zeroID+"/redeliver", nil))
	h.must(202, h.do("POST", "/webhook-endpoints/"+ep.ID+"/replay", obj{"since": "2020-01-01T00:00:00Z"}))
	r := h.must(400, h.do("POST", "/webhook-endpoints/"+ep.ID+"/replay", obj{"since": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}))
	if f := r.Error(t).fieldNames(); !slices.Equal(f, []string{"since"}) {
		t.Errorf("replay from the future: fields %v", f)
	}

	// No answer but the two that made them, no log line and no byte of the database holds a secret.
	for _, s := range secrets {
		n := 0
		for _, body := range h.allResponses() {
			if bytes.Contains(body, []byte(s)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("a secret is in %d answers, want 1 (the one that made it)", n)
		}
		if strings.Contains(h.logs.String(), s) || strings.Contains(h.logs.String(), strings.TrimPrefix(s, "whsec_")) {
			t.Error("a secret is in the logs")
		}
		for name, dump := range h.databaseDumps() {
			if bytes.Contains(dump, []byte(strings.TrimPrefix(s, "whsec_"))) {
				t.Errorf("a secret is in clear in %s", name)
			}
		}
	}

	h.must(204, h.do("DELETE", "/webhook-endpoints/"+ep.ID, nil))
	h.must(404, h.do("GET", "/webhook-endpoints/"+ep.ID, nil))
	h.must(404, h.do("POST", "/webhook-endpoints/"+ep.ID+"/rotate-secret", nil))
}

// TestWebhookEndpointBadInput: unknown event types, bad and private URLs and huge bodies get Errors
// naming the field, and nothing is written.
func TestWebhookEndpointBadInput(t *testing.T) {
	// The default outbound policy: no private address allowed.
	h := newHarnessWith(t, outbound.Config{Resolver: outbound.NoDNSResolver()})
	cases := []struct {
		name   string
		body   obj
		fields []string
	}{
		{"unknown type", obj{"url": "https://hooks.example.com", "eventTypes": arr{"connection.created", "connection.exploded"}}, []string{"eventTypes[1]"}},
		{"no url", obj{"description": "x"}, []string{"url"}},
		{"relative url", obj{"url": "/hooks"}, []string{"url"}},
		{"ftp", obj{"url": "ftp://hooks.example.com/x"}, []string{"url"}},
		{"userinfo", obj{"url": "https://user:pass@hooks.example.com/x"}, []string{"url"}},
		{"bad port", obj{"url": "https://hooks.example.com:99999/x"}, []string{"url"}},
		{"loopback", obj{"url": "http://127.0.0.1:8080/x"}, []string{"url"}},
		{"localhost", obj{"url": "http://localhost/x"}, []string{"url"}},
		{"private", obj{"url": "https://10.0.0.5/x"}, []string{"url"}},
		{"metadata", obj{"url": "http://169.254.169.254/latest"}, []string{"url"}},
		{"ipv6 loopback", obj{"url": "http://[::1]/x"}, []string{"url"}},
		{"long description", obj{"url": "https://hooks.example.com", "description": strings.Repeat("d", 256)}, []string{"description"}},
		{"long url", obj{"url": "https://hooks.example.com/" + strings.Repeat("p", 2100)}, []string{"url"}},
		{"several", obj{"url": "gopher://x", "eventTypes": arr{"nope"}}, []string{"url", "eventTypes[0]"}},
	}
	for _, c := range cases {
		r := h.must(400, h.do("POST", "/webhook-endpoints", c.body))
		e := r.Error(t)
		if e.Code != "invalid_argument" || !slices.Equal(e.fieldNames(), c.fields) {
			t.Errorf("%s: %s fields %v, want %v", c.name, e.Code, e.fieldNames(), c.fields)
		}
	}
	if r := h.must(400, h.do("POST", "/webhook-endpoints", obj{"url": "http://127.0.0.1/x"})); !strings.Contains(r.Error(t).Fields[0].Message, "PLUGBOARD_ALLOW_CIDRS") {
		t.Errorf("the refusal does not name the setting: %s", r.Body)
	}
	huge := obj{"url": "https://hooks.example.com", "description": strings.Repeat("x", 2<<20)}
	if r := h.do("POST", "/webhook-endpoints", huge); r.Status != 413 {
		t.Errorf("huge body: %d %s", r.Status, r.Body)
	}
	var page struct {
		TotalCount int `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/webhook-endpoints", nil)).JSON(t, &page)
	if page.TotalCount != 0 {
		t.Errorf("%d endpoints written by refused requests", page.TotalCount)
	}

	// An update with bad input changes nothing.
	var ep webhookView
	h.must(201, h.do("POST", "/webhook-endpoints", obj{"url": "https://hooks.example.com/ok"})).JSON(t, &ep)
	r := h.must(400, h.do("PUT", "/webhook-endpoints/"+ep.ID, obj{"url": "http://10.1.1.1/", "enabled": false, "eventTypes": arr{"x"}}))
	if f := r.Error(t).fieldNames(); !slices.Equal(f, []string{"url", "eventTypes[0]"}) {
		t.Errorf("update fields %v", f)
	}
	var got webhookView
	h.must(200, h.do("GET", "/webhook-endpoints/"+ep.ID, nil)).JSON(t, &got)
	if got.URL != ep.URL || !got.Enabled {
		t.Errorf("a refused update wrote: %+v", got)
	}
}

// TestWebhookAttemptsRedeliverReplay: attempts a worker recorded are listed per event and per endpoint
// (as the contract says: the harness validates every answer), redelivery and replay make new
// deliveries that the worker sends with the same webhook-id, and a refused request adds none.
func TestWebhookAttemptsRedeliverReplay(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var ids []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "thanks")
	}))
	defer rcv.Close()
	var ep webhookView
	h.must(201, h.do("POST", "/webhook-endpoints", obj{"url": rcv.URL + "/hook", "eventTypes": arr{"end_user.created"}})).JSON(t, &ep)
	h.must(201, h.do("POST", "/users", obj{"externalId": "hooked"}))
	eventID := h.latestEventID()

	worker := webhooks.New(webhooks.Config{Store: h.store, Vault: h.keys, Now: h.clock,
		Client: outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Resolver: outbound.NoDNSResolver()}).HTTPClient(nil)})
	if err := worker.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	type attempts struct {
		Items []struct {
			EventID    string  `json:"eventId"`
			EndpointID string  `json:"webhookEndpointId"`
			StatusCode *int    `json:"statusCode"`
			Response   string  `json:"response"`
			Delivered  bool    `json:"delivered"`
			LatencyMs  float64 `json:"latencyMs"`
		} `json:"items"`
		TotalCount int `json:"totalCount"`
	}
	var byEvent, byEndpoint attempts
	h.must(200, h.do("GET", "/events/"+eventID+"/attempts", nil)).JSON(t, &byEvent)
	h.must(200, h.do("GET", "/webhook-endpoints/"+ep.ID+"/attempts", nil)).JSON(t, &byEndpoint)
	if byEvent.TotalCount != 1 || byEndpoint.TotalCount != 1 {
		t.Fatalf("attempts by event %d, by endpoint %d, want 1", byEvent.TotalCount, byEndpoint.TotalCount)
	}
	a := byEvent.Items[0]
	if a.EventID != eventID || a.EndpointID != ep.ID || a.StatusCode == nil || *a.StatusCode != 202 || a.Response != "thanks" || !a.Delivered {
		t.Errorf("attempt: %+v", a)
	}

	var red struct {
		Deliveries int  `json:"deliveries"`
		More       bool `json:"more"`
	}
	h.must(202, h.do("POST", "/events/"+eventID+"/redeliver", nil)).JSON(t, &red)
	if red.Deliveries != 1 {
		t.Errorf("redeliver made %d deliveries", red.Deliveries)
	}
	h.must(202, h.do("POST", "/webhook-endpoints/"+ep.ID+"/replay", obj{"since": h.clock().Add(-time.Hour).UTC().Format(time.RFC3339)})).JSON(t, &red)
	if red.Deliveries != 1 || red.More {
		t.Errorf("replay: %+v", red)
	}
	h.must(400, h.do("POST", "/webhook-endpoints/"+ep.ID+"/replay", obj{"since": "yesterday"}))
	if err := worker.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 3 || ids[0] != eventID || ids[1] != eventID || ids[2] != eventID {
		t.Errorf("webhook-ids received %v, want the event's three times", ids)
	}
}
