package apply_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
)

// TestHMAC checks every algorithm × encoding × digestInputs combination, with string and binary
// keys, against the openssl command line.
func TestHMAC(t *testing.T) {
	up := newUpstream(t)
	a := apply.NewApplier(nil)
	body := []byte(`{"order":42,"note":"ünïcode & spaces"}`)
	const path = "/hooks/orders?x=1&y=a%20b"
	fullURL := up.URL + path
	stringKey := "string-key-ü"
	binaryKey := []byte{0x00, 0xff, 0x10, 0x80, 'k', 0x7f, 0xfe, 0x01}

	inputSets := [][]api.AuthSchemeConfigHMACDigestInputs{
		{api.Body}, {api.Url}, {api.Body, api.Url}, {api.Url, api.Body},
	}
	for _, alg := range []api.AuthSchemeConfigHMACAlgorithm{api.Sha1, api.Sha256, api.Sha512} {
		for _, enc := range []api.AuthSchemeConfigHMACEncoding{api.Hex, api.Base64, api.Base64url} {
			for _, inputs := range inputSets {
				for _, binary := range []bool{false, true} {
					keyKind := "string key"
					if binary {
						keyKind = "binary key"
					}
					name := fmt.Sprintf("%s/%s/%v/%s", alg, enc, inputs, keyKind)
					t.Run(name, func(t *testing.T) {
						cfg := hmacConfig("X-Signature", api.AuthSchemeConfigHMACInHeader, alg, enc, inputs...)
						cred := stringCred("c1", cfg, stringKey)
						key := []byte(stringKey)
						if binary {
							key = binaryKey
							cred = apply.Credential{ID: "c1", Config: cfg, Type: api.CredentialTypeBinary,
								Data: api.CredentialData{Binary: &api.CredentialDataBinary{ValueBase64: base64.StdEncoding.EncodeToString(binaryKey)}}}
						}
						var data []byte
						for _, in := range inputs {
							if in == api.Body {
								data = append(data, body...)
							} else {
								data = append(data, fullURL...)
							}
						}
						want := opensslHMAC(t, string(alg), string(enc), key, binary, data)

						got := up.send(t, a, newRequest(t, http.MethodPost, fullURL, "application/json", body), cred)
						if sig := got.Header.Get("X-Signature"); sig != want {
							t.Errorf("X-Signature %q, want %q", sig, want)
						}
						if string(got.Body) != string(body) {
							t.Errorf("upstream body %q, want %q", got.Body, body)
						}
					})
				}
			}
		}
	}

	t.Run("in query", func(t *testing.T) {
		cred := stringCred("c1", hmacConfig("sig", api.AuthSchemeConfigHMACInQuery, api.Sha256, api.Base64, api.Url, api.Body), stringKey)
		want := opensslHMAC(t, "sha256", "base64", []byte(stringKey), false, append([]byte(fullURL), body...))
		got := up.send(t, a, newRequest(t, http.MethodPost, fullURL, "application/json", body), cred)
		if !strings.HasPrefix(got.RequestURI, path+"&sig=") {
			t.Errorf("request URI %q does not keep %q before the signature", got.RequestURI, path)
		}
		u, _ := url.ParseRequestURI(got.RequestURI)
		if sig := u.Query().Get("sig"); sig != want {
			t.Errorf("sig %q, want %q", sig, want)
		}
	})

	t.Run("in cookie", func(t *testing.T) {
		cred := stringCred("c1", hmacConfig("sig", api.AuthSchemeConfigHMACInCookie, api.Sha512, api.Base64url, api.Body), stringKey)
		want := opensslHMAC(t, "sha512", "base64url", []byte(stringKey), false, body)
		got := up.send(t, a, newRequest(t, http.MethodPost, fullURL, "application/json", body), cred)
		if got.Cookies["sig"] != want {
			t.Errorf("cookie sig %q, want %q", got.Cookies["sig"], want)
		}
	})

	t.Run("no body", func(t *testing.T) {
		cred := stringCred("c1", hmacConfig("X-Signature", api.AuthSchemeConfigHMACInHeader, api.Sha1, api.Hex, api.Body, api.Url), stringKey)
		want := opensslHMAC(t, "sha1", "hex", []byte(stringKey), false, []byte(fullURL))
		got := up.send(t, a, newRequest(t, http.MethodGet, fullURL, "", nil), cred)
		if sig := got.Header.Get("X-Signature"); sig != want {
			t.Errorf("X-Signature %q, want %q", sig, want)
		}
	})

	t.Run("unpadded binary key", func(t *testing.T) {
		cred := apply.Credential{ID: "c1", Config: hmacConfig("X-Signature", api.AuthSchemeConfigHMACInHeader, api.Sha256, api.Hex, api.Body),
			Type: api.CredentialTypeBinary, Data: api.CredentialData{Binary: &api.CredentialDataBinary{ValueBase64: base64.RawStdEncoding.EncodeToString(binaryKey)}}}
		want := opensslHMAC(t, "sha256", "hex", binaryKey, true, body)
		got := up.send(t, a, newRequest(t, http.MethodPost, fullURL, "application/json", body), cred)
		if sig := got.Header.Get("X-Signature"); sig != want {
			t.Errorf("X-Signature %q, want %q", sig, want)
		}
	})
}

