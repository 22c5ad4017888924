package connect

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/pgtest"
)

// These tests race a connect session's write (connect, reconnect, disconnect) against a revoke of
// the session or the template being made static. They need PostgreSQL: SQLite's write lock, taken
// at BEGIN, serialises the two. Neither side sleeps: each waits until the other is blocked on a
// lock (lockWaitOr) or done.

// pausingStore is a store whose transactions pause before they write a connection (create,
// update or delete) until released.
type pausingStore struct {
	plugboard.Store
	paused, release chan struct{}
}

func (p *pausingStore) InTx(ctx context.Context, fn func(tx plugboard.Store) error) error {
	return p.Store.InTx(ctx, func(tx plugboard.Store) error { return fn(&pausingTx{Store: tx, p: p}) })
}

type pausingTx struct {
	plugboard.Store
	p *pausingStore
}

func (t *pausingTx) pause() {
	t.p.paused <- struct{}{}
	<-t.p.release
}

func (t *pausingTx) CreateConnection(ctx context.Context, c *plugboard.Connection) error {
	t.pause()
	return t.Store.CreateConnection(ctx, c)
}

func (t *pausingTx) UpdateConnection(ctx context.Context, c *plugboard.Connection) ([]ulid.ULID, error) {
	t.pause()
	return t.Store.UpdateConnection(ctx, c)
}

func (t *pausingTx) DeleteConnection(ctx context.Context, orgID, id ulid.ULID) (*plugboard.DeletedConnection, error) {
	t.pause()
	return t.Store.DeleteConnection(ctx, orgID, id)
}

// lockWaitOr returns true once one of the fixture's PostgreSQL connections waits for a lock
// another holds, or false when done is closed first.
func (f *fixture) lockWaitOr(done <-chan struct{}) bool {
	f.t.Helper()
	return pgtest.LockWaitOr(f.t, f.pgApp, done)
}

// raceFixture is a fixture on PostgreSQL with a session, and the session's connection when the
// race needs one.
type raceFixture struct {
	*fixture
	cs   *plugboard.ConnectSession
	conn *plugboard.Connection
}

func newRaceFixture(t *testing.T, withConnection bool) *raceFixture {
	t.Helper()
	if !apitest.UsePostgres() {
		t.Skip("SQLite's write lock, taken at BEGIN, serialises the two; run with PLUGBOARD_TEST_STORE=postgres")
	}
	f := &raceFixture{fixture: newFixture(t)}
	f.cs = f.session(t, "user-race").Session
	if withConnection {
		res, err := f.svc.ConnectInSession(context.Background(), f.cs, apiKeyConnect(f.template, "k-old"))
		must(t, err)
		f.conn = res.Connection
		f.now = f.now.Add(time.Minute) // a later write changes UpdatedAt
	}
	return f
}

func apiKeyConnect(template ulid.ULID, key string) SessionConnect {
	return SessionConnect{TemplateID: template, AuthSchemeConfigID: "api-key", Values: map[string]string{"key": key}}
}

// sessionWrite is one of the session's writes, made with svc.
type sessionWrite struct {
	name           string
	withConnection bool
	write          func(f *raceFixture, svc *Service) error
	// stored reports whether the write left its mark in the store.
	stored func(f *raceFixture) bool
}

var sessionWrites = []sessionWrite{
	{name: "connect",
		write: func(f *raceFixture, svc *Service) error {
			_, err := svc.ConnectInSession(context.Background(), f.cs, apiKeyConnect(f.template, "k-new"))
			return err
		},
		stored: func(f *raceFixture) bool {
			c, err := f.svc.sessionConnection(context.Background(), f.cs, f.template)
			must(f.t, err)
			return c != nil
		}},
	// Not a session's write, but the API's under the same template: its static-template check
	// shares the session's read of the template.
	{name: "API connect",
		write: func(f *raceFixture, svc *Service) error {
			ctx := context.Background()
			_, _, offered, err := f.svc.templateOffer(ctx, f.store, f.org, f.template)
			must(f.t, err)
			i := slices.IndexFunc(offered, func(c api.AuthSchemeConfig) bool { return credentials.ConfigID(c) == "api-key" })
			cc, err := FormCredential(offered[i], map[string]string{"key": "k-api"})
			must(f.t, err)
			ext := "api-race"
			_, err = svc.CreateConnection(ctx, f.org, CreateInput{TemplateID: f.template, Name: "API", ExternalID: &ext,
				Credentials: []api.ConnectionCredential{cc}, CredentialsPath: "credentials"})
			return err
		},
		stored: func(f *raceFixture) bool {
			page, err := f.store.ListConnections(context.Background(), f.org, plugboard.ConnectionFilter{TemplateID: f.template},
				plugboard.PageRequest{First: 1})
			must(f.t, err)
			return len(page.Items) > 0
		}},
	{name: "reconnect", withConnection: true,
		write: func(f *raceFixture, svc *Service) error {
			_, err := svc.ReconnectInSession(context.Background(), f.cs, f.conn.ID, apiKeyConnect(f.template, "k-new"))
			return err
		},
		stored: func(f *raceFixture) bool {
			c, err := f.store.GetConnection(context.Background(), f.org, f.conn.ID)
			must(f.t, err)
			return !c.UpdatedAt.Equal(f.conn.UpdatedAt)
		}},
	{name: "disconnect", withConnection: true,
		write: func(f *raceFixture, svc *Service) error {
			_, err := svc.DisconnectInSession(context.Background(), f.cs, f.conn.ID)
			return err
		},
		stored: func(f *raceFixture) bool {
			_, err := f.store.GetConnection(context.Background(), f.org, f.conn.ID)
			if plugboard.IsCode(err, plugboard.ENotFound) {
				return true
			}
			must(f.t, err)
			return false
		}},
}

