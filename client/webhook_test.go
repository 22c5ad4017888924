package client_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/plugboard/plugboard/client"
)

// sign follows the Standard Webhooks specification's text, independently of Plugboard's signer.
func sign(secret, id string, ts int64, body string) string {
	key, _ := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifyWebhook(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	now := time.Unix(1_750_000_000, 0)
	body := `{"id":"01J0000000000000000000000","type":"connection.created"}`
	headers := func(id string, ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", sig)
		return h
	}
	id := "01J0000000000000000000000"
	good := sign(secret, id, now.Unix(), body)
	cases := []struct {
		name   string
		secret string
		h      http.Header
		body   string
		want   error
	}{
		{"good", secret, headers(id, now.Unix(), good), body, nil},
		{"within the tolerance", secret, headers(id, now.Unix()-299, sign(secret, id, now.Unix()-299, body)), body, nil},
		{"two signatures, the second matching (rotation)", secret,
			headers(id, now.Unix(), sign(other, id, now.Unix(), body)+" "+good), body, nil},
		{"previous secret during the overlap", other,
			headers(id, now.Unix(), good+" "+sign(other, id, now.Unix(), body)), body, nil},
		{"tampered body", secret, headers(id, now.Unix(), good), body + " ", client.ErrWebhookSignature},
		{"other id", secret, headers("01J0000000000000000000001", now.Unix(), good), body, client.ErrWebhookSignature},
		{"wrong secret", other, headers(id, now.Unix(), good), body, client.ErrWebhookSignature},
		{"old (replayed)", secret, headers(id, now.Unix()-301, sign(secret, id, now.Unix()-301, body)), body, client.ErrWebhookTimestamp},
		{"from the future", secret, headers(id, now.Unix()+301, sign(secret, id, now.Unix()+301, body)), body, client.ErrWebhookTimestamp},
		{"unknown version only", secret, headers(id, now.Unix(), "v2,"+good[3:]), body, client.ErrWebhookSignature},
		{"no signature", secret, headers(id, now.Unix(), ""), body, client.ErrWebhookHeaders},
		{"bad timestamp", secret, http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {"soon"}, "Webhook-Signature": {good}}, body, client.ErrWebhookHeaders},
	}
	for _, c := range cases {
		err := client.VerifyWebhook(c.secret, c.h, []byte(c.body), 0, now)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := client.VerifyWebhook(secret, headers(id, now.Unix()-3600, sign(secret, id, now.Unix()-3600, body)), []byte(body), 2*time.Hour, now); err != nil {
		t.Errorf("a wider tolerance: %v", err)
	}
	if err := client.VerifyWebhook("whsec_%%%", headers(id, now.Unix(), good), []byte(body), 0, now); err == nil {
		t.Error("a malformed secret verified")
	}
}
