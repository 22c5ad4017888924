// Package telemetry is how Plugboard is observed from outside: Prometheus metrics, served on a
// listener of their own, and OpenTelemetry traces, sent over OTLP. Both are off unless configured.
//
// The rest of the program calls it through two values, each nil when its half is off: *Metrics,
// whose methods record (a nil receiver records nothing), and *Tracing, whose methods wrap a
// handler, a transport or a database driver (a nil receiver wraps nothing). Instrumented packages
// take them in their Config and so cost a nil check when telemetry is off.
//
// No metric label holds an id, a URL or anything a caller sent; spans carry ids and paths, as the
// request log does, but never a query string or a header. docs/operating.md lists every metric.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
)

// EnvMetricsAddr is --metrics-addr's variable.
const EnvMetricsAddr = "PLUGBOARD_METRICS_ADDR"

// MetricsPath is where the metrics listener serves the metrics.
const MetricsPath = "/metrics"

// Config says which telemetry to start.
type Config struct {
	// MetricsAddr is the address the metrics are served on (MetricsPath); empty: no metrics.
	MetricsAddr string
	// Getenv reads the OpenTelemetry variables (TracingFromEnv); os.Getenv in serve.
	Getenv func(string) string
	Logger *slog.Logger
}

// Telemetry is what Start started.
type Telemetry struct {
	// Metrics is nil when no metrics address is set.
	Metrics *Metrics
	// Tracing is nil when the OpenTelemetry variables do not switch it on.
	Tracing *Tracing

	srv *http.Server
	ln  net.Listener
}

// Start starts what cfg asks for: the metrics listener and the trace exporter. Shutdown stops them.
func Start(ctx context.Context, cfg Config) (*Telemetry, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Telemetry{}
	tr, err := TracingFromEnv(ctx, cfg.Getenv)
	if err != nil {
		return nil, err
	}
	t.Tracing = tr
	if cfg.MetricsAddr != "" {
		t.Metrics = NewMetrics()
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = tr.Shutdown(ctx)
			return nil, fmt.Errorf("metrics: listen on %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET "+MetricsPath, t.Metrics.Handler())
		t.ln = ln
		t.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		go func() {
			if err := t.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics listener stopped", "err", err)
			}
		}()
		logger.Info("serving metrics", "addr", ln.Addr().String(), "path", MetricsPath)
	}
	if tr != nil {
		// OpenTelemetry reports export failures through the standard log package by default,
		// straight to stderr, out of order with (and, on a pipe, possibly inside) the service's
		// buffered log lines; send them through the service's log instead.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { logger.Warn("telemetry", "err", err) }))
		logger.Info("tracing on: spans go out over OTLP/HTTP")
	}
	return t, nil
}

// MetricsAddr is the address the metrics listener listens on, or "" without one.
func (t *Telemetry) MetricsAddr() string {
	if t == nil || t.ln == nil {
		return ""
	}
	return t.ln.Addr().String()
}

// Shutdown stops the metrics listener and sends the spans still buffered.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	if t.srv != nil {
		errs = append(errs, t.srv.Shutdown(ctx))
	}
	errs = append(errs, t.Tracing.Shutdown(ctx))
	return errors.Join(errs...)
}
