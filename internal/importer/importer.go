// Package importer turns an OpenAPI 2.0, 3.0 or 3.1 document, or a Postman collection v2.0/v2.1,
// into a system: its base URL and one auth scheme config per security scheme, with warnings for
// what it could not map. It is pure: it reads no store and makes no HTTP call of its own (OpenID
// Connect discovery goes through the Fetcher its caller passes). docs/catalogue.md has the
// mapping table; the catalogue generator runs every document of its source through Import.
package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
)

// Warning codes. Each warning names the part of the document it is about by a JSON pointer.
const (
	// WNoSecuritySchemes: the document declares no security scheme; the system gets a none config.
	WNoSecuritySchemes = "no_security_schemes"
	// WImplicitFlow: an OAuth 2.0 implicit flow, which hands tokens to browsers and is not supported.
	WImplicitFlow = "implicit_flow"
	// WAWSSigV4: a scheme signed with AWS Signature Version 4, which Plugboard does not apply.
	WAWSSigV4 = "aws_sigv4"
	// WUnsupportedScheme: a scheme type (or http scheme, or Postman auth type) with no mapping.
	WUnsupportedScheme = "unsupported_scheme"
	// WOpenIDDiscovery: an OpenID Connect discovery document could not be fetched or read.
	WOpenIDDiscovery = "openid_discovery_failed"
	// WNoServer: no absolute base URL could be found; templateBaseUrl is left empty.
	WNoServer = "no_server"
	// WServerVariable: a server variable was resolved to its default value.
	WServerVariable = "server_variable"
	// WInvalidScheme: a scheme maps to a config that would not be valid (a missing token URL, a
	// relative URL without a server to resolve it against); it is left out.
	WInvalidScheme = "invalid_scheme"
	// WOAuth1Consumer: an OAuth 1.0a auth, left out because its config needs the consumer key
	// and secret, which the document does not give.
	WOAuth1Consumer = "oauth1_needs_consumer"
	// WBearerQuery: a Postman jwt auth that puts its token elsewhere than the Authorization header.
	WJWTPlacement = "jwt_placement"
)

