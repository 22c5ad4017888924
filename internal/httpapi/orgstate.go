package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// OrgStateTTL is how long a server trusts what it last read of an organisation's state (live or
// deleted) before it reads it again: the longest a deleted organisation's API keys keep working
// on any replica, whatever the key cache holds (KeyCacheTTL does not apply: every request checks
// the organisation's state, verified key or not). `plugboard orgs delete` waits this long before it
// returns, so when it has returned every replica refuses the organisation's keys. It costs one
// store read per organisation per second per replica, however many requests arrive.
const OrgStateTTL = time.Second

// orgStates caches whether organisations are live.
type orgStates struct {
	mu      sync.Mutex
	entries map[ulid.ULID]orgState
}

type orgState struct {
	live   bool
	expiry time.Time
}

// requireLiveOrganisation refuses (401) a request whose API key belongs to a deleted or purged
// organisation. The time an entry is trusted from is taken before the store is read, so an entry
// never outlives, by more than OrgStateTTL, a deletion that committed after its read began.
func (s *Server) requireLiveOrganisation(ctx context.Context, orgID ulid.ULID) error {
	now := s.now()
	c := &s.orgStates
	c.mu.Lock()
	e, ok := c.entries[orgID]
	c.mu.Unlock()
	if !ok || !now.Before(e.expiry) {
		org, err := s.store.GetOrganisation(ctx, orgID)
		switch {
		case plugboard.IsCode(err, plugboard.ENotFound):
			e = orgState{live: false}
		case err != nil:
			return err
		default:
			e = orgState{live: org.DeletedAt == nil}
		}
		e.expiry = now.Add(OrgStateTTL)
		c.mu.Lock()
		if c.entries == nil || len(c.entries) >= 10000 {
			c.entries = map[ulid.ULID]orgState{}
		}
		c.entries[orgID] = e
		c.mu.Unlock()
	}
	if !e.live {
		return &plugboard.Error{Code: plugboard.EUnauthenticated, Message: "the API key's organisation has been deleted",
			Details: "every API key of a deleted organisation is refused"}
	}
	return nil
}
