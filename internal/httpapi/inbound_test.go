package httpapi_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// The senders' signatures are computed here as their public documentation describes them, with
// crypto/hmac directly, never through Plugboard's code:
//
//   - GitHub ("Validating webhook deliveries"): X-Hub-Signature-256 is "sha256=" and the
//     hex HMAC-SHA256 of the payload body with the webhook's secret.
//   - Shopify ("Verify a webhook"): X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the raw
//     body with the app's client secret.
//   - Slack ("Verifying requests from Slack"): X-Slack-Signature is "v0=" and the hex
//     HMAC-SHA256 of "v0:" + X-Slack-Request-Timestamp + ":" + body with the signing secret;
//     requests whose timestamp is more than five minutes from the local time are to be refused.

func hmacSHA256(secret, msg string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func signGitHub(secret string, body []byte) map[string]string {
	return map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(hmacSHA256(secret, string(body))),
		"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "Content-Type": "application/json"}
}

func signShopify(secret string, body []byte) map[string]string {
	return map[string]string{"X-Shopify-Hmac-Sha256": base64.StdEncoding.EncodeToString(hmacSHA256(secret, string(body))),
		"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "shop.myshopify.com", "Content-Type": "application/json"}
}

func signSlackAt(ts time.Time) func(secret string, body []byte) map[string]string {
	return func(secret string, body []byte) map[string]string {
		stamp := strconv.FormatInt(ts.Unix(), 10)
		return map[string]string{"X-Slack-Signature": "v0=" + hex.EncodeToString(hmacSHA256(secret, "v0:"+stamp+":"+string(body))),
			"X-Slack-Request-Timestamp": stamp, "Content-Type": "application/x-www-form-urlencoded"}
	}
}

// inboundConnection makes a system with the config, a template offering it and a static
// connection holding secret as a string credential; it returns the delivery URL's path.
func (h *harness) inboundConnection(config obj, secret string) string {
	h.t.Helper()
	var sys struct {
		ID      string `json:"id"`
		Configs []obj  `json:"authSchemeConfigs"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Sender", "domain": "sender.example", "templateBaseUrl": "https://api.sender.example",
		"authSchemeConfigs": arr{config}})).JSON(h.t, &sys)
	var configID string
	for k, v := range sys.Configs[0] {
		if k != "type" {
			configID = v.(map[string]any)["id"].(string)
		}
	}
	tpl := h.templateFor(sys.ID, configID)
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "inbound", "credentials": arr{obj{
		"id": zeroID, "authSchemeConfig": sys.Configs[0],
		"credential": obj{"type": "string", "data": obj{"string": obj{"value": secret}}}}}}})).JSON(h.t, &c)
	return "/hooks/" + h.org.String() + "/" + c.ID + "/" + configID
}

// deliver posts a delivery without an API key, as a sender does, and records the answer.
func (h *harness) deliver(path string, body []byte, headers map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.responses = append(h.responses, data)
	h.mu.Unlock()
	return response{Status: res.StatusCode, Body: data, Header: res.Header}
}

// inboundEvent is an inbound.received event as GET /events shows it.
type inboundEvent struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Actor              string `json:"actor"`
	ConnectionID       string `json:"connectionId"`
	CredentialID       string `json:"credentialId"`
	AuthSchemeConfigID string `json:"authSchemeConfigId"`
	Data               struct {
		Inbound struct {
			Method       string              `json:"method"`
			Headers      map[string][]string `json:"headers"`
			Body         string              `json:"body"`
			BodyEncoding string              `json:"bodyEncoding"`
			Truncated    bool                `json:"truncated"`
			Size         int64               `json:"size"`
		} `json:"inbound"`
	} `json:"data"`
}

// inboundEvents lists the organisation's inbound.received events, newest first.
func (h *harness) inboundEvents() []inboundEvent {
	h.t.Helper()
	var page struct {
		Events []inboundEvent `json:"events"`
	}
	h.must(200, h.do("GET", "/events?type=inbound.received&first=500", nil)).JSON(h.t, &page)
	return page.Events
}

// TestInboundSenders: GitHub, Shopify and Slack deliveries, signed as each documents it, are
// accepted through the preset configs and stored as one inbound.received event each; tampered,
// wrongly keyed, unsigned and (for Slack) replayed or future-dated ones are all the same 401,
// with nothing stored; the secret appears in no answer, log line or event.
func TestInboundSenders(t *testing.T) {
	h := newHarness(t)
	secrets := map[string]string{"github": "SECRET-github-webhook-7f3a", "shopify": "SECRET-shopify-client-19bd", "slack": "SECRET-slack-signing-c2e8"}
	type sender struct {
		name    string
		sig     string // the header the signature is in
		sign    func(secret string, body []byte) map[string]string
		replays []func(secret string, body []byte) map[string]string
	}
	now := h.clock()
	senders := []sender{
		{name: "github", sig: "X-Hub-Signature-256", sign: signGitHub},
		{name: "shopify", sig: "X-Shopify-Hmac-Sha256", sign: signShopify},
		{name: "slack", sig: "X-Slack-Signature", sign: signSlackAt(now),
			replays: []func(string, []byte) map[string]string{
				signSlackAt(now.Add(-6 * time.Minute)), // replayed: older than Slack's five minutes
				signSlackAt(now.Add(10 * time.Minute)), // from the future
				signSlackAt(time.Unix(1531420618, 0)),  // the example in Slack's documentation
			}},
	}
	var refusal []byte
	refused := func(what string, r response) {
		t.Helper()
		if r.Status != 401 || r.Error(t).Code != "unauthenticated" {
			t.Errorf("%s: %d %s, want 401 unauthenticated", what, r.Status, r.Body)
			return
		}
		if refusal == nil {
			refusal = r.Body
		} else if !bytes.Equal(r.Body, refusal) {
			t.Errorf("%s: answered %s, unlike the other refusals' %s", what, r.Body, refusal)
		}
	}
	stored := 0
	for _, s := range senders {
		t.Run(s.name, func(t *testing.T) {
			secret := secrets[s.name]
			path := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": s.name + "-in", "description": s.name, "preset": s.name}}, secret)
			body := []byte(`{"action":"opened","number":42,"note":"ünïcode ` + s.name + `"}`)

			tampered := s.sign(secret, body)
			refused("tampered body", h.deliver(path, append(bytes.Clone(body), ' '), tampered))
			refused("wrong secret", h.deliver(path, body, s.sign("SECRET-not-the-one", body)))
			missing := s.sign(secret, body)
			delete(missing, s.sig)
			refused("missing signature", h.deliver(path, body, missing))
			empty := s.sign(secret, body)
			empty[s.sig] = ""
			refused("empty signature", h.deliver(path, body, empty))
			for i, replay := range s.replays {
				refused("replayed or future-dated "+strconv.Itoa(i), h.deliver(path, body, replay(secret, body)))
			}
			if s.name == "slack" {
				noTS := s.sign(secret, body)
				delete(noTS, "X-Slack-Request-Timestamp")
				refused("no timestamp", h.deliver(path, body, noTS))
			}
			if got := len(h.inboundEvents()); got != stored {
				t.Fatalf("%d events after refused deliveries, want %d", got, stored)
			}

			headers := s.sign(secret, body)
			headers["Cookie"] = "session=SECRET-cookie-value"
			headers["Authorization"] = "Basic SECRET-sender-authorization"
			headers["X-Custom"] = "kept"
			r := h.deliver(path, body, headers)
			if r.Status != 202 || len(r.Body) != 0 {
				t.Fatalf("good delivery: %d %q, want 202 and no body", r.Status, r.Body)
			}
			stored++
			evs := h.inboundEvents()
			if len(evs) != stored {
				t.Fatalf("%d events, want %d: one per verified delivery", len(evs), stored)
			}
			e := evs[0]
			in := e.Data.Inbound
			if e.Type != "inbound.received" || e.Actor != "system" || e.ConnectionID == "" || e.CredentialID == "" ||
				!strings.HasSuffix(path, "/"+e.ConnectionID+"/"+e.AuthSchemeConfigID) {
				t.Errorf("event %+v does not name the connection and config of %s", e, path)
			}
			if in.Method != "POST" || in.Body != string(body) || in.BodyEncoding != "utf-8" || in.Truncated || in.Size != int64(len(body)) {
				t.Errorf("inbound %+v, want the delivery's method and body", in)
			}
			if got, ok := in.Headers[http.CanonicalHeaderKey(s.sig)]; ok {
				t.Errorf("signature header %v kept: with the body it verifies again", got)
			}
			if got := in.Headers["X-Custom"]; len(got) != 1 || got[0] != "kept" {
				t.Errorf("X-Custom %v not kept", got)
			}
			for _, gone := range []string{"Cookie", "Authorization", "Connection"} {
				if _, ok := in.Headers[gone]; ok {
					t.Errorf("header %s stored", gone)
				}
			}
			// The same delivery again is another event: replay protection is the timestamp's.
			h.must(202, h.deliver(path, body, s.sign(secret, body)))
			stored++
			if got := len(h.inboundEvents()); got != stored {
				t.Errorf("%d events after a second delivery, want %d", got, stored)
			}
		})
	}
	for _, s := range secrets {
		for i, b := range h.allResponses() {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("response %d holds a webhook secret: %s", i, b)
			}
		}
		if strings.Contains(h.logs.String(), s) {
			t.Error("the log holds a webhook secret")
		}
	}
	// The deliveries' bodies and headers are sealed: the database holds neither in the clear.
	for name, dump := range h.databaseDumps() {
		for _, clear := range []string{"ünïcode github", "SECRET-sender-authorization", "72d3162e-cc78-11e3-81ab-4c9367dc0958"} {
			if bytes.Contains(dump, []byte(clear)) {
				t.Errorf("%s holds %q in the clear", name, clear)
			}
		}
	}
}

// TestInboundRefusalsRevealNothing: unknown or malformed ids, a config that is not hmac, and a
// bad signature are answered alike, and store nothing.
func TestInboundRefusalsRevealNothing(t *testing.T) {
	h := newHarness(t)
	const secret = "SECRET-hook-3391"
	path := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "gh", "description": "", "preset": "github"}}, secret)
	parts := strings.Split(path, "/") // "", hooks, org, connection, config
	f := h.fixture()
	var apiKeyConn connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], "api-key-conn", sample{credType: "string",
		data: obj{"string": obj{"value": secret}}}, configByID("api-key")))).JSON(t, &apiKeyConn)
	otherOrg, _ := h.newOrg("other")
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	good := signGitHub(secret, body)
	cases := map[string]string{
		"unknown organisation":     "/hooks/" + ulid.Make().String() + "/" + parts[3] + "/" + parts[4],
		"another organisation":     "/hooks/" + otherOrg.String() + "/" + parts[3] + "/" + parts[4],
		"unknown connection":       "/hooks/" + parts[2] + "/" + ulid.Make().String() + "/" + parts[4],
		"unknown config":           "/hooks/" + parts[2] + "/" + parts[3] + "/nope",
		"config not of the conn":   "/hooks/" + parts[2] + "/" + parts[3] + "/api-key",
		"config not hmac":          "/hooks/" + parts[2] + "/" + apiKeyConn.ID + "/api-key",
		"malformed organisation":   "/hooks/not-a-ulid/" + parts[3] + "/" + parts[4],
		"malformed connection":     "/hooks/" + parts[2] + "/" + strings.ToLower(parts[3]) + "x/" + parts[4],
		"bad bytes in the config":  "/hooks/" + parts[2] + "/" + parts[3] + "/%FF%00",
		"good ids, bad signature":  path,
		"api key instead of a sig": path,
	}
	var first []byte
	for name, p := range cases {
		headers := good
		if name == "good ids, bad signature" || name == "api key instead of a sig" {
			headers = signGitHub("SECRET-wrong", body)
		}
		if name == "api key instead of a sig" {
			headers["Authorization"] = "Bearer " + h.key
		}
		r := h.deliver(p, body, headers)
		if r.Status != 401 {
			t.Errorf("%s: %d %s, want 401", name, r.Status, r.Body)
			continue
		}
		if first == nil {
			first = r.Body
		} else if !bytes.Equal(first, r.Body) {
			t.Errorf("%s: %s differs from %s", name, r.Body, first)
		}
	}
	if n := len(h.inboundEvents()); n != 0 {
		t.Errorf("%d events stored by refused deliveries", n)
	}
	h.must(202, h.deliver(path, body, good))
	if n := len(h.inboundEvents()); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
	// Only POST is served.
	if r := h.deliver(path, nil, nil); r.Status != 401 {
		t.Errorf("empty POST: %d", r.Status)
	}
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	res, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 && res.StatusCode != 405 {
		t.Errorf("GET: %d", res.StatusCode)
	}
}

// TestInboundBodyLimit: a body over the limit is 413 before anything is verified, whether or not
// the ids exist and the signature is good, with a Content-Length or streamed; one at the limit is
// taken. The default limit is 1 MiB.
func TestInboundBodyLimit(t *testing.T) {
	const limit = 4096
	h := newHarnessWith(t, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver()}, func(c *httpapi.Config) { c.InboundMaxBodyBytes = limit })
	const secret = "SECRET-limit-5521"
	path := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "shop", "description": "", "preset": "shopify"}}, secret)
	big := bytes.Repeat([]byte("a"), limit+1)
	for name, p := range map[string]string{"known ids": path, "unknown ids": "/hooks/" + ulid.Make().String() + "/" + ulid.Make().String() + "/x"} {
		for _, headers := range []map[string]string{signShopify(secret, big), signShopify("SECRET-wrong", big), nil} {
			if r := h.deliver(p, big, headers); r.Status != 413 || r.Error(t).Code != "request_too_large" {
				t.Errorf("%s: %d %s, want 413", name, r.Status, r.Body)
			}
		}
	}
	// Streamed, without a Content-Length.
	req, _ := http.NewRequest("POST", h.srv.URL+path, io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	for k, v := range signShopify(secret, big) {
		req.Header.Set(k, v)
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("streamed: %d, want 413", res.StatusCode)
	}
	if n := len(h.inboundEvents()); n != 0 {
		t.Errorf("%d events stored", n)
	}
	atLimit := big[:limit]
	h.must(202, h.deliver(path, atLimit, signShopify(secret, atLimit)))

	// The default.
	d := newHarness(t)
	dpath := d.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "shop", "description": "", "preset": "shopify"}}, secret)
	mib := bytes.Repeat([]byte("b"), 1<<20)
	d.must(202, d.deliver(dpath, mib, signShopify(secret, mib)))
	over := append(mib, 'b')
	if r := d.deliver(dpath, over, signShopify(secret, over)); r.Status != 413 {
		t.Errorf("1 MiB + 1: %d, want 413", r.Status)
	}
}

// TestInboundEventBody: the event keeps the body up to the configured size and says when it cut
// it; a body that is not UTF-8 is base64.
func TestInboundEventBody(t *testing.T) {
	h := newHarnessWith(t, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver()}, func(c *httpapi.Config) { c.InboundEventBodyBytes = 16 })
	const secret = "SECRET-body-8812"
	path := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "gh", "description": "", "preset": "github"}}, secret)
	long := []byte("0123456789abcdefTHE-REST-IS-DROPPED")
	h.must(202, h.deliver(path, long, signGitHub(secret, long)))
	in := h.inboundEvents()[0].Data.Inbound
	if in.Body != "0123456789abcdef" || !in.Truncated || in.Size != int64(len(long)) || in.BodyEncoding != "utf-8" {
		t.Errorf("truncated body: %+v", in)
	}
	// A cut inside a character backs off to the character before.
	text := []byte("0123456789abcdeé-rest")
	h.must(202, h.deliver(path, text, signGitHub(secret, text)))
	if in := h.inboundEvents()[0].Data.Inbound; in.Body != "0123456789abcde" || in.BodyEncoding != "utf-8" || !in.Truncated {
		t.Errorf("cut inside a character: %+v", in)
	}
	bin := []byte{0xff, 0x00, 0xfe, 0x01}
	h.must(202, h.deliver(path, bin, signGitHub(secret, bin)))
	in = h.inboundEvents()[0].Data.Inbound
	if in.BodyEncoding != "base64" || in.Body != base64.StdEncoding.EncodeToString(bin) || in.Truncated {
		t.Errorf("binary body: %+v", in)
	}
	h.must(202, h.deliver(path, nil, signGitHub(secret, nil)))
	if in := h.inboundEvents()[0].Data.Inbound; in.Body != "" || in.Size != 0 || in.Truncated {
		t.Errorf("empty body: %+v", in)
	}
}

// TestInboundURLInput: a config that signs the URL verifies the public URL the sender called
// (Plugboard's public URL, the path, the query as sent), less the signature's own parameter
// when it travels in the query; another host or query does not verify.
func TestInboundURLInput(t *testing.T) {
	h := newHarness(t)
	const secret = "SECRET-url-4471"
	path := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "url-sig", "description": "", "name": "sig", "in": "query",
		"algorithm": "sha256", "digestInputs": arr{"url", "body"}, "encoding": "base64url", "template": "{url}\n{body}"}}, secret)
	body := []byte(`{"event":"ping"}`)
	sign := func(base, query string) string {
		u := base + path + "?" + query
		return query + "&sig=" + base64.URLEncoding.EncodeToString(hmacSHA256(secret, u+"\n"+string(body)))
	}
	const query = "b=x%20y&a=1"
	h.must(202, h.deliver(path+"?"+sign(h.srv.URL, query), body, nil))
	for name, q := range map[string]string{
		"another host":     sign("https://elsewhere.example", query),
		"query reordered":  strings.Replace(sign(h.srv.URL, query), "b=x%20y&a=1", "a=1&b=x%20y", 1),
		"query re-encoded": strings.Replace(sign(h.srv.URL, query), "x%20y", "x+y", 1),
	} {
		if r := h.deliver(path+"?"+q, body, nil); r.Status != 401 {
			t.Errorf("%s: %d, want 401", name, r.Status)
		}
	}
	// A config id that is percent-encoded in the path: the URL signed is the one sent, as sent.
	epath := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "wébhook", "description": "", "name": "X-Sig", "in": "header",
		"algorithm": "sha256", "digestInputs": arr{"url"}, "encoding": "hex"}}, secret)
	for _, sent := range []string{strings.Replace(epath, "wébhook", "w%C3%A9bhook", 1), strings.Replace(epath, "wébhook", "w%c3%a9bhook", 1)} {
		sig := hex.EncodeToString(hmacSHA256(secret, h.srv.URL+sent+"?x=%2F"))
		h.must(202, h.deliver(sent+"?x=%2F", body, map[string]string{"X-Sig": sig}))
	}
	if n := len(h.inboundEvents()); n != 3 {
		t.Errorf("%d events, want 3", n)
	}
}

// TestInboundRateLimit: with PLUGBOARD_INBOUND_RATE_LIMIT_PER_CONNECTION set, verified deliveries
// over the connection's bucket are 429 with Retry-After and store nothing; refused deliveries cost
// no bucket, and another connection has its own.
func TestInboundRateLimit(t *testing.T) {
	h := newHarnessWith(t, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver()}, func(c *httpapi.Config) {
		c.InboundRateLimit = ratelimit.Limit{PerSecond: 0.0001, Burst: 2} // no refill within a test
	})
	const secret = "SECRET-rate-6620"
	cfg := obj{"type": "hmac", "hmac": obj{"id": "gh", "description": "", "preset": "github"}}
	path, other := h.inboundConnection(cfg, secret), h.inboundConnection(cfg, secret)
	body := []byte(`{}`)
	for i := 0; i < 5; i++ {
		h.must(401, h.deliver(path, body, signGitHub("SECRET-wrong", body)))
	}
	h.must(202, h.deliver(path, body, signGitHub(secret, body)))
	h.must(202, h.deliver(path, body, signGitHub(secret, body)))
	r := h.deliver(path, body, signGitHub(secret, body))
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || r.Error(t).Code != "rate_limited" {
		t.Errorf("third delivery: %d %s (Retry-After %q), want 429", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	h.must(202, h.deliver(other, body, signGitHub(secret, body)))
	if n := len(h.inboundEvents()); n != 3 {
		t.Errorf("%d events, want 3", n)
	}
}

// TestInboundExpiredCredential: a credential past its expiresAt verifies nothing.
func TestInboundExpiredCredential(t *testing.T) {
	h := newHarness(t)
	const secret = "SECRET-expiring-2231"
	path := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "gh", "description": "", "preset": "github"}}, secret)
	parts := strings.Split(path, "/")
	c, creds := h.asRead(parts[3])
	cred := creds[0].(map[string]any)["credential"].(map[string]any)
	cred["expiresAt"] = h.clock().Add(time.Hour).UTC().Format(time.RFC3339)
	cred["data"] = obj{"string": obj{"value": secret}}
	h.must(200, h.do("PUT", "/connections/"+parts[3], obj{"name": c.Name, "credentials": creds}))
	body := []byte(`{}`)
	h.must(202, h.deliver(path, body, signGitHub(secret, body)))
	h.advance(2 * time.Hour)
	h.must(401, h.deliver(path, body, signGitHub(secret, body)))
	if n := len(h.inboundEvents()); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

// TestInboundSecretRotation: a connection holding two credentials for the config accepts
// deliveries signed with either, so a sender's secret can be replaced with an overlap; the event
// names the credential that verified it.
func TestInboundSecretRotation(t *testing.T) {
	h := newHarness(t)
	const oldSecret, newSecret = "SECRET-rotate-old-1", "SECRET-rotate-new-2"
	path := h.inboundConnection(obj{"type": "hmac", "hmac": obj{"id": "gh", "description": "", "preset": "github"}}, oldSecret)
	connID := strings.Split(path, "/")[3]
	c, creds := h.asRead(connID)
	second := obj{"id": zeroID, "authSchemeConfig": creds[0].(obj)["authSchemeConfig"],
		"credential": obj{"type": "string", "data": obj{"string": obj{"value": newSecret}}}}
	h.must(200, h.do("PUT", "/connections/"+connID, obj{"name": c.Name, "credentials": append(creds, second)}))
	body := []byte(`{"n":1}`)
	verifiedBy := map[string]bool{}
	for _, secret := range []string{oldSecret, newSecret} {
		h.must(202, h.deliver(path, body, signGitHub(secret, body)))
		verifiedBy[h.inboundEvents()[0].CredentialID] = true
	}
	if len(verifiedBy) != 2 {
		t.Errorf("the two deliveries name credentials %v, want two different ones", verifiedBy)
	}
	h.must(401, h.deliver(path, body, signGitHub("SECRET-neither", body)))
}
