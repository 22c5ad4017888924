// Package cli implements the plugboard command: `serve` and the administrative commands that
// work on the same store (`migrate`, `orgs ...`, `api-keys ...`, `master-keys ...`), all listed in one table
// (commands.go) that dispatch and every help text read. Every setting is one entry of the
// settings table (settings.go), each a flag and an environment variable (the flag wins), loaded
// once into an explicit Config; nothing else reads the environment and nothing is global.
// Serve (serve.go) runs the service from a Config.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/vault"
)

// describe renders an error for a terminal: the domain message and details, not the Go chain.
func describe(err error) string {
	var e *plugboard.Error
	if errors.As(err, &e) && e.Code != plugboard.EInternal {
		if e.Details != "" {
			return e.Message + ": " + e.Details
		}
		return e.Message
	}
	return err.Error()
}

// loadKeys returns the master keyring: PLUGBOARD_ENCRYPTION_KEY if set, else a key file in the
// data dir, generated on first use. createdFile is the path of a key file it generated, "" if none.
func loadKeys(cfg Config, logger *slog.Logger) (kr *vault.Vault, createdFile string, err error) {
	if cfg.EncryptionKey != "" {
		kr, err := vault.Parse(cfg.EncryptionKey)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvEncryptionKey, err)
		}
		return kr, "", nil
	}
	path := filepath.Join(cfg.DataDir, KeyFileName)
	kr, created, err := vault.LoadOrCreateFile(path)
	if err != nil {
		return nil, "", err
	}
	msg := "using the master key file in the data dir"
	if created {
		msg = "generated a master key file in the data dir"
	}
	logger.Warn(msg, "path", path, "key_id", kr.PrimaryKeyID(),
		"why", "whoever can read this file and the database can read every stored secret; in production set "+EnvEncryptionKey+" from a secret manager and keep the key away from the database")
	if created {
		return kr, path, nil
	}
	return kr, "", nil
}

// redactURL drops any password from a database URL before it is logged.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			cred := rest[:at]
			if c := strings.Index(cred, ":"); c >= 0 {
				cred = cred[:c] + ":xxxxx"
			}
			return u[:i+3] + cred + rest[at:]
		}
	}
	return u
}

// bootstrap creates a default organisation and an API key when the store has no organisation, and
// prints them once on stdout (never to the log).
func bootstrap(ctx context.Context, store plugboard.Store, stdout io.Writer, logger *slog.Logger) error {
	n, err := store.CountOrganisations(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	org, key, err := createOrganisation(ctx, store, "default")
	if err != nil {
		return err
	}
	logger.Info("created the default organisation", "organisation_id", org.ID.String())
	fmt.Fprintf(stdout, "Plugboard created a default organisation on first start.\n"+
		"  organisation id: %s\n"+
		"  API key:         %s\n"+
		"The key is shown once; keep it. Create more with: plugboard api-keys create --org %s\n",
		org.ID, key, org.ID)
	return nil
}

// createOrganisation creates an organisation and its first API key in one transaction.
func createOrganisation(ctx context.Context, store plugboard.Store, name string) (*plugboard.Organisation, string, error) {
	org := &plugboard.Organisation{ID: ulid.Make(), Name: name, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	var key string
	err := store.InTx(ctx, func(tx plugboard.Store) error {
		if err := tx.CreateOrganisation(ctx, org); err != nil {
			return err
		}
		var err error
		key, err = createAPIKey(ctx, tx, org.ID)
		return err
	})
	return org, key, err
}

func createAPIKey(ctx context.Context, store plugboard.Store, orgID ulid.ULID, scopes ...string) (string, error) {
	key, id, hash, err := apikey.New(orgID)
	if err != nil {
		return "", err
	}
	k := &plugboard.APIKey{ID: id, OrganisationID: orgID, Hash: hash, Scopes: scopes, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		return "", err
	}
	return key, nil
}

// parseScopes reads the value of --scopes. A key with no scopes may do everything, so a value that
// names none (blank, only commas) or has an empty item is refused rather than read as "all": an
// operator who passes --scopes meant to restrict the key.
func parseScopes(value string) ([]string, error) {
	known := strings.Join(httpapi.Scopes, ", ")
	invalid := func(msg string) error {
		return &plugboard.Error{Code: plugboard.EInvalid, Message: "--scopes " + msg,
			Fields:  []plugboard.FieldError{{Field: "--scopes", Message: msg}},
			Details: "known scopes: " + known + "; leave --scopes out for a key that may do everything"}
	}
	if strings.TrimSpace(value) == "" {
		return nil, invalid("names no scope")
	}
	var out []string
	for _, sc := range strings.Split(value, ",") {
		sc = strings.TrimSpace(sc)
		switch {
		case sc == "":
			return nil, invalid("has an empty item")
		case !slices.Contains(httpapi.Scopes, sc):
			return nil, invalid(fmt.Sprintf("names an unknown scope %q", sc))
		case !slices.Contains(out, sc):
			out = append(out, sc)
		}
	}
	return out, nil
}
