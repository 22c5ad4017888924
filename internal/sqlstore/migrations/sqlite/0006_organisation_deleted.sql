-- 0006_organisation_deleted: when an organisation was deleted (NULL while it is live). A deleted
-- organisation's API keys are refused at once; its records are purged after a grace period.
ALTER TABLE organisations ADD COLUMN deleted_at BIGINT;
