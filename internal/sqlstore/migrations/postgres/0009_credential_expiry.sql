-- 0009_credential_expiry: the same as migrations/sqlite/0009_credential_expiry.sql (see its
-- comments), with PostgreSQL's string functions.
ALTER TABLE credentials ADD COLUMN refresh_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN refresh_next_attempt BIGINT;
ALTER TABLE credentials ADD COLUMN refresh_last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN refresh_failing_since BIGINT;

UPDATE credentials SET
    refresh_attempts = GREATEST(1, COALESCE(substring(errors FROM '; attempt ([0-9]{1,9}); next attempt after ')::INTEGER, 1)),
    refresh_next_attempt = refresh_due,
    refresh_failing_since = updated_at,
    errors = '[]'
WHERE errors LIKE '["refresh failed (%' AND strpos(errors, '; next attempt after ') > strpos(errors, '; attempt ')
    AND strpos(errors, '; attempt ') > 0;

ALTER TABLE credentials ADD COLUMN expiring_notified_for BIGINT;

CREATE INDEX credentials_expires_at ON credentials (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE expired_credentials (
    organisation_id          TEXT   NOT NULL,
    connection_id            TEXT   NOT NULL,
    credential_id            TEXT   NOT NULL,
    connection_credential_id TEXT   NOT NULL,
    auth_scheme_config_id    TEXT   NOT NULL,
    type                     TEXT   NOT NULL,
    name                     TEXT   NOT NULL,
    expires_at               BIGINT NOT NULL,
    deleted_at               BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, connection_id, credential_id),
    FOREIGN KEY (organisation_id, connection_id) REFERENCES connections (organisation_id, id) ON DELETE CASCADE
);
