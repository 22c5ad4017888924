package cli

// The master-keys commands and serve's part in a key rotation: the start-up check that the keys
// open everything stored, and the background rewrapper. Each subcommand has one entry function
// (runMasterKeysStatus, runMasterKeysRewrap, runMasterKeysRetire) taking the arguments after its
// name.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/vault"
)

// tableNouns names each table of sealed values for people.
var tableNouns = map[string][2]string{
	"credentials":         {"credential", "credentials"},
	"auth_scheme_configs": {"auth scheme config secret", "auth scheme config secrets"},
	"oauth_states":        {"OAuth flow state", "OAuth flow states"},
}

// checkKeys refuses a key set that cannot open every stored value: every master key id that a
// sealed value names must be among the keys, so that a lost key file or a key dropped from
// PLUGBOARD_ENCRYPTION_KEY too early stops serve at start instead of leaving secrets unreadable.
// It also refuses a retired key as the first (sealing) key.
func checkKeys(ctx context.Context, store plugboard.Store, keys *vault.Vault) error {
	counts, err := store.CountSealed(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for id, n := range perKey(counts) {
		if !keys.Holds(id) {
			missing = append(missing, fmt.Sprintf("%s (%s)", id, describeCounts(n)))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return &plugboard.Error{Code: plugboard.EUnavailable,
			Message: fmt.Sprintf("the master keys do not open the secrets already stored: values are sealed with key ids %s, and these keys have ids %s",
				strings.Join(missing, ", "), strings.Join(keys.KeyIDs(), ", ")),
			Details: "set " + EnvEncryptionKey + " to include the keys with those ids (any position after the first), or restore DATA_DIR/" + KeyFileName}
	}
	return refuseRetiredFirstKey(ctx, store, keys)
}

// refuseRetiredFirstKey stops anything from sealing with a key that was retired.
func refuseRetiredFirstKey(ctx context.Context, store plugboard.Store, keys *vault.Vault) error {
	recorded, err := store.ListMasterKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range recorded {
		if k.KeyID == keys.PrimaryKeyID() && k.RetiredAt != nil {
			return &plugboard.Error{Code: plugboard.EUnavailable,
				Message: fmt.Sprintf("the first master key (id %s) was retired on %s and may not seal again", k.KeyID, k.RetiredAt.Format(time.RFC3339)),
				Details: "put the current key first in " + EnvEncryptionKey}
		}
	}
	return nil
}

// perKey sums counts by key id, per table.
func perKey(counts []plugboard.SealedCount) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, c := range counts {
		if out[c.KeyID] == nil {
			out[c.KeyID] = map[string]int{}
		}
		out[c.KeyID][c.Table] += c.Count
	}
	return out
}

// describeCounts says "3 credentials, 1 OAuth flow state", in the tables' order.
func describeCounts(byTable map[string]int) string {
	var parts []string
	for _, t := range plugboard.SealedTables {
		if n := byTable[t]; n > 0 {
			noun := tableNouns[t][1]
			if n == 1 {
				noun = tableNouns[t][0]
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, noun))
		}
	}
	return strings.Join(parts, ", ")
}

// commandKeys returns the master keys an administrative command was given, or nil when none is
// configured; unlike serve it never generates a key file.
func commandKeys(cfg Config) (*vault.Vault, error) {
	if cfg.EncryptionKey != "" {
		v, err := vault.Parse(cfg.EncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvEncryptionKey, err)
		}
		return v, nil
	}
	v, err := vault.LoadFile(filepath.Join(cfg.DataDir, KeyFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return v, err
}

// masterKeysStatus is what `master-keys status --json` prints.
type masterKeysStatus struct {
	// Sealed counts the sealed values per table and key id.
	Sealed []sealedCountJSON `json:"sealed"`
	// Keys are the key ids configured for this command, the sealing one first (empty if none).
	Keys []string `json:"keys"`
	// RewrapRequested is the key id a background rewrap was requested for, "" if none.
	RewrapRequested string `json:"rewrapRequested"`
	// Retired lists retired key ids.
	Retired []string `json:"retired"`
}

type sealedCountJSON struct {
	Table string `json:"table"`
	KeyID string `json:"keyId"`
	Count int    `json:"count"`
}

func setupMasterKeysStatus(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context) error { return masterKeysStatusRun(ctx, inv, *asJSON) }
}

