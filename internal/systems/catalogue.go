package systems

import (
	"context"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/catalogue"
	"github.com/plugboard/plugboard/internal/trust"
)

// CreateFromCatalogue creates a system from the built-in catalogue's entry slug, as Create does;
// name, when not nil, replaces the entry's.
func (s *Service) CreateFromCatalogue(ctx context.Context, orgID ulid.ULID, slug string, name *string, caller trust.Caller) (*plugboard.System, error) {
	if strings.TrimSpace(slug) == "" {
		return nil, plugboard.Invalid("invalid request", plugboard.FieldError{Field: "slug", Message: "is required"})
	}
	e, err := catalogue.Default().Get(slug)
	if err != nil {
		return nil, err
	}
	in := FromAPI(e.System, caller)
	// The entry's configs share their slices with the catalogue: the create path must not change them.
	in.AuthSchemeConfigs = cloneConfigs(in.AuthSchemeConfigs)
	if name != nil {
		in.Name = *name
	}
	return s.Create(ctx, orgID, in)
}

// cloneConfigs copies configs deeply enough that changing a copy's fields changes nothing of the
// originals (Create fills presets and binds grant credentials in place).
func cloneConfigs(in []api.AuthSchemeConfig) []api.AuthSchemeConfig {
	out := make([]api.AuthSchemeConfig, len(in))
	for i, c := range in {
		if c.ApiKey != nil {
			v := *c.ApiKey
			c.ApiKey = &v
		}
		if c.BasicAuth != nil {
			v := *c.BasicAuth
			c.BasicAuth = &v
		}
		if c.Certificate != nil {
			v := *c.Certificate
			c.Certificate = &v
		}
		if c.Hmac != nil {
			v := *c.Hmac
			c.Hmac = &v
		}
		if c.JwtBearer != nil {
			v := *c.JwtBearer
			c.JwtBearer = &v
		}
		if c.None != nil {
			v := *c.None
			c.None = &v
		}
		if c.Oauth1 != nil {
			v := *c.Oauth1
			c.Oauth1 = &v
		}
		if c.Secret != nil {
			v := *c.Secret
			c.Secret = &v
		}
		if c.Oauth2 != nil {
			v := *c.Oauth2
			v.Scopes = append([]api.OAuth2Scope(nil), v.Scopes...)
			v.DefaultScopes = append([]string{}, v.DefaultScopes...)
			if v.Grant.AuthorizationCode != nil {
				g := *v.Grant.AuthorizationCode
				v.Grant.AuthorizationCode = &g
			}
			if v.Grant.ClientCredentials != nil {
				g := api.AuthSchemeConfigOAuth2GrantClientCredentials{}
				for k, x := range *v.Grant.ClientCredentials {
					g[k] = x
				}
				v.Grant.ClientCredentials = &g
			}
			if v.Grant.Password != nil {
				g := *v.Grant.Password
				v.Grant.Password = &g
			}
			c.Oauth2 = &v
		}
		out[i] = c
	}
	return out
}
