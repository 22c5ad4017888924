package plugboard

import (
	"context"
	"time"

	"github.com/oklog/ulid/v2"
)

// DefaultPageSize is the page size when a list request names none.
const DefaultPageSize = 20

// MaxPageSize caps the page size a client may ask for.
const MaxPageSize = 500

// PageRequest selects a page by keyset on ULIDs, which sort by creation time. After and Before are
// exclusive bounds; at most one is set (zero means unset). First is the page size.
type PageRequest struct {
	First  int
	After  ulid.ULID
	Before ulid.ULID
}

// Page is one page of a list, in ascending id order. TotalCount counts every record matching the
// filter, not only this page. Next is set (to the last item's id) when records follow the page;
// Prev is set (to the first item's id) when records precede it.
type Page[T any] struct {
	Items      []T
	TotalCount int
	Next       ulid.ULID
	Prev       ulid.ULID
}

// ConnectionFilter narrows ListConnections. Zero ids do not filter.
type ConnectionFilter struct {
	SystemID   ulid.ULID
	EndUserID  ulid.ULID
	TemplateID ulid.ULID // the template the connections were created under
}

// DeletedConnection is what a delete removed of one connection: exactly the records it deleted, read
// in the deleting transaction, so the events it records name no more and no fewer.
type DeletedConnection struct {
	ID        ulid.ULID
	EndUserID ulid.ULID
	// CredentialIDs are the connection's credentials, in order.
	CredentialIDs []ulid.ULID
}

// EndUserFilter narrows ListEndUsers. Search matches the id, external id or display name
// (case-insensitive; empty matches all). Activated, when set, keeps the end users that have (true)
// or have not (false) an activation: in EnvironmentID when it is set, in any environment otherwise.
type EndUserFilter struct {
	Search        string
	Activated     *bool
	EnvironmentID ulid.ULID
}

// DeletedEndUser is what DeleteEndUser removed with the end user, read in the deleting transaction.
type DeletedEndUser struct {
	Connections []DeletedConnection
	// Activations are the end user's activations, without their Connections.
	Activations []Activation
}

// DeletedProject is what DeleteProject removed with the project.
type DeletedProject struct {
	Templates   []DeletedTemplate
	Activations []Activation
}

// ActivationFilter narrows ListActivations. Zero ids do not filter.
type ActivationFilter struct {
	EnvironmentID ulid.ULID
	EndUserID     ulid.ULID
}

// ConnectionLink is a connection's link to a template.
type ConnectionLink struct {
	ConnectionID ulid.ULID
	EndUserID    ulid.ULID
	TemplateID   ulid.ULID
}

// DeletedActivation is what DeleteActivation removed, read in the deleting transaction: the
// activation (with the Connections it had), the connections created under its environment's
// templates, deleted with their credentials, and the links of connections created elsewhere to its
// environment's templates, removed while those connections stay.
type DeletedActivation struct {
	Activation
	Deleted  []DeletedConnection
	Unlinked []ConnectionLink
}

// DeletedTemplate is a connection template a delete removed, with the connections whose links to
// it went too (static connections of other environments), read in the deleting transaction.
type DeletedTemplate struct {
	ConnectionTemplate
	UnlinkedConnectionIDs []ulid.ULID
}

// SealedTables names the tables that hold sealed values, in the order rotations visit them.
var SealedTables = []string{"credentials", "auth_scheme_configs", "oauth_states", "events", "webhook_endpoints"}

// SealedRecord is one stored sealed value, of any organisation, as a master key rotation sees it.
type SealedRecord struct {
	// Table is one of SealedTables.
	Table          string
	OrganisationID ulid.ULID
	// SystemID is set for auth scheme configs only.
	SystemID ulid.ULID
	// ID is the credential's id, the auth scheme config's id or the OAuth state's id.
	ID string
	// KeyID is the id of the master key the value was sealed with, as stored beside it.
	KeyID  string
	Sealed []byte
}

// SealedCount is how many values of one table are sealed under one master key.
type SealedCount struct {
	Table string
	KeyID string
	Count int
}

// MasterKey is what operators recorded about one master key, by its id (never the key).
type MasterKey struct {
	KeyID string
	// RewrapRequestedAt is set when a rewrap of every sealed value under this key was requested.
	RewrapRequestedAt *time.Time
	// RetiredAt is set once the key was retired: nothing used it, and nothing may seal with it again.
	RetiredAt *time.Time
}

