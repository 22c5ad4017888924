package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/plugboard/plugboard/api"
)

// New returns the generated API client for the Plugboard server at baseURL (such as
// "http://127.0.0.1:8901"), sending apiKey as "Authorization: Bearer <key>" on every request. It
// replaces any Authorization header a request already has. opts are passed to
// [api.NewClientWithResponses] after the key's request editor, so they may add editors of their
// own or set the HTTP client ([api.WithHTTPClient]).
func New(baseURL, apiKey string, opts ...api.ClientOption) (*api.ClientWithResponses, error) {
	if apiKey == "" {
		return nil, errors.New("client: no API key")
	}
	withKey := api.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+apiKey)
		return nil
	})
	return api.NewClientWithResponses(baseURL, append([]api.ClientOption{withKey}, opts...)...)
}
