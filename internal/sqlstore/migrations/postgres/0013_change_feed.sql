-- 0013_change_feed: every committed change to what a replica keeps opened in memory (a connection
-- with its credentials, a system with its auth scheme configs) is announced on the channel
-- plugboard_changes, so that every replica (each LISTENs, see changes.go) drops its copy as soon
-- as the change commits, and can keep copies for long. NOTIFY is transactional: nothing is sent
-- for a change rolled back, and a change is announced once per transaction however many rows of
-- it were written. Triggers, rather than calls in the store's code, so that no write path (bulk
-- loads, cascades, an operator's SQL) can change a connection without saying so.
--
-- The payload is "<schema> c <organisation id> <connection id>" for a connection, "<schema> s
-- <organisation id> <system id>" for a system; the schema lets replicas of stores in different
-- schemas of one database share the channel. SQLite needs none of this: one process holds the
-- file and drops its own copies.

-- plugboard_notify_connection announces the connection whose id is in the row's column TG_ARGV[0].
-- (The INSERT branches serve the tables whose inserts are announced.)
CREATE FUNCTION plugboard_notify_connection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('plugboard_changes',
            concat_ws(' ', TG_TABLE_SCHEMA, 'c', OLD.organisation_id, to_jsonb(OLD) ->> TG_ARGV[0]));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('plugboard_changes',
            concat_ws(' ', TG_TABLE_SCHEMA, 'c', NEW.organisation_id, to_jsonb(NEW) ->> TG_ARGV[0]));
    END IF;
    RETURN NULL;
END $$;

-- plugboard_notify_system announces the system whose id is in the row's column TG_ARGV[0].
CREATE FUNCTION plugboard_notify_system() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('plugboard_changes',
            concat_ws(' ', TG_TABLE_SCHEMA, 's', OLD.organisation_id, to_jsonb(OLD) ->> TG_ARGV[0]));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('plugboard_changes',
            concat_ws(' ', TG_TABLE_SCHEMA, 's', NEW.organisation_id, to_jsonb(NEW) ->> TG_ARGV[0]));
    END IF;
    RETURN NULL;
END $$;

-- plugboard_notify_credential announces the connection a credential belongs to (at most one:
-- connection_credentials is unique by credential). A credential not (or no longer) linked to a
-- connection is in no replica's memory. The search path is the one the function was created
-- with, so that a write under another search path still finds the schema's link table.
CREATE FUNCTION plugboard_notify_credential() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    org TEXT;
    cred TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        org := OLD.organisation_id; cred := OLD.id;
    ELSE
        org := NEW.organisation_id; cred := NEW.id;
    END IF;
    PERFORM pg_notify('plugboard_changes', concat_ws(' ', TG_TABLE_SCHEMA, 'c', org, cc.connection_id))
    FROM connection_credentials cc
    WHERE cc.organisation_id = org AND cc.credential_id = cred;
    RETURN NULL;
END $$;

-- A new connection, credential or link is in no replica's memory, so inserting one says nothing:
-- a link is added to an existing connection only by UpdateConnection, which updates the
-- connection's row, and that is announced. (Announcing every new link cost 7-10% of PostgreSQL's
-- create throughput at 64 and 500 concurrent creates, bench/creates, for nothing.) An expiry gap
-- recorded changes the connection.
CREATE TRIGGER connections_changed AFTER UPDATE OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify_connection('id');
CREATE TRIGGER connection_credentials_changed AFTER UPDATE OR DELETE ON connection_credentials
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify_connection('connection_id');
CREATE TRIGGER expired_credentials_changed AFTER INSERT OR UPDATE OR DELETE ON expired_credentials
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify_connection('connection_id');
CREATE TRIGGER credentials_changed AFTER UPDATE OR DELETE ON credentials
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify_credential();
CREATE TRIGGER systems_changed AFTER UPDATE OR DELETE ON systems
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify_system('id');
CREATE TRIGGER auth_scheme_configs_changed AFTER INSERT OR UPDATE OR DELETE ON auth_scheme_configs
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify_system('system_id');
