package httpapi_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
)

// TestProxyAccessLog: the setting decides which proxied calls the request log records; failures
// are logged whenever any call is but for off, other requests always.
func TestProxyAccessLog(t *testing.T) {
	cases := []struct {
		setting string
		// proxied successes logged out of 7 (the first, the (1+N)th... for sample:N), and whether
		// the failing call and the one other API request are logged
		successes       int
		failure, others bool
		level           string
	}{
		{"all", 7, true, true, "INFO"},
		{"", 7, true, true, "INFO"},
		{"sample:3", 3, true, true, "INFO"},
		{"sample:1", 7, true, true, "INFO"},
		{"errors", 0, true, true, "INFO"},
		{"debug", 7, true, true, "DEBUG"},
		{"off", 0, false, true, ""},
	}
	for _, c := range cases {
		t.Run(c.setting, func(t *testing.T) {
			setting, err := httpapi.ParseProxyAccessLog(c.setting)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarnessWith(t, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				Resolver: outbound.NoDNSResolver(), RequestTimeout: 3 * time.Second},
				func(cfg *httpapi.Config) { cfg.ProxyAccessLog = setting })
			up := newUpstream(t)
			up.answer = func(r *http.Request, n int) (int, string) {
				if strings.HasSuffix(r.URL.Path, "/missing") {
					return 404, "no such thing"
				}
				return 200, "ok"
			}
			conn := h.apiKeyConnection(up.srv.URL, "SECRET-log-key")
			before := len(h.logs.String())
			for range 7 {
				h.must(200, h.do("GET", "/connections/"+conn+"/proxy/fine", nil))
			}
			h.must(404, h.do("GET", "/connections/"+conn+"/proxy/missing", nil))
			h.must(200, h.do("GET", "/connections/"+conn, nil))

			lines := strings.Split(h.logs.String()[before:], "\n")
			count := func(part string) (n int) {
				for _, l := range lines {
					if strings.Contains(l, "msg=request") && strings.Contains(l, part) {
						n++
						if c.level != "" && strings.Contains(part, "/proxy/") && !strings.Contains(l, "level="+c.level) {
							t.Errorf("logged at another level than %s: %s", c.level, l)
						}
					}
				}
				return n
			}
			if got := count("/proxy/fine"); got != c.successes {
				t.Errorf("%d successful proxied calls logged, want %d", got, c.successes)
			}
			if got := count("/proxy/missing") == 1; got != c.failure {
				t.Errorf("the failed proxied call logged: %v, want %v", got, c.failure)
			}
			if got := count("path=/o/"+h.org.String()+"/connections/"+conn+" ") == 1; got != c.others {
				t.Errorf("the other request logged: %v, want %v", got, c.others)
			}
		})
	}
}

func TestParseProxyAccessLog(t *testing.T) {
	for _, v := range []string{"all", "errors", "off", "debug", "sample:10", "sample:1"} {
		p, err := httpapi.ParseProxyAccessLog(v)
		if err != nil || p.String() != v {
			t.Errorf("%q: %v, %v", v, p, err)
		}
	}
	for _, v := range []string{"some", "sample:", "sample:0", "sample:-1", "sample:x"} {
		if _, err := httpapi.ParseProxyAccessLog(v); err == nil || !strings.Contains(err.Error(), "sample:N") {
			t.Errorf("%q: error %v, want one listing the values", v, err)
		}
	}
}
