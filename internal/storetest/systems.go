package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

func testPing(t *testing.T, f *fixture) {
	must(t, f.s.Ping(f.ctx))
}

func testOrganisations(t *testing.T, f *fixture) {
	got, err := f.s.GetOrganisation(f.ctx, f.org)
	must(t, err)
	equal(t, *got, plugboard.Organisation{ID: f.org, Name: "Acme", CreatedAt: at(0)})

	n, err := f.s.CountOrganisations(f.ctx)
	must(t, err)
	if n != 2 {
		t.Errorf("CountOrganisations = %d, want 2", n)
	}
	_, err = f.s.GetOrganisation(f.ctx, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)
}

func testAPIKeys(t *testing.T, f *fixture) {
	k := &plugboard.APIKey{ID: ulid.Make(), OrganisationID: f.org, Name: "ci",
		Hash: []byte{0xde, 0xad, 0xbe, 0xef, 0x00}, Scopes: []string{"connections:read", "connections:write"}, CreatedAt: at(1)}
	must(t, f.s.CreateAPIKey(f.ctx, k))
	got, err := f.s.GetAPIKey(f.ctx, f.org, k.ID)
	must(t, err)
	equal(t, *got, *k)

	all := &plugboard.APIKey{ID: ulid.Make(), OrganisationID: f.org, Name: "admin", Hash: []byte{1}, CreatedAt: at(1)}
	must(t, f.s.CreateAPIKey(f.ctx, all))
	got, err = f.s.GetAPIKey(f.ctx, f.org, all.ID)
	must(t, err)
	if len(got.Scopes) != 0 {
		t.Errorf("Scopes = %v, want none", got.Scopes)
	}

	_, err = f.s.GetAPIKey(f.ctx, f.other, k.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetAPIKey(f.ctx, f.org, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)
	err = f.s.CreateAPIKey(f.ctx, &plugboard.APIKey{ID: ulid.Make(), OrganisationID: ulid.Make(), Name: "x", Hash: []byte{1}})
	wantCode(t, err, plugboard.ENotFound)
}

func testTimes(t *testing.T, f *fixture) {
	got, err := f.s.GetSystem(f.ctx, f.org, f.system.ID)
	must(t, err)
	want := at(2).UTC().Truncate(time.Microsecond)
	if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(want) || got.CreatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("CreatedAt = %v, want %v (UTC, microseconds)", got.CreatedAt, want)
	}
	if !got.UpdatedAt.Equal(want) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, want)
	}

	// A zero CreatedAt is set to the current time.
	before := time.Now().Add(-time.Second)
	u := &plugboard.EndUser{ID: ulid.Make(), OrganisationID: f.org, ExternalID: "no-time"}
	must(t, f.s.CreateEndUser(f.ctx, u))
	gu, err := f.s.GetEndUser(f.ctx, f.org, u.ID)
	must(t, err)
	if gu.CreatedAt.Before(before) || gu.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt = %v, want about now", gu.CreatedAt)
	}
}

func testSystems(t *testing.T, f *fixture) {
	got, err := f.s.GetSystem(f.ctx, f.org, f.system.ID)
	must(t, err)
	equal(t, *got, *f.system)
	if got.AuthSchemeConfigs[0].Sealed != nil {
		t.Errorf("config without secrets has Sealed %v, want nil", got.AuthSchemeConfigs[0].Sealed)
	}

	t.Run("other organisation", func(t *testing.T) {
		_, err := f.s.GetSystem(f.ctx, f.other, f.system.ID)
		wantCode(t, err, plugboard.ENotFound)
		_, err = f.s.GetSystem(f.ctx, f.org, ulid.Make())
		wantCode(t, err, plugboard.ENotFound)
	})

	t.Run("duplicate config ids", func(t *testing.T) {
		s := &plugboard.System{ID: ulid.Make(), OrganisationID: f.org, Name: "Dup", Domain: "dup.example",
			AuthSchemeConfigs: []plugboard.AuthSchemeConfig{
				{ID: "api-key", Type: "api-key", Config: json.RawMessage(`{}`)},
				{ID: "api-key", Type: "api-key", Config: json.RawMessage(`{}`)},
			}}
		wantCode(t, f.s.CreateSystem(f.ctx, s), plugboard.EConflict)
		_, err := f.s.GetSystem(f.ctx, f.org, s.ID)
		wantCode(t, err, plugboard.ENotFound) // nothing of the failed create remains
	})

	t.Run("missing organisation", func(t *testing.T) {
		s := &plugboard.System{ID: ulid.Make(), OrganisationID: ulid.Make(), Name: "Orphan", Domain: "x"}
		wantCode(t, f.s.CreateSystem(f.ctx, s), plugboard.ENotFound)
	})

	t.Run("update", func(t *testing.T) {
		s := *f.system
		s.Name, s.Domain, s.TemplateBaseURL = "GitHub Enterprise", "github.example.com", "https://{host}/api/v3"
		s.Labels = map[string]string{"tier": "gold", "team": "apps"}
		s.AuthSchemeConfigs = nil // UpdateSystem leaves configs alone
		s.UpdatedAt = at(30)
		must(t, f.s.UpdateSystem(f.ctx, &s))
		got, err := f.s.GetSystem(f.ctx, f.org, s.ID)
		must(t, err)
		s.AuthSchemeConfigs = f.system.AuthSchemeConfigs
		equal(t, *got, s)

		missing := s
		missing.ID = ulid.Make()
		wantCode(t, f.s.UpdateSystem(f.ctx, &missing), plugboard.ENotFound)
		foreign := s
		foreign.OrganisationID = f.other
		wantCode(t, f.s.UpdateSystem(f.ctx, &foreign), plugboard.ENotFound)
	})
}

