package events_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/vault"
)

// The spec's EventType enum and the package's Types are the same list.
func TestTypesAreTheSpecs(t *testing.T) {
	spec, err := api.Spec()
	if err != nil {
		t.Fatal(err)
	}
	var inSpec []string
	for _, v := range spec.Components.Schemas["EventType"].Value.Enum {
		inSpec = append(inSpec, v.(string))
	}
	if !slices.Equal(inSpec, events.Types) {
		t.Fatalf("spec EventType %v\npackage Types %v", inSpec, events.Types)
	}
}

// recorder is a plugboard.Store that only records appended events (Emit's only call).
type recorder struct {
	plugboard.Store
	got []plugboard.Event
}

func (r *recorder) AppendEvent(_ context.Context, e *plugboard.Event) error {
	r.got = append(r.got, *e)
	return nil
}

func TestEmitFillsIDTimeAndActor(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	log := events.New(events.Options{Now: func() time.Time { return now }})
	r := &recorder{}
	ctx := context.Background()
	must(t, log.Emit(ctx, r, plugboard.Event{Type: events.SystemCreated}))
	must(t, log.Emit(events.WithActor(ctx, "01KEY"), r, plugboard.Event{Type: events.SystemDeleted}))
	if r.got[0].Actor != events.System || r.got[1].Actor != "01KEY" {
		t.Fatalf("actors %q %q", r.got[0].Actor, r.got[1].Actor)
	}
	if !r.got[0].OccurredAt.Equal(now.Truncate(time.Microsecond)) || r.got[0].ID.Time() != ulid.Timestamp(now) {
		t.Fatalf("time %v id %v", r.got[0].OccurredAt, r.got[0].ID)
	}
	if r.got[1].ID.Compare(r.got[0].ID) <= 0 {
		t.Fatal("ids of one millisecond do not increase")
	}
	if err := log.Emit(ctx, r, plugboard.Event{Type: "connection.renamed"}); !plugboard.IsCode(err, plugboard.EInternal) {
		t.Fatalf("unknown type: %v", err)
	}
	off := events.New(events.Options{Off: true})
	must(t, off.Emit(ctx, r, plugboard.Event{Type: events.SystemCreated}))
	if len(r.got) != 2 {
		t.Fatalf("an Off log appended: %d", len(r.got))
	}
}

func TestToAPIOpensSealedDetails(t *testing.T) {
	v, err := vault.Parse(vault.NewKey())
	must(t, err)
	org, id := ulid.Make(), ulid.Make()
	sealed, err := v.SealEvent(org, id, []byte(`{"inbound":{"body":"hello"}}`))
	must(t, err)
	e := &plugboard.Event{ID: id, OrganisationID: org, Type: events.InboundReceived, Actor: events.System,
		OccurredAt: time.Now(), ConnectionID: ulid.Make(), Data: []byte(`{"size":5}`), Sealed: sealed}
	out, err := events.ToAPI(e, v)
	must(t, err)
	if out.ConnectionId != e.ConnectionID.String() || out.CredentialId != "" || out.Data == nil ||
		(*out.Data)["size"] != float64(5) || (*out.Data)["inbound"].(map[string]any)["body"] != "hello" {
		t.Fatalf("%+v", out)
	}
	if _, err := events.ToAPI(e, nil); err == nil {
		t.Fatal("sealed details rendered without a vault")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
