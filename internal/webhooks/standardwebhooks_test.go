package webhooks_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/webhooks"
)

// EnvStandardWebhooks switches on the test that verifies deliveries with the npm package
// standardwebhooks (installed by `npm ci --prefix testdata/standardwebhooks`).
const EnvStandardWebhooks = "PLUGBOARD_TEST_STANDARDWEBHOOKS"

// peerReceipt is one delivery as the Node receiver saw it.
type peerReceipt struct {
	ID       string `json:"id"`
	Verified []bool `json:"verified"`
	Error    string `json:"error"`
	Body     string `json:"body"`
}

// startPeer runs testdata/standardwebhooks/verify.js with the secrets, and returns its URL and a
// channel of what it receives.
func startPeer(t *testing.T, secrets ...string) (string, <-chan peerReceipt) {
	t.Helper()
	if os.Getenv(EnvStandardWebhooks) != "1" {
		t.Skipf("the standardwebhooks peer is off: set %s=1 (after npm ci --prefix testdata/standardwebhooks) to run it", EnvStandardWebhooks)
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "standardwebhooks"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		t.Fatalf("%s is set but standardwebhooks is not installed: run npm ci --prefix testdata/standardwebhooks", EnvStandardWebhooks)
	}
	cmd := exec.Command("node", "verify.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STANDARDWEBHOOKS_SECRETS="+strings.Join(secrets, ","))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if !sc.Scan() {
		t.Fatal("the peer did not start")
	}
	var hello struct {
		Port int `json:"port"`
	}
	if err := json.Unmarshal(sc.Bytes(), &hello); err != nil || hello.Port == 0 {
		t.Fatalf("peer: %s %v", sc.Bytes(), err)
	}
	ch := make(chan peerReceipt, 100)
	go func() {
		for sc.Scan() {
			var r peerReceipt
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				ch <- r
			}
		}
		close(ch)
	}()
	return fmt.Sprintf("http://127.0.0.1:%d/hook", hello.Port), ch
}

func receive(t *testing.T, ch <-chan peerReceipt) peerReceipt {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("the peer stopped")
		}
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the peer received nothing")
	}
	return peerReceipt{}
}

// TestStandardWebhooksVerifiesDeliveries: deliveries as the worker sends them verify with the
// Standard Webhooks reference library, on the real clock (the library checks the timestamp against
// its own): with the secret; during a rotation's overlap with either secret; and never with an
// unrelated secret.
func TestStandardWebhooksVerifiesDeliveries(t *testing.T) {
	oldS, newS, unrelated := mustSecret(t), mustSecret(t), mustSecret(t)
	url, ch := startPeer(t, newS, oldS, unrelated)
	e := newEnv(t, webhooks.Config{})
	wall := func() time.Time { return time.Now() }
	e.worker = webhooks.New(webhooks.Config{Store: e.st, Vault: e.v, Events: e.log, Now: wall, Client: loopbackClient(true)})
	until := time.Now().Add(time.Hour)
	ep := e.endpoint(t, url, webhooks.Secrets{Current: newS, Previous: oldS}, &until)
	e.clock.now = time.Now()
	id := e.emit(t, events.ConnectionCreated)
	e.run(t)
	r := receive(t, ch)
	if r.ID != id.String() || len(r.Verified) != 3 || !r.Verified[0] || !r.Verified[1] || r.Verified[2] {
		t.Fatalf("during the overlap the peer verified %v (%s), want [true true false]", r.Verified, r.Error)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(r.Body), &payload); err != nil || payload["type"] != events.ConnectionCreated {
		t.Errorf("payload %s: %v", r.Body, err)
	}

	// After the overlap, only the new secret signs.
	ep.PreviousSecretUntil = nil
	if err := e.st.UpdateWebhookEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	e.emit(t, events.ConnectionDeleted)
	e.run(t)
	r = receive(t, ch)
	if len(r.Verified) != 3 || !r.Verified[0] || r.Verified[1] || r.Verified[2] {
		t.Fatalf("after the overlap the peer verified %v, want [true false false]", r.Verified)
	}
	as := e.attempts(t, ep.ID)
	if len(as) != 2 || as[0].StatusCode != 200 || as[1].StatusCode != 200 {
		t.Errorf("attempts: %+v", as)
	}
}
