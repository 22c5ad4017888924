package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/httpapi"
)

// TestDeletedOrganisationKeysAreRefused: once an organisation is deleted, every API key of it is
// refused (401) after at most OrgStateTTL on the server's clock, although the key cache would
// trust a verified key for KeyCacheTTL; a key never seen before is refused as well, and other
// organisations are untouched. The clock is the harness's, moved by hand: no test waits.
func TestDeletedOrganisationKeysAreRefused(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if httpapi.OrgStateTTL >= httpapi.KeyCacheTTL {
		t.Fatalf("OrgStateTTL %v must be shorter than KeyCacheTTL %v", httpapi.OrgStateTTL, httpapi.KeyCacheTTL)
	}
	otherOrg, otherKey := h.newOrg("other")
	h.must(http.StatusOK, h.do(http.MethodGet, "/systems", nil)) // the key and the organisation are cached now
	h.must(http.StatusOK, h.doAs(otherKey, otherOrg, http.MethodGet, "/systems", nil))
	unseen := h.newKey(h.org)

	if err := h.store.DeleteOrganisation(ctx, h.org, h.clock()); err != nil {
		t.Fatal(err)
	}
	h.advance(httpapi.OrgStateTTL)
	for name, key := range map[string]string{"cached key": h.key, "unseen key": unseen} {
		for _, path := range []string{"/systems", "/connections/01JAAAAAAAAAAAAAAAAAAAAAAA/proxy/x"} {
			r := h.doAs(key, h.org, http.MethodGet, path, nil)
			if r.Status != http.StatusUnauthorized || r.Error(t).Code != "unauthenticated" {
				t.Errorf("%s, %s: %d %s", name, path, r.Status, r.Body)
			}
		}
	}
	h.must(http.StatusOK, h.doAs(otherKey, otherOrg, http.MethodGet, "/systems", nil))

	// Still refused once the organisation is purged.
	if err := h.store.PurgeOrganisation(ctx, h.org); err != nil {
		t.Fatal(err)
	}
	h.advance(httpapi.OrgStateTTL)
	if r := h.doAs(h.key, h.org, http.MethodGet, "/systems", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("after the purge: %d %s", r.Status, r.Body)
	}
}

// TestDeletedOrganisationIsRefusedAtOnceWhenNotCached: a server that has not read the
// organisation's state lately refuses its keys without any wait.
func TestDeletedOrganisationIsRefusedAtOnceWhenNotCached(t *testing.T) {
	h := newHarness(t)
	if err := h.store.DeleteOrganisation(context.Background(), h.org, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := h.do(http.MethodGet, "/systems", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("%d %s", r.Status, r.Body)
	}
}
