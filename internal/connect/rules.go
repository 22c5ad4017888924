package connect

import (
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
)

// The rules below are each asked by more than one step of a connect (the exchange with the
// provider, the preparation of what is stored, the grants' client credentials); each is written
// here once.

// providerCall is what a credential needs from its provider before it is stored.
type providerCall int

const (
	// noCall: the credential is stored as sent.
	noCall providerCall = iota
	// tokens: the credential stands for tokens the provider gives in exchange for it (oauth2-code,
	// oauth2-password, oauth1); what is stored is the provider's answer.
	tokens
	// proof: the credential is stored as sent once a token request has proven it (an oauth2-client
	// credential sent with its secret, or a new one that authenticates with its certificate alone).
	proof
)

// needsProvider says what cc needs from its provider. creating is true when the connection is
// being created: an oauth2-client credential without a secret is proven then, since it keeps no
// stored one; on update, one that names a stored credential keeps that one's secret, proven when
// it was stored.
func needsProvider(cc api.ConnectionCredential, creating bool) providerCall {
	if cc.Credential == nil {
		return noCall
	}
	if credentials.NeedsExchange(cc.Credential.Type) {
		return tokens
	}
	if cc.Credential.Type != api.CredentialTypeOauth2Client || cc.Credential.Data == nil || cc.Credential.Data.Oauth2Client == nil {
		// Malformed ones too: validation in the transaction has the last word.
		return noCall
	}
	client := cc.Credential.Data.Oauth2Client
	if client.ClientSecret != "" {
		return proof
	}
	// A new client that authenticates with its certificate alone has no secret and is proven like
	// any other.
	if _, named := storedFor(cc, nil); (creating || !named) && credentials.CertificateAuthenticates(client) {
		return proof
	}
	return noCall
}

// storedFor returns the connection's stored credential that cc names: the one whose ids are all
// those cc sends (the connection credential's id, its credential's id, or both). named reports
// whether cc sends an id at all; named with no match means cc is not one of the connection's.
func storedFor(cc api.ConnectionCredential, existing []plugboard.ConnectionCredential) (old *plugboard.ConnectionCredential, named bool) {
	var credID ulid.ULID
	if cc.Credential != nil {
		credID = cc.Credential.ID
	}
	if cc.ID == (ulid.ULID{}) && credID == (ulid.ULID{}) {
		return nil, false
	}
	for i := range existing {
		ex := &existing[i]
		if (cc.ID == (ulid.ULID{}) || cc.ID == ex.ID) && (credID == (ulid.ULID{}) || credID == ex.Credential.ID) {
			return ex, true
		}
	}
	return nil, true
}

// seal splits c and seals its secrets half into a credential record with id, created at created
// and updated at now, expiring at c's expiresAt: the one way a credential is made ready to store,
// a connection's or a grant's.
func (s *Service) seal(orgID, id ulid.ULID, c api.Credential, created, now time.Time) (*plugboard.Credential, error) {
	out := &plugboard.Credential{ID: id, OrganisationID: orgID, ExpiresAt: c.ExpiresAt, CreatedAt: created, UpdatedAt: now}
	if err := access.SealInto(s.keys, out, c.Type, c.Data); err != nil {
		return nil, err
	}
	return out, nil
}
