package oauth1test_test

import (
	"crypto/hmac"
	"crypto/rand"
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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/oauth1test"
)

// This file holds a tiny RFC 5849 client, standard library only, to prove the provider works.
// Plugboard itself signs with github.com/dghubble/oauth1.

// transmission is where the oauth_* protocol parameters travel (RFC 5849 section 3.5).
type transmission string

const (
	viaHeader transmission = "header"
	viaForm   transmission = "body"
	viaQuery  transmission = "query"
)

// client holds the credentials a request is signed with.
type client struct {
	consumerKey, consumerSecret string
	token, tokenSecret          string
	method                      string // HMAC-SHA1 or HMAC-SHA256
	via                         transmission
}

// signed is a prepared request that can be sent (and replayed) as is.
type signed struct {
	method, url string
	header      http.Header
	body        string
}

// encode is RFC 5849 section 3.6 percent-encoding: RFC 3986 unreserved characters stay, every
// other byte of the UTF-8 form becomes %XX with upper-case hex.
func encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func nonce() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) // like dghubble/oauth1: 44 chars with + / =
}

// sign prepares an HTTP request. App parameters go in the query string for GET and in a form
// body otherwise; protocol parameters go where c.via says; extra holds further oauth_*
// parameters such as oauth_callback or oauth_verifier.
func (c client) sign(t testing.TB, httpMethod, rawURL string, extra map[string]string, app url.Values) *signed {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	query := u.Query()
	form := url.Values{}
	for k, vs := range app {
		if httpMethod == http.MethodGet {
			query[k] = append(query[k], vs...)
		} else {
			form[k] = append(form[k], vs...)
		}
	}
	if c.via == viaForm && httpMethod == http.MethodGet {
		t.Fatal("form transmission needs a request with a body")
	}

	oauth := map[string]string{
		"oauth_consumer_key":     c.consumerKey,
		"oauth_nonce":            nonce(),
		"oauth_signature_method": c.method,
		"oauth_timestamp":        strconv.FormatInt(time.Now().Unix(), 10),
		"oauth_version":          "1.0",
	}
	if c.token != "" {
		oauth["oauth_token"] = c.token
	}
	for k, v := range extra {
		oauth[k] = v
	}

	// Section 3.4.1.3: query, form body and protocol parameters, encoded, then sorted.
	var pairs [][2]string
	add := func(k, v string) { pairs = append(pairs, [2]string{encode(k), encode(v)}) }
	for k, vs := range query {
		for _, v := range vs {
			add(k, v)
		}
	}
	for k, vs := range form {
		for _, v := range vs {
			add(k, v)
		}
	}
	for k, v := range oauth {
		add(k, v)
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	joined := make([]string, len(pairs))
	for i, kv := range pairs {
		joined[i] = kv[0] + "=" + kv[1]
	}
	// Section 3.4.1.2: scheme and host lower case, default port dropped, no query.
	host := strings.ToLower(u.Host)
	if u.Scheme == "http" {
		host = strings.TrimSuffix(host, ":80")
	}
	baseURI := strings.ToLower(u.Scheme) + "://" + host + u.EscapedPath()
	base := strings.ToUpper(httpMethod) + "&" + encode(baseURI) + "&" + encode(strings.Join(joined, "&"))

	var h func() hash.Hash
	switch c.method {
	case oauth1test.HMACSHA1:
		h = sha1.New
	case oauth1test.HMACSHA256:
		h = sha256.New
	default:
		t.Fatalf("test signer does not do %s", c.method)
	}
	mac := hmac.New(h, []byte(encode(c.consumerSecret)+"&"+encode(c.tokenSecret)))
	mac.Write([]byte(base))
	oauth["oauth_signature"] = base64.StdEncoding.EncodeToString(mac.Sum(nil))

	req := &signed{method: httpMethod, header: http.Header{}}
	switch c.via {
	case viaHeader:
		keys := make([]string, 0, len(oauth))
		for k := range oauth {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := []string{`realm=""`}
		for _, k := range keys {
			parts = append(parts, encode(k)+`="`+encode(oauth[k])+`"`)
		}
		req.header.Set("Authorization", "OAuth "+strings.Join(parts, ", "))
	case viaForm:
		for k, v := range oauth {
			form.Set(k, v)
		}
	case viaQuery:
		for k, v := range oauth {
			query.Set(k, v)
		}
	}
	u.RawQuery = query.Encode()
	req.url = u.String()
	if httpMethod != http.MethodGet {
		req.body = form.Encode()
		req.header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// do sends the request and returns the status and body.
func (s *signed) do(t testing.TB) (int, string) {
	t.Helper()
	var body io.Reader
	if s.method != http.MethodGet {
		body = strings.NewReader(s.body)
	}
	req, err := http.NewRequest(s.method, s.url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", s.method, s.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func parseForm(t testing.TB, body string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(body)
	if err != nil {
		t.Fatalf("parse %q: %v", body, err)
	}
	return v
}

const callback = "http://127.0.0.1:9/oauth1/callback?state=xyz"

// requestToken runs the first leg and returns the temporary credentials.
func requestToken(t testing.TB, p *oauth1test.Provider, c client) (token, secret string) {
	t.Helper()
	status, body := c.sign(t, http.MethodPost, p.RequestTokenURL, map[string]string{"oauth_callback": callback}, nil).do(t)
	if status != http.StatusOK {
		t.Fatalf("request_token: status %d: %s", status, body)
	}
	v := parseForm(t, body)
	if v.Get("oauth_callback_confirmed") != "true" || v.Get("oauth_token") == "" || v.Get("oauth_token_secret") == "" {
		t.Fatalf("request_token: unexpected body %q", body)
	}
	return v.Get("oauth_token"), v.Get("oauth_token_secret")
}

// authorize runs the second leg and returns the verifier.
func authorize(t testing.TB, p *oauth1test.Provider, token string) string {
	t.Helper()
	loc := p.Authorize(t, p.AuthorizeURL+"?oauth_token="+url.QueryEscape(token))
	if loc.Host != "127.0.0.1:9" || loc.Path != "/oauth1/callback" {
		t.Fatalf("authorize redirected to %s, want the callback", loc)
	}
	q := loc.Query()
	if q.Get("state") != "xyz" || q.Get("oauth_token") != token || q.Get("oauth_verifier") == "" {
		t.Fatalf("authorize redirect %s: want state, oauth_token and oauth_verifier", loc)
	}
	return q.Get("oauth_verifier")
}

// accessToken runs the third leg and returns the token credentials response.
func accessToken(t testing.TB, p *oauth1test.Provider, c client, verifier string) url.Values {
	t.Helper()
	status, body := c.sign(t, http.MethodPost, p.AccessTokenURL, map[string]string{"oauth_verifier": verifier}, nil).do(t)
	if status != http.StatusOK {
		t.Fatalf("access_token: status %d: %s", status, body)
	}
	v := parseForm(t, body)
	if v.Get("oauth_token") == "" || v.Get("oauth_token_secret") == "" {
		t.Fatalf("access_token: unexpected body %q", body)
	}
	return v
}

type resourceReply struct {
	OK              bool                `json:"ok"`
	User            string              `json:"user"`
	ConsumerKey     string              `json:"consumer_key"`
	SignatureMethod string              `json:"signature_method"`
	Transmission    string              `json:"transmission"`
	Method          string              `json:"method"`
	Params          map[string][]string `json:"params"`
	Reason          string              `json:"reason"`
}

func decodeReply(t testing.TB, body string) resourceReply {
	t.Helper()
	var r resourceReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("resource reply %q: %v", body, err)
	}
	return r
}

// threeLegged runs the whole flow and returns a client holding token credentials.
func threeLegged(t testing.TB, p *oauth1test.Provider, method string, via transmission) client {
	t.Helper()
	c := client{consumerKey: p.ConsumerKey, consumerSecret: p.ConsumerSecret, method: method, via: via}
	c.token, c.tokenSecret = requestToken(t, p, c)
	verifier := authorize(t, p, c.token)
	v := accessToken(t, p, c, verifier)
	if v.Get("user_id") != p.UserID {
		t.Fatalf("access_token user_id = %q, want %q", v.Get("user_id"), p.UserID)
	}
	c.token, c.tokenSecret = v.Get("oauth_token"), v.Get("oauth_token_secret")
	return c
}

func TestThreeLeggedFlow(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{})
	for _, method := range []string{oauth1test.HMACSHA1, oauth1test.HMACSHA256} {
		for _, via := range []transmission{viaHeader, viaForm, viaQuery} {
			t.Run(method+"/"+string(via), func(t *testing.T) {
				c := client{consumerKey: p.ConsumerKey, consumerSecret: p.ConsumerSecret, method: method, via: via}
				rtoken, rsecret := requestToken(t, p, c)
				verifier := authorize(t, p, rtoken)
				c.token, c.tokenSecret = rtoken, rsecret
				v := accessToken(t, p, c, verifier)
				if v.Get("user_id") != p.UserID || v.Get("screen_name") != oauth1test.DefaultScreenName {
					t.Fatalf("access_token: user_id=%q screen_name=%q", v.Get("user_id"), v.Get("screen_name"))
				}

				// The request token is single use.
				if status, body := c.sign(t, http.MethodPost, p.AccessTokenURL, map[string]string{"oauth_verifier": verifier}, nil).do(t); status != http.StatusUnauthorized {
					t.Errorf("reused request token: status %d, want 401: %s", status, body)
				}

				c.token, c.tokenSecret = v.Get("oauth_token"), v.Get("oauth_token_secret")
				app := url.Values{"q": {"hello world"}, "odd": {"a+b&c=d/é~!*'()"}, "multi": {"2", "1"}}
				resURL := p.ResourceURL + "?page=2"
				if via != viaForm {
					status, body := c.sign(t, http.MethodGet, resURL, nil, app).do(t)
					if status != http.StatusOK {
						t.Fatalf("GET resource: status %d: %s", status, body)
					}
					r := decodeReply(t, body)
					if !r.OK || r.User != p.UserID || r.SignatureMethod != method || r.Transmission != string(via) || r.Method != "GET" {
						t.Fatalf("GET resource: unexpected reply %s", body)
					}
					if got := r.Params["odd"]; len(got) != 1 || got[0] != app.Get("odd") {
						t.Errorf("GET resource: odd = %q, want %q", got, app.Get("odd"))
					}
				}
				status, body := c.sign(t, http.MethodPost, resURL, nil, app).do(t)
				if status != http.StatusOK {
					t.Fatalf("POST resource: status %d: %s", status, body)
				}
				r := decodeReply(t, body)
				if !r.OK || r.User != p.UserID || r.ConsumerKey != p.ConsumerKey || r.Transmission != string(via) || r.Method != "POST" {
					t.Fatalf("POST resource: unexpected reply %s", body)
				}
				if got := r.Params["q"]; len(got) != 1 || got[0] != "hello world" {
					t.Errorf("POST resource: q = %q", got)
				}
				if got := r.Params["page"]; len(got) != 1 || got[0] != "2" {
					t.Errorf("POST resource: page = %q", got)
				}
			})
		}
	}
	counts := p.Counts(t)
	if counts["request_token"] != 6 || counts["access_token"] != 12 || counts["access_token_failures"] != 6 || counts["resource"] != 10 || counts["resource_failures"] != 0 {
		t.Errorf("counts = %v", counts)
	}
}

func TestReplayedNonceRejected(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{})
	for _, via := range []transmission{viaHeader, viaQuery} {
		c := threeLegged(t, p, oauth1test.HMACSHA256, via)
		req := c.sign(t, http.MethodGet, p.ResourceURL, nil, url.Values{"x": {"1"}})
		if status, body := req.do(t); status != http.StatusOK {
			t.Fatalf("%s: first request: status %d: %s", via, status, body)
		}
		status, body := req.do(t)
		if status != http.StatusUnauthorized {
			t.Fatalf("%s: replayed request: status %d, want 401: %s", via, status, body)
		}
		if r := decodeReply(t, body); r.OK || !strings.Contains(r.Reason, "nonce") {
			t.Errorf("%s: replayed request reply %s", via, body)
		}
	}
	// A replayed request token request is refused too.
	c := client{consumerKey: p.ConsumerKey, consumerSecret: p.ConsumerSecret, method: oauth1test.HMACSHA1, via: viaHeader}
	req := c.sign(t, http.MethodPost, p.RequestTokenURL, map[string]string{"oauth_callback": callback}, nil)
	if status, body := req.do(t); status != http.StatusOK {
		t.Fatalf("request_token: status %d: %s", status, body)
	}
	if status, body := req.do(t); status != http.StatusUnauthorized {
		t.Fatalf("replayed request_token: status %d, want 401: %s", status, body)
	}
	if n := p.Counts(t)["nonce_replays"]; n != 3 {
		t.Errorf("nonce_replays = %d, want 3", n)
	}
}

func TestBadSignatureRejected(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{})
	c := threeLegged(t, p, oauth1test.HMACSHA1, viaHeader)

	for name, bad := range map[string]client{
		"token secret":    {consumerKey: c.consumerKey, consumerSecret: c.consumerSecret, token: c.token, tokenSecret: c.tokenSecret + "x", method: c.method, via: c.via},
		"consumer secret": {consumerKey: c.consumerKey, consumerSecret: "wrong", token: c.token, tokenSecret: c.tokenSecret, method: c.method, via: c.via},
		"unknown token":   {consumerKey: c.consumerKey, consumerSecret: c.consumerSecret, token: "nosuchtoken0000000000000000000", tokenSecret: c.tokenSecret, method: c.method, via: c.via},
	} {
		status, body := bad.sign(t, http.MethodGet, p.ResourceURL, nil, nil).do(t)
		if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", name, status, body)
		}
	}

	// A request altered after signing fails verification.
	req := c.sign(t, http.MethodGet, p.ResourceURL, nil, url.Values{"amount": {"1"}})
	req.url = strings.Replace(req.url, "amount=1", "amount=1000", 1)
	if status, body := req.do(t); status != http.StatusUnauthorized {
		t.Errorf("tampered query: status %d, want 401: %s", status, body)
	}

	// Wrong consumer secret at the first leg.
	bad := client{consumerKey: p.ConsumerKey, consumerSecret: "wrong", method: oauth1test.HMACSHA256, via: viaForm}
	if status, body := bad.sign(t, http.MethodPost, p.RequestTokenURL, map[string]string{"oauth_callback": callback}, nil).do(t); status != http.StatusUnauthorized {
		t.Errorf("request_token with wrong consumer secret: status %d, want 401: %s", status, body)
	}

	// The good client still works.
	if status, body := c.sign(t, http.MethodGet, p.ResourceURL, nil, nil).do(t); status != http.StatusOK {
		t.Errorf("good request: status %d: %s", status, body)
	}
	if n := p.Counts(t)["resource_failures"]; n != 4 {
		t.Errorf("resource_failures = %d, want 4", n)
	}
}

