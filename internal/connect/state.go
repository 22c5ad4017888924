package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/oauth"
)

// StateTTL is how long a connect flow may take from initialise to exchange.
const StateTTL = 10 * time.Minute

// stateSecrets is what a flow keeps sealed between initialise and exchange.
type stateSecrets struct {
	CodeVerifier  string   `json:"codeVerifier,omitempty"`
	Scopes        []string `json:"scopes,omitempty"` // requested, for when the provider does not say what it granted
	RequestToken  string   `json:"requestToken,omitempty"`
	RequestSecret string   `json:"requestSecret,omitempty"`
	// Session binds a flow the connect page started to its session and end user.
	Session *sessionBinding `json:"session,omitempty"`
}

// saveState seals a flow's secrets into st and stores it.
func (s *Service) saveState(ctx context.Context, st *plugboard.OAuthState, secrets stateSecrets) error {
	raw, _ := json.Marshal(secrets)
	var err error
	if st.Sealed, err = s.keys.SealState(st.OrganisationID, st.ID, raw); err != nil {
		return err
	}
	return s.store.CreateOAuthState(ctx, st)
}

// lookupState finds a state for a callback, which has no API key: the organisation is in the state.
func (s *Service) lookupState(ctx context.Context, state, kind string) (*plugboard.OAuthState, error) {
	unknown := plugboard.Invalid("unknown OAuth state", plugboard.FieldError{Field: "state", Message: "is not a state this server issued"})
	orgID, ok := oauth.StateOrganisation(state)
	if !ok {
		return nil, unknown
	}
	st, err := s.store.GetOAuthState(ctx, orgID, oauth.StateID(state))
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, unknown
	} else if err != nil {
		return nil, err
	}
	switch {
	case st.Kind != kind:
		return nil, unknown
	case st.ConsumedAt != nil:
		return nil, plugboard.Invalid("OAuth state already used", plugboard.FieldError{Field: "state", Message: "has already been used"})
	case !s.timestamp().Before(st.ExpiresAt):
		return nil, plugboard.Invalid("OAuth state expired", plugboard.FieldError{Field: "state", Message: "has expired; start the flow again"})
	}
	return st, nil
}

// consumeState takes a state for an exchange, once, naming the field for every refusal.
func (s *Service) consumeState(ctx context.Context, orgID ulid.ULID, state, kind, field string) (*plugboard.OAuthState, error) {
	bad := func(msg string) error {
		return plugboard.Invalid("invalid OAuth state", plugboard.FieldError{Field: field, Message: msg})
	}
	stateOrg, ok := oauth.StateOrganisation(state)
	if !ok || stateOrg != orgID {
		return nil, bad("is not a state this server issued")
	}
	st, err := s.store.ConsumeOAuthState(ctx, orgID, oauth.StateID(state), s.timestamp())
	switch {
	case plugboard.IsCode(err, plugboard.ENotFound):
		return nil, bad("is not a state this server issued")
	case plugboard.IsCode(err, plugboard.EConflict):
		return nil, bad("has already been used")
	case err != nil:
		return nil, err
	case st.Kind != kind:
		return nil, bad("was issued for another kind of flow")
	case !s.timestamp().Before(st.ExpiresAt):
		return nil, bad("has expired; start the flow again")
	}
	return st, nil
}

// stateCaller refuses a flow's state to whoever may not finish it: a flow the connect page started
// belongs to its session and end user, so only that session's callback (cs) may redeem it, never
// an API request (cs nil) nor another session; and a session finishes only its own flows. It reads
// the state without using it up, so a refused attempt does not cost the end user their sign-in.
// A state it cannot find is left to consumeState to refuse.
func (s *Service) stateCaller(ctx context.Context, orgID ulid.ULID, state, field string, cs *plugboard.ConnectSession) error {
	stateOrg, ok := oauth.StateOrganisation(state)
	if !ok || stateOrg != orgID {
		return nil
	}
	st, err := s.store.GetOAuthState(ctx, orgID, oauth.StateID(state))
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil
	} else if err != nil {
		return err
	}
	secrets, err := s.openState(st)
	if err != nil {
		return err
	}
	b := secrets.Session
	switch {
	case b == nil && cs == nil:
		return nil
	case b == nil:
		return plugboard.Invalid("invalid OAuth state", plugboard.FieldError{Field: field, Message: "was not issued by this connect session's sign-in"})
	case cs == nil || b.SessionID != cs.ID || b.EndUserID != cs.EndUserID:
		return plugboard.Invalid("invalid OAuth state", plugboard.FieldError{Field: field,
			Message: "belongs to a sign-in started on the hosted connect page; only that page's own flow can finish it"})
	}
	return nil
}

