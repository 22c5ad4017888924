package httpapi_test

import (
	"context"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// grantSystem creates a system whose two OAuth 2.0 configs each keep their client secret in a
// grant credential, and returns the system id with config id -> grant credential id.
func (h *harness) grantSystem() (string, map[string]ulid.ULID) {
	h.t.Helper()
	var sys struct {
		ID                string `json:"id"`
		AuthSchemeConfigs []struct {
			Oauth2 struct {
				ID    string `json:"id"`
				Grant struct {
					AuthorizationCode *struct {
						CredentialID ulid.ULID `json:"credentialId"`
					} `json:"authorizationCode"`
					Password *struct {
						CredentialID ulid.ULID `json:"credentialId"`
					} `json:"password"`
				} `json:"grant"`
			} `json:"oauth2"`
		} `json:"authSchemeConfigs"`
	}
	configs := oauth2Configs("https://provider.example/authorize", "https://provider.example/token", "client", "SECRET-grant-client-secret", false)
	h.must(201, h.do("POST", "/systems", obj{"name": "Grants", "domain": "grants.example", "templateBaseUrl": "", "authSchemeConfigs": configs})).JSON(h.t, &sys)
	creds := map[string]ulid.ULID{}
	for _, c := range sys.AuthSchemeConfigs {
		g := c.Oauth2.Grant
		switch {
		case g.AuthorizationCode != nil:
			creds[c.Oauth2.ID] = g.AuthorizationCode.CredentialID
		case g.Password != nil:
			creds[c.Oauth2.ID] = g.Password.CredentialID
		}
	}
	for id, cred := range creds {
		if cred == (ulid.ULID{}) {
			h.t.Fatalf("config %s has no grant credential", id)
		}
		h.grantCredentialExists(cred, true)
	}
	if len(creds) != 2 {
		h.t.Fatalf("grant credentials %v", creds)
	}
	return sys.ID, creds
}

// grantCredentialExists checks whether the store still holds a credential.
func (h *harness) grantCredentialExists(id ulid.ULID, want bool) {
	h.t.Helper()
	_, err := h.store.GetCredential(context.Background(), h.org, id)
	switch {
	case want && err != nil:
		h.t.Errorf("credential %s: %v", id, err)
	case !want && !plugboard.IsCode(err, plugboard.ENotFound):
		h.t.Errorf("credential %s outlived what owned it (err %v)", id, err)
	}
}

// TestDeleteAuthSchemeConfigRemovesGrantCredential: an OAuth 2.0 config's client secret lives in a
// credential of its own; deleting the config deletes it in the same transaction, and a refused
// delete (config in use) leaves both.
func TestDeleteAuthSchemeConfigRemovesGrantCredential(t *testing.T) {
	h := newHarness(t)
	sysID, creds := h.grantSystem()

	// In use by a template: 409, and nothing is deleted.
	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "P"})).JSON(t, &proj)
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sysID, "name": "t", "environmentId": proj.Environments[0].ID})).JSON(t, &tpl)
	h.must(200, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{"oauth2-code"}}))
	if e := h.must(409, h.do("DELETE", "/systems/"+sysID+"/auth-scheme-configs/oauth2-code", nil)).Error(t); e.Code != "conflict" {
		t.Errorf("in use: %+v", e)
	}
	h.grantCredentialExists(creds["oauth2-code"], true)

	// Once unused, the config goes with its grant credential, and only its own.
	h.must(200, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{}}))
	h.must(204, h.do("DELETE", "/systems/"+sysID+"/auth-scheme-configs/oauth2-code", nil))
	h.grantCredentialExists(creds["oauth2-code"], false)
	h.grantCredentialExists(creds["oauth2-password"], true)
}

// TestDeleteSystemRemovesGrantCredentials: deleting a system deletes every config's grant
// credential with it; a refused delete (a template uses it) leaves them.
func TestDeleteSystemRemovesGrantCredentials(t *testing.T) {
	h := newHarness(t)
	sysID, creds := h.grantSystem()
	other, otherCreds := h.grantSystem()

	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "P"})).JSON(t, &proj)
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sysID, "name": "t", "environmentId": proj.Environments[0].ID})).JSON(t, &tpl)
	if e := h.must(409, h.do("DELETE", "/systems/"+sysID, nil)).Error(t); e.Code != "conflict" {
		t.Errorf("in use: %+v", e)
	}
	for _, id := range creds {
		h.grantCredentialExists(id, true)
	}

	h.must(204, h.do("DELETE", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, nil))
	h.must(204, h.do("DELETE", "/systems/"+sysID, nil))
	for _, id := range creds {
		h.grantCredentialExists(id, false)
	}
	// Another system's grant credentials stay.
	for _, id := range otherCreds {
		h.grantCredentialExists(id, true)
	}
	h.must(200, h.do("GET", "/systems/"+other, nil))
}
