-- 0002_oauth_states: pending OAuth connect flows, from initialise to the exchange that consumes them.
-- id is the SHA-256 (hex) of the state value, which is never stored; sealed holds the PKCE verifier
-- or OAuth 1.0a temporary credentials. Rows are dropped a day after they expire.
CREATE TABLE oauth_states (
    organisation_id TEXT   NOT NULL REFERENCES organisations (organisation_id),
    id              TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    system_id       TEXT   NOT NULL,
    config_id       TEXT   NOT NULL,
    redirect_uri    TEXT   NOT NULL,
    return_url      TEXT   NOT NULL,
    client_id       TEXT   NOT NULL,
    sealed          BYTEA,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    consumed_at     BIGINT,
    PRIMARY KEY (organisation_id, id)
);

CREATE INDEX oauth_states_expiry ON oauth_states (organisation_id, expires_at);
