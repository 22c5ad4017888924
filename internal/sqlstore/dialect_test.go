package sqlstore

import (
	"fmt"
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	dollar := dialect{dollar: true}
	for _, c := range []struct{ in, sqlite, dollar string }{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{`x LIKE ? ESCAPE '\' AND y = '?' AND z = ?`, `x LIKE ? ESCAPE '\' AND y = '?' AND z = ?`, `x LIKE $1 ESCAPE '\' AND y = '?' AND z = $2`},
	} {
		if got := sqliteDialect.rebind(c.in); got != c.sqlite {
			t.Errorf("sqlite rebind(%q) = %q", c.in, got)
		}
		// The second call is answered from the cache of rewritten statements.
		for range 2 {
			if got := dollar.rebind(c.in); got != c.dollar {
				t.Errorf("dollar rebind(%q) = %q, want %q", c.in, got, c.dollar)
			}
		}
		if c.in == c.dollar {
			continue // nothing to rewrite, nothing to keep
		}
		if q, ok := rebound.Load(c.in); !ok || q != c.dollar {
			t.Errorf("rebound keeps %v (kept: %v) for %q, want %q", q, ok, c.in, c.dollar)
		}
	}
	// A kept statement is answered from the cache, not rewritten again.
	const kept = "kept = ? AND test = 'TestRebind'"
	rebound.Store(kept, "answered from the cache")
	if got := dollar.rebind(kept); got != "answered from the cache" {
		t.Errorf("dollar rebind(%q) = %q: the cache was not consulted", kept, got)
	}
	rebound.Delete(kept)
	// A statement with more placeholders than the cache keeps is rewritten every time, alike.
	long := "x IN (" + strings.Repeat("?, ", maxCachedArgs) + "?)"
	want := "x IN (" + func() string {
		var b strings.Builder
		for i := 1; i <= maxCachedArgs; i++ {
			fmt.Fprintf(&b, "$%d, ", i)
		}
		return b.String()
	}() + fmt.Sprintf("$%d)", maxCachedArgs+1)
	for range 2 {
		if got := dollar.rebind(long); got != want {
			t.Errorf("dollar rebind(%q) = %q, want %q", long, got, want)
		}
	}
	if _, ok := rebound.Load(long); ok {
		t.Errorf("statement with %d placeholders was cached", maxCachedArgs+1)
	}
}

func TestLikePattern(t *testing.T) {
	for in, want := range map[string]string{"GitHub": "%github%", "50%_off": `%50\%\_off%`, `a\b`: `%a\\b%`} {
		if got := likePattern(in); got != want {
			t.Errorf("likePattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	for _, c := range []struct{ url, dsnPrefix, path string }{
		{"/data/p.db", "/data/p.db?_pragma=journal_mode(WAL)", "/data/p.db"},
		{"sqlite:///data/p.db", "/data/p.db?", "/data/p.db"},
		{"file:/data/p.db?cache=shared", "file:/data/p.db?", "/data/p.db"},
		{"file:///data/p.db", "file:///data/p.db?", "/data/p.db"},
		{"file::memory:", "file::memory:?", ""},
	} {
		dsn, path, err := sqliteDSN(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if len(dsn) < len(c.dsnPrefix) || dsn[:len(c.dsnPrefix)] != c.dsnPrefix || path != c.path {
			t.Errorf("sqliteDSN(%q) = %q, %q", c.url, dsn, path)
		}
	}
}
