package apply_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
)

func jwtCred(id string, d api.CredentialDataJWTBearer) apply.Credential {
	return apply.Credential{ID: id, Config: baseConfig(api.AuthSchemeTypeJwtBearer), Type: api.CredentialTypeJwtBearer,
		Data: api.CredentialData{JwtBearer: &d}}
}

// parseJWT splits "prefix token", checks the prefix and verifies the token with jwt/v5's parser
// at the clock's time, returning its claims.
func parseJWT(t *testing.T, header, prefix string, key any, alg string, clock *fixedClock) jwt.MapClaims {
	t.Helper()
	p, token, ok := strings.Cut(header, " ")
	if !ok || p != prefix {
		t.Fatalf("Authorization %q does not start with %q and a space", header, prefix)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(clock.Now), jwt.WithIssuedAt(), jwt.WithExpirationRequired()).
		ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil })
	if err != nil {
		t.Fatalf("the token does not verify: %v", err)
	}
	return claims
}

func TestJWT(t *testing.T) {
	up := newUpstream(t)
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	payload := map[string]any{"iss": "plugboard-test", "sub": "svc-1", "aud": "https://api.example", "scope": "read write", "n": 42.0,
		"iat": 1.0, "exp": 2.0} // iat and exp are Plugboard's: these are replaced

	for _, tc := range []struct {
		name     string
		data     api.CredentialDataJWTBearer
		key      any
		prefix   string
		lifetime time.Duration
	}{
		{"HS256 defaults", api.CredentialDataJWTBearer{Algorithm: api.HS256, Secret: "hs-secret-0123456789", Payload: payload},
			[]byte("hs-secret-0123456789"), "Bearer", time.Hour},
		{"HS512 custom prefix and lifetime", api.CredentialDataJWTBearer{Algorithm: api.HS512, Secret: "hs-secret-0123456789", Payload: payload,
			AuthorizationHeaderPrefix: "JWT", ExpiresIn: "10m"}, []byte("hs-secret-0123456789"), "JWT", 10 * time.Minute},
		{"RS256 PKCS#1", api.CredentialDataJWTBearer{Algorithm: api.RS256, Secret: pkcs1, Payload: payload, ExpiresIn: "24h"},
			&rsaKey.PublicKey, "Bearer", 24 * time.Hour},
		{"RS384 PKCS#8", api.CredentialDataJWTBearer{Algorithm: api.RS384, Secret: pkcs8, Payload: payload},
			&rsaKey.PublicKey, "Bearer", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fixedClock{t: start}
			a := apply.NewApplier(clock.Now)
			got := up.send(t, a, newRequest(t, http.MethodGet, up.URL+"/", "", nil), jwtCred("c1", tc.data))
			claims := parseJWT(t, got.Header.Get("Authorization"), tc.prefix, tc.key, string(tc.data.Algorithm), clock)
			want := map[string]any{"iss": "plugboard-test", "sub": "svc-1", "aud": "https://api.example", "scope": "read write", "n": 42.0,
				"iat": float64(start.Unix()), "exp": float64(start.Add(tc.lifetime).Unix())}
			if len(claims) != len(want) {
				t.Errorf("claims %v, want %v", claims, want)
			}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
		})
	}

	t.Run("cache", func(t *testing.T) {
		clock := &fixedClock{t: start}
		a := apply.NewApplier(clock.Now)
		key := []byte("hs-secret-0123456789")
		cred := jwtCred("c1", api.CredentialDataJWTBearer{Algorithm: api.HS256, Secret: string(key), Payload: map[string]any{"sub": "a"}})
		get := func() string {
			t.Helper()
			return up.send(t, a, newRequest(t, http.MethodGet, up.URL+"/", "", nil), cred).Header.Get("Authorization")
		}
		first := get()
		clock.Advance(10 * time.Minute)
		if second := get(); second != first {
			t.Error("a second request within the lifetime got a new token")
		}
		// The refresh point of a 1h token is 30s before exp.
		clock.Advance(time.Hour - 10*time.Minute - 31*time.Second)
		if again := get(); again != first {
			t.Error("the token was replaced 31s before exp, before the refresh point")
		}
		clock.Advance(2 * time.Second)
		third := get()
		if third == first {
			t.Fatal("the token was reused past the refresh point")
		}
		claims := parseJWT(t, third, "Bearer", key, "HS256", clock)
		if claims["iat"] != float64(clock.Now().Unix()) {
			t.Errorf("the new token's iat %v, want now %d", claims["iat"], clock.Now().Unix())
		}
		if fourth := get(); fourth != third {
			t.Error("the new token is not cached")
		}

		// Another payload under the same id is minted at once.
		changed := jwtCred("c1", api.CredentialDataJWTBearer{Algorithm: api.HS256, Secret: string(key), Payload: map[string]any{"sub": "b"}})
		got := up.send(t, a, newRequest(t, http.MethodGet, up.URL+"/", "", nil), changed).Header.Get("Authorization")
		if got == third || parseJWT(t, got, "Bearer", key, "HS256", clock)["sub"] != "b" {
			t.Error("a changed payload did not give a new token")
		}
		// Another id has its own token.
		other := cred
		other.ID = "c2"
		clock.Advance(time.Second)
		if up.send(t, a, newRequest(t, http.MethodGet, up.URL+"/", "", nil), other).Header.Get("Authorization") == got {
			t.Error("two credential ids share a token")
		}
	})

	t.Run("short lifetime refreshes at a tenth", func(t *testing.T) {
		clock := &fixedClock{t: start}
		a := apply.NewApplier(clock.Now)
		cred := jwtCred("c1", api.CredentialDataJWTBearer{Algorithm: api.HS256, Secret: "k", ExpiresIn: "100s"})
		m1, err := a.Material([]apply.Credential{cred})
		if err != nil {
			t.Fatal(err)
		}
		if !m1.ExpiresAt.Equal(start.Add(100 * time.Second)) {
			t.Errorf("ExpiresAt %v, want %v", m1.ExpiresAt, start.Add(100*time.Second))
		}
		clock.Advance(89 * time.Second)
		m2, _ := a.Material([]apply.Credential{cred})
		clock.Advance(2 * time.Second) // 91s: past exp - 10s
		m3, _ := a.Material([]apply.Credential{cred})
		if m2.Headers.Get("Authorization") != m1.Headers.Get("Authorization") {
			t.Error("replaced before exp - lifetime/10")
		}
		if m3.Headers.Get("Authorization") == m1.Headers.Get("Authorization") {
			t.Error("reused after exp - lifetime/10")
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		a := apply.NewApplier(nil)
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cred := jwtCred([]string{"a", "b", "c"}[i%3], api.CredentialDataJWTBearer{Algorithm: api.HS256, Secret: "k"})
				req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
				if _, err := a.Apply(req, []apply.Credential{cred}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	})
}
