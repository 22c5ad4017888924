package events_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/vault"
)

// TestInboundDetails: the sealed details of an inbound.received event render, through ToAPI, as
// data.inbound: text bodies as text, others as base64, cut at the limit on a character boundary.
func TestInboundDetails(t *testing.T) {
	v, err := vault.Parse(vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	render := func(body []byte, limit int) events.InboundDelivery {
		t.Helper()
		h := http.Header{"X-Hub-Signature-256": {"sha256=00"}}
		plain, err := events.InboundDetails("POST", h, body, limit)
		if err != nil {
			t.Fatal(err)
		}
		e := &plugboard.Event{ID: ulid.Make(), OrganisationID: ulid.Make(), Type: events.InboundReceived, Actor: events.System}
		if e.Sealed, err = v.SealEvent(e.OrganisationID, e.ID, plain); err != nil {
			t.Fatal(err)
		}
		out, err := events.ToAPI(e, v)
		if err != nil || out.Data == nil {
			t.Fatalf("ToAPI: %+v %v", out, err)
		}
		raw, _ := json.Marshal((*out.Data)["inbound"])
		var d events.InboundDelivery
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		if d.Method != "POST" || d.Headers["X-Hub-Signature-256"][0] != "sha256=00" || d.Size != int64(len(body)) {
			t.Errorf("rendered %+v", d)
		}
		return d
	}
	for name, tc := range map[string]struct {
		body      []byte
		limit     int
		want, enc string
		truncated bool
	}{
		"text":            {[]byte(`{"a":"ü"}`), 100, `{"a":"ü"}`, "utf-8", false},
		"at the limit":    {[]byte("abcd"), 4, "abcd", "utf-8", false},
		"cut":             {[]byte("abcdef"), 4, "abcd", "utf-8", true},
		"cut in ü":        {[]byte("abcü"), 4, "abc", "utf-8", true},
		"cut in a 4-byte": {[]byte("a😀"), 3, "a", "utf-8", true},
		"empty":           {nil, 10, "", "utf-8", false},
		"binary":          {[]byte{0xff, 0xfe, 'a'}, 10, base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 'a'}), "base64", false},
		"binary cut":      {[]byte{'a', 0xff, 0xfe, 'b'}, 3, base64.StdEncoding.EncodeToString([]byte{'a', 0xff, 0xfe}), "base64", true},
		"nothing kept":    {[]byte("abc"), 0, "", "utf-8", true},
	} {
		d := render(tc.body, tc.limit)
		if d.Body != tc.want || d.BodyEncoding != tc.enc || d.Truncated != tc.truncated {
			t.Errorf("%s: body %q (%s, truncated %v), want %q (%s, truncated %v)", name, d.Body, d.BodyEncoding, d.Truncated,
				tc.want, tc.enc, tc.truncated)
		}
	}
}
