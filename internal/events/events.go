// Package events records what happens in an organisation. Each change writes its event with Emit,
// through the store transaction of the change itself (a transactional outbox): an event exists
// exactly when its change committed, on both stores, and the delivery of webhooks reads the same
// table afterwards. Events hold ids and public facts only, never a secret; details that must not be
// readable in the database (an inbound webhook's headers and body) are sealed by internal/vault.
package events

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/vault"
)

// The event types. docs/events.md describes each with an example payload; api/openapi.yaml's
// EventType enum lists the same (a test compares them).
const (
	ConnectionCreated          = "connection.created"
	ConnectionUpdated          = "connection.updated"
	ConnectionDeleted          = "connection.deleted"
	CredentialDeleted          = "credential.deleted"
	CredentialRefreshFailed    = "credential.refresh_failed"
	CredentialRefreshRecovered = "credential.refresh_recovered"
	CredentialExpiring         = "credential.expiring"
	EndUserCreated             = "end_user.created"
	EndUserDeleted             = "end_user.deleted"
	SystemCreated              = "system.created"
	SystemUpdated              = "system.updated"
	SystemDeleted              = "system.deleted"
	TemplateCreated            = "template.created"
	TemplateUpdated            = "template.updated"
	TemplateDeleted            = "template.deleted"
	ActivationCreated          = "activation.created"
	ActivationDeleted          = "activation.deleted"
	WebhookEndpointDisabled    = "webhook_endpoint.disabled"
	InboundReceived            = "inbound.received"
	ConnectSessionCreated      = "connect_session.created"
	ConnectSessionCompleted    = "connect_session.completed"
	ConnectSessionRevoked      = "connect_session.revoked"
)

// Types lists every event type.
var Types = []string{
	ConnectionCreated, ConnectionUpdated, ConnectionDeleted,
	CredentialDeleted, CredentialRefreshFailed, CredentialRefreshRecovered, CredentialExpiring,
	EndUserCreated, EndUserDeleted,
	SystemCreated, SystemUpdated, SystemDeleted,
	TemplateCreated, TemplateUpdated, TemplateDeleted,
	ActivationCreated, ActivationDeleted,
	WebhookEndpointDisabled, InboundReceived,
	ConnectSessionCreated, ConnectSessionCompleted, ConnectSessionRevoked,
}

// Known reports whether t is an event type.
func Known(t string) bool { return slices.Contains(Types, t) }

// Reasons of credential.deleted.
const (
	// ReasonExpired: the credential passed its expiresAt and was deleted by the sweeper.
	ReasonExpired = "expired"
	// ReasonDeleted: a request deleted it (with its connection or end user, or by replacing the
	// connection's credentials).
	ReasonDeleted = "deleted"
)

// System is the actor of changes Plugboard makes on its own (expiry, refreshes, deliveries).
const System = "system"

type actorKey struct{}

// WithActor returns ctx with the actor of the changes made under it: the id of the API key whose
// request it serves.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf returns the actor WithActor set, or System.
func ActorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return System
}

