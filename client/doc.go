// Package client is the Go client of Plugboard: the generated API client with an API key on
// every request ([New]), and an [http.RoundTripper] ([Transport]) that sends requests meant for
// a third-party API through Plugboard's proxy, which applies the connection's stored credentials.
//
// # Managing Plugboard
//
// [New] returns the generated [api.ClientWithResponses] with "Authorization: Bearer <key>" set on
// every request:
//
//	c, err := client.New("http://127.0.0.1:8901", apiKey)
//	if err != nil { ... }
//	res, err := c.AccessConnectionWithResponse(ctx, orgID, connID, api.AccessConnectionJSONRequestBody{})
//
// # Calling a connection's API
//
// A [Transport] rewrites each request to
// BaseURL/o/{OrganisationID}/connections/{ConnectionID}/proxy/{path}?{query}, keeping the
// method, the other headers and the body, so code written against the third-party API (including
// an SDK that accepts an *http.Client) only needs a different client:
//
//	hc := (&client.Transport{
//		BaseURL:        "http://127.0.0.1:8901",
//		APIKey:         apiKey, // needs the connections:proxy scope
//		OrganisationID: orgID,
//		ConnectionID:   connID,
//	}).Client()
//	res, err := hc.Get("https://api.shop.example/v1/orders?status=open")
//	var pbErr *client.Error
//	switch {
//	case errors.As(err, &pbErr):
//		// Plugboard did not get an answer from the upstream, or refused the call:
//		// pbErr.Code is "not_found", "upstream_unavailable", "permission_denied", ...
//	case err != nil:
//		// Plugboard itself could not be reached.
//	default:
//		// res is the upstream's own response, whatever its status.
//		defer res.Body.Close()
//	}
//
// The scheme and host of the request URL are ignored: the proxy sends the request to the
// connection's base URL (else its system's template base URL), or to the URL in an
// X-Plugboard-Base-Url header the request carries.
//
// See docs/calling.md in the repository for the proxy itself, the access endpoint and API key
// scopes.
package client
