package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/plugboard/plugboard"
)

// sealedTable says how to address the records of one table that holds sealed values: its key
// columns after organisation_id, in the order of its sealed_key_id index (migration 0007).
type sealedTable struct {
	name      string
	hasSystem bool
}

func sealedTableOf(name string) (sealedTable, error) {
	if !slices.Contains(plugboard.SealedTables, name) {
		return sealedTable{}, plugboard.Errorf(plugboard.EInvalid, "no table of sealed values is named %q", name)
	}
	return sealedTable{name: name, hasSystem: name == "auth_scheme_configs"}, nil
}

// keyCols lists the record's key columns, in index order.
func (t sealedTable) keyCols() string {
	if t.hasSystem {
		return "organisation_id, system_id, id"
	}
	return "organisation_id, id"
}

// CountSealed counts each table's sealed values per key id, on the sealed_key_id indexes.
func (o *ops) CountSealed(ctx context.Context) ([]plugboard.SealedCount, error) {
	var out []plugboard.SealedCount
	for _, table := range plugboard.SealedTables {
		rows, err := o.query(ctx, `SELECT sealed_key_id, COUNT(*) FROM `+table+`
			WHERE sealed_key_id IS NOT NULL GROUP BY sealed_key_id ORDER BY sealed_key_id`)
		if err != nil {
			return nil, o.d.translate(err, "count sealed "+table, nil)
		}
		err = scanRows(rows, func(r *sql.Rows) error {
			c := plugboard.SealedCount{Table: table}
			if err := r.Scan(&c.KeyID, &c.Count); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
		if err != nil {
			return nil, o.d.translate(err, "count sealed "+table, nil)
		}
	}
	return out, nil
}

// ListSealed walks one table's sealed_key_id index in order, skipping exceptKeyID.
func (o *ops) ListSealed(ctx context.Context, table, exceptKeyID string, after *plugboard.SealedRecord, limit int) ([]plugboard.SealedRecord, error) {
	t, err := sealedTableOf(table)
	if err != nil {
		return nil, err
	}
	cols := "sealed_key_id, " + t.keyCols()
	q := `SELECT ` + cols + `, sealed FROM ` + t.name + ` WHERE sealed_key_id IS NOT NULL AND sealed_key_id <> ?`
	args := []any{exceptKeyID}
	if after != nil {
		if t.hasSystem {
			q += ` AND (` + cols + `) > (?, ?, ?, ?)`
			args = append(args, after.KeyID, idValue(after.OrganisationID), idValue(after.SystemID), after.ID)
		} else {
			q += ` AND (` + cols + `) > (?, ?, ?)`
			args = append(args, after.KeyID, idValue(after.OrganisationID), after.ID)
		}
	}
	q += ` ORDER BY ` + cols + ` LIMIT ?`
	args = append(args, limit)
	rows, err := o.query(ctx, q, args...)
	if err != nil {
		return nil, o.d.translate(err, "list sealed "+table, nil)
	}
	var out []plugboard.SealedRecord
	err = scanRows(rows, func(r *sql.Rows) error {
		rec := plugboard.SealedRecord{Table: t.name}
		dst := []any{&rec.KeyID, idCol{&rec.OrganisationID}}
		if t.hasSystem {
			dst = append(dst, idCol{&rec.SystemID})
		}
		dst = append(dst, &rec.ID, bytesCol{&rec.Sealed})
		if err := r.Scan(dst...); err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, o.d.translate(err, "list sealed "+table, nil)
	}
	return out, nil
}

// ReplaceSealed is a compare-and-swap on the sealed column alone: a concurrent writer (a token
// refresh, an update through the API) wins, and whoever re-seals finds the record again next time.
func (o *ops) ReplaceSealed(ctx context.Context, r plugboard.SealedRecord, sealed []byte) (bool, error) {
	t, err := sealedTableOf(r.Table)
	if err != nil {
		return false, err
	}
	if len(r.Sealed) == 0 || len(sealed) == 0 {
		return false, plugboard.Internal(fmt.Errorf("replace sealed %s %s: empty value", r.Table, r.ID))
	}
	q := `UPDATE ` + t.name + ` SET sealed = ? WHERE organisation_id = ? AND id = ? AND sealed = ?`
	args := []any{sealed, idValue(r.OrganisationID), r.ID, r.Sealed}
	if t.hasSystem {
		q = `UPDATE ` + t.name + ` SET sealed = ? WHERE organisation_id = ? AND system_id = ? AND id = ? AND sealed = ?`
		args = []any{sealed, idValue(r.OrganisationID), idValue(r.SystemID), r.ID, r.Sealed}
	}
	res, err := o.exec(ctx, q, args...)
	if err != nil {
		return false, o.d.translate(err, "replace sealed "+r.Table, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, plugboard.Internal(fmt.Errorf("rows affected: %w", err))
	}
	return n == 1, nil
}

// ListMasterKeys reads master_keys.
func (o *ops) ListMasterKeys(ctx context.Context) ([]plugboard.MasterKey, error) {
	rows, err := o.query(ctx, `SELECT key_id, rewrap_requested_at, retired_at FROM master_keys ORDER BY key_id`)
	if err != nil {
		return nil, o.d.translate(err, "list master keys", nil)
	}
	var out []plugboard.MasterKey
	err = scanRows(rows, func(r *sql.Rows) error {
		var k plugboard.MasterKey
		if err := r.Scan(&k.KeyID, nullTimeCol{&k.RewrapRequestedAt}, nullTimeCol{&k.RetiredAt}); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	if err != nil {
		return nil, o.d.translate(err, "list master keys", nil)
	}
	return out, nil
}

// RequestRewrap makes keyID the one rewrap target.
func (o *ops) RequestRewrap(ctx context.Context, keyID string, at time.Time) error {
	return o.inTx(ctx, func(o *ops) error {
		if _, err := o.exec(ctx, `UPDATE master_keys SET rewrap_requested_at = NULL WHERE key_id <> ?`, keyID); err != nil {
			return o.d.translate(err, "request rewrap", nil)
		}
		_, err := o.exec(ctx, `INSERT INTO master_keys (key_id, rewrap_requested_at) VALUES (?, ?)
			ON CONFLICT (key_id) DO UPDATE SET rewrap_requested_at = excluded.rewrap_requested_at`, keyID, timeValue(at))
		return o.d.translate(err, "request rewrap", nil)
	})
}

// RetireMasterKey records a retirement.
func (o *ops) RetireMasterKey(ctx context.Context, keyID string, at time.Time) error {
	_, err := o.exec(ctx, `INSERT INTO master_keys (key_id, retired_at) VALUES (?, ?)
		ON CONFLICT (key_id) DO UPDATE SET rewrap_requested_at = NULL,
			retired_at = COALESCE(master_keys.retired_at, excluded.retired_at)`, keyID, timeValue(at))
	return o.d.translate(err, "retire master key", nil)
}
