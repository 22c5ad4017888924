package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/httpapi"
)

// keyWith creates an API key of the harness's organisation holding exactly scopes.
func (h *harness) keyWith(scopes ...string) string {
	h.t.Helper()
	key, id, hash, err := apikey.New(h.org)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.CreateAPIKey(context.Background(), &plugboard.APIKey{ID: id, OrganisationID: h.org, Hash: hash,
		Scopes: scopes, CreatedAt: time.Now()}); err != nil {
		h.t.Fatal(err)
	}
	return key
}

// asRead returns a connection's credentials as GetConnection shows them (secrets ""), ready to PUT back.
func (h *harness) asRead(id string) (connectionView, arr) {
	h.t.Helper()
	var c connectionView
	h.must(200, h.do("GET", "/connections/"+id, nil)).JSON(h.t, &c)
	creds := arr{}
	for _, cc := range c.Credentials {
		creds = append(creds, obj{"id": cc.ID, "authSchemeConfig": cc.AuthSchemeConfig, "credential": obj{
			"id": cc.Credential.ID, "organisationId": cc.Credential.OrganisationID, "type": cc.Credential.Type,
			"name": cc.Credential.Name, "data": cc.Credential.Data}})
	}
	return c, creds
}

// TestWriteKeyCannotMoveBaseURL is finding 1 of the trust review: a connections:write key PUT a
// connection back with a new baseUrl (https to http, another host) and the secrets as read, and
// the next proxied call delivered the stored key there.
func TestWriteKeyCannotMoveBaseURL(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	evil := newUpstream(t)
	conn := h.apiKeyConnection(up.srv.URL, "SECRET-moved-key-1")
	writer := h.keyWith("connections:write", "connections:read", "connections:proxy")

	c, creds := h.asRead(conn)
	r := h.must(400, h.doAs(writer, h.org, "PUT", "/connections/"+conn, obj{"name": c.Name, "baseUrl": evil.srv.URL, "credentials": creds}))
	if got := r.Error(t).fieldNames(); len(got) != 1 || got[0] != "credentials[0].credential.data.string.value" {
		t.Fatalf("fields %v, want the secret that must be sent again", got)
	}
	h.must(200, h.doAs(writer, h.org, "GET", "/connections/"+conn+"/proxy/x", nil))
	if len(evil.reqs) != 0 {
		t.Fatal("the stored key went to the new host")
	}
	// The same origin with another path moves nothing.
	h.must(200, h.doAs(writer, h.org, "PUT", "/connections/"+conn, obj{"name": c.Name, "baseUrl": up.srv.URL + "/v2", "credentials": creds}))
	// Sending the secret again is consent: it is the caller's own.
	creds[0].(obj)["credential"].(obj)["data"] = obj{"string": obj{"value": "SECRET-caller-own"}}
	h.must(200, h.doAs(writer, h.org, "PUT", "/connections/"+conn, obj{"name": c.Name, "baseUrl": evil.srv.URL, "credentials": creds}))
	// A key that may read the secret may move it.
	_, creds = h.asRead(conn)
	h.must(200, h.doAs(h.keyWith("connections:write", "connections:access"), h.org, "PUT", "/connections/"+conn,
		obj{"name": c.Name, "baseUrl": up.srv.URL, "credentials": creds}))
}

