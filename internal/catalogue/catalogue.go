// Package catalogue is the built-in list of real APIs a system can be made from: for each, its
// slug, name, domain, categories, servers, where its facts come from, and the system as the
// import (internal/importer) makes it from the API's document, without client ids, secrets or
// prose descriptions. The data is generated (internal/catalogue/generate) from the APIs.guru
// OpenAPI directory plus hand-curated entries (curated.yaml), and embedded in the binary;
// docs/catalogue.md says how.
package catalogue

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/importer"
)

// DataFile is the generated catalogue, relative to this package's directory.
const DataFile = "data/catalogue.json"

//go:embed data/catalogue.json
var embedded []byte

// Source says where an entry's facts come from.
type Source struct {
	// Document names the source document (the directory's `api/<id>.json` of the npm package),
	// empty for a curated entry.
	Document string `json:"document,omitempty"`
	// Version is the API's version as the document states it.
	Version string `json:"version,omitempty"`
	// Licence is the licence under which the facts are used.
	Licence string `json:"licence"`
	// Page is the provider's documentation page a curated entry was written from.
	Page string `json:"page,omitempty"`
	// Checked is the date (YYYY-MM-DD) the page was checked against, when it was.
	Checked string `json:"checked,omitempty"`
	// Unverified marks a curated entry written from the provider's documentation as known,
	// without checking the page.
	Unverified bool `json:"unverified,omitempty"`
}

// Entry is one API of the catalogue.
type Entry struct {
	Slug       string   `json:"slug"`
	Name       string   `json:"name"`
	Domain     string   `json:"domain"`
	Categories []string `json:"categories"`
	Servers    []string `json:"servers"`
	Source     Source   `json:"source"`
	// Curated marks an entry written by hand from the provider's documentation.
	Curated bool `json:"curated,omitempty"`
	// System is what POST /o/{org}/systems/from-catalogue creates (name aside).
	System api.SystemCreate `json:"system"`
	// Warnings are the import's, for an entry from the directory.
	Warnings []importer.Warning `json:"warnings,omitempty"`
}

// file is the data file: the source and licence, then the entries sorted by slug.
type file struct {
	Source  string  `json:"source"`
	Licence string  `json:"licence"`
	Entries []Entry `json:"entries"`
}

// Catalogue is a loaded catalogue with its search index.
type Catalogue struct {
	// Source and Licence describe the data as a whole.
	Source, Licence string
	entries         []Entry // sorted by slug
	bySlug          map[string]int
	text            []string   // per entry: name, slug, domain and categories, lower-cased
	categories      [][]string // per entry: lower-cased
}

// Default returns the embedded catalogue, loaded on first use.
var Default = sync.OnceValue(func() *Catalogue {
	c, err := Load(embedded)
	if err != nil {
		panic("catalogue: the embedded " + DataFile + " does not load: " + err.Error())
	}
	return c
})

// Load reads a catalogue data file.
func Load(data []byte) (*Catalogue, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	c := &Catalogue{Source: f.Source, Licence: f.Licence, entries: f.Entries, bySlug: make(map[string]int, len(f.Entries)),
		text: make([]string, len(f.Entries)), categories: make([][]string, len(f.Entries))}
	for i, e := range f.Entries {
		if i > 0 && f.Entries[i-1].Slug >= e.Slug {
			return nil, fmt.Errorf("entry %d (%q) is not in slug order", i, e.Slug)
		}
		c.bySlug[e.Slug] = i
		cats := make([]string, len(e.Categories))
		for j, cat := range e.Categories {
			cats[j] = strings.ToLower(cat)
		}
		c.categories[i] = cats
		c.text[i] = strings.ToLower(strings.Join(append([]string{e.Name, e.Slug, e.Domain}, e.Categories...), "\x00"))
	}
	return c, nil
}

// Len is the number of entries.
func (c *Catalogue) Len() int { return len(c.entries) }

// Entries returns every entry, sorted by slug (a copy of the list; the entries share data).
func (c *Catalogue) Entries() []Entry { return slices.Clone(c.entries) }

// Get returns the entry with the slug, or a not_found error.
func (c *Catalogue) Get(slug string) (Entry, error) {
	i, ok := c.bySlug[slug]
	if !ok {
		return Entry{}, plugboard.Errorf(plugboard.ENotFound, "the catalogue has no entry %q", clip(slug, 120))
	}
	return c.entries[i], nil
}

// Page is one page of a search.
type Page struct {
	Items []Entry
	// Next is the cursor of the next page (the last item's slug), empty on the last page.
	Next string
	// TotalCount counts every entry that matches, on all pages.
	TotalCount int
}

// The bounds of a search query: every word is matched against every entry.
const (
	MaxSearchBytes = 200
	MaxSearchWords = 8
)

// Search lists the entries that match, in slug order: each whitespace-separated word of query
// must occur in the entry's name, slug, domain or categories (any case), and category, when
// given, must be one of its categories (any case). first (1 to plugboard.MaxPageSize) bounds the
// page; after, when given, is the cursor of the previous page (Page.Next). Bad input is
// invalid_argument naming first or after.
func (c *Catalogue) Search(query, category string, first int, after string) (Page, error) {
	var errs []plugboard.FieldError
	if first < 1 || first > plugboard.MaxPageSize {
		errs = append(errs, plugboard.FieldError{Field: "first", Message: fmt.Sprintf("must be between 1 and %d", plugboard.MaxPageSize)})
	}
	start := 0
	if after != "" {
		i, ok := c.bySlug[after]
		if !ok {
			errs = append(errs, plugboard.FieldError{Field: "after", Message: "is not a cursor returned by this API"})
		}
		start = i + 1
	}
	// Every word is looked for in every entry: a query of many words (any key may search) would
	// cost entries × words, so a query is bounded and its repeated words count once.
	var words []string
	for _, w := range strings.Fields(strings.ToLower(query)) {
		if !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	switch {
	case len(query) > MaxSearchBytes:
		errs = append(errs, plugboard.FieldError{Field: "search", Message: fmt.Sprintf("is longer than %d bytes", MaxSearchBytes)})
	case len(words) > MaxSearchWords:
		errs = append(errs, plugboard.FieldError{Field: "search", Message: fmt.Sprintf("has %d different words; at most %d", len(words), MaxSearchWords)})
	}
	if len(errs) > 0 {
		return Page{}, plugboard.Invalid("invalid query parameters", errs...)
	}
	category = strings.ToLower(strings.TrimSpace(category))
	match := func(i int) bool {
		if category != "" && !slices.Contains(c.categories[i], category) {
			return false
		}
		for _, w := range words {
			if !strings.Contains(c.text[i], w) {
				return false
			}
		}
		return true
	}
	p := Page{Items: []Entry{}}
	for i := range c.entries {
		if !match(i) {
			continue
		}
		p.TotalCount++
		if i < start {
			continue
		}
		switch {
		case len(p.Items) < first:
			p.Items = append(p.Items, c.entries[i])
		case p.Next == "":
			p.Next = p.Items[len(p.Items)-1].Slug
		}
	}
	return p, nil
}

// Categories lists every category of the catalogue, sorted.
func (c *Catalogue) Categories() []string {
	seen := map[string]bool{}
	for _, cats := range c.categories {
		for _, cat := range cats {
			seen[cat] = true
		}
	}
	out := make([]string, 0, len(seen))
	for cat := range seen {
		out = append(out, cat)
	}
	sort.Strings(out)
	return out
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
