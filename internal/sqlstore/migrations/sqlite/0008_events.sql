-- 0008_events: the organisation's event log, which is also the outbox of webhook deliveries.
--
-- Every change writes its event in its own transaction (internal/events), so an event exists exactly
-- when its change committed. Ids are ULIDs, so id order is time order; lists read newest first on
-- the primary key. Ids that do not concern an event are ''. data is public JSON; sealed holds
-- details that must not be readable in the database (an inbound webhook's headers and body),
-- sealed with the organisation and event ids bound, and is re-sealed by key rotations like the
-- other sealed tables (sealed_key_id, as in 0007). dispatched_at is set once webhook deliveries
-- were created for the event; undispatched events are the delivery worker's queue.
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
    sealed                BLOB,
    dispatched_at         BIGINT,
    PRIMARY KEY (organisation_id, id)
);
CREATE INDEX events_type ON events (organisation_id, type, id);
CREATE INDEX events_connection ON events (organisation_id, connection_id, id) WHERE connection_id <> '';
CREATE INDEX events_end_user ON events (organisation_id, end_user_id, id) WHERE end_user_id <> '';
-- Across organisations on purpose: retention pruning and the delivery worker's queue.
CREATE INDEX events_occurred ON events (occurred_at);
CREATE INDEX events_undispatched ON events (id) WHERE dispatched_at IS NULL;

ALTER TABLE events ADD COLUMN sealed_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN sealed IS NULL THEN NULL
         WHEN length(sealed) >= 9 AND substr(sealed, 1, 1) = x'01' THEN lower(hex(substr(sealed, 2, 8)))
         ELSE 'unreadable' END) VIRTUAL;
CREATE INDEX events_sealed_key ON events (sealed_key_id, organisation_id, id)
    WHERE sealed_key_id IS NOT NULL;
