package credentials

import (
	"strings"
	"testing"
)

func TestCheckURLUserinfo(t *testing.T) {
	for raw, refused := range map[string]bool{
		"https://user:SECRET@auth.example/token": true,
		"https://user@auth.example/token":        true,
		"//user:SECRET@auth.example/token":       true,
		"https://{shop}:SECRET@x.example/":       true,
		"https://auth.example/token":             false,
		"https://{shop}.myshopify.com/token":     false,
		"https://auth.example/cb?next=a@b":       false,
		"myapp://callback":                       false,
		"":                                       false,
		"%zz":                                    false, // not a URL: left to the field's own checks
	} {
		errs := CheckURLUserinfo("f", raw)
		if (len(errs) > 0) != refused {
			t.Errorf("%q: %v, want refused %v", raw, errs, refused)
		}
		for _, e := range errs {
			if e.Field != "f" || e.Message == "" || strings.Contains(e.Message, "SECRET") {
				t.Errorf("%q: %+v", raw, e)
			}
		}
	}
}