// Warning is something of the document the import could not map, or mapped with a choice.
type Warning struct {
	Code    string `json:"code"`
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// Fetcher fetches a URL (an OpenID Connect discovery document). In production it is the guarded
// outbound client; nil means discovery is not attempted (and warned about).
type Fetcher func(ctx context.Context, url string) ([]byte, error)

// Options adjust an import.
type Options struct {
	// Name overrides the system's name (by default the document's title).
	Name string
	// Server picks one of the document's servers (OpenAPI 3), by index; 0 by default.
	Server int
	// Schemes, when not empty, keeps only the security schemes (or Postman auth ids) named.
	Schemes []string
	// DocumentURL is where the document was fetched from, if it was: relative server URLs are
	// resolved against it.
	DocumentURL string
	// Fetch fetches OpenID Connect discovery documents.
	Fetch Fetcher
}

// Format says what kind of document was imported.
type Format string

// The formats Import reads.
const (
	FormatSwagger2  Format = "openapi-2.0"
	FormatOpenAPI3  Format = "openapi-3.0"
	FormatOpenAPI31 Format = "openapi-3.1"
	FormatPostman   Format = "postman"
)

// Variable is a server variable resolved to its default.
type Variable struct {
	Name    string   `json:"name"`
	Default string   `json:"default"`
	Enum    []string `json:"enum,omitempty"`
}

// Result is an imported system, ready for CreateSystem, with what the import noticed.
type Result struct {
	Format Format
	// System holds the name, domain, templateBaseUrl and configs; every config passes
	// credentials.ValidateAuthSchemeConfig.
	System api.SystemCreate
	// Variables lists the server variables resolved to their defaults (also in Warnings).
	Variables []Variable
	Warnings  []Warning
}

// MaxDocumentBytes is the largest document Import reads (the API's body limit for the import).
const MaxDocumentBytes = 50 << 20

// Import reads doc (JSON or YAML) and maps it. Errors are *plugboard.Error with code
// invalid_argument naming the field "body" (an unreadable or unknown document) or "schemes"; a
// document that parses always imports, with warnings for what could not be mapped. It never
// panics, whatever doc holds.
func Import(ctx context.Context, doc []byte, opts Options) (*Result, error) {
	if len(doc) > MaxDocumentBytes {
		return nil, &plugboard.Error{Code: plugboard.ETooLarge, Message: fmt.Sprintf("the document is larger than %d bytes", MaxDocumentBytes)}
	}
	top, err := decodeTop(doc)
	if err != nil {
		return nil, bad(err.Error())
	}
	im := &importer{opts: opts, ctx: ctx, ids: map[string]bool{}, keep: map[string]bool{}}
	for _, s := range opts.Schemes {
		im.keep[s] = true
	}
	switch {
	case top.OpenAPI != "":
		switch {
		case strings.HasPrefix(top.OpenAPI, "3.0"):
			im.res.Format = FormatOpenAPI3
		case strings.HasPrefix(top.OpenAPI, "3.1"):
			im.res.Format = FormatOpenAPI31
		default:
			return nil, bad(fmt.Sprintf("OpenAPI version %q is not supported (2.0, 3.0 and 3.1 are)", top.OpenAPI))
		}
		err = im.openapi3(top)
	case top.Swagger != "":
		if top.Swagger != "2.0" {
			return nil, bad(fmt.Sprintf("Swagger version %q is not supported (2.0 is)", top.Swagger))
		}
		im.res.Format = FormatSwagger2
		err = im.swagger2(top)
	case top.Info.Schema != "" || top.Info.PostmanID != "":
		if !strings.Contains(top.Info.Schema, "/v2.0") && !strings.Contains(top.Info.Schema, "/v2.1") {
			return nil, bad(fmt.Sprintf("Postman collection schema %q is not supported (v2.0 and v2.1 are)", top.Info.Schema))
		}
		im.res.Format = FormatPostman
		err = im.postman(top)
	default:
		return nil, bad("the document is neither an OpenAPI document (no openapi or swagger field) nor a Postman collection (no info.schema)")
	}
	if err != nil {
		return nil, err
	}
	if len(opts.Schemes) > 0 {
		for _, s := range opts.Schemes {
			if !im.seen[s] {
				return nil, plugboard.Invalid("invalid import options", plugboard.FieldError{Field: "schemes",
					Message: fmt.Sprintf("names %q, which is not a security scheme of the document", s)})
			}
		}
	}
	im.finish(top)
	return &im.res, nil
}

func bad(msg string) *plugboard.Error {
	return plugboard.Invalid("the document cannot be imported", plugboard.FieldError{Field: "body", Message: msg})
}

// top holds the parts of a document the import reads; the rest (paths, schemas) is never decoded
// into structures, so a 5 MB document costs one scan.
type top struct {
	OpenAPI string `json:"openapi"`
	Swagger string `json:"swagger"`
	Info    struct {
		Title     string `json:"title"`
		Name      string `json:"name"`
		Schema    string `json:"schema"`
		PostmanID string `json:"_postman_id"`
	} `json:"info"`
	Servers    json.RawMessage `json:"servers"`
	Components struct {
		SecuritySchemes json.RawMessage `json:"securitySchemes"`
	} `json:"components"`
	SecurityDefinitions json.RawMessage `json:"securityDefinitions"`
	Host                string          `json:"host"`
	BasePath            string          `json:"basePath"`
	Schemes             []string        `json:"schemes"`
	// Postman
	Auth     json.RawMessage `json:"auth"`
	Item     json.RawMessage `json:"item"`
	Variable json.RawMessage `json:"variable"`
}

func decodeTop(doc []byte) (*top, error) {
	var t top
	trimmed := bytes.TrimLeft(doc, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("is empty")
	}
	if trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &t); err != nil {
			return nil, fmt.Errorf("is not a valid JSON document: %s", jsonProblem(err))
		}
		return &t, nil
	}
	// Only the members the import reads are decoded into values; paths and schemas stay nodes.
	var y struct {
		OpenAPI             yaml.Node `yaml:"openapi"`
		Swagger             yaml.Node `yaml:"swagger"`
		Info                any       `yaml:"info"`
		Servers             any       `yaml:"servers"`
		Components          yaml.Node `yaml:"components"`
		SecurityDefinitions any       `yaml:"securityDefinitions"`
		Host                any       `yaml:"host"`
		BasePath            any       `yaml:"basePath"`
		Schemes             any       `yaml:"schemes"`
	}
	var probe yaml.Node
	if err := yaml.Unmarshal(doc, &probe); err != nil {
		return nil, fmt.Errorf("is neither JSON nor valid YAML: %s", yamlProblem(err))
	}
	if len(probe.Content) != 1 || probe.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("is not a JSON or YAML object")
	}
	if err := probe.Content[0].Decode(&y); err != nil {
		return nil, fmt.Errorf("has a top-level member of the wrong type: %s", yamlProblem(err))
	}
	small := map[string]any{"info": jsonable(y.Info, 0), "servers": jsonable(y.Servers, 0),
		"securityDefinitions": jsonable(y.SecurityDefinitions, 0), "host": jsonable(y.Host, 0),
		"basePath": jsonable(y.BasePath, 0), "schemes": jsonable(y.Schemes, 0)}
	// A version written as a YAML number (swagger: 2.0) is read as written.
	if y.OpenAPI.Kind == yaml.ScalarNode {
		small["openapi"] = y.OpenAPI.Value
	}
	if y.Swagger.Kind == yaml.ScalarNode {
		small["swagger"] = y.Swagger.Value
	}
	if y.Components.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(y.Components.Content); i += 2 {
			if y.Components.Content[i].Value == "securitySchemes" {
				var ss any
				if err := y.Components.Content[i+1].Decode(&ss); err != nil {
					return nil, fmt.Errorf("components.securitySchemes: %s", yamlProblem(err))
				}
				small["components"] = map[string]any{"securitySchemes": jsonable(ss, 0)}
			}
		}
	}
	b, err := json.Marshal(small)
	if err != nil {
		return nil, fmt.Errorf("holds YAML values JSON cannot represent")
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("has a top-level member of the wrong type: %s", jsonProblem(err))
	}
	return &t, nil
}

