package events

import (
	"encoding/json"

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
