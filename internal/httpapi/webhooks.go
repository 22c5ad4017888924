package httpapi

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/webhooks"
)

// maxReplay caps the deliveries one replay request creates.
const maxReplay = 10000

func toAPIWebhookEndpoint(e *plugboard.WebhookEndpoint) api.WebhookEndpoint {
	out := api.WebhookEndpoint{Id: e.ID.String(), Url: e.URL, Description: e.Description, EventTypes: e.EventTypes,
		Enabled: e.Enabled, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, DisabledReason: e.DisabledReason, DisabledAt: e.DisabledAt}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	return out
}

func withSecret(e api.WebhookEndpoint, secret string) api.WebhookEndpointWithSecret {
	return api.WebhookEndpointWithSecret{Id: e.Id, Url: e.Url, Description: e.Description, EventTypes: e.EventTypes,
		Enabled: e.Enabled, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, DisabledAt: e.DisabledAt,
		DisabledReason: e.DisabledReason, Secret: secret}
}

func toAPIAttempt(a *plugboard.WebhookAttempt) api.WebhookAttempt {
	out := api.WebhookAttempt{Id: a.ID.String(), DeliveryId: a.DeliveryID.String(), WebhookEndpointId: a.EndpointID.String(),
		EventId: a.EventID.String(), AttemptedAt: a.AttemptedAt, LatencyMs: float64(a.Latency.Microseconds()) / 1000,
		Response: a.Response, ErrorCode: a.ErrorCode, Delivered: a.ErrorCode == ""}
	if a.StatusCode != 0 {
		sc := a.StatusCode
		out.StatusCode = &sc
	}
	return out
}

// checkWebhookFields validates an endpoint's URL, description and event types, naming bad fields.
func (s *Server) checkWebhookFields(ctx context.Context, rawURL string, description *string, types *[]string) ([]string, []plugboard.FieldError) {
	var errs []plugboard.FieldError
	u, err := url.Parse(rawURL)
	switch {
	case rawURL == "":
		errs = append(errs, plugboard.FieldError{Field: "url", Message: "is required"})
	case len(rawURL) > 2048:
		errs = append(errs, plugboard.FieldError{Field: "url", Message: "must be at most 2048 bytes"})
	case err != nil || !u.IsAbs():
		errs = append(errs, plugboard.FieldError{Field: "url", Message: "is not an absolute URL"})
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, plugboard.FieldError{Field: "url", Message: "must use http or https"})
	case u.User != nil:
		errs = append(errs, plugboard.FieldError{Field: "url", Message: "must not carry user information"})
	case u.Hostname() == "":
		errs = append(errs, plugboard.FieldError{Field: "url", Message: "has no host"})
	case u.Fragment != "":
		errs = append(errs, plugboard.FieldError{Field: "url", Message: "must not have a fragment"})
	default:
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				errs = append(errs, plugboard.FieldError{Field: "url", Message: "has an invalid port"})
				break
			}
		}
		if err := s.outbound.CheckHost(ctx, u.Hostname()); err != nil {
			errs = append(errs, plugboard.FieldError{Field: "url", Message: "names an address Plugboard may not send to (loopback, private " +
				"or cloud metadata); an operator can allow it with PLUGBOARD_ALLOW_CIDRS or PLUGBOARD_ALLOW_PRIVATE_NETWORKS"})
		}
	}
	if description != nil && len(*description) > 255 {
		errs = append(errs, plugboard.FieldError{Field: "description", Message: "must be at most 255 bytes"})
	}
	var out []string
	if types != nil {
		for i, t := range *types {
			switch {
			case !events.Known(t):
				errs = append(errs, plugboard.FieldError{Field: fmt.Sprintf("eventTypes[%d]", i),
					Message: "is not an event type; see docs/events.md for the list"})
			case !contains(out, t):
				out = append(out, t)
			}
		}
	}
	return out, errs
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ListWebhookEndpoints implements api.StrictServerInterface.
func (s *Server) ListWebhookEndpoints(ctx context.Context, req api.ListWebhookEndpointsRequestObject) (api.ListWebhookEndpointsResponseObject, error) {
	p := req.Params
	page, errs := parsePage(p.First, p.After, p.Before)
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid query parameters", errs...)
	}
	res, err := s.store.ListWebhookEndpoints(ctx, req.OrganisationId, page)
	if err != nil {
		return nil, err
	}
	out := api.WebhookEndpointPage{Items: []api.WebhookEndpoint{}, TotalCount: res.TotalCount, Next: cursor(res.Next), Prev: cursor(res.Prev)}
	for i := range res.Items {
		out.Items = append(out.Items, toAPIWebhookEndpoint(&res.Items[i]))
	}
	return api.ListWebhookEndpoints200JSONResponse(out), nil
}

