-- 0007_master_keys: the same as migrations/sqlite/0007_master_keys.sql (see its comments), with
-- PostgreSQL's bytea functions and STORED generated columns (computed for existing rows now).
ALTER TABLE credentials ADD COLUMN sealed_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN sealed IS NULL THEN NULL
         WHEN length(sealed) < 9 THEN 'unreadable'
         WHEN get_byte(sealed, 0) <> 1 THEN 'unreadable'
         ELSE encode(substring(sealed FROM 2 FOR 8), 'hex') END) STORED;
CREATE INDEX credentials_sealed_key ON credentials (sealed_key_id, organisation_id, id)
    WHERE sealed_key_id IS NOT NULL;

ALTER TABLE auth_scheme_configs ADD COLUMN sealed_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN sealed IS NULL THEN NULL
         WHEN length(sealed) < 9 THEN 'unreadable'
         WHEN get_byte(sealed, 0) <> 1 THEN 'unreadable'
         ELSE encode(substring(sealed FROM 2 FOR 8), 'hex') END) STORED;
CREATE INDEX auth_scheme_configs_sealed_key ON auth_scheme_configs (sealed_key_id, organisation_id, system_id, id)
    WHERE sealed_key_id IS NOT NULL;

ALTER TABLE oauth_states ADD COLUMN sealed_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN sealed IS NULL THEN NULL
         WHEN length(sealed) < 9 THEN 'unreadable'
         WHEN get_byte(sealed, 0) <> 1 THEN 'unreadable'
         ELSE encode(substring(sealed FROM 2 FOR 8), 'hex') END) STORED;
CREATE INDEX oauth_states_sealed_key ON oauth_states (sealed_key_id, organisation_id, id)
    WHERE sealed_key_id IS NOT NULL;

CREATE TABLE master_keys (
    key_id              TEXT   NOT NULL,
    rewrap_requested_at BIGINT,
    retired_at          BIGINT,
    PRIMARY KEY (key_id)
);
