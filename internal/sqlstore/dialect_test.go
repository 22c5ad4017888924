package sqlstore

import "testing"

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
		if got := dollar.rebind(c.in); got != c.dollar {
			t.Errorf("dollar rebind(%q) = %q, want %q", c.in, got, c.dollar)
		}
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
