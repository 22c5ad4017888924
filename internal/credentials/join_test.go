package credentials

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/api"
)

// jsonRoundTripJoin is how credentials were joined before buildCredential filled the member
// struct directly: decode the public half into a map, set the secrets, marshal the member and
// unmarshal it into CredentialData. It is kept here as the reference the direct join must equal.
func jsonRoundTripJoin(typ api.CredentialType, public []byte, sec map[string]string) (api.CredentialData, error) {
	k, ok := credentialKindOf(typ)
	if !ok {
		return api.CredentialData{}, internalf("unknown credential type %q", typ)
	}
	obj, err := decodeObject(public)
	if err != nil {
		return api.CredentialData{}, internalf("decode public half: %w", err)
	}
	for _, f := range k.secrets {
		obj[f] = sec[f]
	}
	fillLists(k.member, obj)
	raw, err := json.Marshal(map[string]any{k.member: obj})
	if err != nil {
		return api.CredentialData{}, internalf("encode credential data: %w", err)
	}
	var d api.CredentialData
	if err := json.Unmarshal(raw, &d); err != nil {
		return api.CredentialData{}, internalf("decode credential data: %w", err)
	}
	return d, nil
}

// randomString returns "" sometimes, and otherwise text with the characters JSON escapes.
func randomString(r *rand.Rand) string {
	const alphabet = "abcXYZ019 \"\\/<>&\n\t\u00e9\u2028\U0001F600-_=+."
	runes := []rune(alphabet)
	if r.IntN(5) == 0 {
		return ""
	}
	var b strings.Builder
	for range r.IntN(40) + 1 {
		b.WriteRune(runes[r.IntN(len(runes))])
	}
	return b.String()
}

func randomJSONValue(r *rand.Rand, depth int) any {
	switch r.IntN(6) {
	case 0:
		return randomString(r)
	case 1:
		return float64(r.IntN(1<<20)) / 8
	case 2:
		return r.IntN(2) == 0
	case 3:
		return nil
	case 4:
		if depth > 1 {
			return "leaf"
		}
		return []any{randomJSONValue(r, depth+1), randomJSONValue(r, depth+1)}
	default:
		if depth > 1 {
			return "leaf"
		}
		return map[string]any{randomString(r) + "k": randomJSONValue(r, depth+1)}
	}
}

// fillRandom sets every exported field of v (addressable) to a random value of its type.
func fillRandom(t *testing.T, r *rand.Rand, v reflect.Value) {
	t.Helper()
	switch v.Interface().(type) {
	case time.Time:
		switch r.IntN(3) {
		case 0:
			v.Set(reflect.ValueOf(time.Time{}))
		case 1:
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), 0).UTC()))
		default:
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(time.FixedZone("x", 3600*(r.IntN(25)-12)))))
		}
		return
	case map[string]any:
		switch r.IntN(3) {
		case 0:
			v.Set(reflect.Zero(v.Type()))
		case 1:
			v.Set(reflect.ValueOf(map[string]any{}))
		default:
			m := map[string]any{}
			for range r.IntN(4) + 1 {
				m[randomString(r)+"c"] = randomJSONValue(r, 0)
			}
			v.Set(reflect.ValueOf(m))
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(randomString(r))
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		p := reflect.New(v.Type().Elem())
		fillRandom(t, r, p.Elem())
		v.Set(p)
	case reflect.Slice:
		switch r.IntN(3) {
		case 0:
			v.Set(reflect.Zero(v.Type()))
		default:
			n := r.IntN(3)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				fillRandom(t, r, s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillRandom(t, r, v.Field(i))
			}
		}
	default:
		t.Fatalf("no random value for %s", v.Type())
	}
}

// randomData returns CredentialData of type typ with its member filled at random.
func randomData(t *testing.T, r *rand.Rand, typ api.CredentialType) *api.CredentialData {
	t.Helper()
	if typ == api.CredentialTypeNone && r.IntN(3) == 0 {
		return nil
	}
	var d api.CredentialData
	slot := reflect.ValueOf(&d).Elem().Field(joinPlans[typ].member)
	p := reflect.New(slot.Type().Elem())
	fillRandom(t, r, p.Elem())
	slot.Set(p)
	return &d
}

