package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func mustKeyring(t testing.TB, keys ...[]byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestRoundTrip(t *testing.T) {
	kr := mustKeyring(t, GenerateKey())
	for _, size := range []int{0, 1, 31, 256, 10000} {
		plaintext := bytes.Repeat([]byte("s"), size)
		aad := AAD("credential", "org", "cred")
		sealed, err := kr.Seal(plaintext, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != size+Overhead {
			t.Errorf("size %d: sealed length %d, want %d", size, len(sealed), size+Overhead)
		}
		if size > 8 && bytes.Contains(sealed, plaintext) {
			t.Errorf("size %d: sealed value contains the plaintext", size)
		}
		got, err := kr.Open(sealed, aad)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Errorf("size %d: opened %q", size, got)
		}
	}
}

func TestSealIsRandomised(t *testing.T) {
	kr := mustKeyring(t, GenerateKey())
	a, _ := kr.Seal([]byte("same"), nil)
	b, _ := kr.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same value are equal")
	}
}

func TestWrongAADFails(t *testing.T) {
	kr := mustKeyring(t, GenerateKey())
	sealed, err := kr.Seal([]byte("secret"), AAD("credential", "org1", "cred1"))
	if err != nil {
		t.Fatal(err)
	}
	for name, aad := range map[string][]byte{
		"nil":              nil,
		"other kind":       AAD("token", "org1", "cred1"),
		"other org":        AAD("credential", "org2", "cred1"),
		"other credential": AAD("credential", "org1", "cred2"),
		"swapped ids":      AAD("credential", "cred1", "org1"),
		"shifted boundary": AAD("credential", "org1c", "red1"),
		"extra part":       AAD("credential", "org1", "cred1", ""),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := kr.Open(sealed, aad); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
}

// A value sealed for one (organisation, credential) pair must not open for another, even when the
// ids are real ULIDs that differ in one character.
func TestBoundToIDs(t *testing.T) {
	kr := mustKeyring(t, GenerateKey())
	const (
		org1  = "01JABCDEFGHJKMNPQRSTVWXYZ0"
		org2  = "01JABCDEFGHJKMNPQRSTVWXYZ1"
		cred1 = "01JZZZZZZZZZZZZZZZZZZZZZZ0"
		cred2 = "01JZZZZZZZZZZZZZZZZZZZZZZ1"
	)
	sealed, err := kr.Seal([]byte(`{"api_key":"sk_live_x"}`), AAD("credential", org1, cred1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Open(sealed, AAD("credential", org1, cred1)); err != nil {
		t.Fatalf("own ids: %v", err)
	}
	for _, ids := range [][2]string{{org1, cred2}, {org2, cred1}, {org2, cred2}} {
		if _, err := kr.Open(sealed, AAD("credential", ids[0], ids[1])); !errors.Is(err, ErrOpen) {
			t.Errorf("opened for %v: err = %v", ids, err)
		}
	}
}

func TestAADUnambiguous(t *testing.T) {
	cases := [][]string{
		{}, {""}, {"", ""}, {"ab", "c"}, {"a", "bc"}, {"abc"}, {"a", "b", "c"},
		{strings.Repeat("x", 200)}, {strings.Repeat("x", 199), "x"},
	}
	seen := map[string][]string{}
	for _, parts := range cases {
		got := string(AAD(parts...))
		if prev, ok := seen[got]; ok {
			t.Errorf("AAD(%q) == AAD(%q)", parts, prev)
		}
		seen[got] = parts
	}
}

func TestRotation(t *testing.T) {
	keyA, keyB := testKey(0xA), testKey(0xB)
	ringA := mustKeyring(t, keyA)
	ringBA, err := ParseKeys(EncodeKey(keyB) + ", " + EncodeKey(keyA))
	if err != nil {
		t.Fatal(err)
	}
	ringB := mustKeyring(t, keyB)
	aad := AAD("credential", "o", "c")

	old, err := ringA.Seal([]byte("old"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ringBA.Open(old, aad); err != nil || string(got) != "old" {
		t.Fatalf("rotated keyring opens old value: %q, %v", got, err)
	}

	fresh, err := ringBA.Seal([]byte("new"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyIDOf(fresh); id != ringB.PrimaryKeyID() || id != ringBA.PrimaryKeyID() {
		t.Errorf("new value sealed with %s, want B = %s", id, ringB.PrimaryKeyID())
	}
	if id, _ := KeyIDOf(old); id != ringA.PrimaryKeyID() {
		t.Errorf("old value names %s, want A = %s", id, ringA.PrimaryKeyID())
	}
	if _, err := ringA.Open(fresh, aad); !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), ringB.PrimaryKeyID()) {
		t.Errorf("keyring A opening a B value: %v; want ErrOpen naming B's id", err)
	}
	if got, err := ringB.Open(fresh, aad); err != nil || string(got) != "new" {
		t.Errorf("keyring B alone: %q, %v", got, err)
	}
	if ids := ringBA.KeyIDs(); len(ids) != 2 || ids[0] != ringB.PrimaryKeyID() || ids[1] != ringA.PrimaryKeyID() {
		t.Errorf("KeyIDs = %v", ids)
	}
}

func TestKeyID(t *testing.T) {
	// SHA-256 of 32 zero bytes is 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925.
	kr := mustKeyring(t, make([]byte, KeySize))
	if got, want := kr.PrimaryKeyID(), "66687aadf862bd77"; got != want {
		t.Fatalf("PrimaryKeyID = %s, want %s", got, want)
	}
}

func TestTamperFails(t *testing.T) {
	kr := mustKeyring(t, GenerateKey())
	aad := AAD("credential", "o", "c")
	sealed, err := kr.Seal([]byte("a secret of some length"), aad)
	if err != nil {
		t.Fatal(err)
	}
	region := func(i int) string {
		switch {
		case i < 1:
			return "version"
		case i < headerSize:
			return "key id"
		case i < headerSize+nonceSize:
			return "wrap nonce"
		case i < prefixSize:
			return "wrapped key"
		case i < envelopeSize:
			return "data nonce"
		default:
			return "ciphertext"
		}
	}
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= bit
			if got, err := kr.Open(bad, aad); !errors.Is(err, ErrOpen) {
				t.Fatalf("flipping bit %#x of byte %d (%s): Open = %q, %v", bit, i, region(i), got, err)
			}
		}
	}
	for n := range sealed {
		if _, err := kr.Open(sealed[:n], aad); !errors.Is(err, ErrOpen) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := kr.Open(append(bytes.Clone(sealed), 0), aad); !errors.Is(err, ErrOpen) {
		t.Fatalf("extended by a byte: %v", err)
	}
}

func TestKeyIDOfMalformed(t *testing.T) {
	for _, in := range [][]byte{nil, {Version}, {2, 1, 2, 3, 4, 5, 6, 7, 8}} {
		if _, err := KeyIDOf(in); !errors.Is(err, ErrOpen) {
			t.Errorf("KeyIDOf(%x) = %v, want ErrOpen", in, err)
		}
	}
}

func TestParseKeys(t *testing.T) {
	key := testKey(0x5A)
	for _, in := range []string{
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
		"  \t" + base64.StdEncoding.EncodeToString(key) + "\n",
	} {
		kr, err := ParseKeys(in)
		if err != nil {
			t.Errorf("ParseKeys(%q): %v", in, err)
			continue
		}
		if want := mustKeyring(t, key).PrimaryKeyID(); kr.PrimaryKeyID() != want {
			t.Errorf("ParseKeys(%q) gives key %s, want %s", in, kr.PrimaryKeyID(), want)
		}
	}
	// A key whose encodings differ between the standard and URL-safe alphabets.
	odd := bytes.Repeat([]byte{0xFB, 0xFF}, KeySize/2)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		kr, err := ParseKeys(enc.EncodeToString(odd))
		if err != nil || kr.PrimaryKeyID() != mustKeyring(t, odd).PrimaryKeyID() {
			t.Errorf("alphabet %v: %v", enc, err)
		}
	}
}

func TestParseKeysErrors(t *testing.T) {
	good := EncodeKey(testKey(1))
	good2 := EncodeKey(testKey(2))
	short := base64.StdEncoding.EncodeToString(testKey(3)[:31])
	long := base64.StdEncoding.EncodeToString(append(testKey(4), 4))
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "no keys"},
		{"blank", "  \n ", "no keys"},
		{"comma only", ",", "key 1: empty"},
		{"trailing comma", good + ",", "key 2: empty"},
		{"empty middle", good + ",," + good2, "key 2: empty"},
		{"short", short, "key 1: not 32 bytes of base64"},
		{"long", long, "key 1: not 32 bytes of base64"},
		{"second short", good + "," + short, "key 2: not 32 bytes of base64"},
		{"not base64", strings.Repeat("!", 44), "key 1: not 32 bytes of base64"},
		{"mixed alphabets", good[:20] + "+-" + good[22:], "key 1: not 32 bytes of base64"},
		{"hex", strings.Repeat("ab", 32), "key 1: not 32 bytes of base64"},
		{"inner space", good[:10] + " " + good[10:], "key 1: not 32 bytes of base64"},
		{"duplicate", good + "," + good2 + "," + good, "key 3: same as key 1"},
		{"duplicate other encoding", good + "," + base64.RawURLEncoding.EncodeToString(testKey(1)), "key 2: same as key 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr, err := ParseKeys(tc.in)
			if err == nil {
				t.Fatalf("ParseKeys succeeded: %v", kr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			assertNoMaterial(t, msg, tc.in)
		})
	}
}

// assertNoMaterial fails if msg contains any run of 6 or more characters from in, other than runs
// that occur in the fixed wording of our messages.
func assertNoMaterial(t *testing.T, msg, in string) {
	t.Helper()
	for _, part := range strings.Split(in, ",") {
		part = strings.TrimSpace(part)
		for i := 0; i+6 <= len(part); i++ {
			if sub := part[i : i+6]; strings.Contains(msg, sub) {
				t.Errorf("error %q contains input material %q", msg, sub)
				return
			}
		}
	}
}

func TestKeyringDoesNotPrintKeys(t *testing.T) {
	key := testKey(0x42)
	kr := mustKeyring(t, key)
	enc := EncodeKey(key)
	for _, s := range []string{fmt.Sprint(kr), fmt.Sprintf("%v %+v %#v %s", kr, kr, kr, kr)} {
		if strings.Contains(s, enc) || strings.Contains(s, string(key)) || strings.Contains(s, "42424242") {
			t.Errorf("formatted keyring %q shows key material", s)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "master.key")
	kr1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first call: created = %v, err = %v", created, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", info.Mode().Perm())
	}
	kr2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created {
		t.Fatalf("second call: created = %v, err = %v", created, err)
	}
	if kr1.PrimaryKeyID() != kr2.PrimaryKeyID() {
		t.Fatalf("re-read key %s, created %s", kr2.PrimaryKeyID(), kr1.PrimaryKeyID())
	}
	sealed, err := kr1.Seal([]byte("v"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kr2.Open(sealed, nil); err != nil || string(got) != "v" {
		t.Fatalf("re-read keyring cannot open: %q, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file", len(entries))
	}
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 16
	ids := make([]string, n)
	creators := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			kr, created, err := LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], creators[i] = kr.PrimaryKeyID(), created
		})
	}
	wg.Wait()
	count := 0
	for i := range n {
		if creators[i] {
			count++
		}
		if ids[i] != ids[0] {
			t.Errorf("caller %d got key %s, caller 0 got %s", i, ids[i], ids[0])
		}
	}
	if count != 1 {
		t.Errorf("%d callers created the file, want 1", count)
	}
}

