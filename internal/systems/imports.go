package systems

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/importer"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/trust"
)

// ImportInput is a document to import, with the import's options.
type ImportInput struct {
	// Document is the OpenAPI document or Postman collection; DocumentURL, when it was fetched,
	// resolves its relative URLs.
	Document    []byte
	DocumentURL string
	// Name, Server and Schemes are importer.Options'.
	Name    string
	Server  int
	Schemes []string
	// DryRun imports and stores nothing.
	DryRun bool
	// SystemID, when set, names the system to update instead of creating one.
	SystemID ulid.ULID
	Caller   trust.Caller
}

// ImportResult is what an import made.
type ImportResult struct {
	// System is the system created or updated, as stored; nil for a dry run.
	System *plugboard.System
	// Imported is the system the document describes, as Create takes it (which expands its
	// presets and binds its grants in place when it creates or merges it).
	Imported CreateInput
	// Warnings are the importer's, never nil.
	Warnings []importer.Warning
}

// Import imports the document and, unless it is a dry run, creates the system, or updates the
// one in.SystemID names: the document's templateBaseUrl and configs replace the stored ones of the
// same id (configs the document does not have stay), each as UpsertConfig would, so that
// trust.Check rules on every stored secret that would move, in one transaction.
func (s *Service) Import(ctx context.Context, orgID ulid.ULID, in ImportInput) (*ImportResult, error) {
	opts := importer.Options{Name: in.Name, Server: in.Server, Schemes: in.Schemes, DocumentURL: in.DocumentURL}
	if s.outbound != nil {
		opts.Fetch = s.fetchDiscovery
	}
	res, err := importer.Import(ctx, in.Document, opts)
	if err != nil {
		return nil, err
	}
	out := &ImportResult{Imported: FromAPI(res.System, in.Caller), Warnings: res.Warnings}
	if out.Warnings == nil {
		out.Warnings = []importer.Warning{}
	}
	b := out.Imported
	switch {
	case in.DryRun:
		return out, nil
	case in.SystemID == (ulid.ULID{}):
		out.System, err = s.Create(ctx, orgID, b)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	var sys *plugboard.System
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		var err error
		if sys, err = tx.GetSystem(ctx, orgID, in.SystemID); err != nil {
			return err
		}
		if in.Name != "" {
			sys.Name = b.Name
		}
		// A document without servers says nothing of where the API is: the stored base URL and
		// domain stay, rather than being cleared.
		if b.TemplateBaseURL != "" {
			sys.Domain = b.Domain
			if err := moveSystemBase(ctx, tx, sys, b.TemplateBaseURL, in.Caller); err != nil {
				return err
			}
		}
		sys.UpdatedAt = s.timestamp()
		if err := tx.UpdateSystem(ctx, sys); err != nil {
			return err
		}
		if err := s.events.Emit(ctx, tx, plugboard.Event{Type: events.SystemUpdated, OrganisationID: orgID, SystemID: sys.ID}); err != nil {
			return err
		}
		for _, cfg := range b.AuthSchemeConfigs {
			keepGrant(sys, &cfg)
			if _, err := s.upsertConfig(ctx, tx, sys, cfg, in.Caller); err != nil {
				return err
			}
		}
		sys, err = tx.GetSystem(ctx, orgID, in.SystemID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.forgetOpened()
	out.System = sys
	return out, nil
}

// keepGrant carries an existing OAuth 2.0 config's grant client (its credential and client id)
// over to the imported config of the same id and grant type, which has none: re-importing
// keeps the client set up with UpsertConfig. Should the token URL move, its secret moves with it,
// and trust.Check decides.
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

// fetchDiscovery fetches an OpenID Connect discovery document for the importer.
func (s *Service) fetchDiscovery(ctx context.Context, u string) ([]byte, error) {
	b, err := fetchDocument(ctx, s.outbound, u, 1<<20)
	if err != nil {
		return nil, fetchError("openIdConnectUrl", err)
	}
	return b, nil
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
