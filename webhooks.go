package plugboard

import (
	"time"

	"github.com/oklog/ulid/v2"
)

// WebhookEndpoint is a URL that receives the organisation's events (internal/webhooks delivers
// them). Its signing secrets are sealed by internal/vault and never leave the store in clear.
type WebhookEndpoint struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	URL            string
	Description    string
	// EventTypes lists the event types delivered; empty means every type.
	EventTypes []string
	// Enabled is false when a request disabled the endpoint or deliveries failed for too long
	// (then DisabledAt and DisabledReason say when and why).
	Enabled bool
	// Sealed holds the signing secrets (the current one, and the previous one during a rotation's
	// overlap), sealed by internal/vault.
	Sealed []byte
	// PreviousSecretUntil is when the previous secret stops signing; nil when there is none.
	PreviousSecretUntil *time.Time
	// FailingSince is the time of the first failed attempt since the last delivered one; nil while
	// deliveries succeed.
	FailingSince   *time.Time
	DisabledAt     *time.Time
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Matches reports whether the endpoint wants events of type t.
func (e *WebhookEndpoint) Matches(t string) bool {
	if len(e.EventTypes) == 0 {
		return true
	}
	for _, x := range e.EventTypes {
		if x == t {
			return true
		}
	}
	return false
}

// States of a webhook delivery.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// WebhookDelivery is the delivery of one event to one endpoint, tried until it succeeds or its
// retry schedule runs out.
type WebhookDelivery struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	EndpointID     ulid.ULID
	EventID        ulid.ULID
	// State is DeliveryPending, DeliveryDelivered or DeliveryFailed.
	State string
	// Attempts counts the attempts made.
	Attempts int
	// NextAttemptAt is when a pending delivery is due; while a worker holds it, the end of its lease.
	NextAttemptAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// WebhookAttempt records one request sent (or tried) for a delivery.
type WebhookAttempt struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	DeliveryID     ulid.ULID
	EndpointID     ulid.ULID
	EventID        ulid.ULID
	AttemptedAt    time.Time
	// StatusCode is the answer's HTTP status, 0 when no answer came.
	StatusCode int
	Latency    time.Duration
	// Response is the start of the answer's body (at most a KiB).
	Response string
	// ErrorCode is "" for a 2xx answer, else why the attempt failed (for example "http_status",
	// "upstream_timeout", "upstream_refused").
	ErrorCode string
}

// AttemptFilter selects the attempts of one endpoint or of one event (or both).
type AttemptFilter struct {
	EndpointID ulid.ULID
	EventID    ulid.ULID
}

// DeliveryOutcome is what a worker writes back after an attempt: the delivery's new state, and
// when it is due again if it stays pending.
type DeliveryOutcome struct {
	State         string
	NextAttemptAt time.Time
}
