package connect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

func (f *fixture) session(t *testing.T, externalID string) *NewSession {
	t.Helper()
	tpl, err := f.store.GetTemplate(context.Background(), f.org, f.template)
	must(t, err)
	ns, err := f.svc.CreateSession(context.Background(), f.org, SessionInput{ExternalID: externalID, EnvironmentID: tpl.EnvironmentID,
		AllowedOrigins: []string{"https://APP.example"}})
	must(t, err)
	return ns
}

// TestSessionTokens: a token authenticates its session until it is revoked or expires; each
// refusal is a 401 saying which, and the store keeps only the token's hash.
func TestSessionTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns := f.session(t, "user-1")
	if !strings.HasPrefix(ns.Token, SessionTokenPrefix) || ns.URL != "https://plugboard.example/connect/s/"+ns.Session.ID.String()+"#token="+ns.Token {
		t.Errorf("session %+v", ns)
	}
	stored, err := f.store.GetConnectSession(ctx, f.org, ns.Session.ID)
	must(t, err)
	if want := sha256.Sum256([]byte(ns.Token)); !bytes.Equal(stored.TokenHash, want[:]) {
		t.Errorf("the store keeps %x, want the token's SHA-256 %x", stored.TokenHash, want)
	}
	if len(stored.AllowedOrigins) != 1 || stored.AllowedOrigins[0] != "https://app.example" || len(stored.TemplateIDs) != 1 {
		t.Errorf("stored %+v", stored)
	}
	cs, err := f.svc.AuthenticateSession(ctx, ns.Token)
	must(t, err)
	if cs.ID != ns.Session.ID {
		t.Errorf("authenticated %s", cs.ID)
	}
	refused := func(token, want string) {
		t.Helper()
		_, err := f.svc.AuthenticateSession(ctx, token)
		if e, ok := err.(*plugboard.Error); !ok || e.Code != plugboard.EUnauthenticated || !strings.Contains(e.Message, want) {
			t.Errorf("token %.12q: %v, want 401 saying %q", token, err, want)
		}
	}
	refused("", "required")
	refused(ns.Token+"x", "not valid")
	refused(strings.TrimPrefix(ns.Token, SessionTokenPrefix), "not valid")
	f.now = f.now.Add(DefaultSessionTTL)
	refused(ns.Token, "expired")
	if f.svc.PageSession(ctx, ns.Session.ID) != nil {
		t.Error("an expired session frames its page")
	}
	f.now = f.now.Add(-time.Minute)
	must(t, f.svc.RevokeSession(ctx, f.org, ns.Session.ID))
	refused(ns.Token, "revoked")
	if err := f.svc.RevokeSession(ctx, f.org, ulid.Make()); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
}

// TestSessionCreateRules: each bad input names its field and stores nothing.
func TestSessionCreateRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tpl, err := f.store.GetTemplate(ctx, f.org, f.template)
	must(t, err)
	cases := []struct {
		in    SessionInput
		field string
	}{
		{SessionInput{EnvironmentID: tpl.EnvironmentID}, "endUser"},
		{SessionInput{EndUserID: ulid.Make(), ExternalID: "x", EnvironmentID: tpl.EnvironmentID}, "endUser"},
		{SessionInput{ExternalID: "x"}, "environmentId"},
		{SessionInput{ExternalID: "x", EnvironmentID: ulid.Make()}, "environmentId"},
		{SessionInput{ExternalID: "x", EnvironmentID: tpl.EnvironmentID, TemplateIDs: []ulid.ULID{ulid.Make()}}, "templateIds[0]"},
		{SessionInput{ExternalID: "x", EnvironmentID: tpl.EnvironmentID, TemplateIDs: []ulid.ULID{tpl.ID, tpl.ID}}, "templateIds[1]"},
		{SessionInput{ExternalID: "x", EnvironmentID: tpl.EnvironmentID, ReturnURL: "https://evil.example/"}, "returnUrl"},
		{SessionInput{ExternalID: "x", EnvironmentID: tpl.EnvironmentID, AllowedOrigins: []string{"https://evil.example"}}, "allowedOrigins[0]"},
		{SessionInput{ExternalID: "x", EnvironmentID: tpl.EnvironmentID, AllowedOrigins: []string{"https://app.example/x"}}, "allowedOrigins[0]"},
		{SessionInput{EndUserID: ulid.Make(), EnvironmentID: tpl.EnvironmentID}, "endUser.id"},
	}
	for _, c := range cases {
		_, err := f.svc.CreateSession(ctx, f.org, c.in)
		var e *plugboard.Error
		if !asError(err, &e) || len(e.Fields) == 0 || e.Fields[0].Field != c.field {
			t.Errorf("%+v: %v, want an error naming %s", c.in, err, c.field)
		}
	}
	if _, err := f.store.GetEndUserByExternalID(ctx, f.org, "x"); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("a refused session created its end user: %v", err)
	}
}

// TestFormCredential: each form's values become its scheme's credential, and bad values name
// values.<field> without repeating them.
func TestFormCredential(t *testing.T) {
	apiKey := api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{ID: "k", Name: "X-Key", In: api.AuthSchemeConfigAPIKeyInHeader}}
	cc, err := FormCredential(apiKey, map[string]string{"key": "SECRET-1"})
	must(t, err)
	if cc.Credential.Type != api.CredentialTypeString || cc.Credential.Data.String.Value != "SECRET-1" {
		t.Errorf("credential %+v", cc.Credential)
	}
	for values, field := range map[string]string{"": "values.key", "extra": "values.extra"} {
		v := map[string]string{}
		if values != "" {
			v = map[string]string{"key": "k", values: "SECRET-2"}
		}
		_, err := FormCredential(apiKey, v)
		var e *plugboard.Error
		if !asError(err, &e) || e.Fields[0].Field != field || strings.Contains(e.Error(), "SECRET-2") {
			t.Errorf("%v: %v, want %s", v, err, field)
		}
	}
	code := api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{ID: "c", Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.AuthorizationCode}}}
	if sc, ok := SchemeOf(code); !ok || sc.Flow != FlowPopup {
		t.Errorf("code scheme %+v", sc)
	}
	if _, err := FormCredential(code, nil); err == nil {
		t.Error("a popup scheme took a form")
	}
	if _, ok := SchemeOf(api.AuthSchemeConfig{Type: api.AuthSchemeTypeJwtBearer, JwtBearer: &api.AuthSchemeConfigJWTBearer{}}); ok {
		t.Error("the page offers jwt-bearer")
	}
	renamed := formErrors(plugboard.Invalid("invalid credentials", plugboard.FieldError{Field: "form[0].credential.data.basicAuth.password", Message: "is required"}))
	if e := renamed.(*plugboard.Error); e.Fields[0].Field != "values.password" {
		t.Errorf("renamed %v", e.Fields)
	}
}
