package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dghubble/oauth1"

	"github.com/plugboard/plugboard/internal/oauth1test"
)

// TestOAuth1ThreeLegged runs the OAuth 1.0a flow against a provider built on python3-oauthlib,
// with HMAC-SHA1 and HMAC-SHA256: initialise (temporary credentials), the user's authorisation,
// Plugboard's callback, and the exchange in CreateConnection; then proves the stored token
// credentials sign a request the provider's resource endpoint accepts. Switched on by
// PLUGBOARD_TEST_OAUTH1=1.
func TestOAuth1ThreeLegged(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{})
	type variant struct{ method, transmission string }
	var variants []variant
	for _, m := range []string{"sha1", "sha256"} {
		for _, tr := range []string{"AUTH_STYLE_AUTHORIZATION_HEADER", "AUTH_STYLE_FORM", "AUTH_STYLE_QUERY"} {
			variants = append(variants, variant{m, tr})
		}
	}
	for _, v := range variants {
		method := v.method
		t.Run(v.method+"/"+v.transmission, func(t *testing.T) {
			h := newHarness(t)
			var sys struct {
				ID string `json:"id"`
			}
			h.must(201, h.do("POST", "/systems", obj{"name": "OAuth1", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{
				obj{"type": "oauth1", "oauth1": obj{"id": "oauth1", "description": "", "consumerKey": p.ConsumerKey, "consumerSecret": p.ConsumerSecret,
					"signatureMethod":                    method,
					"tempCredentialEndpoint":             obj{"url": p.RequestTokenURL, "parameterTransmission": v.transmission},
					"resourceOwnerAuthorizationEndpoint": obj{"url": p.AuthorizeURL},
					"tokenEndpoint":                      obj{"url": p.AccessTokenURL, "parameterTransmission": v.transmission}}}}})).JSON(t, &sys)
			tpl := h.templateFor(sys.ID, "oauth1")
			var res struct {
				URL string `json:"url"`
			}
			h.must(200, h.do("POST", "/systems/"+sys.ID+"/oauth1/initialise", obj{"credential": obj{"id": zeroID, "organisationId": h.org.String()}})).JSON(t, &res)
			back := p.Authorize(t, res.URL)
			if !strings.HasPrefix(back.String(), h.srv.URL+"/oauth1/callback") {
				t.Fatalf("the provider sent the user to %s", back)
			}
			q := back.Query()
			page := h.must(200, h.doAs("", h.org, "GET", "//oauth1/callback?"+back.RawQuery, nil))
			if !strings.Contains(string(page.Body), q.Get("oauth_verifier")) {
				t.Errorf("callback page lacks the verifier")
			}
			body := obj{"connectionTemplateId": tpl, "connection": obj{"name": "o1", "credentials": arr{obj{
				"id": zeroID, "authSchemeConfig": obj{"type": "oauth1", "oauth1": obj{"id": "oauth1"}},
				"credential": obj{"type": "oauth1", "data": obj{"oauth1": obj{"state": q.Get("state"), "oauthToken": q.Get("oauth_token"),
					"oauthVerifier": q.Get("oauth_verifier")}}}}}}}
			var c connectionView
			h.must(201, h.do("POST", "/connections", body)).JSON(t, &c)
			cred := c.Credentials[0].Credential
			if cred.Type != "oauth1-token" {
				t.Fatalf("type %q", cred.Type)
			}
			tok := cred.Data["oauth1Token"].(map[string]any)
			if tok["token"] != "" || tok["tokenSecret"] != "" || !strings.Contains(toJSON(tok["additionalParams"]), "user_id") {
				t.Errorf("stored token shown as %v", tok)
			}
			// The stored token credentials are real: they sign a request the provider accepts.
			var secrets struct{ Token, TokenSecret string }
			if err := json.Unmarshal([]byte(openStoredSecret(t, h, cred.ID)), &secrets); err != nil {
				t.Fatal(err)
			}
			cfg := &oauth1.Config{ConsumerKey: p.ConsumerKey, ConsumerSecret: p.ConsumerSecret}
			if method == "sha256" {
				cfg.Signer = &oauth1.HMAC256Signer{ConsumerSecret: p.ConsumerSecret}
			}
			resp, err := cfg.Client(context.Background(), oauth1.NewToken(secrets.Token, secrets.TokenSecret)).Get(p.ResourceURL)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("resource refused the stored token: %d %s", resp.StatusCode, data)
			}
			// The flow is single use.
			r := h.must(400, h.do("POST", "/connections", body))
			assertField(t, r.Error(t), "connection.credentials[0].credential.data.oauth1.state", "has already been used")
		})
	}

	t.Run("provider 5xx", func(t *testing.T) {
		h := newHarness(t)
		var sys struct {
			ID string `json:"id"`
		}
		h.must(201, h.do("POST", "/systems", obj{"name": "OAuth1", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{
			obj{"type": "oauth1", "oauth1": obj{"id": "oauth1", "description": "", "consumerKey": p.ConsumerKey, "consumerSecret": p.ConsumerSecret,
				"signatureMethod": "sha1", "tempCredentialEndpoint": obj{"url": p.RequestTokenURL},
				"resourceOwnerAuthorizationEndpoint": obj{"url": p.AuthorizeURL}, "tokenEndpoint": obj{"url": p.AccessTokenURL}}}}})).JSON(t, &sys)
		p.FailNextOn(t, "request_token", 503, 1)
		r := h.must(502, h.do("POST", "/systems/"+sys.ID+"/oauth1/initialise", obj{"credential": obj{"id": zeroID}}))
		if e := r.Error(t); e.Code != "upstream_unavailable" {
			t.Errorf("5xx: %+v", e)
		}
	})
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
