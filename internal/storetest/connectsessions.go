package storetest

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

func (f *fixture) newConnectSession(t *testing.T, user ulid.ULID, token string) *plugboard.ConnectSession {
	t.Helper()
	h := sha256.Sum256([]byte(token))
	cs := &plugboard.ConnectSession{ID: ulid.Make(), OrganisationID: f.org, EnvironmentID: f.prod, EndUserID: user,
		TemplateIDs: []ulid.ULID{f.dynamic.ID}, TokenHash: h[:], ReturnURL: "https://app.example/done",
		AllowedOrigins: []string{"https://app.example"}, ExpiresAt: at(30), CreatedAt: at(0)}
	must(t, f.s.CreateConnectSession(f.ctx, cs))
	return cs
}

// testConnectSessions: a session reads back as written, by id and by its token's hash, only in its
// organisation; revoke and complete are set once; missing environment or end user is ENotFound;
// deleting the end user deletes its sessions.
func testConnectSessions(t *testing.T, f *fixture) {
	cs := f.newConnectSession(t, f.user.ID, "token-1")
	got, err := f.s.GetConnectSession(f.ctx, f.org, cs.ID)
	must(t, err)
	if got.EnvironmentID != f.prod || got.EndUserID != f.user.ID || !slices.Equal(got.TemplateIDs, cs.TemplateIDs) ||
		!bytes.Equal(got.TokenHash, cs.TokenHash) || got.ReturnURL != cs.ReturnURL || !slices.Equal(got.AllowedOrigins, cs.AllowedOrigins) ||
		!got.ExpiresAt.Equal(at(30).Truncate(time.Microsecond)) || got.RevokedAt != nil || got.CompletedAt != nil {
		t.Errorf("got %+v, want %+v", got, cs)
	}
	if _, err := f.s.GetConnectSession(f.ctx, f.other, cs.ID); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("other organisation: %v", err)
	}
	found, err := f.s.FindConnectSession(f.ctx, cs.ID)
	must(t, err)
	if found.OrganisationID != f.org || found.EndUserID != f.user.ID {
		t.Errorf("found %+v", found)
	}
	if _, err := f.s.FindConnectSession(f.ctx, ulid.Make()); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("find unknown: %v", err)
	}
	byHash, err := f.s.GetConnectSessionByTokenHash(f.ctx, cs.TokenHash)
	must(t, err)
	if byHash.ID != cs.ID || byHash.OrganisationID != f.org {
		t.Errorf("by hash: %+v", byHash)
	}
	other := sha256.Sum256([]byte("token-2"))
	if _, err := f.s.GetConnectSessionByTokenHash(f.ctx, other[:]); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	if _, err := f.s.GetConnectSessionByTokenHash(f.ctx, nil); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("empty hash: %v", err)
	}

	revoked, err := f.s.RevokeConnectSession(f.ctx, f.org, cs.ID, at(10))
	must(t, err)
	revokedAgain, err := f.s.RevokeConnectSession(f.ctx, f.org, cs.ID, at(20))
	must(t, err)
	if !revoked || revokedAgain {
		t.Errorf("revoke reported %v then %v, want true then false", revoked, revokedAgain)
	}
	if got, _ := f.s.GetConnectSession(f.ctx, f.org, cs.ID); got.RevokedAt == nil || !got.RevokedAt.Equal(at(10).Truncate(time.Microsecond)) {
		t.Errorf("revoked at %v, want the first revoke's time", got.RevokedAt)
	}
	if _, err := f.s.RevokeConnectSession(f.ctx, f.other, cs.ID, at(10)); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("revoke in another organisation: %v", err)
	}
	first, err := f.s.CompleteConnectSession(f.ctx, f.org, cs.ID, at(11))
	must(t, err)
	again, err := f.s.CompleteConnectSession(f.ctx, f.org, cs.ID, at(12))
	must(t, err)
	if !first || again {
		t.Errorf("complete reported %v then %v, want true then false", first, again)
	}
	if _, err := f.s.CompleteConnectSession(f.ctx, f.org, ulid.Make(), at(12)); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("complete unknown: %v", err)
	}

	// The same token hash cannot be stored twice.
	dup := &plugboard.ConnectSession{ID: ulid.Make(), OrganisationID: f.org, EnvironmentID: f.prod, EndUserID: f.user.ID,
		TokenHash: cs.TokenHash, ExpiresAt: at(30), CreatedAt: at(0)}
	if err := f.s.CreateConnectSession(f.ctx, dup); !plugboard.IsCode(err, plugboard.EConflict) {
		t.Errorf("duplicate token hash: %v", err)
	}
	h := sha256.Sum256([]byte("token-3"))
	missing := &plugboard.ConnectSession{ID: ulid.Make(), OrganisationID: f.org, EnvironmentID: ulid.Make(), EndUserID: f.user.ID,
		TokenHash: h[:], ExpiresAt: at(30), CreatedAt: at(0)}
	if err := f.s.CreateConnectSession(f.ctx, missing); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("unknown environment: %v", err)
	}
	missing.EnvironmentID, missing.EndUserID = f.prod, ulid.Make()
	if err := f.s.CreateConnectSession(f.ctx, missing); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("unknown end user: %v", err)
	}

	// Deleting the end user deletes its sessions.
	u := f.newEndUser(t, f.org, "customer-sessions", "")
	gone := f.newConnectSession(t, u.ID, "token-4")
	if _, err := f.s.DeleteEndUser(f.ctx, f.org, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.GetConnectSession(f.ctx, f.org, gone.ID); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("session of a deleted end user: %v", err)
	}
}

