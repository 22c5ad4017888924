package events_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// openStore opens an SQLite file, or a PostgreSQL schema (skipping, naming the variable, when
// PostgreSQL tests are off).
func openStore(t *testing.T, kind string) plugboard.Store {
	url := filepath.Join(t.TempDir(), "p.db")
	if kind == "postgres" {
		url = pgtest.URL(t)
	}
	st, err := sqlstore.OpenWith(context.Background(), url, sqlstore.Options{Migrate: true})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// Pruning deletes exactly the events older than the retention, across organisations, in batches.
func TestPruneKeepsTheRetention(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			st := openStore(t, kind)
			ctx := context.Background()
			now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
			clock := now
			log := events.New(events.Options{Now: func() time.Time { return clock }})
			var orgs []ulid.ULID
			for range 2 {
				org := ulid.Make()
				must(t, st.CreateOrganisation(ctx, &plugboard.Organisation{ID: org, Name: "o", CreatedAt: now}))
				orgs = append(orgs, org)
			}
			// 25 events a day apart in each organisation, the newest now.
			for d := 24; d >= 0; d-- {
				clock = now.Add(-time.Duration(d) * 24 * time.Hour)
				for _, org := range orgs {
					must(t, log.Emit(ctx, st, plugboard.Event{Type: events.SystemUpdated, OrganisationID: org}))
				}
			}
			n, err := events.Prune(ctx, st, events.PrunerConfig{Retention: 10*24*time.Hour - time.Minute, Batch: 4,
				Now: func() time.Time { return now }})
			must(t, err)
			if n != 2*15 { // days 10 to 24
				t.Fatalf("pruned %d, want 30", n)
			}
			for _, org := range orgs {
				page, err := st.ListEvents(ctx, org, plugboard.EventFilter{}, plugboard.PageRequest{First: 100})
				must(t, err)
				if page.TotalCount != 10 || page.Items[9].OccurredAt.Before(now.Add(-10*24*time.Hour)) {
					t.Fatalf("kept %d, oldest %v", page.TotalCount, page.Items[len(page.Items)-1].OccurredAt)
				}
			}
		})
	}
}
