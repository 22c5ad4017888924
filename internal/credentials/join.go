package credentials

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/plugboard/plugboard/api"
)

// Joining a credential is on the proxy's cold path (every connection opened from the store), so
// buildCredential decodes the public half straight into the type's member struct and sets the
// secret fields on it, rather than going through a map and a second JSON round trip. Which member
// and which fields is still read from credentialKinds: joinPlans is derived from it once, by the
// members' JSON names, and a credential type whose member or secret fields cannot be found in
// api.CredentialData stops the program at start (and so every test).
//
// For well-formed halves (one JSON object each, as SplitCredential writes them) the result is
// exactly the round trip's. On malformed public halves, which no writer produces, the two differ,
// and the direct join's answer is the intended one: data after the object is an error (the round
// trip read the first value and ignored the rest); of keys naming the same field (duplicates, or
// case variants) the last in the document wins and duplicate objects merge, as encoding/json
// decodes a struct (the round trip's map kept the last duplicate and let the marshalled key order
// pick among case variants); and the secret fields are set after decoding, so no value in the
// public half, under any spelling of a secret's name, is ever given back as a secret.

// joinPlan says where one credential type's data goes in api.CredentialData.
type joinPlan struct {
	member  int   // index of the member's field in api.CredentialData (a pointer)
	secrets []int // index, in the member struct, of each of credentialKind.secrets, in order
	lists   []int // index of each required list (requiredLists) in the member struct
}

var joinPlans = makeJoinPlans()

// jsonName returns the JSON name of a struct field, "" when it has none or is skipped.
func jsonName(f reflect.StructField) string {
	tag, ok := f.Tag.Lookup("json")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

// fieldIndexByJSON returns the index of the field of struct type t with JSON name name.
func fieldIndexByJSON(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		if jsonName(t.Field(i)) == name {
			return i, true
		}
	}
	return 0, false
}

func makeJoinPlans() map[api.CredentialType]joinPlan {
	dataType := reflect.TypeFor[api.CredentialData]()
	plans := make(map[api.CredentialType]joinPlan, len(credentialKinds))
	for _, k := range credentialKinds {
		mi, ok := fieldIndexByJSON(dataType, k.member)
		if !ok || dataType.Field(mi).Type.Kind() != reflect.Pointer {
			panic(fmt.Sprintf("credentials: CredentialData has no pointer member %q for %s", k.member, k.typ))
		}
		plan := joinPlan{member: mi}
		mt := dataType.Field(mi).Type.Elem()
		if len(k.secrets) > 0 || len(requiredLists[k.member]) > 0 {
			if mt.Kind() != reflect.Struct {
				panic(fmt.Sprintf("credentials: member %q of %s is not a struct", k.member, k.typ))
			}
		}
		for _, s := range k.secrets {
			fi, ok := fieldIndexByJSON(mt, s)
			if !ok || mt.Field(fi).Type.Kind() != reflect.String {
				panic(fmt.Sprintf("credentials: member %q of %s has no string field %q", k.member, k.typ, s))
			}
			plan.secrets = append(plan.secrets, fi)
		}
		for _, l := range requiredLists[k.member] {
			fi, ok := fieldIndexByJSON(mt, l)
			if !ok || mt.Field(fi).Type.Kind() != reflect.Slice {
				panic(fmt.Sprintf("credentials: member %q of %s has no list field %q", k.member, k.typ, l))
			}
			plan.lists = append(plan.lists, fi)
		}
		plans[k.typ] = plan
	}
	return plans
}

// buildCredential makes CredentialData of type typ from a public half, setting every secret field
// from sec, or "" where sec has none. An empty or null public half is an empty member.
func buildCredential(typ api.CredentialType, public []byte, sec map[string]string) (api.CredentialData, error) {
	k, ok := credentialKindOf(typ)
	if !ok {
		return api.CredentialData{}, internalf("unknown credential type %q", typ)
	}
	plan := joinPlans[typ]
	var d api.CredentialData
	slot := reflect.ValueOf(&d).Elem().Field(plan.member)
	mp := reflect.New(slot.Type().Elem()) // *member
	trimmed := bytes.TrimSpace(public)
	if len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if trimmed[0] != '{' {
			return api.CredentialData{}, internalf("decode public half: not a JSON object")
		}
		if err := json.Unmarshal(trimmed, mp.Interface()); err != nil {
			return api.CredentialData{}, internalf("decode public half: %w", err)
		}
	}
	m := mp.Elem()
	if m.Kind() == reflect.Map && m.IsNil() {
		m.Set(reflect.MakeMap(m.Type()))
	}
	for i, fi := range plan.secrets {
		m.Field(fi).SetString(sec[k.secrets[i]])
	}
	for _, fi := range plan.lists {
		if l := m.Field(fi); l.IsNil() {
			l.Set(reflect.MakeSlice(l.Type(), 0, 0))
		}
	}
	slot.Set(mp)
	return d, nil
}
