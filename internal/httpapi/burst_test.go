package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// TestBurstOfCreatesAllSucceed sends 500 connection creates at once, as a burst of sign-ups
// would, and checks that every one is created. On SQLite the writes queue for the one writer in
// turn; before the queue, writers spun on SQLite's busy timeout and tens of them failed with 503.
func TestBurstOfCreatesAllSucceed(t *testing.T) {
	if testing.Short() {
		t.Skip("500 concurrent creates: skipped with -short")
	}
	// The queue's wait is set far above what the burst needs, so that only a failure of the
	// queueing fails the test, not a slow machine (-race); bench/creates measures the speed at the
	// default wait. Answers are not validated here: the validator costs more than a create.
	ctx := context.Background()
	var (
		store plugboard.Store
		err   error
	)
	if apitest.UsePostgres() {
		store, err = sqlstore.OpenWith(ctx, pgtest.URL(t), sqlstore.Options{Migrate: true})
	} else {
		store, err = sqlstore.OpenWith(ctx, filepath.Join(t.TempDir(), "plugboard.db"), sqlstore.Options{SQLiteWriteWait: 5 * time.Minute})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := serveStore(t, store, slog.New(slog.DiscardHandler), false)
	scheme := obj{"type": "api-key", "apiKey": obj{"id": "api-key", "description": "key in header", "name": "X-Api-Key", "in": "header"}}
	var sys, tpl struct {
		ID         string `json:"id"`
		TemplateID string `json:"connectionTemplateId"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Burst", "domain": "burst.example",
		"templateBaseUrl": "https://api.burst.example", "authSchemeConfigs": arr{scheme}})).JSON(t, &sys)
	var proj struct {
		ID           string `json:"id"`
		Environments []struct {
			ID string `json:"id"`
		} `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "Burst"})).JSON(t, &proj)
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID,
		"name": "burst", "environmentId": proj.Environments[0].ID})).JSON(t, &tpl)

	const n = 500
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t.Cleanup(client.CloseIdleConnections)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		byStatus = map[int]int{}
		failures []string
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(obj{"connectionTemplateId": tpl.TemplateID, "connection": obj{"name": fmt.Sprintf("burst-%d", i),
				"credentials": arr{obj{"id": zeroID, "authSchemeConfig": scheme,
					"credential": obj{"type": "string", "data": obj{"string": obj{"value": "sk_burst"}}}}}}})
			req, _ := http.NewRequest("POST", h.srv.URL+"/o/"+h.org.String()+"/connections", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+h.key)
			req.Header.Set("Content-Type", "application/json")
			<-start
			res, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, err.Error())
				return
			}
			defer res.Body.Close()
			byStatus[res.StatusCode]++
			if res.StatusCode != 201 && len(failures) < 5 {
				data, _ := io.ReadAll(res.Body)
				failures = append(failures, fmt.Sprintf("%d %s", res.StatusCode, data))
			}
		}()
	}
	close(start)
	wg.Wait()
	if byStatus[201] != n {
		var counts []string
		for st, c := range byStatus {
			counts = append(counts, fmt.Sprintf("%d×%d", c, st))
		}
		sort.Strings(counts)
		t.Fatalf("%d of %d creates succeeded (%s); first failures:\n%s", byStatus[201], n, strings.Join(counts, ", "), strings.Join(failures, "\n"))
	}
	var page struct {
		TotalCount int `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/connections?first=1", nil)).JSON(t, &page)
	if page.TotalCount != n {
		t.Errorf("the organisation has %d connections, want %d", page.TotalCount, n)
	}
}
