package httpapi_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// certUpstream is an API over TLS that requires a client certificate, and records the TLS
// connections it accepted and closed and the certificate each request presented.
type certUpstream struct {
	srv    *httptest.Server
	closed chan net.Conn

	mu        sync.Mutex
	opened    int
	presented [][]byte // the client certificate of each request, in order
}

func newCertUpstream(t *testing.T, serverPKI mtlsPKI, clientCAs ...string) *certUpstream {
	t.Helper()
	u := &certUpstream{closed: make(chan net.Conn, 16)}
	pool := x509.NewCertPool()
	for _, ca := range clientCAs {
		pool.AppendCertsFromPEM([]byte(ca))
	}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.presented = append(u.presented, r.TLS.PeerCertificates[0].Raw)
		u.mu.Unlock()
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverPKI.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	u.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			u.mu.Lock()
			u.opened++
			u.mu.Unlock()
		case http.StateClosed, http.StateHijacked:
			select {
			case u.closed <- c:
			default:
			}
		}
	}
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *certUpstream) seen() (opened int, certs [][]byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.opened, append([][]byte(nil), u.presented...)
}

// TestProxyKeepsClientCertificateConnections: proxied calls on a connection with a certificate
// credential reuse one TLS connection (one handshake) instead of shaking hands per call; when the
// certificate changes, the next call presents the new one over a new connection, and the old
// transport's idle connection is closed.
func TestProxyKeepsClientCertificateConnections(t *testing.T) {
	h := newHarness(t)
	pki, other := newMTLSPKI(t), newMTLSPKI(t)
	up := newCertUpstream(t, pki, pki.CA, other.CA)

	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "mtls-upstream", "domain": "d", "templateBaseUrl": up.srv.URL,
		"authSchemeConfigs": arr{obj{"type": "certificate", "certificate": obj{"id": "cert", "description": ""}}}})).JSON(t, &sys)
	tpl := templateOffering(t, h, sys.ID, "cert")
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "c", "credentials": arr{
		obj{"id": zeroID, "authSchemeConfig": obj{"type": "certificate", "certificate": obj{"id": "cert"}},
			"credential": obj{"type": "certificate", "data": obj{"certificate": obj{"certificate": pki.ClientCert, "key": pki.ClientKey, "ca": pki.CA}}}},
	}}})).JSON(t, &c)

	const calls = 5
	for range calls {
		h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	}
	opened, certs := up.seen()
	if opened != 1 || len(certs) != calls {
		t.Fatalf("%d proxied calls opened %d TLS connections for %d requests, want 1", calls, opened, len(certs))
	}
	for i, raw := range certs {
		if string(raw) != string(pki.clientDER) {
			t.Fatalf("request %d presented another certificate than the stored one", i)
		}
	}

	// A new certificate (from the other CA, still verifying the server with the first).
	var read map[string]any
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &read)
	creds := read["credentials"].([]any)
	data := creds[0].(map[string]any)["credential"].(map[string]any)["data"].(map[string]any)
	data["certificate"] = obj{"certificate": other.ClientCert, "key": other.ClientKey, "ca": pki.CA}
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": "c", "baseUrl": "", "credentials": creds}))
	select {
	case <-up.closed: // the dropped transport's idle connection
	case <-time.After(10 * time.Second):
		t.Fatal("the connection made with the old certificate was not closed when the certificate changed")
	}
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	opened, certs = up.seen()
	if opened != 2 {
		t.Errorf("after the change: %d TLS connections in all, want 2 (one per certificate)", opened)
	}
	for _, raw := range certs[calls:] {
		if string(raw) != string(other.clientDER) {
			t.Fatal("a call after the change presented the old certificate")
		}
	}
}
