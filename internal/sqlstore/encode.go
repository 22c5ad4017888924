package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
)

// idValue is the stored form of an id: its 26-character ULID string. (ulid.ULID's own Valuer
// writes 16 binary bytes, which would make ids unreadable in the database shell.)
func idValue(id ulid.ULID) string { return id.String() }

// endUserValue stores a connection's end user id, the empty string for static connections (see 0001_init.sql).
func endUserValue(id ulid.ULID) string {
	if id == (ulid.ULID{}) {
		return ""
	}
	return id.String()
}

// idCol scans a TEXT id column into a ULID; the empty string scans as the zero ULID.
type idCol struct{ dst *ulid.ULID }

// Scan implements sql.Scanner.
func (c idCol) Scan(v any) error {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	case nil:
	default:
		return fmt.Errorf("id column holds %T", v)
	}
	if s == "" {
		*c.dst = ulid.ULID{}
		return nil
	}
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return fmt.Errorf("id column holds %q: %w", s, err)
	}
	*c.dst = id
	return nil
}

// nullIDCol scans a nullable id column (the optional side of a LEFT JOIN) into a ULID, and
// whether it was set.
type nullIDCol struct {
	dst   *ulid.ULID
	valid *bool
}

// Scan implements sql.Scanner.
func (c nullIDCol) Scan(v any) error {
	*c.valid = v != nil
	return idCol{c.dst}.Scan(v)
}

// normTime is the form a time is stored in: UTC, truncated to microseconds.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// timeValue is the stored form of a time: Unix nanoseconds of normTime(t).
func timeValue(t time.Time) int64 { return normTime(t).UnixNano() }

// timeCol scans a BIGINT Unix-nanosecond column into a UTC time.
type timeCol struct{ dst *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(v any) error {
	n, ok := v.(int64)
	if !ok {
		return fmt.Errorf("time column holds %T", v)
	}
	*c.dst = time.Unix(0, n).UTC()
	return nil
}

// nullTimeCol scans a nullable time column into a *time.Time.
type nullTimeCol struct{ dst **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeCol) Scan(v any) error {
	if v == nil {
		*c.dst = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(v); err != nil {
		return err
	}
	*c.dst = &t
	return nil
}

// nullTimeValue stores a *time.Time, NULL for nil.
func nullTimeValue(t *time.Time) any {
	if t == nil {
		return nil
	}
	return timeValue(*t)
}

// stamp normalises a new record's timestamps in place: zero CreatedAt becomes now, zero UpdatedAt
// (when the record has one) becomes CreatedAt.
func stamp(created, updated *time.Time) {
	if created.IsZero() {
		*created = time.Now()
	}
	*created = normTime(*created)
	if updated != nil {
		if updated.IsZero() {
			*updated = *created
		}
		*updated = normTime(*updated)
	}
}

// touch normalises an updated record's UpdatedAt in place; zero becomes now.
func touch(updated *time.Time) {
	if updated.IsZero() {
		*updated = time.Now()
	}
	*updated = normTime(*updated)
}

// jsonValue stores a slice or map as JSON text; nil is stored like empty ([] or {}), and both read
// back as nil, so callers see one representation of "none".
func jsonValue[T any](v T, empty string) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return empty
	}
	return string(b)
}

// stringsCol scans a JSON array of strings; empty reads as nil.
type stringsCol struct{ dst *[]string }

// Scan implements sql.Scanner.
func (c stringsCol) Scan(v any) error {
	var s []string
	if err := scanJSON(v, &s); err != nil {
		return err
	}
	if len(s) == 0 {
		s = nil
	}
	*c.dst = s
	return nil
}

// labelsCol scans a JSON object of strings; empty reads as nil.
type labelsCol struct{ dst *map[string]string }

// Scan implements sql.Scanner.
func (c labelsCol) Scan(v any) error {
	var m map[string]string
	if err := scanJSON(v, &m); err != nil {
		return err
	}
	if len(m) == 0 {
		m = nil
	}
	*c.dst = m
	return nil
}

func scanJSON(v any, dst any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return json.Unmarshal([]byte(x), dst)
	case []byte:
		return json.Unmarshal(x, dst)
	}
	return fmt.Errorf("JSON column holds %T", v)
}

// rawCol scans a nullable JSON text column into a json.RawMessage; NULL reads as nil.
type rawCol struct{ dst *json.RawMessage }

// Scan implements sql.Scanner.
func (c rawCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.dst = nil
	case string:
		*c.dst = json.RawMessage(x)
	case []byte:
		*c.dst = append(json.RawMessage(nil), x...)
	default:
		return fmt.Errorf("JSON column holds %T", v)
	}
	return nil
}

// rawValue stores a json.RawMessage as text, NULL when empty. what names the field in the EInvalid
// error for malformed JSON; the error never quotes the value, which may be near a secret.
func rawValue(m json.RawMessage, what string) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if !json.Valid(m) {
		return nil, plugboard.Errorf(plugboard.EInvalid, "%s is not valid JSON", what)
	}
	return string(m), nil
}

// bytesCol scans a nullable BLOB; NULL and empty read as nil.
type bytesCol struct{ dst *[]byte }

// Scan implements sql.Scanner.
func (c bytesCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.dst = nil
	case []byte:
		if len(x) == 0 {
			*c.dst = nil
		} else {
			*c.dst = append([]byte(nil), x...)
		}
	case string:
		if x == "" {
			*c.dst = nil
		} else {
			*c.dst = []byte(x)
		}
	default:
		return fmt.Errorf("BLOB column holds %T", v)
	}
	return nil
}

// nullBytesValue stores sealed bytes, NULL when empty.
func nullBytesValue(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// bytesValue stores bytes in a NOT NULL column; nil becomes an empty BLOB.
func bytesValue(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// likePattern turns a search string into a case-insensitive substring LIKE pattern, escaping LIKE's
// wildcards with \ (queries say ESCAPE '\'). The column side is LOWER()ed in the query; SQLite's
// LOWER folds ASCII only, so non-ASCII letters match case-sensitively there.
func likePattern(search string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(search)) + "%"
}

// placeholders returns "?, ?, ..." for n values, for IN lists.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// idArgs returns the stored forms of ids as query arguments.
func idArgs(ids []ulid.ULID) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = idValue(id)
	}
	return args
}

// requireID returns EInvalid when a record to be created carries no id: the store never invents one.
func requireID(id ulid.ULID, what string) error {
	if id == (ulid.ULID{}) {
		return plugboard.Errorf(plugboard.EInvalid, "%s id is required", what)
	}
	return nil
}

// scanRows scans every row with scan and closes rows.
func scanRows(rows *sql.Rows, scan func(*sql.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
