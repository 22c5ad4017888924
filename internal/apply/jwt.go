package apply

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

// Defaults for jwt-bearer credentials that leave them out.
const (
	defaultJWTLifetime = time.Hour
	defaultJWTPrefix   = "Bearer"
	// jwtRefreshMargin is the most time before exp at which a cached token is replaced, so a token
	// never reaches an upstream about to expire (clock skew, slow requests). Short lifetimes use a
	// tenth of the lifetime instead, so they are still reused.
	jwtRefreshMargin = 30 * time.Second
)

// jwtEntry is a minted token in the cache.
type jwtEntry struct {
	fp        [sha256.Size]byte // fingerprint of what the token was minted from
	value     string            // the Authorization value
	exp       time.Time
	refreshAt time.Time
}

// jwt returns the Authorization value for a jwt-bearer credential and when its token expires.
//
// The token's claims are the credential's payload plus iat (now) and exp (now + expiresIn,
// default 1h, but never later than the credential's expiresAt), which replace any iat or exp in
// the payload: a token outlives the credential it was minted from by not a second. Past its
// expiresAt the credential mints nothing (credential_expired; access.Usable refuses the
// connection before it gets here). Tokens are cached per credential ID and reused until
// min(30s, lifetime/10) before exp; the cache entry also holds a keyed fingerprint of the
// algorithm, secret, payload, lifetime, prefix and expiresAt, so a credential updated under the
// same ID (a new expiresAt included) is minted anew at once. Minting happens outside the lock: two requests that
// miss at once both mint, and either valid token is kept.
func (a *Applier) jwt(c Credential) (string, time.Time, error) {
	d := c.Data.JwtBearer
	lifetime := defaultJWTLifetime
	if d.ExpiresIn != "" {
		var err error
		lifetime, err = time.ParseDuration(d.ExpiresIn)
		if err != nil || lifetime <= 0 {
			return "", time.Time{}, plugboard.Errorf(plugboard.EInvalid, "credential %s: jwt-bearer expiresIn %q is not a positive Go duration", c.ID, d.ExpiresIn)
		}
	}
	prefix := d.AuthorizationHeaderPrefix
	if prefix == "" {
		prefix = defaultJWTPrefix
	}
	fp, err := a.fingerprint(d, lifetime, prefix, c.ExpiresAt)
	if err != nil {
		return "", time.Time{}, invalid(err, c.ID, "its jwt-bearer payload cannot be encoded as JSON")
	}

	now := a.now()
	if !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
		return "", time.Time{}, &plugboard.Error{Code: plugboard.ECredentialExpired,
			Message: fmt.Sprintf("credential %s expired at %s; no JWT is minted from it", c.ID, c.ExpiresAt.UTC().Format(time.RFC3339))}
	}
	a.mu.Lock()
	e, ok := a.jwts[c.ID]
	a.mu.Unlock()
	if ok && e.fp == fp && now.Before(e.refreshAt) {
		return e.value, e.exp, nil
	}

	expires := now.Add(lifetime)
	if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(expires) {
		expires = c.ExpiresAt
	}
	token, iat, exp, err := mint(c.ID, d, now, expires)
	if err != nil {
		return "", time.Time{}, err
	}
	margin := min(jwtRefreshMargin, exp.Sub(iat)/10)
	e = jwtEntry{fp: fp, value: prefix + " " + token, exp: exp, refreshAt: exp.Add(-margin)}
	a.mu.Lock()
	a.jwts[c.ID] = e
	if len(a.jwts) >= a.sweepAt {
		for id, old := range a.jwts {
			if !now.Before(old.refreshAt) {
				delete(a.jwts, id)
			}
		}
		a.sweepAt = max(64, 2*len(a.jwts))
	}
	a.mu.Unlock()
	return e.value, e.exp, nil
}

// mint signs a token with claims payload + iat (now) + exp (expires), both in whole seconds,
// rounded down.
func mint(id string, d *api.CredentialDataJWTBearer, now, expires time.Time) (token string, iat, exp time.Time, err error) {
	var method jwt.SigningMethod
	var key any
	switch d.Algorithm {
	case api.HS256, api.HS384, api.HS512:
		method, key = jwt.GetSigningMethod(string(d.Algorithm)), []byte(d.Secret)
	case api.RS256, api.RS384, api.RS512:
		method = jwt.GetSigningMethod(string(d.Algorithm))
		rsaKey, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(d.Secret))
		if err != nil {
			// The parser's errors describe the PEM's shape, never its content.
			return "", time.Time{}, time.Time{}, invalid(err, id, "its jwt-bearer secret is not a PEM RSA private key")
		}
		key = rsaKey
	default:
		return "", time.Time{}, time.Time{}, plugboard.Errorf(plugboard.EInvalid, "credential %s: unknown jwt-bearer algorithm %q", id, d.Algorithm)
	}
	iatDate, expDate := jwt.NewNumericDate(now), jwt.NewNumericDate(expires)
	claims := jwt.MapClaims{}
	maps.Copy(claims, d.Payload)
	claims["iat"], claims["exp"] = iatDate, expDate
	token, err = jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		return "", time.Time{}, time.Time{}, invalid(err, id, "a JWT could not be signed with its jwt-bearer secret")
	}
	return token, iatDate.Time, expDate.Time, nil
}

// fingerprint is a keyed hash of what a token is minted from. The key is the Applier's own
// random key, so the cache holds no plain hash of a secret that could be tested against guesses.
func (a *Applier) fingerprint(d *api.CredentialDataJWTBearer, lifetime time.Duration, prefix string, expiresAt time.Time) ([sha256.Size]byte, error) {
	// json.Marshal sorts map keys, so equal payloads give equal bytes.
	b, err := json.Marshal(struct {
		Algorithm api.CredentialDataJWTBearerAlgorithm
		Secret    string
		Payload   map[string]any
		Lifetime  time.Duration
		Prefix    string
		ExpiresAt time.Time
	}{d.Algorithm, d.Secret, d.Payload, lifetime, prefix, expiresAt.UTC()})
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	mac := hmac.New(sha256.New, a.fpKey)
	mac.Write(b)
	var fp [sha256.Size]byte
	copy(fp[:], mac.Sum(nil))
	return fp, nil
}
