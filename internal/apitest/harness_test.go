package apitest

import (
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/testlog"
)

// TestNewOrganisation: the store opened for the test holds the organisation, and the key returned
// is one of its keys, with every scope, whose secret matches the stored hash.
func TestNewOrganisation(t *testing.T) {
	store := OpenStore(t)
	if (store.Path == "") == (store.URL == "") {
		t.Fatalf("store lives at Path %q and URL %q, want exactly one", store.Path, store.URL)
	}
	org, key := NewOrganisation(t, store, "acme")
	got, err := store.GetOrganisation(t.Context(), org)
	if err != nil || got.Name != "acme" {
		t.Fatalf("organisation: %+v, %v", got, err)
	}
	for _, k := range []string{key, NewKey(t, store, org)} {
		keyOrg, id, secret, err := apikey.Parse(k)
		if err != nil || keyOrg != org {
			t.Fatalf("key of organisation %s: %v", keyOrg, err)
		}
		stored, err := store.GetAPIKey(t.Context(), org, id)
		if err != nil {
			t.Fatal(err)
		}
		if !apikey.Verify(secret, stored.Hash) || len(stored.Scopes) != 0 {
			t.Errorf("stored key %+v does not match it or has scopes", stored)
		}
	}
}

// TestLoggerWritesDebug: debug lines reach the log, so secret searches cover them.
func TestLoggerWritesDebug(t *testing.T) {
	var logs testlog.Buffer
	Logger(&logs).Debug("detail", "k", "v")
	if !strings.Contains(logs.String(), "level=DEBUG") || !strings.Contains(logs.String(), "k=v") {
		t.Errorf("log: %q", logs.String())
	}
}
