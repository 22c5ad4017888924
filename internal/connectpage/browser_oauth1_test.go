package connectpage_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/plugboard/plugboard/internal/oauth1test"
)

// TestBrowserOAuth1 connects an OAuth 1.0a system through the page's popup against the
// python3-oauthlib provider (which approves as its test user at once): the popup goes to the
// provider, back to Plugboard's callback, reports to the page and the card turns connected; the
// connection holds the token credentials and the proxy signs with them.
//
// Switched on by PLUGBOARD_TEST_BROWSER=1 and PLUGBOARD_TEST_OAUTH1=1.
func TestBrowserOAuth1(t *testing.T) {
	chromium, axe := browserPrerequisites(t)
	provider := oauth1test.Start(t, oauth1test.Config{})
	srv := httptest.NewUnstartedServer(nil)
	pb := startPlugboard(t, srv, nil, nil)
	up := newUpstream(t)

	var sys struct {
		ID string `json:"id"`
	}
	pb.must(201, "POST", "/systems", obj{"name": "Old Tweets", "domain": "tweets.example", "templateBaseUrl": up.srv.URL, "authSchemeConfigs": arr{
		obj{"type": "oauth1", "oauth1": obj{"id": "oauth1", "description": "Sign in with Old Tweets", "consumerKey": provider.ConsumerKey,
			"consumerSecret": provider.ConsumerSecret, "signatureMethod": "sha1",
			"tempCredentialEndpoint":             obj{"url": provider.RequestTokenURL},
			"resourceOwnerAuthorizationEndpoint": obj{"url": provider.AuthorizeURL},
			"tokenEndpoint":                      obj{"url": provider.AccessTokenURL}}}}}, &sys)
	shop := pb.project("Shop")
	env := shop.env
	tplID := shop.template(sys.ID, "Old Tweets", nil)
	var sess struct {
		URL string `json:"url"`
	}
	pb.must(201, "POST", "/connect-sessions", obj{"endUser": obj{"externalId": "customer-42"}, "environmentId": env}, &sess)

	browser := startBrowser(t, chromium, nil)
	tab := newTab(t, browser)
	within(t, tab, "opening the page", 30*time.Second, chromedp.Navigate(sess.URL), chromedp.WaitVisible(chromedp.ID("connect-"+tplID)))
	within(t, tab, "signing in", 10*time.Second, chromedp.Click(chromedp.ID("connect-"+tplID)))
	waitJS(t, tab, "the OAuth 1.0a system connected", `document.querySelector('[data-template="`+tplID+`"]').dataset.state === 'connected'`)
	checkAxe(t, tab, axe, "after the OAuth 1.0a sign-in")
	if n := provider.Counts(t)["access_token"]; n != 1 {
		t.Errorf("the provider got %d access token requests, want 1", n)
	}
	conn := userConnection(t, pb, env, tplID)
	if types := credentialTypes(pb, conn); !slices.Equal(types, []string{"oauth1-token"}) {
		t.Errorf("the connection's credentials: %v", types)
	}
	h := proxyCall(t, pb, up, conn)
	if a := h.Get("Authorization"); !strings.HasPrefix(a, "OAuth ") || !strings.Contains(a, `oauth_consumer_key="`+provider.ConsumerKey+`"`) ||
		!strings.Contains(a, "oauth_token=") {
		t.Errorf("the proxy sent Authorization %q, want an OAuth 1.0a header with the token", a)
	}
	assertNoSecretInPage(t, tab, provider.ConsumerSecret)
	if v := cspViolations(t, tab); len(v) > 0 {
		t.Errorf("the page broke its Content-Security-Policy: %v", v)
	}
}
