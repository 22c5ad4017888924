package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/httpapi"
)

// runAPIKeysList prints the organisation's API keys, never their secrets: as a table, or with
// --json as the API's APIKey objects.
func runAPIKeysList(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var (
		cfg    Config
		org    string
		asJSON bool
	)
	fs := flag.NewFlagSet("api-keys list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&org, "org", "", "organisation id (required)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	storeFlags(fs, &cfg, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	orgID, err := ulid.Parse(org)
	if err != nil {
		return errors.New("--org must be an organisation id (a ULID)")
	}
	store, err := openStoreForCommand(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.GetOrganisation(ctx, orgID); err != nil {
		return err
	}
	keys := []api.APIKey{}
	page := plugboard.PageRequest{First: plugboard.MaxPageSize}
	for {
		p, err := store.ListAPIKeys(ctx, orgID, page)
		if err != nil {
			return err
		}
		for i := range p.Items {
			keys = append(keys, httpapi.APIKeyView(&p.Items[i]))
		}
		if p.Next == (ulid.ULID{}) {
			break
		}
		page.After = p.Next
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(keys)
	}
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tSCOPES\tCREATED\tLAST USED\tEXPIRES")
	for _, k := range keys {
		scopes := strings.Join(k.Scopes, ",")
		if k.Unrestricted {
			scopes = "(all)"
		}
		name := k.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, name, k.Prefix, scopes, when(&k.CreatedAt),
			when(k.LastUsedAt), when(k.ExpiresAt))
	}
	return tw.Flush()
}

// runAPIKeysDelete revokes an API key. Running servers that verified the key in the last
// httpapi.KeyCacheTTL may accept it until their cached copy is that old.
func runAPIKeysDelete(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var (
		cfg     Config
		org, id string
	)
	fs := flag.NewFlagSet("api-keys delete", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&org, "org", "", "organisation id (required)")
	fs.StringVar(&id, "id", "", "the API key's id, as api-keys list prints it (required)")
	storeFlags(fs, &cfg, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	orgID, err := ulid.Parse(org)
	if err != nil {
		return errors.New("--org must be an organisation id (a ULID)")
	}
	keyID, err := ulid.Parse(id)
	if err != nil {
		return errors.New("--id must be an API key id (a ULID; see plugboard api-keys list)")
	}
	store, err := openStoreForCommand(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.DeleteAPIKey(ctx, orgID, keyID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted API key %s; running servers refuse it within %s\n", keyID, httpapi.KeyCacheTTL)
	return nil
}
