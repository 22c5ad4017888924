package httpapi_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"github.com/go-oauth2/oauth2/v4/store"
)

// certProvider is the in-process OAuth 2.0 server (github.com/go-oauth2/oauth2) behind TLS, with
// one client that authenticates by its certificate alone (RFC 8705 tls_client_auth): it must
// present a certificate the test CA issued with the expected subject, name itself by client_id
// in the form, and send no secret (a client_secret or an Authorization header is invalid_client).
// It keeps what each token request carried.
type certProvider struct {
	srv      *httptest.Server
	ClientID string
	TokenURL string

	mu   sync.Mutex
	seen []certTokenRequest
}

// certTokenRequest is what one token request carried.
type certTokenRequest struct {
	form          url.Values
	authorization bool // an Authorization header
	cert          bool // the expected client certificate, verified
}

func newCertProvider(t *testing.T, pki mtlsPKI) *certProvider {
	t.Helper()
	p := &certProvider{ClientID: "cert-client"}
	manager := manage.NewDefaultManager()
	manager.SetClientTokenCfg(&manage.Config{AccessTokenExp: time.Hour})
	manager.MustTokenStorage(store.NewMemoryTokenStore())
	clients := store.NewClientStore()
	if err := clients.Set(p.ClientID, &models.Client{ID: p.ClientID, Domain: "https://127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	manager.MapClientStorage(clients)
	srv := server.NewDefaultServer(manager)
	srv.SetAllowGetAccessRequest(false)
	srv.SetAllowedGrantType("client_credentials")
	srv.SetClientInfoHandler(func(r *http.Request) (string, string, error) {
		if p.authenticated(r) {
			return r.PostForm.Get("client_id"), "", nil
		}
		return "", "", oerrors.ErrInvalidClient
	})
	srv.SetInternalErrorHandler(func(err error) *oerrors.Response { return nil })
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		p.seen = append(p.seen, certTokenRequest{form: r.PostForm, authorization: r.Header.Get("Authorization") != "", cert: p.presented(r)})
		p.mu.Unlock()
		_ = srv.HandleTokenRequest(w, r)
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pki.CA)) {
		t.Fatal("no CA")
	}
	p.srv = httptest.NewUnstartedServer(mux)
	// Asked for, not required: a request without one gets the provider's invalid_client.
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.TokenURL = p.srv.URL + "/token"
	return p
}

// presented reports whether r came over a connection that presented the client's certificate,
// verified against the test CA.
func (p *certProvider) presented(r *http.Request) bool {
	return r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && r.TLS.PeerCertificates[0].Subject.CommonName == "victim-client"
}

// authenticated is tls_client_auth: the certificate, the client's id, and no secret of any kind.
func (p *certProvider) authenticated(r *http.Request) bool {
	return p.presented(r) && r.PostForm.Get("client_id") == p.ClientID && !r.PostForm.Has("client_secret") &&
		r.Header.Get("Authorization") == ""
}

func (p *certProvider) requests() []certTokenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]certTokenRequest(nil), p.seen...)
}

