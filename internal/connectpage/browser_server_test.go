package connectpage_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/testlog"
	"github.com/plugboard/plugboard/internal/vault"
)

// plugboardServer is the whole API on a real store, reached over HTTP like a backend would.
type plugboardServer struct {
	t    *testing.T
	URL  string
	org  ulid.ULID
	key  string
	logs *testlog.Buffer

	mu     sync.Mutex
	bodies [][]byte // every answer, to search for secrets
}

// startPlugboard serves the API with srv (not started yet, so its address could be registered at
// the OAuth provider first). Its outbound client reaches 127.0.0.1 and trusts caPEM (the system's
// roots when nil).
func startPlugboard(t *testing.T, srv *httptest.Server, caPEM []byte, returnOrigins []string) *plugboardServer {
	t.Helper()
	store := apitest.OpenStore(t)
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	org, key := apitest.NewOrganisation(t, store.DB, "browser")
	var pool *x509.CertPool
	if caPEM != nil {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			t.Fatal("the test CA is not PEM")
		}
	}
	out := outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver(), RootCAs: pool, RequestTimeout: 10 * time.Second})
	s := &plugboardServer{t: t, URL: "http://" + srv.Listener.Addr().String(), org: org, key: key, logs: &testlog.Buffer{}}
	srv.Config.Handler = httpapi.New(httpapi.Config{Store: store.DB, Keys: keys, Logger: apitest.Logger(s.logs), Outbound: out,
		PublicURL: s.URL, ReturnURLOrigins: returnOrigins})
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}

// do sends an API request with the organisation's key to a path under /o/{org}, or to an absolute
// path when it starts with "//", and returns the status and body.
func (s *plugboardServer) do(method, path string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	u := s.URL + "/o/" + s.org.String() + path
	if strings.HasPrefix(path, "//") {
		u = s.URL + path[1:]
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, data)
	s.mu.Unlock()
	return res.StatusCode, data
}

// must fails the test unless the answer has the wanted status, and decodes it into out.
func (s *plugboardServer) must(want int, method, path string, body, out any) {
	s.t.Helper()
	status, data := s.do(method, path, body)
	if status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// get fetches a URL without credentials and returns the answer with its body read.
func get(t *testing.T, u string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, data
}

// eventView is an event as the API lists it.
type eventView struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	ConnectionID string         `json:"connectionId"`
	EndUserID    string         `json:"endUserId"`
	TemplateID   string         `json:"templateId"`
	Data         map[string]any `json:"data"`
}

// events returns every event of the organisation, oldest first.
func (s *plugboardServer) events() []eventView {
	s.t.Helper()
	var out []eventView
	after := ""
	for {
		var page struct {
			Events []eventView `json:"events"`
			Next   string      `json:"next"`
		}
		q := "/events?first=100"
		if after != "" {
			q += "&after=" + after
		}
		s.must(200, "GET", q, nil, &page)
		out = append(out, page.Events...)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// upstream is an API behind the proxy that records the credentials each call brought.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// project is a project made through the API, whose first environment the browser tests use.
type project struct {
	pb      *plugboardServer
	id, env string
}

// project makes a project named name.
func (pb *plugboardServer) project(name string) *project {
	var p struct {
		ID           string `json:"id"`
		Environments []struct {
			ID string `json:"id"`
		} `json:"environments"`
	}
	pb.must(200, "POST", "/projects", obj{"name": name}, &p)
	return &project{pb: pb, id: p.ID, env: p.Environments[0].ID}
}

// template makes a dynamic template of the system in the project's first environment, then
// updates it with update when it is not nil, and returns its id.
func (p *project) template(systemID, name string, update obj) string {
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	p.pb.must(200, "POST", "/projects/"+p.id+"/connection-templates", obj{"systemId": systemID, "name": name, "environmentId": p.env, "dynamic": true}, &tpl)
	if update != nil {
		p.pb.must(200, "PUT", "/projects/"+p.id+"/connection-templates/"+tpl.ID, update, nil)
	}
	return tpl.ID
}

// credentialTypes reads a connection's credential types, in order.
func credentialTypes(pb *plugboardServer, conn string) []string {
	var c struct {
		Credentials []struct {
			Credential struct {
				Type string `json:"type"`
			} `json:"credential"`
		} `json:"credentials"`
	}
	pb.must(200, "GET", "/connections/"+conn, nil, &c)
	types := make([]string, len(c.Credentials))
	for i, cc := range c.Credentials {
		types[i] = cc.Credential.Type
	}
	return types
}
