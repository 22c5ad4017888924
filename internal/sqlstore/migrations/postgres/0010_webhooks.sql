-- 0010_webhooks: the same as migrations/sqlite/0010_webhooks.sql (see its comments), with BYTEA and
-- PostgreSQL's generated column expression (as in 0007).
CREATE TABLE webhook_endpoints (
    organisation_id       TEXT    NOT NULL REFERENCES organisations (organisation_id),
    id                    TEXT    NOT NULL,
    url                   TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    event_types           TEXT    NOT NULL, -- JSON array of strings; empty: every type
    enabled               BOOLEAN NOT NULL,
    sealed                BYTEA    NOT NULL,
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
         WHEN length(sealed) < 9 THEN 'unreadable'
         WHEN get_byte(sealed, 0) <> 1 THEN 'unreadable'
         ELSE encode(substring(sealed FROM 2 FOR 8), 'hex') END) STORED;
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
