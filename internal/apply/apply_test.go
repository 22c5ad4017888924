package apply_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
)

func TestAPIKey(t *testing.T) {
	up := newUpstream(t)
	a := apply.NewApplier(nil)
	const key = "k3y+/=&;é value"

	t.Run("header", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, up.URL+"/v1/things", "", nil)
		req.Header.Set("X-Api-Key", "caller's own") // replaced, not added to
		got := up.send(t, a, req, stringCred("c1", apiKeyConfig("X-Api-Key", api.AuthSchemeConfigAPIKeyInHeader), key))
		if v := got.Header.Values("X-Api-Key"); len(v) != 1 || v[0] != key {
			t.Errorf("X-Api-Key = %q, want exactly [%q]", v, key)
		}
	})

	t.Run("query keeps existing parameters", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, up.URL+"/v1/things?b=2&a=x%20y&api_key=callers&z", "", nil)
		got := up.send(t, a, req, stringCred("c1", apiKeyConfig("api_key", api.AuthSchemeConfigAPIKeyInQuery), key))
		// The other parameters keep their order and encoding; the caller's api_key is replaced.
		want := "/v1/things?b=2&a=x%20y&z&api_key=k3y%2B%2F%3D%26%3B%C3%A9+value"
		if got.RequestURI != want {
			t.Errorf("request URI %q, want %q", got.RequestURI, want)
		}
	})

	t.Run("cookie", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, up.URL+"/", "", nil)
		req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
		req.AddCookie(&http.Cookie{Name: "session", Value: "callers"})
		const cookieKey = "abc.DEF-123_xyz"
		got := up.send(t, a, req, stringCred("c1", apiKeyConfig("session", api.AuthSchemeConfigAPIKeyInCookie), cookieKey))
		if got.Cookies["session"] != cookieKey || got.Cookies["theme"] != "dark" || len(got.Cookies) != 2 {
			t.Errorf("cookies %v, want session=%s and theme=dark", got.Cookies, cookieKey)
		}
		if h := got.Header.Get("Cookie"); h != "theme=dark; session="+cookieKey {
			t.Errorf("Cookie header %q", h)
		}
	})
}

// TestAPIKeyPrefix: an api-key config's prefix is written before the key, as an OpenAPI http
// bearer scheme imports (Authorization: Bearer <key>).
func TestAPIKeyPrefix(t *testing.T) {
	up := newUpstream(t)
	cfg := apiKeyConfig("Authorization", api.AuthSchemeConfigAPIKeyInHeader)
	cfg.ApiKey.Prefix = "Bearer "
	got := up.send(t, apply.NewApplier(nil), newRequest(t, http.MethodGet, up.URL+"/", "", nil), stringCred("c1", cfg, "tok-123"))
	if h := got.Header.Values("Authorization"); len(h) != 1 || h[0] != "Bearer tok-123" {
		t.Errorf("Authorization %q, want [Bearer tok-123]", h)
	}
}

func TestBasicAuth(t *testing.T) {
	up := newUpstream(t)
	cred := apply.Credential{ID: "c1", Config: baseConfig(api.AuthSchemeTypeBasicAuth), Type: api.CredentialTypeBasicAuth,
		Data: api.CredentialData{BasicAuth: &api.CredentialDataBasicAuth{Username: "alice", Password: "pa:ss wörd"}}}
	got := up.send(t, apply.NewApplier(nil), newRequest(t, http.MethodGet, up.URL+"/", "", nil), cred)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pa:ss wörd"))
	if h := got.Header.Get("Authorization"); h != want {
		t.Errorf("Authorization %q, want %q", h, want)
	}
	// The standard library's parser agrees.
	r := &http.Request{Header: got.Header}
	if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "pa:ss wörd" {
		t.Errorf("BasicAuth() = %q, %q, %v", u, p, ok)
	}
}

