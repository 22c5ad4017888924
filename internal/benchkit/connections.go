package benchkit

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

// Connections stores an organisation with an api-key system, a template of it, and n connections
// each holding one string credential sealed with keys (in bulk, a thousand at a time), and returns
// the organisation and the connections' ids.
func Connections(ctx context.Context, st *sqlstore.DB, keys *vault.Vault, n int) (ulid.ULID, []ulid.ULID, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	org, system, template := ulid.Make(), ulid.Make(), ulid.Make()
	if err := st.CreateOrganisation(ctx, &plugboard.Organisation{ID: org, Name: "bench", CreatedAt: now}); err != nil {
		return org, nil, err
	}
	public, _, err := credentials.SplitAuthSchemeConfig(api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey,
		ApiKey: &api.AuthSchemeConfigAPIKey{ID: "key", Name: "X-Api-Key", In: api.AuthSchemeConfigAPIKeyInHeader}})
	if err != nil {
		return org, nil, err
	}
	if err := st.CreateSystem(ctx, &plugboard.System{ID: system, OrganisationID: org, Name: "Acme", Domain: "acme.example",
		TemplateBaseURL: "https://api.acme.example", AuthSchemeConfigs: []plugboard.AuthSchemeConfig{{ID: "key", Type: "apiKey", Config: public}},
		CreatedAt: now, UpdatedAt: now}); err != nil {
		return org, nil, err
	}
	project, env := ulid.Make(), ulid.Make()
	if err := st.CreateProject(ctx, &plugboard.Project{ID: project, OrganisationID: org, Name: "p", CreatedAt: now, UpdatedAt: now,
		Environments: []plugboard.Environment{{ID: env, Name: "production", CreatedAt: now, UpdatedAt: now}}}); err != nil {
		return org, nil, err
	}
	if err := st.CreateTemplate(ctx, &plugboard.ConnectionTemplate{ID: template, OrganisationID: org, ProjectID: project,
		EnvironmentID: env, SystemID: system, Name: "acme", CreatedAt: now, UpdatedAt: now}); err != nil {
		return org, nil, err
	}
	ids := make([]ulid.ULID, 0, n)
	var batch []plugboard.Connection
	for i := range n {
		cred := plugboard.Credential{ID: ulid.Make(), OrganisationID: org, Name: "key", CreatedAt: now, UpdatedAt: now}
		if err := access.SealInto(keys, &cred, api.CredentialTypeString, &api.CredentialData{String: &api.CredentialDataString{Value: "SECRET-bench-key"}}); err != nil {
			return org, nil, err
		}
		c := plugboard.Connection{ID: ulid.Make(), OrganisationID: org, TemplateID: template, SystemID: system,
			Name: fmt.Sprintf("bench-%d", i), BaseURL: "https://api.acme.example", CreatedAt: now, UpdatedAt: now,
			Credentials: []plugboard.ConnectionCredential{{ID: ulid.Make(), AuthSchemeConfigID: "key", Credential: cred}}}
		batch = append(batch, c)
		ids = append(ids, c.ID)
		if len(batch) == 1000 || i == n-1 {
			if err := st.BulkInsertConnections(ctx, batch); err != nil {
				return org, nil, err
			}
			batch = batch[:0]
		}
	}
	return org, ids, nil
}
