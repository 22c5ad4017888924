package httpapi

import (
	"context"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/catalogue"
)

// The catalogue (internal/catalogue): read by any valid key; a system is made from an entry by
// the same path as CreateSystem and ImportSystem.

// ListCatalogue implements api.StrictServerInterface.
func (s *Server) ListCatalogue(ctx context.Context, req api.ListCatalogueRequestObject) (api.ListCatalogueResponseObject, error) {
	p := req.Params
	first := plugboard.DefaultPageSize
	if p.First != nil {
		first = *p.First
	}
	var search, category, after string
	if p.Search != nil {
		search = *p.Search
	}
	if p.Category != nil {
		category = *p.Category
	}
	if p.After != nil {
		after = *p.After
	}
	page, err := catalogue.Default().Search(search, category, first, after)
	if err != nil {
		return nil, err
	}
	out := api.CataloguePage{Items: make([]api.CatalogueEntry, len(page.Items)), Next: page.Next, TotalCount: page.TotalCount}
	for i, e := range page.Items {
		out.Items[i] = toAPICatalogueEntry(e)
	}
	return api.ListCatalogue200JSONResponse(out), nil
}

// GetCatalogueEntry implements api.StrictServerInterface.
func (s *Server) GetCatalogueEntry(ctx context.Context, req api.GetCatalogueEntryRequestObject) (api.GetCatalogueEntryResponseObject, error) {
	e, err := catalogue.Default().Get(req.Slug)
	if err != nil {
		return nil, err
	}
	return api.GetCatalogueEntry200JSONResponse(toAPICatalogueEntry(e)), nil
}

// CreateSystemFromCatalogue implements api.StrictServerInterface.
func (s *Server) CreateSystemFromCatalogue(ctx context.Context, req api.CreateSystemFromCatalogueRequestObject) (api.CreateSystemFromCatalogueResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	if strings.TrimSpace(b.Slug) == "" {
		return nil, plugboard.Invalid("invalid request", plugboard.FieldError{Field: "slug", Message: "is required"})
	}
	e, err := catalogue.Default().Get(b.Slug)
	if err != nil {
		return nil, err
	}
	sys := e.System
	// The entry's configs share their slices with the catalogue: the create path must not change them.
	sys.AuthSchemeConfigs = cloneConfigs(sys.AuthSchemeConfigs)
	if b.Name != nil {
		sys.Name = *b.Name
	}
	created, err := s.createSystem(ctx, req.OrganisationId, sys)
	if err != nil {
		return nil, err
	}
	out, err := toAPISystem(created)
	if err != nil {
		return nil, err
	}
	return api.CreateSystemFromCatalogue201JSONResponse(out), nil
}

// cloneConfigs copies configs deeply enough that changing a copy's fields changes nothing of the
// originals (createSystem fills presets and binds grant credentials in place).
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

func toAPICatalogueEntry(e catalogue.Entry) api.CatalogueEntry {
	out := api.CatalogueEntry{Slug: e.Slug, Name: e.Name, Domain: e.Domain, Categories: e.Categories, Servers: e.Servers,
		System: e.System, Source: api.CatalogueSource{Licence: e.Source.Licence}}
	if e.Curated {
		out.Curated = &e.Curated
	}
	str := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	out.Source.Document, out.Source.Version, out.Source.Page, out.Source.Checked =
		str(e.Source.Document), str(e.Source.Version), str(e.Source.Page), str(e.Source.Checked)
	if e.Source.Unverified {
		t := true
		out.Source.Unverified = &t
	}
	if len(e.Warnings) > 0 {
		ws := make([]api.ImportWarning, len(e.Warnings))
		for i, w := range e.Warnings {
			ws[i] = api.ImportWarning{Code: w.Code, Pointer: w.Pointer, Message: w.Message}
		}
		out.Warnings = &ws
	}
	return out
}