func TestLoadKeyFileExisting(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on Windows")
	}
	dir := t.TempDir()
	keyA, keyB := testKey(0xA), testKey(0xB)
	contents := EncodeKey(keyB) + ",\n" + base64.RawURLEncoding.EncodeToString(keyA) + "\n"

	t.Run("rotation list", func(t *testing.T) {
		path := filepath.Join(dir, "ok.key")
		if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
		kr, created, err := LoadOrCreateKeyFile(path)
		if err != nil || created {
			t.Fatalf("created = %v, err = %v", created, err)
		}
		if want := mustKeyring(t, keyB, keyA).KeyIDs(); strings.Join(kr.KeyIDs(), ",") != strings.Join(want, ",") {
			t.Errorf("KeyIDs = %v, want %v", kr.KeyIDs(), want)
		}
	})
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o700} {
		t.Run(fmt.Sprintf("mode %04o", mode), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("loose%o.key", mode))
			if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateKeyFile(path)
			if err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("err = %v, want one naming chmod 600", err)
			}
			assertNoMaterial(t, err.Error(), contents)
		})
	}
	t.Run("read-only 0400", func(t *testing.T) {
		path := filepath.Join(dir, "ro.key")
		if err := os.WriteFile(path, []byte(contents), 0o400); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateKeyFile(path); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad contents", func(t *testing.T) {
		path := filepath.Join(dir, "bad.key")
		bad := EncodeKey(keyA) + ",c2hvcnQ=\n"
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateKeyFile(path)
		if err == nil || !strings.Contains(err.Error(), "key 2") {
			t.Fatalf("err = %v, want one naming key 2", err)
		}
		assertNoMaterial(t, err.Error(), bad)
	})
	t.Run("directory", func(t *testing.T) {
		if _, _, err := LoadOrCreateKeyFile(dir); err == nil {
			t.Fatal("a directory was accepted as a key file")
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	kr := mustKeyring(t, GenerateKey(), GenerateKey())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			aad := AAD("credential", "org", fmt.Sprint(i))
			for range 100 {
				sealed, err := kr.Seal([]byte("v"), aad)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := kr.Open(sealed, aad); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestEmptyKeyring(t *testing.T) {
	var kr *Keyring
	if _, err := kr.Seal([]byte("v"), nil); err == nil {
		t.Error("nil keyring sealed")
	}
	if _, err := (&Keyring{}).Seal([]byte("v"), nil); err == nil {
		t.Error("zero keyring sealed")
	}
	sealed, _ := mustKeyring(t, GenerateKey()).Seal([]byte("v"), nil)
	if _, err := kr.Open(sealed, nil); !errors.Is(err, ErrOpen) {
		t.Errorf("nil keyring Open = %v", err)
	}
	if _, err := NewKeyring(); err == nil {
		t.Error("NewKeyring() without keys succeeded")
	}
	if _, err := NewKeyring(make([]byte, 16)); err == nil {
		t.Error("NewKeyring accepted a 16-byte key")
	}
}

func BenchmarkSeal256(b *testing.B) {
	kr := mustKeyring(b, GenerateKey())
	plaintext := bytes.Repeat([]byte("x"), 256)
	aad := AAD("credential", "01JABCDEFGHJKMNPQRSTVWXYZ0", "01JZZZZZZZZZZZZZZZZZZZZZZ0")
	b.SetBytes(int64(len(plaintext)))
	for b.Loop() {
		if _, err := kr.Seal(plaintext, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen256(b *testing.B) {
	kr := mustKeyring(b, GenerateKey())
	plaintext := bytes.Repeat([]byte("x"), 256)
	aad := AAD("credential", "01JABCDEFGHJKMNPQRSTVWXYZ0", "01JZZZZZZZZZZZZZZZZZZZZZZ0")
	sealed, err := kr.Seal(plaintext, aad)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(plaintext)))
	for b.Loop() {
		if _, err := kr.Open(sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}