// Log writes events.
type Log struct {
	now func() time.Time
	off bool

	metrics *telemetry.Metrics

	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

// Options configure a Log.
type Options struct {
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Off makes Emit write nothing. Only for measuring what the outbox costs (bench); a server
	// with it set has no events and delivers no webhooks.
	Off bool
	// Metrics counts the events appended, by type; nil counts nothing.
	Metrics *telemetry.Metrics
}

// New returns a Log.
func New(o Options) *Log {
	l := &Log{now: o.Now, off: o.Off, metrics: o.Metrics, entropy: ulid.Monotonic(rand.Reader, 0)}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Emit fills in e's id, time (unless set) and actor (from ctx, unless set) and appends it through
// tx, which must be the transaction of the change e records. The id is a ULID of the event's time,
// strictly increasing within this process, so newest-first lists follow the order of emission.
func (l *Log) Emit(ctx context.Context, tx plugboard.Store, e plugboard.Event) error {
	if l == nil || l.off {
		return nil
	}
	if !Known(e.Type) {
		return plugboard.Internal(fmt.Errorf("events: unknown event type %q", e.Type))
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = l.now()
	}
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	if e.Actor == "" {
		e.Actor = ActorOf(ctx)
	}
	if e.ID == (ulid.ULID{}) {
		id, err := l.newID(e.OccurredAt)
		if err != nil {
			return plugboard.Internal(err)
		}
		e.ID = id
	}
	if err := tx.AppendEvent(ctx, &e); err != nil {
		return err
	}
	l.metrics.EventEmitted(e.Type)
	return nil
}

// EmitConnectionDeleted records a deleted connection through tx, the transaction that deleted it:
// each of its credentials (credential.deleted, reason deleted), then itself (connection.deleted).
// Every path that deletes a connection (the API, an end user's or activation's deletion, the
// connect page's disconnect) records it with this one function.
func (l *Log) EmitConnectionDeleted(ctx context.Context, tx plugboard.Store, orgID ulid.ULID, d plugboard.DeletedConnection) error {
	for _, id := range d.CredentialIDs {
		if err := l.Emit(ctx, tx, CredentialDeletedEvent(orgID, d.ID, d.EndUserID, id, ReasonDeleted)); err != nil {
			return err
		}
	}
	return l.Emit(ctx, tx, plugboard.Event{Type: ConnectionDeleted, OrganisationID: orgID, ConnectionID: d.ID, EndUserID: d.EndUserID})
}

// NewID returns an event id for the time t, for callers that must know the id before Emit (to seal
// details bound to it).
func (l *Log) NewID(t time.Time) (ulid.ULID, error) { return l.newID(t) }

func (l *Log) newID(t time.Time) (ulid.ULID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ulid.New(ulid.Timestamp(t), l.entropy)
}

// Now returns the Log's current time.
func (l *Log) Now() time.Time { return l.now() }

// ToAPI renders an event as the API and webhook deliveries show it. Sealed details (a JSON object)
// are opened with v and merged into data; an event with sealed details cannot be rendered without v.
func ToAPI(e *plugboard.Event, v *vault.Vault) (api.Event, error) {
	out := api.Event{
		Id: e.ID.String(), Type: api.EventType(e.Type), OccurredAt: e.OccurredAt.UTC(),
		OrganisationId: e.OrganisationID.String(), Actor: e.Actor, Reason: e.Reason,
		ConnectionId: idString(e.ConnectionID), CredentialId: idString(e.CredentialID),
		EndUserId: idString(e.EndUserID), SystemId: idString(e.SystemID), TemplateId: idString(e.TemplateID),
		WebhookEndpointId: idString(e.WebhookEndpointID), AuthSchemeConfigId: e.AuthSchemeConfigID,
	}
	var data map[string]any
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, &data); err != nil {
			return api.Event{}, plugboard.Internal(fmt.Errorf("event %s: data: %w", e.ID, err))
		}
	}
	if len(e.Sealed) > 0 {
		if v == nil {
			return api.Event{}, plugboard.Internal(fmt.Errorf("event %s has sealed details and no vault to open them", e.ID))
		}
		plain, err := v.OpenEvent(e.OrganisationID, e.ID, e.Sealed)
		if err != nil {
			return api.Event{}, err
		}
		var details map[string]any
		if err := json.Unmarshal(plain, &details); err != nil {
			return api.Event{}, plugboard.Internal(fmt.Errorf("event %s: sealed details: %w", e.ID, err))
		}
		if data == nil {
			data = map[string]any{}
		}
		for k, val := range details {
			data[k] = val
		}
	}
	if data != nil {
		out.Data = &data
	}
	return out, nil
}

func idString(id ulid.ULID) string {
	if id == (ulid.ULID{}) {
		return ""
	}
	return id.String()
}
