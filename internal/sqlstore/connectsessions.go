package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

const connectSessionCols = `organisation_id, id, environment_id, end_user_id, template_ids, token_hash, return_url,
	allowed_origins, expires_at, revoked_at, completed_at, created_at`

func scanConnectSession(r interface{ Scan(...any) error }) (*plugboard.ConnectSession, error) {
	var cs plugboard.ConnectSession
	var templates []string
	err := r.Scan(idCol{&cs.OrganisationID}, idCol{&cs.ID}, idCol{&cs.EnvironmentID}, idCol{&cs.EndUserID},
		stringsCol{&templates}, bytesCol{&cs.TokenHash}, &cs.ReturnURL, stringsCol{&cs.AllowedOrigins},
		timeCol{&cs.ExpiresAt}, nullTimeCol{&cs.RevokedAt}, nullTimeCol{&cs.CompletedAt}, timeCol{&cs.CreatedAt})
	if err != nil {
		return nil, err
	}
	for _, t := range templates {
		id, err := ulid.ParseStrict(t)
		if err != nil {
			return nil, err
		}
		cs.TemplateIDs = append(cs.TemplateIDs, id)
	}
	return &cs, nil
}

// CreateConnectSession inserts cs after checking that its environment and end user exist, so that
// the ENotFound names the missing one; the end user is held until commit (see below).
func (o *ops) CreateConnectSession(ctx context.Context, cs *plugboard.ConnectSession) error {
	if err := requireID(cs.ID, "connect session"); err != nil {
		return err
	}
	if len(cs.TokenHash) == 0 {
		return plugboard.Errorf(plugboard.EInvalid, "connect session needs a token hash")
	}
	cs.CreatedAt = normTime(cs.CreatedAt)
	cs.ExpiresAt = normTime(cs.ExpiresAt)
	return o.inTx(ctx, func(o *ops) error {
		org := idValue(cs.OrganisationID)
		ok, err := o.exists(ctx, "SELECT 1 FROM environments WHERE organisation_id = ? AND id = ?", org, idValue(cs.EnvironmentID))
		if err != nil {
			return err
		}
		if !ok {
			return plugboard.Errorf(plugboard.ENotFound, "environment %s not found", cs.EnvironmentID)
		}
		// As in CreateConnection: on PostgreSQL the share lock holds the end user's row until
		// commit, so a concurrent DeleteEndUser (which locks that row first) either waits and then
		// deletes this session too, or wins and this check fails.
		if ok, err = o.exists(ctx, "SELECT 1 FROM end_users WHERE organisation_id = ? AND id = ?"+o.d.forShare, org, idValue(cs.EndUserID)); err != nil {
			return err
		}
		if !ok {
			return plugboard.Errorf(plugboard.ENotFound, "end user %s not found", cs.EndUserID)
		}
		templates := make([]string, len(cs.TemplateIDs))
		for i, t := range cs.TemplateIDs {
			templates[i] = t.String()
		}
		_, err = o.exec(ctx, "INSERT INTO connect_sessions ("+connectSessionCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			org, idValue(cs.ID), idValue(cs.EnvironmentID), idValue(cs.EndUserID), jsonValue(templates, "[]"), cs.TokenHash,
			cs.ReturnURL, jsonValue(cs.AllowedOrigins, "[]"), timeValue(cs.ExpiresAt), nullTimeValue(cs.RevokedAt),
			nullTimeValue(cs.CompletedAt), timeValue(cs.CreatedAt))
		return o.d.translate(err, "insert connect session", &onError{conflict: "connect session already exists"})
	})
}

// GetConnectSession returns the session or ENotFound.
func (o *ops) GetConnectSession(ctx context.Context, orgID, id ulid.ULID) (*plugboard.ConnectSession, error) {
	return o.getConnectSession(ctx, orgID, id, "")
}

