package credentials

import (
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/api"
)

// Fields the schema closes, or that belong elsewhere, are refused rather than stored in the clear.
func TestClosedObjectsRefuseContent(t *testing.T) {
	none := api.CredentialDataNone{"apiKey": "SECRET-in-none"}
	cc := api.ConnectionCredential{
		AuthSchemeConfig: &api.AuthSchemeConfig{Type: api.AuthSchemeTypeNone, None: &api.AuthSchemeConfigNone{ID: "none"}},
		Credential:       &api.Credential{Type: api.CredentialTypeNone, Data: &api.CredentialData{None: &none}},
	}
	offered := []api.AuthSchemeConfig{*cc.AuthSchemeConfig}
	_, errs := ValidateCredential(cc, offered, ulid.ULID{}, "c")
	if len(errs) != 1 || errs[0].Field != "c.credential.data.none" {
		t.Errorf("none with content: %v", errs)
	}
	cc.Credential.Data = &api.CredentialData{None: &api.CredentialDataNone{}}
	if _, errs := ValidateCredential(cc, offered, ulid.ULID{}, "c"); len(errs) != 0 {
		t.Errorf("empty none refused: %v", errs)
	}

	free := api.AuthSchemeConfigOAuth2GrantClientCredentials{"clientSecret": "SECRET-free-form"}
	cfg := api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{ID: "o", TokenURL: "https://t.example/token",
		Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.ClientCredentials, ClientCredentials: &free}}}
	errs = ValidateAuthSchemeConfig(cfg, "")
	if len(errs) != 1 || errs[0].Field != "oauth2.grant.clientCredentials" || strings.Contains(errs[0].Message, "SECRET") {
		t.Errorf("free-form clientCredentials: %v", errs)
	}
}

// Required lists a client leaves out are stored and returned as [], never null.
func TestRequiredListsAreFilled(t *testing.T) {
	cfg := api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{ID: "o", TokenURL: "https://t.example/token",
		Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.ClientCredentials}}}
	public, _, err := SplitAuthSchemeConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(public), `"scopes":[]`) || !strings.Contains(string(public), `"defaultScopes":[]`) {
		t.Errorf("public half %s", public)
	}
	// Rows stored before the fix read back with [] too.
	got, err := PublicConfig([]byte(`{"type":"oauth2","oauth2":{"id":"o","tokenUrl":"https://t.example/token","scopes":null,"grant":{"type":"clientCredentials"}}}`))
	if err != nil || got.Oauth2.Scopes == nil || got.Oauth2.DefaultScopes == nil {
		t.Errorf("PublicConfig: %+v %v", got.Oauth2, err)
	}
	pub, _, err := SplitCredential(api.Credential{Type: api.CredentialTypeOauth2Token, Data: &api.CredentialData{Oauth2Token: &api.CredentialDataOAuth2Token{RefreshToken: "r"}}})
	if err != nil || !strings.Contains(string(pub), `"scopes":[]`) {
		t.Errorf("token public half %s %v", pub, err)
	}
	data, err := Redacted(api.CredentialTypeOauth2Token, []byte(`{"refreshToken":"","scopes":null}`))
	if err != nil || data.Oauth2Token.Scopes == nil {
		t.Errorf("Redacted: %+v %v", data.Oauth2Token, err)
	}
}
