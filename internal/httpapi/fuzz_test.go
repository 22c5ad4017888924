package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
)

// "TPL_<config id>" in a fuzz input is replaced by the id of the fixture's template offering that
// config, so seeds can be valid requests of every credential type and the fuzzer explores around
// them rather than only around "template not found".
const templatePlaceholder = "TPL_api-key"

// FuzzCreateConnection sends arbitrary bodies to CreateConnection on a real store. Whatever the
// body, the answer is never a failure of Plugboard (a 5xx other than the documented answers about
// an unreachable provider) and always matches the contract (an Error for failures).
// Seeds live in testdata/fuzz/FuzzCreateConnection; run with
//
//	go test -run '^$' -fuzz FuzzCreateConnection -fuzztime 60s ./internal/httpapi/
func FuzzCreateConnection(f *testing.F) {
	h := newHarness(f)
	fx := h.fixture()
	var replacements []string
	for configID, tplID := range fx.templates {
		replacements = append(replacements, "TPL_"+configID, tplID)
	}
	// Longest first, so "TPL_oauth1-token" is not read as "TPL_oauth1" followed by "-token".
	replacer := strings.NewReplacer(longestFirst(replacements)...)
	// A handler without the validating wrapper: inside the fuzz function, failures must be
	// reported on the iteration's own *testing.T.
	// Whatever URL the fuzzer makes up, nothing leaves the process: private addresses are refused
	// and no host name is looked up.
	handler := httpapi.New(httpapi.Config{Store: h.store, Keys: h.keys, Logger: slog.New(slog.DiscardHandler),
		Outbound: outbound.New(outbound.Config{Resolver: outbound.NoDNSResolver()})})
	path := "/o/" + h.org.String() + "/connections"

	f.Add([]byte(`{"connectionTemplateId":"` + templatePlaceholder + `","connection":{"name":"a","credentials":[{"id":"00000000000000000000000000","authSchemeConfig":{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}},"credential":{"id":"00000000000000000000000000","organisationId":"00000000000000000000000000","type":"string","data":{"string":{"value":"v"}}}}]}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, body []byte) {
		body = []byte(replacer.Replace(string(body)))
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.key)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		// Some 5xx are answers, not failures: 502/504 say the provider named in the body cannot be
		// reached (nothing leaves this test's process), 501 that a flow is not built yet. Any other
		// 5xx, above all 500, fails.
		if rec.Code >= 500 && !answeredUpstream(rec.Code, rec.Body.Bytes()) {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		check := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, io.NopCloser(bytes.NewReader(body)))
		if err := apitest.ValidateResponse(check, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("status %d response does not match the contract: %v\nbody: %q\nresponse: %s", rec.Code, err, body, rec.Body.Bytes())
		}
	})
}

// longestFirst orders old/new pairs by descending length of old, for strings.NewReplacer, which
// otherwise prefers the pair given first.
func longestFirst(pairs []string) []string {
	type pair struct{ old, new string }
	ps := make([]pair, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ps = append(ps, pair{pairs[i], pairs[i+1]})
	}
	sort.Slice(ps, func(i, j int) bool { return len(ps[i].old) > len(ps[j].old) })
	out := make([]string, 0, len(pairs))
	for _, p := range ps {
		out = append(out, p.old, p.new)
	}
	return out
}

// TestFuzzSeedsAreValidRequests keeps the checked-in seeds useful: each is a request the server
// accepts (201), or refuses only for needing a provider exchange (501).
func TestFuzzSeedsAreValidRequests(t *testing.T) {
	h := newHarness(t)
	fx := h.fixture()
	var pairs []string
	for configID, tplID := range fx.templates {
		pairs = append(pairs, "TPL_"+configID, tplID)
	}
	replacer := strings.NewReplacer(longestFirst(pairs)...)
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzCreateConnection", "seed-*"))
	if err != nil || len(files) < 10 {
		t.Fatalf("seeds: %v %d", err, len(files))
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(data), "\n", 3)
		lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		body, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		r := h.do("POST", "/connections", replacer.Replace(body))
		// Seeds of types that call a provider reach it here only to be refused (no flow was
		// started, no token endpoint listens): what matters is a 4xx naming why, never a 5xx.
		callsProvider := strings.Contains(file, "oauth2-code-oauth2-code") || strings.Contains(file, "oauth2-password-oauth2-password") ||
			strings.Contains(file, "oauth2-client") || strings.Contains(file, "oauth1-oauth1")
		switch {
		case callsProvider && (r.Status == 400 || r.Status == 501 || r.Status == 502):
		case r.Status != 201:
			t.Errorf("%s: status %d: %s", filepath.Base(file), r.Status, r.Body)
		}
	}
}

// answeredUpstream reports whether a 5xx is one of the documented answers about a provider (or a
// flow not built yet) rather than a failure of Plugboard itself.
func answeredUpstream(status int, body []byte) bool {
	var e struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	switch {
	case status == http.StatusNotImplemented && e.Code == "not_implemented",
		status == http.StatusBadGateway && (e.Code == "upstream_unavailable" || e.Code == "upstream_too_large"),
		status == http.StatusGatewayTimeout && e.Code == "upstream_timeout":
		return true
	}
	return false
}
