package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/cli"
)

// TestServeRefusesBadProxyAccessLog: an unknown PLUGBOARD_PROXY_ACCESS_LOG (or flag) stops serve
// before it opens anything, naming the variable and the values it takes.
func TestServeRefusesBadProxyAccessLog(t *testing.T) {
	for name, args := range map[string][]string{
		"env":  nil,
		"flag": {"--proxy-access-log", "sample:0"},
	} {
		dir := t.TempDir()
		var stdout, stderr bytes.Buffer
		env := map[string]string{cli.EnvProxyAccessLog: "sometimes", "PLUGBOARD_ADDR": "127.0.0.1:0"}
		code := cli.Run(context.Background(), append([]string{"serve", "--data-dir", dir}, args...), &stdout, &stderr,
			func(k string) string { return env[k] })
		if code == 0 || !strings.Contains(stderr.String(), cli.EnvProxyAccessLog) || !strings.Contains(stderr.String(), "sample:N") {
			t.Errorf("%s: exit %d, %q", name, code, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dir, cli.DatabaseFileName)); err == nil {
			t.Errorf("%s: serve opened the store first", name)
		}
	}
}
