package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/pgtest"
)

// TestConnectSessionTokenStoredHashed: the stored session row holds the SHA-256 of the token, and
// no part of the token's random text is anywhere in the database (the row, the SQLite file and
// its WAL, or a dump of the PostgreSQL schema).
func TestConnectSessionTokenStoredHashed(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "customer-hash"}, "environmentId": f.envID,
		"templateIds": arr{f.templates["api-key"]}})
	h.must(200, h.page(cs.Token, "GET", "/session", nil)) // the token works
	db, q := h.rawDB()
	defer db.Close()
	rows, err := db.Query(q("SELECT * FROM connect_sessions WHERE organisation_id = ? AND id = ?"), h.org.String(), cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("no stored row for session %s", cs.ID)
	}
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	random := strings.TrimPrefix(cs.Token, "pbcs_")
	want := sha256.Sum256([]byte(cs.Token))
	hashed := false
	for i, col := range cols {
		var text []byte
		switch v := values[i].(type) {
		case []byte:
			text = v
		case string:
			text = []byte(v)
		}
		if col == "token_hash" {
			hashed = bytes.Equal(text, want[:])
			if !hashed {
				t.Errorf("token_hash is %x, want the SHA-256 of the token %x", text, want)
			}
		}
		if holdsPart(text, random) {
			t.Errorf("column %s holds the token or a part of it", col)
		}
	}
	if !hashed && !t.Failed() {
		t.Error("the row has no token_hash column")
	}
	for name, dump := range h.databaseDumps() {
		if holdsPart(dump, random) {
			t.Errorf("%s holds the token or a part of it", name)
		}
	}
}

// holdsPart reports whether data holds any 12 characters in a row of token (72 random bits).
func holdsPart(data []byte, token string) bool {
	for i := 0; i+12 <= len(token); i++ {
		if bytes.Contains(data, []byte(token[i:i+12])) {
			return true
		}
	}
	return false
}

// TestConnectPageOtherTemplateConnection: a session may change only connections under its own
// templates: the same end user's connection under a template outside the session is not found,
// to reconnect as to disconnect, and stays as it was.
func TestConnectPageOtherTemplateConnection(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "customer-tpl"}, "environmentId": f.envID,
		"templateIds": arr{f.templates["api-key"]}})
	samples := storableSamples(t, "https://provider.example/token")
	body := connectionBody(f.templates["basic"], "outside", samples[2], configByID("basic"))
	body["externalId"] = "customer-tpl" // the session's own end user
	var outside connectionView
	h.must(201, h.do("POST", "/connections", body)).JSON(t, &outside)
	var s pageSession
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
	if outside.EndUserID != s.EndUser.ID {
		t.Fatalf("the connection's end user %s is not the session's %s", outside.EndUserID, s.EndUser.ID)
	}
	refused(t, h.page(cs.Token, "PUT", "/connections/"+outside.ID, obj{"templateId": f.templates["basic"], "authSchemeConfigId": "basic",
		"values": obj{"username": "u", "password": "p"}}), 404, "not_found", "connection not found", "connectionId")
	refused(t, h.page(cs.Token, "PUT", "/connections/"+outside.ID, obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key",
		"values": obj{"key": "k"}}), 404, "not_found", "connection not found", "connectionId")
	refused(t, h.page(cs.Token, "DELETE", "/connections/"+outside.ID, nil), 404, "not_found", "connection not found", "connectionId")
	var after connectionView
	h.must(200, h.do("GET", "/connections/"+outside.ID, nil)).JSON(t, &after)
	if got := openStoredSecret(t, h, after.Credentials[0].Credential.ID); !strings.Contains(got, "SECRET-basic-password-91c2") {
		t.Error("the connection outside the session was changed")
	}
}

// TestConnectSessionCreateHoldsTheEndUser: on PostgreSQL, creating a connect session holds its
// end user's row until it commits, so an end user deleted meanwhile takes the new session with
// it (the delete waits for the commit) instead of leaving a session of a deleted end user.
func TestConnectSessionCreateHoldsTheEndUser(t *testing.T) {
	if !apitest.UsePostgres() {
		t.Skip("SQLite's write lock, taken at BEGIN, serialises the two; run with " + apitest.EnvStore + "=postgres")
	}
	h := newHarness(t)
	f := h.fixture()
	first := h.newConnectSession(obj{"endUser": obj{"externalId": "customer-race"}, "environmentId": f.envID})
	var s pageSession
	h.must(200, h.page(first.Token, "GET", "/session", nil)).JSON(t, &s)
	ctx := context.Background()
	hash := sha256.Sum256([]byte("pbcs_racing-token"))
	racing := &plugboard.ConnectSession{ID: ulid.Make(), OrganisationID: h.org, EnvironmentID: ulid.MustParseStrict(f.envID),
		EndUserID: ulid.MustParseStrict(s.EndUser.ID), TokenHash: hash[:], ExpiresAt: h.clock().Add(30 * time.Minute), CreatedAt: h.clock()}

	paused, release, created := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		created <- h.store.InTx(ctx, func(tx plugboard.Store) error {
			if err := tx.CreateConnectSession(ctx, racing); err != nil {
				return err
			}
			paused <- struct{}{}
			<-release
			return nil
		})
	}()
	select {
	case <-paused: // created, not yet committed
	case err := <-created:
		t.Fatalf("create: %v", err)
	}
	var status int
	deleted := make(chan struct{})
	go func() {
		defer close(deleted)
		status = h.do("DELETE", "/users/"+s.EndUser.ID, nil).Status
	}()
	waited := h.lockWaitOr(deleted)
	close(release)
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	<-deleted
	if status != 204 {
		t.Fatalf("delete end user: %d", status)
	}
	if _, err := h.store.GetConnectSession(ctx, h.org, racing.ID); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("a connect session outlives its deleted end user (the delete waited for the create: %v): %v", waited, err)
	}
}

// lockWaitOr returns true once one of the harness's PostgreSQL sessions waits for a lock another
// holds, or false when done is closed first.
func (h *harness) lockWaitOr(done <-chan struct{}) bool {
	h.t.Helper()
	return pgtest.LockWaitOr(h.t, pgtest.Schema(h.pgURL), done)
}