// TestWriteKeyCannotRebindOrResign is finding 2: a write key rebound a webhook secret to an
// api-key config (so it was sent as a header), and edited a JWT credential's payload and lifetime
// so the victim's key minted a year-long admin token.
func TestWriteKeyCannotRebindOrResign(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	writer := h.keyWith("connections:write", "connections:read")
	// A template that offers both the webhook secret config and the api-key config.
	h.must(200, h.do("PUT", "/projects/"+f.projectID+"/connection-templates/"+f.templates["secret"],
		obj{"authSchemeConfigIds": arr{"secret", "api-key"}}))
	var c connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["secret"], "hook",
		sample{name: "hook", credType: "string", data: obj{"string": obj{"value": "SECRET-webhook-9"}}}, configByID("secret")))).JSON(t, &c)
	_, creds := h.asRead(c.ID)
	creds[0].(obj)["authSchemeConfig"] = configByID("api-key")
	r := h.must(400, h.doAs(writer, h.org, "PUT", "/connections/"+c.ID, obj{"name": c.Name, "credentials": creds}))
	if got := r.Error(t).fieldNames(); len(got) != 1 || got[0] != "credentials[0].credential.data.string.value" {
		t.Fatalf("rebinding: fields %v", got)
	}

	var j connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["jwt"], "jwt",
		sample{name: "jwt", credType: "jwt-bearer", data: obj{"jwtBearer": obj{"algorithm": "HS256", "secret": "SECRET-jwt-9",
			"payload": obj{"sub": "service"}, "expiresIn": "1m"}}}, configByID("jwt")))).JSON(t, &j)
	_, creds = h.asRead(j.ID)
	data := creds[0].(obj)["credential"].(obj)["data"].(map[string]any)["jwtBearer"].(map[string]any)
	data["payload"] = obj{"sub": "admin"}
	data["expiresIn"] = "8760h"
	r = h.must(400, h.doAs(writer, h.org, "PUT", "/connections/"+j.ID, obj{"name": j.Name, "credentials": creds}))
	if got := r.Error(t).fieldNames(); len(got) != 1 || got[0] != "credentials[0].credential.data.jwtBearer.secret" {
		t.Fatalf("re-signing: fields %v", got)
	}
}

// countingBody counts what a handler reads of a request body.
type countingBody struct{ n, limit int }

func (b *countingBody) Read(p []byte) (int, error) {
	if b.n >= b.limit {
		return 0, io.EOF
	}
	n := min(len(p), b.limit-b.n)
	for i := range p[:n] {
		p[i] = ' '
	}
	b.n += n
	return n, nil
}
func (b *countingBody) Close() error { return nil }

// TestBodiesAreBoundedAndReadOnlyWhenAllowed is finding 3: the body limit was skipped for any
// decoded path containing /proxy/, and bodies were decoded before the scope check.
func TestBodiesAreBoundedAndReadOnlyWhenAllowed(t *testing.T) {
	h := newHarness(t)
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "s", "domain": "s"})).JSON(t, &sys)
	handler := httpapi.New(httpapi.Config{Store: h.store, Keys: h.keys})
	serve := func(key, method, path string, body *countingBody) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, body)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec
	}
	const big = 8 << 20
	base := "/o/" + h.org.String() + "/systems/" + sys.ID + "/auth-scheme-configs/"
	// An id that decodes to a path with /proxy/ in it gets the API's limit all the same.
	body := &countingBody{limit: big}
	if rec := serve(h.key, "PUT", base+"x%2Fproxy%2Fx", body); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("escaped /proxy/ id: status %d, want 413: %s", rec.Code, rec.Body)
	}
	if body.n > httpapi.MaxBodyBytes+64<<10 {
		t.Errorf("read %d bytes of an over-limit body", body.n)
	}
	// The proxy streams: a body over the API's limit reaches the upstream whole.
	up := newUpstream(t)
	conn := h.apiKeyConnection(up.srv.URL, "SECRET-stream-key")
	h.must(200, h.do("POST", "/connections/"+conn+"/proxy/upload", bytes.Repeat([]byte("x"), 3*httpapi.MaxBodyBytes)))
	if _, got := up.last(t); len(got) != 3*httpapi.MaxBodyBytes {
		t.Errorf("the upstream received %d bytes of a streamed body", len(got))
	}
	// Neither a missing key nor a key without the operation's scope costs a byte of body.
	for _, key := range []string{"", h.keyWith("connections:read")} {
		body := &countingBody{limit: big}
		rec := serve(key, "PUT", base+"api-key", body)
		if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden {
			t.Errorf("status %d, want 401 or 403", rec.Code)
		}
		if body.n != 0 {
			t.Errorf("status %d after reading %d bytes of the body", rec.Code, body.n)
		}
	}
}
