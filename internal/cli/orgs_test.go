package cli_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/cli"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

// testStore is a store the admin commands are pointed at: by env, with the data dir beside it.
type testStore struct {
	env     map[string]string
	dataDir string
	url     string // what the server opens
	where   string // what the commands must say they used
}

// stores returns an SQLite store, and a migrated PostgreSQL schema when
// PLUGBOARD_TEST_DATABASE_URL is set, each created as serve (or migrate) would.
func stores(t *testing.T) map[string]func(t *testing.T) testStore {
	return map[string]func(t *testing.T) testStore{
		"sqlite": func(t *testing.T) testStore {
			dir := newSQLiteStore(t)
			url := filepath.Join(dir, cli.DatabaseFileName)
			return testStore{env: map[string]string{cli.EnvDataDir: dir}, dataDir: dir, url: url, where: "the SQLite file " + url}
		},
		"postgres": func(t *testing.T) testStore {
			url := pgtest.URL(t)
			if _, err := sqlstore.Migrate(t.Context(), url); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			return testStore{env: map[string]string{cli.EnvDatabaseURL: url, cli.EnvDataDir: dir}, dataDir: dir, url: url,
				where: `the PostgreSQL database "` + strings.TrimPrefix(pgURLPath(t, url), "/") + `"`}
		},
	}
}

func pgURLPath(t *testing.T, url string) string {
	t.Helper()
	rest := url[strings.Index(url, "://")+3:]
	rest = rest[strings.Index(rest, "/"):]
	if i := strings.Index(rest, "?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestAdminCommandsNeverCreateAStore: pointed at a data dir with no store, every admin command
// fails, naming the file it looked for and how to point elsewhere, and leaves the directory
// empty: no database, no master key.
func TestAdminCommandsNeverCreateAStore(t *testing.T) {
	org := ulid.Make().String()
	for _, args := range [][]string{
		{"migrate"}, {"orgs", "create", "--name", "acme"}, {"orgs", "list"}, {"orgs", "delete", "--org", org},
		{"orgs", "export", "--org", org}, {"orgs", "purge"}, {"api-keys", "create", "--org", org},
	} {
		parent := t.TempDir()
		dataDir := filepath.Join(parent, "data")
		code, out, errOut := run(t, map[string]string{cli.EnvDataDir: dataDir}, args...)
		name := strings.Join(args, " ")
		if code != 1 || strings.Contains(out, "pbk_") {
			t.Errorf("%s: exit %d, stdout %q", name, code, out)
		}
		for _, want := range []string{filepath.Join(dataDir, cli.DatabaseFileName), "--data-dir", "--database-url", cli.EnvDataDir} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: the error does not say %q: %s", name, want, errOut)
			}
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("%s left %v behind", name, entries)
		}
	}
	// A PostgreSQL database without the schema is refused too (migrate is how it gets one).
	if os.Getenv(pgtest.EnvURL) == "" {
		return
	}
	url := pgtest.URL(t)
	code, _, errOut := run(t, map[string]string{cli.EnvDatabaseURL: url}, "orgs", "create", "--name", "acme")
	if code != 1 || !strings.Contains(errOut, "plugboard migrate") || !strings.Contains(errOut, "PostgreSQL database") {
		t.Errorf("orgs create on an empty PostgreSQL schema: exit %d %s", code, errOut)
	}
	if code, _, errOut := run(t, map[string]string{cli.EnvDatabaseURL: url}, "migrate"); code != 0 {
		t.Errorf("migrate on an empty PostgreSQL schema: exit %d %s", code, errOut)
	}
}

