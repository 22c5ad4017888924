// Command example calls a third-party API through a Plugboard connection with the Go client's
// Transport, and prints the upstream's answer:
//
//	PLUGBOARD_URL=http://127.0.0.1:8901 PLUGBOARD_API_KEY=pbk_... PLUGBOARD_ORG=01... \
//	PLUGBOARD_CONNECTION=01... go run ./client/example GET /v1/orders
//
// Plugboard's own failures (an unknown connection, a missing scope, an unreachable upstream) are
// printed with their code and exit with status 2; the upstream's answers, 4xx and 5xx included,
// are printed as they are.
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/client"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: example METHOD PATH [BODY]")
	}
	org, err := ulid.Parse(os.Getenv("PLUGBOARD_ORG"))
	if err != nil {
		return errors.New("PLUGBOARD_ORG must be an organisation id")
	}
	conn, err := ulid.Parse(os.Getenv("PLUGBOARD_CONNECTION"))
	if err != nil {
		return errors.New("PLUGBOARD_CONNECTION must be a connection id")
	}
	base := os.Getenv("PLUGBOARD_URL")
	if base == "" {
		base = "http://127.0.0.1:8901"
	}
	hc := (&client.Transport{BaseURL: base, APIKey: os.Getenv("PLUGBOARD_API_KEY"), OrganisationID: org, ConnectionID: conn}).Client()
	var body io.Reader
	if len(args) > 2 {
		body = strings.NewReader(args[2])
	}
	req, err := http.NewRequest(strings.ToUpper(args[0]), args[1], body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := hc.Do(req)
	var pbErr *client.Error
	if errors.As(err, &pbErr) {
		return fmt.Errorf("plugboard: %s: %s", pbErr.Code, pbErr.Message)
	} else if err != nil {
		return err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	fmt.Printf("%d %s\n", res.StatusCode, out)
	return nil
}
