package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/trust"
)

// This file describes, for internal/trust, where each stored secret a request touches goes before
// and after it. The rule itself is trust.Check; nothing here decides.

// caller returns what the trust rule needs to know of the request's API key.
func (s *Server) caller(ctx context.Context) trust.Caller {
	return trust.Caller{MayRead: s.mayReadSecrets(ctx), ReadScope: s.ops.byID["AccessConnection"].Scope}
}

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

// keptConfigSecrets returns the JSON paths (from the config's top, after prefix) of the stored
// secrets (old, a secrets half) that cfg leaves empty.
func keptConfigSecrets(cfg api.AuthSchemeConfig, old []byte, prefix string) ([]string, error) {
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

// eachConnectionOfSystem calls fn with every connection of a system, a page at a time, until fn
// returns true.
func eachConnectionOfSystem(ctx context.Context, st plugboard.Store, orgID, systemID ulid.ULID, fn func(*plugboard.Connection) bool) error {
	page := plugboard.PageRequest{First: plugboard.MaxPageSize}
	for {
		res, err := st.ListConnections(ctx, orgID, plugboard.ConnectionFilter{SystemID: systemID}, page)
		if err != nil {
			return err
		}
		for i := range res.Items {
			if fn(&res.Items[i]) {
				return nil
			}
		}
		if res.Next == (ulid.ULID{}) {
			return nil
		}
		page.After = res.Next
	}
}

// systemSecretsMove returns a Move for the stored secrets of the system's connections that match
// (a credential with sealed secrets for which match is true), or nil when none does. Such
// secrets cannot be sent again in a request about the system, so the Move has no Resend fields.
func systemSecretsMove(ctx context.Context, st plugboard.Store, orgID, systemID ulid.ULID, what string, from, to trust.Use,
	match func(c *plugboard.Connection, cc *plugboard.ConnectionCredential) bool) (*trust.Move, error) {
	var found *trust.Move
	err := eachConnectionOfSystem(ctx, st, orgID, systemID, func(c *plugboard.Connection) bool {
		for i := range c.Credentials {
			cc := &c.Credentials[i]
			if len(cc.Credential.Sealed) > 0 && match(c, cc) {
				found = &trust.Move{What: what, From: from, To: to}
				return true
			}
		}
		return false
	})
	return found, err
}

// configMoves returns the moves an auth scheme config change makes. old is the stored config
// (nil for a new one), cfg the config as it will be stored; keptConfig are the JSON paths of the
// config's own stored secrets it keeps, keptGrant the path of its grant's client secret when kept.
// The connections' secrets bound to the config move with it, as does the certificate its
// mtlsCredentialId names: a request about the config cannot carry those again.
//
// grantOld is the config as the kept grant secret knew it: old, or nil when the grant credential
// is not the one the stored config names (its secret then comes from nowhere).
func (s *Server) configMoves(ctx context.Context, tx plugboard.Store, orgID, systemID ulid.ULID, old, grantOld *api.AuthSchemeConfig,
	cfg api.AuthSchemeConfig, keptConfig []string, keptGrant string, c trust.Caller) ([]trust.Move, error) {
	id := credentials.ConfigID(cfg)
	place, err := credentials.ConfigPlacement(cfg)
	if err != nil {
		return nil, plugboard.Internal(err)
	}
	to, from := trust.Use{Config: id, ConfigPlacement: place}, trust.Use{}
	if old != nil {
		if from.ConfigPlacement, err = credentials.ConfigPlacement(*old); err != nil {
			return nil, plugboard.Internal(err)
		}
		from.Config = id
	}
	var moves []trust.Move
	if len(keptConfig) > 0 {
		moves = append(moves, trust.Move{What: "the config's stored secrets", From: from, To: to, Resend: keptConfig})
	}
	if keptGrant != "" {
		grantFrom := trust.Use{}
		if grantOld != nil {
			grantFrom = from
		}
		moves = append(moves, trust.Move{What: "the grant's client secret", From: grantFrom, To: to, Resend: []string{keptGrant}})
	}
	if old != nil && from != to && !c.MayRead {
		m, err := systemSecretsMove(ctx, tx, orgID, systemID, "the secrets of connections using the config", from, to,
			func(_ *plugboard.Connection, cc *plugboard.ConnectionCredential) bool {
				return cc.AuthSchemeConfigID == id
			})
		if err != nil {
			return nil, err
		}
		if m != nil {
			moves = append(moves, *m)
		}
	}
	if named := mtlsCredentialID(&cfg); named != "" {
		mFrom := from
		if old == nil || mtlsCredentialID(old) != named {
			mFrom = trust.Use{}
		}
		moves = append(moves, trust.Move{What: "the certificate credential mtlsCredentialId names", From: mFrom, To: to})
	}
	return moves, nil
}

func mtlsCredentialID(cfg *api.AuthSchemeConfig) string {
	if cfg.Oauth2 == nil {
		return ""
	}
	return deref(cfg.Oauth2.MTLSCredentialID)
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
