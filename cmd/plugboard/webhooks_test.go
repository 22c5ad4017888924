package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pbclient "github.com/plugboard/plugboard/client"
)

// hookReceiver records deliveries. While hanging it holds every request open (a delivery in
// flight) until the sender goes away; otherwise it verifies and answers 200.
type hookReceiver struct {
	mu        sync.Mutex
	hang      bool
	secret    string
	inFlight  int
	delivered map[string]int // webhook-id -> verified 200 answers
	bad       int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	if h.hang {
		h.inFlight++
		h.mu.Unlock()
		<-r.Context().Done()
		return
	}
	defer h.mu.Unlock()
	if err := pbclient.VerifyWebhook(h.secret, r.Header, body, 0, time.Now()); err != nil {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.delivered[r.Header.Get("webhook-id")]++
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) snapshot() (inFlight int, delivered map[string]int, bad int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for k, v := range h.delivered {
		out[k] = v
	}
	return h.inFlight, out, h.bad
}

func postJSON(t *testing.T, srv *server, path string, body any, out any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", srv.url+"/o/"+srv.org+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+srv.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d %s", path, res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWebhooksSurviveKill9 builds the binary, has it deliver the events of committed changes to a
// receiver that holds the deliveries open, kills the server with SIGKILL while they are in flight
// (committed, not delivered), restarts it, and checks that every event arrives, signed, with at most
// one duplicate each. SQLite by default; PostgreSQL with PLUGBOARD_TEST_STORE=postgres.
func TestWebhooksSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := append(storeEnv(t, bin), "PLUGBOARD_ALLOW_CIDRS=127.0.0.0/8", "PLUGBOARD_WEBHOOK_TIMEOUT=2s",
		"PLUGBOARD_WEBHOOK_RETRY_SCHEDULE=1s,1s,1s,1s,1s,1s,1s,1s,1s,1s")
	rcv := &hookReceiver{hang: true, delivered: map[string]int{}}
	hooks := httptest.NewServer(rcv)
	defer hooks.Close()

	srv := startServer(t, bin, dataDir, env...)
	var ep struct {
		Secret string `json:"secret"`
	}
	postJSON(t, srv, "/webhook-endpoints", map[string]any{"url": hooks.URL + "/hook", "eventTypes": []string{"end_user.created"}}, &ep)
	rcv.mu.Lock()
	rcv.secret = ep.Secret
	rcv.mu.Unlock()

	const n = 5
	var ids []string
	for i := range n {
		postJSON(t, srv, "/users", map[string]any{"externalId": fmt.Sprintf("kill9-%d", i)}, nil)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if inFlight, _, _ := rcv.snapshot(); inFlight > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery started; stderr:\n%s", srv.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := srv.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no recording
		t.Fatal(err)
	}
	_ = srv.cmd.Wait()
	rcv.mu.Lock()
	rcv.hang = false
	rcv.mu.Unlock()

	srv2 := startServer(t, bin, dataDir, env...)
	srv2.org, srv2.key = srv.org, srv.key
	var page struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	req, _ := http.NewRequest("GET", srv2.url+"/o/"+srv.org+"/events?type=end_user.created&first=100", nil)
	req.Header.Set("Authorization", "Bearer "+srv.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&page)
	res.Body.Close()
	for _, e := range page.Events {
		ids = append(ids, e.ID)
	}
	if len(ids) != n {
		t.Fatalf("%d end_user.created events, want %d", len(ids), n)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		_, delivered, bad := rcv.snapshot()
		missing := 0
		for _, id := range ids {
			if delivered[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			for _, id := range ids {
				if delivered[id] > 2 {
					t.Errorf("event %s delivered %d times after one crash, want at most 2", id, delivered[id])
				}
			}
			if bad != 0 {
				t.Errorf("%d deliveries did not verify", bad)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never delivered after the restart; stderr:\n%s", missing, n, srv2.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv2.stop(t)
}
