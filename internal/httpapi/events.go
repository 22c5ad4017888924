package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/events"
)

// maxTypeFilter bounds the items of ListEvents' type filter (there are fewer types than that).
const maxTypeFilter = 64

// ListEvents implements api.StrictServerInterface.
func (s *Server) ListEvents(ctx context.Context, req api.ListEventsRequestObject) (api.ListEventsResponseObject, error) {
	p := req.Params
	page, errs := parsePage(p.First, p.After, p.Before)
	var f plugboard.EventFilter
	if p.Type != nil {
		var items []string
		for _, item := range *p.Type {
			items = append(items, strings.Split(item, ",")...)
		}
		if len(items) > maxTypeFilter {
			errs = append(errs, plugboard.FieldError{Field: "type", Message: fmt.Sprintf("names %d types; at most %d", len(items), maxTypeFilter)})
			items = nil
		}
		for i, t := range items {
			t = strings.TrimSpace(t)
			switch {
			case !events.Known(t):
				errs = append(errs, plugboard.FieldError{Field: fmt.Sprintf("type[%d]", i),
					Message: "is not an event type; see docs/events.md for the list"})
			case !slices.Contains(f.Types, t):
				f.Types = append(f.Types, t)
			}
		}
	}
	for _, q := range []struct {
		name string
		v    *string
		dst  *ulid.ULID
	}{{"connection_id", p.ConnectionId, &f.ConnectionID}, {"end_user_id", p.EndUserId, &f.EndUserID}} {
		id, perr := parseOptionalID(q.name, q.v)
		if perr != nil {
			errs = append(errs, perr.Fields...)
			continue
		}
		*q.dst = id
	}
	f.Since, f.Until = p.Since, p.Until
	for _, q := range []struct {
		name string
		v    *time.Time
	}{{"since", f.Since}, {"until", f.Until}} {
		if q.v != nil && !plugboard.TimeInRange(*q.v) {
			errs = append(errs, plugboard.FieldError{Field: q.name, Message: timeRangeMessage})
		}
	}
	if f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until) {
		errs = append(errs, plugboard.FieldError{Field: "until", Message: "must be after since"})
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid query parameters", errs...)
	}
	res, err := s.store.ListEvents(ctx, req.OrganisationId, f, page)
	if err != nil {
		return nil, err
	}
	out := api.EventPage{Events: []api.Event{}, TotalCount: res.TotalCount, Next: cursor(res.Next), Prev: cursor(res.Prev)}
	for i := range res.Items {
		e, err := events.ToAPI(&res.Items[i], s.keys)
		if err != nil {
			return nil, err
		}
		out.Events = append(out.Events, e)
	}
	return api.ListEvents200JSONResponse(out), nil
}

// GetEvent implements api.StrictServerInterface.
func (s *Server) GetEvent(ctx context.Context, req api.GetEventRequestObject) (api.GetEventResponseObject, error) {
	e, err := s.store.GetEvent(ctx, req.OrganisationId, req.EventId)
	if err != nil {
		return nil, err
	}
	out, err := events.ToAPI(e, s.keys)
	if err != nil {
		return nil, err
	}
	return api.GetEvent200JSONResponse(out), nil
}

// emit records an event of the change made in tx (the outbox: it commits with the change).
func (s *Server) emit(ctx context.Context, tx plugboard.Store, e plugboard.Event) error {
	return s.events.Emit(ctx, tx, e)
}

// eventData is an event's data: one fact, as a JSON object.
func eventData(key, value string) json.RawMessage {
	return events.Data(key, value)
}

// connectionEvent is an event about connection c: its ids, and its name as data.
func connectionEvent(typ string, c *plugboard.Connection) plugboard.Event {
	return events.ConnectionEvent(typ, c)
}

// templateEvent is an event about connection template t.
func templateEvent(typ string, t *plugboard.ConnectionTemplate) plugboard.Event {
	return plugboard.Event{Type: typ, OrganisationID: t.OrganisationID, TemplateID: t.ID, SystemID: t.SystemID,
		Data: eventData("name", t.Name)}
}

// credentialDeleted is the event of a connection credential's deletion.
func credentialDeleted(orgID, connectionID, endUserID, credentialID ulid.ULID, reason string) plugboard.Event {
	return events.CredentialDeletedEvent(orgID, connectionID, endUserID, credentialID, reason)
}

// emitTemplateDeleted records a deleted template: the links of connections to it that went with it
// (connection.updated, as an explicit unlink), then the template itself.
func (s *Server) emitTemplateDeleted(ctx context.Context, tx plugboard.Store, d plugboard.DeletedTemplate) error {
	for _, id := range d.UnlinkedConnectionIDs {
		e := plugboard.Event{Type: events.ConnectionUpdated, OrganisationID: d.OrganisationID, ConnectionID: id,
			SystemID: d.SystemID, TemplateID: d.ID, Data: eventData("link", "deleted")}
		if err := s.emit(ctx, tx, e); err != nil {
			return err
		}
	}
	return s.emit(ctx, tx, templateEvent(events.TemplateDeleted, &d.ConnectionTemplate))
}
