package cli

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/plugboard/plugboard/internal/testlog"
	"github.com/plugboard/plugboard/internal/vault"
)

// TestServeStopsInOrder: once its context ends, Serve stops the HTTP server, then every
// background worker (each has returned), then closes the store, and only then returns. It says
// at start which store, outbound policy and key ids are in force, and never a key.
func TestServeStopsInOrder(t *testing.T) {
	key := vault.NewKey()
	env := map[string]string{EnvEncryptionKey: key, "PLUGBOARD_ALLOW_PRIVATE_NETWORKS": "true"}
	dir := t.TempDir()
	cfg, err := LoadConfig([]string{"--data-dir", dir}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var stages []string
	cfg.stage = func(s string) {
		mu.Lock()
		defer mu.Unlock()
		stages = append(stages, s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log, stdout := &testlog.Buffer{}, &testlog.Buffer{}
	cfg.Listener, cfg.Stderr, cfg.Stdout = ln, log, stdout
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg) }()

	res, err := http.Get("http://" + ln.Addr().String() + "/readyz") // waits in the backlog until Serve accepts
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// An authenticated request leaves the key's last use to be written after it answers; Serve
	// waits for that write with the HTTP server, before the store closes.
	m := regexp.MustCompile(`organisation id: (\S+)\n\s+API key:\s+(\S+)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no first-start key: %q", stdout.String())
	}
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/o/"+m[1]+"/systems", nil)
	req.Header.Set("Authorization", "Bearer "+m[2])
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("list systems: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	mu.Lock()
	if len(stages) != 0 {
		t.Errorf("stopped before being told to: %v", stages)
	}
	mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	got := slices.Clone(stages)
	mu.Unlock()
	workers := []string{"change feed stopped", "refresher stopped", "sweeper stopped", "purger stopped", "pruner stopped", "rewrapper stopped", "webhooks stopped"}
	if len(got) != len(workers)+3 || got[0] != "http stopped" || got[len(got)-2] != "workers stopped" || got[len(got)-1] != "store closed" {
		t.Fatalf("shutdown stages %v, want http stopped, the workers, workers stopped, store closed", got)
	}
	middle := slices.Clone(got[1 : len(got)-2])
	slices.Sort(middle)
	slices.Sort(workers)
	if !slices.Equal(middle, workers) {
		t.Errorf("workers stopped: %v, want %v", middle, workers)
	}

	keys, err := vault.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	out := log.String()
	var start string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "msg=starting") {
			start = line
		}
	}
	for _, want := range []string{"store=sqlite", "database=" + dir, "outbound_allow_private_networks=true",
		"master_key_ids=" + keys.PrimaryKeyID(), "sealing_key_id=" + keys.PrimaryKeyID(), "master_keys_from=" + EnvEncryptionKey} {
		if !strings.Contains(start, want) {
			t.Errorf("the start line lacks %q: %s", want, start)
		}
	}
	if strings.Contains(out, key) {
		t.Error("the log holds the master key")
	}
	if strings.Contains(out, "could not record") || strings.Contains(out, "level=ERROR") {
		t.Errorf("something ran after the store closed:\n%s", out)
	}
}
