package storetest

import (
	"bytes"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// testSampleSealedCredential: ENotFound on an empty store; then the newest sealed credential, of
// whichever organisation holds it.
func testSampleSealedCredential(t *testing.T, f *fixture) {
	if _, err := f.s.SampleSealedCredential(f.ctx); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Fatalf("empty store: %v, want %s", err, plugboard.ENotFound)
	}
	first := f.newConn(t, f.static, ulid.ULID{}, "first", cred("api-key", "one"))
	second := f.newConn(t, f.static, ulid.ULID{}, "second", cred("api-key", "two"))
	got, err := f.s.SampleSealedCredential(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := second.Credentials[0].Credential
	if got.ID != want.ID || got.OrganisationID != f.org || !bytes.Equal(got.Sealed, want.Sealed) {
		t.Errorf("sample = %s, want the newest %s (not %s)", got.ID, want.ID, first.Credentials[0].Credential.ID)
	}
}

// testListConnectionsByTemplate: the TemplateID filter lists what was created under a template.
func testListConnectionsByTemplate(t *testing.T, f *fixture) {
	f.newConn(t, f.static, ulid.ULID{}, "static-1", cred("api-key", "a"))
	f.newConn(t, f.dynamic, f.user.ID, "dyn-1", cred("api-key", "b"))
	f.newConn(t, f.dynamic, f.user.ID, "dyn-2", cred("api-key", "c"))
	for _, tc := range []struct {
		tpl  *plugboard.ConnectionTemplate
		want int
	}{{f.static, 1}, {f.dynamic, 2}} {
		page, err := f.s.ListConnections(f.ctx, f.org, plugboard.ConnectionFilter{TemplateID: tc.tpl.ID}, plugboard.PageRequest{First: 10})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != tc.want || len(page.Items) != tc.want {
			t.Errorf("template %s: %d connections, want %d", tc.tpl.Name, page.TotalCount, tc.want)
		}
		for _, c := range page.Items {
			if c.TemplateID != tc.tpl.ID {
				t.Errorf("listed a connection of another template")
			}
		}
	}
}
