package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

const eventCols = "organisation_id, id, type, occurred_at, actor, reason, connection_id, credential_id, end_user_id, " +
	"system_id, template_id, webhook_endpoint_id, auth_scheme_config_id, data, sealed"

func scanEvent(r interface{ Scan(...any) error }) (plugboard.Event, error) {
	var e plugboard.Event
	err := r.Scan(idCol{&e.OrganisationID}, idCol{&e.ID}, &e.Type, timeCol{&e.OccurredAt}, &e.Actor, &e.Reason,
		idCol{&e.ConnectionID}, idCol{&e.CredentialID}, idCol{&e.EndUserID}, idCol{&e.SystemID}, idCol{&e.TemplateID},
		idCol{&e.WebhookEndpointID}, &e.AuthSchemeConfigID, rawCol{&e.Data}, bytesCol{&e.Sealed})
	return e, err
}

// optID stores an id that may not concern a record: ” for the zero ULID.
func optID(id ulid.ULID) string { return endUserValue(id) }

// AppendEvent inserts e.
func (o *ops) AppendEvent(ctx context.Context, e *plugboard.Event) error {
	if err := requireID(e.ID, "event"); err != nil {
		return err
	}
	if e.Type == "" || e.Actor == "" {
		return plugboard.Errorf(plugboard.EInvalid, "an event needs a type and an actor")
	}
	data, err := rawValue(e.Data, "event data")
	if err != nil {
		return err
	}
	e.OccurredAt = normTime(e.OccurredAt)
	_, err = o.exec(ctx, "INSERT INTO events ("+eventCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		idValue(e.OrganisationID), idValue(e.ID), e.Type, timeValue(e.OccurredAt), e.Actor, e.Reason,
		optID(e.ConnectionID), optID(e.CredentialID), optID(e.EndUserID), optID(e.SystemID), optID(e.TemplateID),
		optID(e.WebhookEndpointID), e.AuthSchemeConfigID, data, nullBytesValue(e.Sealed))
	return o.d.translate(err, "insert event", &onError{
		conflict: "event " + e.ID.String() + " already exists",
		fkCode:   plugboard.ENotFound, fkMsg: "organisation " + e.OrganisationID.String() + " not found",
	})
}

// GetEvent returns the event or ENotFound.
func (o *ops) GetEvent(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Event, error) {
	e, err := scanEvent(o.queryRow(ctx, "SELECT "+eventCols+" FROM events WHERE organisation_id = ? AND id = ?",
		idValue(orgID), idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "get event", &onError{notFound: "event " + id.String() + " not found"})
	}
	return &e, nil
}

// ListEvents returns a page of events, newest first. It is listPage read the other way round: the
// newest ids come first, After reads ids below the cursor (older) and Before ids above it (newer).
func (o *ops) ListEvents(ctx context.Context, orgID ulid.ULID, f plugboard.EventFilter, req plugboard.PageRequest) (*plugboard.Page[plugboard.Event], error) {
	var zero ulid.ULID
	if req.After != zero && req.Before != zero {
		return nil, plugboard.Errorf(plugboard.EInvalid, "a page request cannot set both after and before")
	}
	where := "organisation_id = ?"
	args := []any{idValue(orgID)}
	if len(f.Types) > 0 {
		where += " AND type IN (" + placeholders(len(f.Types)) + ")"
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.ConnectionID != zero {
		where += " AND connection_id = ?"
		args = append(args, idValue(f.ConnectionID))
	}
	if f.EndUserID != zero {
		where += " AND end_user_id = ?"
		args = append(args, idValue(f.EndUserID))
	}
	if f.Since != nil {
		where += " AND occurred_at >= ?"
		args = append(args, timeValue(*f.Since))
	}
	if f.Until != nil {
		where += " AND occurred_at < ?"
		args = append(args, timeValue(*f.Until))
	}
	n := pageSize(req.First)
	page := &plugboard.Page[plugboard.Event]{}
	err := o.inReadTx(ctx, func(o *ops) error {
		*page = plugboard.Page[plugboard.Event]{} // a retried read starts again
		if err := o.queryRow(ctx, "SELECT COUNT(*) FROM events WHERE "+where, args...).Scan(&page.TotalCount); err != nil {
			return o.d.translate(err, "count events", nil)
		}
		q := "SELECT " + eventCols + " FROM events WHERE " + where
		qargs := slices.Clone(args)
		newer := req.Before != zero
		switch {
		case newer:
			q += " AND id > ? ORDER BY id ASC LIMIT ?"
			qargs = append(qargs, idValue(req.Before))
		case req.After != zero:
			q += " AND id < ? ORDER BY id DESC LIMIT ?"
			qargs = append(qargs, idValue(req.After))
		default:
			q += " ORDER BY id DESC LIMIT ?"
		}
		qargs = append(qargs, n+1)
		rows, err := o.query(ctx, q, qargs...)
		if err != nil {
			return o.d.translate(err, "list events", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			e, err := scanEvent(r)
			if err == nil {
				page.Items = append(page.Items, e)
			}
			return err
		})
		if err != nil {
			return o.d.translate(err, "list events", nil)
		}
		more := len(page.Items) > n
		if more {
			page.Items = page.Items[:n]
		}
		if newer {
			slices.Reverse(page.Items)
		}
		if len(page.Items) == 0 {
			return nil
		}
		newest, oldest := page.Items[0].ID, page.Items[len(page.Items)-1].ID
		beyond := func(cmp string, id ulid.ULID) (bool, error) {
			return o.exists(ctx, "SELECT 1 FROM events WHERE "+where+" AND id "+cmp+" ?", append(slices.Clone(args), idValue(id))...)
		}
		if newer {
			if more {
				page.Prev = newest
			}
			ok, err := beyond("<", oldest)
			if err != nil {
				return err
			}
			if ok {
				page.Next = oldest
			}
			return nil
		}
		if more {
			page.Next = oldest
		}
		if req.After != zero {
			ok, err := beyond(">", newest)
			if err != nil {
				return err
			}
			if ok {
				page.Prev = newest
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// PruneEvents removes up to limit events that occurred before the given time, oldest first.
func (o *ops) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := o.inTx(ctx, func(o *ops) error {
		// The events' webhook deliveries and attempts go with them (the same selection, ordered down
		// to the key so that both statements pick the same events).
		selection := `SELECT organisation_id, id FROM events WHERE occurred_at < ? ORDER BY occurred_at, organisation_id, id LIMIT ?`
		if err := o.pruneEventDeliveries(ctx, selection, timeValue(before), limit); err != nil {
			return err
		}
		res, err := o.exec(ctx, `DELETE FROM events WHERE (organisation_id, id) IN (`+selection+`)`, timeValue(before), limit)
		if err != nil {
			return o.d.translate(err, "prune events", nil)
		}
		affected, err := res.RowsAffected()
		if err != nil {
			return o.d.translate(err, "prune events", nil)
		}
		n = int(affected)
		return nil
	})
	return n, err
}