// GetWebhookEndpoint implements api.StrictServerInterface.
func (s *Server) GetWebhookEndpoint(ctx context.Context, req api.GetWebhookEndpointRequestObject) (api.GetWebhookEndpointResponseObject, error) {
	e, err := s.store.GetWebhookEndpoint(ctx, req.OrganisationId, req.WebhookEndpointId)
	if err != nil {
		return nil, err
	}
	return api.GetWebhookEndpoint200JSONResponse(toAPIWebhookEndpoint(e)), nil
}

// CreateWebhookEndpoint implements api.StrictServerInterface: the secret is made here, sealed, and
// shown in this answer only.
func (s *Server) CreateWebhookEndpoint(ctx context.Context, req api.CreateWebhookEndpointRequestObject) (api.CreateWebhookEndpointResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	types, errs := s.checkWebhookFields(ctx, b.Url, b.Description, b.EventTypes)
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid webhook endpoint", errs...)
	}
	secret, err := webhooks.NewSecret()
	if err != nil {
		return nil, err
	}
	enabled := b.Enabled == nil || *b.Enabled
	e := &plugboard.WebhookEndpoint{ID: ulid.Make(), OrganisationID: req.OrganisationId, URL: b.Url,
		Description: deref(b.Description), EventTypes: types, Enabled: enabled, CreatedAt: s.timestamp()}
	if e.Sealed, err = (webhooks.Secrets{Current: secret}).Seal(s.keys, e.OrganisationID, e.ID); err != nil {
		return nil, err
	}
	if err := s.store.CreateWebhookEndpoint(ctx, e); err != nil {
		return nil, err
	}
	return api.CreateWebhookEndpoint201JSONResponse(withSecret(toAPIWebhookEndpoint(e), secret)), nil
}

// UpdateWebhookEndpoint implements api.StrictServerInterface: a replacement of the settings, the
// secrets kept.
func (s *Server) UpdateWebhookEndpoint(ctx context.Context, req api.UpdateWebhookEndpointRequestObject) (api.UpdateWebhookEndpointResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	types, errs := s.checkWebhookFields(ctx, b.Url, b.Description, b.EventTypes)
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid webhook endpoint", errs...)
	}
	var out *plugboard.WebhookEndpoint
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		e, err := tx.GetWebhookEndpoint(ctx, req.OrganisationId, req.WebhookEndpointId)
		if err != nil {
			return err
		}
		if b.Enabled && !e.Enabled {
			e.DisabledAt, e.DisabledReason, e.FailingSince = nil, "", nil
		}
		e.URL, e.Description, e.EventTypes, e.Enabled, e.UpdatedAt = b.Url, deref(b.Description), types, b.Enabled, s.timestamp()
		out = e
		return tx.UpdateWebhookEndpoint(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	return api.UpdateWebhookEndpoint200JSONResponse(toAPIWebhookEndpoint(out)), nil
}

// DeleteWebhookEndpoint implements api.StrictServerInterface.
func (s *Server) DeleteWebhookEndpoint(ctx context.Context, req api.DeleteWebhookEndpointRequestObject) (api.DeleteWebhookEndpointResponseObject, error) {
	if err := s.store.DeleteWebhookEndpoint(ctx, req.OrganisationId, req.WebhookEndpointId); err != nil {
		return nil, err
	}
	return api.DeleteWebhookEndpoint204Response{}, nil
}