// jsonable turns what the YAML decoder returns into values encoding/json accepts: maps with
// keys of any type become maps keyed by their string form.
func jsonable(v any, depth int) any {
	if depth > 200 {
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e, depth+1)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e, depth+1)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e, depth+1)
		}
		return x
	case float64:
		if x != x || x > 1e308 || x < -1e308 { // NaN and infinities have no JSON form
			return nil
		}
	}
	return v
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case asErr(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case asErr(err, &te):
		return fmt.Sprintf("%s must not be a JSON %s", strings.TrimPrefix(te.Field, "."), te.Value)
	}
	return "malformed"
}

func yamlProblem(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return strings.TrimPrefix(msg, "yaml: ")
}

type importer struct {
	ctx  context.Context
	opts Options
	res  Result
	ids  map[string]bool
	keep map[string]bool
	seen map[string]bool
	// base is the resolved base URL, against which relative OAuth URLs are resolved.
	base *url.URL
}

func (im *importer) warn(code, pointer, format string, args ...any) {
	im.res.Warnings = append(im.res.Warnings, Warning{Code: code, Pointer: pointer, Message: fmt.Sprintf(format, args...)})
}

// wanted records a scheme name and says whether the options keep it.
func (im *importer) wanted(name string) bool {
	if im.seen == nil {
		im.seen = map[string]bool{}
	}
	im.seen[name] = true
	return len(im.keep) == 0 || im.keep[name]
}

// add validates a config and appends it under a unique id made from name; an invalid config is a
// warning instead.
func (im *importer) add(name, pointer string, cfg api.AuthSchemeConfig) {
	id := im.uniqueID(name, string(cfg.Type))
	setConfigID(&cfg, id)
	if errs := credentials.ValidateAuthSchemeConfig(cfg, ""); len(errs) > 0 {
		delete(im.ids, id)
		var parts []string
		for _, e := range errs {
			parts = append(parts, e.Field+" "+e.Message)
		}
		im.warn(WInvalidScheme, pointer, "left out: its %s config would be invalid (%s)", cfg.Type, strings.Join(parts, "; "))
		return
	}
	im.res.System.AuthSchemeConfigs = append(im.res.System.AuthSchemeConfigs, cfg)
}

func (im *importer) finish(t *top) {
	s := &im.res.System
	if im.opts.Name != "" {
		s.Name = im.opts.Name
	}
	if s.Name == "" {
		s.Name = "Imported API"
	}
	s.Name = clip(strings.TrimSpace(s.Name), 200)
	if s.TemplateBaseUrl != "" {
		if u, err := url.Parse(s.TemplateBaseUrl); err == nil {
			s.Domain = u.Hostname()
		}
	}
	if len(s.AuthSchemeConfigs) == 0 {
		if len(im.res.Warnings) == 0 || !im.hasSchemes() {
			im.warn(WNoSecuritySchemes, im.schemesPointer(), "the document declares no usable security scheme; the system gets a none config")
		} else {
			im.warn(WNoSecuritySchemes, im.schemesPointer(), "no security scheme of the document could be mapped; the system gets a none config")
		}
		cfg := api.AuthSchemeConfig{Type: api.AuthSchemeTypeNone, None: &api.AuthSchemeConfigNone{Description: "No authentication"}}
		im.add("none", im.schemesPointer(), cfg)
	}
	if s.AuthSchemeConfigs == nil {
		s.AuthSchemeConfigs = []api.AuthSchemeConfig{}
	}
}

func (im *importer) hasSchemes() bool { return len(im.seen) > 0 }

func (im *importer) schemesPointer() string {
	switch im.res.Format {
	case FormatSwagger2:
		return "/securityDefinitions"
	case FormatPostman:
		return "/auth"
	}
	return "/components/securitySchemes"
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// resolveURL resolves a URL given in the document (a token URL) against the base URL: absolute
// URLs stay, relative ones need a base.
func (im *importer) resolveURL(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw, false
	}
	if u.IsAbs() {
		return raw, true
	}
	if im.base == nil {
		return raw, false
	}
	return im.base.ResolveReference(u).String(), true
}
