package httpapi_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestConnectPageRefusesBadText: the page's API takes text as the main API does: a NUL or invalid
// UTF-8 in any value or member name is a 400 naming the field, never repeating the value, and
// nothing is stored or changed.
func TestConnectPageRefusesBadText(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "customer-text"}, "environmentId": f.envID,
		"templateIds": arr{f.templates["api-key"], f.templates["basic"], f.templates["oauth2-code"]}})
	const key = "SECRET-good-key"
	var made struct {
		Connection struct {
			ID string `json:"id"`
		} `json:"connection"`
	}
	h.must(201, h.page(cs.Token, "POST", "/connections", obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key",
		"values": obj{"key": key}})).JSON(t, &made)
	conns, creds := h.count("connections"), h.count("credentials")

	// raw encodes body and turns each BADUTF8 into bytes that are not UTF-8.
	raw := func(body obj) []byte {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.ReplaceAll(data, []byte("BADUTF8"), []byte("SECRET\xff\xfe"))
	}
	// basic is the template not yet connected (a POST), api-key the connected one (a PUT).
	basic := func(baseURL string, values obj) obj {
		b := obj{"templateId": f.templates["basic"], "authSchemeConfigId": "basic", "values": values}
		if baseURL != "" {
			b["baseUrl"] = baseURL
		}
		return b
	}
	apiKey := func(values obj) obj {
		return obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key", "values": values}
	}
	cases := []struct {
		name, method, path string
		body               []byte
		field              string
	}{
		{"NUL in a value", "POST", "/connections", raw(basic("", obj{"username": "u", "password": "SECRET\x00pw"})), "values.password"},
		{"invalid UTF-8 in a value", "POST", "/connections", raw(basic("", obj{"username": "BADUTF8", "password": "p"})), "values.username"},
		{"NUL in a member name", "POST", "/connections", raw(basic("", obj{"username": "u", "password": "p", "SECRET\x00": "v"})), "values"},
		{"NUL in the base URL", "POST", "/connections", raw(basic("https://SECRET\x00.example", obj{"username": "u", "password": "p"})), "baseUrl"},
		{"invalid UTF-8 on reconnect", "PUT", "/connections/" + made.Connection.ID, raw(apiKey(obj{"key": "BADUTF8"})), "values.key"},
		{"NUL on reconnect", "PUT", "/connections/" + made.Connection.ID, raw(apiKey(obj{"key": "SECRET\x00"})), "values.key"},
		{"NUL in the OAuth base URL", "POST", "/oauth", raw(obj{"templateId": f.templates["oauth2-code"], "authSchemeConfigId": "oauth2-code",
			"baseUrl": "https://SECRET\x00.example"}), "baseUrl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.page(cs.Token, tc.method, tc.path, tc.body)
			e := refused(t, r, 400, "invalid_argument", "NUL character or invalid UTF-8", tc.field)
			if len(e.Fields) != 1 {
				t.Errorf("fields %+v", e.Fields)
			}
			if bytes.Contains(r.Body, []byte("SECRET")) {
				t.Errorf("the answer repeats the input: %s", r.Body)
			}
		})
	}
	if h.count("connections") != conns || h.count("credentials") != creds {
		t.Error("a refused request stored something")
	}
	var c connectionView
	h.must(200, h.do("GET", "/connections/"+made.Connection.ID, nil)).JSON(t, &c)
	if got := openStoredSecret(t, h, c.Credentials[0].Credential.ID); !strings.Contains(got, key) {
		t.Error("a refused reconnect changed the stored key")
	}
}

// TestConnectPageOversizedBody: a body over the page's limit is a 413 (the spec's Error), however
// it starts: a valid JSON object followed by more than the limit of spaces, or of anything else,
// is as oversized as a body that is all spaces. Nothing is stored.
func TestConnectPageOversizedBody(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "customer-big"}, "environmentId": f.envID,
		"templateIds": arr{f.templates["api-key"]}})
	valid, err := json.Marshal(obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key", "values": obj{"key": "SECRET-k"}})
	if err != nil {
		t.Fatal(err)
	}
	conns := h.count("connections")
	for name, tail := range map[string]string{"spaces": " ", "junk": "x", "a second object": `{"a":1}`} {
		t.Run(name, func(t *testing.T) {
			body := append(append([]byte(nil), valid...), bytes.Repeat([]byte(tail), (300<<10)/len(tail))...)
			refused(t, h.page(cs.Token, "POST", "/connections", body), 413, "request_too_large", "larger than", "")
		})
	}
	if h.count("connections") != conns {
		t.Error("an oversized request stored a connection")
	}
}
