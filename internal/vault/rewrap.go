package vault

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/plugboard/plugboard"
)

// RewrapOptions tune a rewrap.
type RewrapOptions struct {
	// Batch is how many records are read at a time; 100 when zero.
	Batch int
	// Rate caps how many records are re-sealed per second; 200 when zero, unlimited when negative.
	Rate float64
	// Logger, if set, hears of records that cannot be re-sealed (by table, id and key id).
	Logger *slog.Logger
	// Progress, if set, is called after every batch with the totals so far.
	Progress func(RewrapResult)
}

// RewrapResult counts what a rewrap did.
type RewrapResult struct {
	// Rewrapped values are now sealed under the first key.
	Rewrapped int
	// Changed values were rewritten by someone else meanwhile (a refresh, an update) and left to
	// them; a later rewrap finds them again if they are still under an old key.
	Changed int
	// Failed values could not be opened: their key is not held, or they are damaged.
	Failed int
	// FailedKeyIDs names the key ids of the failed values.
	FailedKeyIDs []string
}

// Rewrap re-seals every stored value that is not sealed under the vault's first key, table by
// table in key id order, a batch at a time, at most opts.Rate values per second. It is safe beside
// serving replicas and other rewraps (on SQLite and PostgreSQL alike): each value is replaced only
// if it is still the one that was read, so a concurrent writer always wins, and stopping at any
// point leaves every value either as it was or re-sealed. Running it again resumes: what was
// re-sealed is no longer listed. It returns an error when values could not be re-sealed, after
// doing all the others.
func (v *Vault) Rewrap(ctx context.Context, st plugboard.Store, opts RewrapOptions) (RewrapResult, error) {
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.Rate == 0 {
		opts.Rate = 200
	}
	var res RewrapResult
	primary := v.PrimaryKeyID()
	failedIDs := map[string]bool{}
	for _, table := range plugboard.SealedTables {
		var after *plugboard.SealedRecord
		for {
			started := time.Now()
			page, err := st.ListSealed(ctx, table, primary, after, opts.Batch)
			if err != nil {
				return res, err
			}
			if len(page) == 0 {
				break
			}
			for _, r := range page {
				resealed, err := v.reseal(r)
				if err != nil {
					res.Failed++
					if !failedIDs[r.KeyID] {
						failedIDs[r.KeyID] = true
						res.FailedKeyIDs = append(res.FailedKeyIDs, r.KeyID)
					}
					if opts.Logger != nil {
						opts.Logger.Warn("cannot re-seal a value", "table", r.Table, "organisation_id", r.OrganisationID.String(),
							"id", r.ID, "key_id", r.KeyID, "held", v.Holds(r.KeyID))
					}
					continue
				}
				ok, err := st.ReplaceSealed(ctx, r, resealed)
				clear(resealed)
				if err != nil {
					return res, err
				}
				if ok {
					res.Rewrapped++
				} else {
					res.Changed++
				}
			}
			after = &page[len(page)-1]
			if opts.Progress != nil {
				opts.Progress(res)
			}
			if opts.Rate > 0 {
				wait := time.Duration(float64(len(page))/opts.Rate*float64(time.Second)) - time.Since(started)
				if wait > 0 {
					select {
					case <-ctx.Done():
						return res, ctx.Err()
					case <-time.After(wait):
					}
				}
			}
		}
	}
	if res.Failed > 0 {
		return res, plugboard.Errorf(plugboard.EUnavailable, "%d sealed values could not be re-sealed (sealed with key ids %v, which these master keys do not open)",
			res.Failed, res.FailedKeyIDs)
	}
	return res, nil
}

// reseal opens a record's value and seals it again under the first key, with the same binding.
func (v *Vault) reseal(r plugboard.SealedRecord) ([]byte, error) {
	plain, err := v.open(r.Table, r.OrganisationID, r.SystemID, r.ID, r.Sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return v.seal(r.Table, r.OrganisationID, r.SystemID, r.ID, plain)
}

// RewrapperConfig tunes the background rewrapper that serve runs.
type RewrapperConfig struct {
	// Interval is the pause between looks at the database (with up to 20% jitter); 30 s when zero.
	Interval time.Duration
	RewrapOptions
}

// RunRewrapper does, in the background until ctx ends, the rewraps requested with
// `master-keys rewrap --background` (Store.RequestRewrap): when the requested key is this
// vault's first key, the one replica holding the lead re-seals what is not yet under it. A replica
// whose first key differs leaves the work to those whose first key it is, so replicas in the middle
// of a rolling change never re-seal values back and forth.
func (v *Vault) RunRewrapper(ctx context.Context, st plugboard.Store, cfg RewrapperConfig) {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	warned := ""
	for {
		jitter := time.Duration(rand.Int64N(int64(cfg.Interval)/5 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Interval + jitter):
		}
		target, err := RewrapTarget(ctx, st)
		if err != nil || target == "" {
			if err != nil && cfg.Logger != nil && ctx.Err() == nil {
				cfg.Logger.Warn("background rewrap: cannot read the request", "err", err)
			}
			continue
		}
		if target != v.PrimaryKeyID() {
			if warned != target && cfg.Logger != nil {
				cfg.Logger.Warn("a rewrap under another master key was requested; this replica seals with a different first key and leaves it to the replicas that seal with it",
					"requested_key_id", target, "first_key_id", v.PrimaryKeyID())
			}
			warned = target
			continue
		}
		release, ok, err := st.TryLead(ctx, "rewrap")
		if err != nil || !ok {
			continue
		}
		res, err := v.Rewrap(ctx, st, cfg.RewrapOptions)
		release()
		if cfg.Logger != nil && (err != nil || res.Rewrapped+res.Changed+res.Failed > 0) {
			cfg.Logger.Info("background rewrap round", "key_id", target, "rewrapped", res.Rewrapped,
				"changed_meanwhile", res.Changed, "failed", res.Failed, "err", err)
		}
	}
}

// RewrapTarget returns the key id a background rewrap was requested for, "" if none.
func RewrapTarget(ctx context.Context, st plugboard.Store) (string, error) {
	keys, err := st.ListMasterKeys(ctx)
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if k.RewrapRequestedAt != nil {
			return k.KeyID, nil
		}
	}
	return "", nil
}
