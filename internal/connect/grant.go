package connect

import (
	"context"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
)

// grantMember returns the grant member of an oauth2 config that holds client credentials, with its
// JSON path; nil for the client credentials grant.
func grantMember(c *api.AuthSchemeConfigOAuth2) (ids *grantIDs, path string) {
	switch c.Grant.Type {
	case api.AuthorizationCode:
		if g := c.Grant.AuthorizationCode; g != nil {
			return &grantIDs{&g.CredentialID, &g.OrganisationID, g.ClientID, &g.ClientSecret}, "oauth2.grant.authorizationCode"
		}
	case api.Password:
		if g := c.Grant.Password; g != nil {
			return &grantIDs{&g.CredentialID, &g.OrganisationID, g.ClientID, &g.ClientSecret}, "oauth2.grant.password"
		}
	}
	return nil, ""
}

// grantIDs points into a grant member's fields (the two grant members share a shape but not a type).
type grantIDs struct {
	credentialID   *ulid.ULID
	organisationID *ulid.ULID
	clientID       *string
	clientSecret   **string
}

// BindGrantCredential keeps an OAuth 2.0 config's client secret in a credential of its own, as the
// spec describes: with neither credentialId nor organisationId set, a credential is created from
// clientId and clientSecret and both ids are filled in; with both set, that credential is updated
// (JSON Merge Patch: fields left out stay); any other mix is a 400. The secret never stays in the
// config. prefix is the config's JSON path ("" or "authSchemeConfigs[2]").
//
// kept names the clientSecret field when the stored secret is kept (sent empty), so that the
// caller can rule on it if the config now sends it somewhere new.
func (s *Service) BindGrantCredential(ctx context.Context, tx plugboard.Store, orgID, systemID ulid.ULID, cfg *api.AuthSchemeConfig, prefix string) (kept string, err error) {
	if cfg.Type != api.AuthSchemeTypeOauth2 || cfg.Oauth2 == nil {
		return "", nil
	}
	g, path := grantMember(cfg.Oauth2)
	if g == nil {
		return "", nil
	}
	if prefix != "" {
		path = prefix + "." + path
	}
	secret := ""
	if *g.clientSecret != nil {
		secret = **g.clientSecret
	}
	clientID := ""
	if g.clientID != nil {
		clientID = *g.clientID
	}
	zero := ulid.ULID{}
	now := s.timestamp()
	switch {
	case *g.credentialID == zero && *g.organisationID == zero:
		var errs []plugboard.FieldError
		if clientID == "" {
			errs = append(errs, plugboard.FieldError{Field: path + ".clientId", Message: "is required to create the grant's client credential"})
		}
		if secret == "" && !cfg.Oauth2.MTLSEnabled {
			// Only a client that authenticates with its certificate (mTLS) has no secret.
			errs = append(errs, plugboard.FieldError{Field: path + ".clientSecret", Message: "is required to create the grant's client credential (unless mtlsEnabled)"})
		}
		if len(errs) > 0 {
			return "", plugboard.Invalid("invalid auth scheme config", errs...)
		}
		cred := api.Credential{Type: api.CredentialTypeOauth2Client, Data: &api.CredentialData{Oauth2Client: &api.CredentialDataOAuth2Client{
			ClientID: clientID, ClientSecret: secret, TokenURL: cfg.Oauth2.TokenURL}}}
		stored, err := s.seal(orgID, newID(), cred, now, now)
		if err != nil {
			return "", err
		}
		stored.Name = grantCredentialName(systemID, credentials.ConfigID(*cfg))
		if err := tx.CreateCredential(ctx, stored); err != nil {
			return "", err
		}
		*g.credentialID, *g.organisationID = stored.ID, orgID
	case *g.credentialID != zero && *g.organisationID != zero:
		if *g.organisationID != orgID {
			return "", plugboard.Invalid("invalid auth scheme config", plugboard.FieldError{Field: path + ".organisationId",
				Message: "must be this organisation: credentials of other organisations cannot be used"})
		}
		old, err := tx.GetCredential(ctx, orgID, *g.credentialID)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			return "", plugboard.Invalid("invalid auth scheme config", plugboard.FieldError{Field: path + ".credentialId", Message: "no such credential"})
		} else if err != nil {
			return "", err
		}
		// Only the credential this config's grant created may be named: another credential (a
		// connection's, another config's) would have its secret sent to this config's token URL.
		if old.Type != string(api.CredentialTypeOauth2Client) || old.Name != grantCredentialName(systemID, credentials.ConfigID(*cfg)) {
			return "", plugboard.Invalid("invalid auth scheme config", plugboard.FieldError{Field: path + ".credentialId",
				Message: "is not the client credential of this config's grant; leave both ids unset to create one"})
		}
		data, err := access.OpenCredential(s.keys, old)
		if err != nil {
			return "", err
		}
		if secret == "" && data.Oauth2Client.ClientSecret != "" {
			kept = path + ".clientSecret"
		}
		if clientID != "" {
			data.Oauth2Client.ClientID = clientID
		}
		if secret != "" {
			data.Oauth2Client.ClientSecret = secret
		}
		data.Oauth2Client.TokenURL = cfg.Oauth2.TokenURL
		updated, err := s.seal(orgID, old.ID, api.Credential{Type: api.CredentialTypeOauth2Client, Data: &data}, old.CreatedAt, now)
		if err != nil {
			return "", err
		}
		updated.Name = old.Name
		if err := tx.UpdateCredential(ctx, updated); err != nil {
			return "", err
		}
		if g.clientID == nil || *g.clientID == "" {
			id := data.Oauth2Client.ClientID
			setClientID(cfg.Oauth2, id)
		}
	default:
		return "", plugboard.Invalid("invalid auth scheme config",
			plugboard.FieldError{Field: path + ".credentialId", Message: "set both credentialId and organisationId, or neither"})
	}
	empty := ""
	*g.clientSecret = &empty
	return kept, nil
}

