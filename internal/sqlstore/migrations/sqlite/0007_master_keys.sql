-- 0007_master_keys: which master key seals each sealed value, and the master keys' lifecycle.
--
-- sealed_key_id is the id of the master key a row's sealed value names (16 hex digits; NULL when
-- the row seals nothing). It is a generated column: the database reads it out of the sealed bytes
-- (format version 1, internal/seal: byte 0 is the version, bytes 1-8 the key id), so rows written
-- before this migration have it at once and no writer (an older replica during a rolling upgrade,
-- the bulk loader) can leave it stale. A value in any other format reads 'unreadable', which no
-- key opens. Keep the expression in step with the PostgreSQL one; internal/vault's tests compare
-- both with the Go parser. The indexes span organisations on purpose: they are the rotation's work
-- queue and its counts, across tenants, in key id order.
ALTER TABLE credentials ADD COLUMN sealed_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN sealed IS NULL THEN NULL
         WHEN length(sealed) >= 9 AND substr(sealed, 1, 1) = x'01' THEN lower(hex(substr(sealed, 2, 8)))
         ELSE 'unreadable' END) VIRTUAL;
CREATE INDEX credentials_sealed_key ON credentials (sealed_key_id, organisation_id, id)
    WHERE sealed_key_id IS NOT NULL;

ALTER TABLE auth_scheme_configs ADD COLUMN sealed_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN sealed IS NULL THEN NULL
         WHEN length(sealed) >= 9 AND substr(sealed, 1, 1) = x'01' THEN lower(hex(substr(sealed, 2, 8)))
         ELSE 'unreadable' END) VIRTUAL;
CREATE INDEX auth_scheme_configs_sealed_key ON auth_scheme_configs (sealed_key_id, organisation_id, system_id, id)
    WHERE sealed_key_id IS NOT NULL;

ALTER TABLE oauth_states ADD COLUMN sealed_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN sealed IS NULL THEN NULL
         WHEN length(sealed) >= 9 AND substr(sealed, 1, 1) = x'01' THEN lower(hex(substr(sealed, 2, 8)))
         ELSE 'unreadable' END) VIRTUAL;
CREATE INDEX oauth_states_sealed_key ON oauth_states (sealed_key_id, organisation_id, id)
    WHERE sealed_key_id IS NOT NULL;

-- master_keys records what operators decided about master keys, by id (never the key): the key a
-- background rewrap should re-seal everything under (rewrap_requested_at), and keys retired once
-- nothing used them (retired_at), which serve refuses to seal with again. Like schema_migrations it
-- describes the deployment, not a tenant, so it has no organisation_id.
CREATE TABLE master_keys (
    key_id              TEXT   NOT NULL,
    rewrap_requested_at BIGINT,
    retired_at          BIGINT,
    PRIMARY KEY (key_id)
);
