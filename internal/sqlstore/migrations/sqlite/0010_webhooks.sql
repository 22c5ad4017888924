-- 0010_webhooks: webhook endpoints, and the deliveries and attempts of events to them.
--
-- The events table (0008) is the outbox: a dispatcher turns undispatched events into one delivery
-- per matching enabled endpoint, in the transaction that sets events.dispatched_at, and delivery
-- workers send due deliveries. A delivery's next_attempt_at doubles as its lease: a worker that
-- claims a delivery moves it past the time the send may take before sending, so a crashed worker's
-- delivery becomes due again once the lease runs out (at most one duplicate), and the worker's
-- result is written only if the delivery still holds the lease it took.
--
-- An endpoint's signing secrets are sealed (internal/vault, kind "webhook-endpoint"): the current
-- one, and during a rotation's overlap the previous one, until previous_secret_until.
-- failing_since is the time of the first failed attempt since the last success; an endpoint failing
-- for longer than the configured window is disabled (disabled_at, disabled_reason).
CREATE TABLE webhook_endpoints (
    organisation_id       TEXT    NOT NULL REFERENCES organisations (organisation_id),
    id                    TEXT    NOT NULL,
    url                   TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    event_types           TEXT    NOT NULL, -- JSON array of strings; empty: every type
    enabled               BOOLEAN NOT NULL,
    sealed                BLOB    NOT NULL,
    previous_secret_until BIGINT,
    failing_since         BIGINT,
    disabled_at           BIGINT,
    disabled_reason       TEXT    NOT NULL,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    PRIMARY KEY (organisation_id, id)
);
ALTER TABLE webhook_endpoints ADD COLUMN sealed_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN sealed IS NULL THEN NULL
         WHEN length(sealed) >= 9 AND substr(sealed, 1, 1) = x'01' THEN lower(hex(substr(sealed, 2, 8)))
         ELSE 'unreadable' END) VIRTUAL;
CREATE INDEX webhook_endpoints_sealed_key ON webhook_endpoints (sealed_key_id, organisation_id, id)
    WHERE sealed_key_id IS NOT NULL;

-- state: 'pending' (due at next_attempt_at), 'delivered' or 'failed' (the schedule ran out).
CREATE TABLE webhook_deliveries (
    organisation_id TEXT    NOT NULL REFERENCES organisations (organisation_id),
    id              TEXT    NOT NULL,
    endpoint_id     TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (organisation_id, id)
);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (organisation_id, event_id, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (organisation_id, endpoint_id, id);
-- Across organisations on purpose: the delivery workers' queue.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

-- One row per request sent (or tried): status_code 0 when no answer came, error_code '' on 2xx,
-- response the first KiB of the answer's body.
CREATE TABLE webhook_attempts (
    organisation_id TEXT    NOT NULL REFERENCES organisations (organisation_id),
    id              TEXT    NOT NULL,
    delivery_id     TEXT    NOT NULL,
    endpoint_id     TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    attempted_at    BIGINT  NOT NULL,
    status_code     INTEGER NOT NULL,
    latency_us      BIGINT  NOT NULL,
    response        TEXT    NOT NULL,
    error_code      TEXT    NOT NULL,
    PRIMARY KEY (organisation_id, id)
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (organisation_id, event_id, id);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (organisation_id, endpoint_id, id);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (organisation_id, delivery_id, id);
