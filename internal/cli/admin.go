package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// storeHint says how to point a command at a store.
const storeHint = "point at the server's store with --data-dir DIR or --database-url URL (or " + EnvDataDir + " / " + EnvDatabaseURL + ")"

// openStore opens the store an administrative command works on. It never creates one: an SQLite
// file that does not exist, or a database without Plugboard's schema, is an error naming the
// store it looked at and how to point at another. It never migrates a PostgreSQL database
// (`plugboard migrate` does; an SQLite file migrates like serve migrates it) and never touches
// master keys. It says on stderr which store it used.
func (inv *invocation) openStore(ctx context.Context) (plugboard.Store, error) {
	url := inv.cfg.databaseURL()
	where := sqlstore.Location(url)
	store, err := sqlstore.OpenWith(ctx, url, sqlstore.Options{MustExist: true})
	if plugboard.IsCode(err, plugboard.ENotFound) {
		create := "`plugboard serve` creates an SQLite store on its first start"
		if sqlstore.IsPostgres(url) {
			create = "`plugboard migrate` creates the schema in an empty PostgreSQL database"
		}
		return nil, &plugboard.Error{Code: plugboard.ENotFound, Message: "no Plugboard store at " + where,
			Details: storeHint + "; " + create}
	}
	if err != nil {
		var e *plugboard.Error
		if errors.As(err, &e) && e.Code != plugboard.EInternal {
			return nil, &plugboard.Error{Code: e.Code, Message: "cannot use " + where + ": " + e.Message, Details: e.Details}
		}
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	fmt.Fprintf(inv.stderr, "plugboard: using %s\n", where)
	return store, nil
}

// withStore runs fn on the command's store and closes it.
func (inv *invocation) withStore(ctx context.Context, fn func(plugboard.Store) error) error {
	store, err := inv.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(store)
}

// orgFlag registers --org and returns a function that parses it.
func orgFlag(fs *flag.FlagSet, usage string) func() (ulid.ULID, error) {
	org := fs.String("org", "", usage)
	return func() (ulid.ULID, error) {
		id, err := ulid.Parse(*org)
		if err != nil {
			return ulid.ULID{}, errors.New("--org must be an organisation id (a ULID)")
		}
		return id, nil
	}
}

func setupMigrate(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	return func(ctx context.Context) error {
		url := inv.cfg.databaseURL()
		where := sqlstore.Location(url)
		before, err := sqlstore.Migrate(ctx, url)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			return &plugboard.Error{Code: plugboard.ENotFound, Message: "no Plugboard store at " + where,
				Details: storeHint + "; `plugboard serve` creates an SQLite store on its first start"}
		} else if err != nil {
			return err
		}
		fmt.Fprintf(inv.stderr, "plugboard: using %s\n", where)
		if len(before.Pending) == 0 {
			fmt.Fprintf(inv.stdout, "schema is up to date (version %d)\n", before.Latest)
			return nil
		}
		fmt.Fprintf(inv.stdout, "applied migrations %v; schema is at version %d\n", before.Pending, before.Latest)
		return nil
	}
}

func setupOrgsCreate(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	name := fs.String("name", "", "organisation `NAME` (required)")
	asJSON := fs.Bool("json", false, "print JSON: {\"organisationId\": ..., \"apiKey\": ...}")
	return func(ctx context.Context) error {
		if strings.TrimSpace(*name) == "" {
			return errors.New("--name is required")
		}
		return inv.withStore(ctx, func(store plugboard.Store) error {
			org, key, err := createOrganisation(ctx, store, *name)
			if err != nil {
				return err
			}
			if *asJSON {
				return json.NewEncoder(inv.stdout).Encode(map[string]string{"organisationId": org.ID.String(), "apiKey": key})
			}
			fmt.Fprintf(inv.stdout, "organisation id: %s\nAPI key:         %s\n", org.ID, key)
			return nil
		})
	}
}

