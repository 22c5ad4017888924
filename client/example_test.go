package client_test

// These examples have no "// Output:" line on purpose: they need a running Plugboard and a
// connection, so `go test` compiles them (they cannot drift from the API) but does not run them.
// TestAgainstPlugboard runs the same calls against a freshly built plugboard binary.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/client"
)

// Call a connection's API through Plugboard's proxy, telling Plugboard's own failures from the
// upstream's responses.
func ExampleTransport() {
	orgID := ulid.MustParse(os.Getenv("PLUGBOARD_ORG"))
	connID := ulid.MustParse(os.Getenv("PLUGBOARD_CONNECTION"))
	hc := (&client.Transport{
		BaseURL:        "http://127.0.0.1:8901",
		APIKey:         os.Getenv("PLUGBOARD_API_KEY"), // a key with the connections:proxy scope
		OrganisationID: orgID,
		ConnectionID:   connID,
	}).Client()

	// Write the request as for the third-party API: its host is ignored, the connection's base
	// URL is used, and its credentials are applied by Plugboard.
	req, err := http.NewRequest("POST", "https://api.shop.example/v1/orders?notify=false", strings.NewReader(`{"sku":"A-1"}`))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	var pbErr *client.Error
	switch {
	case errors.As(err, &pbErr):
		// The upstream was not called or did not answer: pbErr.Code is "not_found",
		// "permission_denied", "upstream_unavailable", "upstream_timeout", ...
		log.Fatalf("plugboard refused or failed the call: %s (%s)", pbErr.Code, pbErr.Message)
	case err != nil:
		log.Fatal(err) // Plugboard could not be reached
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, string(body)) // the upstream's own answer, 4xx and 5xx included
}

// Read what to put on a request yourself, for code that cannot go through the proxy (the key
// needs the connections:access scope).
func ExampleNew() {
	ctx := context.Background()
	c, err := client.New("http://127.0.0.1:8901", os.Getenv("PLUGBOARD_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	orgID := ulid.MustParse(os.Getenv("PLUGBOARD_ORG"))
	connID := ulid.MustParse(os.Getenv("PLUGBOARD_CONNECTION"))
	res, err := c.AccessConnectionWithResponse(ctx, orgID, connID, api.AccessConnectionJSONRequestBody{})
	if err != nil {
		log.Fatal(err)
	}
	if res.JSON200 == nil {
		log.Fatalf("access: HTTP %d: %s", res.StatusCode(), res.Body)
	}
	access := res.JSON200
	req, _ := http.NewRequestWithContext(ctx, "GET", access.BaseUrl+"/v1/orders", nil)
	for name, value := range access.Headers {
		req.Header.Set(name, value)
	}
	q := req.URL.Query()
	for name, value := range access.Query {
		q.Set(name, value)
	}
	req.URL.RawQuery = q.Encode()
	for _, ck := range access.Cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	// ... send req with your own client.
}
