-- 0001_init: Plugboard's first schema (PostgreSQL). The same as migrations/sqlite/0001_init.sql
-- but for BYTEA in place of BLOB; keep the two in step.
--
-- Conventions, kept so that migrations/postgres/0001_init.sql can be a near copy:
--   * Every table has organisation_id, and every primary key, unique constraint and lookup index
--     starts with it: tenants cannot mix by accident and the schema can be distributed by
--     organisation later. (organisations itself is keyed by organisation_id for the same reason.)
--   * Ids are ULID strings (TEXT, 26 characters). connections.end_user_id is '' for static
--     connections rather than NULL, so that the UNIQUE constraint on connection names applies to
--     static connections too (NULLs never compare equal in a UNIQUE constraint).
--   * Timestamps are BIGINT Unix nanoseconds in UTC, truncated to microseconds by the Go code, so
--     they sort and compare as numbers and round-trip identically on PostgreSQL.
--   * JSON is kept as TEXT (use TEXT or JSON on PostgreSQL, not JSONB, which reorders keys and so
--     would not round-trip byte for byte). Sealed secrets are BYTEA here and BYTEA on PostgreSQL.
--   * Booleans are BOOLEAN (0/1 in SQLite).
--   * The store deletes children explicitly, in order; ON DELETE CASCADE is only a backstop for
--     rows that are owned by exactly one parent.

CREATE TABLE organisations (
    organisation_id TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (organisation_id)
);

CREATE TABLE api_keys (
    organisation_id TEXT   NOT NULL REFERENCES organisations (organisation_id),
    id              TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    hash            BYTEA   NOT NULL,
    scopes          TEXT   NOT NULL, -- JSON array of strings
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id)
);

CREATE TABLE systems (
    organisation_id   TEXT   NOT NULL REFERENCES organisations (organisation_id),
    id                TEXT   NOT NULL,
    name              TEXT   NOT NULL,
    domain            TEXT   NOT NULL,
    template_base_url TEXT   NOT NULL,
    labels            TEXT   NOT NULL, -- JSON object of strings
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id)
);

CREATE TABLE auth_scheme_configs (
    organisation_id TEXT    NOT NULL,
    system_id       TEXT    NOT NULL,
    id              TEXT    NOT NULL, -- chosen by the client, unique within the system
    position        INTEGER NOT NULL, -- order of first addition
    type            TEXT    NOT NULL,
    config          TEXT,             -- JSON, secret fields emptied
    sealed          BYTEA,             -- sealed secret fields; NULL when there are none
    PRIMARY KEY (organisation_id, system_id, id),
    FOREIGN KEY (organisation_id, system_id) REFERENCES systems (organisation_id, id) ON DELETE CASCADE
);

CREATE TABLE projects (
    organisation_id TEXT   NOT NULL REFERENCES organisations (organisation_id),
    id              TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id)
);

CREATE TABLE environments (
    organisation_id TEXT   NOT NULL,
    id              TEXT   NOT NULL,
    project_id      TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id),
    UNIQUE (organisation_id, project_id, name),
    -- Lets connection_templates reference an environment *of a given project*.
    UNIQUE (organisation_id, project_id, id),
    FOREIGN KEY (organisation_id, project_id) REFERENCES projects (organisation_id, id)
);

CREATE TABLE connection_templates (
    organisation_id        TEXT    NOT NULL,
    id                     TEXT    NOT NULL,
    project_id             TEXT    NOT NULL,
    environment_id         TEXT    NOT NULL,
    system_id              TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    dynamic                BOOLEAN NOT NULL,
    auth_scheme_config_ids TEXT    NOT NULL, -- JSON array of strings
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL,
    PRIMARY KEY (organisation_id, id),
    UNIQUE (organisation_id, environment_id, name),
    FOREIGN KEY (organisation_id, project_id, environment_id)
        REFERENCES environments (organisation_id, project_id, id),
    FOREIGN KEY (organisation_id, system_id) REFERENCES systems (organisation_id, id)
);

CREATE INDEX connection_templates_project ON connection_templates (organisation_id, project_id, id);
CREATE INDEX connection_templates_system ON connection_templates (organisation_id, system_id);

CREATE TABLE end_users (
    organisation_id TEXT   NOT NULL REFERENCES organisations (organisation_id),
    id              TEXT   NOT NULL,
    external_id     TEXT   NOT NULL,
    display_name    TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id),
    UNIQUE (organisation_id, external_id)
);

-- end_user_id has no foreign key because static connections store ''; the store checks that the
-- end user exists inside the creating transaction and deletes an end user's connections with it.
CREATE TABLE connections (
    organisation_id TEXT   NOT NULL,
    id              TEXT   NOT NULL,
    template_id     TEXT   NOT NULL, -- the template the connection was created under
    system_id       TEXT   NOT NULL,
    end_user_id     TEXT   NOT NULL, -- '' for static connections
    name            TEXT   NOT NULL,
    base_url        TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id),
    UNIQUE (organisation_id, template_id, end_user_id, name),
    FOREIGN KEY (organisation_id, template_id) REFERENCES connection_templates (organisation_id, id),
    FOREIGN KEY (organisation_id, system_id) REFERENCES systems (organisation_id, id)
);

-- Listing by system or end user walks these in id order; the primary key serves the unfiltered list.
CREATE INDEX connections_system ON connections (organisation_id, system_id, id);
CREATE INDEX connections_end_user ON connections (organisation_id, end_user_id, id);

CREATE TABLE credentials (
    organisation_id TEXT   NOT NULL REFERENCES organisations (organisation_id),
    id              TEXT   NOT NULL,
    type            TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    public          TEXT,            -- JSON, secret fields emptied
    sealed          BYTEA,            -- sealed secret fields
    errors          TEXT   NOT NULL, -- JSON array of strings
    expires_at      BIGINT,          -- NULL when the credential does not expire
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id)
);

-- A credential belongs to exactly one connection (UNIQUE credential_id); position orders them.
CREATE TABLE connection_credentials (
    organisation_id       TEXT    NOT NULL,
    connection_id         TEXT    NOT NULL,
    position              INTEGER NOT NULL,
    id                    TEXT    NOT NULL,
    auth_scheme_config_id TEXT    NOT NULL,
    credential_id         TEXT    NOT NULL,
    PRIMARY KEY (organisation_id, connection_id, position),
    UNIQUE (organisation_id, id),
    UNIQUE (organisation_id, credential_id),
    FOREIGN KEY (organisation_id, connection_id) REFERENCES connections (organisation_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organisation_id, credential_id) REFERENCES credentials (organisation_id, id)
);

-- Which templates a connection is available under; the creating template is always linked.
CREATE TABLE connection_links (
    organisation_id TEXT NOT NULL,
    template_id     TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    PRIMARY KEY (organisation_id, template_id, connection_id),
    FOREIGN KEY (organisation_id, template_id) REFERENCES connection_templates (organisation_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organisation_id, connection_id) REFERENCES connections (organisation_id, id) ON DELETE CASCADE
);

CREATE INDEX connection_links_connection ON connection_links (organisation_id, connection_id);
