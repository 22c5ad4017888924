-- 0003_refresh_due: when the background refresher should refresh a credential's token (NULL: never).
-- Its index spans organisations on purpose: it is the refresher's work queue across tenants, the one
-- lookup that does not start from an organisation.
ALTER TABLE credentials ADD COLUMN refresh_due BIGINT;
CREATE INDEX credentials_refresh_due ON credentials (refresh_due) WHERE refresh_due IS NOT NULL;
