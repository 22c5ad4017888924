package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/inbound"
)

// The inbound webhook endpoint: POST /hooks/{organisation_id}/{connection_id}/{auth_scheme_config_id}.
// internal/inbound verifies a delivery and records it; this file reads the body, bounded, applies
// the per-connection rate limit and answers. Public (the sender has no API key): every refusal
// after the size check is the same 401.

// hooksPattern is the route the endpoint is served on, by hand, since it reads the raw body and
// the request's headers.
const hooksPattern = "POST /hooks/{organisation_id}/{connection_id}/{auth_scheme_config_id}"

// Inbound limits' defaults.
const (
	// DefaultInboundMaxBodyBytes is the largest delivery accepted (413 above it, before verification).
	DefaultInboundMaxBodyBytes = 1 << 20
	// DefaultInboundEventBodyBytes is how much of a delivery's body its event keeps (sealed).
	DefaultInboundEventBodyBytes = inbound.DefaultEventBodyBytes
)

// serveInbound receives one delivery.
func (s *Server) serveInbound(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := s.readInboundBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	target := inbound.Target{OrganisationID: r.PathValue("organisation_id"), ConnectionID: r.PathValue("connection_id"),
		AuthSchemeConfigID: r.PathValue("auth_scheme_config_id")}
	v, err := s.inbound.Verify(ctx, target, r, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ok, wait := s.limits.perInbound.Allow([2]ulid.ULID{v.Connection.OrganisationID, v.Connection.ID}, s.now()); !ok {
		s.writeError(w, r, rateLimited(w, wait, "connection's inbound webhooks", "PLUGBOARD_INBOUND_RATE_LIMIT_PER_CONNECTION"))
		return
	}
	if err := s.inbound.Record(ctx, r, body, v); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// readInboundBody reads the whole body, refusing one over the limit (413) before anything else
// looks at the request.
func (s *Server) readInboundBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.inboundMaxBody
	tooLarge := plugboard.Errorf(plugboard.ETooLarge, "the delivery's body is larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, &plugboard.Error{Code: plugboard.EInvalid, Message: "the delivery's body could not be read", Err: err}
	}
	return body, nil
}
