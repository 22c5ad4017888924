package apply_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dghubble/oauth1"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
	"github.com/plugboard/plugboard/internal/oauth1test"
)

func oauth1Config(consumerKey, consumerSecret, method string) api.AuthSchemeConfig {
	return api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth1, Oauth1: &api.AuthSchemeConfigOAuth1{
		ID: "oauth1", ConsumerKey: consumerKey, ConsumerSecret: consumerSecret, SignatureMethod: method, TokenAuth: true}}
}

func oauth1Cred(cfg api.AuthSchemeConfig, token, secret string, params ...api.AdditionalParam) apply.Credential {
	return apply.Credential{ID: "c1", Config: cfg, Type: api.CredentialTypeOauth1Token,
		Data: api.CredentialData{Oauth1Token: &api.CredentialDataOAuth1Token{Token: token, TokenSecret: secret, AdditionalParams: params}}}
}

func param(name, value string) api.AdditionalParam {
	return api.AdditionalParam{Name: name, Value: &value}
}

// rfc5849Encode is RFC 5849 section 3.6 percent-encoding, written here independently of the
// signer under test.
func rfc5849Encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// parseOAuthHeader parses an `Authorization: OAuth k="v", ...` header.
func parseOAuthHeader(t *testing.T, h string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "OAuth ")
	if !ok {
		t.Fatalf("Authorization %q is not an OAuth header", h)
	}
	out := map[string]string{}
	for _, part := range strings.Split(rest, ", ") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			t.Fatalf("malformed OAuth header part %q", part)
		}
		dk, err1 := url.PathUnescape(k)
		dv, err2 := url.PathUnescape(v[1 : len(v)-1])
		if err1 != nil || err2 != nil {
			t.Fatalf("bad encoding in %q", part)
		}
		out[dk] = dv
	}
	return out
}

// TestOAuth1Signature checks the signature against a base string built here from the request
// the upstream received (RFC 5849 section 3.4), without the provider peer.
func TestOAuth1Signature(t *testing.T) {
	up := newUpstream(t)
	a := apply.NewApplier(nil)
	const consumerSecret, tokenSecret = "cs&secret=1", "ts secret/2"
	for _, tc := range []struct {
		method, sigMethod string
		newHash           func() hash.Hash
		contentType       string
		body              string
		formSigned        bool
	}{
		{http.MethodGet, "sha1", sha1.New, "", "", false},
		{http.MethodPost, "sha256", sha256.New, "application/x-www-form-urlencoded", "c=3&d=hello+w%C3%B6rld&empty=", true},
		{http.MethodPost, "sha1", sha1.New, "application/x-www-form-urlencoded; charset=utf-8", "c=3&d=x%2By", true},
		{http.MethodPut, "sha256", sha256.New, "application/json", `{"c":3}`, false},
	} {
		t.Run(tc.method+" "+tc.sigMethod+" "+tc.contentType, func(t *testing.T) {
			cred := oauth1Cred(oauth1Config("consumer-key", consumerSecret, tc.sigMethod), "token-value", tokenSecret,
				param("realm", "https://photos.example/"), param("user_id", "1001"), param("screen_name", "alice"))
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			req := newRequest(t, tc.method, up.URL+"/Photos/a%2Fb?size=original&file=vacation%20pic.jpg&flag", tc.contentType, body)
			got := up.send(t, a, req, cred)
			if string(got.Body) != tc.body {
				t.Fatalf("upstream body %q, want %q", got.Body, tc.body)
			}
			h := parseOAuthHeader(t, got.Header.Get("Authorization"))
			if h["realm"] != "https://photos.example/" {
				t.Errorf("realm %q", h["realm"])
			}
			for _, k := range []string{"user_id", "screen_name"} {
				if _, ok := h[k]; ok {
					t.Errorf("additional param %s was sent", k)
				}
			}
			wantMethod := map[string]string{"sha1": "HMAC-SHA1", "sha256": "HMAC-SHA256"}[tc.sigMethod]
			if h["oauth_signature_method"] != wantMethod || h["oauth_consumer_key"] != "consumer-key" || h["oauth_token"] != "token-value" ||
				h["oauth_version"] != "1.0" || h["oauth_nonce"] == "" {
				t.Errorf("OAuth parameters %v", h)
			}
			var sec int64
			if _, err := fmt.Sscan(h["oauth_timestamp"], &sec); err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
				t.Errorf("oauth_timestamp %q is not now", h["oauth_timestamp"])
			}

			// Base string from what the upstream received.
			u, _ := url.ParseRequestURI(got.RequestURI)
			var pairs []string
			add := func(vals url.Values) {
				for k, vs := range vals {
					for _, v := range vs {
						pairs = append(pairs, rfc5849Encode(k)+"="+rfc5849Encode(v))
					}
				}
			}
			add(u.Query())
			if tc.formSigned {
				form, _ := url.ParseQuery(string(got.Body))
				add(form)
			}
			for k, v := range h {
				if k != "realm" && k != "oauth_signature" {
					pairs = append(pairs, rfc5849Encode(k)+"="+rfc5849Encode(v))
				}
			}
			sort.Strings(pairs)
			baseURI := "http://" + strings.ToLower(up.Listener.Addr().String()) + u.EscapedPath()
			base := tc.method + "&" + rfc5849Encode(baseURI) + "&" + rfc5849Encode(strings.Join(pairs, "&"))
			mac := hmac.New(tc.newHash, []byte(rfc5849Encode(consumerSecret)+"&"+rfc5849Encode(tokenSecret)))
			mac.Write([]byte(base))
			if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); h["oauth_signature"] != want {
				t.Errorf("oauth_signature %q, want %q over %q", h["oauth_signature"], want, base)
			}
		})
	}

	t.Run("repeated parameter", func(t *testing.T) {
		cred := oauth1Cred(oauth1Config("ck", "cs", "sha1"), "t", "ts")
		for _, tc := range []struct{ url, body string }{
			{up.URL + "/?a=1&a=2", ""},
			{up.URL + "/?a=1", "a=2"},
			{up.URL + "/", "b=1&b=2"},
		} {
			req := newRequest(t, http.MethodPost, tc.url, "application/x-www-form-urlencoded", []byte(tc.body))
			_, err := a.Apply(req, []apply.Credential{cred})
			wantCode(t, err, plugboard.EInvalid)
		}
	})
}