// A change that ends what the session may write: the session revoked, or its template made static.
type sessionEnd struct {
	name string
	// run makes the change in tx.
	run func(f *raceFixture, tx plugboard.Store) error
	// code is what a write refused for it answers.
	code string
	// writes says which session writes it refuses.
	writes []string
}

var sessionEnds = []sessionEnd{
	{name: "revoke", code: plugboard.EUnauthenticated, writes: []string{"connect", "reconnect", "disconnect"},
		run: func(f *raceFixture, tx plugboard.Store) error {
			_, err := tx.RevokeConnectSession(context.Background(), f.org, f.cs.ID, f.now)
			return err
		}},
	{name: "change to static", writes: []string{"connect", "API connect", "reconnect"},
		run: func(f *raceFixture, tx plugboard.Store) error {
			ctx := context.Background()
			tpl, err := tx.GetTemplate(ctx, f.org, f.template)
			if err != nil {
				return err
			}
			tpl.Dynamic = false
			return tx.UpdateTemplate(ctx, tpl)
		}},
}

func (e sessionEnd) refuses(w sessionWrite) bool {
	for _, n := range e.writes {
		if n == w.name {
			return true
		}
	}
	return false
}

// TestSessionWriteHoldsOffItsEnd: a session's write whose transaction has read the session and
// its template makes a revoke, or the template's change to static, wait until it commits; so once
// the revoke (or the change) has returned, the write has either been stored before it or not at all.
func TestSessionWriteHoldsOffItsEnd(t *testing.T) {
	for _, end := range sessionEnds {
		for _, w := range sessionWrites {
			if !end.refuses(w) {
				continue
			}
			t.Run(w.name+" then "+end.name, func(t *testing.T) {
				f := newRaceFixture(t, w.withConnection)
				p := &pausingStore{Store: f.store, paused: make(chan struct{}), release: make(chan struct{})}
				svc := *f.svc
				svc.store = p
				wrote := make(chan error, 1)
				go func() { wrote <- w.write(f, &svc) }()
				select {
				case <-p.paused: // the write's transaction has read what it checks, and not written yet
				case err := <-wrote:
					t.Fatalf("the %s ended before its write: %v", w.name, err)
				}
				ended, endErr := make(chan struct{}), error(nil)
				go func() {
					defer close(ended)
					endErr = f.store.InTx(context.Background(), func(tx plugboard.Store) error { return end.run(f, tx) })
				}()
				waited := f.lockWaitOr(ended)
				close(p.release)
				writeErr := <-wrote
				<-ended
				must(t, endErr)
				if !waited {
					t.Errorf("the %s returned while the %s's transaction was open (the %s then gave %v, stored: %v)",
						end.name, w.name, w.name, writeErr, w.stored(f))
				}
				if writeErr != nil {
					t.Errorf("the %s, which started first: %v", w.name, writeErr)
				}
			})
		}
	}
}

// TestSessionEndHoldsOffWrites: a revoke, or a change of the template to static, whose transaction
// is open makes a session's write wait for it; the write then sees it, is refused and stores nothing.
func TestSessionEndHoldsOffWrites(t *testing.T) {
	for _, end := range sessionEnds {
		for _, w := range sessionWrites {
			if !end.refuses(w) {
				continue
			}
			t.Run(end.name+" then "+w.name, func(t *testing.T) {
				f := newRaceFixture(t, w.withConnection)
				ctx := context.Background()
				paused, release, ended := make(chan struct{}), make(chan struct{}), make(chan error, 1)
				go func() {
					ended <- f.store.InTx(ctx, func(tx plugboard.Store) error {
						if err := end.run(f, tx); err != nil {
							return err
						}
						paused <- struct{}{}
						<-release
						return nil
					})
				}()
				select {
				case <-paused: // made, not yet committed
				case err := <-ended:
					t.Fatalf("%s: %v", end.name, err)
				}
				wrote, writeErr := make(chan struct{}), error(nil)
				go func() {
					defer close(wrote)
					writeErr = w.write(f, f.svc)
				}()
				waited := f.lockWaitOr(wrote)
				close(release)
				must(t, <-ended)
				<-wrote
				if !waited {
					t.Errorf("the %s did not wait for the open %s", w.name, end.name)
				}
				if writeErr == nil {
					t.Errorf("the %s committed, then the %s was stored anyway", end.name, w.name)
				} else if end.code != "" && !plugboard.IsCode(writeErr, end.code) {
					t.Errorf("the %s after the %s: %v, want %s", w.name, end.name, writeErr, end.code)
				}
				if w.stored(f) {
					t.Errorf("the %s answered %v and was stored", w.name, writeErr)
				}
			})
		}
	}
}
