package telemetry

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plugboard/plugboard"
)

// The caches whose hits and misses are counted (the label cache of plugboard_cache_lookups_total).
const (
	// CacheCredentials is internal/access's cache of opened connections (decrypted credentials).
	CacheCredentials = "credentials"
	// CacheAPIKeys is the API's cache of verified API keys.
	CacheAPIKeys = "api_keys"
	// CacheSystems is internal/access's cache of systems with their opened auth scheme configs,
	// looked up when an opened connection is not cached.
	CacheSystems = "systems"
)

// The outcomes of a webhook delivery attempt (the label outcome of plugboard_webhook_deliveries_total).
const (
	DeliveryDelivered = "delivered" // a 2xx answer
	DeliveryRetry     = "retry"     // failed, another attempt is scheduled
	DeliveryFailed    = "failed"    // failed, and the schedule has run out (or the event is gone)
)

// Metrics holds Plugboard's Prometheus metrics in a registry of its own. A nil *Metrics records
// nothing: every method may be called on nil, so instrumented code needs no switch of its own and
// costs a nil check when metrics are off.
//
// Labels carry only values from small fixed sets (route templates, methods, statuses, error codes,
// event types); never an id, a URL or anything a caller sent.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	upstreamDuration *prometheus.HistogramVec
	upstreamBytes    prometheus.Counter

	refreshes       *prometheus.CounterVec
	refreshBackoffs prometheus.Counter

	cacheLookups *prometheus.CounterVec
	changeFeed   prometheus.Gauge

	events           *prometheus.CounterVec
	deliveries       *prometheus.CounterVec
	deliveryDuration prometheus.Histogram
}

// NewMetrics returns Metrics registered in a new registry, with the Go runtime's and the process's
// collectors beside them.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	latency := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plugboard_http_requests_total",
		Help: "HTTP requests served, by route template, method and status.",
	}, []string{"route", "method", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plugboard_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request (to the end of its body), by route template and method.",
		Buckets: latency,
	}, []string{"route", "method"})
	m.upstreamDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plugboard_proxy_upstream_duration_seconds",
		Help:    "Time from sending a proxied request to the upstream's response headers, by status class (2xx..5xx, or error when no answer came).",
		Buckets: latency,
	}, []string{"status_class"})
	m.upstreamBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "plugboard_proxy_upstream_response_bytes_total",
		Help: "Bytes of upstream response bodies passed on by the proxy.",
	})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plugboard_oauth_refreshes_total",
		Help: "OAuth 2.0 token refreshes at a provider, by outcome (ok, failed) and error code (empty when ok).",
	}, []string{"outcome", "error_code"})
	m.refreshBackoffs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "plugboard_oauth_refresh_backoffs_total",
		Help: "Refreshes not attempted because the credential's backoff after failures was still running.",
	})
	m.cacheLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plugboard_cache_lookups_total",
		Help: "Lookups in the process's caches, by cache (credentials, api_keys, systems) and result (hit, miss).",
	}, []string{"cache", "result"})
	m.changeFeed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "plugboard_change_feed_watching",
		Help: "1 while the store's change feed (PostgreSQL) is heard and opened connections are kept long; 0 otherwise (always on SQLite, which needs none).",
	})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plugboard_events_emitted_total",
		Help: "Events appended to the event log, by type (counted when appended to the change's transaction).",
	}, []string{"type"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plugboard_webhook_deliveries_total",
		Help: "Webhook delivery attempts, by outcome (delivered, retry, failed).",
	}, []string{"outcome"})
	m.deliveryDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "plugboard_webhook_delivery_duration_seconds",
		Help:    "Time a webhook endpoint took to answer an attempt (or to fail).",
		Buckets: latency,
	})
	reg.MustRegister(m.httpRequests, m.httpDuration, m.upstreamDuration, m.upstreamBytes, m.refreshes,
		m.refreshBackoffs, m.cacheLookups, m.changeFeed, m.events, m.deliveries, m.deliveryDuration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the metrics are in, for tests that gather them.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// HTTPRequest records a served request. route is the matched route template without its method
// (e.g. /o/{organisation_id}/connections), never the request's path.
func (m *Metrics) HTTPRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	method = knownMethod(method)
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// ProxyUpstream records one proxied request's answer from the upstream: its status (0 when none
// came) and the time to its headers.
func (m *Metrics) ProxyUpstream(status int, d time.Duration) {
	if m == nil {
		return
	}
	m.upstreamDuration.WithLabelValues(statusClass(status)).Observe(d.Seconds())
}

// ProxyBytes records n bytes of an upstream's response body passed on to the caller.
func (m *Metrics) ProxyBytes(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.upstreamBytes.Add(float64(n))
}

// Refresh records a refresh's outcome at the provider: err nil is ok, else failed with its code.
func (m *Metrics) Refresh(err error) {
	if m == nil {
		return
	}
	if err == nil {
		m.refreshes.WithLabelValues("ok", "").Inc()
		return
	}
	m.refreshes.WithLabelValues("failed", plugboard.ErrorCode(err)).Inc()
}

// RefreshBackoff records a refresh held back by its credential's backoff.
func (m *Metrics) RefreshBackoff() {
	if m == nil {
		return
	}
	m.refreshBackoffs.Inc()
}

// CacheLookup records a hit or a miss in one of the caches (CacheCredentials, CacheAPIKeys,
// CacheSystems).
func (m *Metrics) CacheLookup(cache string, hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cacheLookups.WithLabelValues(cache, result).Inc()
}

// ChangeFeedWatching records whether the store's change feed is heard.
func (m *Metrics) ChangeFeedWatching(on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.changeFeed.Set(v)
}

// EventEmitted records an event of type t appended to the log.
func (m *Metrics) EventEmitted(t string) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(t).Inc()
}

