package sqlstore

import (
	"context"
	"database/sql"
	"slices"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

// listSpec describes a keyset-paginated list: SELECT cols FROM table WHERE where, paged on the
// table's id column. where must start with the organisation filter so the (organisation_id, ...)
// indexes serve it.
type listSpec struct {
	cols  string
	table string
	where string
	args  []any
}

// pageSize applies the store's page size rules to a requested size.
func pageSize(first int) int {
	switch {
	case first <= 0:
		return plugboard.DefaultPageSize
	case first > plugboard.MaxPageSize:
		return plugboard.MaxPageSize
	}
	return first
}

// listPage returns one page of spec. With After it takes the first ids above After; with Before the
// last ids below Before (read descending, then reversed); with neither the first ids. It runs
// several queries and so must be called in a (read) transaction for a consistent page.
func listPage[T any](ctx context.Context, o *ops, spec listSpec, req plugboard.PageRequest,
	scan func(*sql.Rows) (T, error), idOf func(*T) ulid.ULID) (*plugboard.Page[T], error) {
	var zero ulid.ULID
	if req.After != zero && req.Before != zero {
		return nil, plugboard.Errorf(plugboard.EInvalid, "a page request cannot set both after and before")
	}
	n := pageSize(req.First)
	page := &plugboard.Page[T]{}

	if err := o.queryRow(ctx, "SELECT COUNT(*) FROM "+spec.table+" WHERE "+spec.where, spec.args...).
		Scan(&page.TotalCount); err != nil {
		return nil, o.d.translate(err, "count "+spec.table, nil)
	}

	q := "SELECT " + spec.cols + " FROM " + spec.table + " WHERE " + spec.where
	args := slices.Clone(spec.args)
	backward := req.Before != zero
	switch {
	case backward:
		q += " AND id < ? ORDER BY id DESC LIMIT ?"
		args = append(args, idValue(req.Before))
	case req.After != zero:
		q += " AND id > ? ORDER BY id ASC LIMIT ?"
		args = append(args, idValue(req.After))
	default:
		q += " ORDER BY id ASC LIMIT ?"
	}
	// One row more than the page tells whether more records lie in the direction of reading.
	args = append(args, n+1)
	rows, err := o.query(ctx, q, args...)
	if err != nil {
		return nil, o.d.translate(err, "list "+spec.table, nil)
	}
	err = scanRows(rows, func(r *sql.Rows) error {
		item, err := scan(r)
		if err == nil {
			page.Items = append(page.Items, item)
		}
		return err
	})
	if err != nil {
		return nil, o.d.translate(err, "list "+spec.table, nil)
	}
	more := len(page.Items) > n
	if more {
		page.Items = page.Items[:n]
	}
	if backward {
		slices.Reverse(page.Items)
	}
	if len(page.Items) == 0 {
		return page, nil
	}
	first, last := idOf(&page.Items[0]), idOf(&page.Items[len(page.Items)-1])

	// The direction not read is answered by an existence check, exact even when the cursor record
	// itself has been deleted since the client got it.
	beyond := func(cmp string, id ulid.ULID) (bool, error) {
		return o.exists(ctx, "SELECT 1 FROM "+spec.table+" WHERE "+spec.where+" AND id "+cmp+" ?",
			append(slices.Clone(spec.args), idValue(id))...)
	}
	if backward {
		if more {
			page.Prev = first
		}
		if ok, err := beyond(">", last); err != nil {
			return nil, err
		} else if ok {
			page.Next = last
		}
		return page, nil
	}
	if more {
		page.Next = last
	}
	if req.After != zero {
		if ok, err := beyond("<", first); err != nil {
			return nil, err
		} else if ok {
			page.Prev = first
		}
	}
	return page, nil
}
