package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/vault"
)

// DefaultSchedule is the wait before each retry of a failed delivery: after the first attempt 5
// seconds, then 5 minutes, 30 minutes, 2, 5, 10 and 10 hours (each plus up to 20% jitter). With the
// first attempt that makes 8 attempts over about 27.5 hours, after which the delivery has failed.
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Defaults of Config.
const (
	DefaultDisableAfter = 5 * 24 * time.Hour
	DefaultTimeout      = 15 * time.Second
	DefaultBatch        = 100
	DefaultConcurrency  = 8
	DefaultInterval     = time.Second
	// ResponseKeep is how much of an answer's body an attempt records.
	ResponseKeep = 1024
)

// Error codes of attempts that got no 2xx answer, besides the outbound client's EUpstream* codes.
const (
	// ErrHTTPStatus: the endpoint answered with a status other than 2xx (redirects included: they
	// are not followed).
	ErrHTTPStatus = "http_status"
	// ErrEventGone: the event was pruned before its delivery; the delivery fails without a request.
	ErrEventGone = "event_gone"
)

// ReasonFailing is the reason of the webhook_endpoint.disabled event the worker emits.
const ReasonFailing = "failing"

// Config configures a Worker.
type Config struct {
	Store  plugboard.Store
	Vault  *vault.Vault
	Events *events.Log
	// Client sends deliveries; it must be the guarded outbound client's (the same address policy as
	// calls to providers), and is one with the default policy when nil. Redirects are not followed
	// whatever its policy.
	Client *http.Client
	Logger *slog.Logger
	// Schedule is the wait before each retry; DefaultSchedule when nil. A delivery gets
	// len(Schedule)+1 attempts.
	Schedule []time.Duration
	// DisableAfter disables an endpoint whose attempts have failed, without a success, for this
	// long; DefaultDisableAfter when zero.
	DisableAfter time.Duration
	// Timeout bounds one attempt; DefaultTimeout when zero. A claim's lease is twice Timeout plus 5 s.
	Timeout time.Duration
	// Batch is how many events one dispatch takes; DefaultBatch when zero.
	Batch int
	// Concurrency is how many deliveries are sent at once; DefaultConcurrency when zero.
	Concurrency int
	// Interval is the pause between looks for work when there is none; DefaultInterval when zero.
	Interval time.Duration
	// Now is the clock of scheduling (due times, leases, backoff, the disable window); time.Now when
	// nil. Tests inject one.
	Now func() time.Time
	// Jitter returns a random fraction in [0, 1) for the jitter of retries; math/rand when nil.
	Jitter func() float64
	// Metrics counts attempts by outcome and times them; nil counts nothing.
	Metrics *telemetry.Metrics
}

// Worker dispatches events and delivers them.
type Worker struct {
	cfg    Config
	client *http.Client
}

// New returns a Worker for cfg.
func New(cfg Config) *Worker {
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.DisableAfter <= 0 {
		cfg.DisableAfter = DefaultDisableAfter
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == nil {
		cfg.Events = events.New(events.Options{Now: cfg.Now, Metrics: cfg.Metrics})
	}
	if cfg.Client == nil {
		cfg.Client = outbound.New(outbound.DefaultConfig()).HTTPClient(nil)
	}
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Worker{cfg: cfg, client: &client}
}

// ParseSchedule reads a retry schedule: comma-separated durations such as "5s,5m,30m,2h".
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		d, err := time.ParseDuration(item)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration such as 5m", item)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errors.New("the schedule is empty; name at least one wait, such as 5m")
	}
	return out, nil
}

// lease is how long a claim holds a delivery: well beyond what an attempt may take (Timeout) and
// the writes around it.
func (w *Worker) lease() time.Duration { return 2*w.cfg.Timeout + 5*time.Second }

func newID() ulid.ULID { return ulid.Make() }

// Dispatch turns one batch of undispatched events into deliveries and reports how many events it
// took.
func (w *Worker) Dispatch(ctx context.Context) (int, error) {
	return w.cfg.Store.DispatchEvents(ctx, w.cfg.Now(), w.cfg.Batch, newID)
}

// Deliver claims up to Concurrency due deliveries, sends them at once and records the outcomes; it
// reports how many it claimed.
func (w *Worker) Deliver(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	ds, err := w.cfg.Store.ClaimDeliveries(ctx, now, now.Add(w.lease()), w.cfg.Concurrency)
	if err != nil {
		return 0, err
	}
	// What is claimed is sent and recorded even if ctx ends meanwhile (a shutdown): each attempt is
	// bounded by Timeout, and an attempt cut short would only be sent again once its lease ran out.
	sendCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for i := range ds {
		wg.Add(1)
		go func(d *plugboard.WebhookDelivery) {
			defer wg.Done()
			if err := w.deliver(sendCtx, d); err != nil {
				w.cfg.Logger.Warn("webhook delivery not recorded", "organisation_id", d.OrganisationID.String(),
					"delivery_id", d.ID.String(), "event_id", d.EventID.String(), "err", err)
			}
		}(&ds[i])
	}
	wg.Wait()
	return len(ds), nil
}

