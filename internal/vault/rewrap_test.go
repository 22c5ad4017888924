package vault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

// stores runs fn on a fresh SQLite store and, when PLUGBOARD_TEST_DATABASE_URL is set, on a fresh
// PostgreSQL schema.
func stores(t *testing.T, fn func(t *testing.T, st plugboard.Store)) {
	urls := map[string]func(t *testing.T) string{"sqlite": func(t *testing.T) string { return filepath.Join(t.TempDir(), "p.db") }}
	if os.Getenv(pgtest.EnvURL) != "" {
		urls["postgres"] = func(t *testing.T) string { return pgtest.URL(t) }
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			st, err := sqlstore.OpenWith(t.Context(), url(t), sqlstore.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, st)
		})
	}
}

// seed stores n credentials, one auth scheme config and one OAuth state, all sealed by v, and
// returns the credentials' ids.
func seed(t *testing.T, st plugboard.Store, v *vault.Vault, n int) (ulid.ULID, []ulid.ULID) {
	t.Helper()
	ctx := t.Context()
	org := ulid.Make()
	must(t, st.CreateOrganisation(ctx, &plugboard.Organisation{ID: org, Name: "o"}))
	var ids []ulid.ULID
	for i := range n {
		id := ulid.Make()
		sealed, err := v.SealCredential(org, id, []byte(fmt.Sprintf("secret-%d", i)))
		must(t, err)
		must(t, st.CreateCredential(ctx, &plugboard.Credential{ID: id, OrganisationID: org, Type: "string", Name: "c",
			Public: json.RawMessage(`{}`), Sealed: sealed}))
		ids = append(ids, id)
	}
	sys := &plugboard.System{ID: ulid.Make(), OrganisationID: org, Name: "s", Domain: "s"}
	cfgSealed, err := v.SealConfig(org, sys.ID, "oauth1", []byte("consumer-secret"))
	must(t, err)
	sys.AuthSchemeConfigs = []plugboard.AuthSchemeConfig{{ID: "oauth1", Type: "oauth1", Config: json.RawMessage(`{}`), Sealed: cfgSealed}}
	must(t, st.CreateSystem(ctx, sys))
	stateSealed, err := v.SealState(org, "state", []byte("verifier"))
	must(t, err)
	now := time.Now()
	must(t, st.CreateOAuthState(ctx, &plugboard.OAuthState{ID: "state", OrganisationID: org, Kind: "oauth2", SystemID: sys.ID,
		ConfigID: "oauth1", Sealed: stateSealed, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	return org, ids
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// byKey sums the store's counts per key id.
func byKey(t *testing.T, st plugboard.Store) map[string]int {
	t.Helper()
	counts, err := st.CountSealed(t.Context())
	must(t, err)
	out := map[string]int{}
	for _, c := range counts {
		out[c.KeyID] += c.Count
	}
	return out
}

// TestRewrapResumesAndRacesSafely: a rewrap stopped after a batch resumes where it left off; two
// rewraps at once (two replicas, or the command beside a replica) re-seal each value once between
// them; every value still opens with its own binding afterwards.
func TestRewrapResumesAndRacesSafely(t *testing.T) {
	stores(t, func(t *testing.T, st plugboard.Store) {
		oldKey, newKey := vault.NewKey(), vault.NewKey()
		old, _ := vault.Parse(oldKey)
		org, ids := seed(t, st, old, 40)
		both, err := vault.Parse(newKey + "," + oldKey)
		must(t, err)

		// Stopped after the first batch of 5.
		ctx, cancel := context.WithCancel(t.Context())
		res, err := both.Rewrap(ctx, st, vault.RewrapOptions{Batch: 5, Rate: -1, Progress: func(vault.RewrapResult) { cancel() }})
		if res.Rewrapped != 5 {
			t.Fatalf("stopped rewrap: %+v %v", res, err)
		}
		if got := byKey(t, st); got[both.PrimaryKeyID()] != 5 || got[old.PrimaryKeyID()] != 37 {
			t.Fatalf("after a stopped rewrap: %v", got)
		}

		// Two at once finish the rest, each value once.
		var wg sync.WaitGroup
		results := make([]vault.RewrapResult, 2)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				results[i], err = both.Rewrap(t.Context(), st, vault.RewrapOptions{Batch: 3, Rate: -1})
				if err != nil {
					t.Errorf("rewrap %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if n := results[0].Rewrapped + results[1].Rewrapped; n != 37 {
			t.Errorf("the two rewraps re-sealed %d values between them, want 37 (%+v)", n, results)
		}
		if got := byKey(t, st); len(got) != 1 || got[both.PrimaryKeyID()] != 42 {
			t.Fatalf("after rewrap: %v", got)
		}
		// The new key alone opens everything, each value only where it belongs.
		newOnly, _ := vault.Parse(newKey)
		for i, id := range ids {
			c, err := st.GetCredential(t.Context(), org, id)
			must(t, err)
			plain, err := newOnly.OpenCredential(org, id, c.Sealed)
			if err != nil || string(plain) != fmt.Sprintf("secret-%d", i) {
				t.Fatalf("credential %d after rewrap: %q %v", i, plain, err)
			}
		}
		// Nothing left: a rewrap again does nothing.
		if res, err := both.Rewrap(t.Context(), st, vault.RewrapOptions{}); err != nil || res.Rewrapped+res.Changed+res.Failed != 0 {
			t.Errorf("second rewrap: %+v %v", res, err)
		}
	})
}

// TestRewrapIsRateLimited: 30 values at 100 per second take about 0.3 s.
func TestRewrapIsRateLimited(t *testing.T) {
	stores(t, func(t *testing.T, st plugboard.Store) {
		oldKey, newKey := vault.NewKey(), vault.NewKey()
		old, _ := vault.Parse(oldKey)
		seed(t, st, old, 28)
		both, _ := vault.Parse(newKey + "," + oldKey)
		start := time.Now()
		res, err := both.Rewrap(t.Context(), st, vault.RewrapOptions{Batch: 10, Rate: 100})
		if err != nil || res.Rewrapped != 30 {
			t.Fatalf("%+v %v", res, err)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("30 values at 100/s took %v", d)
		}
	})
}

// TestRewrapReportsWhatItCannotOpen: values under a key the vault lacks are counted and named by
// key id; the others are re-sealed anyway.
func TestRewrapReportsWhatItCannotOpen(t *testing.T) {
	stores(t, func(t *testing.T, st plugboard.Store) {
		lostKey, newKey := vault.NewKey(), vault.NewKey()
		lost, _ := vault.Parse(lostKey)
		seed(t, st, lost, 2)
		v, _ := vault.Parse(newKey)
		res, err := v.Rewrap(t.Context(), st, vault.RewrapOptions{})
		if err == nil || res.Failed != 4 || len(res.FailedKeyIDs) != 1 || res.FailedKeyIDs[0] != lost.PrimaryKeyID() {
			t.Fatalf("%+v %v", res, err)
		}
		if msg := err.Error(); !strings.Contains(msg, lost.PrimaryKeyID()) || strings.Contains(msg, lostKey) || strings.Contains(msg, newKey) {
			t.Errorf("error: %s", msg)
		}
	})
}

// TestBackgroundRewrapFollowsTheRequest: replicas rewrap only when asked, and only under the key
// that was asked for, so a replica still sealing with the old key does not undo the work.
func TestBackgroundRewrapFollowsTheRequest(t *testing.T) {
	stores(t, func(t *testing.T, st plugboard.Store) {
		oldKey, newKey := vault.NewKey(), vault.NewKey()
		old, _ := vault.Parse(oldKey + "," + newKey) // a replica not yet switched
		seed(t, st, old, 10)
		switched, _ := vault.Parse(newKey + "," + oldKey)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		cfg := vault.RewrapperConfig{Interval: 10 * time.Millisecond, RewrapOptions: vault.RewrapOptions{Rate: -1}}
		go old.RunRewrapper(ctx, st, cfg)
		go switched.RunRewrapper(ctx, st, cfg)

		time.Sleep(100 * time.Millisecond)
		if got := byKey(t, st); got[old.PrimaryKeyID()] != 12 {
			t.Fatalf("rewrapped without a request: %v", got)
		}
		must(t, st.RequestRewrap(t.Context(), switched.PrimaryKeyID(), time.Now()))
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := byKey(t, st)
			if len(got) == 1 && got[switched.PrimaryKeyID()] == 12 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("background rewrap did not finish: %v", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Stays done: the replica with the old key first never re-seals back.
		time.Sleep(100 * time.Millisecond)
		if got := byKey(t, st); len(got) != 1 || got[switched.PrimaryKeyID()] != 12 {
			t.Errorf("values moved back: %v", got)
		}
	})
}
