package credentials

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

// memberOnly returns d with only the member for typ, as Join rebuilds it.
func memberOnly(d *api.CredentialData) api.CredentialData {
	if d == nil {
		return api.CredentialData{None: &api.CredentialDataNone{}}
	}
	return *d
}

func TestSplitJoinCredential(t *testing.T) {
	for _, k := range credentialKinds {
		t.Run(string(k.typ), func(t *testing.T) {
			data := goodData(k.typ)
			secrets := secretValues(t, k.typ, data)
			if len(secrets) != len(k.secrets) {
				t.Fatalf("test data for %s sets %d of %d secret fields", k.typ, len(secrets), len(k.secrets))
			}
			pub, sec, err := SplitCredential(api.Credential{Type: k.typ, Data: data})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				// Search for the secret as JSON writes it (a PEM key's newlines are escaped).
				enc, _ := json.Marshal(s)
				enc = enc[1 : len(enc)-1]
				if bytes.Contains(pub, []byte(s)) || bytes.Contains(pub, enc) {
					t.Errorf("public half %s contains secret %q", pub, s)
				}
				if !bytes.Contains(sec, enc) {
					t.Errorf("secrets half %s lacks %q", sec, s)
				}
			}
			if bytes.Contains(pub, []byte("SECRET")) {
				t.Errorf("public half %s contains a secret", pub)
			}
			// The public half has every secret field, present and empty.
			var pubObj map[string]any
			if err := json.Unmarshal(pub, &pubObj); err != nil {
				t.Fatal(err)
			}
			for _, f := range k.secrets {
				if v, ok := pubObj[f]; !ok || v != "" {
					t.Errorf("public half field %s = %v, %v; want present and empty", f, v, ok)
				}
			}
			var secObj map[string]string
			if len(k.secrets) == 0 {
				if sec != nil {
					t.Errorf("secrets half %s, want nil", sec)
				}
			} else if err := json.Unmarshal(sec, &secObj); err != nil {
				t.Fatal(err)
			} else {
				keys := make([]string, 0, len(secObj))
				for f := range secObj {
					keys = append(keys, f)
				}
				slices.Sort(keys)
				want := slices.Sorted(slices.Values(k.secrets))
				if !slices.Equal(keys, want) {
					t.Errorf("secrets half keys %v, want %v", keys, want)
				}
			}

			joined, err := JoinCredential(k.typ, pub, sec)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, joined, memberOnly(data)) {
				got, _ := json.Marshal(joined)
				want, _ := json.Marshal(memberOnly(data))
				t.Errorf("round trip:\n got %s\nwant %s", got, want)
			}
			if got := credentialMembers(&joined); !slices.Equal(got, []string{k.member}) {
				t.Errorf("joined members %v, want [%s]", got, k.member)
			}

			red, err := Redacted(k.typ, pub)
			if err != nil {
				t.Fatal(err)
			}
			redJSON, _ := json.Marshal(red)
			if bytes.Contains(redJSON, []byte("SECRET")) {
				t.Errorf("redacted %s contains a secret", redJSON)
			}
			if secretValues(t, k.typ, &red) != nil {
				t.Errorf("redacted %s has secret values", redJSON)
			}
			// Redacted equals the joined data with secrets blanked.
			blank, err := JoinCredential(k.typ, pub, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, red, blank) {
				t.Errorf("Redacted differs from a join without secrets")
			}
			// A redacted response still validates except for required secrets.
			if k.typ != api.CredentialTypeNone && credentialMembers(&red)[0] != k.member {
				t.Errorf("redacted lacks member %s", k.member)
			}
		})
	}
}

