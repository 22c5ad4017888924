// Package plugboard holds the domain of the service: the records it keeps, the error type every
// package returns, and the Store interface that the SQL backends implement. It imports no
// implementation package; everything else imports it.
package plugboard

import (
	"encoding/json"
	"time"

	"github.com/oklog/ulid/v2"
)

// Organisation is a tenant. Every other record belongs to exactly one.
type Organisation struct {
	ID        ulid.ULID
	Name      string
	CreatedAt time.Time
	// DeletedAt is when the organisation was deleted, nil while it is live. A deleted
	// organisation's API keys are refused; its records are kept until it is purged.
	DeletedAt *time.Time
}

// APIKey authenticates calls for one organisation. Only a hash of the key's secret part is kept.
type APIKey struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	Name           string
	// Hash is SHA-256 of the key's secret part.
	Hash []byte
	// Scopes lists what the key may do; empty means every scope.
	Scopes    []string
	CreatedAt time.Time
	// ExpiresAt, when set, is the time from which the key is refused.
	ExpiresAt *time.Time
	// LastUsedAt is when the key last authenticated a request, as sampled (at most once a minute
	// per key and process); nil when no use has been recorded.
	LastUsedAt *time.Time
}

// System is a third-party API that connections are made to, with the ways it accepts credentials.
type System struct {
	ID              ulid.ULID
	OrganisationID  ulid.ULID
	Name            string
	Domain          string
	TemplateBaseURL string
	Labels          map[string]string
	// AuthSchemeConfigs are kept in the order they were first added.
	AuthSchemeConfigs []AuthSchemeConfig
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// AuthSchemeConfig describes one way a system accepts credentials. Its shape is the API's
// AuthSchemeConfig; the store keeps it as JSON with its secret fields (an OAuth 2.0 client secret,
// an OAuth 1.0a consumer secret) emptied, and those fields sealed apart.
type AuthSchemeConfig struct {
	// ID is chosen by the client (for example "api-key") and unique within the system.
	ID string
	// Type is the AuthSchemeType, for example "api-key" or "oauth2".
	Type string
	// Config is the API's AuthSchemeConfig as JSON, secret fields emptied.
	Config json.RawMessage
	// Sealed holds the secret fields, sealed; nil when the config has none.
	Sealed []byte
}

// Project groups environments; connection templates live in an environment.
type Project struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	Name           string
	Environments   []Environment
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Environment is a named stage of a project, such as "production".
type Environment struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	ProjectID      ulid.ULID
	Name           string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ConnectionTemplate puts a system into a project environment under a name; connections are
// created against a template.
type ConnectionTemplate struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	ProjectID      ulid.ULID
	EnvironmentID  ulid.ULID
	SystemID       ulid.ULID
	Name           string
	// Dynamic templates take one connection per end user.
	Dynamic bool
	// AuthSchemeConfigIDs picks the system's configs the template offers; empty means all of them.
	AuthSchemeConfigIDs []string
	// AllowBaseURLOverride lets an end user set their connection's base URL on the hosted connect
	// page (their own instance of the service).
	AllowBaseURLOverride bool
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// ConnectSession lets one end user connect, reconnect and disconnect their own connections of some
// dynamic templates of one environment, through the hosted connect page, until ExpiresAt. Only the
// SHA-256 of its token is kept.
type ConnectSession struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	EnvironmentID  ulid.ULID
	EndUserID      ulid.ULID
	// TemplateIDs are the templates the page offers, in order.
	TemplateIDs []ulid.ULID
	TokenHash   []byte
	// ReturnURL is where the page sends the user when done; "" for none.
	ReturnURL string
	// AllowedOrigins may embed the page and receive its messages.
	AllowedOrigins []string
	ExpiresAt      time.Time
	RevokedAt      *time.Time
	CompletedAt    *time.Time
	CreatedAt      time.Time
}

// EndUser is a customer of the organisation, known by the organisation's own ExternalID.
type EndUser struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	ExternalID     string
	DisplayName    string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Activation is an end user activated in one environment: the end user's connections available
// under the environment's templates (created there, or linked in from another environment). There is
// at most one per organisation, environment and end user.
type Activation struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	EnvironmentID  ulid.ULID
	EndUserID      ulid.ULID
	// DynamicVariables is a JSON object of the activation's dynamic variables; nil when none were given.
	DynamicVariables json.RawMessage
	// Connections are the end user's connections linked to a template of the environment, by id, with
	// their credentials. Filled in by GetActivation and ListActivations.
	Connections []Connection
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Connection holds the credentials for one use of a system: static (EndUserID zero) or of one end user.
type Connection struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	TemplateID     ulid.ULID
	SystemID       ulid.ULID
	// EndUserID is the zero ULID for static connections.
	EndUserID ulid.ULID
	Name      string
	BaseURL   string
	// Credentials are applied to requests in this order.
	Credentials []ConnectionCredential
	// Expired lists the credentials the expiry sweeper deleted from the connection since a
	// credential was last added to it (UpdateConnection). While it is not empty the connection lacks
	// credentials it is meant to carry: it is refused for use (credential_expired) and its API
	// errors[] say why. Written by DeleteExpiredCredential only.
	Expired   []ExpiredCredential
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ExpiredCredential records a connection credential the expiry sweeper deleted: the gap it left.
type ExpiredCredential struct {
	// ConnectionCredentialID and CredentialID are the ids the deleted credential had.
	ConnectionCredentialID ulid.ULID
	CredentialID           ulid.ULID
	AuthSchemeConfigID     string
	Type                   string
	Name                   string
	ExpiresAt              time.Time
	DeletedAt              time.Time
}

