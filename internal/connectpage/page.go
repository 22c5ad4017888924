// Package connectpage serves the hosted connect page under /connect: the page (embedded assets),
// the embedding snippet, and the page's JSON API, every call of which is authorised by a connect
// session's token (Authorization: Bearer) alone. internal/connect does the work; this package
// reads requests, sets the security headers and renders answers.
package connectpage

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/ratelimit"
	"github.com/plugboard/plugboard/internal/textcheck"
)

//go:embed assets
var assets embed.FS

// MaxBodyBytes bounds the page API's request bodies: two 64 KiB PEM uploads and their JSON.
const MaxBodyBytes = 256 << 10

// Config is what the page needs.
type Config struct {
	Connect *connect.Service
	// WriteError writes an error as the API's Error.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
	// RateLimit bounds each session's API calls in this process (the API keys' limit); off when zero.
	RateLimit ratelimit.Limit
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Handler serves /connect/.
type Handler struct {
	connect    *connect.Service
	writeError func(w http.ResponseWriter, r *http.Request, err error)
	limit      *ratelimit.Keyed[ulid.ULID]
	now        func() time.Time
	mux        *http.ServeMux
}

// New returns the handler for /connect/.
func New(cfg Config) *Handler {
	h := &Handler{connect: cfg.Connect, writeError: cfg.WriteError, limit: ratelimit.New[ulid.ULID](cfg.RateLimit), now: cfg.Now,
		mux: http.NewServeMux()}
	if h.now == nil {
		h.now = time.Now
	}
	h.mux.HandleFunc("GET /connect/s/{id}", h.page)
	h.mux.HandleFunc("GET /connect/assets/{file...}", h.asset)
	h.mux.HandleFunc("GET /connect/embed.js", h.embedJS)
	h.mux.HandleFunc("GET /connect/api/session", h.api(h.getSession))
	h.mux.HandleFunc("POST /connect/api/connections", h.api(h.createConnection))
	h.mux.HandleFunc("PUT /connect/api/connections/{connection_id}", h.api(h.updateConnection))
	h.mux.HandleFunc("DELETE /connect/api/connections/{connection_id}", h.api(h.deleteConnection))
	h.mux.HandleFunc("POST /connect/api/oauth", h.api(h.startOAuth))
	h.mux.HandleFunc("POST /connect/api/complete", h.api(h.complete))
	h.mux.HandleFunc("/connect/", func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header(), nil)
		h.writeError(w, r, plugboard.Errorf(plugboard.ENotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// CSP is the page's Content-Security-Policy; frame-ancestors is appended.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'"

// FrameAncestors is the CSP directive that lets the session's allowed origins embed the page;
// 'none' without a session.
func FrameAncestors(cs *plugboard.ConnectSession) string {
	if cs == nil {
		return "frame-ancestors 'none'"
	}
	return strings.TrimSpace("frame-ancestors 'self' " + strings.Join(cs.AllowedOrigins, " "))
}

// securityHeaders sets what every answer under /connect carries; cs picks the frame ancestors.
func securityHeaders(hd http.Header, cs *plugboard.ConnectSession) {
	hd.Set("Content-Security-Policy", CSP+"; "+FrameAncestors(cs))
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
}

// page serves the page for a session; an unknown, revoked or expired session gets the same page,
// which nothing may frame, and which shows the error the API gives.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	var cs *plugboard.ConnectSession
	if id, err := ulid.ParseStrict(r.PathValue("id")); err == nil {
		cs = h.connect.PageSession(r.Context(), id)
	}
	securityHeaders(w.Header(), cs)
	body, err := fs.ReadFile(assets, "assets/index.html")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(body)
}

// asset serves an embedded file; they may be cached for a few minutes.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	h.serveFile(w, r, r.PathValue("file"))
}

func (h *Handler) embedJS(w http.ResponseWriter, r *http.Request) { h.serveFile(w, r, "embed.js") }

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	securityHeaders(w.Header(), nil)
	clean := path.Clean("/" + name)[1:]
	body, err := fs.ReadFile(assets, "assets/"+clean)
	if clean == "" || err != nil {
		h.writeError(w, r, plugboard.Errorf(plugboard.ENotFound, "no such file: %s", name))
		return
	}
	ct := mime.TypeByExtension(path.Ext(clean))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body)
}

// api authenticates a page API call by its session token, applies the session's rate limit and
// the body limit, and writes the handler's answer (JSON, or 204 when it returns nil).
func (h *Handler) api(fn func(ctx context.Context, cs *plugboard.ConnectSession, r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header(), nil)
		token, _ := bearer(r.Header.Get("Authorization"))
		cs, err := h.connect.AuthenticateSession(r.Context(), token)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if ok, wait := h.limit.Allow(cs.ID, h.now()); !ok {
			after := ratelimit.RetryAfter(wait)
			w.Header().Set("Retry-After", after)
			h.writeError(w, r, &plugboard.Error{Code: plugboard.ERateLimited, Message: "too many requests for this connect session; retry after " + after + " s"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		status, out, err := fn(r.Context(), cs, r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if out == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			h.writeError(w, r, plugboard.Internal(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		w.WriteHeader(status)
		_, _ = w.Write(buf.Bytes())
	}
}

// bearer reads "Bearer <token>".
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// decode reads a JSON body into v. The whole body is read first (within the limit), so a body
// over the limit is a 413 however it starts; then text that is not valid UTF-8 or holds a NUL
// is refused naming its field (textcheck, the main API's rule); then unknown fields and trailing
// data are refused. No answer repeats the body, which holds secrets.
func decode(r *http.Request, v any) error {
	raw, err := io.ReadAll(r.Body)
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		return &plugboard.Error{Code: plugboard.ETooLarge, Message: "the request body is larger than " + strconv.Itoa(MaxBodyBytes) + " bytes",
			Details: "a certificate or key upload may be at most " + strconv.Itoa(connect.MaxPEMBytes) + " bytes"}
	} else if err != nil {
		return plugboard.Invalid("the request body could not be read")
	}
	if errs := textcheck.JSON(raw); len(errs) > 0 {
		return textcheck.Refusal(errs)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, xerr := dec.Token(); xerr != io.EOF {
			err = errors.New("trailing data")
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return plugboard.Invalid("a JSON body is required")
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return plugboard.Invalid("invalid request body", plugboard.FieldError{Field: typeErr.Field, Message: "has the wrong type"})
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return plugboard.Invalid("invalid request body", plugboard.FieldError{Field: strings.Trim(f, `"`), Message: "is not a field of this request"})
	}
	return plugboard.Invalid("the request body is not valid JSON")
}

// resultPage is the small page an OAuth popup of the connect page ends on.
var resultPage = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Plugboard</title>
<script src="/connect/assets/callback.js" defer></script></head>
<body data-result="{{.Result}}"><p>{{.Text}}</p></body></html>`))

// ResultPage renders the end of a session's OAuth popup and sets its headers (the page's CSP,
// framed by nothing, no-store, no-referrer).
func ResultPage(hd http.Header, res *connect.SessionResult) *bytes.Buffer {
	securityHeaders(hd, nil)
	hd.Set("Content-Type", "text/html; charset=utf-8")
	raw, _ := json.Marshal(res)
	text := "Connected. You can close this window."
	if !res.OK {
		text = res.Message
	}
	var buf bytes.Buffer
	_ = resultPage.Execute(&buf, map[string]string{"Result": string(raw), "Text": text})
	return &buf
}
