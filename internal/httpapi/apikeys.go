package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/textcheck"
)

// ListAPIKeys implements api.StrictServerInterface.
func (s *Server) ListAPIKeys(ctx context.Context, req api.ListAPIKeysRequestObject) (api.ListAPIKeysResponseObject, error) {
	p := req.Params
	page, errs := parsePage(p.First, p.After, p.Before)
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid query parameters", errs...)
	}
	res, err := s.store.ListAPIKeys(ctx, req.OrganisationId, page)
	if err != nil {
		return nil, err
	}
	out := api.APIKeyPage{Items: []api.APIKey{}, TotalCount: res.TotalCount, Next: cursor(res.Next), Prev: cursor(res.Prev)}
	for i := range res.Items {
		out.Items = append(out.Items, toAPIKey(&res.Items[i]))
	}
	return api.ListAPIKeys200JSONResponse(out), nil
}

// GetAPIKey implements api.StrictServerInterface.
func (s *Server) GetAPIKey(ctx context.Context, req api.GetAPIKeyRequestObject) (api.GetAPIKeyResponseObject, error) {
	k, err := s.store.GetAPIKey(ctx, req.OrganisationId, req.ApiKeyId)
	if err != nil {
		return nil, err
	}
	return api.GetAPIKey200JSONResponse(toAPIKey(k)), nil
}

// CreateAPIKey implements api.StrictServerInterface. The new key always has an explicit list of
// scopes, each held by the calling key: a key cannot mint a key that may do more than itself.
func (s *Server) CreateAPIKey(ctx context.Context, req api.CreateAPIKeyRequestObject) (api.CreateAPIKeyResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	errs := textcheck.Name("name", b.Name, nil)
	scopes, errs := checkScopes("scopes", b.Scopes, errs)
	var expires *time.Time
	if b.ExpiresAt != nil {
		t := b.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !t.After(s.now()) {
			errs = append(errs, plugboard.FieldError{Field: "expiresAt", Message: "must be in the future"})
		} else if !plugboard.TimeInRange(t) {
			errs = append(errs, plugboard.FieldError{Field: "expiresAt", Message: timeRangeMessage})
		}
		expires = &t
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid API key", errs...)
	}
	var lacking []string
	for _, sc := range scopes {
		if requireScope(ctx, sc) != nil {
			lacking = append(lacking, sc)
		}
	}
	if len(lacking) > 0 {
		return nil, &plugboard.Error{Code: plugboard.EForbidden,
			Message: "the API key cannot grant scopes it lacks: " + strings.Join(lacking, ", "),
			Details: "a key creates keys only with scopes it holds itself"}
	}
	key, id, hash, err := apikey.New(req.OrganisationId)
	if err != nil {
		return nil, err
	}
	k := &plugboard.APIKey{ID: id, OrganisationID: req.OrganisationId, Name: b.Name, Hash: hash, Scopes: scopes,
		CreatedAt: s.timestamp(), ExpiresAt: expires}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return nil, err
	}
	v := toAPIKey(k)
	return api.CreateAPIKey201JSONResponse{Key: key, ID: v.ID, Name: v.Name, Prefix: v.Prefix, Scopes: v.Scopes,
		Unrestricted: v.Unrestricted, CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt, LastUsedAt: v.LastUsedAt}, nil
}

// DeleteAPIKey implements api.StrictServerInterface. This process refuses the key from the moment
// it is deleted; other processes on the same store do once their cached copy is older than
// KeyCacheTTL.
func (s *Server) DeleteAPIKey(ctx context.Context, req api.DeleteAPIKeyRequestObject) (api.DeleteAPIKeyResponseObject, error) {
	if err := s.store.DeleteAPIKey(ctx, req.OrganisationId, req.ApiKeyId); err != nil {
		return nil, err
	}
	s.keyCache.drop(req.OrganisationId, req.ApiKeyId, s.now())
	return api.DeleteAPIKey204Response{}, nil
}

// checkScopes validates a list of scopes a key is to hold: at least one, each known, none empty.
// Duplicates are dropped. An empty list is an error, never "every scope".
func checkScopes(field string, in []string, errs []plugboard.FieldError) ([]string, []plugboard.FieldError) {
	if len(in) == 0 {
		return nil, append(errs, plugboard.FieldError{Field: field,
			Message: "must name at least one scope (" + strings.Join(Scopes, ", ") + ")"})
	}
	var out []string
	for i, sc := range in {
		switch {
		case sc == "":
			errs = append(errs, plugboard.FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Message: "is empty"})
		case !slices.Contains(Scopes, sc):
			errs = append(errs, plugboard.FieldError{Field: fmt.Sprintf("%s[%d]", field, i),
				Message: "is not a scope (" + strings.Join(Scopes, ", ") + ")"})
		case !slices.Contains(out, sc):
			out = append(out, sc)
		}
	}
	return out, errs
}

// toAPIKey describes a stored key without its hash. A key stored without scopes holds them all,
// and says so.
func toAPIKey(k *plugboard.APIKey) api.APIKey {
	out := api.APIKey{ID: k.ID, Name: k.Name, Prefix: apikey.PrefixOf(k.OrganisationID, k.ID),
		Scopes: slices.Clone(k.Scopes), CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt}
	if len(k.Scopes) == 0 {
		out.Scopes, out.Unrestricted = slices.Clone(Scopes), true
	}
	return out
}

// expired reports whether the key may no longer be used at now.
func expired(k *plugboard.APIKey, now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// KeyUseInterval is how often, at most, a process records that an API key was used: lastUsedAt
// is exact to within it, and a busy key costs one store write per interval, not one per request.
const KeyUseInterval = time.Minute

// keyUseSampler decides, per process, when a key's use is next worth a store write.
type keyUseSampler struct {
	mu   sync.Mutex
	last map[[2]ulid.ULID]time.Time
}

// due reports whether a use at now should be recorded, and if so remembers it as the last one.
func (u *keyUseSampler) due(orgID, keyID ulid.ULID, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := [2]ulid.ULID{orgID, keyID}
	if last, ok := u.last[k]; ok {
		if d := now.Sub(last); d >= 0 && d < KeyUseInterval {
			return false
		}
	}
	if u.last == nil || len(u.last) >= 10000 {
		u.last = map[[2]ulid.ULID]time.Time{}
	}
	u.last[k] = now
	return true
}

// noteKeyUse records, at most once per KeyUseInterval per key, that k authenticated a request at
// now. The write runs on its own goroutine, off the request's path; a failure is logged and the
// next interval tries again.
func (s *Server) noteKeyUse(k *plugboard.APIKey, now time.Time) {
	if !s.keyUse.due(k.OrganisationID, k.ID, now) {
		return
	}
	orgID, keyID, at := k.OrganisationID, k.ID, now.UTC().Truncate(time.Microsecond)
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.store.TouchAPIKey(ctx, orgID, keyID, at); err != nil {
			s.logger.Warn("could not record an API key's use", "organisation_id", orgID.String(),
				"api_key_id", keyID.String(), "err", err)
		}
	}()
}

// APIKeyView is a stored key as the API shows it (no hash; a key stored without scopes lists them
// all and says it is unrestricted), for other front ends such as the CLI.
func APIKeyView(k *plugboard.APIKey) api.APIKey { return toAPIKey(k) }
