package cli

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/plugboard/plugboard/internal/telemetry"
)

// telemetryFlag registers --metrics-addr (telemetry.EnvMetricsAddr). Tracing has no flag: the
// standard OTEL_* variables switch it on (telemetry.TracingFromEnv).
func telemetryFlag(fs *flag.FlagSet, cfg *Config, getenv func(string) string) {
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", getenv(telemetry.EnvMetricsAddr),
		"serve Prometheus metrics at http://`ADDR`"+telemetry.MetricsPath+", a listener of their own; off when empty (env "+telemetry.EnvMetricsAddr+")")
}

// startTelemetry starts the metrics listener and tracing as configured. stop, deferred first,
// runs last: after the store has closed, so the spans of shutting down are sent too.
func startTelemetry(ctx context.Context, cfg Config, getenv func(string) string, logger *slog.Logger) (tel *telemetry.Telemetry, stop func(), err error) {
	tel, err = telemetry.Start(ctx, telemetry.Config{MetricsAddr: cfg.MetricsAddr, Getenv: getenv, Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	return tel, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Warn("telemetry shutdown", "err", err)
		}
	}, nil
}