func TestFailNext(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{})
	c := client{consumerKey: p.ConsumerKey, consumerSecret: p.ConsumerSecret, method: oauth1test.HMACSHA1, via: viaHeader}
	c.token, c.tokenSecret = requestToken(t, p, c)
	verifier := authorize(t, p, c.token)

	p.FailNext(t, http.StatusServiceUnavailable, 2)
	for i := 0; i < 2; i++ {
		status, body := c.sign(t, http.MethodPost, p.AccessTokenURL, map[string]string{"oauth_verifier": verifier}, nil).do(t)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("attempt %d: status %d, want 503: %s", i, status, body)
		}
	}
	// Injected failures happen before OAuth processing: the request token is still good.
	accessToken(t, p, c, verifier)
	counts := p.Counts(t)
	if counts["access_token"] != 3 || counts["access_token_failures"] != 2 || counts["injected_failures"] != 2 {
		t.Errorf("counts = %v", counts)
	}
	p.Reset(t)
	if counts := p.Counts(t); counts["access_token"] != 0 {
		t.Errorf("after Reset counts = %v", counts)
	}
}

func TestSignatureMethodNotAllowed(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{SignatureMethods: []string{oauth1test.HMACSHA256}})
	c := client{consumerKey: p.ConsumerKey, consumerSecret: p.ConsumerSecret, method: oauth1test.HMACSHA1, via: viaHeader}
	status, body := c.sign(t, http.MethodPost, p.RequestTokenURL, map[string]string{"oauth_callback": callback}, nil).do(t)
	if status != http.StatusBadRequest {
		t.Fatalf("HMAC-SHA1 when only HMAC-SHA256 is allowed: status %d, want 400: %s", status, body)
	}
	c.method = oauth1test.HMACSHA256
	requestToken(t, p, c)
}

