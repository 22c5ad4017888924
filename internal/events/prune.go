package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/plugboard/plugboard"
)

// DefaultRetention is how long events are kept when the operator sets nothing.
const DefaultRetention = 30 * 24 * time.Hour

// PrunerConfig tunes RunPruner.
type PrunerConfig struct {
	// Retention is how long events are kept; DefaultRetention when zero.
	Retention time.Duration
	// Interval is the pause between rounds; 10 minutes when zero.
	Interval time.Duration
	// Batch bounds each delete; 1,000 when zero.
	Batch  int
	Logger *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

func (c *PrunerConfig) defaults() {
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Interval <= 0 {
		c.Interval = 10 * time.Minute
	}
	if c.Batch <= 0 {
		c.Batch = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// RunPruner deletes events older than the retention, until ctx ends: one replica per database at a
// time (Store.TryLead), in bounded batches so no transaction holds the table for long.
func RunPruner(ctx context.Context, st plugboard.Store, cfg PrunerConfig) {
	cfg.defaults()
	for {
		if _, err := Prune(ctx, st, cfg); err != nil && ctx.Err() == nil {
			cfg.Logger.Warn("pruning old events failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Interval):
		}
	}
}

// Prune is one round of RunPruner: it deletes every event older than the retention, batch by
// batch, if this process holds the lead, and reports how many it deleted.
func Prune(ctx context.Context, st plugboard.Store, cfg PrunerConfig) (int, error) {
	cfg.defaults()
	release, ok, err := st.TryLead(ctx, "events-pruner")
	if err != nil || !ok {
		return 0, err
	}
	defer release()
	before := cfg.Now().Add(-cfg.Retention)
	total := 0
	for ctx.Err() == nil {
		n, err := st.PruneEvents(ctx, before, cfg.Batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < cfg.Batch {
			break
		}
	}
	if total > 0 {
		cfg.Logger.Info("pruned old events", "deleted", total, "retention", cfg.Retention.String())
	}
	return total, nil
}