// TestOrganisationLifecycle runs orgs create, list, export, delete and purge against a store a
// server is serving, on each store: the export holds no stored secret, the deleted organisation's
// key is refused once delete has returned, and the purge removes it and nothing else.
func TestOrganisationLifecycle(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			cmd := func(args ...string) (int, string, string) {
				t.Helper()
				code, out, errOut := run(t, st.env, args...)
				if !strings.Contains(errOut, "plugboard: using "+st.where) {
					t.Errorf("%s does not say which store it used: %q", strings.Join(args, " "), errOut)
				}
				if strings.Contains(errOut, "password") || (strings.Contains(st.url, "@") && strings.Contains(errOut, st.url)) {
					t.Errorf("%s shows the database URL: %q", strings.Join(args, " "), errOut)
				}
				return code, out, errOut
			}
			createOrg := func(name string) (string, string) {
				t.Helper()
				code, out, errOut := cmd("orgs", "create", "--name", name, "--json")
				var created struct{ OrganisationID, APIKey string }
				if code != 0 || json.Unmarshal([]byte(out), &created) != nil {
					t.Fatalf("orgs create: %d %q %q", code, out, errOut)
				}
				return created.OrganisationID, created.APIKey
			}
			acme, acmeKey := createOrg("acme")
			globex, globexKey := createOrg("globex")

			// A server on the same store, holding secrets of acme.
			store, err := sqlstore.OpenWith(t.Context(), st.url, sqlstore.Options{MustExist: true})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			keys, _ := vault.Parse(vault.NewKey())
			srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: store, Keys: keys}))
			defer srv.Close()
			// Ids of the last record the server created, read from its answer.
			var lastID, lastEnv, lastTemplate string
			call := func(key, org, method, path, body string) int {
				t.Helper()
				req, _ := http.NewRequest(method, srv.URL+"/o/"+org+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var b bytes.Buffer
				b.ReadFrom(res.Body)
				if res.StatusCode >= 300 && res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b.String())
				}
				var v struct {
					ID           string `json:"id"`
					Environments []struct {
						ID string `json:"id"`
					} `json:"environments"`
					TemplateID string `json:"connectionTemplateId"`
				}
				json.Unmarshal(b.Bytes(), &v)
				lastID, lastEnv, lastTemplate = v.ID, "", v.TemplateID
				if len(v.Environments) > 0 {
					lastEnv = v.Environments[0].ID
				}
				return res.StatusCode
			}
			const apiKeySecret, consumerSecret = "SECRET-cli-export-api-key-5e1d", "SECRET-cli-export-consumer-8a2b"
			call(acmeKey, acme, "POST", "/systems", `{"name":"Acme CRM","domain":"acme.example","templateBaseUrl":"https://api.acme.example","authSchemeConfigs":[
				{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}},
				{"type":"oauth1","oauth1":{"id":"oauth1","description":"","consumerKey":"ck","consumerSecret":"`+consumerSecret+`","signatureMethod":"sha256","tokenAuth":true}}]}`)
			system := lastID
			call(acmeKey, acme, "POST", "/projects", `{"name":"CRM sync"}`)
			project, env := lastID, lastEnv
			call(acmeKey, acme, "POST", "/projects/"+project+"/connection-templates", `{"systemId":"`+system+`","name":"acme","environmentId":"`+env+`"}`)
			call(acmeKey, acme, "PUT", "/projects/"+project+"/connection-templates/"+lastTemplate, `{"authSchemeConfigIds":["api-key"]}`)
			call(acmeKey, acme, "POST", "/connections", `{"connectionTemplateId":"`+lastTemplate+`","connection":{"name":"acme-main","credentials":[{
				"id":"00000000000000000000000000","authSchemeConfig":{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}},
				"credential":{"id":"00000000000000000000000000","organisationId":"`+acme+`","type":"string","data":{"string":{"value":"`+apiKeySecret+`"}}}}]}}`)
			call(globexKey, globex, "POST", "/systems", `{"name":"Globex only","domain":"globex.example","templateBaseUrl":"","authSchemeConfigs":null}`)

			code, out, errOut := cmd("orgs", "export", "--org", acme)
			if code != 0 {
				t.Fatalf("orgs export: %d %s", code, errOut)
			}
			for _, want := range []string{"Acme CRM", "CRM sync", "acme-main", `"consumerKey": "ck"`, `"value": ""`} {
				if !strings.Contains(out, want) {
					t.Errorf("the export lacks %s:\n%s", want, out)
				}
			}
			for _, secret := range []string{apiKeySecret, consumerSecret} {
				if strings.Contains(out, secret) || strings.Contains(errOut, secret) {
					t.Errorf("the export contains the stored secret %q", secret)
				}
			}
			if strings.Contains(out, "Globex only") || strings.Contains(out, acmeKey) {
				t.Error("the export holds another organisation's system or an API key")
			}

			// Delete: once the command has returned, the server refuses acme's key, which it had
			// cached (it served it a moment ago), and still serves globex.
			if code, out, errOut := cmd("orgs", "delete", "--org", acme); code != 0 || !strings.Contains(out, "refused") {
				t.Fatalf("orgs delete: %d %q %q", code, out, errOut)
			}
			if st := call(acmeKey, acme, "GET", "/systems", ""); st != http.StatusUnauthorized {
				t.Errorf("the deleted organisation's key: %d", st)
			}
			if st := call(globexKey, globex, "GET", "/systems", ""); st != http.StatusOK {
				t.Errorf("the other organisation's key: %d", st)
			}
			if code, _, errOut := cmd("orgs", "delete", "--org", acme); code != 1 || !strings.Contains(errOut, "deleted already") {
				t.Errorf("a second delete: %d %q", code, errOut)
			}
			if code, out, errOut := cmd("api-keys", "create", "--org", acme); code != 1 || strings.Contains(out, "pbk_") {
				t.Errorf("a key for a deleted organisation: %d %q %q", code, out, errOut)
			}
			code, out, _ = cmd("orgs", "list", "--json")
			var listed []struct {
				OrganisationID string  `json:"organisationId"`
				DeletedAt      *string `json:"deletedAt"`
				PurgeAfter     *string `json:"purgeAfter"`
			}
			if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 {
				t.Fatalf("orgs list: %d %q", code, out)
			}
			for _, o := range listed {
				if (o.OrganisationID == acme) != (o.DeletedAt != nil && o.PurgeAfter != nil) {
					t.Errorf("listed %+v", o)
				}
			}
			if code, out, _ := cmd("orgs", "list"); code != 0 || !strings.Contains(out, "purged after") || !strings.Contains(out, "globex") {
				t.Errorf("orgs list: %d %q", code, out)
			}
			// Still exportable during the grace period.
			if code, out, _ := cmd("orgs", "export", "--org", acme); code != 0 || !strings.Contains(out, `"deletedAt"`) {
				t.Errorf("export of a deleted organisation: %d", code)
			}

			// Purge: not before the grace period, never a live organisation; then everything goes.
			if code, out, _ := cmd("orgs", "purge"); code != 0 || !strings.Contains(out, "no organisation") {
				t.Errorf("orgs purge within the grace period: %d %q", code, out)
			}
			if code, _, errOut := cmd("orgs", "purge", "--org", globex); code != 1 || !strings.Contains(errOut, "not deleted") {
				t.Errorf("purging a live organisation: %d %q", code, errOut)
			}
			if code, out, errOut := cmd("orgs", "purge", "--after", "1ns"); code != 0 || !strings.Contains(out, "purged organisation "+acme) {
				t.Errorf("orgs purge --after 1ns: %d %q %q", code, out, errOut)
			}
			if code, _, _ := cmd("orgs", "export", "--org", acme); code != 1 {
				t.Errorf("export after the purge: exit %d", code)
			}
			if st := call(globexKey, globex, "GET", "/systems", ""); st != http.StatusOK {
				t.Errorf("the other organisation after the purge: %d", st)
			}
			if _, err := os.Stat(filepath.Join(st.dataDir, cli.KeyFileName)); !os.IsNotExist(err) {
				t.Errorf("an admin command wrote a master key file: %v", err)
			}
		})
	}
}