// RunOnce dispatches and delivers until nothing is due, for tests and the loop.
func (w *Worker) RunOnce(ctx context.Context) error {
	for {
		n, err := w.Dispatch(ctx)
		if err != nil {
			return err
		}
		if n < w.cfg.Batch {
			break
		}
	}
	for ctx.Err() == nil {
		n, err := w.Deliver(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

// Run dispatches and delivers until ctx ends, looking for work every Interval when there is none.
// When ctx ends it returns once the deliveries it holds are sent and recorded.
func (w *Worker) Run(ctx context.Context) {
	for {
		if err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.cfg.Logger.Warn("webhook worker", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.cfg.Interval):
		}
	}
}

// deliver sends one claimed delivery and records its attempt and outcome.
func (w *Worker) deliver(ctx context.Context, d *plugboard.WebhookDelivery) error {
	st := w.cfg.Store
	ep, err := st.GetWebhookEndpoint(ctx, d.OrganisationID, d.EndpointID)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil // deleted since the claim, with its deliveries
	}
	if err != nil {
		return err
	}
	attempt := &plugboard.WebhookAttempt{ID: newID(), AttemptedAt: w.cfg.Now()}
	ev, err := st.GetEvent(ctx, d.OrganisationID, d.EventID)
	switch {
	case plugboard.IsCode(err, plugboard.ENotFound):
		attempt.ErrorCode = ErrEventGone
		_, err = st.FinishDelivery(ctx, d, attempt, plugboard.DeliveryOutcome{State: plugboard.DeliveryFailed, NextAttemptAt: attempt.AttemptedAt})
		w.cfg.Metrics.WebhookDelivery(telemetry.DeliveryFailed, 0)
		return err
	case err != nil:
		return err
	}
	w.send(ctx, ep, ev, attempt)
	return w.finish(ctx, d, ep, attempt)
}

// send makes the request of one attempt and fills in its result.
func (w *Worker) send(ctx context.Context, ep *plugboard.WebhookEndpoint, ev *plugboard.Event, a *plugboard.WebhookAttempt) {
	fail := func(err error) {
		pe := outbound.Classify(err)
		a.ErrorCode = pe.Code
	}
	payload, err := events.ToAPI(ev, w.cfg.Vault)
	if err != nil {
		fail(err)
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		fail(plugboard.Internal(err))
		return
	}
	secrets, err := OpenSecrets(w.cfg.Vault, ep)
	if err != nil {
		fail(err)
		return
	}
	ts := w.cfg.Now()
	sig, err := Signature(secrets.Signing(ep, ts), ev.ID.String(), ts, body)
	secrets = Secrets{}
	if err != nil {
		fail(err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		fail(plugboard.Errorf(plugboard.EInvalid, "the endpoint's URL cannot be requested"))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Plugboard-Webhooks/1")
	req.Header.Set("webhook-id", ev.ID.String())
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	started := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		a.Latency = time.Since(started)
		fail(err)
		return
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseKeep))
	a.Latency = time.Since(started)
	a.StatusCode = resp.StatusCode
	a.Response = strings.ToValidUTF8(string(head), "\uFFFD")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.ErrorCode = ErrHTTPStatus
	}
}

// finish records the attempt and the delivery's outcome, and disables an endpoint that has failed
// for longer than DisableAfter, with its event, in the same transaction.
func (w *Worker) finish(ctx context.Context, d *plugboard.WebhookDelivery, ep *plugboard.WebhookEndpoint, a *plugboard.WebhookAttempt) error {
	now := a.AttemptedAt
	out := plugboard.DeliveryOutcome{State: plugboard.DeliveryDelivered, NextAttemptAt: now}
	failed := a.ErrorCode != ""
	if failed {
		made := d.Attempts + 1
		if made > len(w.cfg.Schedule) {
			out.State = plugboard.DeliveryFailed
		} else {
			wait := w.cfg.Schedule[made-1]
			wait += time.Duration(w.cfg.Jitter() * float64(wait) / 5)
			out = plugboard.DeliveryOutcome{State: plugboard.DeliveryPending, NextAttemptAt: now.Add(wait)}
		}
	}
	if w.cfg.Metrics != nil {
		outcome := telemetry.DeliveryDelivered
		switch {
		case out.State == plugboard.DeliveryFailed:
			outcome = telemetry.DeliveryFailed
		case failed:
			outcome = telemetry.DeliveryRetry
		}
		w.cfg.Metrics.WebhookDelivery(outcome, a.Latency)
	}
	return w.cfg.Store.InTx(ctx, func(tx plugboard.Store) error {
		held, err := tx.FinishDelivery(ctx, d, a, out)
		if err != nil || !held || !failed {
			return err
		}
		since := now
		if ep.FailingSince != nil {
			since = *ep.FailingSince
		}
		if now.Sub(since) < w.cfg.DisableAfter {
			return nil
		}
		disabled, err := tx.DisableWebhookEndpoint(ctx, ep.OrganisationID, ep.ID, now, ReasonFailing)
		if err != nil || !disabled {
			return err
		}
		w.cfg.Logger.Warn("disabled a failing webhook endpoint", "organisation_id", ep.OrganisationID.String(),
			"webhook_endpoint_id", ep.ID.String(), "failing_since", since)
		data, _ := json.Marshal(map[string]any{"failingSince": since.UTC(), "lastErrorCode": a.ErrorCode, "lastStatusCode": a.StatusCode})
		return w.cfg.Events.Emit(ctx, tx, plugboard.Event{Type: events.WebhookEndpointDisabled, OrganisationID: ep.OrganisationID,
			WebhookEndpointID: ep.ID, Reason: ReasonFailing, Actor: events.System, OccurredAt: now, Data: data})
	})
}
