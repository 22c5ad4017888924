-- 0009_credential_expiry: credential expiry and refresh state as columns.
--
-- Refresh state: a credential's streak of failed token refreshes (plugboard.RefreshState), which
-- versions before this one wrote as text into errors and parsed back. refresh_attempts counts the
-- streak's failures (0: none), refresh_next_attempt is the backoff, refresh_last_error the last
-- failure's error code ('' when unknown), refresh_failing_since the streak's first failure. The API's
-- errors[] are derived from them; the errors column is no longer read and is written as '[]'.
ALTER TABLE credentials ADD COLUMN refresh_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN refresh_next_attempt BIGINT;
ALTER TABLE credentials ADD COLUMN refresh_last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN refresh_failing_since BIGINT;

-- Rows an older version wrote hold one text "refresh failed (<reason>) at <t>; attempt <n>; next
-- attempt after <t>" in errors, with refresh_due set to the next attempt and updated_at to the last
-- failure. They become a streak of n attempts (at least 1) whose next attempt is refresh_due and
-- that failed since updated_at (the last failure: the first is not recorded), cause unknown.
UPDATE credentials SET
    refresh_attempts = max(1, CAST(substr(errors, instr(errors, '; attempt ') + 10,
        instr(errors, '; next attempt after ') - instr(errors, '; attempt ') - 10) AS INTEGER)),
    refresh_next_attempt = refresh_due,
    refresh_failing_since = updated_at,
    errors = '[]'
WHERE errors LIKE '["refresh failed (%' AND instr(errors, '; next attempt after ') > instr(errors, '; attempt ')
    AND instr(errors, '; attempt ') > 0;

-- expiring_notified_for is the expires_at value a credential.expiring event was emitted for: the
-- event is emitted once per expiry time, and again only if expires_at changes.
ALTER TABLE credentials ADD COLUMN expiring_notified_for BIGINT;

-- The expiry sweeper's work queue, across organisations on purpose (like credentials_refresh_due).
CREATE INDEX credentials_expires_at ON credentials (expires_at) WHERE expires_at IS NOT NULL;

-- expired_credentials records each connection credential the sweeper deleted: the connection
-- keeps running without it, so it is refused for use (credential_expired) and reports the gap in
-- its errors[] until a credential is added to it again (UpdateConnection deletes its rows then).
-- No foreign key to credentials: the credential is gone.
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
