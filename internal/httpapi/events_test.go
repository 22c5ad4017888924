package httpapi_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// eventView is an event as the API shows it.
type eventView struct {
	ID                 string         `json:"id"`
	Type               string         `json:"type"`
	OccurredAt         string         `json:"occurredAt"`
	OrganisationID     string         `json:"organisationId"`
	Actor              string         `json:"actor"`
	Reason             string         `json:"reason"`
	ConnectionID       string         `json:"connectionId"`
	CredentialID       string         `json:"credentialId"`
	EndUserID          string         `json:"endUserId"`
	SystemID           string         `json:"systemId"`
	TemplateID         string         `json:"templateId"`
	AuthSchemeConfigID string         `json:"authSchemeConfigId"`
	Data               map[string]any `json:"data"`
}

// journal reads the organisation's events in the order they happened, a batch at a time.
type journal struct {
	h    *harness
	seen map[string]bool
}

func newJournal(h *harness) *journal {
	j := &journal{h: h, seen: map[string]bool{}}
	j.next()
	return j
}

// all returns every event of the organisation, oldest first, paging through the list.
func (j *journal) all(query string) []eventView {
	j.h.t.Helper()
	var out []eventView
	after := ""
	for {
		var page struct {
			Events []eventView `json:"events"`
			Next   string      `json:"next"`
		}
		q := "/events?first=7" + query
		if after != "" {
			q += "&after=" + after
		}
		j.h.must(200, j.h.do("GET", q, nil)).JSON(j.h.t, &page)
		out = append(out, page.Events...)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	slices.Reverse(out)
	return out
}

// next returns the events that happened since the last call, oldest first.
func (j *journal) next() []eventView {
	var out []eventView
	for _, e := range j.all("") {
		if !j.seen[e.ID] {
			j.seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

// expect checks that exactly the events described happened since the last call, in order. Each
// description is "type key=value ..." with the keys of eventView's ids.
func (j *journal) expect(what string, want ...string) []eventView {
	j.h.t.Helper()
	got := j.next()
	var gotDesc []string
	for _, e := range got {
		gotDesc = append(gotDesc, describe(e, want))
	}
	if !slices.Equal(gotDesc, want) {
		j.h.t.Fatalf("%s: events\n got %q\nwant %q", what, gotDesc, want)
	}
	return got
}

// describe renders e with the fields the descriptions in want mention for its type.
func describe(e eventView, want []string) string {
	fields := map[string]string{"reason": e.Reason, "connection": e.ConnectionID, "credential": e.CredentialID,
		"user": e.EndUserID, "system": e.SystemID, "template": e.TemplateID, "config": e.AuthSchemeConfigID,
		"activation": fmt.Sprint(e.Data["activationId"]), "environment": fmt.Sprint(e.Data["environmentId"])}
	for _, w := range want {
		parts := strings.Fields(w)
		if parts[0] != e.Type {
			continue
		}
		out := []string{e.Type}
		for _, kv := range parts[1:] {
			k, _, _ := strings.Cut(kv, "=")
			out = append(out, k+"="+fields[k])
		}
		return strings.Join(out, " ")
	}
	return e.Type
}

// Each change writes exactly its events, with the ids it concerns and the calling key as actor;
// a change that fails writes none.
func TestEachChangeEmitsItsEvents(t *testing.T) {
	h := newHarness(t)
	j := newJournal(h)
	actor := h.keyID(h.key)

	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Acme", "domain": "acme.example", "templateBaseUrl": "https://api.acme.example",
		"authSchemeConfigs": arr{configByID("api-key")}})).JSON(t, &sys)
	created := j.expect("create system", "system.created system="+sys.ID)
	if e := created[0]; e.Actor != actor || e.OrganisationID != h.org.String() || e.OccurredAt == "" {
		t.Fatalf("event %+v: want actor %s", e, actor)
	}
	h.must(201, h.do("PUT", "/systems/"+sys.ID, obj{"name": "Acme 2"}))
	j.expect("update system", "system.updated system="+sys.ID)
	h.must(201, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/basic", configByID("basic")))
	h.must(201, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/basic", configByID("basic")))
	ev := j.expect("upsert config twice", "system.updated system="+sys.ID+" config=basic", "system.updated system="+sys.ID+" config=basic")
	if ev[0].Data["authSchemeConfig"] != "created" || ev[1].Data["authSchemeConfig"] != "updated" {
		t.Fatalf("config change data: %v, %v", ev[0].Data, ev[1].Data)
	}

	var proj struct {
		ID           string `json:"id"`
		Environments []struct {
			ID string `json:"id"`
		} `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "P"})).JSON(t, &proj)
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": "acme",
		"environmentId": proj.Environments[0].ID, "dynamic": true})).JSON(t, &tpl)
	h.must(200, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{"api-key"}}))
	j.expect("create and update a template", "template.created template="+tpl.ID+" system="+sys.ID, "template.updated template="+tpl.ID)

	// A connection for a new end user creates both.
	secret := "SECRET-event-test-4d1f"
	s := sample{"string", "api-key", "string", obj{"string": obj{"value": secret}}, []string{secret}}
	var conn struct {
		ID          string `json:"id"`
		EndUserID   string `json:"endUserId"`
		Credentials []struct {
			Credential struct {
				ID string `json:"id"`
			} `json:"credential"`
		} `json:"credentials"`
	}
	h.must(201, h.do("POST", "/connections", connectionBody(tpl.ID, "main", s, configByID("api-key")))).JSON(t, &conn)
	conn1User := conn.EndUserID
	j.expect("create connection", "end_user.created user="+conn.EndUserID,
		"activation.created user="+conn.EndUserID+" environment="+proj.Environments[0].ID,
		"connection.created connection="+conn.ID+" user="+conn.EndUserID+" template="+tpl.ID+" system="+sys.ID)

	// Failures write nothing: a duplicate name, a system still in use, a template with connections,
	// a credential that does not validate.
	h.must(409, h.do("POST", "/connections", connectionBody(tpl.ID, "main", s, configByID("api-key"))))
	h.must(409, h.do("DELETE", "/systems/"+sys.ID, nil))
	h.must(409, h.do("DELETE", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, nil))
	bad := connectionBody(tpl.ID, "other", sample{"string", "api-key", "string", obj{"string": obj{"value": ""}}, nil}, configByID("api-key"))
	h.must(400, h.do("POST", "/connections", bad))
	j.expect("failed changes")

	// Replacing the credential deletes the old one.
	oldCred := conn.Credentials[0].Credential.ID
	replace := connectionBody(tpl.ID, "main", s, configByID("api-key"))["connection"].(obj)["credentials"]
	h.must(200, h.do("PUT", "/connections/"+conn.ID, obj{"name": "main", "baseUrl": "", "credentials": replace})).JSON(t, &conn)
	j.expect("replace the credential", "credential.deleted credential="+oldCred+" connection="+conn.ID+" reason=deleted",
		"connection.updated connection="+conn.ID)
	// Renaming keeps the credential (sent with its id): no credential event.
	read := map[string]any{}
	h.must(200, h.do("GET", "/connections/"+conn.ID, nil)).JSON(t, &read)
	h.must(200, h.do("PUT", "/connections/"+conn.ID, obj{"name": "renamed", "baseUrl": "", "credentials": read["credentials"]}))
	j.expect("rename", "connection.updated connection="+conn.ID)
	newCred := conn.Credentials[0].Credential.ID

	h.must(204, h.do("DELETE", "/connections/"+conn.ID, nil))
	j.expect("delete the connection", "credential.deleted credential="+newCred+" connection="+conn.ID+" reason=deleted",
		"connection.deleted connection="+conn.ID+" user="+conn.EndUserID)

	// An end user's deletion takes its connections, each with its events.
	var user struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/users", obj{"externalId": "customer-9", "displayName": "Nine"})).JSON(t, &user)
	j.expect("create end user", "end_user.created user="+user.ID)
	body := connectionBody(tpl.ID, "x", s, configByID("api-key"))
	body["externalId"] = "customer-9"
	h.must(201, h.do("POST", "/connections", body)).JSON(t, &conn)
	ev = j.expect("connection of an existing end user", "activation.created user="+user.ID, "connection.created connection="+conn.ID+" user="+user.ID)
	nineActivation := fmt.Sprint(ev[0].Data["activationId"])
	h.must(204, h.do("DELETE", "/users/customer-9", nil))
	j.expect("delete the end user", "credential.deleted credential="+conn.Credentials[0].Credential.ID+" connection="+conn.ID+" reason=deleted",
		"connection.deleted connection="+conn.ID+" user="+user.ID, "activation.deleted user="+user.ID+" activation="+nineActivation,
		"end_user.deleted user="+user.ID)

	// Activating a new end user with a connection made inline; a refused activation writes nothing.
	var act struct {
		ID   string `json:"id"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Connections []connectionView `json:"connections"`
	}
	env := proj.Environments[0].ID
	inline := connectionBody(tpl.ID, "inline", s, configByID("api-key"))["connection"]
	badInline := connectionBody(tpl.ID, "bad", sample{"string", "api-key", "string", obj{"string": obj{"value": ""}}, nil}, configByID("api-key"))["connection"]
	h.must(400, h.do("POST", "/activations", obj{"userId": "customer-10", "environmentId": env,
		"connections": arr{obj{"connectionTemplateId": tpl.ID, "connection": badInline}}}))
	j.expect("refused activation")
	h.must(200, h.do("POST", "/activations", obj{"userId": "customer-10", "environmentId": env,
		"connections": arr{obj{"connectionTemplateId": tpl.ID, "connection": inline}}})).JSON(t, &act)
	actConn := act.Connections[0]
	j.expect("activate", "end_user.created user="+act.User.ID, "activation.created user="+act.User.ID+" activation="+act.ID+" environment="+env,
		"connection.created connection="+actConn.ID+" user="+act.User.ID+" template="+tpl.ID)
	h.must(204, h.do("DELETE", "/environments/"+env+"/activations/"+act.ID, nil))
	j.expect("delete the activation", "credential.deleted credential="+actConn.Credentials[0].Credential.ID+" connection="+actConn.ID+" reason=deleted",
		"connection.deleted connection="+actConn.ID+" user="+act.User.ID, "activation.deleted user="+act.User.ID+" activation="+act.ID)

	// A connect session: made for a new end user, a connect and a disconnect on its page (the
	// session as actor), revoked once (a second revoke writes nothing).
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "customer-11"}, "environmentId": env, "templateIds": arr{tpl.ID}})
	ev = j.expect("create a connect session", "end_user.created", "connect_session.created")
	sessionUser := ev[0].EndUserID
	if ev[1].EndUserID != sessionUser || ev[1].Data["connectSessionId"] != cs.ID || ev[1].Actor != actor {
		t.Fatalf("connect_session.created %+v", ev[1])
	}
	var made struct {
		Connection struct {
			ID string `json:"id"`
		} `json:"connection"`
	}
	h.must(201, h.page(cs.Token, "POST", "/connections", obj{"templateId": tpl.ID, "authSchemeConfigId": "api-key",
		"values": obj{"key": secret}})).JSON(t, &made)
	ev = j.expect("connect on the page", "activation.created user="+sessionUser+" environment="+env,
		"connection.created connection="+made.Connection.ID+" user="+sessionUser+" template="+tpl.ID)
	var pageConn connectionView
	h.must(200, h.do("GET", "/connections/"+made.Connection.ID, nil)).JSON(t, &pageConn)
	h.must(204, h.page(cs.Token, "DELETE", "/connections/"+made.Connection.ID, nil))
	ev = j.expect("disconnect on the page",
		"credential.deleted credential="+pageConn.Credentials[0].Credential.ID+" connection="+made.Connection.ID+" user="+sessionUser+" reason=deleted",
		"connection.deleted connection="+made.Connection.ID+" user="+sessionUser)
	for _, e := range ev {
		if e.Actor != "connect_session:"+cs.ID {
			t.Errorf("%s by %q, want the session", e.Type, e.Actor)
		}
	}
	h.must(204, h.do("DELETE", "/connect-sessions/"+cs.ID, nil))
	ev = j.expect("revoke the connect session", "connect_session.revoked user="+sessionUser)
	if e := ev[0]; e.Actor != actor || e.Data["connectSessionId"] != cs.ID || e.Data["environmentId"] != env {
		t.Errorf("connect_session.revoked %+v", e)
	}
	h.must(204, h.do("DELETE", "/connect-sessions/"+cs.ID, nil))
	j.expect("revoke it again")
	h.must(204, h.do("DELETE", "/users/customer-11", nil))
	j.expect("delete the session's end user", "activation.deleted user="+sessionUser, "end_user.deleted user="+sessionUser)

	h.must(204, h.do("DELETE", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, nil))
	j.expect("delete the template", "template.deleted template="+tpl.ID)
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": "again",
		"environmentId": proj.Environments[0].ID})).JSON(t, &tpl)
	j.expect("another template", "template.created template="+tpl.ID)
	h.must(204, h.do("DELETE", "/projects/"+proj.ID, nil))
	// The first end user's activation stayed (its connection was deleted, not the end user).
	j.expect("delete the project", "activation.deleted user="+conn1User, "template.deleted template="+tpl.ID)
	h.must(204, h.do("DELETE", "/systems/"+sys.ID+"/auth-scheme-configs/basic", nil))
	j.expect("delete a config", "system.updated system="+sys.ID+" config=basic")
	h.must(204, h.do("DELETE", "/systems/"+sys.ID, nil))
	j.expect("delete the system", "system.deleted system="+sys.ID)

	// No event holds the secret; each is readable by itself.
	for _, e := range j.all("") {
		r := h.must(200, h.do("GET", "/events/"+e.ID, nil))
		if strings.Contains(string(r.Body), secret) {
			t.Fatalf("event %s holds the secret", e.ID)
		}
	}
}