// listedOrganisation is one organisation as `orgs list --json` prints it.
type listedOrganisation struct {
	ID        ulid.ULID  `json:"organisationId"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"createdAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty"`
	// PurgeAfter is when a deleted organisation becomes due for the purge.
	PurgeAfter *time.Time `json:"purgeAfter,omitempty"`
}

func setupOrgsList(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	asJSON := fs.Bool("json", false, "print a JSON array of {organisationId, name, createdAt, deletedAt, purgeAfter}")
	return func(ctx context.Context) error {
		grace := inv.cfg.OrgPurgeAfter
		return inv.withStore(ctx, func(store plugboard.Store) error {
			orgs, err := store.ListOrganisations(ctx)
			if err != nil {
				return err
			}
			list := make([]listedOrganisation, 0, len(orgs))
			for _, o := range orgs {
				l := listedOrganisation{ID: o.ID, Name: o.Name, CreatedAt: o.CreatedAt, DeletedAt: o.DeletedAt}
				if o.DeletedAt != nil {
					due := o.DeletedAt.Add(grace)
					l.PurgeAfter = &due
				}
				list = append(list, l)
			}
			if *asJSON {
				return json.NewEncoder(inv.stdout).Encode(list)
			}
			w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tCREATED\tSTATE")
			for _, l := range list {
				state := "live"
				if l.DeletedAt != nil {
					state = "deleted " + l.DeletedAt.Format(time.RFC3339) + ", purged after " + l.PurgeAfter.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", l.ID, l.Name, l.CreatedAt.Format(time.RFC3339), state)
			}
			return w.Flush()
		})
	}
}

// deleteWait is how long `orgs delete` waits after the deletion commits: by then no server can
// still trust a state of the organisation it read before (httpapi.OrgStateTTL), with a margin.
const deleteWait = httpapi.OrgStateTTL + httpapi.OrgStateTTL/4

func setupOrgsDelete(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	org := orgFlag(fs, "`ID` of the organisation to delete (required)")
	return func(ctx context.Context) error {
		orgID, err := org()
		if err != nil {
			return err
		}
		grace := inv.cfg.OrgPurgeAfter
		return inv.withStore(ctx, func(store plugboard.Store) error {
			now := time.Now().UTC().Truncate(time.Microsecond)
			if err := store.DeleteOrganisation(ctx, orgID, now); err != nil {
				return err
			}
			select {
			case <-time.After(deleteWait):
			case <-ctx.Done():
				return fmt.Errorf("organisation %s is deleted, but the command was stopped before every server had certainly seen it (within %s): %w", orgID, httpapi.OrgStateTTL, ctx.Err())
			}
			fmt.Fprintf(inv.stdout, "deleted organisation %s: every API key of it is refused.\n"+
				"Its records are purged after %s (%s after the deletion, %s); until then\n"+
				"`plugboard orgs export --org %s` writes them out, and `plugboard orgs purge --org %s` purges them now.\n",
				orgID, now.Add(grace).Format(time.RFC3339), grace, EnvOrgPurgeAfter, orgID, orgID)
			return nil
		})
	}
}

func setupOrgsExport(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	org := orgFlag(fs, "`ID` of the organisation to export (required)")
	return func(ctx context.Context) error {
		orgID, err := org()
		if err != nil {
			return err
		}
		return inv.withStore(ctx, func(store plugboard.Store) error {
			exp, err := httpapi.Export(ctx, store, orgID)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(inv.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(exp)
		})
	}
}

func setupOrgsPurge(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	org := fs.String("org", "", "purge the deleted organisation `ID` now, however recently it was deleted")
	after := fs.Duration("after", 0, "purge organisations deleted longer ago than `DURATION` (such as 72h); default --org-purge-after ("+EnvOrgPurgeAfter+", "+defaultOrgPurgeAfterText+")")
	return func(ctx context.Context) error {
		grace := *after
		if grace == 0 {
			grace = inv.cfg.OrgPurgeAfter
		}
		if grace < 0 {
			return errors.New("--after must not be negative")
		}
		return inv.withStore(ctx, func(store plugboard.Store) error {
			if *org != "" {
				orgID, err := ulid.Parse(*org)
				if err != nil {
					return errors.New("--org must be an organisation id (a ULID)")
				}
				if err := store.PurgeOrganisation(ctx, orgID); err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "purged organisation %s\n", orgID)
				return nil
			}
			purged, err := purgeDue(ctx, store, time.Now(), grace)
			for _, id := range purged {
				fmt.Fprintf(inv.stdout, "purged organisation %s\n", id)
			}
			if err == nil && len(purged) == 0 {
				fmt.Fprintf(inv.stdout, "no organisation was deleted more than %s ago\n", grace)
			}
			return err
		})
	}
}

// purgeDue purges the organisations deleted at or before now minus grace, and returns their ids.
// Each purge is one transaction; an organisation another process purged meanwhile is skipped.
func purgeDue(ctx context.Context, store plugboard.Store, now time.Time, grace time.Duration) ([]ulid.ULID, error) {
	orgs, err := store.ListOrganisations(ctx)
	if err != nil {
		return nil, err
	}
	var purged []ulid.ULID
	for _, o := range orgs {
		if o.DeletedAt == nil || o.DeletedAt.Add(grace).After(now) {
			continue
		}
		err := store.PurgeOrganisation(ctx, o.ID)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			continue
		} else if err != nil {
			return purged, err
		}
		purged = append(purged, o.ID)
	}
	return purged, nil
}

