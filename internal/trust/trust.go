// Package trust holds the one rule that guards stored secrets:
//
//	A stored secret never goes anywhere new unless the request carries the secret again or the
//	caller's key may read it.
//
// "Where" a secret goes is its Use: the origin requests carrying it are sent to, the auth scheme
// config it is bound to, and the placement fields of that config and of the credential itself
// (internal/credentials classifies every field). The use cases (internal/connect, internal/systems,
// the proxy) describe each stored secret a change touches as a Move from its Use before to its Use
// after, with the request fields that would carry the secret again (none where the request
// cannot: a system's base URL moves every connection's secrets at once), and ask Check.
package trust

import (
	"fmt"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/credentials"
)

// Use is where and how a stored secret is used. Two equal Uses send the secret to the same place
// in the same way.
type Use struct {
	// Origin is scheme://host[:port] of the requests the secret goes on ("" when none yet).
	Origin string
	// Config is the id of the auth scheme config the secret is bound to.
	Config string
	// ConfigPlacement and Placement are the placement fields of that config and of the
	// credential itself.
	ConfigPlacement credentials.Placement
	Placement       credentials.Placement
	// Also lists other origins the secret is used at: for a certificate, the token URLs of the
	// connection's OAuth 2.0 configs that authenticate with it (mTLS).
	Also string
}

// change says how u and v differ, "" when they do not.
func (u Use) change(v Use) string {
	switch {
	case u.Origin != v.Origin:
		return fmt.Sprintf("requests would go to %s instead of %s", orNowhere(v.Origin), orNowhere(u.Origin))
	case u.Config != v.Config:
		return fmt.Sprintf("it would be used with auth scheme config %q instead of %q", v.Config, u.Config)
	case u.ConfigPlacement != v.ConfigPlacement:
		return "its auth scheme config would place or sign it differently"
	case u.Placement != v.Placement:
		return "the credential's own fields would place or sign it differently"
	case u.Also != v.Also:
		return "it would authenticate to other token endpoints"
	}
	return ""
}

func orNowhere(origin string) string {
	if origin == "" {
		return "no base URL"
	}
	return origin
}

// Move is a stored secret whose Use a request changes.
type Move struct {
	// What names the secret for messages, e.g. "the credential's stored secrets".
	What     string
	From, To Use
	// Resend are the request fields (JSON paths) that, sent with the secret, would carry it again.
	// Empty when the request cannot carry it: only a key that may read it may move it.
	Resend []string
}

// Caller is what Check needs to know of the request's API key.
type Caller struct {
	// MayRead is true when the key may read stored secrets.
	MayRead bool
	// ReadScope names the scope that may, for messages.
	ReadScope string
}

// Check applies the rule to the moves of one request. Moves whose Use does not change are
// ignored. A caller that may read secrets may move them. Otherwise a move the request could have
// carried the secret for is a 400 naming each field to send; one it could not is a 403.
func Check(c Caller, moves ...Move) error {
	if c.MayRead {
		return nil
	}
	var (
		fields    []plugboard.FieldError
		forbidden []string
	)
	for _, m := range moves {
		why := m.From.change(m.To)
		if why == "" {
			continue
		}
		if len(m.Resend) == 0 {
			forbidden = append(forbidden, m.What+": "+why)
			continue
		}
		for _, f := range m.Resend {
			fields = append(fields, plugboard.FieldError{Field: f,
				Message: "must be sent again: " + why + ", and a stored secret goes somewhere new only with the secret itself or a key that may read it"})
		}
	}
	if len(forbidden) > 0 {
		return &plugboard.Error{Code: plugboard.EForbidden,
			Message: "the change would send stored secrets somewhere new, which needs the scope " + c.ReadScope,
			Details: strings.Join(forbidden, "; ") + ". Use a key with " + c.ReadScope + " (one that may read those secrets)."}
	}
	if len(fields) > 0 {
		return plugboard.Invalid("the change would send stored secrets somewhere new", fields...)
	}
	return nil
}
