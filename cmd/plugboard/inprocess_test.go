package main_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/cli"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/testlog"
)

// TestServeInProcess runs cli.Serve in this process with a Config loaded as `plugboard serve`
// loads it, drives it over HTTP with the generated client, and stops it by cancelling its context:
// Serve returns nil once it has stopped, having logged what was in force at start.
func TestServeInProcess(t *testing.T) {
	env := map[string]string{}
	if os.Getenv("PLUGBOARD_TEST_STORE") == "postgres" {
		env[cli.EnvDatabaseURL] = pgtest.URL(t)
	}
	cfg, err := cli.LoadConfig([]string{"--data-dir", t.TempDir(), "--migrate", "--allow-cidrs", "10.1.0.0/16"},
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// Listening before Serve starts: a request waits in the backlog until Serve accepts it, which
	// it does only once the store is open and the first start's key printed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := &testlog.Buffer{}, &testlog.Buffer{}
	cfg.Listener, cfg.Stdout, cfg.Stderr = ln, stdout, stderr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cli.Serve(ctx, cfg) }()

	url := "http://" + ln.Addr().String()
	res, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("/readyz: %d; log:\n%s", res.StatusCode, stderr.String())
	}
	m := firstStart.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("first start printed no organisation and key; stdout:\n%s", stdout.String())
	}
	orgID, c := ulid.MustParse(m[1]), client(t, url, m[2])
	sys, err := c.CreateSystemWithResponse(ctx, orgID, api.CreateSystemJSONRequestBody{Name: "Shop", Domain: "shop.example",
		TemplateBaseUrl: "https://api.shop.example"})
	if err != nil || sys.JSON201 == nil {
		t.Fatalf("create system: %v %s", err, sys.Body)
	}
	list, err := c.ListSystemsWithResponse(ctx, orgID, nil)
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 {
		t.Fatalf("list systems: %v %s", err, list.Body)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v; log:\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{"msg=starting", "outbound_allow_private_networks=false", "outbound_allow_cidrs=10.1.0.0/16",
		"master_key_ids=", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}
