package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/importer"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/textcheck"
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
	res, err := s.importSystem(r.Context(), orgID, doc, docURL, opts)
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
	doc, err := s.fetch(r.Context(), form.URL, limit)
	if err != nil {
		return nil, "", opts, fetchError("url", err)
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

// fetch GETs a URL through the guarded outbound client, reading at most limit bytes.
func (s *Server) fetch(ctx context.Context, raw string, limit int64) ([]byte, error) {
	return fetchDocument(ctx, s.outbound, raw, limit)
}

// FetchDocument GETs a document (an OpenAPI document, a discovery document) through the guarded
// client, reading at most limit bytes. A refused address is a 400 naming "url".
func FetchDocument(ctx context.Context, client *outbound.Client, raw string, limit int64) ([]byte, error) {
	b, err := fetchDocument(ctx, client, raw, limit)
	if err != nil {
		return nil, fetchError("url", err)
	}
	return b, nil
}

func fetchDocument(ctx context.Context, client *outbound.Client, raw string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/yaml;q=0.9, */*;q=0.5")
	resp, err := client.HTTPClient(nil).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, plugboard.Errorf(plugboard.EUpstreamRejected, "%s answered %d", outboundOrigin(raw), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, plugboard.Errorf(plugboard.EUpstreamTooLarge, "%s sent more than %d bytes", outboundOrigin(raw), limit)
	}
	return b, nil
}

func outboundOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the server"
	}
	return u.Scheme + "://" + u.Host
}

// fetchError explains a failed fetch: a refused address is the caller's input (400 naming the
// field); anything else is the upstream's error, as outbound classifies it.
func fetchError(field string, err error) error {
	if outbound.IsRefused(err) {
		return plugboard.Invalid("the URL cannot be fetched", plugboard.FieldError{Field: field,
			Message: "resolves to a non-public address, which Plugboard does not call (PLUGBOARD_ALLOW_CIDRS lifts this)"})
	}
	var pe *plugboard.Error
	if errors.As(err, &pe) {
		return pe
	}
	return outbound.Classify(err)
}

// importSystem runs the import and, unless it is a dry run, creates the system, or updates the
// one opts.SystemID names: the document's templateBaseUrl and configs replace the stored ones of
// the same id (configs the document does not have stay), each through upsertConfig, so that
// trust.Check rules on every stored secret that would move, in one transaction.
func (s *Server) importSystem(ctx context.Context, orgID ulid.ULID, doc []byte, docURL string, opts ImportOptions) (*ImportResult, error) {
	var target ulid.ULID
	if opts.SystemID != "" {
		id, err := ulid.ParseStrict(opts.SystemID)
		if err != nil {
			return nil, plugboard.Invalid("invalid import options", plugboard.FieldError{Field: "systemId", Message: "must be a system id (a ULID)"})
		}
		target = id
	}
	res, err := importer.Import(ctx, doc, importer.Options{Name: opts.Name, Server: opts.Server, Schemes: opts.Schemes,
		DocumentURL: docURL, Fetch: func(ctx context.Context, u string) ([]byte, error) {
			b, err := s.fetch(ctx, u, 1<<20)
			if err != nil {
				return nil, fetchError("openIdConnectUrl", err)
			}
			return b, nil
		}})
	if err != nil {
		return nil, err
	}
	out := &ImportResult{Warnings: res.Warnings}
	if out.Warnings == nil {
		out.Warnings = []importer.Warning{}
	}
	b := res.System
	switch {
	case opts.DryRun:
		out.System = api.System{Name: b.Name, Domain: b.Domain, TemplateBaseUrl: b.TemplateBaseUrl, AuthSchemeConfigs: b.AuthSchemeConfigs}
		if target != (ulid.ULID{}) {
			out.System.ID = target
		}
		return out, nil
	case target == (ulid.ULID{}):
		sys, err := s.createSystem(ctx, orgID, b)
		if err != nil {
			return nil, err
		}
		out.System, err = toAPISystem(sys)
		return out, err
	}
	var sys *plugboard.System
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		var err error
		if sys, err = tx.GetSystem(ctx, orgID, target); err != nil {
			return err
		}
		if opts.Name != "" {
			sys.Name = b.Name
		}
		// A document without servers says nothing of where the API is: the stored base URL and
		// domain stay, rather than being cleared.
		if b.TemplateBaseUrl != "" {
			sys.Domain = b.Domain
			if err := s.moveSystemBase(ctx, tx, sys, b.TemplateBaseUrl); err != nil {
				return err
			}
		}
		sys.UpdatedAt = s.timestamp()
		if err := tx.UpdateSystem(ctx, sys); err != nil {
			return err
		}
		if err := s.emit(ctx, tx, plugboard.Event{Type: events.SystemUpdated, OrganisationID: orgID, SystemID: sys.ID}); err != nil {
			return err
		}
		for _, cfg := range b.AuthSchemeConfigs {
			keepGrant(sys, &cfg)
			if _, err := s.upsertConfig(ctx, tx, sys, cfg); err != nil {
				return err
			}
		}
		sys, err = tx.GetSystem(ctx, orgID, target)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.access.ForgetAll()
	out.System, err = toAPISystem(sys)
	return out, err
}

// keepGrant carries an existing OAuth 2.0 config's grant client (its credential and client id)
// over to the imported config of the same id and grant type, which has none: re-importing
// keeps the client set up with UpsertAuthSchemeConfig. Should the token URL move, its secret
// moves with it, and trust.Check decides.
func keepGrant(sys *plugboard.System, cfg *api.AuthSchemeConfig) {
	if cfg.Oauth2 == nil {
		return
	}
	for _, old := range sys.AuthSchemeConfigs {
		if old.ID != cfg.Oauth2.ID || old.Type != string(api.AuthSchemeTypeOauth2) {
			continue
		}
		p, err := credentials.PublicConfig(old.Config)
		if err != nil || p.Oauth2 == nil || p.Oauth2.Grant.Type != cfg.Oauth2.Grant.Type {
			return
		}
		g := &cfg.Oauth2.Grant
		if g.AuthorizationCode == nil && p.Oauth2.Grant.AuthorizationCode != nil {
			ac := *p.Oauth2.Grant.AuthorizationCode
			ac.ClientSecret = nil
			g.AuthorizationCode = &ac
		}
		if g.Password == nil && p.Oauth2.Grant.Password != nil {
			pw := *p.Oauth2.Grant.Password
			pw.ClientSecret = nil
			g.Password = &pw
		}
		return
	}
}

// ImportSystem imports a document into a new system of the organisation, directly on the store,
// as the API's import does (for `plugboard systems import`). docURL, when the document was
// fetched, resolves its relative URLs; fetch fetches OpenID Connect discovery documents (nil: not
// attempted).
func ImportSystem(ctx context.Context, store plugboard.Store, keys *vault.Vault, orgID ulid.ULID, doc []byte, docURL string,
	opts ImportOptions, fetch importer.Fetcher) (*ImportResult, error) {
	if opts.SystemID != "" {
		return nil, plugboard.Invalid("invalid import options", plugboard.FieldError{Field: "systemId", Message: "is not supported here; use the API"})
	}
	if _, err := store.GetOrganisation(ctx, orgID); err != nil {
		return nil, err
	}
	res, err := importer.Import(ctx, doc, importer.Options{Name: opts.Name, Server: opts.Server, Schemes: opts.Schemes,
		DocumentURL: docURL, Fetch: fetch})
	if err != nil {
		return nil, err
	}
	out := &ImportResult{Warnings: res.Warnings}
	if out.Warnings == nil {
		out.Warnings = []importer.Warning{}
	}
	if opts.DryRun {
		b := res.System
		out.System = api.System{Name: b.Name, Domain: b.Domain, TemplateBaseUrl: b.TemplateBaseUrl, AuthSchemeConfigs: b.AuthSchemeConfigs}
		return out, nil
	}
	// An imported system carries no secret, so no stored secret moves: the trust rule has
	// nothing to rule on and the command needs no key of its own.
	s := &Server{store: store, keys: keys, now: time.Now, events: events.New(events.Options{}), ops: mustOperations()}
	sys, err := s.createSystem(ctx, orgID, res.System)
	if err != nil {
		return nil, fmt.Errorf("create the system: %w", err)
	}
	out.System, err = toAPISystem(sys)
	return out, err
}