// Store keeps Plugboard's records. Every method takes the organisation id (directly or on the
// record) and never returns another organisation's records: a record of another organisation is
// ENotFound, exactly like a missing one. Errors are *Error values with the codes named below; any
// other failure is EInternal. "Not found" is always an error, never a nil result.
//
// The SQLite and PostgreSQL backends pass the same contract suite (internal/storetest).
type Store interface {
	// InTx runs fn in one transaction: every write fn makes through the Store it is given commits
	// together, or none does if fn returns an error. Calls to InTx inside fn join the transaction.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// Ping reports whether the store answers (EUnavailable if not).
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error

	// CreateOrganisation inserts o.
	CreateOrganisation(ctx context.Context, o *Organisation) error
	// GetOrganisation returns the organisation or ENotFound.
	GetOrganisation(ctx context.Context, id ulid.ULID) (*Organisation, error)
	// CountOrganisations returns how many organisations exist, deleted ones included.
	CountOrganisations(ctx context.Context) (int, error)
	// ListOrganisations returns every organisation, deleted ones included (with DeletedAt), by id.
	ListOrganisations(ctx context.Context) ([]Organisation, error)
	// DeleteOrganisation marks the organisation deleted at the given time (GetOrganisation then
	// returns it with DeletedAt set); its records stay until PurgeOrganisation. ENotFound if it does
	// not exist; EConflict if it is deleted already (the first deletion time is kept).
	DeleteOrganisation(ctx context.Context, id ulid.ULID, at time.Time) error
	// PurgeOrganisation removes a deleted organisation and every record of it: API keys, systems
	// and their configs, projects, environments, templates, end users, activations, connections,
	// credentials and OAuth states. ENotFound if it does not exist; EConflict if it is not deleted.
	PurgeOrganisation(ctx context.Context, id ulid.ULID) error
	// CreateAPIKey inserts k; ENotFound if its organisation does not exist.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKey returns the key or ENotFound.
	GetAPIKey(ctx context.Context, orgID, id ulid.ULID) (*APIKey, error)
	// ListAPIKeys returns a page of the organisation's API keys, expired ones included, ordered by id.
	ListAPIKeys(ctx context.Context, orgID ulid.ULID, page PageRequest) (*Page[APIKey], error)
	// DeleteAPIKey removes the key; ENotFound if it does not exist.
	DeleteAPIKey(ctx context.Context, orgID, id ulid.ULID) error
	// TouchAPIKey records that the key authenticated a request at `at`: it sets LastUsedAt unless
	// that already holds a later time. A key that does not exist (deleted meanwhile) is no error.
	TouchAPIKey(ctx context.Context, orgID, id ulid.ULID, at time.Time) error

	// CreateCredential inserts a credential that belongs to no connection (the client secret of a
	// system's OAuth 2.0 grant); EConflict if its id is taken.
	CreateCredential(ctx context.Context, c *Credential) error
	// GetCredential returns any credential of the organisation by id, or ENotFound.
	GetCredential(ctx context.Context, orgID, id ulid.ULID) (*Credential, error)
	// DeleteCredential removes a credential that belongs to no connection (a grant's client secret,
	// deleted with the config or system that owns it); ENotFound if it does not exist; EConflict if it
	// belongs to a connection (those go with their connection).
	DeleteCredential(ctx context.Context, orgID, id ulid.ULID) error
	// RowLocks reports whether LockCredential locks one row (PostgreSQL) rather than every writer
	// (SQLite). Refreshes hold the lock over the provider call only when it locks one row.
	RowLocks() bool
	// LockCredential returns a credential like GetCredential and, inside InTx, holds it against
	// concurrent LockCredential calls (other replicas included) until the transaction ends: a row
	// lock on PostgreSQL, SQLite's write lock otherwise. Refreshes take it so that each expiry costs
	// one refresh at the provider.
	LockCredential(ctx context.Context, orgID, id ulid.ULID) (*Credential, error)
	// ListRefreshDue returns up to limit connection credentials, of any live (not deleted)
	// organisation, whose RefreshDue is before the given time and that have not expired by then
	// (ExpiresAt), soonest first.
	ListRefreshDue(ctx context.Context, before time.Time, limit int) ([]CredentialRef, error)
	// ListExpiredCredentials returns up to limit connection credentials, of any live organisation,
	// whose ExpiresAt is at or before at, soonest first: the expiry sweeper's work queue.
	ListExpiredCredentials(ctx context.Context, at time.Time, limit int) ([]CredentialRef, error)
	// DeleteExpiredCredential deletes the connection credential ref names if its ExpiresAt is at or
	// before now, keeping the connection, and records the gap on the connection (Connection.Expired,
	// with DeletedAt now), which stays until UpdateConnection adds a credential. It locks the
	// connection's row first, like UpdateConnection. ENotFound if the connection does not exist or
	// the credential is not (any longer) one of its credentials; EConflict if the credential no
	// longer expires by now (renewed meanwhile). Call it in InTx with the deletion's event.
	DeleteExpiredCredential(ctx context.Context, ref CredentialRef, now time.Time) (*ExpiredCredential, error)
	// ListExpiringCredentials returns up to limit connection credentials, of any live organisation,
	// whose ExpiresAt is after now and at or before before, and for whose ExpiresAt
	// MarkCredentialExpiring has not succeeded yet; soonest first.
	ListExpiringCredentials(ctx context.Context, now, before time.Time, limit int) ([]CredentialRef, error)
	// MarkCredentialExpiring records that the credential's coming expiry was announced, if its
	// ExpiresAt is after now and at or before before and was not announced yet, and returns that
	// ExpiresAt. It succeeds once per ExpiresAt value: ENotFound when there is nothing to announce
	// (the credential does not exist, was announced already, or does not expire in that window).
	// Changing a credential's ExpiresAt makes it announceable again. Call it in InTx with the event.
	MarkCredentialExpiring(ctx context.Context, orgID, id ulid.ULID, now, before time.Time) (*time.Time, error)
	// TryLead makes this process the one that runs a background job named name, if no other process
	// on the same database does: a session advisory lock on PostgreSQL; always granted on SQLite,
	// whose file one process serves. release gives the role up.
	TryLead(ctx context.Context, name string) (release func(), ok bool, err error)
	// UpdateCredential writes c's type, name, public and sealed halves, expiry, RefreshDue, refresh
	// state and UpdatedAt; ENotFound if it does not exist.
	UpdateCredential(ctx context.Context, c *Credential) error

	// CreateOAuthState records a pending connect flow, and drops the organisation's states that
	// expired more than a day ago.
	CreateOAuthState(ctx context.Context, st *OAuthState) error
	// GetOAuthState returns a state without consuming it, or ENotFound.
	GetOAuthState(ctx context.Context, orgID ulid.ULID, id string) (*OAuthState, error)
	// ConsumeOAuthState marks a state used, once: ENotFound if there is no such state, EConflict if
	// it was consumed before. It returns expired states too (with their ExpiresAt) for the caller to
	// refuse, so that an expired state cannot be retried either.
	ConsumeOAuthState(ctx context.Context, orgID ulid.ULID, id string, now time.Time) (*OAuthState, error)

	// CreateConnectSession inserts a connect session; ENotFound if its environment or end user
	// does not exist.
	CreateConnectSession(ctx context.Context, cs *ConnectSession) error
	// GetConnectSession returns the session or ENotFound.
	GetConnectSession(ctx context.Context, orgID, id ulid.ULID) (*ConnectSession, error)
	// ShareConnectSession returns the session like GetConnectSession and holds it against change
	// until the transaction (InTx; refused outside one) ends: a revoke or completion of it waits for
	// the commit, and one in progress is waited for and then seen. A share lock on PostgreSQL (so
	// writes under the same session do not wait for each other), SQLite's write lock otherwise.
	ShareConnectSession(ctx context.Context, orgID, id ulid.ULID) (*ConnectSession, error)
	// FindConnectSession returns the session with the id in any organisation (ids are unique), or
	// ENotFound: the hosted page's address names the session alone.
	FindConnectSession(ctx context.Context, id ulid.ULID) (*ConnectSession, error)
	// GetConnectSessionByTokenHash returns the session whose token hashes to hash, in any
	// organisation, or ENotFound.
	GetConnectSessionByTokenHash(ctx context.Context, hash []byte) (*ConnectSession, error)
	// RevokeConnectSession sets the session's RevokedAt unless it is set, and reports whether this
	// call set it; ENotFound if it does not exist.
	RevokeConnectSession(ctx context.Context, orgID, id ulid.ULID, at time.Time) (bool, error)
	// CompleteConnectSession sets the session's CompletedAt unless it is set, and reports whether
	// this call set it; ENotFound if it does not exist.
	CompleteConnectSession(ctx context.Context, orgID, id ulid.ULID, at time.Time) (bool, error)

	// CountSealed counts the sealed values of every table that holds them, per master key id (the
	// id each sealed value names; "unreadable" for a value in no known format), ordered by table
	// and key id. Across organisations: it describes the deployment's master keys.
	CountSealed(ctx context.Context) ([]SealedCount, error)
	// ListSealed returns up to limit sealed values of one table (a SealedTables entry), of any
	// organisation, whose key id is not exceptKeyID, in key id order and then by record, starting
	// after the record after (nil: from the start). EInvalid for an unknown table.
	ListSealed(ctx context.Context, table, exceptKeyID string, after *SealedRecord, limit int) ([]SealedRecord, error)
	// ReplaceSealed writes sealed in place of r's sealed value if the record still holds exactly
	// r.Sealed, and touches nothing else of the record; it reports whether it wrote. A record that
	// changed or went away since it was listed is left alone (false, nil).
	ReplaceSealed(ctx context.Context, r SealedRecord, sealed []byte) (bool, error)
	// ListMasterKeys returns what was recorded about master keys (rewrap requests, retirements),
	// ordered by key id.
	ListMasterKeys(ctx context.Context) ([]MasterKey, error)
	// RequestRewrap records that every sealed value should be re-sealed under keyID, replacing any
	// earlier request.
	RequestRewrap(ctx context.Context, keyID string, at time.Time) error
	// RetireMasterKey records keyID as retired (and no longer the target of a rewrap); retiring it
	// again keeps the first time.
	RetireMasterKey(ctx context.Context, keyID string, at time.Time) error

	// AppendEvent inserts e; ENotFound if its organisation does not exist; EConflict if its id is taken.
	// Call it with the transaction of the change the event records (the outbox: the event commits
	// with the change or not at all).
	AppendEvent(ctx context.Context, e *Event) error
	// GetEvent returns the event or ENotFound.
	GetEvent(ctx context.Context, orgID, id ulid.ULID) (*Event, error)
	// ListEvents returns a page of the organisation's events matching f, newest first: After pages
	// towards older events (ids below it), Before towards newer ones (ids above it); Next is set when
	// older events follow the page, Prev when newer ones precede it.
	ListEvents(ctx context.Context, orgID ulid.ULID, f EventFilter, page PageRequest) (*Page[Event], error)
	// PruneEvents removes up to limit events, of any organisation, that occurred before the given
	// time, oldest first, with their webhook deliveries and attempts, and reports how many events it
	// removed.
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)

	// CreateWebhookEndpoint inserts e; ENotFound if its organisation does not exist; EConflict if its
	// id is taken; EInvalid without Sealed.
	CreateWebhookEndpoint(ctx context.Context, e *WebhookEndpoint) error
	// GetWebhookEndpoint returns the endpoint or ENotFound.
	GetWebhookEndpoint(ctx context.Context, orgID, id ulid.ULID) (*WebhookEndpoint, error)
	// ListWebhookEndpoints returns a page of the organisation's webhook endpoints, ordered by id.
	ListWebhookEndpoints(ctx context.Context, orgID ulid.ULID, page PageRequest) (*Page[WebhookEndpoint], error)
	// UpdateWebhookEndpoint writes every field of e but its ids and CreatedAt (URL, description, event
	// types, enabled, sealed secrets, PreviousSecretUntil, FailingSince, the disabled fields) and
	// UpdatedAt; ENotFound if it does not exist; EInvalid without Sealed.
	UpdateWebhookEndpoint(ctx context.Context, e *WebhookEndpoint) error
	// DisableWebhookEndpoint disables the endpoint at `at` for reason if it is enabled, and reports
	// whether it did (false: it was disabled already, or does not exist).
	DisableWebhookEndpoint(ctx context.Context, orgID, id ulid.ULID, at time.Time, reason string) (bool, error)
	// DeleteWebhookEndpoint removes the endpoint with its deliveries and their attempts; ENotFound if
	// it does not exist.
	DeleteWebhookEndpoint(ctx context.Context, orgID, id ulid.ULID) error
	// DispatchEvents takes up to limit undispatched events (of any organisation, by id) and, in one
	// transaction, creates a pending delivery due at now (with an id from newID) for each enabled
	// endpoint of the event's organisation that wants its type, and marks the events dispatched. It
	// reports how many events it dispatched. On PostgreSQL, events another transaction is dispatching
	// are skipped, so dispatchers on several replicas never dispatch an event twice.
	DispatchEvents(ctx context.Context, now time.Time, limit int, newID func() ulid.ULID) (int, error)
	// ClaimDeliveries takes up to limit pending deliveries, of enabled endpoints of any live organisation,
	// due at now (soonest first), and moves their NextAttemptAt to leaseUntil, in one transaction,
	// before returning them with that lease: until it runs out no other claim returns them. On
	// PostgreSQL, deliveries another transaction is claiming are skipped.
	ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]WebhookDelivery, error)
	// FinishDelivery records attempt a (its ids filled in from d) and, if d still holds the lease it
	// was claimed with (NextAttemptAt unchanged, still pending), writes out, counting the attempt; it
	// reports whether it did. It also notes the endpoint's health: FailingSince is cleared when out is
	// delivered and set to the attempt's time, if unset, otherwise. EConflict if a's id is taken.
	FinishDelivery(ctx context.Context, d *WebhookDelivery, a *WebhookAttempt, out DeliveryOutcome) (bool, error)
	// ListWebhookAttempts returns a page of the organisation's attempts matching f, ordered by id
	// (oldest first).
	ListWebhookAttempts(ctx context.Context, orgID ulid.ULID, f AttemptFilter, page PageRequest) (*Page[WebhookAttempt], error)
	// RedeliverEvent creates a pending delivery, due at now, of the event to each enabled endpoint that
	// wants its type, and reports how many; ENotFound if the event does not exist.
	RedeliverEvent(ctx context.Context, orgID, eventID ulid.ULID, now time.Time, newID func() ulid.ULID) (int, error)
	// ReplayEvents creates a pending delivery, due at now, to the endpoint of each of the
	// organisation's events that occurred at or after since and that the endpoint wants, oldest first,
	// at most limit; it reports how many and whether more events remained. ENotFound if the endpoint
	// does not exist.
	ReplayEvents(ctx context.Context, orgID, endpointID ulid.ULID, since, now time.Time, limit int, newID func() ulid.ULID) (int, bool, error)

	// CreateSystem inserts s with its auth scheme configs; EConflict if two configs share an id.
	CreateSystem(ctx context.Context, s *System) error
	// GetSystem returns the system with its auth scheme configs, or ENotFound.
	GetSystem(ctx context.Context, orgID, id ulid.ULID) (*System, error)
	// ListSystems returns a page of systems whose name or domain contains search (case-insensitive;
	// empty matches all), with their auth scheme configs.
	ListSystems(ctx context.Context, orgID ulid.ULID, search string, page PageRequest) (*Page[System], error)
	// UpdateSystem writes s's name, domain, template base URL, labels and UpdatedAt (not its configs);
	// ENotFound if it does not exist.
	UpdateSystem(ctx context.Context, s *System) error
	// DeleteSystem removes the system and its configs; EConflict while a template uses it.
	DeleteSystem(ctx context.Context, orgID, id ulid.ULID) error
	// UpsertAuthSchemeConfig adds c to the system (appended last) or replaces the config with the same
	// id (keeping its position), and touches the system's UpdatedAt. It reports whether c was added.
	// ENotFound if the system does not exist.
	UpsertAuthSchemeConfig(ctx context.Context, orgID, systemID ulid.ULID, c AuthSchemeConfig) (created bool, err error)
	// DeleteAuthSchemeConfig removes one config; ENotFound if the system or config does not exist;
	// EConflict while a template names it in AuthSchemeConfigIDs or a connection credential uses it.
	DeleteAuthSchemeConfig(ctx context.Context, orgID, systemID ulid.ULID, id string) error

	// CreateProject inserts p with its environments; EConflict if two environments share a name.
	CreateProject(ctx context.Context, p *Project) error
	// GetProject returns the project with its environments (ordered by id), or ENotFound.
	GetProject(ctx context.Context, orgID, id ulid.ULID) (*Project, error)
	// ListProjects returns all the organisation's projects with their environments, ordered by id.
	ListProjects(ctx context.Context, orgID ulid.ULID) ([]Project, error)
	// UpdateProject writes p's name and UpdatedAt; ENotFound if it does not exist.
	UpdateProject(ctx context.Context, p *Project) error
	// DeleteProject removes the project, its environments, the activations and connect sessions in them and its templates
	// (with their links), and returns the templates it removed with the connections each unlinked and
	// the activations (without their Connections), read once the project is locked against new
	// templates; ENotFound if it does not exist; EConflict while connections created under its
	// templates exist.
	DeleteProject(ctx context.Context, orgID, id ulid.ULID) (*DeletedProject, error)

	// CreateTemplate inserts t; ENotFound if its project, environment (of that project) or system does
	// not exist; EConflict if the environment already has a template of that name.
	CreateTemplate(ctx context.Context, t *ConnectionTemplate) error
	// GetTemplate returns the template or ENotFound.
	GetTemplate(ctx context.Context, orgID, id ulid.ULID) (*ConnectionTemplate, error)
	// ShareTemplate returns the template like GetTemplate and holds it against change until the
	// transaction (InTx; refused outside one) ends, as ShareConnectSession does the session: an
	// UpdateTemplate or DeleteTemplate waits for the commit, and one in progress is waited for and
	// then seen.
	ShareTemplate(ctx context.Context, orgID, id ulid.ULID) (*ConnectionTemplate, error)
	// ListTemplates returns the project's templates ordered by id, only those of environment envID
	// unless it is zero. ENotFound if the project does not exist.
	ListTemplates(ctx context.Context, orgID, projectID, envID ulid.ULID) ([]ConnectionTemplate, error)
	// UpdateTemplate writes t's name, dynamic flag, AuthSchemeConfigIDs and UpdatedAt; ENotFound if it
	// does not exist; EConflict on a duplicate name in its environment.
	UpdateTemplate(ctx context.Context, t *ConnectionTemplate) error
	// DeleteTemplate removes the template and the links of other connections to it, and returns the
	// template with the connections it unlinked; ENotFound if it does not exist in that project;
	// EConflict while connections created under it exist.
	DeleteTemplate(ctx context.Context, orgID, projectID, id ulid.ULID) (*DeletedTemplate, error)

	// CreateEndUser inserts u; EConflict if its ExternalID is taken in the organisation.
	CreateEndUser(ctx context.Context, u *EndUser) error
	// GetEndUser returns the end user or ENotFound.
	GetEndUser(ctx context.Context, orgID, id ulid.ULID) (*EndUser, error)
	// GetEndUserByExternalID returns the end user or ENotFound.
	GetEndUserByExternalID(ctx context.Context, orgID ulid.ULID, externalID string) (*EndUser, error)
	// ListEndUsers returns a page of the end users matching f.
	ListEndUsers(ctx context.Context, orgID ulid.ULID, f EndUserFilter, page PageRequest) (*Page[EndUser], error)
	// DeleteEndUser removes the end user with its connections, their credentials, its activations and connect sessions,
	// and returns what went with it; ENotFound if it does not exist.
	DeleteEndUser(ctx context.Context, orgID, id ulid.ULID) (*DeletedEndUser, error)

	// GetEnvironment returns the environment or ENotFound.
	GetEnvironment(ctx context.Context, orgID, id ulid.ULID) (*Environment, error)

	// EnsureActivation makes sure the end user a.EndUserID is activated in a.EnvironmentID: it
	// inserts a (with a.ID) if the pair has no activation yet and reports created; otherwise it
	// fills a with the existing activation, first writing a.DynamicVariables and UpdatedAt to it when
	// a.DynamicVariables is not nil. Connections are not read. ENotFound if the environment or the end
	// user does not exist. Concurrent calls for one pair create one activation.
	EnsureActivation(ctx context.Context, a *Activation) (created bool, err error)
	// GetActivation returns the activation with its connections, or ENotFound.
	GetActivation(ctx context.Context, orgID, id ulid.ULID) (*Activation, error)
	// ListActivations returns the activations matching f with their connections, ordered by id.
	ListActivations(ctx context.Context, orgID ulid.ULID, f ActivationFilter) ([]Activation, error)
	// GetActivationConnection returns the activation's oldest connection linked to the template, with
	// its credentials; ENotFound if the activation does not exist, the template is not in its
	// environment, or the activation has no connection linked to it.
	GetActivationConnection(ctx context.Context, orgID, activationID, templateID ulid.ULID) (*Connection, error)
	// DeleteActivation removes the activation, deletes the end user's connections created under its
	// environment's templates (with their credentials and links) and unlinks the end user's other
	// connections from its environment's templates; it returns what it removed. ENotFound if it
	// does not exist.
	DeleteActivation(ctx context.Context, orgID, id ulid.ULID) (*DeletedActivation, error)

	// CreateConnection inserts c with its credentials (in order) and links it to its template.
	// ENotFound if the template or end user does not exist; EConflict if the template already has a
	// connection of that name for the same end user (or, for static connections, another static one).
	CreateConnection(ctx context.Context, c *Connection) error
	// GetConnection returns the connection with its credentials in order and its Expired gaps, or
	// ENotFound. (ListConnections and ListEnvironmentConnections fill in both too.)
	GetConnection(ctx context.Context, orgID, id ulid.ULID) (*Connection, error)
	// ListConnections returns a page of connections with their credentials.
	ListConnections(ctx context.Context, orgID ulid.ULID, f ConnectionFilter, page PageRequest) (*Page[Connection], error)
	// ListEnvironmentConnections returns the static connections linked to any template of the project's
	// environment envID (every environment of the project when envID is zero), ordered by id.
	// ENotFound if the project does not exist.
	ListEnvironmentConnections(ctx context.Context, orgID, projectID, envID ulid.ULID) ([]Connection, error)
	// UpdateConnection writes c's name, base URL, UpdatedAt and credentials: credentials whose id is
	// in c are replaced, new ones inserted, the others deleted; the order becomes c's. When it
	// inserts a credential it clears the connection's Expired gaps; either way it sets c.Expired to
	// what remains. ENotFound if it does not exist; EConflict on a duplicate name, or when c names a
	// credential the expiry sweep deleted from the connection (read before the sweep). It returns the
	// ids of the credentials it deleted, read under the connection's lock, so that each deletion is
	// reported once even when the sweep deleted others meanwhile.
	UpdateConnection(ctx context.Context, c *Connection) (removed []ulid.ULID, err error)
	// DeleteConnection removes the connection, its credentials and its links, and returns what it
	// removed; ENotFound if it does not exist.
	DeleteConnection(ctx context.Context, orgID, id ulid.ULID) (*DeletedConnection, error)
	// LinkConnection links the connection to a template; ENotFound if either does not exist;
	// EConflict if already linked.
	LinkConnection(ctx context.Context, orgID, connectionID, templateID ulid.ULID) error
	// UnlinkConnection removes a link; ENotFound if there is no such link.
	UnlinkConnection(ctx context.Context, orgID, connectionID, templateID ulid.ULID) error
}

// A Change is a committed write to something replicas keep in memory: a connection (with its
// credentials), a system (with its auth scheme configs), an API key. A store that can tell every
// replica of its changes (PostgreSQL) delivers them to a ChangeWatcher.
type Change struct {
	Kind           ChangeKind
	OrganisationID ulid.ULID
	// ID is the connection's, the system's or the API key's.
	ID ulid.ULID
}

// ChangeKind says what a Change changed.
type ChangeKind int

const (
	ChangedConnection ChangeKind = iota + 1
	ChangedSystem
	// ChangedAPIKey: an API key was deleted (or changed, but not merely used). ID is the key's.
	ChangedAPIKey
)

// A ChangeWatcher hears of the changes a store's writers commit, this process's own included.
type ChangeWatcher interface {
	// Changed is called after the change committed, in commit order.
	Changed(Change)
	// Watching(true) says that every change committed from now on will be heard; Watching(false)
	// that changes may be missed from now on (the feed's connection was lost), until the next
	// Watching(true). Whatever the watcher kept before a Watching(true) may predate a missed change.
	Watching(bool)
}
