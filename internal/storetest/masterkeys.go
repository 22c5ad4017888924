package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/vault"
)

// testSealedKeyIDs: every table of sealed values keeps, beside each value, the id of the master key
// it names, exactly as the vault reads it (and "unreadable" for a value in no known format); counts
// and the ordered walk a rotation takes read it; ReplaceSealed swaps only an unchanged value.
func testSealedKeyIDs(t *testing.T, f *fixture) {
	a, err := vault.Parse(vault.NewKey())
	must(t, err)
	b, err := vault.Parse(vault.NewKey())
	must(t, err)
	seal := func(sealed []byte, err error) []byte {
		t.Helper()
		must(t, err)
		return sealed
	}

	// Credentials: two of a connection under a, one standalone under b, one without secrets; the
	// fixture's own values are in no known format.
	c1, c2 := cred("api-key", "one"), cred("api-key", "two")
	c1.Credential.Sealed = seal(a.SealCredential(f.org, c1.Credential.ID, []byte("one")))
	c2.Credential.Sealed = seal(a.SealCredential(f.org, c2.Credential.ID, []byte("two")))
	c3 := cred("api-key", "three")
	c3.Credential.Sealed = nil
	f.newConn(t, f.static, ulid.ULID{}, "sealed", c1, c2, c3)
	standalone := &plugboard.Credential{ID: ulid.Make(), OrganisationID: f.other, Type: "oauth2-client", Name: "grant",
		Public: json.RawMessage(`{}`), CreatedAt: at(1), UpdatedAt: at(1)}
	standalone.Sealed = seal(b.SealCredential(f.other, standalone.ID, []byte("client-secret")))
	must(t, f.s.CreateCredential(f.ctx, standalone))
	f.newConn(t, f.static, ulid.ULID{}, "unreadable", cred("api-key", "x"))

	// An auth scheme config under b (the fixture's oauth2 config is in no known format).
	cfg := plugboard.AuthSchemeConfig{ID: "oauth1", Type: "oauth1", Config: json.RawMessage(`{"consumerKey":"k","consumerSecret":""}`)}
	cfg.Sealed = seal(b.SealConfig(f.org, f.system.ID, cfg.ID, []byte("consumer-secret")))
	_, err = f.s.UpsertAuthSchemeConfig(f.ctx, f.org, f.system.ID, cfg)
	must(t, err)

	// An OAuth state under a.
	now := time.Now().UTC().Truncate(time.Microsecond)
	st := &plugboard.OAuthState{ID: "state-hash", OrganisationID: f.org, Kind: "oauth2", SystemID: f.system.ID, ConfigID: "oauth2",
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	st.Sealed = seal(a.SealState(f.org, st.ID, []byte("verifier")))
	must(t, f.s.CreateOAuthState(f.ctx, st))

	A, B := a.PrimaryKeyID(), b.PrimaryKeyID()
	counts, err := f.s.CountSealed(f.ctx)
	must(t, err)
	got := map[string]int{}
	for _, c := range counts {
		got[c.Table+"/"+c.KeyID] = c.Count
	}
	want := map[string]int{
		"credentials/" + A: 2, "credentials/" + B: 1, "credentials/unreadable": 1,
		"auth_scheme_configs/" + B: 1, "auth_scheme_configs/unreadable": 1,
		"oauth_states/" + A: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}

	// The walk: every record of a table not under the excepted key, in key id order, a page at a
	// time, each with the key id the vault reads from its value.
	for _, table := range plugboard.SealedTables {
		var all []plugboard.SealedRecord
		var after *plugboard.SealedRecord
		for {
			page, err := f.s.ListSealed(f.ctx, table, "", after, 1)
			must(t, err)
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = &page[len(page)-1]
		}
		n := 0
		for k, c := range want {
			if len(k) > len(table) && k[:len(table)+1] == table+"/" {
				n += c
			}
		}
		if len(all) != n {
			t.Errorf("%s: walked %d records, want %d", table, len(all), n)
		}
		for i, r := range all {
			if i > 0 && all[i-1].KeyID > r.KeyID {
				t.Errorf("%s: not in key id order: %s after %s", table, r.KeyID, all[i-1].KeyID)
			}
			if id, err := vault.KeyIDOf(r.Sealed); (err == nil && id != r.KeyID) || (err != nil && r.KeyID != "unreadable") {
				t.Errorf("%s %s: stored key id %s, the value names %s (%v)", table, r.ID, r.KeyID, id, err)
			}
			if r.Table != table || r.OrganisationID == (ulid.ULID{}) || (table == "auth_scheme_configs") != (r.SystemID != ulid.ULID{}) {
				t.Errorf("%s: record %+v", table, r)
			}
		}
		except, err := f.s.ListSealed(f.ctx, table, A, nil, 100)
		must(t, err)
		for _, r := range except {
			if r.KeyID == A {
				t.Errorf("%s: listed a record under the excepted key", table)
			}
		}
	}
	if _, err := f.s.ListSealed(f.ctx, "connections", "", nil, 1); !plugboard.IsCode(err, plugboard.EInvalid) {
		t.Errorf("unknown table: %v", err)
	}

	// ReplaceSealed swaps an unchanged value, and only that: the key id follows the value, nothing
	// else of the record moves, and a value that changed meanwhile is left alone.
	recs, err := f.s.ListSealed(f.ctx, "credentials", B, nil, 100)
	must(t, err)
	var r1 plugboard.SealedRecord
	for _, r := range recs {
		if r.ID == c1.Credential.ID.String() {
			r1 = r
		}
	}
	if r1.ID == "" {
		t.Fatal("credential one not listed")
	}
	resealed := seal(b.SealCredential(f.org, c1.Credential.ID, []byte("one")))
	ok, err := f.s.ReplaceSealed(f.ctx, r1, resealed)
	if err != nil || !ok {
		t.Fatalf("replace: %v %v", ok, err)
	}
	ok, err = f.s.ReplaceSealed(f.ctx, r1, seal(b.SealCredential(f.org, c1.Credential.ID, []byte("stale"))))
	if err != nil || ok {
		t.Errorf("replace of a value that changed: %v %v, want false", ok, err)
	}
	stored, err := f.s.GetCredential(f.ctx, f.org, c1.Credential.ID)
	must(t, err)
	if string(stored.Sealed) != string(resealed) || !stored.UpdatedAt.Equal(c1.Credential.UpdatedAt.Truncate(time.Microsecond)) || stored.Name != "one" {
		t.Errorf("after replace: %+v", stored)
	}
	for _, r := range []plugboard.SealedRecord{
		{Table: "auth_scheme_configs", OrganisationID: f.org, SystemID: f.system.ID, ID: cfg.ID, Sealed: cfg.Sealed},
		{Table: "oauth_states", OrganisationID: f.org, ID: st.ID, Sealed: st.Sealed},
	} {
		ok, err := f.s.ReplaceSealed(f.ctx, r, []byte(fmt.Sprintf("\x01%-8s-replaced", "zz")))
		if err != nil || !ok {
			t.Errorf("replace %s: %v %v", r.Table, ok, err)
		}
	}
	counts, err = f.s.CountSealed(f.ctx)
	must(t, err)
	got = map[string]int{}
	for _, c := range counts {
		got[c.Table+"/"+c.KeyID] = c.Count
	}
	zz := fmt.Sprintf("%x", fmt.Sprintf("%-8s", "zz"))
	if got["credentials/"+A] != 1 || got["credentials/"+B] != 2 || got["auth_scheme_configs/"+zz] != 1 || got["oauth_states/"+zz] != 1 {
		t.Errorf("counts after replace: %v", got)
	}

	// Master key records: one rewrap target at a time; retiring keeps the first time and ends a
	// request.
	keys, err := f.s.ListMasterKeys(f.ctx)
	must(t, err)
	if len(keys) != 0 {
		t.Errorf("master keys on a new store: %+v", keys)
	}
	must(t, f.s.RequestRewrap(f.ctx, A, at(1)))
	must(t, f.s.RequestRewrap(f.ctx, B, at(2)))
	must(t, f.s.RetireMasterKey(f.ctx, A, at(3)))
	must(t, f.s.RetireMasterKey(f.ctx, A, at(4)))
	keys, err = f.s.ListMasterKeys(f.ctx)
	must(t, err)
	byID := map[string]plugboard.MasterKey{}
	for _, k := range keys {
		byID[k.KeyID] = k
	}
	if k := byID[A]; k.RewrapRequestedAt != nil || k.RetiredAt == nil || !k.RetiredAt.Equal(at(3).Truncate(time.Microsecond)) {
		t.Errorf("retired key: %+v", k)
	}
	if k := byID[B]; k.RewrapRequestedAt == nil || !k.RewrapRequestedAt.Equal(at(2).Truncate(time.Microsecond)) || k.RetiredAt != nil {
		t.Errorf("rewrap target: %+v", k)
	}
	must(t, f.s.RetireMasterKey(f.ctx, B, at(5)))
	keys, err = f.s.ListMasterKeys(f.ctx)
	must(t, err)
	for _, k := range keys {
		if k.RewrapRequestedAt != nil {
			t.Errorf("a retired key is still the rewrap target: %+v", k)
		}
	}
}
