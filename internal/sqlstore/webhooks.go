package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

const webhookEndpointCols = `organisation_id, id, url, description, event_types, enabled, sealed, previous_secret_until,
	failing_since, disabled_at, disabled_reason, created_at, updated_at`

func scanWebhookEndpoint(r interface{ Scan(...any) error }) (plugboard.WebhookEndpoint, error) {
	var e plugboard.WebhookEndpoint
	err := r.Scan(idCol{&e.OrganisationID}, idCol{&e.ID}, &e.URL, &e.Description, stringsCol{&e.EventTypes}, &e.Enabled,
		bytesCol{&e.Sealed}, nullTimeCol{&e.PreviousSecretUntil}, nullTimeCol{&e.FailingSince}, nullTimeCol{&e.DisabledAt},
		&e.DisabledReason, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt})
	return e, err
}

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}

// CreateWebhookEndpoint inserts e; see plugboard.Store.
func (o *ops) CreateWebhookEndpoint(ctx context.Context, e *plugboard.WebhookEndpoint) error {
	if err := requireID(e.ID, "webhook endpoint"); err != nil {
		return err
	}
	if len(e.Sealed) == 0 {
		return plugboard.Errorf(plugboard.EInvalid, "a webhook endpoint needs its sealed secret")
	}
	stamp(&e.CreatedAt, &e.UpdatedAt)
	e.PreviousSecretUntil, e.FailingSince, e.DisabledAt = normTimePtr(e.PreviousSecretUntil), normTimePtr(e.FailingSince), normTimePtr(e.DisabledAt)
	_, err := o.exec(ctx, "INSERT INTO webhook_endpoints ("+webhookEndpointCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		idValue(e.OrganisationID), idValue(e.ID), e.URL, e.Description, jsonValue(e.EventTypes, "[]"), e.Enabled,
		bytesValue(e.Sealed), nullTimeValue(e.PreviousSecretUntil), nullTimeValue(e.FailingSince), nullTimeValue(e.DisabledAt),
		e.DisabledReason, timeValue(e.CreatedAt), timeValue(e.UpdatedAt))
	return o.d.translate(err, "insert webhook endpoint", &onError{
		conflict: "webhook endpoint " + e.ID.String() + " already exists",
		fkCode:   plugboard.ENotFound, fkMsg: "organisation " + e.OrganisationID.String() + " not found",
	})
}

// GetWebhookEndpoint returns the endpoint or ENotFound.
func (o *ops) GetWebhookEndpoint(ctx context.Context, orgID, id ulid.ULID) (*plugboard.WebhookEndpoint, error) {
	e, err := scanWebhookEndpoint(o.queryRow(ctx, "SELECT "+webhookEndpointCols+" FROM webhook_endpoints WHERE organisation_id = ? AND id = ?",
		idValue(orgID), idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "get webhook endpoint", &onError{notFound: "webhook endpoint " + id.String() + " not found"})
	}
	return &e, nil
}

// ListWebhookEndpoints returns a page of the organisation's endpoints by id.
func (o *ops) ListWebhookEndpoints(ctx context.Context, orgID ulid.ULID, req plugboard.PageRequest) (*plugboard.Page[plugboard.WebhookEndpoint], error) {
	spec := listSpec{cols: webhookEndpointCols, table: "webhook_endpoints", where: "organisation_id = ?", args: []any{idValue(orgID)}}
	var page *plugboard.Page[plugboard.WebhookEndpoint]
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		page, err = listPage(ctx, o, spec, req,
			func(r *sql.Rows) (plugboard.WebhookEndpoint, error) { return scanWebhookEndpoint(r) },
			func(e *plugboard.WebhookEndpoint) ulid.ULID { return e.ID })
		return err
	})
	return page, err
}

