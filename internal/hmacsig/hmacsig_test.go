package hmacsig_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/hmacsig"
)

// The expected signatures below are computed with crypto/hmac directly, as each sender's
// documentation describes them, not through the package.

func mac(key, msg string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func preset(t *testing.T, p api.AuthSchemeConfigHMACPreset) *api.AuthSchemeConfigHMAC {
	t.Helper()
	cfg, ok := hmacsig.Preset(p)
	if !ok {
		t.Fatalf("no preset %s", p)
	}
	return &cfg
}

func TestVerifyGitHub(t *testing.T) {
	cfg := preset(t, api.Github)
	const key = "It's a Secret to Everybody"
	body := []byte("Hello, World!")
	// GitHub's documented test vector.
	const documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := "sha256=" + hex.EncodeToString(mac(key, string(body))); got != documented {
		t.Fatalf("the test's own HMAC %s disagrees with GitHub's example", got)
	}
	in := hmacsig.Inputs{Body: body}
	for name, tc := range map[string]struct {
		key, sig string
		body     []byte
		want     bool
	}{
		"documented":        {key, documented, body, true},
		"upper-case hex":    {key, "sha256=" + strings.ToUpper(documented[7:]), body, true},
		"tampered body":     {key, documented, []byte("Hello, World?"), false},
		"wrong key":         {"another secret", documented, body, false},
		"no prefix":         {key, documented[7:], body, false},
		"prefix only":       {key, "sha256=", body, false},
		"empty":             {key, "", body, false},
		"sha1 prefix":       {key, "sha1=" + documented[7:], body, false},
		"truncated":         {key, documented[:len(documented)-2], body, false},
		"not hex":           {key, "sha256=" + strings.Repeat("zz", 32), body, false},
		"base64 of the mac": {key, "sha256=" + base64.StdEncoding.EncodeToString(mac(key, string(body))), body, false},
	} {
		in.Body = tc.body
		if got := hmacsig.Verify(cfg, []byte(tc.key), in, tc.sig); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", name, got, tc.want)
		}
	}
	sig, err := hmacsig.Signature(cfg, []byte(key), hmacsig.Inputs{Body: body})
	if err != nil || sig != documented {
		t.Errorf("Signature = %q, %v; want GitHub's %q", sig, err, documented)
	}
}

func TestVerifyShopify(t *testing.T) {
	cfg := preset(t, api.Shopify)
	const key = "shpss_0123456789abcdef"
	body := []byte(`{"id":820982911946154508,"email":"jon@example.com"}`)
	good := base64.StdEncoding.EncodeToString(mac(key, string(body)))
	in := hmacsig.Inputs{Body: body}
	if !hmacsig.Verify(cfg, []byte(key), in, good) {
		t.Error("good signature refused")
	}
	if !hmacsig.Verify(cfg, []byte(key), in, strings.TrimRight(good, "=")) {
		t.Error("unpadded base64 refused")
	}
	if hmacsig.Verify(cfg, []byte(key), hmacsig.Inputs{Body: append(body, ' ')}, good) {
		t.Error("tampered body accepted")
	}
	if hmacsig.Verify(cfg, []byte(key), in, hex.EncodeToString(mac(key, string(body)))) {
		t.Error("hex accepted for a base64 config")
	}
}

func TestVerifySlack(t *testing.T) {
	cfg := preset(t, api.Slack)
	// Slack's documented example.
	const key = "8f742231b10e8888abcd99yyyzzz85a5"
	const ts = "1531420618"
	body := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	const documented = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	if got := "v0=" + hex.EncodeToString(mac(key, "v0:"+ts+":"+string(body))); got != documented {
		t.Fatalf("the test's own HMAC %s disagrees with Slack's example", got)
	}
	in := hmacsig.Inputs{Body: body, Timestamp: ts}
	if !hmacsig.Verify(cfg, []byte(key), in, documented) {
		t.Error("Slack's example refused")
	}
	in.Timestamp = "1531420619"
	if hmacsig.Verify(cfg, []byte(key), in, documented) {
		t.Error("accepted with another timestamp")
	}
}

func TestFreshTimestamp(t *testing.T) {
	cfg := preset(t, api.Slack)
	now := time.Unix(1700000000, 0)
	for v, want := range map[string]bool{
		"1700000000":              true,
		"1699999700":              true,  // 300 s old: at the default tolerance
		"1699999699":              false, // 301 s old
		"1700000300":              true,
		"1700000301":              false, // from the future
		"":                        false,
		"-1":                      false,
		"+1700000000":             false,
		"1700000000.5":            false,
		" 1700000000":             false,
		"99999999999999999999999": false,
		"0x65":                    false,
	} {
		if got := hmacsig.FreshTimestamp(cfg, v, now); got != want {
			t.Errorf("FreshTimestamp(%q) = %v, want %v", v, got, want)
		}
	}
	cfg.TimestampTolerance = 10
	if hmacsig.FreshTimestamp(cfg, "1699999989", now) || !hmacsig.FreshTimestamp(cfg, "1699999990", now) {
		t.Error("timestampTolerance not honoured")
	}
}

func TestDigestInputsWithoutTemplate(t *testing.T) {
	// Versori's definition: the inputs one after another, nothing between them.
	cfg := &api.AuthSchemeConfigHMAC{Algorithm: api.Sha1, Encoding: api.Base64url,
		DigestInputs: []api.AuthSchemeConfigHMACDigestInputs{api.Url, api.Body}}
	in := hmacsig.Inputs{Body: []byte("b"), URL: "https://h.example/p?q=1"}
	m := hmac.New(sha1.New, []byte("k"))
	m.Write([]byte("https://h.example/p?q=1b"))
	want := base64.URLEncoding.EncodeToString(m.Sum(nil))
	if sig, err := hmacsig.Signature(cfg, []byte("k"), in); err != nil || sig != want {
		t.Errorf("Signature = %q, %v; want %q", sig, err, want)
	}
	if !hmacsig.Verify(cfg, []byte("k"), in, want) {
		t.Error("own signature refused")
	}
}

func TestParseTemplate(t *testing.T) {
	for tpl, ok := range map[string]bool{
		"v0:{timestamp}:{body}": true,
		"{url}":                 true,
		"{body}{body}":          true,
		"{timestamp}":           false, // nothing of the request
		"fixed":                 false,
		"{body}{headers}":       false,
		"{body}}":               false,
		"{{body}":               false,
		"{Body}":                false,
	} {
		if _, err := hmacsig.ParseTemplate(tpl); (err == nil) != ok {
			t.Errorf("ParseTemplate(%q) error %v, want ok=%v", tpl, err, ok)
		}
	}
}
