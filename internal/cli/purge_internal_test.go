package cli

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// TestPurgeRoundWaitsForTheGracePeriod drives the background purge's round with a chosen clock:
// a deleted organisation stays until its grace period has passed, then goes; live ones stay.
func TestPurgeRoundWaitsForTheGracePeriod(t *testing.T) {
	ctx := t.Context()
	store, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "plugboard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	deleted, live := ulid.Make(), ulid.Make()
	for _, id := range []ulid.ULID{deleted, live} {
		if err := store.CreateOrganisation(ctx, &plugboard.Organisation{ID: id, Name: "o"}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := store.DeleteOrganisation(ctx, deleted, at); err != nil {
		t.Fatal(err)
	}
	const grace = 48 * time.Hour
	logger := slog.New(slog.DiscardHandler)

	purgeRound(ctx, store, at.Add(grace-time.Microsecond), grace, logger)
	if _, err := store.GetOrganisation(ctx, deleted); err != nil {
		t.Fatalf("purged before the grace period ended: %v", err)
	}
	purgeRound(ctx, store, at.Add(grace), grace, logger)
	if _, err := store.GetOrganisation(ctx, deleted); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("not purged once the grace period ended: %v", err)
	}
	if _, err := store.GetOrganisation(ctx, live); err != nil {
		t.Errorf("a live organisation was purged: %v", err)
	}
}