// UpdateWebhookEndpoint writes every field but the ids and CreatedAt.
func (o *ops) UpdateWebhookEndpoint(ctx context.Context, e *plugboard.WebhookEndpoint) error {
	if len(e.Sealed) == 0 {
		return plugboard.Errorf(plugboard.EInvalid, "a webhook endpoint needs its sealed secret")
	}
	touch(&e.UpdatedAt)
	e.PreviousSecretUntil, e.FailingSince, e.DisabledAt = normTimePtr(e.PreviousSecretUntil), normTimePtr(e.FailingSince), normTimePtr(e.DisabledAt)
	res, err := o.exec(ctx, `UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?, enabled = ?, sealed = ?,
		previous_secret_until = ?, failing_since = ?, disabled_at = ?, disabled_reason = ?, updated_at = ?
		WHERE organisation_id = ? AND id = ?`,
		e.URL, e.Description, jsonValue(e.EventTypes, "[]"), e.Enabled, bytesValue(e.Sealed), nullTimeValue(e.PreviousSecretUntil),
		nullTimeValue(e.FailingSince), nullTimeValue(e.DisabledAt), e.DisabledReason, timeValue(e.UpdatedAt),
		idValue(e.OrganisationID), idValue(e.ID))
	if err != nil {
		return o.d.translate(err, "update webhook endpoint", nil)
	}
	return o.affected(res, "webhook endpoint "+e.ID.String()+" not found")
}