func masterKeysStatusRun(ctx context.Context, inv *invocation, asJSON bool) error {
	cfg, stdout := inv.cfg, inv.stdout
	keys, err := commandKeys(cfg)
	if err != nil {
		return err
	}
	store, err := inv.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	counts, err := store.CountSealed(ctx)
	if err != nil {
		return err
	}
	recorded, err := store.ListMasterKeys(ctx)
	if err != nil {
		return err
	}
	st := masterKeysStatus{Sealed: []sealedCountJSON{}, Keys: []string{}, Retired: []string{}}
	for _, c := range counts {
		st.Sealed = append(st.Sealed, sealedCountJSON{Table: c.Table, KeyID: c.KeyID, Count: c.Count})
	}
	if keys != nil {
		st.Keys = keys.KeyIDs()
	}
	for _, k := range recorded {
		if k.RewrapRequestedAt != nil {
			st.RewrapRequested = k.KeyID
		}
		if k.RetiredAt != nil {
			st.Retired = append(st.Retired, k.KeyID)
		}
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(st)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tKEY ID\tRECORDS\t")
	for _, c := range counts {
		note := ""
		switch {
		case keys == nil:
		case c.KeyID == keys.PrimaryKeyID():
			note = "first key"
		case keys.Holds(c.KeyID):
			note = "to rewrap"
		default:
			note = "NOT OPENED by these keys"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", c.Table, c.KeyID, c.Count, note)
	}
	tw.Flush()
	if len(counts) == 0 {
		fmt.Fprintln(stdout, "(nothing sealed)")
	}
	if keys != nil {
		fmt.Fprintf(stdout, "keys configured here: %s (the first seals)\n", strings.Join(keys.KeyIDs(), ", "))
	}
	if st.RewrapRequested != "" {
		fmt.Fprintf(stdout, "background rewrap requested: under key %s\n", st.RewrapRequested)
	}
	for _, id := range st.Retired {
		fmt.Fprintf(stdout, "retired: %s\n", id)
	}
	return nil
}

func setupMasterKeysRewrap(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	background := fs.Bool("background", false, "only record the request: running serve replicas whose first key is this command's first key re-seal in the background")
	batch := fs.Int("batch", 100, "records read at a time")
	rate := fs.Float64("rate", DefaultRewrapRate, "the most values re-sealed per second")
	return func(ctx context.Context) error { return masterKeysRewrapRun(ctx, inv, *background, *batch, *rate) }
}

func masterKeysRewrapRun(ctx context.Context, inv *invocation, background bool, batch int, rate float64) error {
	cfg, stdout, stderr := inv.cfg, inv.stdout, inv.stderr
	if batch <= 0 || rate <= 0 {
		return errors.New("--batch and --rate must be positive")
	}
	keys, err := commandKeys(cfg)
	if err != nil {
		return err
	}
	if keys == nil {
		return fmt.Errorf("no master keys: set %s (the new key first, the old ones after it) as on the replicas", EnvEncryptionKey)
	}
	store, err := inv.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := refuseRetiredFirstKey(ctx, store, keys); err != nil {
		return err
	}
	if background {
		if err := store.RequestRewrap(ctx, keys.PrimaryKeyID(), time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "requested a background rewrap under key %s; serve replicas whose first key it is re-seal everything else.\n"+
			"Follow it with: plugboard master-keys status\n", keys.PrimaryKeyID())
		return nil
	}
	res, err := keys.Rewrap(ctx, store, vault.RewrapOptions{Batch: batch, Rate: rate,
		// Unbuffered, unlike serve's log: its lines go between the progress lines written here.
		Logger: slog.New(slog.NewTextHandler(stderr, nil)),
		Progress: func(r vault.RewrapResult) {
			fmt.Fprintf(stderr, "re-sealed %d so far\n", r.Rewrapped)
		}})
	fmt.Fprintf(stdout, "re-sealed %d values under key %s; %d changed meanwhile and were left to their writers; %d could not be opened\n",
		res.Rewrapped, keys.PrimaryKeyID(), res.Changed, res.Failed)
	return err
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

func setupMasterKeysRetire(_ *flag.FlagSet, inv *invocation) func(context.Context) error {
	return func(ctx context.Context) error { return masterKeysRetireRun(ctx, inv, inv.arg) }
}

func masterKeysRetireRun(ctx context.Context, inv *invocation, keyID string) error {
	cfg, stdout := inv.cfg, inv.stdout
	if !keyIDPattern.MatchString(keyID) {
		return errors.New("master-keys retire needs a key id: 16 hex digits, as master-keys status shows them")
	}
	keys, err := commandKeys(cfg)
	if err != nil {
		return err
	}
	if keys != nil && keys.PrimaryKeyID() == keyID {
		return fmt.Errorf("key %s is the first key here, which seals new values; put the new key first on every replica and rewrap before retiring it", keyID)
	}
	store, err := inv.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	counts, err := store.CountSealed(ctx)
	if err != nil {
		return err
	}
	if n := perKey(counts)[keyID]; len(n) > 0 {
		return &plugboard.Error{Code: plugboard.EConflict,
			Message: fmt.Sprintf("key %s still seals %s", keyID, describeCounts(n)),
			Details: "run plugboard master-keys rewrap (with the new key first) and retire it when nothing uses it"}
	}
	if target, err := vault.RewrapTarget(ctx, store); err != nil {
		return err
	} else if target == keyID {
		return fmt.Errorf("key %s is the target of the requested background rewrap; request one under the new key first", keyID)
	}
	if err := store.RetireMasterKey(ctx, keyID, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "retired key %s: nothing is sealed with it. Drop it from %s on every replica; serve refuses it as the first key from now on.\n",
		keyID, EnvEncryptionKey)
	return nil
}
