package connect

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/trust"
)

// This file describes, for internal/trust, where the stored secrets of a connection's create or
// update go before and after it. The rule itself is trust.Check; nothing here decides.

// effectiveBase is where a connection's requests go: its own base URL, else its system's.
func effectiveBase(connectionBase string, sys *plugboard.System) string {
	if connectionBase != "" {
		return connectionBase
	}
	return sys.TemplateBaseURL
}

// credentialUse returns the Use of a connection credential bound to configID: base is the
// connection's effective base URL, configs the system's configs by id, and bindings the config ids
// of all the connection's credentials (a certificate also authenticates to the token URLs of the
// mTLS-enabled OAuth 2.0 configs beside it).
func credentialUse(base string, configs map[string]api.AuthSchemeConfig, configID string, bindings []string, typ string, public []byte) (trust.Use, error) {
	u := trust.Use{Origin: credentials.Origin(base), Config: configID}
	var err error
	if cfg, ok := configs[configID]; ok {
		if u.ConfigPlacement, err = credentials.ConfigPlacement(cfg); err != nil {
			return u, err
		}
	}
	if u.Placement, err = credentials.CredentialPlacement(api.CredentialType(typ), public); err != nil {
		return u, err
	}
	if typ == string(api.CredentialTypeCertificate) {
		var origins []string
		for _, id := range bindings {
			if c, ok := configs[id]; ok && c.Oauth2 != nil && c.Oauth2.MTLSEnabled && deref(c.Oauth2.MTLSCredentialID) == "" {
				origins = append(origins, credentials.Origin(c.Oauth2.TokenURL))
			}
		}
		slices.Sort(origins)
		u.Also = strings.Join(slices.Compact(origins), " ")
	}
	return u, nil
}

// bindings returns the config ids of a connection's credentials.
func bindings(ccs []plugboard.ConnectionCredential) []string {
	out := make([]string, len(ccs))
	for i, cc := range ccs {
		out[i] = cc.AuthSchemeConfigID
	}
	return out
}

// keptSecrets returns the secret fields of c that the request leaves empty while the stored
// secrets (old, a secrets half) hold a value: the ones an update keeps.
func keptSecrets(c api.Credential, old []byte) ([]string, error) {
	var sent []byte
	if c.Data != nil {
		_, sent, _ = credentials.SplitCredential(c)
	}
	return kept(old, sent, credentials.SecretFields(c.Type))
}

// KeptConfigSecrets returns the JSON paths (from the config's top, after prefix) of the stored
// secrets (old, a secrets half) that cfg leaves empty.
func KeptConfigSecrets(cfg api.AuthSchemeConfig, old []byte, prefix string) ([]string, error) {
	_, sent, _ := credentials.SplitAuthSchemeConfig(cfg)
	keys, err := kept(old, sent, nil)
	for i := range keys {
		if prefix != "" {
			keys[i] = prefix + "." + keys[i]
		}
	}
	return keys, err
}

// kept returns the keys of two secrets halves whose stored value is set and whose sent value is
// empty: those of names, in their order, or all the stored ones, sorted, when names is nil.
// Halves that do not decode are the server's own defect.
func kept(stored, sent []byte, names []string) ([]string, error) {
	storedMap, sentMap := map[string]string{}, map[string]string{}
	if len(stored) > 0 {
		if err := json.Unmarshal(stored, &storedMap); err != nil {
			return nil, plugboard.Internal(fmt.Errorf("decode stored secrets: %w", err))
		}
	}
	if len(sent) > 0 {
		_ = json.Unmarshal(sent, &sentMap)
	}
	if names == nil {
		for k := range storedMap {
			names = append(names, k)
		}
		slices.Sort(names)
	}
	var out []string
	for _, k := range names {
		if storedMap[k] != "" && sentMap[k] == "" {
			out = append(out, k)
		}
	}
	return out, nil
}

// configSecretMoves returns the moves of the sealed secrets of the auth scheme configs a
// connection's credentials are bound to (an OAuth 1.0a consumer secret signs every request): they
// go wherever the connection's requests go. A config the connection was bound to before went to
// oldBase; one it is newly bound to was, for the system, at its templateBaseUrl. Such secrets
// cannot be sent in a connection's request, so these moves have no Resend fields.
func configSecretMoves(sys *plugboard.System, oldBindings []string, oldBase, newBase string, newBindings []string) []trust.Move {
	var moves []trust.Move
	seen := map[string]bool{}
	for _, id := range newBindings {
		if seen[id] {
			continue
		}
		seen[id] = true
		for _, c := range sys.AuthSchemeConfigs {
			if c.ID != id || len(c.Sealed) == 0 {
				continue
			}
			from := sys.TemplateBaseURL
			if slices.Contains(oldBindings, id) {
				from = oldBase
			}
			moves = append(moves, trust.Move{What: fmt.Sprintf("auth scheme config %q's stored secrets", id),
				From: trust.Use{Origin: credentials.Origin(from), Config: id}, To: trust.Use{Origin: credentials.Origin(newBase), Config: id}})
		}
	}
	return moves
}