// TestOAuth1Provider signs requests to python3-oauthlib's resource endpoint, with token
// credentials obtained through its three-legged flow.
func TestOAuth1Provider(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{})
	for _, tc := range []struct {
		method string
		signer oauth1.Signer
	}{
		{"sha1", &oauth1.HMACSigner{ConsumerSecret: p.ConsumerSecret}},
		{"sha256", &oauth1.HMAC256Signer{ConsumerSecret: p.ConsumerSecret}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			// Token credentials through the three-legged flow, signed by dghubble/oauth1.
			conf := &oauth1.Config{ConsumerKey: p.ConsumerKey, ConsumerSecret: p.ConsumerSecret,
				CallbackURL: "http://127.0.0.1:1/callback", Signer: tc.signer,
				Endpoint: oauth1.Endpoint{RequestTokenURL: p.RequestTokenURL, AuthorizeURL: p.AuthorizeURL, AccessTokenURL: p.AccessTokenURL}}
			requestToken, requestSecret, err := conf.RequestToken()
			if err != nil {
				t.Fatalf("request token: %v", err)
			}
			authURL, err := conf.AuthorizationURL(requestToken)
			if err != nil {
				t.Fatal(err)
			}
			verifier := p.Authorize(t, authURL.String()).Query().Get("oauth_verifier")
			token, tokenSecret, err := conf.AccessToken(requestToken, requestSecret, verifier)
			if err != nil {
				t.Fatalf("access token: %v", err)
			}

			a := apply.NewApplier(nil)
			cred := oauth1Cred(oauth1Config(p.ConsumerKey, p.ConsumerSecret, tc.method), token, tokenSecret,
				param("realm", "photos"), param("user_id", p.UserID))
			call := func(method, rawURL, contentType, body string, tamper func(*http.Request)) (int, map[string]any) {
				t.Helper()
				var b []byte
				if body != "" {
					b = []byte(body)
				}
				req := newRequest(t, method, rawURL, contentType, b)
				if _, err := a.Apply(req, []apply.Credential{cred}); err != nil {
					t.Fatal(err)
				}
				if tamper != nil {
					tamper(req)
				}
				res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				data, _ := io.ReadAll(res.Body)
				var out map[string]any
				_ = json.Unmarshal(data, &out)
				return res.StatusCode, out
			}
			wantOK := func(status int, out map[string]any, wantParams map[string]any) {
				t.Helper()
				if status != http.StatusOK {
					t.Fatalf("status %d: %v", status, out)
				}
				if out["user"] != p.UserID || out["transmission"] != "header" {
					t.Errorf("answer %v", out)
				}
				if got, _ := json.Marshal(out["params"]); string(got) != mustJSON(wantParams) {
					t.Errorf("params the provider verified: %s, want %s", got, mustJSON(wantParams))
				}
			}

			status, out := call(http.MethodGet, p.ResourceURL+"?count=10&q=caf%C3%A9%20au+lait", "", "", nil)
			wantOK(status, out, map[string]any{"count": []string{"10"}, "q": []string{"café au lait"}})

			status, out = call(http.MethodPost, p.ResourceURL+"?page=2", "application/x-www-form-urlencoded", "status=Hello+Ladies+%2B+Gentlemen&x=%21", nil)
			wantOK(status, out, map[string]any{"page": []string{"2"}, "status": []string{"Hello Ladies + Gentlemen"}, "x": []string{"!"}})

			status, out = call(http.MethodPut, p.ResourceURL, "application/json", `{"not":"signed"}`, nil)
			wantOK(status, out, map[string]any{})

			// The provider really checks: the same signature over another query fails.
			status, _ = call(http.MethodGet, p.ResourceURL+"?count=10", "", "", func(r *http.Request) { r.URL.RawQuery = "count=11" })
			if status != http.StatusUnauthorized {
				t.Errorf("a tampered request got %d, want 401", status)
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