// TestHMACPrefixTemplateTimestamp: Plugboard's additions sign as the senders they describe do,
// checked against openssl: GitHub's prefix, Slack's timestamp header and template (the timestamp
// from the Applier's clock), and a template over the URL.
func TestHMACPrefixTemplateTimestamp(t *testing.T) {
	up := newUpstream(t)
	clock := &fixedClock{t: time.Unix(1700000000, 0)}
	a := apply.NewApplier(clock.Now)
	body := []byte(`token=x&team_id=T1&text=ünï`)
	const key = "8f742231b10e8888abcd99yyyzzz85a5"
	fullURL := up.URL + "/slack/commands?x=1"

	t.Run("github", func(t *testing.T) {
		cfg := hmacConfig("X-Hub-Signature-256", api.AuthSchemeConfigHMACInHeader, api.Sha256, api.Hex, api.Body)
		cfg.Hmac.Prefix = "sha256="
		got := up.send(t, a, newRequest(t, http.MethodPost, fullURL, "application/json", body), stringCred("c1", cfg, key))
		want := "sha256=" + opensslHMAC(t, "sha256", "hex", []byte(key), false, body)
		if sig := got.Header.Get("X-Hub-Signature-256"); sig != want {
			t.Errorf("signature %q, want %q", sig, want)
		}
	})
	t.Run("slack", func(t *testing.T) {
		cfg := hmacConfig("X-Slack-Signature", api.AuthSchemeConfigHMACInHeader, api.Sha256, api.Hex, api.Body)
		cfg.Hmac.Prefix, cfg.Hmac.TimestampHeader, cfg.Hmac.Template = "v0=", "X-Slack-Request-Timestamp", "v0:{timestamp}:{body}"
		got := up.send(t, a, newRequest(t, http.MethodPost, fullURL, "application/x-www-form-urlencoded", body), stringCred("c1", cfg, key))
		if ts := got.Header.Get("X-Slack-Request-Timestamp"); ts != "1700000000" {
			t.Errorf("timestamp %q, want the clock's 1700000000", ts)
		}
		want := "v0=" + opensslHMAC(t, "sha256", "hex", []byte(key), false, append([]byte("v0:1700000000:"), body...))
		if sig := got.Header.Get("X-Slack-Signature"); sig != want {
			t.Errorf("signature %q, want %q", sig, want)
		}
		if string(got.Body) != string(body) {
			t.Errorf("body %q, want %q", got.Body, body)
		}
	})
	t.Run("template over the url", func(t *testing.T) {
		cfg := hmacConfig("sig", api.AuthSchemeConfigHMACInQuery, api.Sha512, api.Base64url, api.Url, api.Body)
		cfg.Hmac.Template = "POST {url}\n{body}"
		got := up.send(t, a, newRequest(t, http.MethodPost, fullURL, "text/plain", body), stringCred("c1", cfg, key))
		want := opensslHMAC(t, "sha512", "base64url", []byte(key), false, []byte("POST "+fullURL+"\n"+string(body)))
		u, _ := url.ParseRequestURI(got.RequestURI)
		if sig := u.Query().Get("sig"); sig != want {
			t.Errorf("sig %q, want %q", sig, want)
		}
	})
}
