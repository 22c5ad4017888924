package connect

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/oauth"
)

// exchangeCredentials turns credentials that stand for a provider's tokens (oauth2-code,
// oauth2-password, oauth1) into those tokens, and proves oauth2-client credentials by fetching a
// token, as needsProvider says. It runs
// outside any store transaction, since it waits on the provider. It returns the credentials to
// store and, by index, those it produced (which the caller stores without re-validating).
//
// Every credential that needs no provider is validated first, so that a request bound to fail
// does not use up a flow's state and code. existing holds the connection's stored credentials on
// update (nil on create). cs is the connect session asking, nil for an API request: a flow a
// session's popup started is finished by that session alone.
func (s *Service) exchangeCredentials(ctx context.Context, orgID ulid.ULID, sys *plugboard.System, in []api.ConnectionCredential,
	offered []api.AuthSchemeConfig, prefix string, existing []plugboard.ConnectionCredential, cs *plugboard.ConnectSession) ([]api.ConnectionCredential, map[int]bool, error) {
	out := slices.Clone(in)
	produced := map[int]bool{}
	exchanges := false
	var errs []plugboard.FieldError
	creating := existing == nil
	for i, cc := range in {
		if needsProvider(cc, creating) != tokens {
			continue
		}
		exchanges = true
		_, fields := credentials.ValidateCredential(cc, offered, orgID, fmt.Sprintf("%s[%d]", prefix, i))
		errs = append(errs, fields...)
	}
	if exchanges && creating {
		for i, cc := range in {
			if needsProvider(cc, creating) == tokens {
				continue
			}
			_, fields := credentials.ValidateCredential(cc, offered, orgID, fmt.Sprintf("%s[%d]", prefix, i))
			errs = append(errs, fields...)
		}
	}
	if len(errs) > 0 {
		return nil, nil, plugboard.Invalid("invalid credentials", errs...)
	}
	for i, cc := range in {
		if needsProvider(cc, creating) == noCall {
			continue
		}
		typ := cc.Credential.Type
		path := fmt.Sprintf("%s[%d]", prefix, i)
		cfg, errs := credentials.ValidateCredential(cc, offered, orgID, path)
		if len(errs) > 0 {
			return nil, nil, plugboard.Invalid("invalid credentials", errs...)
		}
		tlsConfig, err := s.mtlsConfig(ctx, orgID, cfg, in, existing)
		if err != nil {
			return nil, nil, err
		}
		data := cc.Credential.Data
		var tok *oauth.Token
		switch typ {
		case api.CredentialTypeOauth2Code:
			tok, err = s.completeOAuth2(ctx, orgID, sys, cfg, data.Oauth2Code, tlsConfig, path+".credential.data.oauth2Code", cs)
		case api.CredentialTypeOauth2Password:
			id, secret, gerr := access.GrantClient(ctx, s.store, s.keys, orgID, cfg.Oauth2)
			if gerr != nil {
				return nil, nil, gerr
			}
			tok, err = s.oauth.Password(ctx, grantEndpoint(cfg.Oauth2, id, secret, tlsConfig, nil), data.Oauth2Password.Username, data.Oauth2Password.Password, cfg.Oauth2.DefaultScopes)
		case api.CredentialTypeOauth2Client:
			c := data.Oauth2Client
			if msg := credentials.TokenParamsProblem(c.AdditionalParams); msg != "" {
				return nil, nil, plugboard.Invalid("invalid credentials", plugboard.FieldError{Field: path + ".credential.data.oauth2Client.additionalParams", Message: msg})
			}
			params, _ := url.ParseQuery(c.AdditionalParams)
			ep := oauth.Endpoint{TokenURL: c.TokenURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret, TLS: tlsConfig, Params: params,
				SecretInForm: c.TokenEndpointAuthMethod == api.CredentialDataOAuth2ClientTokenEndpointAuthMethodClientSecretPost}
			_, err = s.oauth.ClientCredentials(ctx, ep, c.Scopes)
			if err != nil {
				return nil, nil, err
			}
			continue // stored as given: the token only proved the credentials
		case api.CredentialTypeOauth1:
			tok1, err := s.completeOAuth1(ctx, orgID, sys, cfg.Oauth1.ID, data.Oauth1, path+".credential.data.oauth1", cs)
			if err != nil {
				return nil, nil, err
			}
			params := []api.AdditionalParam{}
			for k, vs := range tok1.Params {
				for _, v := range vs {
					params = append(params, api.AdditionalParam{Name: k, Value: &v})
				}
			}
			slices.SortFunc(params, func(a, b api.AdditionalParam) int { return strings.Compare(a.Name, b.Name) })
			cred := *cc.Credential
			cred.Type = api.CredentialTypeOauth1Token
			cred.Data = &api.CredentialData{Oauth1Token: &api.CredentialDataOAuth1Token{Token: tok1.Token, TokenSecret: tok1.TokenSecret, AdditionalParams: params}}
			out[i].Credential = &cred
			produced[i] = true
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		cred := *cc.Credential
		cred.Type = api.CredentialTypeOauth2Token
		tokData := &api.CredentialDataOAuth2Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
			TokenType: tok.TokenType, ExpiresAt: tok.ExpiresAt, Scopes: tok.Scopes}
		cred.Data = &api.CredentialData{Oauth2Token: tokData}
		out[i].Credential = &cred
		produced[i] = true
	}
	return out, produced, nil
}

// mtlsConfig returns the TLS settings for a config with mtlsEnabled: the certificate credential
// named by mtlsCredentialId, or else the certificate credential sent with the connection.
func (s *Service) mtlsConfig(ctx context.Context, orgID ulid.ULID, cfg *api.AuthSchemeConfig, creds []api.ConnectionCredential,
	existing []plugboard.ConnectionCredential) (*tls.Config, error) {
	return access.MTLSConfig(ctx, s.store, s.keys, orgID, *cfg, s.now(), func() (*api.CredentialDataCertificate, error) {
		for _, cc := range creds {
			if cc.Credential == nil || cc.Credential.Type != api.CredentialTypeCertificate || cc.Credential.Data == nil {
				continue
			}
			if cert := cc.Credential.Data.Certificate; cert == nil || cert.Key != "" {
				return cert, nil
			}
			// Sent back as read, without its key: use the stored one.
			return s.storedCertificate(cc, existing)
		}
		return nil, nil
	})
}

// storedCertificate opens the stored certificate credential a request names by its ids, unless it
// is past its stored expiresAt (credential_expired: a stored secret that has expired is never
// presented, whatever expiresAt the request sends with it).
func (s *Service) storedCertificate(cc api.ConnectionCredential, existing []plugboard.ConnectionCredential) (*api.CredentialDataCertificate, error) {
	if ex, _ := storedFor(cc, existing); ex != nil {
		if err := access.Unexpired(&ex.Credential, fmt.Sprintf("the certificate credential of auth scheme config %q", ex.AuthSchemeConfigID), s.now()); err != nil {
			return nil, err
		}
		data, err := access.OpenCredential(s.keys, &ex.Credential)
		if err != nil {
			return nil, err
		}
		if data.Certificate != nil {
			return data.Certificate, nil
		}
	}
	return nil, plugboard.Invalid("the certificate credential has no key: send it, or send the stored credential's ids")
}
