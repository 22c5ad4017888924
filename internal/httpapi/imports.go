package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/importer"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/systems"
	"github.com/plugboard/plugboard/internal/textcheck"
	"github.com/plugboard/plugboard/internal/trust"
	"github.com/plugboard/plugboard/internal/vault"
)

// importPattern is the import operation, served by hand: its body is a raw document (JSON or
// YAML) of up to 50 MB, which the generated handler would decode into a map first.
const importPattern = "POST /o/{organisation_id}/systems/import"

// ImportOptions are the import's options, from the query or the URL form's "options".
type ImportOptions struct {
	Name    string   `json:"name,omitempty"`
	Server  int      `json:"server,omitempty"`
	Schemes []string `json:"schemes,omitempty"`
	DryRun  bool     `json:"dryRun,omitempty"`
	// SystemID names a system to update instead of creating one.
	SystemID string `json:"systemId,omitempty"`
}

// ImportResult is the import's answer: the system (created, updated, or for a dry run as it
// would be created, with a zero id) and the warnings.
type ImportResult struct {
	System   api.System         `json:"system"`
	Warnings []importer.Warning `json:"warnings"`
}

// paramsFirst refuses NUL and invalid UTF-8 in parameters before the guard, as the generated
// wrappers do when they parse parameters, so that a hand-served operation answers bad bytes alike.
func (s *Server) paramsFirst(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if errs := checkParams(r); len(errs) > 0 {
			s.writeError(w, r, textcheck.Refusal(errs))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveImport implements POST /o/{organisation_id}/systems/import.
func (s *Server) serveImport(w http.ResponseWriter, r *http.Request) {
	orgID, err := ulid.ParseStrict(r.PathValue("organisation_id"))
	if err != nil {
		s.writeError(w, r, plugboard.Errorf(plugboard.ENotFound, "organisation not found"))
		return
	}
	opts, err := importQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	doc, docURL, opts, err := s.importDocument(r, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := importInput(doc, docURL, opts, s.caller(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	imported, err := s.systems.Import(r.Context(), orgID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := importAnswer(imported, in.SystemID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if opts.DryRun {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(res)
}

func importQuery(q url.Values) (ImportOptions, error) {
	var o ImportOptions
	var errs []plugboard.FieldError
	o.Name = q.Get("name")
	if v := q.Get("server"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, plugboard.FieldError{Field: "server", Message: "must be a whole number, 0 or more"})
		}
		o.Server = n
	}
	for _, v := range q["schemes"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				o.Schemes = append(o.Schemes, name)
			}
		}
	}
	if v := q.Get("dryRun"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, plugboard.FieldError{Field: "dryRun", Message: "must be true or false"})
		}
		o.DryRun = b
	}
	o.SystemID = q.Get("systemId")
	if len(errs) > 0 {
		return o, plugboard.Invalid("invalid query parameters", errs...)
	}
	return o, nil
}

// importDocument reads the body: the document itself, or the URL form, whose document is fetched
// through the guarded outbound client (options in the form override the query's).
func (s *Server) importDocument(r *http.Request, opts ImportOptions) ([]byte, string, ImportOptions, error) {
	limit := int64(importer.MaxDocumentBytes)
	tooLarge := plugboard.Errorf(plugboard.ETooLarge, "the document is larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, "", opts, tooLarge
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
	default:
		return nil, "", opts, plugboard.Invalid("unsupported content type",
			plugboard.FieldError{Field: "Content-Type", Message: "must be application/json or application/yaml"})
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, "", opts, bodyRequired()
	}
	body, err := io.ReadAll(r.Body) // bounded by the guard at the operation's limit
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, "", opts, tooLarge
	case err != nil:
		return nil, "", opts, &plugboard.Error{Code: plugboard.EInvalid, Message: "the body could not be read", Err: err}
	}
	if mt != "application/json" {
		return body, "", opts, nil
	}
	if errs := textcheck.JSON(body); len(errs) > 0 {
		return nil, "", opts, textcheck.Refusal(errs)
	}
	form, ok := urlForm(body)
	if !ok {
		return body, "", opts, nil
	}
	if form.Options != nil {
		opts = *form.Options
	}
	u, err := url.Parse(form.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", opts, plugboard.Invalid("invalid import", plugboard.FieldError{Field: "url", Message: "must be an absolute http or https URL"})
	}
	if fe := credentials.CheckURLUserinfo("url", form.URL); len(fe) > 0 {
		return nil, "", opts, plugboard.Invalid("invalid import", fe...)
	}
	doc, err := systems.FetchDocument(r.Context(), s.outbound, form.URL, limit)
	if err != nil {
		return nil, "", opts, err
	}
	return doc, form.URL, opts, nil
}

type importForm struct {
	URL     string         `json:"url"`
	Options *ImportOptions `json:"options"`
}

// urlForm reads the URL form: an object with a top-level "url" member, which neither an OpenAPI
// document nor a Postman collection has.
func urlForm(body []byte) (importForm, bool) {
	var probe struct {
		URL     *string        `json:"url"`
		Options *ImportOptions `json:"options"`
	}
	if json.Unmarshal(body, &probe) != nil || probe.URL == nil {
		return importForm{}, false
	}
	return importForm{URL: *probe.URL, Options: probe.Options}, true
}

// importInput is the import the request asks for.
func importInput(doc []byte, docURL string, opts ImportOptions, c trust.Caller) (systems.ImportInput, error) {
	in := systems.ImportInput{Document: doc, DocumentURL: docURL, Name: opts.Name, Server: opts.Server, Schemes: opts.Schemes,
		DryRun: opts.DryRun, Caller: c}
	if opts.SystemID != "" {
		id, err := ulid.ParseStrict(opts.SystemID)
		if err != nil {
			return in, plugboard.Invalid("invalid import options", plugboard.FieldError{Field: "systemId", Message: "must be a system id (a ULID)"})
		}
		in.SystemID = id
	}
	return in, nil
}

// importAnswer renders an import's result: the system as stored, or for a dry run as the document
// describes it, with target's id (zero when the import would create one).
func importAnswer(res *systems.ImportResult, target ulid.ULID) (*ImportResult, error) {
	out := &ImportResult{Warnings: res.Warnings}
	if res.System == nil {
		b := res.Imported
		out.System = api.System{ID: target, Name: b.Name, Domain: b.Domain, TemplateBaseUrl: b.TemplateBaseURL, AuthSchemeConfigs: b.AuthSchemeConfigs}
		return out, nil
	}
	var err error
	out.System, err = toAPISystem(res.System)
	return out, err
}

// ImportSystem imports a document into a new system of the organisation, directly on the store,
// as the API's import does (for `plugboard systems import`). docURL, when the document was
// fetched, resolves its relative URLs; client fetches OpenID Connect discovery documents (nil:
// not attempted).
func ImportSystem(ctx context.Context, store plugboard.Store, keys *vault.Vault, orgID ulid.ULID, doc []byte, docURL string,
	opts ImportOptions, client *outbound.Client) (*ImportResult, error) {
	if opts.SystemID != "" {
		return nil, plugboard.Invalid("invalid import options", plugboard.FieldError{Field: "systemId", Message: "is not supported here; use the API"})
	}
	if _, err := store.GetOrganisation(ctx, orgID); err != nil {
		return nil, err
	}
	// An imported system carries no secret, so no stored secret moves: the trust rule has
	// nothing to rule on and the command needs no key of its own.
	svc := systems.New(systems.Config{Store: store, Keys: keys, Outbound: client})
	res, err := svc.Import(ctx, orgID, systems.ImportInput{Document: doc, DocumentURL: docURL, Name: opts.Name, Server: opts.Server,
		Schemes: opts.Schemes, DryRun: opts.DryRun, Caller: trust.Caller{MayRead: true}})
	if err != nil {
		return nil, err
	}
	return importAnswer(res, ulid.ULID{})
}
