package events

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"unicode/utf8"
)

// InboundDelivery is what an inbound.received event shows of the delivery, as data.inbound; it
// is sealed at rest (Event.Sealed holds InboundDetails' JSON) and opened by ToAPI. Headers are
// the request's, less hop-by-hop ones, cookies and Authorization; Body is the delivery's body,
// or its first bytes when Truncated.
type InboundDelivery struct {
	Method  string              `json:"method"`
	Headers map[string][]string `json:"headers"`
	// Body is the body as text when BodyEncoding is "utf-8", or its standard base64 when the
	// bytes are not valid UTF-8 ("base64").
	Body         string `json:"body"`
	BodyEncoding string `json:"bodyEncoding"`
	// Truncated is true when Body holds only the first bytes of the body; Size is the length of
	// the whole body in bytes.
	Truncated bool  `json:"truncated"`
	Size      int64 `json:"size"`
}

// Body encodings of InboundDelivery.
const (
	BodyUTF8   = "utf-8"
	BodyBase64 = "base64"
)

// InboundDetails returns the sealed details of an inbound.received event: {"inbound": ...} as
// JSON, with at most limit bytes of body (cut back to a character boundary when the body is text,
// so a cut does not turn text into base64).
func InboundDetails(method string, headers http.Header, body []byte, limit int) ([]byte, error) {
	d := InboundDelivery{Method: method, Headers: map[string][]string(headers), Size: int64(len(body))}
	if d.Headers == nil {
		d.Headers = map[string][]string{}
	}
	kept := body
	if limit >= 0 && len(body) > limit {
		kept, d.Truncated = body[:limit], true
		cut := limit
		for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(body[cut]); i++ {
			cut--
		}
		if utf8.Valid(body[:cut]) {
			kept = body[:cut]
		}
	}
	if utf8.Valid(kept) {
		d.Body, d.BodyEncoding = string(kept), BodyUTF8
	} else {
		d.Body, d.BodyEncoding = base64.StdEncoding.EncodeToString(kept), BodyBase64
	}
	return json.Marshal(map[string]InboundDelivery{"inbound": d})
}