// grantCredentialName names the client credential a config's grant created, binding it to that
// system and config.
func grantCredentialName(systemID ulid.ULID, configID string) string {
	return "grant client of system " + systemID.String() + " config " + configID
}

// DeleteGrantCredential deletes, in tx, the client credential an OAuth 2.0 config's grant created,
// as the config goes: nothing else can reach it after. A credential the config names but did not
// create (its name binds it to another system or config) is not the config's to delete.
func DeleteGrantCredential(ctx context.Context, tx plugboard.Store, orgID, systemID ulid.ULID, c plugboard.AuthSchemeConfig) error {
	if c.Type != string(api.AuthSchemeTypeOauth2) {
		return nil
	}
	cfg, err := PublicConfig(c)
	if err != nil {
		return err
	}
	g, _ := grantMember(cfg.Oauth2)
	if g == nil || *g.credentialID == (ulid.ULID{}) {
		return nil
	}
	cred, err := tx.GetCredential(ctx, orgID, *g.credentialID)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if cred.Type != string(api.CredentialTypeOauth2Client) || cred.Name != grantCredentialName(systemID, c.ID) {
		return nil
	}
	return tx.DeleteCredential(ctx, orgID, cred.ID)
}

func setClientID(c *api.AuthSchemeConfigOAuth2, id string) {
	switch {
	case c.Grant.AuthorizationCode != nil:
		c.Grant.AuthorizationCode.ClientID = &id
	case c.Grant.Password != nil:
		c.Grant.Password.ClientID = &id
	}
}

// GrantCredentialID returns the id of the grant credential an OAuth 2.0 config names (zero when
// none).
func GrantCredentialID(cfg *api.AuthSchemeConfig) ulid.ULID {
	if cfg.Oauth2 == nil {
		return ulid.ULID{}
	}
	if g, _ := grantMember(cfg.Oauth2); g != nil {
		return *g.credentialID
	}
	return ulid.ULID{}
}
