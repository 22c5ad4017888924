package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/vault"
)

// TestTwoReplicasOnePostgres runs two plugboard processes on one PostgreSQL schema: 200 concurrent
// CreateConnection calls with one name, spread over both, give exactly one 201 and 199 409s; a
// connection created on one replica is read, updated and deleted through the other.
func TestTwoReplicasOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	url := pgtest.URL(t)
	bin := buildBinary(t)
	env := []string{"PLUGBOARD_DATABASE_URL=" + url,
		// Replicas must share the master key: either may open what the other sealed.
		"PLUGBOARD_ENCRYPTION_KEY=" + vault.NewKey()}
	run(t, bin, env, "migrate")
	// Started one after the other, so that only the first creates the default organisation.
	a := startServer(t, bin, filepath.Join(t.TempDir(), "a"), env...)
	b := startServer(t, bin, filepath.Join(t.TempDir(), "b"), env...)
	if a.key == "" || b.key != "" {
		t.Fatalf("default organisation: first replica printed key %t, second %t", a.key != "", b.key != "")
	}
	org, key := a.org, a.key

	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	call := func(base, method, path string, body any) (int, []byte) {
		t.Helper()
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+"/o/"+org+path, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return 0, nil
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}
	decode := func(data []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
	}

	var sys, proj, tpl struct {
		ID           string `json:"id"`
		TemplateID   string `json:"connectionTemplateId"`
		Environments []struct {
			ID string `json:"id"`
		} `json:"environments"`
	}
	_, out := call(a.url, "POST", "/systems", map[string]any{"name": "S", "domain": "s.example", "templateBaseUrl": "https://s.example",
		"authSchemeConfigs": []any{map[string]any{"type": "api-key", "apiKey": map[string]any{"id": "k", "description": "", "name": "X-Key", "in": "header"}}}})
	decode(out, &sys)
	_, out = call(b.url, "POST", "/projects", map[string]any{"name": "P"})
	decode(out, &proj)
	_, out = call(a.url, "POST", "/projects/"+proj.ID+"/connection-templates", map[string]any{"systemId": sys.ID, "name": "t", "environmentId": proj.Environments[0].ID})
	decode(out, &tpl)
	body := func(value string) map[string]any {
		return map[string]any{"connectionTemplateId": tpl.TemplateID, "connection": map[string]any{"name": "same",
			"credentials": []any{map[string]any{"id": "00000000000000000000000000",
				"authSchemeConfig": map[string]any{"type": "api-key", "apiKey": map[string]any{"id": "k", "description": "", "name": "X-Key", "in": "header"}},
				"credential":       map[string]any{"id": "00000000000000000000000000", "organisationId": org, "type": "string", "data": map[string]any{"string": map[string]any{"value": value}}}}}}}
	}

	const n = 200
	statuses := make([]int, n)
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			base := a.url
			if i%2 == 1 {
				base = b.url
			}
			statuses[i], bodies[i] = call(base, "POST", "/connections", body(fmt.Sprintf("value-%d", i)))
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	var created []byte
	for i, st := range statuses {
		count[st]++
		if st == 201 {
			created = bodies[i]
		}
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Fatalf("statuses %v, want exactly one 201 and %d 409s", count, n-1)
	}

	// Created on one replica; read, updated and deleted through the other.
	var conn map[string]any
	decode(created, &conn)
	id := conn["id"].(string)
	if st, _ := call(b.url, "GET", "/connections/"+id, nil); st != 200 {
		t.Errorf("get on the other replica: %d", st)
	}
	if st, _ := call(a.url, "GET", "/connections/"+id, nil); st != 200 {
		t.Errorf("get on the same replica: %d", st)
	}
	update := map[string]any{"name": "renamed", "baseUrl": "", "credentials": conn["credentials"]}
	if st, out := call(b.url, "PUT", "/connections/"+id, update); st != 200 {
		t.Errorf("update on the other replica: %d %s", st, out)
	}
	st, out := call(a.url, "GET", "/connections/"+id, nil)
	if st != 200 || !bytes.Contains(out, []byte(`"name":"renamed"`)) {
		t.Errorf("update not visible on the first replica: %d %s", st, out)
	}
	// A page cursor from one replica works on the other.
	for _, name := range []string{"page-1", "page-2"} {
		b := body(name)
		b["connection"].(map[string]any)["name"] = name
		if st, out := call(a.url, "POST", "/connections", b); st != 201 {
			t.Fatalf("create %s: %d %s", name, st, out)
		}
	}
	var page struct {
		Items []struct{ ID string } `json:"items"`
		Next  string                `json:"next"`
	}
	_, out = call(a.url, "GET", "/connections?first=1", nil)
	decode(out, &page)
	if page.Next == "" {
		t.Fatalf("no next cursor: %s", out)
	}
	firstID := page.Items[0].ID
	_, out = call(b.url, "GET", "/connections?first=1&after="+page.Next, nil)
	page.Items, page.Next = nil, ""
	decode(out, &page)
	if len(page.Items) != 1 || page.Items[0].ID == firstID {
		t.Errorf("the other replica did not continue the page: %s", out)
	}

	if st, _ := call(b.url, "DELETE", "/connections/"+id, nil); st != 204 {
		t.Errorf("delete on the other replica: %d", st)
	}
	if st, _ := call(a.url, "GET", "/connections/"+id, nil); st != 404 {
		t.Errorf("deleted connection still readable on the first replica: %d", st)
	}
	a.stop(t)
	b.stop(t)
}
