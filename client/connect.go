package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/api"
)

// CreateConnectSession creates a connect session: a short-lived link to Plugboard's hosted
// connect page on which one end user connects, reconnects and disconnects their own connections
// of some dynamic templates of one environment. Open the answer's URL for the end user (in a
// popup, an iframe on one of req.AllowedOrigins, or a redirect); its token, in the URL's fragment,
// is shown this once. c is a client from [New] with a key holding connect-sessions:create. A
// refusal is an [*Error] (its Fields name the inputs, such as allowedOrigins[0]).
func CreateConnectSession(ctx context.Context, c api.ClientInterface, org ulid.ULID, req api.ConnectSessionCreate) (*api.ConnectSession, error) {
	res, err := c.CreateConnectSession(ctx, org, req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusCreated {
		return nil, errorFrom(res)
	}
	defer res.Body.Close()
	var out api.ConnectSession
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("plugboard: decode connect session: %w", err)
	}
	return &out, nil
}

// DeleteConnectSession revokes a connect session: its page and token are refused from then on.
// Connections made through it stay. Revoking twice is no error; an unknown id is an [*Error]
// with Code not_found.
func DeleteConnectSession(ctx context.Context, c api.ClientInterface, org, id ulid.ULID) error {
	res, err := c.DeleteConnectSession(ctx, org, id)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusNoContent {
		return errorFrom(res)
	}
	return res.Body.Close()
}
