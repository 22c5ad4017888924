package connect

import (
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

// TestStoredFor: the one rule for which stored credential a request's credential names, asked by
// the preparation of an update (which secrets it keeps), the exchange (whether an oauth2-client
// is new) and the mTLS exchange (whose stored certificate it presents).
func TestStoredFor(t *testing.T) {
	a := plugboard.ConnectionCredential{ID: ulid.Make(), Credential: plugboard.Credential{ID: ulid.Make()}}
	b := plugboard.ConnectionCredential{ID: ulid.Make(), Credential: plugboard.Credential{ID: ulid.Make()}}
	existing := []plugboard.ConnectionCredential{a, b}
	zero := ulid.ULID{}
	for _, tc := range []struct {
		name      string
		id, cred  ulid.ULID
		want      *plugboard.ConnectionCredential
		wantNamed bool
	}{
		{"no ids: a new credential", zero, zero, nil, false},
		{"its connection credential id", b.ID, zero, &existing[1], true},
		{"its credential id", zero, b.Credential.ID, &existing[1], true},
		{"both ids of one", a.ID, a.Credential.ID, &existing[0], true},
		{"ids of two: none", a.ID, b.Credential.ID, nil, true},
		{"an id of no credential of the connection", ulid.Make(), zero, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := api.ConnectionCredential{ID: tc.id, Credential: &api.Credential{ID: tc.cred}}
			got, named := storedFor(cc, existing)
			if got != tc.want || named != tc.wantNamed {
				t.Errorf("storedFor = %v, %v; want %v, %v", got, named, tc.want, tc.wantNamed)
			}
		})
	}
}

// TestNeedsProvider: the one rule for what a credential needs from its provider, asked by the
// exchange (what it sends) and the preparation (what it refuses to store as sent).
func TestNeedsProvider(t *testing.T) {
	client := func(secret string, mtls bool) *api.Credential {
		return &api.Credential{Type: api.CredentialTypeOauth2Client, Data: &api.CredentialData{Oauth2Client: &api.CredentialDataOAuth2Client{
			ClientID: "c", ClientSecret: secret, TokenURL: "https://provider.example/token", MTLSEnabled: mtls}}}
	}
	stored := ulid.Make()
	for _, tc := range []struct {
		name     string
		cc       api.ConnectionCredential
		creating bool
		want     providerCall
	}{
		{"none", api.ConnectionCredential{}, true, noCall},
		{"a stored form", api.ConnectionCredential{Credential: &api.Credential{Type: api.CredentialTypeString}}, true, noCall},
		{"oauth2-code", api.ConnectionCredential{Credential: &api.Credential{Type: api.CredentialTypeOauth2Code}}, false, tokens},
		{"oauth2-password", api.ConnectionCredential{Credential: &api.Credential{Type: api.CredentialTypeOauth2Password}}, true, tokens},
		{"oauth1", api.ConnectionCredential{Credential: &api.Credential{Type: api.CredentialTypeOauth1}}, true, tokens},
		{"client with its secret", api.ConnectionCredential{Credential: client("s", false)}, false, proof},
		{"client without data", api.ConnectionCredential{Credential: &api.Credential{Type: api.CredentialTypeOauth2Client}}, true, noCall},
		{"client sent back without its secret", api.ConnectionCredential{ID: stored, Credential: client("", false)}, false, noCall},
		{"new certificate client", api.ConnectionCredential{Credential: client("", true)}, false, proof},
		{"certificate client on create", api.ConnectionCredential{ID: stored, Credential: client("", true)}, true, proof},
		{"stored certificate client on update", api.ConnectionCredential{ID: stored, Credential: client("", true)}, false, noCall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsProvider(tc.cc, tc.creating); got != tc.want {
				t.Errorf("needsProvider = %d, want %d", got, tc.want)
			}
		})
	}
}
