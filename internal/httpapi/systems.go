package httpapi

import (
	"context"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/systems"
)

// Systems and their auth scheme configs: systems.Service validates, seals, lets trust.Check rule
// and stores; the handlers here convert.

// CreateSystem implements api.StrictServerInterface through systems.Service.Create.
func (s *Server) CreateSystem(ctx context.Context, req api.CreateSystemRequestObject) (api.CreateSystemResponseObject, error) {
	if req.Body == nil {
		return nil, bodyRequired()
	}
	sys, err := s.systems.Create(ctx, req.OrganisationId, systems.FromAPI(*req.Body, s.caller(ctx)))
	if err != nil {
		return nil, err
	}
	out, err := toAPISystem(sys)
	if err != nil {
		return nil, err
	}
	return api.CreateSystem201JSONResponse(out), nil
}

// ListSystems implements api.StrictServerInterface.
func (s *Server) ListSystems(ctx context.Context, req api.ListSystemsRequestObject) (api.ListSystemsResponseObject, error) {
	p := req.Params
	page, errs := parsePage(p.First, p.After, p.Before)
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid query parameters", errs...)
	}
	search := ""
	if p.Search != nil {
		search = *p.Search
	}
	res, err := s.store.ListSystems(ctx, req.OrganisationId, search, page)
	if err != nil {
		return nil, err
	}
	out := api.SystemPage{Items: []api.System{}, TotalCount: res.TotalCount, Next: cursor(res.Next), Prev: cursor(res.Prev)}
	for i := range res.Items {
		sys, err := toAPISystem(&res.Items[i])
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, sys)
	}
	return api.ListSystems200JSONResponse(out), nil
}

// GetSystem implements api.StrictServerInterface.
func (s *Server) GetSystem(ctx context.Context, req api.GetSystemRequestObject) (api.GetSystemResponseObject, error) {
	sys, err := s.store.GetSystem(ctx, req.OrganisationId, req.SystemId)
	if err != nil {
		return nil, err
	}
	out, err := toAPISystem(sys)
	if err != nil {
		return nil, err
	}
	return api.GetSystem200JSONResponse(out), nil
}

// UpdateSystem implements api.StrictServerInterface through systems.Service.Update. Fields left
// out keep their values.
func (s *Server) UpdateSystem(ctx context.Context, req api.UpdateSystemRequestObject) (api.UpdateSystemResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	sys, err := s.systems.Update(ctx, req.OrganisationId, req.SystemId, systems.UpdateInput{Name: b.Name, Domain: b.Domain,
		TemplateBaseURL: b.TemplateBaseUrl, Caller: s.caller(ctx)})
	if err != nil {
		return nil, err
	}
	out, err := toAPISystem(sys)
	if err != nil {
		return nil, err
	}
	return api.UpdateSystem201JSONResponse(out), nil
}

// DeleteSystem implements api.StrictServerInterface through systems.Service.Delete.
func (s *Server) DeleteSystem(ctx context.Context, req api.DeleteSystemRequestObject) (api.DeleteSystemResponseObject, error) {
	if err := s.systems.Delete(ctx, req.OrganisationId, req.SystemId); err != nil {
		return nil, err
	}
	return api.DeleteSystem204Response{}, nil
}

// UpsertAuthSchemeConfig implements api.StrictServerInterface through systems.Service.UpsertConfig.
// Secret fields sent empty keep the stored secret, so a client can PUT back what it read.
func (s *Server) UpsertAuthSchemeConfig(ctx context.Context, req api.UpsertAuthSchemeConfigRequestObject) (api.UpsertAuthSchemeConfigResponseObject, error) {
	if req.Body == nil {
		return nil, bodyRequired()
	}
	stored, err := s.systems.UpsertConfig(ctx, req.OrganisationId, req.SystemId, req.AuthSchemeConfigId, *req.Body, s.caller(ctx))
	if err != nil {
		return nil, err
	}
	cfg, err := publicConfig(stored)
	if err != nil {
		return nil, err
	}
	return api.UpsertAuthSchemeConfig201JSONResponse(cfg), nil
}

// DeleteAuthSchemeConfig implements api.StrictServerInterface through systems.Service.DeleteConfig.
func (s *Server) DeleteAuthSchemeConfig(ctx context.Context, req api.DeleteAuthSchemeConfigRequestObject) (api.DeleteAuthSchemeConfigResponseObject, error) {
	if err := s.systems.DeleteConfig(ctx, req.OrganisationId, req.SystemId, req.AuthSchemeConfigId); err != nil {
		return nil, err
	}
	return api.DeleteAuthSchemeConfig204Response{}, nil
}