func testListSystems(t *testing.T, f *fixture) {
	// The fixture's system is the first; six more make seven.
	want := []ulid.ULID{f.system.ID}
	for i := range 6 {
		want = append(want, f.newSystem(t, f.org, fmt.Sprintf("System %d", i), fmt.Sprintf("s%d.example.com", i)).ID)
	}
	f.newSystem(t, f.other, "Elsewhere", "other.example.com")
	pagination(t, want, func(req plugboard.PageRequest) ([]ulid.ULID, int, ulid.ULID, ulid.ULID, error) {
		p, err := f.s.ListSystems(f.ctx, f.org, "", req)
		if err != nil {
			return nil, 0, ulid.ULID{}, ulid.ULID{}, err
		}
		for _, s := range p.Items {
			if len(s.AuthSchemeConfigs) != 2 || s.AuthSchemeConfigs[0].ID != "api-key" {
				t.Errorf("system %s listed with configs %+v", s.ID, s.AuthSchemeConfigs)
			}
		}
		return ids(p.Items, func(s plugboard.System) ulid.ULID { return s.ID }), p.TotalCount, p.Next, p.Prev, nil
	})

	pct := f.newSystem(t, f.org, "100% Uptime_Inc", "uptime.example.com")
	for _, c := range []struct {
		search string
		want   []ulid.ULID
	}{
		{"github", want[:1]},
		{"GITHUB", want[:1]},
		{"S3.EXAMPLE", want[4:5]},
		{"system", want[1:]},
		{"%", []ulid.ULID{pct.ID}},
		{"_", []ulid.ULID{pct.ID}},
		{"0% u", []ulid.ULID{pct.ID}},
		{"nothing like it", nil},
	} {
		p, err := f.s.ListSystems(f.ctx, f.org, c.search, plugboard.PageRequest{})
		must(t, err)
		got := ids(p.Items, func(s plugboard.System) ulid.ULID { return s.ID })
		checkPage(t, "search "+c.search, got, p.TotalCount, p.Next, p.Prev, c.want, len(c.want), ulid.ULID{}, ulid.ULID{})
	}

	// Search with paging: total counts only matches.
	p, err := f.s.ListSystems(f.ctx, f.org, "system", plugboard.PageRequest{First: 2, After: want[1]})
	must(t, err)
	checkPage(t, "search paged", ids(p.Items, func(s plugboard.System) ulid.ULID { return s.ID }), p.TotalCount, p.Next, p.Prev,
		want[2:4], 6, want[3], want[2])
}

