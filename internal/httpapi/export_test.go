package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/httpapi"
)

// TestExportHoldsNoSecret stores a connection of every credential type with known secret values
// (and configs with secrets of their own), exports the organisation, and searches the export for
// every one of them. Each exported connection and system must be exactly what the API answers.
func TestExportHoldsNoSecret(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	samples := storableSamples(t, newGoProvider(t).TokenURL)
	secrets := []string{"SECRET-consumer-secret", "SECRET-consumer-secret-2"}
	var ids []string
	for i, s := range samples {
		var c connectionView
		h.must(201, h.do("POST", "/connections", connectionBody(f.templates[s.configID], fmt.Sprintf("export-%d", i), s, configByID(s.configID)))).JSON(t, &c)
		ids = append(ids, c.ID)
		secrets = append(secrets, s.secrets...)
	}
	// Another organisation's records stay out of it.
	otherOrg, otherKey := h.newOrg("other")
	h.must(201, h.doAs(otherKey, otherOrg, "POST", "/systems", obj{"name": "Not exported", "domain": "other.example",
		"templateBaseUrl": "", "authSchemeConfigs": nil}))

	// What the API answers, read before the organisation is deleted.
	asAPI := map[string]any{}
	for _, id := range ids {
		var v any
		h.must(200, h.do("GET", "/connections/"+id, nil)).JSON(t, &v)
		asAPI["connection "+id] = v
	}
	var sys any
	h.must(200, h.do("GET", "/systems/"+f.systemID, nil)).JSON(t, &sys)
	asAPI["system "+f.systemID] = sys

	// Deleted organisations are exported too: that is what the grace period is for.
	if err := h.store.DeleteOrganisation(context.Background(), h.org, time.Now()); err != nil {
		t.Fatal(err)
	}
	exp, err := httpapi.Export(context.Background(), h.store, h.org)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(out), s) {
			t.Errorf("the export contains secret %q", s)
		}
	}
	if strings.Contains(string(out), "Not exported") {
		t.Error("the export holds another organisation's system")
	}
	if exp.Organisation.ID != h.org || exp.Organisation.DeletedAt == nil {
		t.Errorf("organisation %+v", exp.Organisation)
	}
	if len(exp.Systems) != 1 || len(exp.Projects) != 1 || len(exp.ConnectionTemplates) != len(f.templates) ||
		len(exp.Connections) != len(samples) || len(exp.EndUsers) == 0 {
		t.Fatalf("export holds %d systems, %d projects, %d templates, %d connections, %d end users",
			len(exp.Systems), len(exp.Projects), len(exp.ConnectionTemplates), len(exp.Connections), len(exp.EndUsers))
	}
	if len(secrets) < 10 {
		t.Fatalf("only %d secrets to search for", len(secrets))
	}

	exported := map[string]any{}
	for _, c := range exp.Connections {
		exported["connection "+c.ID.String()] = generic(t, c)
	}
	exported["system "+exp.Systems[0].ID.String()] = generic(t, exp.Systems[0])
	for name, want := range asAPI {
		if got := exported[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from the API's answer\n export: %v\n    API: %v", name, got, want)
		}
	}
}

// generic re-decodes v's JSON into maps and slices, for comparison with a decoded response.
func generic(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
