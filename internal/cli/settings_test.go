package cli_test

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/cli"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

var update = flag.Bool("update", false, "rewrite README's Configuration table from the settings table")

// settingName matches a variable name in code and docs.
var settingName = regexp.MustCompile(`PLUGBOARD_[A-Z0-9_]*[A-Z0-9]`)

// testSwitch reports whether name is one of the tests' own switches, which are not settings.
func testSwitch(name string) bool { return strings.HasPrefix(name, "PLUGBOARD_TEST") }

// TestREADMESettingsTable: README's Configuration table is the one the settings table writes.
// `go test ./internal/cli -run TestREADMESettingsTable -update` rewrites it.
func TestREADMESettingsTable(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)(<!-- settings:start -->\n)(.*?)(<!-- settings:end -->)")
	m := re.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no <!-- settings:start --> ... <!-- settings:end --> block")
	}
	want := cli.SettingsTable()
	if string(m[2]) == want {
		return
	}
	if *update {
		out := re.ReplaceAllLiteral(readme, []byte(string(m[1])+want+string(m[3])))
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README's settings table differs from the settings table (run go test ./internal/cli -run TestREADMESettingsTable -update):\n%s\nwant:\n%s", m[2], want)
}

// TestDocsNameOnlySettings: every PLUGBOARD_ variable the README and docs/ name is a setting (or a
// test switch, or one the Go client's example reads), and every setting is named in the README.
func TestDocsNameOnlySettings(t *testing.T) {
	known := map[string]bool{}
	for _, n := range cli.SettingNames() {
		known[n] = true
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "client", "example", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	clientVars := settingName.FindAllString(string(example), -1)
	files, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	files = append(files, filepath.Join("..", "..", "README.md"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range settingName.FindAllString(string(b), -1) {
			if !known[n] && !testSwitch(n) && !slices.Contains(clientVars, n) {
				t.Errorf("%s names %s, which is not in the settings table (internal/cli/settings.go)", filepath.Base(f), n)
			}
		}
	}
}

// TestCodeReadsOnlySettings: every PLUGBOARD_ string literal in the service's non-test code is a
// setting's variable (or a test switch): a variable read anywhere else would miss the usage, the
// README and the start-up checks.
func TestCodeReadsOnlySettings(t *testing.T) {
	known := map[string]bool{}
	for _, n := range cli.SettingNames() {
		known[n] = true
	}
	root := filepath.Join("..", "..")
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "client", "bench":
				return filepath.SkipDir // not the service: the Go client and its example, benchmarks
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				for _, name := range settingName.FindAllString(lit.Value, -1) {
					seen++
					if !known[name] && !testSwitch(name) {
						t.Errorf("%s: %s is not in the settings table (internal/cli/settings.go)", path, name)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < len(known) {
		t.Errorf("found %d variable names in the code, fewer than the %d settings: is the walk looking at the module?", seen, len(known))
	}
}

// TestEverySettingHasItsDefault: with nothing given every setting takes its default, and the
// defaults are what the packages that use them define.
func TestEverySettingHasItsDefault(t *testing.T) {
	cfg, err := cli.LoadConfig(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != cli.DefaultAddr || cfg.DataDir != cli.DefaultDataDir || cfg.LogFormat != "text" || cfg.Migrate ||
		cfg.RefreshSkew != time.Minute || cfg.ProxyTimeout != cli.DefaultProxyTimeout || cfg.ProxyMaxResponseBytes != cli.DefaultProxyMaxResponse ||
		cfg.OrgPurgeAfter != cli.DefaultOrgPurgeAfter || cfg.EventRetention != 30*24*time.Hour ||
		cfg.Limits.ForceRefreshInterval != 10*time.Second || cfg.CredentialExpiringLead != 72*time.Hour ||
		cfg.RewrapInterval != cli.DefaultRewrapInterval || cfg.RewrapRate != cli.DefaultRewrapRate ||
		len(cfg.Webhooks.Schedule) != 7 || cfg.Webhooks.Timeout != 15*time.Second || cfg.Inbound.MaxBodyBytes != 1<<20 ||
		cfg.Outbound.AllowPrivateNetworks || cfg.Outbound.AllowCIDRs != nil || cfg.Outbound.RootCAs != nil || cfg.EncryptionKey != "" {
		t.Errorf("defaults: %+v", cfg)
	}
}

// TestFlagsWinOverVariables: a flag wins over its variable, which wins over the default, for
// every kind of value; secrets have no flag.
func TestFlagsWinOverVariables(t *testing.T) {
	env := map[string]string{
		"PLUGBOARD_ADDR": "127.0.0.1:1", "PLUGBOARD_REFRESH_SKEW": "2m", "PLUGBOARD_ALLOW_PRIVATE_NETWORKS": "true",
		"PLUGBOARD_RATE_LIMIT_PER_KEY": "5,10", "PLUGBOARD_ENCRYPTION_KEY": "k", "PLUGBOARD_MIGRATE": "true",
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := cli.LoadConfig(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:1" || cfg.RefreshSkew != 2*time.Minute || !cfg.Outbound.AllowPrivateNetworks ||
		cfg.Limits.PerKey != (ratelimit.Limit{PerSecond: 5, Burst: 10}) || cfg.EncryptionKey != "k" || !cfg.Migrate {
		t.Errorf("from the environment: %+v", cfg)
	}
	cfg, err = cli.LoadConfig([]string{"--addr", "127.0.0.1:2", "--refresh-skew", "3s", "--allow-private-networks=false",
		"--rate-limit-per-key", "off", "--migrate=false"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:2" || cfg.RefreshSkew != 3*time.Second || cfg.Outbound.AllowPrivateNetworks ||
		cfg.Limits.PerKey != (ratelimit.Limit{}) || cfg.Migrate {
		t.Errorf("flags over the environment: %+v", cfg)
	}
	if cfg, err := cli.LoadConfig([]string{"--migrate"}, func(string) string { return "" }); err != nil || !cfg.Migrate {
		t.Errorf("--migrate alone: %v %v", cfg.Migrate, err)
	}
	if _, err := cli.LoadConfig([]string{"--encryption-key", "k"}, getenv); err == nil {
		t.Error("the master keys were taken from a flag")
	}
}

// TestBadSettingsNameFlagAndVariable: a malformed value stops the load with an error naming the
// flag and the variable, whichever gave it.
func TestBadSettingsNameFlagAndVariable(t *testing.T) {
	for _, tc := range []struct{ env, value string }{
		{"PLUGBOARD_REFRESH_SKEW", "soon"}, {"PLUGBOARD_REFRESH_SKEW", "-1s"}, {"PLUGBOARD_LOG_FORMAT", "xml"},
		{"PLUGBOARD_ALLOW_PRIVATE_NETWORKS", "yes"}, {"PLUGBOARD_ALLOW_CIDRS", "10.1.2.3"},
		{"PLUGBOARD_OUTBOUND_CA_FILE", filepath.Join(t.TempDir(), "missing.pem")}, {"PLUGBOARD_PROXY_MAX_RESPONSE_BYTES", "0"},
		{"PLUGBOARD_REWRAP_RATE", "fast"}, {"PLUGBOARD_WEBHOOK_RETRY_SCHEDULE", "5s,later"},
		{"PLUGBOARD_CREDENTIAL_EXPIRING_LEAD", "3"}, {"PLUGBOARD_FORCE_REFRESH_INTERVAL", "-5s"},
		{"PLUGBOARD_INBOUND_MAX_BODY_BYTES", "1MiB"}, {"PLUGBOARD_EVENT_RETENTION", "0"},
	} {
		flagName := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(tc.env, "PLUGBOARD_")), "_", "-")
		_, fromEnv := cli.LoadConfig(nil, func(k string) string { return map[string]string{tc.env: tc.value}[k] })
		_, fromFlag := cli.LoadConfig([]string{flagName + "=" + tc.value}, func(string) string { return "" })
		for _, err := range []error{fromEnv, fromFlag} {
			if err == nil || !strings.Contains(err.Error(), tc.env) || !strings.Contains(err.Error(), flagName) {
				t.Errorf("%s=%q: %v, want an error naming %s and %s", tc.env, tc.value, err, tc.env, flagName)
			}
		}
	}
}
