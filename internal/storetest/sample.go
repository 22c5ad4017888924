package storetest

import (
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

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