func TestOAuth2(t *testing.T) {
	up := newUpstream(t)
	a := apply.NewApplier(nil)
	cred := func(typ api.CredentialType, token, tokenType string) apply.Credential {
		return apply.Credential{ID: "c1", Config: baseConfig(api.AuthSchemeTypeOauth2), Type: typ, AccessToken: token, TokenType: tokenType}
	}
	for _, tc := range []struct {
		name string
		cred apply.Credential
		want string
	}{
		{"default bearer", cred(api.CredentialTypeOauth2Token, "at-123", ""), "Bearer at-123"},
		{"lower-case bearer", cred(api.CredentialTypeOauth2Token, "at-123", "bearer"), "Bearer at-123"},
		{"custom token type", cred(api.CredentialTypeOauth2Client, "at-456", "DPoP"), "DPoP at-456"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := up.send(t, a, newRequest(t, http.MethodGet, up.URL+"/", "", nil), tc.cred)
			if h := got.Header.Get("Authorization"); h != tc.want {
				t.Errorf("Authorization %q, want %q", h, tc.want)
			}
		})
	}
	t.Run("no access token", func(t *testing.T) {
		_, err := a.Apply(newRequest(t, http.MethodGet, up.URL+"/", "", nil), []apply.Credential{cred(api.CredentialTypeOauth2Token, "", "")})
		wantCode(t, err, plugboard.EInvalid)
		if !strings.Contains(err.Error(), "no access token") {
			t.Errorf("error %q does not say there is no access token", err)
		}
	})
}

// TestOrder shows that credentials are applied in the connection's order: an hmac over the URL
// signs the API key an earlier credential put in the query, and does not when it comes first.
func TestOrder(t *testing.T) {
	up := newUpstream(t)
	a := apply.NewApplier(nil)
	apiKey := stringCred("key", apiKeyConfig("key", api.AuthSchemeConfigAPIKeyInQuery), "the-api-key")
	sig := stringCred("sig", hmacConfig("X-Signature", api.AuthSchemeConfigHMACInHeader, api.Sha256, api.Hex, api.Url), "hmac-key")
	base := up.URL + "/orders?page=2"

	got := up.send(t, a, newRequest(t, http.MethodGet, base, "", nil), apiKey, sig)
	if want := opensslHMAC(t, "sha256", "hex", []byte("hmac-key"), false, []byte(base+"&key=the-api-key")); got.Header.Get("X-Signature") != want {
		t.Errorf("api-key then hmac: X-Signature %q, want %q (over the URL with the key)", got.Header.Get("X-Signature"), want)
	}
	if got.RequestURI != "/orders?page=2&key=the-api-key" {
		t.Errorf("request URI %q", got.RequestURI)
	}

	got = up.send(t, a, newRequest(t, http.MethodGet, base, "", nil), sig, apiKey)
	if want := opensslHMAC(t, "sha256", "hex", []byte("hmac-key"), false, []byte(base)); got.Header.Get("X-Signature") != want {
		t.Errorf("hmac then api-key: X-Signature %q, want %q (over the URL without the key)", got.Header.Get("X-Signature"), want)
	}
}

func TestNoneAndSecret(t *testing.T) {
	up := newUpstream(t)
	none := apply.Credential{ID: "n", Config: baseConfig(api.AuthSchemeTypeNone), Type: api.CredentialTypeNone}
	secret := stringCred("s", baseConfig(api.AuthSchemeTypeSecret), "webhook-signing-secret")
	req := newRequest(t, http.MethodGet, up.URL+"/x?q=1", "", nil)
	got := up.send(t, apply.NewApplier(nil), req, none, secret)
	if got.RequestURI != "/x?q=1" || got.Header.Get("Authorization") != "" || len(got.Cookies) != 0 {
		t.Errorf("none/secret changed the request: %q %v", got.RequestURI, got.Header)
	}
	for k, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, "webhook-signing-secret") {
				t.Errorf("the secret credential was sent in %s", k)
			}
		}
	}
}