// openState returns a state's sealed data.
func (s *Service) openState(st *plugboard.OAuthState) (stateSecrets, error) {
	var out stateSecrets
	if st.Sealed == nil {
		return out, nil
	}
	raw, err := s.keys.OpenState(st.OrganisationID, st.ID, st.Sealed)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(raw, &out)
	return out, err
}

// checkReturn checks a flow's returnUrl and openerOrigin, and returns the opener origin as the
// browser writes origins (scheme and host lower-cased); "" when absent.
func (s *Service) checkReturn(returnURL, opener string) (string, []plugboard.FieldError) {
	var errs []plugboard.FieldError
	if returnURL != "" && (!absoluteHTTP(returnURL) || !s.allowedReturnURL(returnURL)) {
		errs = append(errs, plugboard.FieldError{Field: "returnUrl", Message: "must be an http(s) URL on an allowed origin (PLUGBOARD_RETURN_URL_ORIGINS, or this server's own)"})
	}
	origin, fe := s.openerOrigin(opener)
	if fe != nil {
		errs = append(errs, *fe)
	}
	return origin, errs
}

// openerOriginProblem says what an openerOrigin must be.
const openerOriginProblem = "must be an origin, scheme://host[:port] with no path, on an allowed origin (PLUGBOARD_RETURN_URL_ORIGINS, or this server's own)"

// openerOrigin checks an initialise request's openerOrigin and returns it as the browser writes
// origins (scheme and host lower-cased); "" when absent.
func (s *Service) openerOrigin(raw string) (string, *plugboard.FieldError) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" ||
		u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") ||
		!s.allowedReturnURL(raw) {
		return "", &plugboard.FieldError{Field: "openerOrigin", Message: openerOriginProblem}
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// publicOrigin is the origin of the server's public URL, "" if it has none.
func (s *Service) publicOrigin() string {
	u, err := url.Parse(s.publicURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// callbackPage hands the result of a flow to the window that opened it, and says so to the user.
// Origin is the one origin the browser may deliver the result to (rendered as a JavaScript string by
// html/template); without one, nothing is posted.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Plugboard</title></head>
<body><p>{{.Text}}</p>
{{if .Origin}}<script>
(function () {
  var result = {{.Result}};
  if (window.opener) { window.opener.postMessage(result, {{.Origin}}); window.close(); }
})();
</script>{{end}}</body></html>`))

// Callback is how a provider's redirect is answered: a redirect to the flow's return URL, or else
// a page that hands the result to the window that opened the flow.
type Callback struct {
	// Redirect is the return URL with the result in its query; "" when Page is set.
	Redirect string
	// Page is an HTML page posting the result to the opener's origin only.
	Page *bytes.Buffer
	// Session, for a flow the connect page started, is its outcome (the connection made, or why
	// not), for the connect page's result page; Redirect and Page are then unset.
	Session *SessionResult
}

// callback renders the page, or redirects to the flow's return URL with params. The page posts only
// to the origin the flow was initialised with, else to the server's own.
func (s *Service) callback(st *plugboard.OAuthState, params url.Values, text string) (*Callback, error) {
	if returnURL := st.ReturnURL; returnURL != "" {
		u, err := url.Parse(returnURL)
		if err != nil {
			return nil, plugboard.Internal(err)
		}
		q := u.Query()
		for k, vs := range params {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		return &Callback{Redirect: u.String()}, nil
	}
	result := map[string]string{"source": "plugboard"}
	for k := range params {
		result[k] = params.Get(k)
	}
	origin := st.OpenerOrigin
	if origin == "" {
		origin = s.publicOrigin()
	}
	var buf bytes.Buffer
	if err := callbackPage.Execute(&buf, map[string]any{"Text": text, "Result": result, "Origin": origin}); err != nil {
		return nil, err
	}
	return &Callback{Page: &buf}, nil
}
