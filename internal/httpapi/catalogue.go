package httpapi

import (
	"context"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/catalogue"
)

// The catalogue (internal/catalogue): read by any valid key; a system is made from an entry by
// internal/systems, the same path as CreateSystem and the import.

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

// CreateSystemFromCatalogue implements api.StrictServerInterface through
// systems.Service.CreateFromCatalogue.
func (s *Server) CreateSystemFromCatalogue(ctx context.Context, req api.CreateSystemFromCatalogueRequestObject) (api.CreateSystemFromCatalogueResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	created, err := s.systems.CreateFromCatalogue(ctx, req.OrganisationId, b.Slug, b.Name, s.caller(ctx))
	if err != nil {
		return nil, err
	}
	out, err := toAPISystem(created)
	if err != nil {
		return nil, err
	}
	return api.CreateSystemFromCatalogue201JSONResponse(out), nil
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