func TestTypeMismatch(t *testing.T) {
	a := apply.NewApplier(nil)
	for _, tc := range []struct {
		name   string
		cred   apply.Credential
		naming []string
	}{
		{"string for basic-auth", stringCred("c1", baseConfig(api.AuthSchemeTypeBasicAuth), "v"), []string{"string", "basic-auth"}},
		{"basic-auth for api-key", apply.Credential{ID: "c1", Config: apiKeyConfig("k", api.AuthSchemeConfigAPIKeyInHeader), Type: api.CredentialTypeBasicAuth,
			Data: api.CredentialData{BasicAuth: &api.CredentialDataBasicAuth{Username: "u"}}}, []string{"basic-auth", "api-key"}},
		{"oauth2-code for oauth2", apply.Credential{ID: "c1", Config: baseConfig(api.AuthSchemeTypeOauth2), Type: api.CredentialTypeOauth2Code, AccessToken: "t"},
			[]string{"oauth2-code", "oauth2"}},
		{"binary for jwt-bearer", apply.Credential{ID: "c1", Config: baseConfig(api.AuthSchemeTypeJwtBearer), Type: api.CredentialTypeBinary,
			Data: api.CredentialData{Binary: &api.CredentialDataBinary{ValueBase64: "AAAA"}}}, []string{"binary", "jwt-bearer"}},
		{"string without data", apply.Credential{ID: "c1", Config: apiKeyConfig("k", api.AuthSchemeConfigAPIKeyInHeader), Type: api.CredentialTypeString},
			[]string{"string"}},
		{"api-key config without member", apply.Credential{ID: "c1", Config: api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey}, Type: api.CredentialTypeString,
			Data: api.CredentialData{String: &api.CredentialDataString{Value: "v"}}}, []string{"api-key"}},
		{"unknown scheme", stringCred("c1", api.AuthSchemeConfig{Type: "carrier-pigeon"}, "v"), []string{"carrier-pigeon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, http.MethodGet, "http://127.0.0.1:1/", "", nil)
			_, err := a.Apply(req, []apply.Credential{tc.cred})
			wantCode(t, err, plugboard.EInvalid)
			for _, n := range tc.naming {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not name %q", err, n)
				}
			}
			if _, err := a.Material([]apply.Credential{tc.cred}); plugboard.ErrorCode(err) != plugboard.EInvalid {
				t.Errorf("Material: %v, want invalid_argument", err)
			}
		})
	}
}

func TestBodyIsRestored(t *testing.T) {
	up := newUpstream(t)
	a := apply.NewApplier(nil)
	body := bytes.Repeat([]byte("0123456789"), 1000)
	sig := stringCred("sig", hmacConfig("X-Sig", api.AuthSchemeConfigHMACInHeader, api.Sha256, api.Hex, api.Body), "k")
	// A body the standard library cannot replay on its own (no GetBody).
	req := newRequest(t, http.MethodPost, up.URL+"/", "application/octet-stream", nil)
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:10]), bytes.NewReader(body[10:])))
	req.ContentLength = -1
	if _, err := a.Apply(req, []apply.Credential{sig}); err != nil {
		t.Fatal(err)
	}
	if req.GetBody == nil || req.ContentLength != int64(len(body)) {
		t.Fatalf("GetBody %v, ContentLength %d: the request is not replayable", req.GetBody != nil, req.ContentLength)
	}
	again, _ := req.GetBody()
	if b, _ := io.ReadAll(again); !bytes.Equal(b, body) {
		t.Fatal("GetBody does not return the body")
	}
	got := up.do(t, http.DefaultClient, req)
	if !bytes.Equal(got.Body, body) {
		t.Errorf("upstream got %d bytes, want the %d sent", len(got.Body), len(body))
	}
	if want := opensslHMAC(t, "sha256", "hex", []byte("k"), false, body); got.Header.Get("X-Sig") != want {
		t.Errorf("X-Sig %q, want %q", got.Header.Get("X-Sig"), want)
	}

	t.Run("too large", func(t *testing.T) {
		big := make([]byte, apply.MaxBodySize+1)
		req := newRequest(t, http.MethodPost, up.URL+"/", "application/octet-stream", nil)
		req.Body = io.NopCloser(bytes.NewReader(big))
		_, err := a.Apply(req, []apply.Credential{sig})
		wantCode(t, err, plugboard.ETooLarge)
		// What was read is put back: the body is still whole.
		if n, _ := io.Copy(io.Discard, req.Body); n != int64(len(big)) {
			t.Errorf("body has %d bytes after the refusal, want %d", n, len(big))
		}
	})
}