// getConnectSession reads a session, with lock (a dialect's forShare, or "") after the SELECT.
func (o *ops) getConnectSession(ctx context.Context, orgID, id ulid.ULID, lock string) (*plugboard.ConnectSession, error) {
	cs, err := scanConnectSession(o.queryRow(ctx, "SELECT "+connectSessionCols+" FROM connect_sessions WHERE organisation_id = ? AND id = ?"+lock,
		idValue(orgID), idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "get connect session", &onError{notFound: "connect session " + id.String() + " not found"})
	}
	return cs, nil
}

// ShareConnectSession returns the session and holds its row until the transaction ends. On
// PostgreSQL (READ COMMITTED) FOR SHARE makes a concurrent revoke's UPDATE wait for this commit,
// and makes this read wait for a revoke in progress and return the row as it committed it. On
// SQLite the transaction's write lock, taken at BEGIN IMMEDIATE, already excludes every writer.
func (o *ops) ShareConnectSession(ctx context.Context, orgID, id ulid.ULID) (*plugboard.ConnectSession, error) {
	if o.tx == nil {
		return nil, plugboard.Internal(fmt.Errorf("ShareConnectSession needs a transaction"))
	}
	return o.getConnectSession(ctx, orgID, id, o.d.forShare)
}

// FindConnectSession returns the session with the id in any organisation, or ENotFound.
func (o *ops) FindConnectSession(ctx context.Context, id ulid.ULID) (*plugboard.ConnectSession, error) {
	cs, err := scanConnectSession(o.queryRow(ctx, "SELECT "+connectSessionCols+" FROM connect_sessions WHERE id = ?", idValue(id)))
	if err != nil {
		return nil, o.d.translate(err, "find connect session", &onError{notFound: "connect session " + id.String() + " not found"})
	}
	return cs, nil
}

// GetConnectSessionByTokenHash returns the session whose token hashes to hash, or ENotFound.
func (o *ops) GetConnectSessionByTokenHash(ctx context.Context, hash []byte) (*plugboard.ConnectSession, error) {
	if len(hash) == 0 {
		return nil, plugboard.Errorf(plugboard.ENotFound, "connect session not found")
	}
	cs, err := scanConnectSession(o.queryRow(ctx, "SELECT "+connectSessionCols+" FROM connect_sessions WHERE token_hash = ?", hash))
	if err != nil {
		return nil, o.d.translate(err, "get connect session", &onError{notFound: "connect session not found"})
	}
	return cs, nil
}

// RevokeConnectSession sets revoked_at unless it is set, and reports whether it did.
func (o *ops) RevokeConnectSession(ctx context.Context, orgID, id ulid.ULID, at time.Time) (bool, error) {
	return o.setSessionTimeOnce(ctx, "revoked_at", "revoke connect session", orgID, id, at)
}

// CompleteConnectSession sets completed_at unless it is set, and reports whether it did.
func (o *ops) CompleteConnectSession(ctx context.Context, orgID, id ulid.ULID, at time.Time) (bool, error) {
	return o.setSessionTimeOnce(ctx, "completed_at", "complete connect session", orgID, id, at)
}

// setSessionTimeOnce sets a session's column (revoked_at, completed_at) to at unless it is set,
// and reports whether it did; ENotFound when the session does not exist. The update runs first;
// only when it changed nothing is the session read, to tell "already set" from "not found".
func (o *ops) setSessionTimeOnce(ctx context.Context, column, what string, orgID, id ulid.ULID, at time.Time) (bool, error) {
	var done bool
	err := o.inTx(ctx, func(o *ops) error {
		res, err := o.exec(ctx, "UPDATE connect_sessions SET "+column+" = ? WHERE organisation_id = ? AND id = ? AND "+column+" IS NULL",
			timeValue(at), idValue(orgID), idValue(id))
		if err != nil {
			return o.d.translate(err, what, nil)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if done = n == 1; !done {
			_, err = o.GetConnectSession(ctx, orgID, id)
		}
		return err
	})
	return done, err
}
