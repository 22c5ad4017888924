package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/storetest"
)

// apiKeyView is an API key as the API shows it.
type apiKeyView struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Prefix       string     `json:"prefix"`
	Scopes       []string   `json:"scopes"`
	Unrestricted bool       `json:"unrestricted"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastUsedAt   *time.Time `json:"lastUsedAt"`
	ExpiresAt    *time.Time `json:"expiresAt"`
	Key          string     `json:"key"`
}

type apiKeyPage struct {
	Items      []apiKeyView `json:"items"`
	TotalCount int          `json:"totalCount"`
	Next       string       `json:"next"`
	Prev       string       `json:"prev"`
}

// keyID returns the id of an API key, read from the key itself.
func (h *harness) keyID(key string) string {
	h.t.Helper()
	_, id, _, err := apikey.Parse(key)
	if err != nil {
		h.t.Fatal(err)
	}
	return id.String()
}

// createKey creates an API key through the API with the harness's key.
func (h *harness) createKey(body obj) apiKeyView {
	h.t.Helper()
	var k apiKeyView
	h.must(201, h.do("POST", "/api-keys", body)).JSON(h.t, &k)
	return k
}

// replica is a second server on the given store (the harness's, or a wrapper of it) with the
// harness's clock and keys: another process of the same deployment, with its own caches.
func (h *harness) replica(store plugboard.Store) *httptest.Server {
	h.t.Helper()
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(apitest.Validator(h.t, httpapi.New(httpapi.Config{Store: store, Keys: h.keys,
		Logger: logger, Now: h.clock})))
	h.t.Cleanup(srv.Close)
	return srv
}

// doVia sends a GET to a path under the harness's organisation on another server.
func (h *harness) doVia(srv *httptest.Server, key, path string) response {
	h.t.Helper()
	req, err := http.NewRequest("GET", srv.URL+"/o/"+h.org.String()+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.responses = append(h.responses, data)
	h.mu.Unlock()
	return response{Status: res.StatusCode, Body: data, Header: res.Header}
}

func TestAPIKeyLifecycle(t *testing.T) {
	h := newHarness(t)
	expires := h.clock().Add(24 * time.Hour).UTC().Truncate(time.Second)
	k := h.createKey(obj{"name": "reader", "scopes": arr{httpapi.ScopeRead, httpapi.ScopeRead}, "expiresAt": expires})
	if !strings.HasPrefix(k.Key, apikey.Prefix) || k.Prefix != k.Key[:12] || k.ID != h.keyID(k.Key) || k.Name != "reader" ||
		!slices.Equal(k.Scopes, []string{httpapi.ScopeRead}) || k.Unrestricted || k.ExpiresAt == nil ||
		!k.ExpiresAt.Equal(expires) || k.LastUsedAt != nil || k.CreatedAt.IsZero() {
		t.Fatalf("created %+v", k)
	}

	// The key works within its scopes.
	h.must(200, h.doAs(k.Key, h.org, "GET", "/connections", nil))
	h.must(403, h.doAs(k.Key, h.org, "GET", "/systems", nil))
	h.must(403, h.doAs(k.Key, h.org, "GET", "/api-keys", nil))

	// Listed and read without the key; the harness's key, stored without scopes, lists them all.
	var page apiKeyPage
	h.must(200, h.do("GET", "/api-keys", nil)).JSON(t, &page)
	if page.TotalCount != 2 || len(page.Items) != 2 {
		t.Fatalf("list %+v", page)
	}
	first, second := page.Items[0], page.Items[1]
	if first.ID != h.keyID(h.key) || !first.Unrestricted || !slices.Equal(first.Scopes, httpapi.Scopes) || first.ExpiresAt != nil {
		t.Errorf("the harness's key is listed as %+v", first)
	}
	if second.ID != k.ID || second.Key != "" || second.Prefix != k.Prefix || !slices.Equal(second.Scopes, k.Scopes) {
		t.Errorf("the new key is listed as %+v", second)
	}
	var got apiKeyView
	h.must(200, h.do("GET", "/api-keys/"+k.ID, nil)).JSON(t, &got)
	if got.ID != k.ID || got.Key != "" || got.Name != "reader" || !got.ExpiresAt.Equal(expires) {
		t.Errorf("get %+v", got)
	}
	h.must(200, h.do("GET", "/api-keys?first=1", nil)).JSON(t, &page)
	if len(page.Items) != 1 || page.Next != first.ID {
		t.Errorf("first page %+v", page)
	}
	after := page.Next
	page = apiKeyPage{}
	h.must(200, h.do("GET", "/api-keys?after="+after, nil)).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != k.ID || page.Prev != k.ID || page.Next != "" {
		t.Errorf("second page %+v", page)
	}
	h.must(400, h.do("GET", "/api-keys?first=0", nil))
	h.must(404, h.do("GET", "/api-keys/"+ulid.Make().String(), nil))
	h.must(404, h.do("GET", "/api-keys/not-an-id", nil))

	// Revoked: refused at once by this server, though it had verified and cached it.
	h.must(204, h.do("DELETE", "/api-keys/"+k.ID, nil))
	if r := h.must(401, h.doAs(k.Key, h.org, "GET", "/connections", nil)); r.Error(t).Code != "unauthenticated" {
		t.Errorf("revoked key: %s", r.Body)
	}
	h.must(404, h.do("GET", "/api-keys/"+k.ID, nil))
	h.must(404, h.do("DELETE", "/api-keys/"+k.ID, nil))

	// A key may revoke itself.
	self := h.createKey(obj{"name": "self", "scopes": arr{httpapi.ScopeAPIKeys}})
	h.must(204, h.doAs(self.Key, h.org, "DELETE", "/api-keys/"+self.ID, nil))
	h.must(401, h.doAs(self.Key, h.org, "GET", "/api-keys", nil))
}

func TestCreateAPIKeyRefusesBadInput(t *testing.T) {
	h := newHarness(t)
	past := h.clock().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	for name, c := range map[string]struct {
		body   any
		fields []string
	}{
		"no scopes":          {obj{"name": "k"}, []string{"scopes"}},
		"empty scopes":       {obj{"name": "k", "scopes": arr{}}, []string{"scopes"}},
		"null scopes":        {obj{"name": "k", "scopes": nil}, []string{"scopes"}},
		"empty scope":        {obj{"name": "k", "scopes": arr{httpapi.ScopeRead, ""}}, []string{"scopes[1]"}},
		"unknown scope":      {obj{"name": "k", "scopes": arr{"connections:everything"}}, []string{"scopes[0]"}},
		"no name":            {obj{"scopes": arr{httpapi.ScopeRead}}, []string{"name"}},
		"blank name":         {obj{"name": "  ", "scopes": arr{httpapi.ScopeRead}}, []string{"name"}},
		"expiry in the past": {obj{"name": "k", "scopes": arr{httpapi.ScopeRead}, "expiresAt": past}, []string{"expiresAt"}},
		"all of them":        {obj{"name": "", "scopes": arr{}, "expiresAt": past}, []string{"name", "scopes", "expiresAt"}},
	} {
		r := h.must(400, h.do("POST", "/api-keys", c.body))
		if e := r.Error(t); e.Code != "invalid_argument" || !slices.Equal(e.fieldNames(), c.fields) {
			t.Errorf("%s: %s, want fields %v", name, r.Body, c.fields)
		}
	}
	h.must(400, h.do("POST", "/api-keys", "not json"))
	var page apiKeyPage
	h.must(200, h.do("GET", "/api-keys", nil)).JSON(t, &page)
	if page.TotalCount != 1 {
		t.Errorf("refused requests stored keys: %+v", page)
	}
}

// TestAPIKeyMinting: a key creates keys only with scopes it holds, and always with a list.
func TestAPIKeyMinting(t *testing.T) {
	h := newHarness(t)
	manager := h.keyWith(httpapi.ScopeAPIKeys, httpapi.ScopeRead)
	var k apiKeyView
	h.must(201, h.doAs(manager, h.org, "POST", "/api-keys", obj{"name": "reader", "scopes": arr{httpapi.ScopeRead}})).JSON(t, &k)
	h.must(201, h.doAs(manager, h.org, "POST", "/api-keys", obj{"name": "peer", "scopes": arr{httpapi.ScopeAPIKeys, httpapi.ScopeRead}}))
	for _, scopes := range []arr{{httpapi.ScopeWrite}, {httpapi.ScopeRead, httpapi.ScopeAdmin}, {httpapi.ScopeAccess}} {
		r := h.must(403, h.doAs(manager, h.org, "POST", "/api-keys", obj{"name": "wider", "scopes": scopes}))
		if e := r.Error(t); e.Code != "permission_denied" || !strings.Contains(e.Message, scopes[len(scopes)-1].(string)) {
			t.Errorf("minting %v: %s", scopes, r.Body)
		}
	}
	// A key without scopes holds them all, so it may grant any; what it grants is still a list.
	var all apiKeyView
	h.must(201, h.do("POST", "/api-keys", obj{"name": "everything", "scopes": toArr(httpapi.Scopes)})).JSON(t, &all)
	if all.Unrestricted || !slices.Equal(all.Scopes, httpapi.Scopes) {
		t.Errorf("a key made through the API: %+v", all)
	}
	stored, err := h.store.GetAPIKey(context.Background(), h.org, ulid.MustParse(all.ID))
	if err != nil || len(stored.Scopes) != len(httpapi.Scopes) {
		t.Errorf("stored %+v, %v: want an explicit list of every scope", stored, err)
	}
	// The reader cannot manage keys at all.
	h.must(403, h.doAs(k.Key, h.org, "POST", "/api-keys", obj{"name": "x", "scopes": arr{httpapi.ScopeRead}}))
	h.must(403, h.doAs(k.Key, h.org, "DELETE", "/api-keys/"+k.ID, nil))
}

func toArr(s []string) arr {
	out := arr{}
	for _, v := range s {
		out = append(out, v)
	}
	return out
}

// TestAPIKeyRevocationAcrossReplicas: a key deleted through one server is refused by it at once,
// and by another server on the same store once that one's cached copy is older than
// KeyCacheTTL, on the servers' clock, not the wall's.
func TestAPIKeyRevocationAcrossReplicas(t *testing.T) {
	h := newHarness(t)
	other := h.replica(h.store)
	key := h.keyWith(httpapi.ScopeRead)
	h.must(200, h.doVia(other, key, "/connections")) // verified and cached by the other replica
	h.must(200, h.doAs(key, h.org, "GET", "/connections", nil))

	h.must(204, h.do("DELETE", "/api-keys/"+h.keyID(key), nil))
	h.must(401, h.doAs(key, h.org, "GET", "/connections", nil))

	h.must(200, h.doVia(other, key, "/connections"))
	h.advance(httpapi.KeyCacheTTL - 10*time.Second)
	h.must(200, h.doVia(other, key, "/connections"))
	h.advance(10 * time.Second)
	h.must(401, h.doVia(other, key, "/connections"))
	h.must(401, h.doAs(key, h.org, "GET", "/connections", nil))
}

// TestAPIKeyRevocationHeardThroughTheChangeFeed: on PostgreSQL, a key deleted through one server
// is refused by another that had it cached as soon as the store's change feed announces the
// deletion there, without waiting for KeyCacheTTL (the servers' clock does not move).
func TestAPIKeyRevocationHeardThroughTheChangeFeed(t *testing.T) {
	if !apitest.UsePostgres() {
		t.Skip("the change feed is PostgreSQL's: set " + apitest.EnvStore + "=postgres (with PLUGBOARD_TEST_DATABASE_URL)")
	}
	h := newHarness(t)
	db := h.store.(*sqlstore.DB)
	api := httpapi.New(httpapi.Config{Store: db, Keys: h.keys, Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Now: h.clock})
	rec := storetest.NewFeedRecorder(api)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); db.WatchChanges(ctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	rec.Want(t, true)
	other := httptest.NewServer(apitest.Validator(t, api))
	t.Cleanup(other.Close)

	key := h.keyWith(httpapi.ScopeRead)
	h.must(200, h.doVia(other, key, "/connections")) // verified and cached by the other server
	h.must(200, h.doVia(other, key, "/connections"))
	h.must(204, h.do("DELETE", "/api-keys/"+h.keyID(key), nil))
	id, err := ulid.Parse(h.keyID(key))
	if err != nil {
		t.Fatal(err)
	}
	rec.WantEventually(t, plugboard.Change{Kind: plugboard.ChangedAPIKey, OrganisationID: h.org, ID: id})
	h.must(401, h.doVia(other, key, "/connections"))
}

// TestAPIKeyCacheEmptiedWhenTheFeedIsBack: a key deleted while a server could not hear the change
// feed was never announced to it; when the feed is heard again (Watching(true)) the server forgets
// the keys it verified, so the deleted one is refused without waiting for KeyCacheTTL.
func TestAPIKeyCacheEmptiedWhenTheFeedIsBack(t *testing.T) {
	h := newHarness(t)
	api := httpapi.New(httpapi.Config{Store: h.store, Keys: h.keys, Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Now: h.clock})
	other := httptest.NewServer(apitest.Validator(t, api))
	t.Cleanup(other.Close)
	key := h.keyWith(httpapi.ScopeRead)
	h.must(200, h.doVia(other, key, "/connections")) // verified and cached by the other server
	h.must(204, h.do("DELETE", "/api-keys/"+h.keyID(key), nil))
	h.must(200, h.doVia(other, key, "/connections")) // not announced to it: still cached
	api.Watching(true)
	h.must(401, h.doVia(other, key, "/connections"))
}

// TestExpiredAPIKeysAreRefused: from its expiresAt on, a key is refused everywhere at once, by a
// server that has it cached as well as by one that reads it anew.
func TestExpiredAPIKeysAreRefused(t *testing.T) {
	h := newHarness(t)
	k := h.createKey(obj{"name": "short", "scopes": arr{httpapi.ScopeRead}, "expiresAt": h.clock().Add(time.Hour)})
	h.must(200, h.doAs(k.Key, h.org, "GET", "/connections", nil))
	h.advance(time.Hour + time.Second)
	r := h.must(401, h.doAs(k.Key, h.org, "GET", "/connections", nil))
	if e := r.Error(t); e.Code != "unauthenticated" || !strings.Contains(e.Message, "expired") {
		t.Errorf("expired key: %s", r.Body)
	}
	h.must(401, h.doVia(h.replica(h.store), k.Key, "/connections"))
	// Still listed, so it can be seen and deleted.
	var got apiKeyView
	h.must(200, h.do("GET", "/api-keys/"+k.ID, nil)).JSON(t, &got)
	h.must(204, h.do("DELETE", "/api-keys/"+k.ID, nil))
}

// touchRecorder is a store that reports each recorded key use after writing it.
type touchRecorder struct {
	plugboard.Store
	touches chan touch
}

type touch struct {
	id ulid.ULID
	at time.Time
}

func (s touchRecorder) TouchAPIKey(ctx context.Context, orgID, id ulid.ULID, at time.Time) error {
	err := s.Store.TouchAPIKey(ctx, orgID, id, at)
	s.touches <- touch{id, at}
	return err
}

// TestAPIKeyLastUsed: a server records a key's use at most once per KeyUseInterval, with the time
// of the request that was recorded, and never makes a request wait for the write.
func TestAPIKeyLastUsed(t *testing.T) {
	h := newHarness(t)
	rec := touchRecorder{Store: h.store, touches: make(chan touch, 100)}
	srv := h.replica(rec)
	key := h.keyWith(httpapi.ScopeRead)
	id := ulid.MustParse(h.keyID(key))
	next := func() touch {
		t.Helper()
		select {
		case tc := <-rec.touches:
			return tc
		case <-time.After(10 * time.Second): // a guard against hanging, not a measure
			t.Fatal("no use was recorded")
			return touch{}
		}
	}
	lastUsed := func() *time.Time {
		var v apiKeyView
		h.must(200, h.do("GET", "/api-keys/"+id.String(), nil)).JSON(t, &v)
		return v.LastUsedAt
	}
	if lastUsed() != nil {
		t.Fatal("a key never used has a lastUsedAt")
	}

	before := h.clock().UTC().Truncate(time.Microsecond)
	h.must(200, h.doVia(srv, key, "/connections"))
	after := h.clock()
	first := next()
	if first.id != id || first.at.Before(before) || first.at.After(after) {
		t.Fatalf("recorded %+v, want the key at a time within [%v, %v]", first, before, after)
	}
	if got := lastUsed(); got == nil || !got.Equal(first.at) {
		t.Errorf("lastUsedAt %v, want %v", got, first.at)
	}

	// Within the interval: no write, however many requests.
	h.advance(30 * time.Second)
	h.must(200, h.doVia(srv, key, "/connections"))
	h.advance(20 * time.Second)
	h.must(200, h.doVia(srv, key, "/connections"))
	h.must(200, h.doVia(srv, key, "/connections"))
	// Past it: the next request is recorded, and it is the next write.
	h.advance(httpapi.KeyUseInterval - 50*time.Second)
	h.must(200, h.doVia(srv, key, "/connections"))
	second := next()
	if second.id != id || second.at.Sub(first.at) < httpapi.KeyUseInterval {
		t.Fatalf("recorded %+v after %+v, want one use a full interval later", second, first)
	}
	if got := lastUsed(); got == nil || !got.Equal(second.at) {
		t.Errorf("lastUsedAt %v, want %v", got, second.at)
	}
	select {
	case tc := <-rec.touches:
		t.Errorf("an extra write: %+v", tc)
	default:
	}
}

// TestAPIKeySecretShownOnce: the key is in the one response that creates it, and nowhere else: not
// in lists, reads, errors, the log or the database.
func TestAPIKeySecretShownOnce(t *testing.T) {
	h := newHarness(t)
	k := h.createKey(obj{"name": "once", "scopes": arr{httpapi.ScopeRead, httpapi.ScopeAPIKeys}})
	secret := k.Key[len(k.Key)-43:]
	h.must(200, h.do("GET", "/api-keys", nil))
	h.must(200, h.do("GET", "/api-keys/"+k.ID, nil))
	h.must(200, h.doAs(k.Key, h.org, "GET", "/api-keys/"+k.ID, nil))
	h.must(403, h.doAs(k.Key, h.org, "GET", "/systems", nil))
	h.must(403, h.doAs(k.Key, h.org, "POST", "/api-keys", obj{"name": "wider", "scopes": arr{httpapi.ScopeAdmin}}))
	h.must(400, h.doAs(k.Key, h.org, "POST", "/api-keys", obj{"name": k.Key, "scopes": arr{k.Key}}))
	tampered := []byte(k.Key)
	tampered[len(tampered)-10] ^= 'A' ^ 'B' // another letter, so another secret
	h.must(401, h.doAs(string(tampered), h.org, "GET", "/api-keys", nil))
	h.must(404, h.doAs(k.Key, ulid.Make(), "GET", "/api-keys", nil))
	h.must(204, h.do("DELETE", "/api-keys/"+k.ID, nil))
	h.must(401, h.doAs(k.Key, h.org, "GET", "/api-keys", nil))

	holding := 0
	for _, body := range h.allResponses() {
		if bytes.Contains(body, []byte(secret)) {
			holding++
		}
	}
	if holding != 1 {
		t.Errorf("%d responses hold the key, want only the one that created it", holding)
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Error("the server log holds the key")
	}
	for name, data := range h.databaseDumps() {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("database %s holds the key", name)
		}
	}
}