// TestErrorsNeverQuoteSecrets feeds credentials whose secrets make each rule fail and checks that
// no error (message, details or cause) repeats them.
func TestErrorsNeverQuoteSecrets(t *testing.T) {
	const s = "S3CRET-zq8xv"
	a := apply.NewApplier(nil)
	for _, tc := range []struct {
		name string
		cred apply.Credential
		code string
	}{
		{"header value with newline", stringCred("c", apiKeyConfig("X-Key", api.AuthSchemeConfigAPIKeyInHeader), s+"\r\nX-Evil: 1"), plugboard.EInvalid},
		{"cookie value with quote", stringCred("c", apiKeyConfig("k", api.AuthSchemeConfigAPIKeyInCookie), s+`"`), plugboard.EInvalid},
		{"hmac binary not base64", apply.Credential{ID: "c", Config: hmacConfig("X", api.AuthSchemeConfigHMACInHeader, api.Sha256, api.Hex, api.Url),
			Type: api.CredentialTypeBinary, Data: api.CredentialData{Binary: &api.CredentialDataBinary{ValueBase64: s + "!!"}}}, plugboard.EInvalid},
		{"basic-auth in type mismatch", apply.Credential{ID: "c", Config: baseConfig(api.AuthSchemeTypeNone), Type: api.CredentialTypeBasicAuth,
			Data: api.CredentialData{BasicAuth: &api.CredentialDataBasicAuth{Username: "u", Password: s}}}, plugboard.EInvalid},
		{"oauth2 token type with newline", apply.Credential{ID: "c", Config: baseConfig(api.AuthSchemeTypeOauth2), Type: api.CredentialTypeOauth2Token,
			AccessToken: s, TokenType: "Bearer\n"}, plugboard.EInvalid},
		{"jwt RS256 secret not PEM", apply.Credential{ID: "c", Config: baseConfig(api.AuthSchemeTypeJwtBearer), Type: api.CredentialTypeJwtBearer,
			Data: api.CredentialData{JwtBearer: &api.CredentialDataJWTBearer{Algorithm: api.RS256, Secret: s}}}, plugboard.EInvalid},
		{"jwt RS256 secret broken PEM", apply.Credential{ID: "c", Config: baseConfig(api.AuthSchemeTypeJwtBearer), Type: api.CredentialTypeJwtBearer,
			Data: api.CredentialData{JwtBearer: &api.CredentialDataJWTBearer{Algorithm: api.RS256,
				Secret: "-----BEGIN RSA PRIVATE KEY-----\n" + base64.StdEncoding.EncodeToString([]byte(s)) + "\n-----END RSA PRIVATE KEY-----\n"}}}, plugboard.EInvalid},
		{"certificate key not PEM", apply.Credential{ID: "c", Config: baseConfig(api.AuthSchemeTypeCertificate), Type: api.CredentialTypeCertificate,
			Data: api.CredentialData{Certificate: &api.CredentialDataCertificate{Certificate: testPKI(t).clientCertPEM, Key: s, Ca: testPKI(t).caPEM}}}, plugboard.EInvalid},
		{"certificate key of another certificate", apply.Credential{ID: "c", Config: baseConfig(api.AuthSchemeTypeCertificate), Type: api.CredentialTypeCertificate,
			Data: api.CredentialData{Certificate: &api.CredentialDataCertificate{Certificate: testPKI(t).clientCertPEM, Key: testPKI(t).serverKeyPEM, Ca: testPKI(t).caPEM}}}, plugboard.EInvalid},
		{"oauth1 unknown method", apply.Credential{ID: "c", Config: oauth1Config("ck", s, "plaintext"), Type: api.CredentialTypeOauth1Token,
			Data: api.CredentialData{Oauth1Token: &api.CredentialDataOAuth1Token{Token: s, TokenSecret: s}}}, plugboard.EInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, http.MethodGet, "http://127.0.0.1:1/", "", nil)
			_, err := a.Apply(req, []apply.Credential{tc.cred})
			wantCode(t, err, tc.code)
			checkNoSecret(t, err, s, base64.StdEncoding.EncodeToString([]byte(s)))
			_, err = a.Material([]apply.Credential{tc.cred})
			if err == nil {
				t.Fatal("Material: no error")
			}
			checkNoSecret(t, err, s, base64.StdEncoding.EncodeToString([]byte(s)))
		})
	}
}

// checkNoSecret fails if err, its message, details or any cause in its chain holds a secret.
func checkNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	var texts []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error())
		var pe *plugboard.Error
		if errors.As(e, &pe) {
			texts = append(texts, pe.Message, pe.Details)
		}
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("an error repeats a secret") // not quoted: the output must not hold it either
			}
		}
	}
}
