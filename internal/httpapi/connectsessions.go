package httpapi

import (
	"context"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/connect"
)

// CreateConnectSession implements api.StrictServerInterface through connect.Service.CreateSession.
func (s *Server) CreateConnectSession(ctx context.Context, req api.CreateConnectSessionRequestObject) (api.CreateConnectSessionResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	out, err := s.connect.CreateSession(ctx, req.OrganisationId, connect.SessionInput{EndUserID: b.EndUser.ID,
		ExternalID: b.EndUser.ExternalID, DisplayName: b.EndUser.DisplayName, EnvironmentID: b.EnvironmentID,
		TemplateIDs: b.TemplateIDs, ReturnURL: b.ReturnURL, AllowedOrigins: b.AllowedOrigins})
	if err != nil {
		return nil, err
	}
	return api.CreateConnectSession201JSONResponse{ID: out.Session.ID, Token: out.Token, URL: out.URL, ExpiresAt: out.Session.ExpiresAt}, nil
}

// DeleteConnectSession implements api.StrictServerInterface: it revokes the session.
func (s *Server) DeleteConnectSession(ctx context.Context, req api.DeleteConnectSessionRequestObject) (api.DeleteConnectSessionResponseObject, error) {
	if err := s.connect.RevokeSession(ctx, req.OrganisationId, req.ConnectSessionId); err != nil {
		return nil, err
	}
	return api.DeleteConnectSession204Response{}, nil
}
