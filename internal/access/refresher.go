package access

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
)

// Window bounds how long before expiry the background refresher refreshes a token: at most this
// long, and at most half the token's life.
const Window = 5 * time.Minute

// RefreshDue returns when the background refresher should refresh an OAuth 2.0 token stored at
// storedAt, or nil when it should not (no expiry, or no refresh token to use).
func RefreshDue(tok *api.CredentialDataOAuth2Token, storedAt time.Time) *time.Time {
	if tok == nil || tok.ExpiresAt.IsZero() || tok.RefreshToken == "" {
		return nil
	}
	lead := Window
	if life := tok.ExpiresAt.Sub(storedAt); life > 0 && life/2 < lead {
		lead = life / 2
	}
	due := tok.ExpiresAt.Add(-lead)
	return &due
}

// RefresherConfig tunes the background refresher.
type RefresherConfig struct {
	// Interval is the pause between rounds (with up to 20% jitter); 30 s when zero.
	Interval time.Duration
	// Concurrency bounds refreshes running at once; 4 when zero.
	Concurrency int
	// Batch bounds the credentials taken per round; 200 when zero.
	Batch  int
	Logger *slog.Logger
}

// RunRefresher refreshes tokens before they expire until ctx ends. Across replicas on one
// database only the one holding the lead does the work; the others wait for a later round.
func (s *Service) RunRefresher(ctx context.Context, cfg RefresherConfig) {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	for {
		jitter := time.Duration(rand.Int64N(int64(cfg.Interval) / 5))
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Interval + jitter):
		}
		n, err := s.RefreshDueOnce(ctx, cfg)
		if err != nil && cfg.Logger != nil {
			cfg.Logger.Warn("background refresh round failed", "err", err)
		} else if n > 0 && cfg.Logger != nil {
			cfg.Logger.Info("background refresh round", "refreshed", n)
		}
	}
}

// RefreshDueOnce runs one round: if this process leads, it refreshes the credentials that are
// due, a few at a time, and reports how many it refreshed. Failures are recorded on the
// credentials (with backoff) by the refresh itself.
func (s *Service) RefreshDueOnce(ctx context.Context, cfg RefresherConfig) (int, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	release, ok, err := s.store.TryLead(ctx, "refresher")
	if err != nil || !ok {
		return 0, err
	}
	defer release()
	refs, err := s.store.ListRefreshDue(ctx, s.now(), cfg.Batch)
	if err != nil {
		return 0, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
		sem  = make(chan struct{}, cfg.Concurrency)
	)
	for _, ref := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := s.RefreshCredential(ctx, ref); err != nil {
				// Whatever failed, the credential waits its turn again rather than heading the
				// queue every round (and starving the others).
				s.deferRefresh(ctx, ref, s.now().Add(BackoffBase*10))
				if cfg.Logger != nil {
					cfg.Logger.Warn("background refresh failed", "organisation_id", ref.OrganisationID.String(),
						"connection_id", ref.ConnectionID.String(), "credential_id", ref.CredentialID.String(), "code", plugboard.ErrorCode(err))
				}
				return
			}
			mu.Lock()
			done++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return done, nil
}

// RefreshCredential refreshes one connection credential's token now.
func (s *Service) RefreshCredential(ctx context.Context, ref plugboard.CredentialRef) error {
	c, sys, opened, err := s.open(ctx, ref.OrganisationID, ref.ConnectionID)
	if err != nil {
		return err
	}
	// The same check as every use: a refresh presents the connection's other credentials (its
	// certificate over mTLS), so a connection that may not be used is not refreshed either.
	if err := Usable(c, s.now()); err != nil {
		return err
	}
	for i, cc := range c.Credentials {
		if cc.Credential.ID != ref.CredentialID || opened[i].Type != api.CredentialTypeOauth2Token {
			continue
		}
		_, err := s.refresh(ctx, c, cc, opened[i].Config, opened, opened[i].Data.Oauth2Token.AccessToken)
		s.Forget(ref.OrganisationID, ref.ConnectionID)
		return err
	}
	_ = sys
	return plugboard.Errorf(plugboard.ENotFound, "credential %s is no OAuth 2.0 token of connection %s", ref.CredentialID, ref.ConnectionID)
}

// open reads a connection, its system and its credentials, opened, without touching tokens.
func (s *Service) open(ctx context.Context, orgID, connectionID ulid.ULID) (*plugboard.Connection, *plugboard.System, []apply.Credential, error) {
	c, err := s.store.GetConnection(ctx, orgID, connectionID)
	if err != nil {
		return nil, nil, nil, err
	}
	sys, configs, err := s.system(ctx, orgID, c.SystemID)
	if err != nil {
		return nil, nil, nil, err
	}
	opened := make([]apply.Credential, len(c.Credentials))
	for i, cc := range c.Credentials {
		cfg, ok := configs[cc.AuthSchemeConfigID]
		if !ok {
			return nil, nil, nil, plugboard.Errorf(plugboard.EInternal, "credential %s names config %q, which its system lacks", cc.Credential.ID, cc.AuthSchemeConfigID)
		}
		data, err := OpenCredential(s.keys, &cc.Credential)
		if err != nil {
			return nil, nil, nil, err
		}
		opened[i] = apply.Credential{ID: cc.Credential.ID.String(), Config: cfg, Type: api.CredentialType(cc.Credential.Type), Data: data}
		if at := cc.Credential.ExpiresAt; at != nil {
			opened[i].ExpiresAt = *at
		}
	}
	return c, sys, opened, nil
}

// deferRefresh moves a credential's RefreshDue to until, unless it was moved already.
func (s *Service) deferRefresh(ctx context.Context, ref plugboard.CredentialRef, until time.Time) {
	_ = s.store.InTx(ctx, func(tx plugboard.Store) error {
		cur, err := tx.LockCredential(ctx, ref.OrganisationID, ref.CredentialID)
		if err != nil {
			return err
		}
		if cur.RefreshDue != nil && cur.RefreshDue.After(s.now()) {
			return nil // the refresh recorded its own next attempt
		}
		cur.RefreshDue = &until
		return tx.UpdateCredential(ctx, cur)
	})
}
