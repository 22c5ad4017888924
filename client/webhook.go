package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultWebhookTolerance is how far a delivery's webhook-timestamp may be from the receiver's
// clock, either way, for [VerifyWebhook] to accept it (as the Standard Webhooks libraries do).
const DefaultWebhookTolerance = 5 * time.Minute

// Errors of [VerifyWebhook]; the error it returns wraps one of them.
var (
	// ErrWebhookHeaders: webhook-id, webhook-timestamp or webhook-signature is missing or malformed.
	ErrWebhookHeaders = errors.New("webhook: missing or malformed webhook headers")
	// ErrWebhookTimestamp: the delivery's timestamp is outside the tolerance (a replay, or a clock
	// far off).
	ErrWebhookTimestamp = errors.New("webhook: timestamp outside the tolerance")
	// ErrWebhookSignature: no signature of the delivery matches the secret.
	ErrWebhookSignature = errors.New("webhook: no matching signature")
)

// VerifyWebhook checks that a webhook delivery came from Plugboard, as the Standard Webhooks
// specification says: one of the "v1,<signature>" entries of the webhook-signature header must be
// the base64 HMAC-SHA256, keyed with the secret (the base64 after "whsec_", decoded), of
// "<webhook-id>.<webhook-timestamp>.<body>", and webhook-timestamp (Unix seconds) must be within
// tolerance of now (DefaultWebhookTolerance when tolerance is zero). Pass the body exactly as
// received, before any JSON decoding. During a secret rotation's overlap deliveries carry a
// signature per secret, so either secret verifies them. The webhook-id is the event's id: use it to
// drop duplicates, since a delivery may arrive more than once.
//
//	body, _ := io.ReadAll(r.Body)
//	if err := client.VerifyWebhook(secret, r.Header, body, 0, time.Now()); err != nil {
//		http.Error(w, "bad signature", http.StatusUnauthorized)
//		return
//	}
func VerifyWebhook(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return errors.New("webhook: the secret is not whsec_ followed by base64")
	}
	id, ts, sigs := header.Get("webhook-id"), header.Get("webhook-timestamp"), header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrWebhookHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not Unix seconds", ErrWebhookHeaders)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrWebhookTimestamp
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, entry := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrWebhookSignature
}