func TestAuthorizeDenyAndOOB(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{UserID: "42"})
	c := client{consumerKey: p.ConsumerKey, consumerSecret: p.ConsumerSecret, method: oauth1test.HMACSHA1, via: viaHeader}
	token, _ := requestToken(t, p, c)
	loc := p.Authorize(t, p.AuthorizeURL+"?deny=1&oauth_token="+url.QueryEscape(token))
	if loc.Query().Get("denied") != token || loc.Query().Get("oauth_verifier") != "" {
		t.Errorf("deny redirected to %s", loc)
	}

	status, body := c.sign(t, http.MethodPost, p.RequestTokenURL, map[string]string{"oauth_callback": "oob"}, nil).do(t)
	if status != http.StatusOK {
		t.Fatalf("oob request_token: status %d: %s", status, body)
	}
	v := parseForm(t, body)
	loc = p.Authorize(t, p.AuthorizeURL+"?oauth_token="+url.QueryEscape(v.Get("oauth_token")))
	if loc.Scheme != "oob" || loc.Query().Get("oauth_verifier") == "" {
		t.Fatalf("oob authorize gave %s", loc)
	}
	c.token, c.tokenSecret = v.Get("oauth_token"), v.Get("oauth_token_secret")
	if got := accessToken(t, p, c, loc.Query().Get("oauth_verifier")).Get("user_id"); got != "42" {
		t.Errorf("user_id = %q, want 42", got)
	}
}
