package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/vault"
)

// TestRollingMasterKeyRotation runs the rotation procedure of docs/security.md ("Key rotation")
// on two replicas of one PostgreSQL database, restarting them one at a time, under steady traffic
// (clients reading connections and calling the proxy against a local upstream that checks the
// secret it receives, and one creating connections): every response during the whole procedure
// must be 2xx. A replica leaves the rotation (as behind a load balancer) before it stops and
// rejoins once ready.
func TestRollingMasterKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := pgtest.URL(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if want := r.URL.Query().Get("want"); want == "" || r.Header.Get("X-Key") != want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer up.Close()

	bin := buildBinary(t)
	oldKey, newKey := vault.NewKey(), vault.NewKey()
	oldID, _ := vault.KeyIDOfText(oldKey)
	newID, _ := vault.KeyIDOfText(newKey)
	withKeys := func(keys string) []string {
		return []string{"PLUGBOARD_DATABASE_URL=" + dbURL, "PLUGBOARD_ALLOW_CIDRS=127.0.0.0/8",
			"PLUGBOARD_REWRAP_INTERVAL=200ms", "PLUGBOARD_REWRAP_RATE=500", "PLUGBOARD_ENCRYPTION_KEY=" + keys}
	}
	run(t, bin, withKeys(oldKey), "migrate")

	// The replicas, and a router that sends each request to one in rotation.
	type replica struct {
		dir     string
		srv     *server
		client  *http.Client
		inRound atomic.Bool
	}
	var all []*server // every process started, for the log check at the end
	start := func(r *replica, keys string) {
		r.srv = startServer(t, bin, r.dir, withKeys(keys)...)
		all = append(all, r.srv)
		r.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		r.inRound.Store(true)
	}
	replicas := []*replica{{dir: filepath.Join(t.TempDir(), "a")}, {dir: filepath.Join(t.TempDir(), "b")}}
	for _, r := range replicas {
		start(r, oldKey) // one after the other: only the first creates the default organisation
	}
	org, key := replicas[0].srv.org, replicas[0].srv.key
	if key == "" {
		t.Fatal("no default organisation")
	}
	var next atomic.Int64
	var mu sync.Mutex // guards replicas' srv and client while a replica restarts
	pick := func() (string, *http.Client) {
		mu.Lock()
		defer mu.Unlock()
		for range 2 * len(replicas) {
			r := replicas[next.Add(1)%int64(len(replicas))]
			if r.inRound.Load() {
				return r.srv.url, r.client
			}
		}
		t.Error("no replica in rotation")
		return replicas[0].srv.url, replicas[0].client
	}
	call := func(method, path string, body any) (int, []byte, error) {
		base, c := pick()
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = bytes.NewReader(data)
		}
		req, _ := http.NewRequest(method, base+"/o/"+org+path, rd)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		return res.StatusCode, out, err
	}
	setup := func(method, path string, body any, v any) {
		t.Helper()
		st, out, err := call(method, path, body)
		if err != nil || st/100 != 2 {
			t.Fatalf("%s %s: %d %v %s", method, path, st, err, out)
		}
		if v != nil {
			if err := json.Unmarshal(out, v); err != nil {
				t.Fatalf("%s %s: %s", method, path, out)
			}
		}
	}

	var sys, proj, tpl struct {
		ID           string `json:"id"`
		TemplateID   string `json:"connectionTemplateId"`
		Environments []struct {
			ID string `json:"id"`
		} `json:"environments"`
	}
	apiKeyConfig := map[string]any{"type": "api-key", "apiKey": map[string]any{"id": "k", "description": "", "name": "X-Key", "in": "header"}}
	setup("POST", "/systems", map[string]any{"name": "S", "domain": "d", "templateBaseUrl": up.URL, "authSchemeConfigs": []any{apiKeyConfig}}, &sys)
	setup("POST", "/projects", map[string]any{"name": "P"}, &proj)
	setup("POST", "/projects/"+proj.ID+"/connection-templates", map[string]any{"systemId": sys.ID, "name": "t", "environmentId": proj.Environments[0].ID}, &tpl)
	connBody := func(n int) map[string]any {
		return map[string]any{"connectionTemplateId": tpl.TemplateID, "connection": map[string]any{"name": fmt.Sprintf("conn-%d", n),
			"credentials": []any{map[string]any{"id": "00000000000000000000000000", "authSchemeConfig": apiKeyConfig,
				"credential": map[string]any{"id": "00000000000000000000000000", "organisationId": org, "type": "string",
					"data": map[string]any{"string": map[string]any{"value": fmt.Sprintf("pb-secret-%d", n)}}}}}}}
	}
	type conn struct {
		id string
		n  int
	}
	var (
		connsMu sync.Mutex
		conns   []conn
	)
	create := func(n int) (int, []byte, error) {
		st, out, err := call("POST", "/connections", connBody(n))
		if err == nil && st == 201 {
			var c struct {
				ID string `json:"id"`
			}
			json.Unmarshal(out, &c)
			connsMu.Lock()
			conns = append(conns, conn{c.ID, n})
			connsMu.Unlock()
		}
		return st, out, err
	}
	for n := range 20 {
		if st, out, err := create(n); err != nil || st != 201 {
			t.Fatalf("create: %d %v %s", st, err, out)
		}
	}

	// Steady traffic for the whole procedure.
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		ok       atomic.Int64
		failMu   sync.Mutex
		failures []string
	)
	record := func(what string, st int, out []byte, err error) {
		if err == nil && st/100 == 2 {
			ok.Add(1)
			return
		}
		failMu.Lock()
		defer failMu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf("%s: %d %v %.200s", what, st, err, out))
		}
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				connsMu.Lock()
				c := conns[rand.IntN(len(conns))]
				connsMu.Unlock()
				st, out, err := call("GET", "/connections/"+c.id, nil)
				record("read", st, out, err)
				st, out, err = call("GET", fmt.Sprintf("/connections/%s/proxy/check?want=pb-secret-%d", c.id, c.n), nil)
				record("proxy", st, out, err)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1000; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			st, out, err := create(n)
			record("create", st, out, err)
		}
	}()

	// restartAll restarts the replicas one at a time with new key settings: each leaves the
	// rotation, drains, stops, starts and rejoins once ready.
	restartAll := func(keys string) {
		t.Helper()
		for _, r := range replicas {
			r.inRound.Store(false)
			time.Sleep(300 * time.Millisecond)
			mu.Lock()
			old := r.srv
			mu.Unlock()
			old.stop(t)
			r.client.CloseIdleConnections()
			mu.Lock()
			start(r, keys)
			mu.Unlock()
			time.Sleep(300 * time.Millisecond)
		}
	}
	status := func(keys string) (counts map[string]int, retired []string) {
		t.Helper()
		var s struct {
			Sealed []struct {
				KeyID string `json:"keyId"`
				Count int    `json:"count"`
			} `json:"sealed"`
			Retired []string `json:"retired"`
		}
		out := run(t, bin, withKeys(keys), "master-keys", "status", "--json")
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatalf("status: %s", out)
		}
		counts = map[string]int{}
		for _, c := range s.Sealed {
			counts[c.KeyID] += c.Count
		}
		return counts, s.Retired
	}

	// 1. Add the new key, open-only (after the current one), on every replica.
	restartAll(oldKey + "," + newKey)
	if counts, _ := status(oldKey + "," + newKey); counts[newID] != 0 || counts[oldID] == 0 {
		t.Fatalf("after adding the new key open-only: %v", counts)
	}
	// 2. Make it first on every replica: new secrets are sealed with it from now on.
	restartAll(newKey + "," + oldKey)
	// 3. Rewrap, in the background on the running replicas.
	run(t, bin, withKeys(newKey+","+oldKey), "master-keys", "rewrap", "--background")
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts, _ := status(newKey + "," + oldKey)
		if counts[oldID] == 0 && counts[newID] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background rewrap did not finish: %v", counts)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// 4. Retire the old key, now that nothing uses it.
	run(t, bin, withKeys(newKey+","+oldKey), "master-keys", "retire", oldID)
	// 5. Drop it from every replica.
	restartAll(newKey)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d requests failed during the rotation, for example:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	connsMu.Lock()
	created := len(conns) - 20
	connsMu.Unlock()
	if ok.Load() < 300 || created < 20 {
		t.Errorf("too little traffic to show anything: %d answers, %d connections created", ok.Load(), created)
	}
	counts, retired := status(newKey)
	if len(counts) != 1 || counts[newID] < 20+created || !slices.Contains(retired, oldID) {
		t.Errorf("at the end: counts %v, retired %v; want everything under %s and %s retired", counts, retired, newID, oldID)
	}
	for _, r := range replicas {
		r.srv.stop(t)
	}
	for _, s := range all {
		logs := s.stdout.String() + s.stderr.String()
		if strings.Contains(logs, "pb-secret-") || strings.Contains(logs, oldKey) || strings.Contains(logs, newKey) {
			t.Errorf("a replica's output holds a secret or a key")
		}
	}
	t.Logf("%d answers, all 2xx; %d connections created during the rotation", ok.Load(), created)
}
