-- 0013_change_feed: every committed change to what a replica keeps opened in memory (a connection
-- with its credentials, a system with its auth scheme configs) is announced on the channel
-- plugboard_changes, so that every replica (each LISTENs, see changes.go) drops its copy as soon
-- as the change commits, and can keep copies for long. NOTIFY is transactional: nothing is sent
-- for a change rolled back, and a change is announced once per transaction however many rows of
-- it were written. Triggers, rather than calls in the store's code, so that no write path (an
-- organisation's purge, a key rotation's rewrap, an operator's SQL) can change an existing
-- connection or system without saying so.
--
-- The payload is "c <organisation id> <connection id> <schema>" for a connection, "s <organisation
-- id> <system id> <schema>" for a system, "k <organisation id> <key id> <schema>" for an API key;
-- the schema (last, so that any name parses) lets replicas
-- of stores in different schemas of one database share the channel. SQLite needs none of this:
-- one process holds the file and drops its own copies.
--
-- A new connection, credential, link, system or config is in no replica's memory, so inserting
-- one says nothing: a link is added to an existing connection only by UpdateConnection, and a
-- config to an existing system only with its system's row updated, and those updates are
-- announced. (Announcing every new link cost 7-10% of PostgreSQL's create throughput at 64 and 500
-- concurrent creates, bench/creates, for nothing.)

-- plugboard_notify announces the connection (TG_ARGV[0] = 'c'), system ('s') or key ('k') whose id is in
-- the row's column TG_ARGV[1], as the row was before and after the change.
CREATE FUNCTION plugboard_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('plugboard_changes',
            concat_ws(' ', TG_ARGV[0], OLD.organisation_id, to_jsonb(OLD) ->> TG_ARGV[1], TG_TABLE_SCHEMA));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('plugboard_changes',
            concat_ws(' ', TG_ARGV[0], NEW.organisation_id, to_jsonb(NEW) ->> TG_ARGV[1], TG_TABLE_SCHEMA));
    END IF;
    RETURN NULL;
END $$;

-- plugboard_notify_credential announces the connection a credential belongs to (at most one:
-- connection_credentials is unique by credential). A credential not (or no longer) linked to a
-- connection is in no replica's memory. The link table is named by the trigger's own schema, so
-- that neither the writer's search path nor a renamed schema matters.
CREATE FUNCTION plugboard_notify_credential() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    org TEXT;
    cred TEXT;
    conn TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        org := OLD.organisation_id; cred := OLD.id;
    ELSE
        org := NEW.organisation_id; cred := NEW.id;
    END IF;
    FOR conn IN EXECUTE format('SELECT connection_id FROM %I.connection_credentials
            WHERE organisation_id = $1 AND credential_id = $2', TG_TABLE_SCHEMA) USING org, cred LOOP
        PERFORM pg_notify('plugboard_changes', concat_ws(' ', 'c', org, conn, TG_TABLE_SCHEMA));
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER connections_changed AFTER UPDATE OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify('c', 'id');
CREATE TRIGGER connection_credentials_changed AFTER UPDATE OR DELETE ON connection_credentials
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify('c', 'connection_id');
CREATE TRIGGER expired_credentials_changed AFTER INSERT OR UPDATE OR DELETE ON expired_credentials
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify('c', 'connection_id');
CREATE TRIGGER credentials_changed AFTER UPDATE OR DELETE ON credentials
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify_credential();
CREATE TRIGGER systems_changed AFTER UPDATE OR DELETE ON systems
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify('s', 'id');
CREATE TRIGGER auth_scheme_configs_changed AFTER UPDATE OR DELETE ON auth_scheme_configs
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify('s', 'system_id');
-- Replicas remember verified API keys: a key deleted (or changed) is announced, so that every
-- replica refuses it at once; its last use, recorded at most once a minute per key and process,
-- changes nothing a replica remembers and is not. (Compared as a whole row less last_used_at, so
-- that a column added later is announced without this trigger being touched.)
CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys
    FOR EACH ROW WHEN (to_jsonb(OLD) - 'last_used_at' IS DISTINCT FROM to_jsonb(NEW) - 'last_used_at')
    EXECUTE FUNCTION plugboard_notify('k', 'id');
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION plugboard_notify('k', 'id');
