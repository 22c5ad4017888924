package sqlstore

import (
	"testing"

	"github.com/plugboard/plugboard"
)

// TestByPosition checks the order GetConnection gives credentials, which its statement leaves to
// Go: rows in any order come out by position.
func TestByPosition(t *testing.T) {
	cred := func(name string) plugboard.ConnectionCredential {
		return plugboard.ConnectionCredential{Credential: plugboard.Credential{Name: name}}
	}
	for _, tc := range []struct {
		names     []string
		positions []int64
		want      string
	}{
		{nil, nil, ""},
		{[]string{"a"}, []int64{0}, "a"},
		{[]string{"a", "b", "c"}, []int64{0, 1, 2}, "abc"},
		{[]string{"c", "a", "b"}, []int64{2, 0, 1}, "abc"},
		{[]string{"b", "a"}, []int64{7, 3}, "ab"},
	} {
		var creds []plugboard.ConnectionCredential
		for _, n := range tc.names {
			creds = append(creds, cred(n))
		}
		got := ""
		for _, c := range byPosition(creds, tc.positions) {
			got += c.Credential.Name
		}
		if got != tc.want {
			t.Errorf("byPosition(%v, %v) = %q, want %q", tc.names, tc.positions, got, tc.want)
		}
	}
}
