// Package benchkit holds what the commands under bench/ share to set up a store.
package benchkit

import (
	"context"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apikey"
)

// CreateOrganisation makes an organisation named name and an API key for it in the store, in one
// transaction, as `plugboard orgs create` does, and returns the organisation id and the key.
func CreateOrganisation(ctx context.Context, store plugboard.Store, name string) (ulid.ULID, string, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	org := &plugboard.Organisation{ID: ulid.Make(), Name: name, CreatedAt: now}
	var key string
	err := store.InTx(ctx, func(tx plugboard.Store) error {
		if err := tx.CreateOrganisation(ctx, org); err != nil {
			return err
		}
		k, id, hash, err := apikey.New(org.ID)
		if err != nil {
			return err
		}
		key = k
		return tx.CreateAPIKey(ctx, &plugboard.APIKey{ID: id, OrganisationID: org.ID, Hash: hash, CreatedAt: now})
	})
	return org.ID, key, err
}
