package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/storetest"
	"github.com/plugboard/plugboard/internal/telemetry"
)

// tracedStores runs the store contract on a store opened with tracing on, so that every driver
// call goes through the tracing wrapper (internal/telemetry, otelsql): the errors the dialect
// translates, transactions and locks must behave exactly as without it. At the end the spans must
// have been recorded, of the dialect's database system.
func tracedStores(t *testing.T, system string, open func(t *testing.T, tr *telemetry.Tracing) plugboard.Store) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.NewTracing(context.Background(), exp, "")
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T) plugboard.Store { return open(t, tr) })
	if err := tr.Flush(context.Background()); err != nil { // (Shutdown would empty the in-memory exporter)
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) == 0 {
		t.Fatal("no store spans recorded")
	}
	for _, kv := range spans[0].Attributes {
		if kv.Key == "db.system.name" && kv.Value.AsString() == system {
			return
		}
	}
	t.Errorf("span %s has no db.system.name %s: %v", spans[0].Name, system, spans[0].Attributes)
}

func TestSQLiteContractTraced(t *testing.T) {
	tracedStores(t, "sqlite", func(t *testing.T, tr *telemetry.Tracing) plugboard.Store {
		db, err := sqlstore.OpenWith(t.Context(), filepath.Join(t.TempDir(), "plugboard.db"), sqlstore.Options{Tracing: tr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestPostgresContractTraced(t *testing.T) {
	pgtest.BaseURL(t)
	tracedStores(t, "postgresql", func(t *testing.T, tr *telemetry.Tracing) plugboard.Store {
		db, err := sqlstore.OpenWith(t.Context(), pgtest.URL(t), sqlstore.Options{Migrate: true, Tracing: tr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
