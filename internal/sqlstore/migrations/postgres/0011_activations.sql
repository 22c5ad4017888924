-- 0011_activations: an end user activated in one environment.
--
-- An activation's connections are not listed here: they are the end user's connections linked
-- (connection_links) to a template of the environment, so that a connection created for the end user
-- under such a template belongs to the activation by construction. One activation per organisation,
-- environment and end user (UNIQUE). Deleting the end user, or the environment's project, deletes
-- its activations (the store deletes them explicitly; the foreign keys are the backstop).
--
-- Activations for the end users' existing connections are created by the store right after this
-- migration (Go code: ids are ULIDs), in the same transaction.
CREATE TABLE activations (
    organisation_id   TEXT   NOT NULL,
    id                TEXT   NOT NULL,
    environment_id    TEXT   NOT NULL,
    end_user_id       TEXT   NOT NULL,
    dynamic_variables TEXT,           -- JSON object; NULL when none were given
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, id),
    UNIQUE (organisation_id, environment_id, end_user_id),
    FOREIGN KEY (organisation_id, environment_id) REFERENCES environments (organisation_id, id),
    FOREIGN KEY (organisation_id, end_user_id) REFERENCES end_users (organisation_id, id)
);

CREATE INDEX activations_end_user ON activations (organisation_id, end_user_id, id);
