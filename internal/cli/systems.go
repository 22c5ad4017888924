package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/importer"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/systems"
)

// setupSystemsImport is `plugboard systems import FILE|URL --org ID`: the API's import, on the
// store. An imported system holds no secret, so the command needs no master key.
func setupSystemsImport(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	org := orgFlag(fs, "`ID` of the organisation to create the system in (required)")
	name := fs.String("name", "", "the system's `NAME`; the document's title by default")
	server := fs.Int("server", 0, "`INDEX` of the document's server that gives templateBaseUrl")
	schemes := fs.String("schemes", "", "comma-separated `NAMES` of the security schemes to keep; all by default")
	dryRun := fs.Bool("dry-run", false, "print the system as it would be created, and create nothing")
	return func(ctx context.Context) error {
		orgID, err := org()
		if err != nil {
			return err
		}
		opts := httpapi.ImportOptions{Name: *name, Server: *server, DryRun: *dryRun}
		for _, s := range strings.Split(*schemes, ",") {
			if s = strings.TrimSpace(s); s != "" {
				opts.Schemes = append(opts.Schemes, s)
			}
		}
		client := outbound.New(inv.cfg.Outbound)
		doc, docURL, err := readDocument(ctx, client, inv.arg)
		if err != nil {
			return err
		}
		return inv.withStore(ctx, func(store plugboard.Store) error {
			res, err := httpapi.ImportSystem(ctx, store, nil, orgID, doc, docURL, opts, client)
			if err != nil {
				return withFields(err)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(inv.stderr, "warning: %s at %s: %s\n", w.Code, w.Pointer, w.Message)
			}
			enc := json.NewEncoder(inv.stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(res)
		})
	}
}

// readDocument reads a file, or fetches an http(s) URL through the guarded client.
func readDocument(ctx context.Context, client *outbound.Client, arg string) ([]byte, string, error) {
	if u, err := url.Parse(arg); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		doc, err := systems.FetchDocument(ctx, client, arg, importer.MaxDocumentBytes)
		return doc, arg, err
	}
	st, err := os.Stat(arg)
	if err != nil {
		return nil, "", err
	}
	if st.Size() > importer.MaxDocumentBytes {
		return nil, "", fmt.Errorf("%s is larger than %d bytes", arg, importer.MaxDocumentBytes)
	}
	doc, err := os.ReadFile(arg)
	return doc, "", err
}

// withFields adds the fields an invalid-argument error names to its message, which is all the
// command prints of it.
func withFields(err error) error {
	var pe *plugboard.Error
	if !errors.As(err, &pe) || len(pe.Fields) == 0 {
		return err
	}
	msg := pe.Message
	for _, f := range pe.Fields {
		msg += "; " + f.Field + " " + f.Message
	}
	return &plugboard.Error{Code: pe.Code, Message: msg, Details: pe.Details}
}