// TestOAuth2ClientAuthenticatesWithCertificate: an oauth2-client credential with mTLSEnabled and no
// client secret, under a config with mtlsEnabled, is accepted (RFC 8705 tls_client_auth), proven at
// creation, and fetches its tokens with client_id alone over the connection's certificate, against
// the in-process OAuth server. Without mTLSEnabled, or under a config that presents no
// certificate, the secret is still required; and the certificate still goes only to the origin
// of the config's tokenUrl.
func TestOAuth2ClientAuthenticatesWithCertificate(t *testing.T) {
	h := newHarness(t)
	pki := newMTLSPKI(t)
	prov := newCertProvider(t, pki)
	elsewhere := newCertProvider(t, pki)
	up := newUpstream(t)

	var sys struct {
		ID string `json:"id"`
	}
	ccConfig := func(id string, mtls bool) obj {
		return obj{"type": "oauth2", "oauth2": obj{"id": id, "description": "", "tokenUrl": prov.TokenURL, "mtlsEnabled": mtls,
			"scopes": arr{}, "defaultScopes": arr{}, "grant": obj{"type": "clientCredentials"}}}
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "cert-client", "domain": "d", "templateBaseUrl": up.srv.URL,
		"authSchemeConfigs": arr{
			obj{"type": "certificate", "certificate": obj{"id": "cert", "description": ""}},
			ccConfig("cc", true), ccConfig("cc-plain", false),
		}})).JSON(t, &sys)
	tpl := templateOffering(t, h, sys.ID, "cert", "cc")
	certCred := obj{"id": zeroID, "authSchemeConfig": obj{"type": "certificate", "certificate": obj{"id": "cert"}},
		"credential": obj{"type": "certificate", "data": obj{"certificate": obj{"certificate": pki.ClientCert, "key": pki.ClientKey, "ca": pki.CA}}}}
	clientCred := func(configID string, data obj) obj {
		d := obj{"clientId": prov.ClientID, "tokenUrl": prov.TokenURL, "scopes": arr{}}
		for k, v := range data {
			d[k] = v
		}
		return obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": configID}},
			"credential": obj{"type": "oauth2-client", "data": obj{"oauth2Client": d}}}
	}
	create := func(tpl, name string, creds ...any) response {
		return h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": name, "credentials": arr(creds)}})
	}
	const secretField = "connection.credentials[1].credential.data.oauth2Client.clientSecret"

	var c connectionView
	h.must(201, create(tpl, "by-certificate", certCred, clientCred("cc", obj{"mTLSEnabled": true}))).JSON(t, &c)
	if n := len(prov.requests()); n != 1 {
		t.Fatalf("creating the connection made %d token requests, want 1 (the proof)", n)
	}
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	if got, _ := up.last(t); !strings.HasPrefix(got.Header.Get("Authorization"), "Bearer ") || len(got.Header.Get("Authorization")) <= len("Bearer ") {
		t.Errorf("the upstream got Authorization %q, want the fetched bearer token", got.Header.Get("Authorization"))
	}
	// Sent back as read (the secret "" as every read shows it): still valid, and the credential
	// still authenticates by its certificate.
	_, creds := h.asRead(c.ID)
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": c.Name, "credentials": creds}))
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))

	reqs := prov.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d token requests, want the proof and at least one for the proxy", len(reqs))
	}
	for i, req := range reqs {
		if req.form.Get("grant_type") != "client_credentials" || req.form.Get("client_id") != prov.ClientID ||
			req.form.Has("client_secret") || req.authorization || !req.cert {
			t.Errorf("token request %d: grant_type %q, client_id %q, client_secret sent %v, Authorization sent %v, certificate presented %v; "+
				"want client_credentials with client_id alone over the certificate",
				i, req.form.Get("grant_type"), req.form.Get("client_id"), req.form.Has("client_secret"), req.authorization, req.cert)
		}
	}

	t.Run("without mTLSEnabled the secret is required", func(t *testing.T) {
		r := h.must(400, create(tpl, "no-flag", certCred, clientCred("cc", nil)))
		assertField(t, r.Error(t), secretField, "is required")
		assertField(t, r.Error(t), secretField, "mTLSEnabled")
	})

	t.Run("a config without mtlsEnabled presents no certificate", func(t *testing.T) {
		plain := templateOffering(t, h, sys.ID, "cert", "cc-plain")
		r := h.must(400, create(plain, "no-config-mtls", certCred, clientCred("cc-plain", obj{"mTLSEnabled": true})))
		assertField(t, r.Error(t), secretField, "no certificate is presented")
	})

	t.Run("the certificate goes only to the config's token URL origin", func(t *testing.T) {
		r := h.must(400, create(tpl, "elsewhere", certCred, clientCred("cc", obj{"mTLSEnabled": true, "tokenUrl": elsewhere.TokenURL})))
		assertField(t, r.Error(t), "connection.credentials[1].credential.data.oauth2Client.tokenUrl", "must be on the origin")
		if n := len(elsewhere.requests()); n != 0 {
			t.Errorf("%d token requests reached the other origin", n)
		}
	})

	t.Run("with a secret as well, the secret is sent", func(t *testing.T) {
		// The provider here takes the certificate alone, so it refuses the secret: proof that it
		// was sent, over the certificate.
		before := len(prov.requests())
		r := h.must(400, create(tpl, "both", certCred, clientCred("cc", obj{"mTLSEnabled": true, "clientSecret": "SECRET-cert-client-extra"})))
		if e := r.Error(t); e.Code != "upstream_rejected" || strings.Contains(string(r.Body), "SECRET-cert-client-extra") {
			t.Errorf("refusal: %+v", e)
		}
		reqs := prov.requests()[before:]
		if len(reqs) != 1 || !reqs[0].cert || !reqs[0].authorization {
			t.Errorf("token requests %+v, want one with the secret in the Authorization header, over the certificate", reqs)
		}
	})
}
