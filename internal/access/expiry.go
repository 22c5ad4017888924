package access

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/events"
)

// Usable refuses a connection that lacks a credential it is meant to carry: one past its
// expiresAt at now (swept or not), or one the expiry sweep deleted and no credential has replaced
// (Connection.Expired). A request is never sent with part of a connection's credentials.
func Usable(c *plugboard.Connection, now time.Time) error {
	for _, cc := range c.Credentials {
		if Expired(&cc.Credential, now) {
			return expiredError(cc.Credential.ID.String(), cc.AuthSchemeConfigID, *cc.Credential.ExpiresAt)
		}
	}
	if len(c.Expired) > 0 {
		e := c.Expired[0]
		return expiredError(e.CredentialID.String(), e.AuthSchemeConfigID, e.ExpiresAt)
	}
	return nil
}

// Expired reports whether a stored credential is past its expiresAt at now. It is the one expiry
// check: Usable asks it of a connection's credentials, Unexpired of a credential read on its own
// (one a config names), and a credential's errors[] show it.
func Expired(c *plugboard.Credential, now time.Time) bool {
	return c.ExpiresAt != nil && !now.Before(*c.ExpiresAt)
}

// Unexpired refuses a stored credential read on its own to be used (presented, applied, or
// minted from) once it is past its expiresAt: credential_expired, naming the credential by its id
// and role, never its secret. role says what it was read for ("the certificate credential that
// auth scheme config \"cc\" names in mtlsCredentialId").
func Unexpired(c *plugboard.Credential, role string, now time.Time) error {
	if !Expired(c, now) {
		return nil
	}
	return &plugboard.Error{Code: plugboard.ECredentialExpired,
		Message: fmt.Sprintf("credential %s (%s) expired at %s; it is no longer presented or applied",
			c.ID, role, c.ExpiresAt.UTC().Format(time.RFC3339)),
		Details: "give it a new expiresAt before it is deleted, or use another credential"}
}

func expiredError(credID, configID string, at time.Time) error {
	return &plugboard.Error{Code: plugboard.ECredentialExpired,
		Message: fmt.Sprintf("credential %s (auth scheme config %q) of this connection expired at %s; the connection is not used without it",
			credID, configID, at.UTC().Format(time.RFC3339)),
		Details: "add a credential to the connection (PUT the connection with a new credential, or renew its expiresAt) to use it again"}
}

