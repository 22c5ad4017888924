package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/vault"
)

// OpenSecrets returns a stored credential's secrets half (nil when it has none).
func OpenSecrets(keys *vault.Vault, c *plugboard.Credential) ([]byte, error) {
	if c.Sealed == nil {
		return nil, nil
	}
	return keys.OpenCredential(c.OrganisationID, c.ID, c.Sealed)
}

// OpenCredential returns a stored credential's full data, secrets included.
func OpenCredential(keys *vault.Vault, c *plugboard.Credential) (api.CredentialData, error) {
	secrets, err := OpenSecrets(keys, c)
	if err != nil {
		return api.CredentialData{}, err
	}
	data, err := credentials.JoinCredential(api.CredentialType(c.Type), c.Public, secrets)
	if err != nil {
		return api.CredentialData{}, plugboard.Internal(fmt.Errorf("join credential %s: %w", c.ID, err))
	}
	return data, nil
}

// SealInto sets a stored credential's type, public half and sealed secrets from full data.
func SealInto(keys *vault.Vault, c *plugboard.Credential, typ api.CredentialType, data *api.CredentialData) error {
	public, secrets, err := credentials.SplitCredential(api.Credential{Type: typ, Data: data})
	if err != nil {
		return plugboard.Internal(err)
	}
	c.Type, c.Public, c.Sealed = string(typ), public, nil
	if secrets != nil {
		if c.Sealed, err = keys.SealCredential(c.OrganisationID, c.ID, secrets); err != nil {
			return err
		}
	}
	return nil
}

// FullConfig returns a stored auth scheme config with its sealed secrets (an OAuth 1.0a consumer
// secret) put back.
func FullConfig(keys *vault.Vault, orgID, systemID ulid.ULID, c plugboard.AuthSchemeConfig) (api.AuthSchemeConfig, error) {
	var secrets []byte
	if c.Sealed != nil {
		var err error
		if secrets, err = keys.OpenConfig(orgID, systemID, c.ID, c.Sealed); err != nil {
			return api.AuthSchemeConfig{}, err
		}
	}
	cfg, err := credentials.JoinAuthSchemeConfig(c.Config, secrets)
	if err != nil {
		return cfg, plugboard.Internal(err)
	}
	return cfg, nil
}

// GrantClient returns the client id and secret an OAuth 2.0 config's grant credential holds.
func GrantClient(ctx context.Context, st CredentialGetter, keys *vault.Vault, orgID ulid.ULID, cfg *api.AuthSchemeConfigOAuth2) (id, secret string, err error) {
	var credID ulid.ULID
	switch {
	case cfg.Grant.AuthorizationCode != nil && cfg.Grant.Type == api.AuthorizationCode:
		credID = cfg.Grant.AuthorizationCode.CredentialID
	case cfg.Grant.Password != nil && cfg.Grant.Type == api.Password:
		credID = cfg.Grant.Password.CredentialID
	}
	if credID == (ulid.ULID{}) {
		return "", "", plugboard.Invalid(fmt.Sprintf("auth scheme config %q has no client credential for its %s grant", cfg.ID, cfg.Grant.Type))
	}
	cred, err := st.GetCredential(ctx, orgID, credID)
	if err != nil {
		return "", "", err
	}
	data, err := OpenCredential(keys, cred)
	if err != nil {
		return "", "", err
	}
	if data.Oauth2Client == nil {
		return "", "", plugboard.Internal(fmt.Errorf("grant credential %s is not an oauth2-client", cred.ID))
	}
	return data.Oauth2Client.ClientID, data.Oauth2Client.ClientSecret, nil
}

// fingerprint names a value in a cache key without holding it.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func parseQuery(q string) (url.Values, error) {
	v, err := url.ParseQuery(q)
	if err != nil {
		return nil, plugboard.Invalid("additional parameters are not a URL-encoded query string")
	}
	return v, nil
}
