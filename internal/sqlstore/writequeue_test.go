package sqlstore_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// TestSQLiteWriteQueue holds SQLite's one writer in a transaction and checks what waits behind
// it: reads go on (the read pool), a write that waits past SQLiteWriteWait is EUnavailable, and
// writes run again once the writer is released.
func TestSQLiteWriteQueue(t *testing.T) {
	ctx := t.Context()
	db, err := sqlstore.OpenWith(ctx, filepath.Join(t.TempDir(), "plugboard.db"), sqlstore.Options{SQLiteWriteWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	org := &plugboard.Organisation{ID: ulid.Make(), Name: "queued"}
	if err := db.CreateOrganisation(ctx, org); err != nil {
		t.Fatal(err)
	}

	holding, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := db.InTx(ctx, func(tx plugboard.Store) error {
			close(holding)
			<-release
			return nil
		})
		if err != nil {
			t.Errorf("holding transaction: %v", err)
		}
	}()
	<-holding

	if _, err := db.GetOrganisation(ctx, org.ID); err != nil {
		t.Errorf("a read while the writer is held: %v", err)
	}
	err = db.CreateOrganisation(ctx, &plugboard.Organisation{ID: ulid.Make(), Name: "too late"})
	if plugboard.ErrorCode(err) != plugboard.EUnavailable {
		t.Errorf("a write waiting past SQLiteWriteWait: %v, want %s", err, plugboard.EUnavailable)
	}
	close(release)
	wg.Wait()
	if err := db.CreateOrganisation(ctx, &plugboard.Organisation{ID: ulid.Make(), Name: "in turn"}); err != nil {
		t.Errorf("a write after the writer is free: %v", err)
	}
}

// TestSQLiteReadPoolRefusesWrites checks that the read pool cannot write: a write routed there by
// mistake fails instead of contending with the writer.
func TestSQLiteReadPoolRefusesWrites(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "plugboard.db"))
	if err := sqlstore.WriteOnReadPool(t.Context(), db); err == nil {
		t.Fatal("the read pool wrote")
	}
}

// TestSQLiteMetricsBesideTheWriter checks what the store metrics read on an SQLite file: the
// pending deliveries are counted on the read pool, so a scrape neither waits for a held writer nor
// takes its one connection from the writers queued for it, and the pool figures cover both pools.
func TestSQLiteMetricsBesideTheWriter(t *testing.T) {
	ctx := t.Context()
	db, err := sqlstore.OpenWith(ctx, filepath.Join(t.TempDir(), "plugboard.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if got, want := db.Stats().MaxOpenConnections, 1+sqlstore.SQLiteReaders; got != want {
		t.Errorf("Stats().MaxOpenConnections = %d, want %d (the writer and the read pool)", got, want)
	}

	holding, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := db.InTx(ctx, func(tx plugboard.Store) error {
			close(holding)
			<-release
			return nil
		})
		if err != nil {
			t.Errorf("holding transaction: %v", err)
		}
	}()
	<-holding
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = db.PendingDeliveries(sctx)
	cancel()
	close(release)
	wg.Wait()
	if err != nil {
		t.Errorf("PendingDeliveries while the writer is held: %v", err)
	}
}