// WebhookDelivery records one delivery attempt's outcome (DeliveryDelivered, DeliveryRetry,
// DeliveryFailed) and how long the endpoint took; d is zero for an attempt that sent nothing.
func (m *Metrics) WebhookDelivery(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	if d > 0 {
		m.deliveryDuration.Observe(d.Seconds())
	}
}

// Store is what the store metrics read, at each scrape.
type Store interface {
	// Stats are the connection pool's figures.
	Stats() sql.DBStats
	// PendingDeliveries counts the webhook deliveries still to be made, of every organisation.
	PendingDeliveries(ctx context.Context) (int64, error)
}

// WatchStore registers the collectors that read st at each scrape: its pool and its pending
// webhook deliveries.
func (m *Metrics) WatchStore(st Store) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&storeCollector{st: st})
}

// storeCollector turns database/sql's pool figures and the pending deliveries into metrics when
// scraped, so nothing polls between scrapes.
type storeCollector struct{ st Store }

var (
	descOpen        = prometheus.NewDesc("plugboard_store_connections_open", "Connections the store's pool holds open (in use and idle).", nil, nil)
	descInUse       = prometheus.NewDesc("plugboard_store_connections_in_use", "Connections of the store's pool in use.", nil, nil)
	descIdle        = prometheus.NewDesc("plugboard_store_connections_idle", "Idle connections of the store's pool.", nil, nil)
	descMaxOpen     = prometheus.NewDesc("plugboard_store_connections_max_open", "The pool's bound on open connections (0: none).", nil, nil)
	descWaitCount   = prometheus.NewDesc("plugboard_store_wait_count_total", "Times a caller waited for a connection of the store's pool.", nil, nil)
	descWaitSeconds = prometheus.NewDesc("plugboard_store_wait_duration_seconds_total", "Time callers spent waiting for a connection of the store's pool.", nil, nil)
	descPending     = prometheus.NewDesc("plugboard_webhook_deliveries_pending", "Webhook deliveries waiting to be made (due now or later), all organisations; absent when the store could not be read.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOpen, descInUse, descIdle, descMaxOpen, descWaitCount, descWaitSeconds, descPending} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(s.OpenConnections))
	ch <- prometheus.MustNewConstMetric(descInUse, prometheus.GaugeValue, float64(s.InUse))
	ch <- prometheus.MustNewConstMetric(descIdle, prometheus.GaugeValue, float64(s.Idle))
	ch <- prometheus.MustNewConstMetric(descMaxOpen, prometheus.GaugeValue, float64(s.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(descWaitCount, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(descWaitSeconds, prometheus.CounterValue, s.WaitDuration.Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := c.st.PendingDeliveries(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(n))
	}
}

// knownMethod keeps the method label to the standard methods: anything else is OTHER, so a
// client cannot grow the label's values.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

func statusClass(status int) string {
	switch {
	case status >= 100 && status < 600:
		return strconv.Itoa(status/100) + "xx"
	}
	return "error"
}
