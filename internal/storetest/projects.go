package storetest

import (
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

func testProjects(t *testing.T, f *fixture) {
	got, err := f.s.GetProject(f.ctx, f.org, f.project.ID)
	must(t, err)
	want := *f.project
	for i := range want.Environments {
		want.Environments[i].OrganisationID, want.Environments[i].ProjectID = f.org, f.project.ID
	}
	equal(t, *got, want)
	if got.Environments[0].ID != f.prod || got.Environments[1].ID != f.staging {
		t.Errorf("environments not ordered by id: %+v", got.Environments)
	}

	_, err = f.s.GetProject(f.ctx, f.other, f.project.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetProject(f.ctx, f.org, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)

	t.Run("duplicate environment names", func(t *testing.T) {
		p := &plugboard.Project{ID: ulid.Make(), OrganisationID: f.org, Name: "Dup", Environments: []plugboard.Environment{
			{ID: ulid.Make(), Name: "production"}, {ID: ulid.Make(), Name: "production"},
		}}
		wantCode(t, f.s.CreateProject(f.ctx, p), plugboard.EConflict)
		_, err := f.s.GetProject(f.ctx, f.org, p.ID)
		wantCode(t, err, plugboard.ENotFound)
	})

	t.Run("list", func(t *testing.T) {
		empty := &plugboard.Project{ID: ulid.Make(), OrganisationID: f.org, Name: "Empty", CreatedAt: at(7), UpdatedAt: at(7)}
		must(t, f.s.CreateProject(f.ctx, empty))
		foreign := &plugboard.Project{ID: ulid.Make(), OrganisationID: f.other, Name: "Theirs",
			Environments: []plugboard.Environment{{ID: ulid.Make(), Name: "production"}}}
		must(t, f.s.CreateProject(f.ctx, foreign)) // same environment name in another organisation is fine
		list, err := f.s.ListProjects(f.ctx, f.org)
		must(t, err)
		equal(t, list, []plugboard.Project{want, *empty})
	})

	t.Run("update", func(t *testing.T) {
		p := want
		p.Name, p.UpdatedAt = "Renamed", at(40)
		must(t, f.s.UpdateProject(f.ctx, &p))
		got, err := f.s.GetProject(f.ctx, f.org, p.ID)
		must(t, err)
		equal(t, *got, p)
		missing := p
		missing.ID = ulid.Make()
		wantCode(t, f.s.UpdateProject(f.ctx, &missing), plugboard.ENotFound)
		foreign := p
		foreign.OrganisationID = f.other
		wantCode(t, f.s.UpdateProject(f.ctx, &foreign), plugboard.ENotFound)
	})
}

func testDeleteProject(t *testing.T, f *fixture) {
	wantCode(t, deleteProject(f, f.org, ulid.Make()), plugboard.ENotFound)
	wantCode(t, deleteProject(f, f.other, f.project.ID), plugboard.ENotFound)

	c := f.newConn(t, f.static, ulid.ULID{}, "main", cred("api-key", "k"))
	wantCode(t, deleteProject(f, f.org, f.project.ID), plugboard.EConflict)

	// A connection of another project merely linked to this project's template does not block it.
	other := &plugboard.Project{ID: ulid.Make(), OrganisationID: f.org, Name: "Other",
		Environments: []plugboard.Environment{{ID: ulid.Make(), Name: "production"}}}
	must(t, f.s.CreateProject(f.ctx, other))
	otherTpl := &plugboard.ConnectionTemplate{ID: ulid.Make(), OrganisationID: f.org, ProjectID: other.ID,
		EnvironmentID: other.Environments[0].ID, SystemID: f.system.ID, Name: "github"}
	must(t, f.s.CreateTemplate(f.ctx, otherTpl))
	oc := f.newConn(t, otherTpl, ulid.ULID{}, "theirs")
	must(t, f.s.LinkConnection(f.ctx, f.org, oc.ID, f.static.ID))

	_, err := f.s.DeleteConnection(f.ctx, f.org, c.ID)
	must(t, err)
	dp, err := f.s.DeleteProject(f.ctx, f.org, f.project.ID)
	must(t, err)
	deleted := dp.Templates
	if len(deleted) != 2 || deleted[0].ID.Compare(deleted[1].ID) >= 0 {
		t.Fatalf("DeleteProject returned %d templates, want its 2 in id order", len(deleted))
	}
	for _, d := range deleted {
		want := []ulid.ULID(nil)
		if d.ID == f.static.ID {
			want = []ulid.ULID{oc.ID} // the link of the other project's connection
		}
		equal(t, d.UnlinkedConnectionIDs, want)
	}
	_, err = f.s.GetProject(f.ctx, f.org, f.project.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetTemplate(f.ctx, f.org, f.static.ID)
	wantCode(t, err, plugboard.ENotFound)
	// The link went with the template.
	wantCode(t, f.s.UnlinkConnection(f.ctx, f.org, oc.ID, f.static.ID), plugboard.ENotFound)
	if _, err := f.s.GetConnection(f.ctx, f.org, oc.ID); err != nil {
		t.Errorf("connection of another project: %v", err)
	}
	// The environment names are free again.
	must(t, f.s.CreateProject(f.ctx, f.project))
}

func testTemplates(t *testing.T, f *fixture) {
	got, err := f.s.GetTemplate(f.ctx, f.org, f.static.ID)
	must(t, err)
	equal(t, *got, *f.static)
	_, err = f.s.GetTemplate(f.ctx, f.other, f.static.ID)
	wantCode(t, err, plugboard.ENotFound)
	_, err = f.s.GetTemplate(f.ctx, f.org, ulid.Make())
	wantCode(t, err, plugboard.ENotFound)

	t.Run("create errors", func(t *testing.T) {
		otherProject := &plugboard.Project{ID: ulid.Make(), OrganisationID: f.org, Name: "Other",
			Environments: []plugboard.Environment{{ID: ulid.Make(), Name: "production"}}}
		must(t, f.s.CreateProject(f.ctx, otherProject))
		base := plugboard.ConnectionTemplate{OrganisationID: f.org, ProjectID: f.project.ID,
			EnvironmentID: f.staging, SystemID: f.system.ID, Name: "new"}
		for _, c := range []struct {
			name string
			edit func(*plugboard.ConnectionTemplate)
			code string
		}{
			{"missing project", func(t *plugboard.ConnectionTemplate) { t.ProjectID = ulid.Make() }, plugboard.ENotFound},
			{"missing environment", func(t *plugboard.ConnectionTemplate) { t.EnvironmentID = ulid.Make() }, plugboard.ENotFound},
			{"environment of another project", func(t *plugboard.ConnectionTemplate) {
				t.EnvironmentID = otherProject.Environments[0].ID
			}, plugboard.ENotFound},
			{"missing system", func(t *plugboard.ConnectionTemplate) { t.SystemID = ulid.Make() }, plugboard.ENotFound},
			{"other organisation", func(t *plugboard.ConnectionTemplate) { t.OrganisationID = f.other }, plugboard.ENotFound},
			{"duplicate name", func(t *plugboard.ConnectionTemplate) { t.EnvironmentID, t.Name = f.prod, f.static.Name }, plugboard.EConflict},
		} {
			tpl := base
			tpl.ID = ulid.Make()
			c.edit(&tpl)
			wantCode(t, f.s.CreateTemplate(f.ctx, &tpl), c.code)
		}
		// The same name in another environment is fine.
		tpl := base
		tpl.ID, tpl.Name = ulid.Make(), f.static.Name
		must(t, f.s.CreateTemplate(f.ctx, &tpl))
	})

	t.Run("list", func(t *testing.T) {
		stagingTpl := f.newTemplate(t, f.staging, "staging-github", false)
		all, err := f.s.ListTemplates(f.ctx, f.org, f.project.ID, ulid.ULID{})
		must(t, err)
		// static, dynamic, the same-named staging template of "create errors", and stagingTpl.
		if len(all) != 4 || all[0].ID != f.static.ID || all[1].ID != f.dynamic.ID || all[3].ID != stagingTpl.ID {
			t.Fatalf("ListTemplates = %v", ids(all, func(t plugboard.ConnectionTemplate) ulid.ULID { return t.ID }))
		}
		for i := 1; i < len(all); i++ {
			if all[i-1].ID.Compare(all[i].ID) >= 0 {
				t.Errorf("templates not ordered by id at %d", i)
			}
		}
		prod, err := f.s.ListTemplates(f.ctx, f.org, f.project.ID, f.prod)
		must(t, err)
		equal(t, prod, []plugboard.ConnectionTemplate{*f.static, *f.dynamic})
		_, err = f.s.ListTemplates(f.ctx, f.org, ulid.Make(), ulid.ULID{})
		wantCode(t, err, plugboard.ENotFound)
		_, err = f.s.ListTemplates(f.ctx, f.other, f.project.ID, ulid.ULID{})
		wantCode(t, err, plugboard.ENotFound)
	})

	t.Run("update", func(t *testing.T) {
		tpl := *f.dynamic
		tpl.Name, tpl.Dynamic, tpl.AuthSchemeConfigIDs, tpl.UpdatedAt = "renamed", false, []string{"oauth2", "api-key"}, at(50)
		must(t, f.s.UpdateTemplate(f.ctx, &tpl))
		got, err := f.s.GetTemplate(f.ctx, f.org, tpl.ID)
		must(t, err)
		equal(t, *got, tpl)

		dup := tpl
		dup.Name = f.static.Name
		wantCode(t, f.s.UpdateTemplate(f.ctx, &dup), plugboard.EConflict)
		missing := tpl
		missing.ID = ulid.Make()
		wantCode(t, f.s.UpdateTemplate(f.ctx, &missing), plugboard.ENotFound)
		foreign := tpl
		foreign.OrganisationID = f.other
		wantCode(t, f.s.UpdateTemplate(f.ctx, &foreign), plugboard.ENotFound)
	})
}

func testDeleteTemplate(t *testing.T, f *fixture) {
	wantCode(t, deleteTemplate(f, f.org, f.project.ID, ulid.Make()), plugboard.ENotFound)
	wantCode(t, deleteTemplate(f, f.other, f.project.ID, f.static.ID), plugboard.ENotFound)
	wantCode(t, deleteTemplate(f, f.org, ulid.Make(), f.static.ID), plugboard.ENotFound) // wrong project

	c := f.newConn(t, f.static, ulid.ULID{}, "main")
	wantCode(t, deleteTemplate(f, f.org, f.project.ID, f.static.ID), plugboard.EConflict)

	// A template that other connections are only linked to can go; the links go with it.
	staging := f.newTemplate(t, f.staging, "github", false)
	must(t, f.s.LinkConnection(f.ctx, f.org, c.ID, staging.ID))
	deleted, err := f.s.DeleteTemplate(f.ctx, f.org, f.project.ID, staging.ID)
	must(t, err)
	equal(t, *deleted, plugboard.DeletedTemplate{ConnectionTemplate: *staging, UnlinkedConnectionIDs: []ulid.ULID{c.ID}})
	_, err = f.s.GetTemplate(f.ctx, f.org, staging.ID)
	wantCode(t, err, plugboard.ENotFound)
	wantCode(t, f.s.UnlinkConnection(f.ctx, f.org, c.ID, staging.ID), plugboard.ENotFound)
	if _, err := f.s.GetConnection(f.ctx, f.org, c.ID); err != nil {
		t.Errorf("linked connection: %v", err)
	}

	_, err = f.s.DeleteConnection(f.ctx, f.org, c.ID)
	must(t, err)
	must(t, deleteTemplate(f, f.org, f.project.ID, f.static.ID))
}

// deleteProject and deleteTemplate are the Store's, for tests that do not look at what was deleted.
func deleteProject(f *fixture, org, id ulid.ULID) error {
	_, err := f.s.DeleteProject(f.ctx, org, id)
	return err
}

func deleteTemplate(f *fixture, org, project, id ulid.ULID) error {
	_, err := f.s.DeleteTemplate(f.ctx, org, project, id)
	return err
}