// The list filters by type, connection, end user and time, and refuses what it cannot read.
func TestListEventsFilters(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	s := storableSamples(t, "https://provider.example/token")[1]
	var a, b struct {
		ID        string `json:"id"`
		EndUserID string `json:"endUserId"`
	}
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], "a", s, configByID("api-key")))).JSON(t, &a)
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], "b", s, configByID("api-key")))).JSON(t, &b)
	j := &journal{h: h, seen: map[string]bool{}}
	types := func(evs []eventView) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Type)
		}
		return out
	}
	if got := types(j.all("&connection_id=" + a.ID)); !slices.Equal(got, []string{"connection.created"}) {
		t.Fatalf("connection filter: %v", got)
	}
	if got := types(j.all("&end_user_id=" + b.EndUserID)); !slices.Equal(got, []string{"end_user.created", "activation.created", "connection.created"}) {
		t.Fatalf("end user filter: %v", got)
	}
	if got := j.all("&type=end_user.created,connection.created&type=system.created"); len(got) != 5 {
		t.Fatalf("type filter: %v", types(got))
	}
	everything := j.all("")
	mid := everything[len(everything)-2].OccurredAt
	if got := j.all("&since=" + url.QueryEscape(mid)); len(got) < 2 {
		t.Fatalf("since %s: %v", mid, types(got))
	}
	if got := j.all("&until=" + url.QueryEscape(everything[0].OccurredAt)); len(got) != 0 {
		t.Fatalf("until the first event: %v", types(got))
	}
	for q, field := range map[string]string{
		"type=connection.renamed": "type[0]", "type=system.created,nope": "type[1]", "connection_id=x": "connection_id",
		"end_user_id=1": "end_user_id", "first=0": "first", "after=zz": "after",
		"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z": "until",
	} {
		r := h.must(400, h.do("GET", "/events?"+q, nil))
		if !strings.Contains(string(r.Body), fmt.Sprintf("%q", field)) {
			t.Errorf("%s: %s does not name %s", q, r.Body, field)
		}
	}
	h.must(404, h.do("GET", "/events/"+a.ID, nil))
}
