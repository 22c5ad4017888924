package httpapi

import (
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/credentials"
)

// publicConfig decodes a stored auth scheme config; its secret fields are already empty.
func publicConfig(c plugboard.AuthSchemeConfig) (api.AuthSchemeConfig, error) {
	return connect.PublicConfig(c)
}

func toAPISystem(s *plugboard.System) (api.System, error) {
	out := api.System{ID: s.ID, Name: s.Name, Domain: s.Domain, TemplateBaseUrl: s.TemplateBaseURL,
		AuthSchemeConfigs: []api.AuthSchemeConfig{}}
	for _, c := range s.AuthSchemeConfigs {
		ac, err := publicConfig(c)
		if err != nil {
			return out, err
		}
		out.AuthSchemeConfigs = append(out.AuthSchemeConfigs, ac)
	}
	return out, nil
}

// offeredConfigs returns the system's configs a template offers (connect.OfferedConfigs).
func offeredConfigs(sys *plugboard.System, t *plugboard.ConnectionTemplate) ([]api.AuthSchemeConfig, error) {
	return connect.OfferedConfigs(sys, t)
}

func toAPITemplate(t *plugboard.ConnectionTemplate, sys *plugboard.System) (api.ConnectionTemplate, error) {
	configs, err := offeredConfigs(sys, t)
	if err != nil {
		return api.ConnectionTemplate{}, err
	}
	return api.ConnectionTemplate{
		ID:                   t.SystemID,
		EnvironmentSystemID:  t.ID,
		EnvironmentID:        t.EnvironmentID,
		Name:                 t.Name,
		Domain:               sys.Domain,
		Dynamic:              t.Dynamic,
		AuthSchemeConfigs:    configs,
		TemplateBaseUrl:      sys.TemplateBaseURL,
		AllowBaseURLOverride: t.AllowBaseURLOverride,
	}, nil
}

// Plugboard deploys nothing, so environments are always reported as drafts with no public URL.
const environmentStatus = "draft"

func toAPIEnvironment(e plugboard.Environment) api.ProjectEnvironment {
	return api.ProjectEnvironment{ID: e.ID, Name: e.Name, Status: environmentStatus, CreatedAt: e.CreatedAt,
		UpdatedAt: e.UpdatedAt, PublicUrl: "", Config: api.EnvironmentConfig{}}
}

func toAPIProject(p *plugboard.Project) api.Project {
	out := api.Project{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Environments: []api.ProjectEnvironment{},
		CurrentFiles: api.Files{Files: []api.File{}, Labels: map[string]string{}},
		Settings:     api.ProjectSettings{}, Metadata: api.ProjectMetadata{}}
	for _, e := range p.Environments {
		out.Environments = append(out.Environments, toAPIEnvironment(e))
	}
	return out
}

func toAPIProjectSummary(p *plugboard.Project) api.ProjectSummary {
	out := api.ProjectSummary{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Environments: []api.ProjectEnvironment{}}
	for _, e := range p.Environments {
		out.Environments = append(out.Environments, toAPIEnvironment(e))
	}
	return out
}

func toAPIEndUser(u *plugboard.EndUser) api.EndUser {
	return api.EndUser{ID: u.ID, OrganisationID: u.OrganisationID, ExternalID: u.ExternalID,
		DisplayName: u.DisplayName, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// toAPIConnection renders a connection with every secret field present and empty. configs maps
// the system's auth scheme config ids to their current (public) form. The errors[] of the
// connection and its credentials are derived from their state at now (access.ConnectionErrors,
// access.CredentialErrors).
func toAPIConnection(c *plugboard.Connection, configs map[string]api.AuthSchemeConfig, now time.Time) (api.Connection, error) {
	out := api.Connection{ID: c.ID, Name: c.Name, BaseURL: c.BaseURL, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		SystemID: c.SystemID, EnvironmentSystemID: c.TemplateID, Credentials: api.ConnectionCredentials{},
		Errors: access.ConnectionErrors(c)}
	if out.Errors == nil {
		out.Errors = []string{}
	}
	if c.EndUserID != (ulid.ULID{}) {
		id := c.EndUserID
		out.EndUserID = &id
	}
	for _, cc := range c.Credentials {
		data, err := credentials.Redacted(api.CredentialType(cc.Credential.Type), cc.Credential.Public)
		if err != nil {
			return out, plugboard.Internal(fmt.Errorf("redact credential %s: %w", cc.Credential.ID, err))
		}
		cred := &api.Credential{ID: cc.Credential.ID, OrganisationID: cc.Credential.OrganisationID,
			Type: api.CredentialType(cc.Credential.Type), Data: &data, Errors: access.CredentialErrors(&cc.Credential, now),
			ExpiresAt: cc.Credential.ExpiresAt}
		if cc.Credential.Name != "" {
			name := cc.Credential.Name
			cred.Name = &name
		}
		item := api.ConnectionCredential{ID: cc.ID, Credential: cred}
		if cfg, ok := configs[cc.AuthSchemeConfigID]; ok {
			cfg := cfg
			item.AuthSchemeConfig = &cfg
		}
		out.Credentials = append(out.Credentials, item)
	}
	return out, nil
}

// normaliseBaseURL applies the spec's rules to a connection's base URL (connect.NormaliseBaseURL).
func normaliseBaseURL(raw string) (string, error) { return connect.NormaliseBaseURL(raw) }

// parsePage turns list parameters into a PageRequest, naming bad fields.
func parsePage(first *int, after, before *string) (plugboard.PageRequest, []plugboard.FieldError) {
	var (
		p    = plugboard.PageRequest{First: plugboard.DefaultPageSize}
		errs []plugboard.FieldError
	)
	if first != nil {
		if *first < 1 || *first > plugboard.MaxPageSize {
			errs = append(errs, plugboard.FieldError{Field: "first", Message: fmt.Sprintf("must be between 1 and %d", plugboard.MaxPageSize)})
		}
		p.First = *first
	}
	parseCursor := func(name string, v *string, dst *ulid.ULID) {
		if v == nil || *v == "" {
			return
		}
		id, err := ulid.Parse(*v)
		if err != nil {
			errs = append(errs, plugboard.FieldError{Field: name, Message: "is not a cursor returned by this API"})
			return
		}
		*dst = id
	}
	parseCursor("after", after, &p.After)
	parseCursor("before", before, &p.Before)
	if p.After != (ulid.ULID{}) && p.Before != (ulid.ULID{}) {
		errs = append(errs, plugboard.FieldError{Field: "before", Message: "cannot be combined with after"})
	}
	return p, errs
}

// cursor renders a page cursor; the zero ULID means none.
// timeRangeMessage is the field error of a time the store cannot keep (plugboard.TimeInRange).
const timeRangeMessage = plugboard.TimeRangeMessage

func cursor(id ulid.ULID) string {
	if id == (ulid.ULID{}) {
		return ""
	}
	return id.String()
}

// parseOptionalID parses an optional ULID query parameter.
func parseOptionalID(name string, v *string) (ulid.ULID, *plugboard.Error) {
	if v == nil || *v == "" {
		return ulid.ULID{}, nil
	}
	id, err := ulid.Parse(*v)
	if err != nil {
		return ulid.ULID{}, plugboard.Invalid("invalid query parameter", plugboard.FieldError{Field: name, Message: "is not a valid id"})
	}
	return id, nil
}

func bodyRequired() *plugboard.Error {
	return plugboard.Invalid("request body is required")
}
