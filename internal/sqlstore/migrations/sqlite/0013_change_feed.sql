-- 0013_change_feed: nothing on SQLite. On PostgreSQL this migration makes triggers announce every
-- change to a connection or a system to all replicas (see migrations/postgres/0013_change_feed.sql);
-- an SQLite file is held by one process, whose own changes drop what it keeps in memory. Kept so
-- that both dialects number their migrations alike.
SELECT 1;
