package httpapi

import (
	"context"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

// OrganisationExport is everything an organisation holds but its secrets, each record as the API
// shows it: systems with their auth scheme configs' public halves, projects with their
// environments, connection templates, end users, and connections with every secret field
// present and empty. API keys (only their hashes are stored) and OAuth flows in progress are left
// out.
type OrganisationExport struct {
	Organisation        ExportedOrganisation `json:"organisation"`
	Systems             []api.System         `json:"systems"`
	Projects            []api.Project        `json:"projects"`
	ConnectionTemplates []ExportedTemplate   `json:"connectionTemplates"`
	EndUsers            []api.EndUser        `json:"endUsers"`
	Connections         []api.Connection     `json:"connections"`
}

// ExportedOrganisation is the organisation's own record; DeletedAt is set once it is deleted.
type ExportedOrganisation struct {
	ID        ulid.ULID  `json:"id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"createdAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty"`
}

// ExportedTemplate is a connection template with the project it belongs to, which the API's
// template does not name.
type ExportedTemplate struct {
	ProjectID ulid.ULID              `json:"projectId"`
	Template  api.ConnectionTemplate `json:"template"`
}

// Export reads an organisation, deleted or live, in one store transaction and renders
// it with the API's own conversions, so no secret can be in it: the store holds secrets only
// sealed, and these conversions never open them.
func Export(ctx context.Context, store plugboard.Store, orgID ulid.ULID) (*OrganisationExport, error) {
	out := &OrganisationExport{Systems: []api.System{}, Projects: []api.Project{}, ConnectionTemplates: []ExportedTemplate{},
		EndUsers: []api.EndUser{}, Connections: []api.Connection{}}
	err := store.InTx(ctx, func(tx plugboard.Store) error {
		org, err := tx.GetOrganisation(ctx, orgID)
		if err != nil {
			return err
		}
		out.Organisation = ExportedOrganisation{ID: org.ID, Name: org.Name, CreatedAt: org.CreatedAt, DeletedAt: org.DeletedAt}

		systems := map[ulid.ULID]*plugboard.System{}
		err = eachPage(func(p plugboard.PageRequest) (*plugboard.Page[plugboard.System], error) {
			return tx.ListSystems(ctx, orgID, "", p)
		}, func(s plugboard.System) error {
			systems[s.ID] = &s
			a, err := toAPISystem(&s)
			out.Systems = append(out.Systems, a)
			return err
		})
		if err != nil {
			return err
		}
		projects, err := tx.ListProjects(ctx, orgID)
		if err != nil {
			return err
		}
		for _, p := range projects {
			out.Projects = append(out.Projects, toAPIProject(&p))
			templates, err := tx.ListTemplates(ctx, orgID, p.ID, ulid.ULID{})
			if err != nil {
				return err
			}
			for _, t := range templates {
				sys, ok := systems[t.SystemID]
				if !ok {
					if sys, err = tx.GetSystem(ctx, orgID, t.SystemID); err != nil {
						return err
					}
				}
				a, err := toAPITemplate(&t, sys)
				if err != nil {
					return err
				}
				out.ConnectionTemplates = append(out.ConnectionTemplates, ExportedTemplate{ProjectID: p.ID, Template: a})
			}
		}
		err = eachPage(func(p plugboard.PageRequest) (*plugboard.Page[plugboard.EndUser], error) {
			return tx.ListEndUsers(ctx, orgID, plugboard.EndUserFilter{}, p)
		}, func(u plugboard.EndUser) error {
			out.EndUsers = append(out.EndUsers, toAPIEndUser(&u))
			return nil
		})
		if err != nil {
			return err
		}
		return eachPage(func(p plugboard.PageRequest) (*plugboard.Page[plugboard.Connection], error) {
			return tx.ListConnections(ctx, orgID, plugboard.ConnectionFilter{}, p)
		}, func(c plugboard.Connection) error {
			sys, ok := systems[c.SystemID]
			if !ok {
				var err error
				if sys, err = tx.GetSystem(ctx, orgID, c.SystemID); err != nil {
					return err
				}
			}
			a, err := renderConnection(&c, sys, time.Now())
			out.Connections = append(out.Connections, a)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachPage calls fn on every item of a list, reading it a page at a time.
func eachPage[T any](list func(plugboard.PageRequest) (*plugboard.Page[T], error), fn func(T) error) error {
	req := plugboard.PageRequest{First: plugboard.MaxPageSize}
	for {
		page, err := list(req)
		if err != nil {
			return err
		}
		for _, item := range page.Items {
			if err := fn(item); err != nil {
				return err
			}
		}
		if page.Next == (ulid.ULID{}) {
			return nil
		}
		req.After = page.Next
	}
}
