package httpapi_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
)

// TestConnectSessionCreateHoldsTheEndUser: on PostgreSQL, creating a connect session holds its
// end user's row until it commits, so an end user deleted meanwhile takes the new session with
// it (the delete waits for the commit) instead of leaving a session of a deleted end user.
func TestConnectSessionCreateHoldsTheEndUser(t *testing.T) {
	if !usePostgres() {
		t.Skip("SQLite's write lock, taken at BEGIN, serialises the two; run with " + EnvStore + "=postgres")
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
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.BaseURL(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	app := pgtest.Schema(h.pgURL)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		if n > 0 {
			return true
		}
		select {
		case <-done:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}
