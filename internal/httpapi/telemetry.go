package httpapi

import (
	"net/http"
	"time"

	"github.com/plugboard/plugboard/internal/telemetry"
)

// withTracing gives each request a server span (continuing the caller's trace), outermost so that
// the span covers everything the request costs. Without tracing it adds nothing.
func (s *Server) withTracing(next http.Handler) http.Handler {
	return s.tracing.Handler(next)
}

// withMetrics records each request by its route template, method and status, and names the
// request's span after the template. It wraps the router itself, which sets the matched pattern on
// the request it is given, so the template is known once the request has been served. With
// neither metrics nor tracing it adds nothing.
func (s *Server) withMetrics(next http.Handler) http.Handler {
	if s.metrics == nil && s.tracing == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusWriter{ResponseWriter: w}
		served := false
		defer func() {
			status := rec.status
			switch {
			case status == 0 && !served:
				status = http.StatusInternalServerError // a panic, which withRecovery answers with a 500
			case status == 0:
				status = http.StatusOK
			}
			route := telemetry.RouteTemplate(r.Pattern)
			telemetry.NameServerSpan(r.Context(), r.Method, route)
			s.metrics.HTTPRequest(route, r.Method, status, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
		served = true
	})
}

// statusWriter notes the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= http.StatusOK { // 1xx answers are not the request's status
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (the proxy flushes and sets
// deadlines through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
