package apply_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
)

// TestMaterial checks that Material holds exactly what Apply puts on a request, and that a
// request built from Material alone reaches an mTLS upstream with the same credentials.
func TestMaterial(t *testing.T) {
	p := testPKI(t)
	clock := &fixedClock{t: time.Now()}
	a := apply.NewApplier(clock.Now)
	creds := []apply.Credential{
		stringCred("h", apiKeyConfig("X-Api-Key", api.AuthSchemeConfigAPIKeyInHeader), "header-key"),
		stringCred("q", apiKeyConfig("api_key", api.AuthSchemeConfigAPIKeyInQuery), "query key&"),
		stringCred("c", apiKeyConfig("session", api.AuthSchemeConfigAPIKeyInCookie), "cookie-key"),
		{ID: "b", Config: baseConfig(api.AuthSchemeTypeBasicAuth), Type: api.CredentialTypeBasicAuth,
			Data: api.CredentialData{BasicAuth: &api.CredentialDataBasicAuth{Username: "u", Password: "p"}}},
		{ID: "o", Config: baseConfig(api.AuthSchemeTypeOauth2), Type: api.CredentialTypeOauth2Token, AccessToken: "at", TokenType: "DPoP"},
		jwtCred("j", api.CredentialDataJWTBearer{Algorithm: api.HS256, Secret: "k", AuthorizationHeaderPrefix: "JWT", ExpiresIn: "5m"}),
		{ID: "none", Config: baseConfig(api.AuthSchemeTypeNone), Type: api.CredentialTypeNone},
		stringCred("s", baseConfig(api.AuthSchemeTypeSecret), "never-sent"),
		certCred("cert", p),
	}
	// Each credential alone, so that Authorization from basic, oauth2 and jwt can be compared,
	// then all together (where the last Authorization wins, in Apply and Material alike).
	sets := map[string][]apply.Credential{"all": creds}
	for _, c := range creds {
		sets[c.ID] = []apply.Credential{c}
	}
	for name, set := range sets {
		t.Run(name, func(t *testing.T) {
			m, err := a.Material(set)
			if err != nil {
				t.Fatal(err)
			}
			req := newRequest(t, http.MethodGet, "https://127.0.0.1:1/path", "", nil)
			tlsCfg, err := a.Apply(req, set)
			if err != nil {
				t.Fatal(err)
			}
			for k := range req.Header {
				if k == "Cookie" {
					continue
				}
				if got, want := m.Headers.Values(k), req.Header.Values(k); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("header %s: Material %q, Apply %q", k, got, want)
				}
			}
			if len(m.Headers) != len(req.Header)-boolInt(req.Header.Get("Cookie") != "") {
				t.Errorf("Material headers %v, Apply headers %v", m.Headers, req.Header)
			}
			if got, want := m.Query.Encode(), req.URL.Query().Encode(); got != want {
				t.Errorf("query: Material %q, Apply %q", got, want)
			}
			applied := map[string]string{}
			for _, c := range req.Cookies() {
				applied[c.Name] = c.Value
			}
			if len(m.Cookies) != len(applied) {
				t.Errorf("cookies: Material %v, Apply %v", m.Cookies, applied)
			}
			for _, c := range m.Cookies {
				if applied[c.Name] != c.Value {
					t.Errorf("cookie %s: Material %q, Apply %q", c.Name, c.Value, applied[c.Name])
				}
			}
			if (m.TLS == nil) != (tlsCfg == nil) {
				t.Fatalf("TLS: Material %v, Apply %v", m.TLS != nil, tlsCfg != nil)
			}
			if m.TLS != nil {
				if m.ClientCertificatePEM != p.clientCertPEM || m.CAPEM != p.caPEM {
					t.Error("Material's certificate PEMs are not the credential's")
				}
				if strings.Contains(m.ClientCertificatePEM+m.CAPEM, "PRIVATE KEY") {
					t.Error("Material's PEMs hold a private key")
				}
			}
			hasJWT := name == "all" || name == "j"
			if hasJWT != !m.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt %v", m.ExpiresAt)
			}
		})
	}

	t.Run("a request built from Material", func(t *testing.T) {
		up := mtlsUpstream(t, p)
		m, err := a.Material(creds[:3])
		if err != nil {
			t.Fatal(err)
		}
		mc, err := a.Material(creds[len(creds)-1:])
		if err != nil {
			t.Fatal(err)
		}
		req := newRequest(t, http.MethodGet, up.URL+"/x?"+m.Query.Encode(), "", nil)
		for k, vs := range m.Headers {
			req.Header[k] = vs
		}
		for _, c := range m.Cookies {
			req.AddCookie(c)
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: mc.TLS.Clone()}}
		got := up.do(t, client, req)
		if got.Header.Get("X-Api-Key") != "header-key" || got.Cookies["session"] != "cookie-key" ||
			got.RequestURI != "/x?api_key=query+key%26" || got.TLS.PeerCertificates[0].Subject.CommonName != "plugboard-client" {
			t.Errorf("upstream got %+v", got)
		}
	})

	t.Run("request-dependent schemes", func(t *testing.T) {
		for _, c := range []apply.Credential{
			oauth1Cred(oauth1Config("ck", "cs", "sha1"), "t", "ts"),
			stringCred("h", hmacConfig("X-Sig", api.AuthSchemeConfigHMACInHeader, api.Sha256, api.Hex, api.Body), "k"),
		} {
			_, err := a.Material(append([]apply.Credential{creds[0]}, c))
			wantCode(t, err, plugboard.EInvalid)
			if msg := err.Error(); !strings.Contains(msg, string(c.Config.Type)) || !strings.Contains(msg, "proxy") {
				t.Errorf("error %q does not name %s and the proxy", msg, c.Config.Type)
			}
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