// ConnectionCredential ties a credential to the auth scheme config it is used with.
type ConnectionCredential struct {
	ID                 ulid.ULID
	AuthSchemeConfigID string
	Credential         Credential
}

// Credential is a stored secret. Public is the API's credential data member (for example
// CredentialDataString) as JSON with every secret field emptied; Sealed holds the secret fields,
// sealed with the organisation and credential ids bound, so the store never sees a secret.
type Credential struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	// Type is the CredentialType, for example "string" or "oauth2-token".
	Type   string
	Name   string
	Public json.RawMessage
	Sealed []byte
	// ExpiresAt is when the credential stops being applied and is deleted (the API's expiresAt);
	// nil when it does not expire.
	ExpiresAt *time.Time
	// RefreshDue is when the background refresher should refresh the credential's token; nil for
	// credentials it leaves alone. Written, not read back: ListRefreshDue queries it.
	RefreshDue *time.Time
	// Refresh is the state of the credential's failing token refreshes (oauth2-token only); zero
	// while refreshes succeed. The API's errors[] are derived from it.
	Refresh   RefreshState
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RefreshState is a credential's streak of failed token refreshes: it starts at the first failure
// and ends at the next success (or when the credential is replaced). It is shared by replicas
// through the store, so they keep one backoff.
type RefreshState struct {
	// Attempts counts the failed refreshes of the streak; 0 when there is none.
	Attempts int
	// NextAttempt is when a refresh may be tried again (the backoff); nil without a streak.
	NextAttempt *time.Time
	// LastError is the error code (an E* constant) of the last failure; "" when the failure is
	// not known (a streak recorded by an older version).
	LastError string
	// FailingSince is when the streak's first failure happened; nil without a streak.
	FailingSince *time.Time
}

// Failing reports whether the credential is in a streak of failed refreshes.
func (r RefreshState) Failing() bool { return r.Attempts > 0 }

// CredentialRef locates a connection's credential, for work queues that span organisations.
type CredentialRef struct {
	OrganisationID ulid.ULID
	ConnectionID   ulid.ULID
	CredentialID   ulid.ULID
}

// OAuthState is one pending OAuth connect flow, from initialise to the exchange that consumes it.
// The state value itself is never stored: ID is its SHA-256, so a database reader cannot finish a
// flow. Sealed holds what the exchange needs and nobody else may see (the PKCE verifier, OAuth 1.0a
// temporary credentials), sealed with the organisation and ID bound.
type OAuthState struct {
	ID             string
	OrganisationID ulid.ULID
	// Kind is "oauth2" or "oauth1".
	Kind        string
	SystemID    ulid.ULID
	ConfigID    string
	RedirectURI string
	ReturnURL   string
	ClientID    string
	Sealed      []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
	ConsumedAt  *time.Time

	// OpenerOrigin is the origin (scheme://host[:port]) the callback page may post the flow's
	// result to; empty means the server's own public origin, never any origin.
	OpenerOrigin string
}

// Event is one thing that happened in an organisation, written in the transaction of the change it
// records (internal/events). Zero ids and empty strings do not concern the event. It holds no
// secret: Data is public JSON, and details that must not be readable in the database (an inbound
// webhook's headers and body) are in Sealed, sealed by internal/vault with the organisation and
// event ids bound.
type Event struct {
	ID             ulid.ULID
	OrganisationID ulid.ULID
	// Type is one of internal/events' types, for example "connection.created".
	Type       string
	OccurredAt time.Time
	// Actor is the id of the API key whose request made the change, or "system".
	Actor              string
	Reason             string
	ConnectionID       ulid.ULID
	CredentialID       ulid.ULID
	EndUserID          ulid.ULID
	SystemID           ulid.ULID
	TemplateID         ulid.ULID
	WebhookEndpointID  ulid.ULID
	AuthSchemeConfigID string
	// Data holds further public facts of the event as a JSON object; nil when there are none.
	Data   json.RawMessage
	Sealed []byte
}

// EventFilter narrows ListEvents. Empty fields do not filter.
type EventFilter struct {
	Types        []string
	ConnectionID ulid.ULID
	EndUserID    ulid.ULID
	// Since and Until bound OccurredAt: Since inclusive, Until exclusive.
	Since *time.Time
	Until *time.Time
}

// The store keeps times as Unix nanoseconds in a 64-bit integer, which reaches from 1677 to 2262.
// Times given as input (expiries, filters) must lie between MinTime and MaxTime, or they are a
// field error: a time outside would be stored as another one.
var (
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// TimeInRange reports whether t lies between MinTime and MaxTime.
func TimeInRange(t time.Time) bool { return !t.Before(MinTime) && !t.After(MaxTime) }

// TimeRangeMessage is the field error of a time outside MinTime and MaxTime.
const TimeRangeMessage = "must be between 1970-01-01 and 2262-01-01"
