package connectpage

import (
	"context"
	"net/http"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/connect"
)

// The page API's answers, as docs/connect.md describes them.
type (
	sessionJSON struct {
		ID             ulid.ULID      `json:"id"`
		ExpiresAt      time.Time      `json:"expiresAt"`
		ReturnURL      string         `json:"returnUrl,omitempty"`
		AllowedOrigins []string       `json:"allowedOrigins"`
		EndUser        endUserJSON    `json:"endUser"`
		Environment    nameJSON       `json:"environment"`
		Templates      []templateJSON `json:"templates"`
	}
	endUserJSON struct {
		ID          ulid.ULID `json:"id"`
		ExternalID  string    `json:"externalId"`
		DisplayName string    `json:"displayName,omitempty"`
	}
	nameJSON struct {
		ID     ulid.ULID `json:"id"`
		Name   string    `json:"name"`
		Domain string    `json:"domain,omitempty"`
	}
	templateJSON struct {
		ID                   ulid.ULID       `json:"id"`
		Name                 string          `json:"name"`
		System               nameJSON        `json:"system"`
		State                string          `json:"state"`
		Attention            string          `json:"attention,omitempty"`
		AttentionMessage     string          `json:"attentionMessage,omitempty"`
		Connection           *connectionJSON `json:"connection,omitempty"`
		AllowBaseURLOverride bool            `json:"allowBaseUrlOverride"`
		BaseURL              string          `json:"baseUrl,omitempty"`
		Schemes              []schemeJSON    `json:"schemes"`
	}
	connectionJSON struct {
		ID        ulid.ULID `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"createdAt"`
	}
	schemeJSON struct {
		AuthSchemeConfigID string      `json:"authSchemeConfigId"`
		Type               string      `json:"type"`
		Name               string      `json:"name"`
		Flow               string      `json:"flow"`
		Fields             []fieldJSON `json:"fields"`
	}
	fieldJSON struct {
		Name     string `json:"name"`
		Label    string `json:"label"`
		Kind     string `json:"kind"`
		Required bool   `json:"required"`
		MaxBytes int    `json:"maxBytes,omitempty"`
		PEM      string `json:"pem,omitempty"`
	}
	connectBody struct {
		TemplateID         ulid.ULID         `json:"templateId"`
		AuthSchemeConfigID string            `json:"authSchemeConfigId"`
		BaseURL            string            `json:"baseUrl"`
		Values             map[string]string `json:"values"`
	}
	oauthBody struct {
		TemplateID         ulid.ULID `json:"templateId"`
		AuthSchemeConfigID string    `json:"authSchemeConfigId"`
		BaseURL            string    `json:"baseUrl"`
		ConnectionID       ulid.ULID `json:"connectionId"`
	}
)

func (h *Handler) getSession(ctx context.Context, cs *plugboard.ConnectSession, _ *http.Request) (int, any, error) {
	v, err := h.connect.ViewSession(ctx, cs)
	if err != nil {
		return 0, nil, err
	}
	origins := cs.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	out := sessionJSON{ID: cs.ID, ExpiresAt: cs.ExpiresAt, ReturnURL: cs.ReturnURL, AllowedOrigins: origins,
		EndUser:     endUserJSON{ID: v.EndUser.ID, ExternalID: v.EndUser.ExternalID, DisplayName: v.EndUser.DisplayName},
		Environment: nameJSON{ID: v.Environment.ID, Name: v.Environment.Name}, Templates: []templateJSON{}}
	for _, t := range v.Templates {
		tj := templateJSON{ID: t.Template.ID, Name: t.Template.Name, System: nameJSON{ID: t.System.ID, Name: t.System.Name, Domain: t.System.Domain},
			State: t.State, Attention: t.Attention, AttentionMessage: t.AttentionMessage, AllowBaseURLOverride: t.Template.AllowBaseURLOverride,
			Schemes: []schemeJSON{}}
		if c := t.Connection; c != nil {
			tj.Connection = &connectionJSON{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt}
			if t.Template.AllowBaseURLOverride {
				tj.BaseURL = c.BaseURL
			}
		}
		for _, sc := range t.Schemes {
			sj := schemeJSON{AuthSchemeConfigID: sc.AuthSchemeConfigID, Type: sc.Type, Name: sc.Name, Flow: sc.Flow, Fields: []fieldJSON{}}
			for _, f := range sc.Fields {
				sj.Fields = append(sj.Fields, fieldJSON{Name: f.Name, Label: f.Label, Kind: f.Kind, Required: f.Required, MaxBytes: f.MaxBytes, PEM: f.PEM})
			}
			tj.Schemes = append(tj.Schemes, sj)
		}
		out.Templates = append(out.Templates, tj)
	}
	return http.StatusOK, out, nil
}

func connectionOf(c *plugboard.Connection) map[string]connectionJSON {
	return map[string]connectionJSON{"connection": {ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt}}
}

func (h *Handler) createConnection(ctx context.Context, cs *plugboard.ConnectSession, r *http.Request) (int, any, error) {
	var b connectBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	res, err := h.connect.ConnectInSession(ctx, cs, connect.SessionConnect{TemplateID: b.TemplateID, AuthSchemeConfigID: b.AuthSchemeConfigID,
		BaseURL: b.BaseURL, Values: b.Values})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, connectionOf(res.Connection), nil
}

// connectionID reads the path's connection id; a malformed one is not found, like any other.
func connectionID(r *http.Request) (ulid.ULID, error) {
	id, err := ulid.ParseStrict(r.PathValue("connection_id"))
	if err != nil {
		return id, &plugboard.Error{Code: plugboard.ENotFound, Message: "connection not found",
			Fields: []plugboard.FieldError{{Field: "connectionId", Message: "is not one of your connections in this connect session"}}}
	}
	return id, nil
}

func (h *Handler) updateConnection(ctx context.Context, cs *plugboard.ConnectSession, r *http.Request) (int, any, error) {
	id, err := connectionID(r)
	if err != nil {
		return 0, nil, err
	}
	var b connectBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	res, err := h.connect.ReconnectInSession(ctx, cs, id, connect.SessionConnect{TemplateID: b.TemplateID, AuthSchemeConfigID: b.AuthSchemeConfigID,
		BaseURL: b.BaseURL, Values: b.Values})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, connectionOf(res.Connection), nil
}

func (h *Handler) deleteConnection(ctx context.Context, cs *plugboard.ConnectSession, r *http.Request) (int, any, error) {
	id, err := connectionID(r)
	if err != nil {
		return 0, nil, err
	}
	_, err = h.connect.DisconnectInSession(ctx, cs, id)
	return http.StatusNoContent, nil, err
}

func (h *Handler) startOAuth(ctx context.Context, cs *plugboard.ConnectSession, r *http.Request) (int, any, error) {
	var b oauthBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	u, err := h.connect.StartSessionOAuth(ctx, cs, connect.SessionOAuth{TemplateID: b.TemplateID, AuthSchemeConfigID: b.AuthSchemeConfigID,
		BaseURL: b.BaseURL, ConnectionID: b.ConnectionID})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"url": u}, nil
}

func (h *Handler) complete(ctx context.Context, cs *plugboard.ConnectSession, _ *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.connect.CompleteSession(ctx, cs)
}
