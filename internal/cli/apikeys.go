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

// setupAPIKeysList prints the organisation's API keys, never their secrets: as a table, or with
// --json as the API's APIKey objects.
func setupAPIKeysList(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	org := fs.String("org", "", "organisation id (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context) error {
		orgID, err := ulid.Parse(*org)
		if err != nil {
			return errors.New("--org must be an organisation id (a ULID)")
		}
		return inv.withStore(ctx, func(store plugboard.Store) error {
			if _, err := store.GetOrganisation(ctx, orgID); err != nil {
				return err
			}
			return listAPIKeys(ctx, store, orgID, *asJSON, inv.stdout)
		})
	}
}

func listAPIKeys(ctx context.Context, store plugboard.Store, orgID ulid.ULID, asJSON bool, stdout io.Writer) error {
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

// setupAPIKeysDelete revokes an API key. Running servers that verified the key in the last
// httpapi.KeyCacheTTL may accept it until their cached copy is that old.
func setupAPIKeysDelete(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	org := fs.String("org", "", "organisation id (required)")
	id := fs.String("id", "", "the API key's id, as api-keys list prints it (required)")
	return func(ctx context.Context) error {
		orgID, err := ulid.Parse(*org)
		if err != nil {
			return errors.New("--org must be an organisation id (a ULID)")
		}
		keyID, err := ulid.Parse(*id)
		if err != nil {
			return errors.New("--id must be an API key id (a ULID; see plugboard api-keys list)")
		}
		return inv.withStore(ctx, func(store plugboard.Store) error {
			if err := store.DeleteAPIKey(ctx, orgID, keyID); err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "deleted API key %s; running servers refuse it within %s\n", keyID, httpapi.KeyCacheTTL)
			return nil
		})
	}
}
