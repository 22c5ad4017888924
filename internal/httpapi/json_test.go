package httpapi_test

import (
	"strings"
	"testing"
)

// TestJSONAnswersAreNotHTMLEscaped: answers keep "&", "<" and ">" literal (no \u0026), so the
// OAuth authorize URL an initialise returns can be pasted into a browser as it is, from the
// generated handlers and from the hand-written error answers alike.
func TestJSONAnswersAreNotHTMLEscaped(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, true))
	r := h.must(200, h.do("POST", "/systems/"+st.systemID+"/oauth2/initialise", obj{"authorizeUrl": p.AuthorizeURL, "clientId": p.ClientID,
		"credential": obj{"id": st.credentialID}, "scopes": arr{"read"}, "redirectUrl": cliRedirect}))
	body := string(r.Body)
	if strings.Contains(body, `\u00`) || !strings.Contains(body, "&state=") || !strings.Contains(body, `"url":"`+p.AuthorizeURL+"?") {
		t.Errorf("initialise answered %s; want the authorize URL with literal & between its parameters", body)
	}

	// An error answer written by hand (here the one for a path no operation matches).
	r = h.must(404, h.do("GET", "/nothing&more%3Cthan%3E", nil))
	if body := string(r.Body); strings.Contains(body, `\u00`) || !strings.Contains(body, "/nothing&more<than>") {
		t.Errorf("404 answered %s; want the path as it is", body)
	}
}