// CredentialErrors are a credential's errors[] as the API shows them, derived from its state:
// expiry at now and the streak of failed refreshes. Human-readable, never a secret; nil when the
// credential has nothing to report.
func CredentialErrors(c *plugboard.Credential, now time.Time) []string {
	var out []string
	if Expired(c, now) {
		out = append(out, fmt.Sprintf("expired at %s: no longer applied to requests, and deleted within a minute", c.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if r := c.Refresh; r.Failing() {
		cause := r.LastError
		if cause == "" {
			cause = "cause not recorded"
		}
		msg := fmt.Sprintf("token refresh failing (%s): %d failed attempt", cause, r.Attempts)
		if r.Attempts != 1 {
			msg += "s"
		}
		if r.FailingSince != nil {
			msg += " since " + r.FailingSince.UTC().Format(time.RFC3339)
		}
		if r.NextAttempt != nil {
			msg += "; next attempt after " + r.NextAttempt.UTC().Format(time.RFC3339)
		}
		out = append(out, msg+"; a new authorisation (or refresh token) clears it")
	}
	return out
}

// ConnectionErrors are a connection's errors[] as the API shows them: one line per credential the
// expiry sweep deleted and nothing has replaced yet. Nil when nothing needs attention.
func ConnectionErrors(c *plugboard.Connection) []string {
	var out []string
	for _, e := range c.Expired {
		name := ""
		if e.Name != "" {
			name = fmt.Sprintf(" %q", e.Name)
		}
		out = append(out, fmt.Sprintf("credential %s%s (%s, auth scheme config %q) expired at %s and was deleted at %s; "+
			"the connection is refused (credential_expired) until a credential is added to it",
			e.CredentialID, name, e.Type, e.AuthSchemeConfigID, e.ExpiresAt.UTC().Format(time.RFC3339), e.DeletedAt.UTC().Format(time.RFC3339)))
	}
	return out
}

// DefaultExpiringLead is how long before a credential's expiresAt credential.expiring is emitted.
const DefaultExpiringLead = 72 * time.Hour

// SweeperConfig tunes the expiry sweeper.
type SweeperConfig struct {
	// Interval is the pause between rounds (with up to 20% jitter); 20 s when zero, so that an
	// expired credential is deleted within a minute.
	Interval time.Duration
	// Batch bounds the credentials read and handled per step; 200 when zero. A round takes batches
	// until none is left (or one makes no progress).
	Batch int
	// ExpiringLead is how long before its expiry a credential's credential.expiring is emitted;
	// DefaultExpiringLead when zero, never when negative.
	ExpiringLead time.Duration
	Logger       *slog.Logger
}

// SweepResult counts what one round did.
type SweepResult struct {
	Deleted, Expiring int
}

// RunSweeper deletes expired connection credentials and announces coming expiries until ctx
// ends. Across replicas on one database only the one holding the lead works each round.
func (s *Service) RunSweeper(ctx context.Context, cfg SweeperConfig) {
	if cfg.Interval <= 0 {
		cfg.Interval = 20 * time.Second
	}
	for {
		jitter := time.Duration(rand.Int64N(int64(cfg.Interval) / 5))
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Interval + jitter):
		}
		res, err := s.SweepOnce(ctx, cfg)
		if err != nil && cfg.Logger != nil && ctx.Err() == nil {
			cfg.Logger.Warn("expiry sweep failed", "err", err)
		} else if (res.Deleted > 0 || res.Expiring > 0) && cfg.Logger != nil {
			cfg.Logger.Info("expiry sweep", "deleted", res.Deleted, "expiring", res.Expiring)
		}
	}
}

// SweepOnce runs one round if this process leads: it deletes every connection credential expired
// by now, each in its own transaction with its credential.deleted event (reason "expired"), and
// emits credential.expiring once for each credential expiring within the lead time. A round
// stopped halfway (a crash, a failed transaction) leaves the rest to the next: the work queue is
// the stored state itself.
func (s *Service) SweepOnce(ctx context.Context, cfg SweeperConfig) (SweepResult, error) {
	var res SweepResult
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.ExpiringLead == 0 {
		cfg.ExpiringLead = DefaultExpiringLead
	}
	release, ok, err := s.store.TryLead(ctx, "sweeper")
	if err != nil || !ok {
		return res, err
	}
	defer release()
	var firstErr error
	for {
		now := s.now()
		refs, err := s.store.ListExpiredCredentials(ctx, now, cfg.Batch)
		if err != nil {
			return res, err
		}
		done := 0
		for _, ref := range refs {
			deleted, err := s.deleteExpired(ctx, ref, now)
			if err != nil {
				firstErr = cmpErr(firstErr, err)
				continue
			}
			if deleted {
				done++
			}
		}
		res.Deleted += done
		if len(refs) < cfg.Batch || done == 0 {
			break
		}
	}
	if cfg.ExpiringLead < 0 {
		return res, firstErr
	}
	for {
		now := s.now()
		refs, err := s.store.ListExpiringCredentials(ctx, now, now.Add(cfg.ExpiringLead), cfg.Batch)
		if err != nil {
			return res, cmpErr(firstErr, err)
		}
		done := 0
		for _, ref := range refs {
			marked, err := s.announceExpiring(ctx, ref, now, now.Add(cfg.ExpiringLead))
			if err != nil {
				firstErr = cmpErr(firstErr, err)
				continue
			}
			if marked {
				done++
			}
		}
		res.Expiring += done
		if len(refs) < cfg.Batch || done == 0 {
			break
		}
	}
	return res, firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// skipped reports whether a sweep step found its work gone: the credential was renewed, replaced
// or deleted since it was listed.
func skipped(err error) bool {
	return plugboard.IsCode(err, plugboard.ENotFound) || plugboard.IsCode(err, plugboard.EConflict)
}

// deleteExpired deletes one expired credential with its event, in one transaction.
func (s *Service) deleteExpired(ctx context.Context, ref plugboard.CredentialRef, now time.Time) (bool, error) {
	deleted := false
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		c, err := tx.GetConnection(ctx, ref.OrganisationID, ref.ConnectionID)
		if err != nil {
			return err
		}
		gone, err := tx.DeleteExpiredCredential(ctx, ref, now)
		if err != nil {
			return err
		}
		ev := plugboard.Event{Type: events.CredentialDeleted, Reason: events.ReasonExpired, Actor: events.System,
			OrganisationID: c.OrganisationID, ConnectionID: c.ID, CredentialID: gone.CredentialID,
			EndUserID: c.EndUserID, SystemID: c.SystemID, AuthSchemeConfigID: gone.AuthSchemeConfigID,
			Data: eventData(map[string]any{"expiresAt": gone.ExpiresAt, "credentialType": gone.Type})}
		if err := s.events.Emit(ctx, tx, ev); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	s.Forget(ref.OrganisationID, ref.ConnectionID)
	if skipped(err) {
		return false, nil
	}
	return deleted, err
}

// announceExpiring emits credential.expiring for one credential, once per expiry time.
func (s *Service) announceExpiring(ctx context.Context, ref plugboard.CredentialRef, now, before time.Time) (bool, error) {
	marked := false
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		c, err := tx.GetConnection(ctx, ref.OrganisationID, ref.ConnectionID)
		if err != nil {
			return err
		}
		at, err := tx.MarkCredentialExpiring(ctx, ref.OrganisationID, ref.CredentialID, now, before)
		if err != nil {
			return err
		}
		ev := plugboard.Event{Type: events.CredentialExpiring, Actor: events.System,
			OrganisationID: c.OrganisationID, ConnectionID: c.ID, CredentialID: ref.CredentialID,
			EndUserID: c.EndUserID, SystemID: c.SystemID, Data: eventData(map[string]any{"expiresAt": at})}
		for _, cc := range c.Credentials {
			if cc.Credential.ID == ref.CredentialID {
				ev.AuthSchemeConfigID = cc.AuthSchemeConfigID
			}
		}
		if err := s.events.Emit(ctx, tx, ev); err != nil {
			return err
		}
		marked = true
		return nil
	})
	if skipped(err) {
		return false, nil
	}
	return marked, err
}
