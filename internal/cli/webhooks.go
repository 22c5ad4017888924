package cli

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/vault"
	"github.com/plugboard/plugboard/internal/webhooks"
)

// Webhook delivery settings (README, Configuration).
const (
	EnvWebhookRetrySchedule = "PLUGBOARD_WEBHOOK_RETRY_SCHEDULE"
	EnvWebhookDisableAfter  = "PLUGBOARD_WEBHOOK_DISABLE_AFTER"
	EnvWebhookSecretOverlap = "PLUGBOARD_WEBHOOK_SECRET_OVERLAP"
	EnvWebhookTimeout       = "PLUGBOARD_WEBHOOK_TIMEOUT"
)

// webhookSettings are the webhook settings serve reads from the environment.
type webhookSettings struct {
	schedule      []time.Duration
	disableAfter  time.Duration
	secretOverlap time.Duration
	timeout       time.Duration
}

func webhookSettingsFromEnv(getenv func(string) string) (webhookSettings, error) {
	var w webhookSettings
	var err error
	w.schedule = webhooks.DefaultSchedule
	if v := getenv(EnvWebhookRetrySchedule); v != "" {
		if w.schedule, err = webhooks.ParseSchedule(v); err != nil {
			return w, fmt.Errorf("%s: %w", EnvWebhookRetrySchedule, err)
		}
	}
	if w.disableAfter, err = durationEnv(getenv, EnvWebhookDisableAfter, webhooks.DefaultDisableAfter); err != nil {
		return w, err
	}
	if w.secretOverlap, err = durationEnv(getenv, EnvWebhookSecretOverlap, webhooks.DefaultSecretOverlap); err != nil {
		return w, err
	}
	if w.timeout, err = durationEnv(getenv, EnvWebhookTimeout, webhooks.DefaultTimeout); err != nil {
		return w, err
	}
	return w, nil
}

// startWebhooks runs the webhook dispatcher and delivery worker until ctx ends; the returned wait
// blocks until the deliveries in flight are recorded. Every replica runs one: on PostgreSQL they
// share the work (SKIP LOCKED claims with leases), on SQLite the one process serving the file does
// it all.
func startWebhooks(ctx context.Context, store plugboard.Store, keys *vault.Vault, log *events.Log, out *outbound.Client,
	w webhookSettings, metrics *telemetry.Metrics, logger *slog.Logger) (wait func()) {
	worker := webhooks.New(webhooks.Config{Store: store, Vault: keys, Events: log, Client: out.HTTPClient(nil), Logger: logger,
		Schedule: w.schedule, DisableAfter: w.disableAfter, Timeout: w.timeout, Metrics: metrics})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		worker.Run(ctx)
	}()
	return wg.Wait
}