func TestSplitCredentialEdges(t *testing.T) {
	t.Run("none without data", func(t *testing.T) {
		pub, sec, err := SplitCredential(api.Credential{Type: api.CredentialTypeNone})
		if err != nil || string(pub) != "{}" || sec != nil {
			t.Fatalf("got %s, %s, %v", pub, sec, err)
		}
	})
	t.Run("no secret set gives nil secrets", func(t *testing.T) {
		pub, sec, err := SplitCredential(api.Credential{Type: api.CredentialTypeBasicAuth,
			Data: &api.CredentialData{BasicAuth: &api.CredentialDataBasicAuth{Username: "u"}}})
		if err != nil || sec != nil || !strings.Contains(string(pub), `"password":""`) {
			t.Fatalf("got %s, %s, %v", pub, sec, err)
		}
	})
	t.Run("other members dropped", func(t *testing.T) {
		d := goodData(api.CredentialTypeString)
		d.BasicAuth = goodData(api.CredentialTypeBasicAuth).BasicAuth
		pub, sec, err := SplitCredential(api.Credential{Type: api.CredentialTypeString, Data: d})
		if err != nil || string(pub) != `{"value":""}` || string(sec) != `{"value":"`+secString+`"}` {
			t.Fatalf("got %s, %s, %v", pub, sec, err)
		}
	})
	for _, c := range []struct {
		name string
		c    api.Credential
	}{
		{"member missing", api.Credential{Type: api.CredentialTypeString, Data: goodData(api.CredentialTypeBasicAuth)}},
		{"data missing", api.Credential{Type: api.CredentialTypeString}},
		{"unknown type", api.Credential{Type: "nope", Data: goodData(api.CredentialTypeString)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pub, sec, err := SplitCredential(c.c)
			if err == nil || !plugboard.IsCode(err, plugboard.EInternal) {
				t.Fatalf("got %s, %s, %v; want an internal error", pub, sec, err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %v quotes a secret", err)
			}
		})
	}
	t.Run("join unknown type", func(t *testing.T) {
		if _, err := JoinCredential("nope", []byte(`{}`), nil); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("join corrupt halves", func(t *testing.T) {
		if _, err := JoinCredential(api.CredentialTypeString, []byte(`{`), nil); err == nil {
			t.Fatal("no error for corrupt public half")
		}
		if _, err := JoinCredential(api.CredentialTypeString, []byte(`{}`), []byte(`[1]`)); err == nil {
			t.Fatal("no error for corrupt secrets half")
		}
	})
	t.Run("redacted blanks secrets a public half should not hold", func(t *testing.T) {
		d, err := Redacted(api.CredentialTypeBasicAuth, []byte(`{"username":"u","password":"SECRET-x"}`))
		if err != nil || d.BasicAuth == nil || d.BasicAuth.Password != "" || d.BasicAuth.Username != "u" {
			t.Fatalf("got %+v, %v", d.BasicAuth, err)
		}
	})
	t.Run("join ignores unknown secret keys", func(t *testing.T) {
		d, err := JoinCredential(api.CredentialTypeBasicAuth, []byte(`{"username":"u","password":""}`), []byte(`{"password":"p","value":"v"}`))
		if err != nil || d.BasicAuth.Password != "p" || d.String != nil {
			t.Fatalf("got %+v, %v", d, err)
		}
	})
}

func TestKeepSecrets(t *testing.T) {
	for _, k := range credentialKinds {
		t.Run(string(k.typ), func(t *testing.T) {
			orig := goodData(k.typ)
			_, oldSec, err := SplitCredential(api.Credential{Type: k.typ, Data: orig})
			if err != nil {
				t.Fatal(err)
			}
			pub, _, err := SplitCredential(api.Credential{Type: k.typ, Data: orig})
			if err != nil {
				t.Fatal(err)
			}
			// A client sends back what it read: secrets blank.
			read, err := Redacted(k.typ, pub)
			if err != nil {
				t.Fatal(err)
			}
			if err := KeepSecrets(k.typ, &read, oldSec); err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, read, memberOnly(orig)) {
				got, _ := json.Marshal(read)
				t.Errorf("kept %s", got)
			}
		})
	}
	t.Run("new secrets win, empty ones are filled", func(t *testing.T) {
		_, oldSec, err := SplitCredential(api.Credential{Type: api.CredentialTypeOauth2Token, Data: goodData(api.CredentialTypeOauth2Token)})
		if err != nil {
			t.Fatal(err)
		}
		d := api.CredentialData{Oauth2Token: &api.CredentialDataOAuth2Token{RefreshToken: "SECRET-new-refresh", Scopes: []string{"a"}}}
		if err := KeepSecrets(api.CredentialTypeOauth2Token, &d, oldSec); err != nil {
			t.Fatal(err)
		}
		if d.Oauth2Token.RefreshToken != "SECRET-new-refresh" || d.Oauth2Token.AccessToken != secAccess || !slices.Equal(d.Oauth2Token.Scopes, []string{"a"}) {
			t.Errorf("got %+v", d.Oauth2Token)
		}
	})
	t.Run("no old secrets", func(t *testing.T) {
		d := api.CredentialData{String: &api.CredentialDataString{}}
		if err := KeepSecrets(api.CredentialTypeString, &d, nil); err != nil || d.String.Value != "" {
			t.Fatalf("got %+v, %v", d.String, err)
		}
	})
	t.Run("member missing", func(t *testing.T) {
		d := api.CredentialData{}
		if err := KeepSecrets(api.CredentialTypeString, &d, []byte(`{"value":"x"}`)); err == nil {
			t.Fatal("no error")
		}
	})
}

// configSecrets lists the secret values goodConfig(id) sets.
var configSecrets = map[string][]string{
	"oauth2-code":     {secAuthCode},
	"oauth2-password": {secPwdGrant},
	"oauth1":          {secConsumer},
	"oauth1-token":    {secConsumer},
}

func TestSplitJoinAuthSchemeConfig(t *testing.T) {
	for _, cfg := range goodConfigs() {
		id := ConfigID(cfg)
		t.Run(id, func(t *testing.T) {
			var withMessages api.AuthSchemeConfig // a deep copy
			raw, _ := json.Marshal(cfg)
			if err := json.Unmarshal(raw, &withMessages); err != nil {
				t.Fatal(err)
			}
			setValidationMessages(t, &withMessages)

			pub, sec, err := SplitAuthSchemeConfig(withMessages)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(pub, []byte("SECRET")) {
				t.Errorf("public half %s contains a secret", pub)
			}
			if bytes.Contains(pub, []byte("validationMessages")) {
				t.Errorf("public half %s keeps validationMessages", pub)
			}
			want := configSecrets[id]
			if len(want) == 0 && sec != nil {
				t.Errorf("secrets half %s, want nil", sec)
			}
			for _, s := range want {
				if !bytes.Contains(sec, []byte(s)) {
					t.Errorf("secrets half %s lacks %q", sec, s)
				}
			}
			joined, err := JoinAuthSchemeConfig(pub, sec)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, joined, cfg) {
				got, _ := json.Marshal(joined)
				want, _ := json.Marshal(cfg)
				t.Errorf("round trip:\n got %s\nwant %s", got, want)
			}
			// Read back without secrets, PUT back, secrets kept.
			read, err := JoinAuthSchemeConfig(pub, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := json.Marshal(read); bytes.Contains(b, []byte("SECRET")) {
				t.Errorf("config read without secrets has one: %s", b)
			}
			if err := KeepAuthSchemeConfigSecrets(&read, sec); err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, read, cfg) {
				got, _ := json.Marshal(read)
				want, _ := json.Marshal(cfg)
				t.Errorf("kept:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func setValidationMessages(t *testing.T, cfg *api.AuthSchemeConfig) {
	t.Helper()
	msgs := []api.Message{{Text: "ignored"}}
	switch cfg.Type {
	case api.AuthSchemeTypeApiKey:
		cfg.ApiKey.ValidationMessages = msgs
	case api.AuthSchemeTypeOauth2:
		cfg.Oauth2.ValidationMessages = msgs
	case api.AuthSchemeTypeOauth1:
		cfg.Oauth1.ValidationMessages = msgs
	case api.AuthSchemeTypeHmac:
		cfg.Hmac.ValidationMessages = msgs
	case api.AuthSchemeTypeNone:
		cfg.None.ValidationMessages = msgs
	}
}

func TestAuthSchemeConfigSecretsEdges(t *testing.T) {
	t.Run("other members dropped from the public half", func(t *testing.T) {
		cfg := goodConfig("api-key")
		cfg.Oauth1 = goodConfig("oauth1").Oauth1
		pub, sec, err := SplitAuthSchemeConfig(cfg)
		if err != nil || sec != nil || bytes.Contains(pub, []byte("oauth1")) || bytes.Contains(pub, []byte("SECRET")) {
			t.Fatalf("got %s, %s, %v", pub, sec, err)
		}
	})
	t.Run("secrets half keys", func(t *testing.T) {
		cfg := goodConfig("oauth2-code")
		cfg.Oauth2.Grant.Password = &api.AuthSchemeConfigOAuth2GrantPassword{ClientSecret: ptr(secPwdGrant)}
		_, sec, err := SplitAuthSchemeConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := json.Unmarshal(sec, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"oauth2.grant.authorizationCode.clientSecret": secAuthCode,
			"oauth2.grant.password.clientSecret":          secPwdGrant,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("secrets half %v, want %v", got, want)
		}
	})
	t.Run("keep does not override a new secret", func(t *testing.T) {
		_, old, err := SplitAuthSchemeConfig(goodConfig("oauth1"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := goodConfig("oauth1")
		cfg.Oauth1.ConsumerSecret = "SECRET-rotated"
		if err := KeepAuthSchemeConfigSecrets(&cfg, old); err != nil || cfg.Oauth1.ConsumerSecret != "SECRET-rotated" {
			t.Fatalf("got %q, %v", cfg.Oauth1.ConsumerSecret, err)
		}
	})
	t.Run("keep fills an absent pointer secret", func(t *testing.T) {
		_, old, err := SplitAuthSchemeConfig(goodConfig("oauth2-code"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := goodConfig("oauth2-code")
		cfg.Oauth2.Grant.AuthorizationCode.ClientSecret = nil
		if err := KeepAuthSchemeConfigSecrets(&cfg, old); err != nil || cfg.Oauth2.Grant.AuthorizationCode.ClientSecret == nil ||
			*cfg.Oauth2.Grant.AuthorizationCode.ClientSecret != secAuthCode {
			t.Fatalf("got %v, %v", cfg.Oauth2.Grant.AuthorizationCode.ClientSecret, err)
		}
	})
	t.Run("keep does not recreate a removed grant section", func(t *testing.T) {
		_, old, err := SplitAuthSchemeConfig(goodConfig("oauth2-code"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := goodConfig("oauth2-code")
		cfg.Oauth2.Grant = api.AuthSchemeConfigOAuth2Grant{Type: api.ClientCredentials}
		if err := KeepAuthSchemeConfigSecrets(&cfg, old); err != nil || cfg.Oauth2.Grant.AuthorizationCode != nil {
			t.Fatalf("got %+v, %v", cfg.Oauth2.Grant, err)
		}
	})
	t.Run("keep across types does nothing", func(t *testing.T) {
		_, old, err := SplitAuthSchemeConfig(goodConfig("oauth1"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := goodConfig("oauth2-code")
		cfg.Oauth2.Grant.AuthorizationCode.ClientSecret = ptr("")
		if err := KeepAuthSchemeConfigSecrets(&cfg, old); err != nil || *cfg.Oauth2.Grant.AuthorizationCode.ClientSecret != "" {
			t.Fatalf("got %v, %v", *cfg.Oauth2.Grant.AuthorizationCode.ClientSecret, err)
		}
	})
	t.Run("keep with no old secrets", func(t *testing.T) {
		cfg := goodConfig("api-key")
		if err := KeepAuthSchemeConfigSecrets(&cfg, nil); err != nil || !jsonEqual(t, cfg, goodConfig("api-key")) {
			t.Fatalf("got %+v, %v", cfg, err)
		}
	})
	t.Run("split errors", func(t *testing.T) {
		for _, cfg := range []api.AuthSchemeConfig{{Type: "nope"}, {Type: api.AuthSchemeTypeApiKey}} {
			if _, _, err := SplitAuthSchemeConfig(cfg); !plugboard.IsCode(err, plugboard.EInternal) {
				t.Errorf("%+v: err %v", cfg, err)
			}
		}
	})
	t.Run("join errors", func(t *testing.T) {
		for _, c := range []struct{ pub, sec string }{
			{`{`, ``}, {`{"type":"nope"}`, ``}, {`{"type":"oauth1"}`, `{"oauth1.consumerSecret":"x"}`}, {`{"type":"oauth1","oauth1":{}}`, `[`},
		} {
			if _, err := JoinAuthSchemeConfig([]byte(c.pub), []byte(c.sec)); err == nil {
				t.Errorf("%s + %s: no error", c.pub, c.sec)
			}
		}
	})
}

// TestTables checks the tables against the generated types, so that a renamed field or a new
// enum value is noticed here rather than by a leaked secret.
func TestTables(t *testing.T) {
	if len(credentialKinds) != 12 {
		t.Errorf("%d credential kinds, want 12", len(credentialKinds))
	}
	if len(schemeKinds) != 9 {
		t.Errorf("%d scheme kinds, want 9", len(schemeKinds))
	}
	dataType := reflect.TypeFor[api.CredentialData]()
	for _, k := range credentialKinds {
		if !k.typ.Valid() {
			t.Errorf("credential type %s is not in the API enum", k.typ)
		}
		f, ok := fieldByJSON(dataType, k.member)
		if !ok {
			t.Errorf("CredentialData has no member %s", k.member)
			continue
		}
		mt := f.Type.Elem()
		for _, s := range k.secrets {
			sf, ok := fieldByJSON(mt, s)
			if !ok || sf.Type.Kind() != reflect.String {
				t.Errorf("%s.%s is not a string field", k.member, s)
			}
		}
		// credentialMembers agrees with the member's JSON name.
		var d api.CredentialData
		reflect.ValueOf(&d).Elem().FieldByIndex(f.Index).Set(reflect.New(mt))
		if got := credentialMembers(&d); !slices.Equal(got, []string{k.member}) {
			t.Errorf("credentialMembers = %v, want [%s]", got, k.member)
		}
	}
	cfgType := reflect.TypeFor[api.AuthSchemeConfig]()
	for _, k := range schemeKinds {
		if !k.typ.Valid() {
			t.Errorf("scheme type %s is not in the API enum", k.typ)
		}
		f, ok := fieldByJSON(cfgType, k.member)
		if !ok {
			t.Errorf("AuthSchemeConfig has no member %s", k.member)
			continue
		}
		for _, s := range k.secrets {
			typ := f.Type.Elem()
			for _, part := range strings.Split(s, ".") {
				sf, ok := fieldByJSON(typ, part)
				if !ok {
					t.Errorf("%s.%s: no field %s", k.member, s, part)
					break
				}
				typ = sf.Type
				if typ.Kind() == reflect.Pointer {
					typ = typ.Elem()
				}
			}
			if typ.Kind() != reflect.String {
				t.Errorf("%s.%s is not a string", k.member, s)
			}
		}
		cfg := api.AuthSchemeConfig{Type: k.typ}
		reflect.ValueOf(&cfg).Elem().FieldByIndex(f.Index).Set(reflect.New(f.Type.Elem()))
		if got := schemeMembers(cfg); !slices.Equal(got, []string{k.member}) {
			t.Errorf("schemeMembers = %v, want [%s]", got, k.member)
		}
		if _, ok := configID(cfg); !ok {
			t.Errorf("configID does not find member %s", k.member)
		}
	}
	if got := SecretFields(api.CredentialTypeOauth2Token); !slices.Equal(got, []string{"accessToken", "refreshToken"}) {
		t.Errorf("SecretFields(oauth2-token) = %v", got)
	}
	if SecretFields(api.CredentialTypeNone) != nil || SecretFields("nope") != nil {
		t.Error("SecretFields of none or unknown is not nil")
	}
}

func fieldByJSON(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
