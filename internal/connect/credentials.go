package connect

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/trust"
)

// prepareCredentials validates the credentials of a create or update against the configs the
// template offers, and returns them sealed and ready to store. existing holds the connection's
// current credentials on update: a credential whose id matches one of them keeps its ids, and its
// empty secret fields keep the stored secrets. prefix is the JSON path of the credentials array.
//
// produced marks, by index, credentials this server made from a provider exchange: they are stored
// as they are, without the checks a client's credential gets.
//
// change, set on update, says where the connection's requests went and will go: a credential
// that keeps a stored secret while its Use changes is a move that trust.Check rules on.
func (s *Service) prepareCredentials(orgID ulid.ULID, in []api.ConnectionCredential, offered []api.AuthSchemeConfig,
	existing []plugboard.ConnectionCredential, prefix string, now time.Time, produced map[int]bool, change *connectionChange) ([]plugboard.ConnectionCredential, error) {
	var errs []plugboard.FieldError
	if len(in) == 0 {
		errs = append(errs, plugboard.FieldError{Field: prefix, Message: "at least one credential is required"})
	}
	type prepared struct {
		cc     api.ConnectionCredential
		cfg    *api.AuthSchemeConfig
		old    *plugboard.ConnectionCredential
		fields []plugboard.FieldError
		// kept are the JSON paths of the stored secrets the credential keeps.
		kept []string
	}
	items := make([]prepared, len(in))
	usedIDs := map[ulid.ULID]bool{}
	for i, cc := range in {
		path := fmt.Sprintf("%s[%d]", prefix, i)
		item := prepared{cc: cc}
		// On update, find the credential this one replaces: every id it sends must be that one's.
		item.old, _ = storedFor(cc, existing)
		if existing != nil && item.old == nil {
			if cc.ID != (ulid.ULID{}) {
				item.fields = append(item.fields, plugboard.FieldError{Field: path + ".id",
					Message: "is not a credential of this connection; send 00000000000000000000000000 to add one"})
			} else if cc.Credential != nil && cc.Credential.ID != (ulid.ULID{}) {
				item.fields = append(item.fields, plugboard.FieldError{Field: path + ".credential.id",
					Message: "is not a credential of this connection; send 00000000000000000000000000 to add one"})
			}
		}
		if item.old != nil {
			if usedIDs[item.old.ID] {
				item.fields = append(item.fields, plugboard.FieldError{Field: path + ".id", Message: "names a credential listed twice"})
			}
			usedIDs[item.old.ID] = true
			// Secret fields sent empty keep the stored secret, so a client can PUT back what it read.
			// The stored secrets are opened only when some field needs them, so that sending every
			// secret anew replaces a credential even if its stored value can no longer be opened.
			// Credentials made by an exchange are complete: never mix a stored secret (an old refresh
			// token) into them.
			if !produced[i] && cc.Credential != nil && string(cc.Credential.Type) == item.old.Credential.Type && missingSecrets(*cc.Credential) {
				oldSecrets, err := access.OpenSecrets(s.keys, &item.old.Credential)
				if err != nil {
					return nil, err
				}
				kept, err := keptSecrets(*cc.Credential, oldSecrets)
				if err != nil {
					return nil, err
				}
				for _, f := range kept {
					item.kept = append(item.kept, path+".credential.data."+credentials.Member(cc.Credential.Type)+"."+f)
				}
				cred := *cc.Credential
				if cred.Data == nil {
					cred.Data = &api.CredentialData{}
				}
				data := *cred.Data
				if err := credentials.KeepSecrets(cred.Type, &data, oldSecrets); err != nil {
					return nil, plugboard.Internal(err)
				}
				cred.Data = &data
				item.cc.Credential = &cred
			}
		}
		if produced[i] {
			item.cfg = offeredByID(offered, item.cc.AuthSchemeConfig)
			if item.cfg == nil {
				return nil, plugboard.Internal(fmt.Errorf("exchanged credential %d lost its config", i))
			}
		} else {
			var fields []plugboard.FieldError
			item.cfg, fields = credentials.ValidateCredential(item.cc, offered, orgID, path)
			item.fields = append(item.fields, fields...)
		}
		if item.cc.Credential != nil && item.cc.Credential.ExpiresAt != nil && !plugboard.TimeInRange(*item.cc.Credential.ExpiresAt) {
			item.fields = append(item.fields, plugboard.FieldError{Field: path + ".credential.expiresAt", Message: plugboard.TimeRangeMessage})
		} else if item.cc.Credential != nil && item.cc.Credential.ExpiresAt != nil && !now.Before(*item.cc.Credential.ExpiresAt) {
			// It would never be applied, and would be deleted at the next sweep.
			item.fields = append(item.fields, plugboard.FieldError{Field: path + ".credential.expiresAt",
				Message: "is not in the future; an expired credential is never applied (leave expiresAt out for a credential that does not expire)"})
		}
		errs = append(errs, item.fields...)
		items[i] = item
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid credentials", errs...)
	}
	for i, item := range items {
		if !produced[i] && needsProvider(item.cc, existing == nil) == tokens {
			return nil, &plugboard.Error{Code: plugboard.ENotImplemented,
				Message: fmt.Sprintf("credential type %s needs an exchange with the provider, which this version of Plugboard does not perform yet", item.cc.Credential.Type),
				Details: "store the provider's token directly as an oauth2-token (OAuth 2.0) or oauth1-token (OAuth 1.0a with tokenAuth) credential",
				Fields:  []plugboard.FieldError{{Field: fmt.Sprintf("%s[%d].credential.type", prefix, i), Message: "needs a provider exchange"}}}
		}
	}
	out := make([]plugboard.ConnectionCredential, len(items))
	for i, item := range items {
		cred := item.cc.Credential
		// New credentials always get ids from the server: ids a client sends on create (say, copied
		// from another connection) would only collide. Replaced ones keep theirs.
		ccID, credID, created := newID(), newID(), now
		if item.old != nil {
			ccID, credID = item.old.ID, item.old.Credential.ID
			created = item.old.Credential.CreatedAt
		}
		stored, err := s.seal(orgID, credID, *cred, created, now)
		if err != nil {
			return nil, err
		}
		if cred.Type == api.CredentialTypeOauth2Token && cred.Data != nil {
			stored.RefreshDue = access.RefreshDue(cred.Data.Oauth2Token, now)
			if item.old != nil && item.old.Credential.Refresh.Failing() && keepsRefreshToken(item.kept) {
				// The same refresh token keeps its streak of failures (and backoff): a PUT of what
				// was read neither retries at once nor starts a new streak.
				stored.Refresh = item.old.Credential.Refresh
				stored.RefreshDue = item.old.Credential.Refresh.NextAttempt
			}
		}
		if cred.Name != nil {
			stored.Name = *cred.Name
		}
		out[i] = plugboard.ConnectionCredential{ID: ccID, AuthSchemeConfigID: credentials.ConfigID(*item.cfg), Credential: *stored}
	}
	if change != nil {
		var moves []trust.Move
		oldBindings, newBindings := bindings(existing), bindings(out)
		for i, item := range items {
			if item.old == nil || len(item.kept) == 0 {
				continue
			}
			from, err := credentialUse(change.oldBase, change.configs, item.old.AuthSchemeConfigID, oldBindings, item.old.Credential.Type, item.old.Credential.Public)
			if err != nil {
				return nil, plugboard.Internal(err)
			}
			to, err := credentialUse(change.newBase, change.configs, out[i].AuthSchemeConfigID, newBindings, out[i].Credential.Type, out[i].Credential.Public)
			if err != nil {
				return nil, plugboard.Internal(err)
			}
			moves = append(moves, trust.Move{What: fmt.Sprintf("%s[%d]", prefix, i), From: from, To: to, Resend: item.kept})
		}
		moves = append(moves, configSecretMoves(change.sys, oldBindings, change.oldBase, change.newBase, newBindings)...)
		if err := trust.Check(change.caller, moves...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// keepsRefreshToken reports whether a credential's kept secrets (JSON paths) include its stored
// OAuth 2.0 refresh token.
func keepsRefreshToken(kept []string) bool {
	for _, p := range kept {
		if strings.HasSuffix(p, ".oauth2Token.refreshToken") {
			return true
		}
	}
	return false
}

// connectionChange is what the trust rule needs to know of an update: where the connection's
// requests went and will go (base URLs), and the system's configs by id.
type connectionChange struct {
	oldBase, newBase string
	sys              *plugboard.System
	configs          map[string]api.AuthSchemeConfig
	caller           trust.Caller
}

// offeredByID returns the offered config a connection credential names.
func offeredByID(offered []api.AuthSchemeConfig, cfg *api.AuthSchemeConfig) *api.AuthSchemeConfig {
	if cfg == nil {
		return nil
	}
	id := credentials.ConfigID(*cfg)
	for i := range offered {
		if credentials.ConfigID(offered[i]) == id {
			return &offered[i]
		}
	}
	return nil
}

// missingSecrets reports whether a credential leaves any of its type's secret fields empty.
func missingSecrets(c api.Credential) bool {
	fields := credentials.SecretFields(c.Type)
	if len(fields) == 0 || c.Data == nil {
		return len(fields) > 0
	}
	_, secrets, err := credentials.SplitCredential(c)
	if err != nil || secrets == nil {
		return true
	}
	var got map[string]string
	if err := json.Unmarshal(secrets, &got); err != nil {
		return true
	}
	for _, f := range fields {
		if got[f] == "" {
			return true
		}
	}
	return false
}
