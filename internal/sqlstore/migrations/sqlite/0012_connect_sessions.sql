-- 0012_connect_sessions: hosted connect page sessions, and the templates that let an end user set
-- a connection's base URL.
--
-- A connect session lets one end user connect, reconnect and disconnect their own connections of
-- some dynamic templates of one environment, through the hosted page, for a short time. Only the
-- SHA-256 of its token is stored (token_hash, unique: the page's calls carry the token alone).
-- template_ids and allowed_origins are JSON arrays. Deleting the end user or the environment's
-- project deletes its sessions (the store does it explicitly), as does purging the organisation.
CREATE TABLE connect_sessions (
    organisation_id TEXT   NOT NULL,
    id              TEXT   NOT NULL,
    environment_id  TEXT   NOT NULL,
    end_user_id     TEXT   NOT NULL,
    template_ids    TEXT   NOT NULL,  -- JSON array of template ids
    token_hash      BLOB   NOT NULL,
    return_url      TEXT   NOT NULL,  -- '' when none
    allowed_origins TEXT   NOT NULL,  -- JSON array of origins
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    completed_at    BIGINT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id),
    UNIQUE (token_hash)
);

CREATE INDEX connect_sessions_end_user ON connect_sessions (organisation_id, end_user_id);

ALTER TABLE connection_templates ADD COLUMN allow_base_url_override BOOLEAN NOT NULL DEFAULT FALSE;
