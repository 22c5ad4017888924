package vault_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/vault"
)

func TestEachKindOpensOnlyWhereItWasSealed(t *testing.T) {
	key := vault.NewKey()
	v, err := vault.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	org, sys, id := ulid.Make(), ulid.Make(), ulid.Make()
	secret := []byte("s3cret-value")

	cred, err := v.SealCredential(org, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := v.SealConfig(org, sys, id.String(), secret)
	st, _ := v.SealState(org, id.String(), secret)
	if out, err := v.OpenCredential(org, id, cred); err != nil || string(out) != string(secret) {
		t.Fatalf("credential: %q %v", out, err)
	}
	if out, err := v.OpenConfig(org, sys, id.String(), cfg); err != nil || string(out) != string(secret) {
		t.Fatalf("config: %q %v", out, err)
	}
	if out, err := v.OpenState(org, id.String(), st); err != nil || string(out) != string(secret) {
		t.Fatalf("state: %q %v", out, err)
	}
	// The same ids under another kind of record, or another organisation, do not open.
	if _, err := v.OpenState(org, id.String(), cred); err == nil {
		t.Error("a credential opened as an OAuth state")
	}
	if _, err := v.OpenCredential(org, id, st); err == nil {
		t.Error("an OAuth state opened as a credential")
	}
	ev, _ := v.SealEvent(org, id, secret)
	if out, err := v.OpenEvent(org, id, ev); err != nil || string(out) != string(secret) {
		t.Fatalf("event: %q %v", out, err)
	}
	if _, err := v.OpenEvent(org, id, cred); err == nil {
		t.Error("a credential opened as an event")
	}
	if _, err := v.OpenCredential(org, id, ev); err == nil {
		t.Error("an event opened as a credential")
	}
	if _, err := v.OpenCredential(ulid.Make(), id, cred); err == nil {
		t.Error("a credential opened in another organisation")
	}
	// Errors and descriptions name key ids, never keys or secrets.
	_, err = v.OpenConfig(org, ulid.Make(), id.String(), cfg)
	for _, s := range []string{fmt.Sprint(err), v.String(), fmt.Sprintf("%#v", v)} {
		if strings.Contains(s, key) || strings.Contains(s, string(secret)) {
			t.Errorf("leaks a key or secret: %s", s)
		}
	}
	if got, _ := vault.KeyIDOf(cred); got != v.PrimaryKeyID() {
		t.Errorf("KeyIDOf = %s, want %s", got, v.PrimaryKeyID())
	}
	if id, _ := vault.KeyIDOfText(key); id != v.PrimaryKeyID() || !v.Holds(id) || v.Holds("0000000000000000") {
		t.Errorf("KeyIDOfText/Holds disagree with the vault")
	}
}
