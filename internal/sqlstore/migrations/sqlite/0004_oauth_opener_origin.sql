-- 0004_oauth_opener_origin: the origin (scheme://host[:port]) a flow's callback page may post its
-- result to, named at initialise. Empty means the server's own public origin, never any origin.
ALTER TABLE oauth_states ADD COLUMN opener_origin TEXT NOT NULL DEFAULT '';
