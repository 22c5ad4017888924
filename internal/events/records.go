package events

import (
	"encoding/json"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

// Data is an event's data: one fact, as a JSON object.
func Data(key, value string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{key: value})
	return b
}

// ConnectionEvent is an event about connection c: its ids, and its name as data.
func ConnectionEvent(typ string, c *plugboard.Connection) plugboard.Event {
	return plugboard.Event{Type: typ, OrganisationID: c.OrganisationID, ConnectionID: c.ID, EndUserID: c.EndUserID,
		SystemID: c.SystemID, TemplateID: c.TemplateID, Data: Data("name", c.Name)}
}

// CredentialDeletedEvent is the event of a connection credential's deletion, for reason.
func CredentialDeletedEvent(orgID, connectionID, endUserID, credentialID ulid.ULID, reason string) plugboard.Event {
	return plugboard.Event{Type: CredentialDeleted, OrganisationID: orgID, ConnectionID: connectionID,
		EndUserID: endUserID, CredentialID: credentialID, Reason: reason}
}

// ActivationEvent is an event about activation a: its end user, with its id and environment as data.
func ActivationEvent(typ string, a *plugboard.Activation) plugboard.Event {
	data, _ := json.Marshal(map[string]string{"activationId": a.ID.String(), "environmentId": a.EnvironmentID.String()})
	return plugboard.Event{Type: typ, OrganisationID: a.OrganisationID, EndUserID: a.EndUserID, Data: data}
}

// ConnectSessionEvent is connect_session.created, .completed or .revoked: the session's end user,
// with the session and environment ids and (created) its expiry and templates in data.
func ConnectSessionEvent(typ string, cs *plugboard.ConnectSession) plugboard.Event {
	d := map[string]any{"connectSessionId": cs.ID.String(), "environmentId": cs.EnvironmentID.String()}
	if typ == ConnectSessionCreated {
		ids := make([]string, len(cs.TemplateIDs))
		for i, id := range cs.TemplateIDs {
			ids[i] = id.String()
		}
		d["expiresAt"] = cs.ExpiresAt.UTC().Format(time.RFC3339Nano)
		d["templateIds"] = ids
	}
	data, _ := json.Marshal(d)
	return plugboard.Event{Type: typ, OrganisationID: cs.OrganisationID, EndUserID: cs.EndUserID, Data: data}
}

// SessionActor is the actor of changes made through a connect session on the hosted page.
func SessionActor(id ulid.ULID) string { return "connect_session:" + id.String() }