// testTemplateBaseURLOverride: allowBaseUrlOverride is stored on create and update.
func testTemplateBaseURLOverride(t *testing.T, f *fixture) {
	tpl := &plugboard.ConnectionTemplate{ID: ulid.Make(), OrganisationID: f.org, ProjectID: f.project.ID, EnvironmentID: f.prod,
		SystemID: f.system.ID, Name: "own-instance", Dynamic: true, AllowBaseURLOverride: true, CreatedAt: at(3), UpdatedAt: at(3)}
	must(t, f.s.CreateTemplate(f.ctx, tpl))
	got, err := f.s.GetTemplate(f.ctx, f.org, tpl.ID)
	must(t, err)
	if !got.AllowBaseURLOverride {
		t.Error("allowBaseUrlOverride not stored on create")
	}
	got.AllowBaseURLOverride = false
	must(t, f.s.UpdateTemplate(f.ctx, got))
	if got, _ := f.s.GetTemplate(f.ctx, f.org, tpl.ID); got.AllowBaseURLOverride {
		t.Error("allowBaseUrlOverride not cleared on update")
	}
	if got, _ := f.s.GetTemplate(f.ctx, f.org, f.dynamic.ID); got.AllowBaseURLOverride {
		t.Error("allowBaseUrlOverride defaults to true")
	}
}

// testShareSessionAndTemplate: ShareConnectSession and ShareTemplate read what GetConnectSession
// and GetTemplate read, only in a transaction, only in their organisation; a change committed
// before the read is seen by it.
func testShareSessionAndTemplate(t *testing.T, f *fixture) {
	cs := f.newConnectSession(t, f.user.ID, "token-share")
	if _, err := f.s.ShareConnectSession(f.ctx, f.org, cs.ID); err == nil {
		t.Error("ShareConnectSession outside a transaction should be refused")
	}
	if _, err := f.s.ShareTemplate(f.ctx, f.org, f.dynamic.ID); err == nil {
		t.Error("ShareTemplate outside a transaction should be refused")
	}
	_, err := f.s.RevokeConnectSession(f.ctx, f.org, cs.ID, at(5))
	must(t, err)
	must(t, f.s.InTx(f.ctx, func(tx plugboard.Store) error {
		got, err := tx.ShareConnectSession(f.ctx, f.org, cs.ID)
		must(t, err)
		if got.ID != cs.ID || got.EndUserID != f.user.ID || got.RevokedAt == nil || !got.RevokedAt.Equal(at(5).Truncate(time.Microsecond)) {
			t.Errorf("shared session %+v", got)
		}
		for _, org := range []ulid.ULID{f.other, f.org} {
			id := cs.ID
			if org == f.org {
				id = ulid.Make()
			}
			if _, err := tx.ShareConnectSession(f.ctx, org, id); !plugboard.IsCode(err, plugboard.ENotFound) {
				t.Errorf("share session %s of %s: %v", id, org, err)
			}
		}
		tpl, err := tx.ShareTemplate(f.ctx, f.org, f.dynamic.ID)
		must(t, err)
		want, err := tx.GetTemplate(f.ctx, f.org, f.dynamic.ID)
		must(t, err)
		if tpl.ID != want.ID || tpl.Dynamic != want.Dynamic || tpl.EnvironmentID != want.EnvironmentID || tpl.SystemID != want.SystemID ||
			!slices.Equal(tpl.AuthSchemeConfigIDs, want.AuthSchemeConfigIDs) || !tpl.UpdatedAt.Equal(want.UpdatedAt) {
			t.Errorf("shared template %+v, want %+v", tpl, want)
		}
		if _, err := tx.ShareTemplate(f.ctx, f.other, f.dynamic.ID); !plugboard.IsCode(err, plugboard.ENotFound) {
			t.Errorf("share template of another organisation: %v", err)
		}
		if _, err := tx.ShareTemplate(f.ctx, f.org, ulid.Make()); !plugboard.IsCode(err, plugboard.ENotFound) {
			t.Errorf("share unknown template: %v", err)
		}
		return nil
	}))
}
