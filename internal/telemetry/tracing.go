package telemetry

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/XSAM/otelsql"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The standard OpenTelemetry variables that decide whether tracing is on. The OTLP exporter reads
// the rest of OTEL_EXPORTER_OTLP_* (headers, timeout, certificate, compression) itself, and the
// SDK reads OTEL_TRACES_SAMPLER and its argument, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
const (
	EnvOTLPEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTLPTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvOTLPProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvOTLPTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvTracesExporter     = "OTEL_TRACES_EXPORTER"
	EnvSDKDisabled        = "OTEL_SDK_DISABLED"
	EnvServiceName        = "OTEL_SERVICE_NAME"
)

// ServiceName is the service.name spans carry unless OTEL_SERVICE_NAME names another.
const ServiceName = "plugboard"

// Tracing sends OpenTelemetry spans for requests, store calls and outbound calls. A nil *Tracing
// is tracing switched off: its methods then hand back what they were given, so nothing is wrapped,
// no span is made and no trace context is sent anywhere.
type Tracing struct {
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
	flush      func(context.Context) error
}

// TracingFromEnv switches tracing on when the standard variables ask for it: an OTLP endpoint is
// set (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER
// is otlp; OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true switch it off whatever else is set.
// It returns nil when tracing is off. Spans go out over OTLP/HTTP (protobuf); another protocol or
// exporter is refused, so that a deployment asking for one learns at start that it gets nothing.
func TracingFromEnv(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	exporter := strings.TrimSpace(strings.ToLower(getenv(EnvTracesExporter)))
	switch {
	case strings.EqualFold(strings.TrimSpace(getenv(EnvSDKDisabled)), "true"), exporter == "none":
		return nil, nil
	case exporter != "" && exporter != "otlp":
		return nil, fmt.Errorf("%s=%s: only otlp (or none) is supported", EnvTracesExporter, exporter)
	case exporter == "" && getenv(EnvOTLPEndpoint) == "" && getenv(EnvOTLPTracesEndpoint) == "":
		return nil, nil
	}
	protocol := getenv(EnvOTLPTracesProtocol)
	if protocol == "" {
		protocol = getenv(EnvOTLPProtocol)
	}
	if protocol != "" && protocol != "http/protobuf" {
		return nil, fmt.Errorf("OTLP protocol %q: only http/protobuf is supported", protocol)
	}
	// The endpoint is passed on as read through getenv (the exporter would read the process's
	// environment itself); the exporter takes the other OTEL_EXPORTER_OTLP_* variables as they are.
	var opts []otlptracehttp.Option
	if u := getenv(EnvOTLPTracesEndpoint); u != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(u))
	} else if u := getenv(EnvOTLPEndpoint); u != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimSuffix(u, "/")+"/v1/traces"))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return NewTracing(ctx, exp, getenv(EnvServiceName))
}

// NewTracing returns tracing whose spans go, in batches, to exp. The resource names the service
// (serviceName, else ServiceName) and takes OTEL_RESOURCE_ATTRIBUTES; trace context travels as W3C
// traceparent and tracestate.
func NewTracing(ctx context.Context, exp sdktrace.SpanExporter, serviceName string) (*Tracing, error) {
	if serviceName == "" {
		serviceName = ServiceName
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES (and OTEL_SERVICE_NAME, read again below)
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
		sdktrace.WithBatcher(redactingExporter{exp}))
	return &Tracing{provider: tp, propagator: propagation.TraceContext{}, shutdown: tp.Shutdown, flush: tp.ForceFlush}, nil
}

// Provider is the tracer provider, or nil when tracing is off.
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.provider
}

// Flush sends the spans buffered so far.
func (t *Tracing) Flush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.flush(ctx)
}

// Shutdown sends the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Handler wraps h so that each request gets a server span, continuing the caller's trace when it
// sent a traceparent. The span is named after the route template once the request is routed
// (NameServerSpan). Without tracing, h itself.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return otelhttp.NewHandler(h, "HTTP", otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern == "" {
				return r.Method // before routing; NameServerSpan renames it
			}
			return r.Method + " " + RouteTemplate(r.Pattern)
		}))
}

// RouteTemplate is a ServeMux pattern without its method: the route as the API spec writes it
// ("/o/{organisation_id}/connections"), "/" for the catch-all of paths no operation serves.
func RouteTemplate(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	if pattern == "" {
		return "/"
	}
	return pattern
}

// NameServerSpan names the request's server span after its route template, as the semantic
// conventions ask ("GET /o/{organisation_id}/connections"), and records the template as http.route.
func NameServerSpan(ctx context.Context, method, route string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetName(method + " " + route)
	span.SetAttributes(attribute.String("http.route", route))
}

// Transport wraps rt so that each outbound request gets a client span and carries the trace
// context (traceparent) to the provider or upstream. Without tracing, rt itself: nothing is added
// to outbound requests.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if t == nil {
		return rt
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "outbound " + r.Method }))
}

// OpenDB opens a database/sql pool on the named driver; with tracing, every statement,
// transaction and connection it makes gets a span (its SQL text, which holds placeholders only,
// never values).
func (t *Tracing) OpenDB(driverName, dsn string) (*sql.DB, error) {
	if t == nil {
		return sql.Open(driverName, dsn)
	}
	return otelsql.Open(driverName, dsn, t.sqlOptions(driverName)...)
}

// OpenConnector is OpenDB for a driver.Connector.
func (t *Tracing) OpenConnector(c driver.Connector, system string) *sql.DB {
	if t == nil {
		return sql.OpenDB(c)
	}
	return otelsql.OpenDB(c, t.sqlOptions(system)...)
}

func (t *Tracing) sqlOptions(system string) []otelsql.Option {
	return []otelsql.Option{
		otelsql.WithTracerProvider(t.provider),
		otelsql.WithAttributes(attribute.String("db.system.name", system)),
		otelsql.WithSpanOptions(otelsql.SpanOptions{OmitConnResetSession: true, OmitRows: true}),
	}
}

// redactingExporter takes the query string (and any user info) out of the URLs that client spans
// record (url.full) before they leave: a credential applied in the query (an API key placed there)
// must not travel to the tracing backend. The instrumentation sets the attribute after a span
// starts, so this is done on export, to the finished spans.
type redactingExporter struct{ sdktrace.SpanExporter }

func (e redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = redact(s)
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

// redactedSpan is a finished span with other attributes.
type redactedSpan struct {
	sdktrace.ReadOnlySpan
	attrs []attribute.KeyValue
}

func (s redactedSpan) Attributes() []attribute.KeyValue { return s.attrs }

func redact(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	attrs := s.Attributes()
	var changed []attribute.KeyValue
	for i, kv := range attrs {
		if kv.Key != "url.full" && kv.Key != "http.url" {
			continue
		}
		clean := ""
		if u, err := url.Parse(kv.Value.AsString()); err == nil {
			u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
			clean = u.String()
		}
		if clean == kv.Value.AsString() {
			continue
		}
		if changed == nil {
			changed = append([]attribute.KeyValue(nil), attrs...)
		}
		changed[i] = attribute.String(string(kv.Key), clean)
	}
	if changed == nil {
		return s
	}
	return redactedSpan{ReadOnlySpan: s, attrs: changed}
}
