// Package webhooks delivers the organisation's events to its webhook endpoints, at least once, signed
// as the Standard Webhooks specification says (https://www.standardwebhooks.com/).
//
// The events table is the outbox: every change writes its event in its own transaction
// (internal/events). A dispatcher turns undispatched events, a bounded batch at a time, into one
// delivery per matching enabled endpoint, in the transaction that marks the events dispatched
// (Store.DispatchEvents). Delivery workers claim due deliveries with a lease written before they
// send (Store.ClaimDeliveries: on PostgreSQL with FOR UPDATE SKIP LOCKED, so every replica can run
// one), send them, record the attempt and write the outcome only if they still hold the lease
// (Store.FinishDelivery). A worker that dies between sending and recording leaves its lease to run
// out, and the delivery is sent again: at most one duplicate per delivery in flight at the crash.
// Failed deliveries are retried on a schedule with jitter (DefaultSchedule, about a day); an
// endpoint whose deliveries keep failing for DisableAfter is disabled with a
// webhook_endpoint.disabled event. There is no ordering guarantee between events.
package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/vault"
)

// SecretPrefix starts every signing secret, as in the Standard Webhooks specification.
const SecretPrefix = "whsec_"

// SecretBytes is how many random bytes a new secret holds (the specification allows 24 to 64).
const SecretBytes = 32

// DefaultSecretOverlap is how long a rotated-out secret keeps signing beside the new one.
const DefaultSecretOverlap = 24 * time.Hour

// NewSecret returns a new signing secret: SecretPrefix and the base64 of SecretBytes random bytes.
func NewSecret() (string, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", plugboard.Internal(fmt.Errorf("webhook secret: %w", err))
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Secrets are an endpoint's signing secrets, as sealed in its record.
type Secrets struct {
	Current string `json:"current"`
	// Previous is the secret rotated out, which signs beside Current until the endpoint's
	// PreviousSecretUntil.
	Previous string `json:"previous,omitempty"`
}

// Seal seals s for the endpoint.
func (s Secrets) Seal(v *vault.Vault, orgID, endpointID ulid.ULID) ([]byte, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, plugboard.Internal(err)
	}
	defer clear(raw)
	return v.SealWebhookSecrets(orgID, endpointID, raw)
}

// OpenSecrets opens an endpoint's sealed secrets.
func OpenSecrets(v *vault.Vault, e *plugboard.WebhookEndpoint) (Secrets, error) {
	raw, err := v.OpenWebhookSecrets(e.OrganisationID, e.ID, e.Sealed)
	if err != nil {
		return Secrets{}, err
	}
	defer clear(raw)
	var s Secrets
	if err := json.Unmarshal(raw, &s); err != nil || s.Current == "" {
		// The error names no part of the value.
		return Secrets{}, plugboard.Internal(fmt.Errorf("webhook endpoint %s: sealed secrets are malformed", e.ID))
	}
	return s, nil
}

// Signing returns the secrets that sign at now: the current one, and the previous one during the
// overlap after a rotation.
func (s Secrets) Signing(e *plugboard.WebhookEndpoint, now time.Time) []string {
	out := []string{s.Current}
	if s.Previous != "" && e.PreviousSecretUntil != nil && now.Before(*e.PreviousSecretUntil) {
		out = append(out, s.Previous)
	}
	return out
}

// key returns the HMAC key of a secret: the base64 after the prefix, decoded.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, plugboard.Internal(fmt.Errorf("webhook secret is not base64"))
	}
	return k, nil
}

// Signature returns the webhook-signature header for a message: "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" per secret, separated by spaces.
func Signature(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	var parts []string
	for _, s := range secrets {
		k, err := key(s)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, k)
		clear(k)
		mac.Write([]byte(msgID + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
		mac.Write(body)
		parts = append(parts, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(parts, " "), nil
}
