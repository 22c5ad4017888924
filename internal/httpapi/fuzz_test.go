package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/httpapi"
)

// templatePlaceholder in a fuzz input is replaced by a real template id, so seeds can be valid
// requests and the fuzzer explores around them rather than only around "template not found".
const templatePlaceholder = "TPL_ID_PLACEHOLDER"

// FuzzCreateConnection sends arbitrary bodies to CreateConnection on a real SQLite store. Whatever
// the body, the answer is never a 5xx and always matches the contract (an Error for failures).
// Seeds live in testdata/fuzz/FuzzCreateConnection; run with
//
//	go test -run '^$' -fuzz FuzzCreateConnection -fuzztime 60s ./internal/httpapi/
func FuzzCreateConnection(f *testing.F) {
	h := newHarness(f)
	fx := h.fixture()
	tplID := fx.templates["api-key"]
	// A handler without the validating wrapper: inside the fuzz function, failures must be
	// reported on the iteration's own *testing.T.
	handler := httpapi.New(httpapi.Config{Store: h.store, Keys: h.keys, Logger: slog.New(slog.DiscardHandler)})
	path := "/o/" + h.org.String() + "/connections"

	f.Add([]byte(`{"connectionTemplateId":"` + templatePlaceholder + `","connection":{"name":"a","credentials":[{"id":"00000000000000000000000000","authSchemeConfig":{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}},"credential":{"id":"00000000000000000000000000","organisationId":"00000000000000000000000000","type":"string","data":{"string":{"value":"v"}}}}]}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.ReplaceAll(body, []byte(templatePlaceholder), []byte(tplID))
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.key)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		check := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, io.NopCloser(bytes.NewReader(body)))
		if err := apitest.ValidateResponse(check, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("status %d response does not match the contract: %v\nbody: %q\nresponse: %s", rec.Code, err, body, rec.Body.Bytes())
		}
	})
}