// DisableWebhookEndpoint disables an enabled endpoint; see plugboard.Store.
func (o *ops) DisableWebhookEndpoint(ctx context.Context, orgID, id ulid.ULID, at time.Time, reason string) (bool, error) {
	res, err := o.exec(ctx, `UPDATE webhook_endpoints SET enabled = ?, disabled_at = ?, disabled_reason = ?, updated_at = ?
		WHERE organisation_id = ? AND id = ? AND enabled = ?`,
		false, timeValue(at), reason, timeValue(at), idValue(orgID), idValue(id), true)
	if err != nil {
		return false, o.d.translate(err, "disable webhook endpoint", nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, o.d.translate(err, "disable webhook endpoint", nil)
	}
	return n == 1, nil
}

// DeleteWebhookEndpoint removes the endpoint, its deliveries and their attempts.
func (o *ops) DeleteWebhookEndpoint(ctx context.Context, orgID, id ulid.ULID) error {
	return o.inTx(ctx, func(o *ops) error {
		res, err := o.exec(ctx, "DELETE FROM webhook_endpoints WHERE organisation_id = ? AND id = ?", idValue(orgID), idValue(id))
		if err != nil {
			return o.d.translate(err, "delete webhook endpoint", nil)
		}
		if err := o.affected(res, "webhook endpoint "+id.String()+" not found"); err != nil {
			return err
		}
		for _, table := range []string{"webhook_attempts", "webhook_deliveries"} {
			if _, err := o.exec(ctx, "DELETE FROM "+table+" WHERE organisation_id = ? AND endpoint_id = ?", idValue(orgID), idValue(id)); err != nil {
				return o.d.translate(err, "delete webhook endpoint: "+table, nil)
			}
		}
		return nil
	})
}

// skipLocked is appended to the SELECT of rows a transaction takes for itself from a queue shared
// by replicas: on PostgreSQL, rows another transaction holds are skipped rather than waited for.
// SQLite needs none: its write transactions (BEGIN IMMEDIATE) run one at a time.
func (o *ops) skipLocked() string {
	if o.d.name == "postgres" {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// enabledEndpoints returns the organisation's enabled endpoints.
func (o *ops) enabledEndpoints(ctx context.Context, orgID ulid.ULID) ([]plugboard.WebhookEndpoint, error) {
	rows, err := o.query(ctx, "SELECT "+webhookEndpointCols+" FROM webhook_endpoints WHERE organisation_id = ? AND enabled = ? ORDER BY id",
		idValue(orgID), true)
	if err != nil {
		return nil, o.d.translate(err, "list enabled webhook endpoints", nil)
	}
	var out []plugboard.WebhookEndpoint
	err = scanRows(rows, func(r *sql.Rows) error {
		e, err := scanWebhookEndpoint(r)
		if err == nil {
			out = append(out, e)
		}
		return err
	})
	return out, o.d.translate(err, "list enabled webhook endpoints", nil)
}

// insertDelivery adds a pending delivery of an event to an endpoint, due at now.
func (o *ops) insertDelivery(ctx context.Context, orgID, endpointID, eventID ulid.ULID, now time.Time, newID func() ulid.ULID) error {
	id := newID()
	if err := requireID(id, "webhook delivery"); err != nil {
		return err
	}
	_, err := o.exec(ctx, `INSERT INTO webhook_deliveries (organisation_id, id, endpoint_id, event_id, state, attempts,
		next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)`,
		idValue(orgID), idValue(id), idValue(endpointID), idValue(eventID), plugboard.DeliveryPending,
		timeValue(now), timeValue(now), timeValue(now))
	return o.d.translate(err, "insert webhook delivery", &onError{conflict: "webhook delivery " + id.String() + " already exists"})
}

// DispatchEvents turns undispatched events into deliveries; see plugboard.Store.
func (o *ops) DispatchEvents(ctx context.Context, now time.Time, limit int, newID func() ulid.ULID) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := o.inTx(ctx, func(o *ops) error {
		rows, err := o.query(ctx, `SELECT organisation_id, id, type FROM events WHERE dispatched_at IS NULL
			ORDER BY id LIMIT ?`+o.skipLocked(), limit)
		if err != nil {
			return o.d.translate(err, "list undispatched events", nil)
		}
		type ev struct {
			org, id ulid.ULID
			typ     string
		}
		var evs []ev
		err = scanRows(rows, func(r *sql.Rows) error {
			var e ev
			if err := r.Scan(idCol{&e.org}, idCol{&e.id}, &e.typ); err != nil {
				return err
			}
			evs = append(evs, e)
			return nil
		})
		if err != nil {
			return o.d.translate(err, "list undispatched events", nil)
		}
		endpoints := map[ulid.ULID][]plugboard.WebhookEndpoint{}
		for _, e := range evs {
			eps, ok := endpoints[e.org]
			if !ok {
				if eps, err = o.enabledEndpoints(ctx, e.org); err != nil {
					return err
				}
				endpoints[e.org] = eps
			}
			for i := range eps {
				if eps[i].Matches(e.typ) {
					if err := o.insertDelivery(ctx, e.org, eps[i].ID, e.id, now, newID); err != nil {
						return err
					}
				}
			}
			if _, err := o.exec(ctx, "UPDATE events SET dispatched_at = ? WHERE organisation_id = ? AND id = ?",
				timeValue(now), idValue(e.org), idValue(e.id)); err != nil {
				return o.d.translate(err, "mark event dispatched", nil)
			}
		}
		n = len(evs)
		return nil
	})
	return n, err
}

const deliveryCols = "organisation_id, id, endpoint_id, event_id, state, attempts, next_attempt_at, created_at, updated_at"

func scanDelivery(r interface{ Scan(...any) error }) (plugboard.WebhookDelivery, error) {
	var d plugboard.WebhookDelivery
	err := r.Scan(idCol{&d.OrganisationID}, idCol{&d.ID}, idCol{&d.EndpointID}, idCol{&d.EventID}, &d.State, &d.Attempts,
		timeCol{&d.NextAttemptAt}, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt})
	return d, err
}

// ClaimDeliveries leases due deliveries; see plugboard.Store.
func (o *ops) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]plugboard.WebhookDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []plugboard.WebhookDelivery
	err := o.inTx(ctx, func(o *ops) error {
		// The endpoint's row is not locked (FOR UPDATE OF d): a PUT of the endpoint does not wait for
		// a claim, nor a claim for a PUT.
		lock := o.skipLocked()
		if lock != "" {
			lock = " FOR UPDATE OF d SKIP LOCKED"
		}
		rows, err := o.query(ctx, `SELECT d.organisation_id, d.id, d.endpoint_id, d.event_id, d.state, d.attempts,
				d.next_attempt_at, d.created_at, d.updated_at
			FROM webhook_deliveries d JOIN webhook_endpoints e ON e.organisation_id = d.organisation_id AND e.id = d.endpoint_id
			JOIN organisations o ON o.organisation_id = d.organisation_id
			WHERE d.state = ? AND d.next_attempt_at <= ? AND e.enabled = ? AND o.deleted_at IS NULL
			ORDER BY d.next_attempt_at LIMIT ?`+lock, plugboard.DeliveryPending, timeValue(now), true, limit)
		if err != nil {
			return o.d.translate(err, "claim webhook deliveries", nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			d, err := scanDelivery(r)
			if err == nil {
				out = append(out, d)
			}
			return err
		})
		if err != nil {
			return o.d.translate(err, "claim webhook deliveries", nil)
		}
		lease := normTime(leaseUntil)
		for i := range out {
			if _, err := o.exec(ctx, "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE organisation_id = ? AND id = ?",
				timeValue(lease), idValue(out[i].OrganisationID), idValue(out[i].ID)); err != nil {
				return o.d.translate(err, "claim webhook deliveries", nil)
			}
			out[i].NextAttemptAt = lease
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const attemptCols = "organisation_id, id, delivery_id, endpoint_id, event_id, attempted_at, status_code, latency_us, response, error_code"

func scanAttempt(r interface{ Scan(...any) error }) (plugboard.WebhookAttempt, error) {
	var a plugboard.WebhookAttempt
	var us int64
	err := r.Scan(idCol{&a.OrganisationID}, idCol{&a.ID}, idCol{&a.DeliveryID}, idCol{&a.EndpointID}, idCol{&a.EventID},
		timeCol{&a.AttemptedAt}, &a.StatusCode, &us, &a.Response, &a.ErrorCode)
	a.Latency = time.Duration(us) * time.Microsecond
	return a, err
}

// FinishDelivery records an attempt and its outcome; see plugboard.Store.
func (o *ops) FinishDelivery(ctx context.Context, d *plugboard.WebhookDelivery, a *plugboard.WebhookAttempt, out plugboard.DeliveryOutcome) (bool, error) {
	if err := requireID(a.ID, "webhook attempt"); err != nil {
		return false, err
	}
	switch out.State {
	case plugboard.DeliveryPending, plugboard.DeliveryDelivered, plugboard.DeliveryFailed:
	default:
		return false, plugboard.Errorf(plugboard.EInvalid, "unknown delivery state %q", out.State)
	}
	a.AttemptedAt = normTime(a.AttemptedAt)
	held := false
	err := o.inTx(ctx, func(o *ops) error {
		_, err := o.exec(ctx, "INSERT INTO webhook_attempts ("+attemptCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			idValue(d.OrganisationID), idValue(a.ID), idValue(d.ID), idValue(d.EndpointID), idValue(d.EventID),
			timeValue(a.AttemptedAt), a.StatusCode, a.Latency.Microseconds(), a.Response, a.ErrorCode)
		if err != nil {
			return o.d.translate(err, "insert webhook attempt", &onError{conflict: "webhook attempt " + a.ID.String() + " already exists"})
		}
		a.OrganisationID, a.DeliveryID, a.EndpointID, a.EventID = d.OrganisationID, d.ID, d.EndpointID, d.EventID
		res, err := o.exec(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ?
			WHERE organisation_id = ? AND id = ? AND state = ? AND next_attempt_at = ?`,
			out.State, timeValue(out.NextAttemptAt), timeValue(a.AttemptedAt),
			idValue(d.OrganisationID), idValue(d.ID), plugboard.DeliveryPending, timeValue(d.NextAttemptAt))
		if err != nil {
			return o.d.translate(err, "finish webhook delivery", nil)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return o.d.translate(err, "finish webhook delivery", nil)
		}
		held = n == 1
		if out.State == plugboard.DeliveryDelivered {
			_, err = o.exec(ctx, "UPDATE webhook_endpoints SET failing_since = NULL WHERE organisation_id = ? AND id = ?",
				idValue(d.OrganisationID), idValue(d.EndpointID))
		} else {
			_, err = o.exec(ctx, `UPDATE webhook_endpoints SET failing_since = ? WHERE organisation_id = ? AND id = ?
				AND failing_since IS NULL`, timeValue(a.AttemptedAt), idValue(d.OrganisationID), idValue(d.EndpointID))
		}
		return o.d.translate(err, "note webhook endpoint health", nil)
	})
	return held, err
}

// ListWebhookAttempts returns a page of attempts by id (oldest first).
func (o *ops) ListWebhookAttempts(ctx context.Context, orgID ulid.ULID, f plugboard.AttemptFilter, req plugboard.PageRequest) (*plugboard.Page[plugboard.WebhookAttempt], error) {
	spec := listSpec{cols: attemptCols, table: "webhook_attempts", where: "organisation_id = ?", args: []any{idValue(orgID)}}
	if f.EndpointID != (ulid.ULID{}) {
		spec.where += " AND endpoint_id = ?"
		spec.args = append(spec.args, idValue(f.EndpointID))
	}
	if f.EventID != (ulid.ULID{}) {
		spec.where += " AND event_id = ?"
		spec.args = append(spec.args, idValue(f.EventID))
	}
	var page *plugboard.Page[plugboard.WebhookAttempt]
	err := o.inReadTx(ctx, func(o *ops) error {
		var err error
		page, err = listPage(ctx, o, spec, req,
			func(r *sql.Rows) (plugboard.WebhookAttempt, error) { return scanAttempt(r) },
			func(a *plugboard.WebhookAttempt) ulid.ULID { return a.ID })
		return err
	})
	return page, err
}

// RedeliverEvent creates new deliveries of an event; see plugboard.Store.
func (o *ops) RedeliverEvent(ctx context.Context, orgID, eventID ulid.ULID, now time.Time, newID func() ulid.ULID) (int, error) {
	var n int
	err := o.inTx(ctx, func(o *ops) error {
		e, err := o.GetEvent(ctx, orgID, eventID)
		if err != nil {
			return err
		}
		eps, err := o.enabledEndpoints(ctx, orgID)
		if err != nil {
			return err
		}
		for i := range eps {
			if eps[i].Matches(e.Type) {
				if err := o.insertDelivery(ctx, orgID, eps[i].ID, e.ID, now, newID); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// ReplayEvents creates new deliveries to one endpoint of the events since a time; see plugboard.Store.
func (o *ops) ReplayEvents(ctx context.Context, orgID, endpointID ulid.ULID, since, now time.Time, limit int, newID func() ulid.ULID) (int, bool, error) {
	var n int
	more := false
	err := o.inTx(ctx, func(o *ops) error {
		ep, err := o.GetWebhookEndpoint(ctx, orgID, endpointID)
		if err != nil {
			return err
		}
		q := "SELECT id FROM events WHERE organisation_id = ? AND occurred_at >= ?"
		args := []any{idValue(orgID), timeValue(since)}
		if len(ep.EventTypes) > 0 {
			q += " AND type IN (" + placeholders(len(ep.EventTypes)) + ")"
			for _, t := range ep.EventTypes {
				args = append(args, t)
			}
		}
		q += " ORDER BY id LIMIT ?"
		args = append(args, limit+1)
		rows, err := o.query(ctx, q, args...)
		if err != nil {
			return o.d.translate(err, "list events to replay", nil)
		}
		var ids []ulid.ULID
		err = scanRows(rows, func(r *sql.Rows) error {
			var id ulid.ULID
			if err := r.Scan(idCol{&id}); err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			return o.d.translate(err, "list events to replay", nil)
		}
		if len(ids) > limit {
			more, ids = true, ids[:limit]
		}
		for _, id := range ids {
			if err := o.insertDelivery(ctx, orgID, endpointID, id, now, newID); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, more, err
}

// pruneEventDeliveries removes the deliveries and attempts of the events PruneEvents is about to
// remove (the same selection, which the caller's transaction keeps stable).
func (o *ops) pruneEventDeliveries(ctx context.Context, selection string, args ...any) error {
	for _, table := range []string{"webhook_attempts", "webhook_deliveries"} {
		_, err := o.exec(ctx, "DELETE FROM "+table+" WHERE (organisation_id, event_id) IN ("+selection+")", slices.Clone(args)...)
		if err != nil {
			return o.d.translate(err, "prune "+table, nil)
		}
	}
	return nil
}