func testAuthSchemeConfigs(t *testing.T, f *fixture) {
	added := plugboard.AuthSchemeConfig{ID: "basic", Type: "basic", Config: json.RawMessage(`{"usernameField":"user"}`)}
	created, err := f.s.UpsertAuthSchemeConfig(f.ctx, f.org, f.system.ID, added)
	must(t, err)
	if !created {
		t.Error("adding a config reported created = false")
	}
	replaced := plugboard.AuthSchemeConfig{ID: "api-key", Type: "api-key",
		Config: json.RawMessage(`{"in":"query","name":"key"}`), Sealed: []byte("sealed-bytes")}
	created, err = f.s.UpsertAuthSchemeConfig(f.ctx, f.org, f.system.ID, replaced)
	must(t, err)
	if created {
		t.Error("replacing a config reported created = true")
	}
	got, err := f.s.GetSystem(f.ctx, f.org, f.system.ID)
	must(t, err)
	equal(t, got.AuthSchemeConfigs, []plugboard.AuthSchemeConfig{replaced, f.system.AuthSchemeConfigs[1], added})
	if !got.UpdatedAt.After(f.system.UpdatedAt) {
		t.Errorf("UpdatedAt = %v, want it touched (after %v)", got.UpdatedAt, f.system.UpdatedAt)
	}

	_, err = f.s.UpsertAuthSchemeConfig(f.ctx, f.org, ulid.Make(), added)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.UpsertAuthSchemeConfig(f.ctx, f.other, f.system.ID, added)
	wantCode(t, err, plugboard.ENotFound)

	// Deleting and re-adding appends last.
	must(t, f.s.DeleteAuthSchemeConfig(f.ctx, f.org, f.system.ID, "api-key"))
	_, err = f.s.UpsertAuthSchemeConfig(f.ctx, f.org, f.system.ID, replaced)
	must(t, err)
	got, err = f.s.GetSystem(f.ctx, f.org, f.system.ID)
	must(t, err)
	equal(t, got.AuthSchemeConfigs, []plugboard.AuthSchemeConfig{f.system.AuthSchemeConfigs[1], added, replaced})
}

func testDeleteAuthSchemeConfig(t *testing.T, f *fixture) {
	wantCode(t, f.s.DeleteAuthSchemeConfig(f.ctx, f.org, f.system.ID, "no-such"), plugboard.ENotFound)
	wantCode(t, f.s.DeleteAuthSchemeConfig(f.ctx, f.org, ulid.Make(), "api-key"), plugboard.ENotFound)
	wantCode(t, f.s.DeleteAuthSchemeConfig(f.ctx, f.other, f.system.ID, "api-key"), plugboard.ENotFound)

	// Named by a template.
	tpl := f.newTemplate(t, f.staging, "oauth-only", false)
	tpl.AuthSchemeConfigIDs = []string{"oauth2"}
	must(t, f.s.UpdateTemplate(f.ctx, tpl))
	wantCode(t, f.s.DeleteAuthSchemeConfig(f.ctx, f.org, f.system.ID, "oauth2"), plugboard.EConflict)
	tpl.AuthSchemeConfigIDs = nil
	must(t, f.s.UpdateTemplate(f.ctx, tpl))

	// Used by a connection credential.
	c := f.newConn(t, f.static, ulid.ULID{}, "main", cred("oauth2", "token"))
	wantCode(t, f.s.DeleteAuthSchemeConfig(f.ctx, f.org, f.system.ID, "oauth2"), plugboard.EConflict)
	_, err := f.s.DeleteConnection(f.ctx, f.org, c.ID)
	must(t, err)

	must(t, f.s.DeleteAuthSchemeConfig(f.ctx, f.org, f.system.ID, "oauth2"))
	got, err := f.s.GetSystem(f.ctx, f.org, f.system.ID)
	must(t, err)
	equal(t, got.AuthSchemeConfigs, f.system.AuthSchemeConfigs[:1])
	wantCode(t, f.s.DeleteAuthSchemeConfig(f.ctx, f.org, f.system.ID, "oauth2"), plugboard.ENotFound)
}

func testDeleteSystem(t *testing.T, f *fixture) {
	wantCode(t, f.s.DeleteSystem(f.ctx, f.org, f.system.ID), plugboard.EConflict)
	wantCode(t, f.s.DeleteSystem(f.ctx, f.org, ulid.Make()), plugboard.ENotFound)
	wantCode(t, f.s.DeleteSystem(f.ctx, f.other, f.system.ID), plugboard.ENotFound)

	unused := f.newSystem(t, f.org, "Unused", "unused.example.com")
	must(t, f.s.DeleteSystem(f.ctx, f.org, unused.ID))
	_, err := f.s.GetSystem(f.ctx, f.org, unused.ID)
	wantCode(t, err, plugboard.ENotFound)
	// Its config ids are free again for a new system with the same id.
	unused.AuthSchemeConfigs = unused.AuthSchemeConfigs[:1]
	must(t, f.s.CreateSystem(f.ctx, unused))

	// Once its templates are gone, the fixture's system can go too.
	must(t, deleteProject(f, f.org, f.project.ID))
	must(t, f.s.DeleteSystem(f.ctx, f.org, f.system.ID))
}