// PurgeInterval is how often serve looks for deleted organisations due for the purge.
const PurgeInterval = time.Hour

// runPurger purges due organisations now and every PurgeInterval until ctx ends. Replicas on one
// PostgreSQL database take turns: only the one that holds the "purge" lead works a round.
func runPurger(ctx context.Context, store plugboard.Store, grace time.Duration, logger *slog.Logger) {
	for {
		purgeRound(ctx, store, time.Now(), grace, logger)
		select {
		case <-ctx.Done():
			return
		case <-time.After(PurgeInterval):
		}
	}
}

// purgeRound is one round of the background purge.
func purgeRound(ctx context.Context, store plugboard.Store, now time.Time, grace time.Duration, logger *slog.Logger) {
	release, ok, err := store.TryLead(ctx, "purge")
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			logger.Warn("purge of deleted organisations: cannot take the lead", "err", err)
		}
		return
	}
	defer release()
	purged, err := purgeDue(ctx, store, now, grace)
	for _, id := range purged {
		logger.Info("purged a deleted organisation", "organisation_id", id.String(), "grace_period", grace.String())
	}
	if err != nil && ctx.Err() == nil {
		logger.Warn("purge of deleted organisations failed", "err", err)
	}
}

func setupAPIKeysCreate(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	org := orgFlag(fs, "`ID` of the organisation the key is for (required)")
	asJSON := fs.Bool("json", false, "print JSON: {\"apiKey\": ...}")
	scopes := fs.String("scopes", "", "comma-separated `SCOPES` the key may use ("+strings.Join(httpapi.Scopes, ", ")+"); leave the flag out for a key that may do everything")
	return func(ctx context.Context) error {
		var scopeList []string
		scopesSet := false
		fs.Visit(func(f *flag.Flag) { scopesSet = scopesSet || f.Name == "scopes" })
		if scopesSet {
			var err error
			if scopeList, err = parseScopes(*scopes); err != nil {
				return err
			}
		}
		orgID, err := org()
		if err != nil {
			return err
		}
		return inv.withStore(ctx, func(store plugboard.Store) error {
			o, err := store.GetOrganisation(ctx, orgID)
			if err != nil {
				return err
			}
			if o.DeletedAt != nil {
				return plugboard.Errorf(plugboard.EConflict, "organisation %s was deleted at %s; its keys are refused", orgID, o.DeletedAt.Format(time.RFC3339))
			}
			key, err := createAPIKey(ctx, store, orgID, scopeList...)
			if err != nil {
				return err
			}
			if *asJSON {
				return json.NewEncoder(inv.stdout).Encode(map[string]string{"apiKey": key})
			}
			fmt.Fprintf(inv.stdout, "API key: %s\n", key)
			return nil
		})
	}
}