// joinCases returns the public and secrets halves to join for data: what SplitCredential makes,
// and the variants a store may hold (secrets lost or partial, secret fields left out of or set in
// the public half, an empty or null public half, unknown fields).
func joinCases(t *testing.T, r *rand.Rand, typ api.CredentialType, data *api.CredentialData) map[string][2][]byte {
	t.Helper()
	pub, sec, err := SplitCredential(api.Credential{Type: typ, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][2][]byte{
		"split":        {pub, sec},
		"no secrets":   {pub, nil},
		"empty":        {nil, sec},
		"null public":  {[]byte(" null "), sec},
		"empty object": {[]byte("{}"), sec},
	}
	var obj map[string]any
	if err := json.Unmarshal(pub, &obj); err != nil {
		t.Fatal(err)
	}
	k, _ := credentialKindOf(typ)
	for _, f := range k.secrets {
		delete(obj, f)
	}
	obj["unknownField"] = randomJSONValue(r, 0)
	for _, l := range requiredLists[k.member] {
		if r.IntN(2) == 0 {
			obj[l] = nil
		}
	}
	stripped, _ := json.Marshal(obj)
	cases["stripped"] = [2][]byte{stripped, sec}
	var secObj map[string]string
	_ = json.Unmarshal(sec, &secObj)
	for f := range secObj {
		delete(secObj, f)
		break
	}
	partial, _ := json.Marshal(secObj)
	cases["partial secrets"] = [2][]byte{pub, partial}
	// A public half holding values in its secret fields never gives them back: the secrets
	// half, or "", wins.
	for _, f := range k.secrets {
		obj[f] = "from-public"
	}
	filled, _ := json.Marshal(obj)
	cases["secrets in public"] = [2][]byte{filled, partial}
	return cases
}

// TestJoinEqualsJSONRoundTrip checks, for every credential type and many random credentials, that
// the direct join builds exactly what the JSON round trip built from well-formed halves (and the
// variants of them a store may hold). Malformed public halves are TestJoinMalformedPublicHalves'.
func TestJoinEqualsJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 2026))
	for _, k := range credentialKinds {
		t.Run(string(k.typ), func(t *testing.T) {
			for i := range 300 {
				var data *api.CredentialData
				if i == 0 {
					data = goodData(k.typ)
				} else {
					data = randomData(t, r, k.typ)
				}
				for name, c := range joinCases(t, r, k.typ, data) {
					sec, err := decodeSecrets(c[1])
					if err != nil {
						t.Fatal(err)
					}
					want, wantErr := jsonRoundTripJoin(k.typ, c[0], sec)
					got, gotErr := buildCredential(k.typ, c[0], sec)
					if (wantErr == nil) != (gotErr == nil) {
						t.Fatalf("%d %s: public %s: error %v, JSON round trip's %v", i, name, c[0], gotErr, wantErr)
					}
					if !reflect.DeepEqual(got, want) {
						gj, _ := json.Marshal(got)
						wj, _ := json.Marshal(want)
						t.Fatalf("%d %s: public %s:\n got %s\nwant %s\n(%#v)", i, name, c[0], gj, wj, got)
					}
					// Joined from what SplitCredential made, the credential is what was split.
					if name == "split" && data != nil {
						if !reflect.DeepEqual(got, normalised(t, k.typ, data)) {
							t.Fatalf("%d: joined %+v, split %+v", i, got, data)
						}
					}
				}
			}
		})
	}
}

