-- 0005_api_key_lifecycle: API keys may expire, and record (sampled, at most once a minute per key
-- and process) when they were last used. Both are Unix nanoseconds like every timestamp; NULL
-- means never: keys made before this migration do not expire and have no recorded use.
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
