package httpapi_test

import (
	"slices"
	"testing"
)

// Header and cookie names in auth scheme configs, and the words put before tokens in the
// Authorization header, are refused when they cannot be sent as they are.
func TestHeaderNamesAreChecked(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	expect := func(r response, field string) {
		t.Helper()
		e := h.must(400, r).Error(t)
		if e.Code != "invalid_argument" || !slices.Equal(e.fieldNames(), []string{field}) {
			t.Errorf("want invalid_argument naming %s: %s", field, r.Body)
		}
	}
	expect(h.do("POST", "/systems", obj{"name": "Injected", "domain": "injected.example", "templateBaseUrl": "https://api.injected.example",
		"authSchemeConfigs": arr{obj{"type": "api-key", "apiKey": obj{"id": "k", "name": "X-A\r\nX-Injected", "in": "header"}}}}),
		"authSchemeConfigs[0].apiKey.name")
	expect(h.do("PUT", "/systems/"+f.systemID+"/auth-scheme-configs/hmac", obj{"type": "hmac", "hmac": obj{"id": "hmac",
		"name": "X Signature", "in": "cookie", "algorithm": "sha256", "digestInputs": arr{"body"}, "encoding": "hex"}}),
		"hmac.name")
	token := sample{"token", "oauth2-code", "oauth2-token", obj{"oauth2Token": obj{"refreshToken": "SECRET-r", "tokenType": "Bearer\r\nX-Injected: 1"}}, nil}
	expect(h.do("POST", "/connections", connectionBody(f.templates["oauth2-code"], "injected", token, configByID("oauth2-code"))),
		"connection.credentials[0].credential.data.oauth2Token.tokenType")
	jwt := sample{"jwt", "jwt", "jwt-bearer", obj{"jwtBearer": obj{"algorithm": "HS256", "secret": "SECRET-j", "authorizationHeaderPrefix": "Bearer JWT"}}, nil}
	expect(h.do("POST", "/connections", connectionBody(f.templates["jwt"], "injected", jwt, configByID("jwt"))),
		"connection.credentials[0].credential.data.jwtBearer.authorizationHeaderPrefix")
}