// normalised returns data as a JSON round trip of its member leaves it, with required lists
// present: what a join of its split must give back. A none credential keeps no data.
func normalised(t *testing.T, typ api.CredentialType, data *api.CredentialData) api.CredentialData {
	t.Helper()
	if typ == api.CredentialTypeNone {
		return api.CredentialData{None: &api.CredentialDataNone{}}
	}
	k, _ := credentialKindOf(typ)
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	obj, err := decodeObject(top[k.member])
	if err != nil {
		t.Fatal(err)
	}
	fillLists(k.member, obj)
	raw, _ = json.Marshal(map[string]any{k.member: obj})
	var d api.CredentialData
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestJoinMalformedPublicHalves pins what the join does with public halves no writer produces
// (SplitCredential writes one JSON object without duplicate keys): what is not an object fails as
// it did in the round trip; data after the object fails (the round trip ignored it); duplicate keys
// decode as encoding/json decodes a struct; and no spelling of a secret's name in the public half
// ever gives its value back as the secret.
func TestJoinMalformedPublicHalves(t *testing.T) {
	// Not an object, or a field of the wrong type: refused as the round trip refused it (a field the
	// type lacks is ignored both ways).
	for _, c := range []struct {
		pub     string
		refused []api.CredentialType
	}{
		{`[1]`, []api.CredentialType{api.CredentialTypeOauth2Token, api.CredentialTypeString}},
		{`"x"`, []api.CredentialType{api.CredentialTypeOauth2Token, api.CredentialTypeString}},
		{`{`, []api.CredentialType{api.CredentialTypeOauth2Token, api.CredentialTypeString}},
		{`{"scopes": 5}`, []api.CredentialType{api.CredentialTypeOauth2Token}},
		{`{"expiresAt": 5}`, []api.CredentialType{api.CredentialTypeOauth2Token}},
	} {
		for _, typ := range []api.CredentialType{api.CredentialTypeOauth2Token, api.CredentialTypeString} {
			_, wantErr := jsonRoundTripJoin(typ, []byte(c.pub), nil)
			_, gotErr := buildCredential(typ, []byte(c.pub), nil)
			if refused := slices.Contains(c.refused, typ); (gotErr != nil) != refused || (wantErr != nil) != refused {
				t.Errorf("%s %s: error %v, JSON round trip's %v; want refused: %v", typ, c.pub, gotErr, wantErr, refused)
			}
		}
	}
	if _, err := buildCredential("no-such-type", []byte(`{}`), nil); err == nil {
		t.Error("unknown type joined")
	}

	// Data after the object: refused, where the round trip read the first value only.
	for _, pub := range []string{`{"value": "v"} {}`, `{"value": "v"} x`, `{} []`} {
		if _, err := jsonRoundTripJoin(api.CredentialTypeString, []byte(pub), nil); err != nil {
			t.Errorf("round trip of %s: %v (the difference pinned here is gone)", pub, err)
		}
		if _, err := buildCredential(api.CredentialTypeString, []byte(pub), nil); err == nil {
			t.Errorf("%s joined: data after the object must be refused", pub)
		}
	}

	// Duplicate keys, and case variants of a key: the last in the document wins, as encoding/json
	// decodes a struct; duplicate objects merge.
	d, err := buildCredential(api.CredentialTypeOauth2Token, []byte(`{"tokenType": "first", "TokenType": "second", "TOKENTYPE": "last"}`), nil)
	if err != nil || d.Oauth2Token.TokenType != "last" {
		t.Errorf("case-variant duplicates: %+v, %v; want the last in the document", d.Oauth2Token, err)
	}
	d, err = buildCredential(api.CredentialTypeJwtBearer, []byte(`{"algorithm": "HS256", "payload": {"a": 1}, "payload": {"b": 2}}`), nil)
	if err != nil || len(d.JwtBearer.Payload) != 2 || d.JwtBearer.Payload["a"] == nil || d.JwtBearer.Payload["b"] == nil {
		t.Errorf("duplicate objects: %+v, %v; want them merged", d.JwtBearer, err)
	}

	// No secret ever comes from the public half, whatever the spelling of its name, whether the
	// secrets half has the field or not.
	const fromPublic = "FROM-PUBLIC-HALF"
	for _, k := range credentialKinds {
		if len(k.secrets) == 0 {
			continue
		}
		obj := map[string]any{}
		for _, f := range k.secrets {
			for _, v := range []string{f, strings.ToLower(f), strings.ToUpper(f), strings.ToUpper(f[:1]) + f[1:]} {
				obj[v] = fromPublic
			}
		}
		for _, l := range requiredLists[k.member] {
			obj[l] = []any{}
		}
		pub, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range []map[string]string{nil, {k.secrets[0]: "from-secrets"}} {
			d, err := buildCredential(k.typ, pub, sec)
			if err != nil {
				t.Errorf("%s: %v", k.typ, err)
				continue
			}
			joined, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(joined), fromPublic) {
				t.Errorf("%s: a secret came from the public half %s: %s", k.typ, pub, joined)
			}
			if sec != nil && !strings.Contains(string(joined), "from-secrets") {
				t.Errorf("%s: the secrets half's value is lost: %s", k.typ, joined)
			}
		}
	}
}

// BenchmarkJoinCredential compares the direct join with the JSON round trip it replaced, per
// credential type, in the same run.
func BenchmarkJoinCredential(b *testing.B) {
	for _, typ := range []api.CredentialType{api.CredentialTypeString, api.CredentialTypeOauth2Token, api.CredentialTypeCertificate, api.CredentialTypeJwtBearer} {
		pub, secHalf, err := SplitCredential(api.Credential{Type: typ, Data: goodData(typ)})
		if err != nil {
			b.Fatal(err)
		}
		for _, impl := range []struct {
			name string
			join func(api.CredentialType, []byte, map[string]string) (api.CredentialData, error)
		}{{"json-round-trip", jsonRoundTripJoin}, {"direct", buildCredential}} {
			b.Run(fmt.Sprintf("%s/%s", typ, impl.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sec, err := decodeSecrets(secHalf)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := impl.join(typ, pub, sec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
