package importer

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/plugboard/plugboard/api"
)

// maxIDLen is the longest config id the API accepts (credentials.validateConfigID).
const maxIDLen = 100

// ConfigID makes a config id from a scheme name, the rule docs/catalogue.md states: every run of
// characters an id may not hold ('/', whitespace, control characters) becomes one '-', leading and
// trailing '-' go, the result is cut to 100 characters, and an empty result becomes fallback (the
// config's type).
func ConfigID(name, fallback string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		if r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			dash = true
			continue
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteRune(r)
	}
	id := strings.Trim(b.String(), "-")
	if id == "" {
		id = fallback
	}
	return clip(id, maxIDLen)
}

// uniqueID is ConfigID, then "-2", "-3", ... for a name already taken in this import (the suffix
// replaces the end of a 100-character id).
func (im *importer) uniqueID(name, fallback string) string {
	id := ConfigID(name, fallback)
	for n := 2; im.ids[id]; n++ {
		suffix := fmt.Sprintf("-%d", n)
		id = clip(ConfigID(name, fallback), maxIDLen-len(suffix)) + suffix
	}
	im.ids[id] = true
	return id
}

func setConfigID(cfg *api.AuthSchemeConfig, id string) {
	switch {
	case cfg.ApiKey != nil:
		cfg.ApiKey.ID = id
	case cfg.BasicAuth != nil:
		cfg.BasicAuth.ID = id
	case cfg.Oauth2 != nil:
		cfg.Oauth2.ID = id
	case cfg.Oauth1 != nil:
		cfg.Oauth1.ID = id
	case cfg.Certificate != nil:
		cfg.Certificate.ID = id
	case cfg.JwtBearer != nil:
		cfg.JwtBearer.ID = id
	case cfg.None != nil:
		cfg.None.ID = id
	}
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
