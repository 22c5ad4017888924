-- 0008_events: the same as migrations/sqlite/0008_events.sql (see its comments), with BYTEA and
-- a STORED generated key id column.
CREATE TABLE events (
    organisation_id       TEXT   NOT NULL REFERENCES organisations (organisation_id),
    id                    TEXT   NOT NULL,
    type                  TEXT   NOT NULL,
    occurred_at           BIGINT NOT NULL,
    actor                 TEXT   NOT NULL,
    reason                TEXT   NOT NULL,
    connection_id         TEXT   NOT NULL,
    credential_id         TEXT   NOT NULL,
    end_user_id           TEXT   NOT NULL,
    system_id             TEXT   NOT NULL,
    template_id           TEXT   NOT NULL,
    webhook_endpoint_id   TEXT   NOT NULL,
    auth_scheme_config_id TEXT   NOT NULL,
    data                  TEXT,
    sealed                BYTEA,
    dispatched_at         BIGINT,
    sealed_key_id         TEXT GENERATED ALWAYS AS (
        CASE WHEN sealed IS NULL THEN NULL
             WHEN length(sealed) < 9 THEN 'unreadable'
             WHEN get_byte(sealed, 0) <> 1 THEN 'unreadable'
             ELSE encode(substring(sealed FROM 2 FOR 8), 'hex') END) STORED,
    PRIMARY KEY (organisation_id, id)
);
CREATE INDEX events_type ON events (organisation_id, type, id);
CREATE INDEX events_connection ON events (organisation_id, connection_id, id) WHERE connection_id <> '';
CREATE INDEX events_end_user ON events (organisation_id, end_user_id, id) WHERE end_user_id <> '';
CREATE INDEX events_occurred ON events (occurred_at);
CREATE INDEX events_undispatched ON events (id) WHERE dispatched_at IS NULL;
CREATE INDEX events_sealed_key ON events (sealed_key_id, organisation_id, id)
    WHERE sealed_key_id IS NOT NULL;