// RotateWebhookEndpointSecret implements api.StrictServerInterface: the current secret becomes the
// previous one, signing beside the new one until the overlap ends.
func (s *Server) RotateWebhookEndpointSecret(ctx context.Context, req api.RotateWebhookEndpointSecretRequestObject) (api.RotateWebhookEndpointSecretResponseObject, error) {
	secret, err := webhooks.NewSecret()
	if err != nil {
		return nil, err
	}
	var out *plugboard.WebhookEndpoint
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		e, err := tx.GetWebhookEndpoint(ctx, req.OrganisationId, req.WebhookEndpointId)
		if err != nil {
			return err
		}
		old, err := webhooks.OpenSecrets(s.keys, e)
		if err != nil {
			return err
		}
		now := s.timestamp()
		until := now.Add(s.webhookOverlap)
		if e.Sealed, err = (webhooks.Secrets{Current: secret, Previous: old.Current}).Seal(s.keys, e.OrganisationID, e.ID); err != nil {
			return err
		}
		e.PreviousSecretUntil, e.UpdatedAt = &until, now
		out = e
		return tx.UpdateWebhookEndpoint(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	return api.RotateWebhookEndpointSecret200JSONResponse(withSecret(toAPIWebhookEndpoint(out), secret)), nil
}

func (s *Server) listAttempts(ctx context.Context, orgID ulid.ULID, f plugboard.AttemptFilter, first *int, after, before *string) (api.WebhookAttemptPage, error) {
	page, errs := parsePage(first, after, before)
	if len(errs) > 0 {
		return api.WebhookAttemptPage{}, plugboard.Invalid("invalid query parameters", errs...)
	}
	res, err := s.store.ListWebhookAttempts(ctx, orgID, f, page)
	if err != nil {
		return api.WebhookAttemptPage{}, err
	}
	out := api.WebhookAttemptPage{Items: []api.WebhookAttempt{}, TotalCount: res.TotalCount, Next: cursor(res.Next), Prev: cursor(res.Prev)}
	for i := range res.Items {
		out.Items = append(out.Items, toAPIAttempt(&res.Items[i]))
	}
	return out, nil
}

// ListWebhookEndpointAttempts implements api.StrictServerInterface.
func (s *Server) ListWebhookEndpointAttempts(ctx context.Context, req api.ListWebhookEndpointAttemptsRequestObject) (api.ListWebhookEndpointAttemptsResponseObject, error) {
	if _, err := s.store.GetWebhookEndpoint(ctx, req.OrganisationId, req.WebhookEndpointId); err != nil {
		return nil, err
	}
	p := req.Params
	out, err := s.listAttempts(ctx, req.OrganisationId, plugboard.AttemptFilter{EndpointID: req.WebhookEndpointId}, p.First, p.After, p.Before)
	if err != nil {
		return nil, err
	}
	return api.ListWebhookEndpointAttempts200JSONResponse(out), nil
}

// ListEventWebhookAttempts implements api.StrictServerInterface.
func (s *Server) ListEventWebhookAttempts(ctx context.Context, req api.ListEventWebhookAttemptsRequestObject) (api.ListEventWebhookAttemptsResponseObject, error) {
	if _, err := s.store.GetEvent(ctx, req.OrganisationId, req.EventId); err != nil {
		return nil, err
	}
	p := req.Params
	out, err := s.listAttempts(ctx, req.OrganisationId, plugboard.AttemptFilter{EventID: req.EventId}, p.First, p.After, p.Before)
	if err != nil {
		return nil, err
	}
	return api.ListEventWebhookAttempts200JSONResponse(out), nil
}

// RedeliverEvent implements api.StrictServerInterface.
func (s *Server) RedeliverEvent(ctx context.Context, req api.RedeliverEventRequestObject) (api.RedeliverEventResponseObject, error) {
	n, err := s.store.RedeliverEvent(ctx, req.OrganisationId, req.EventId, s.timestamp(), ulid.Make)
	if err != nil {
		return nil, err
	}
	return api.RedeliverEvent202JSONResponse{Deliveries: n}, nil
}

// ReplayWebhookEndpoint implements api.StrictServerInterface.
func (s *Server) ReplayWebhookEndpoint(ctx context.Context, req api.ReplayWebhookEndpointRequestObject) (api.ReplayWebhookEndpointResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	if b.Since.IsZero() {
		return nil, plugboard.Invalid("invalid replay", plugboard.FieldError{Field: "since", Message: "is required"})
	}
	now := s.timestamp()
	if !plugboard.TimeInRange(b.Since) {
		return nil, plugboard.Invalid("invalid replay", plugboard.FieldError{Field: "since", Message: timeRangeMessage})
	}
	if b.Since.After(now) {
		return nil, plugboard.Invalid("invalid replay", plugboard.FieldError{Field: "since", Message: "must not be in the future"})
	}
	n, more, err := s.store.ReplayEvents(ctx, req.OrganisationId, req.WebhookEndpointId, b.Since.UTC(), now, maxReplay, ulid.Make)
	if err != nil {
		return nil, err
	}
	return api.ReplayWebhookEndpoint202JSONResponse{Deliveries: n, More: more}, nil
}

// defaultWebhookOverlap is used when Config.WebhookSecretOverlap is zero.
const defaultWebhookOverlap = webhooks.DefaultSecretOverlap
