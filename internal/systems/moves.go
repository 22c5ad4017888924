package systems

import (
	"context"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/trust"
)

// This file describes, for internal/trust, where each stored secret a change to a system or its
// configs touches goes before and after it (a connection's create and update: moves.go in
// internal/connect). The rule itself is trust.Check; nothing here decides.

// moveSystemBase sets the system's templateBaseUrl, if trust.Check allows: connections without a
// base URL of their own follow the system's, so their secrets move.
func moveSystemBase(ctx context.Context, tx plugboard.Store, sys *plugboard.System, base string, c trust.Caller) error {
	from, to := trust.Use{Origin: credentials.Origin(sys.TemplateBaseURL)}, trust.Use{Origin: credentials.Origin(base)}
	if from != to && !c.MayRead {
		m, err := systemSecretsMove(ctx, tx, sys.OrganisationID, sys.ID, "the secrets of connections that use the system's templateBaseUrl",
			from, to, func(c *plugboard.Connection, _ *plugboard.ConnectionCredential) bool { return c.BaseURL == "" })
		if err != nil {
			return err
		}
		if m != nil {
			if err := trust.Check(c, *m); err != nil {
				return err
			}
		}
	}
	sys.TemplateBaseURL = base
	return nil
}

// eachConnectionOfSystem calls fn with every connection of a system, a page at a time, until fn
// returns true.
func eachConnectionOfSystem(ctx context.Context, st plugboard.Store, orgID, systemID ulid.ULID, fn func(*plugboard.Connection) bool) error {
	page := plugboard.PageRequest{First: plugboard.MaxPageSize}
	for {
		res, err := st.ListConnections(ctx, orgID, plugboard.ConnectionFilter{SystemID: systemID}, page)
		if err != nil {
			return err
		}
		for i := range res.Items {
			if fn(&res.Items[i]) {
				return nil
			}
		}
		if res.Next == (ulid.ULID{}) {
			return nil
		}
		page.After = res.Next
	}
}

// systemSecretsMove returns a Move for the stored secrets of the system's connections that match
// (a credential with sealed secrets for which match is true), or nil when none does. Such
// secrets cannot be sent again in a request about the system, so the Move has no Resend fields.
func systemSecretsMove(ctx context.Context, st plugboard.Store, orgID, systemID ulid.ULID, what string, from, to trust.Use,
	match func(c *plugboard.Connection, cc *plugboard.ConnectionCredential) bool) (*trust.Move, error) {
	var found *trust.Move
	err := eachConnectionOfSystem(ctx, st, orgID, systemID, func(c *plugboard.Connection) bool {
		for i := range c.Credentials {
			cc := &c.Credentials[i]
			if len(cc.Credential.Sealed) > 0 && match(c, cc) {
				found = &trust.Move{What: what, From: from, To: to}
				return true
			}
		}
		return false
	})
	return found, err
}

// configMoves returns the moves an auth scheme config change makes. old is the stored config
// (nil for a new one), cfg the config as it will be stored; keptConfig are the JSON paths of the
// config's own stored secrets it keeps, keptGrant the path of its grant's client secret when kept.
// The connections' secrets bound to the config move with it, as does the certificate its
// mtlsCredentialId names: a request about the config cannot carry those again.
//
// grantOld is the config as the kept grant secret knew it: old, or nil when the grant credential
// is not the one the stored config names (its secret then comes from nowhere).
func configMoves(ctx context.Context, tx plugboard.Store, orgID, systemID ulid.ULID, old, grantOld *api.AuthSchemeConfig,
	cfg api.AuthSchemeConfig, keptConfig []string, keptGrant string, c trust.Caller) ([]trust.Move, error) {
	id := credentials.ConfigID(cfg)
	place, err := credentials.ConfigPlacement(cfg)
	if err != nil {
		return nil, plugboard.Internal(err)
	}
	to, from := trust.Use{Config: id, ConfigPlacement: place}, trust.Use{}
	if old != nil {
		if from.ConfigPlacement, err = credentials.ConfigPlacement(*old); err != nil {
			return nil, plugboard.Internal(err)
		}
		from.Config = id
	}
	var moves []trust.Move
	if len(keptConfig) > 0 {
		moves = append(moves, trust.Move{What: "the config's stored secrets", From: from, To: to, Resend: keptConfig})
	}
	if keptGrant != "" {
		grantFrom := trust.Use{}
		if grantOld != nil {
			grantFrom = from
		}
		moves = append(moves, trust.Move{What: "the grant's client secret", From: grantFrom, To: to, Resend: []string{keptGrant}})
	}
	if old != nil && from != to && !c.MayRead {
		m, err := systemSecretsMove(ctx, tx, orgID, systemID, "the secrets of connections using the config", from, to,
			func(_ *plugboard.Connection, cc *plugboard.ConnectionCredential) bool {
				return cc.AuthSchemeConfigID == id
			})
		if err != nil {
			return nil, err
		}
		if m != nil {
			moves = append(moves, *m)
		}
	}
	if named := mtlsCredentialID(&cfg); named != "" {
		mFrom := from
		if old == nil || mtlsCredentialID(old) != named {
			mFrom = trust.Use{}
		}
		moves = append(moves, trust.Move{What: "the certificate credential mtlsCredentialId names", From: mFrom, To: to})
	}
	return moves, nil
}

func mtlsCredentialID(cfg *api.AuthSchemeConfig) string {
	if cfg.Oauth2 == nil || cfg.Oauth2.MTLSCredentialID == nil {
		return ""
	}
	return *cfg.Oauth2.MTLSCredentialID
}
