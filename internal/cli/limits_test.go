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

// TestServeRefusesBadLimits: a malformed limit variable stops serve before it opens anything,
// with an error naming the variable.
func TestServeRefusesBadLimits(t *testing.T) {
	for name, value := range map[string]string{
		cli.EnvRateLimitPerKey:        "fast",
		cli.EnvRateLimitPerConnection: "10,0",
		cli.EnvForceRefreshInterval:   "-5s",
	} {
		dir := t.TempDir()
		var stdout, stderr bytes.Buffer
		env := map[string]string{name: value, "PLUGBOARD_ADDR": "127.0.0.1:0"}
		code := cli.Run(context.Background(), []string{"serve", "--data-dir", dir}, &stdout, &stderr,
			func(k string) string { return env[k] })
		if code == 0 || !strings.Contains(stderr.String(), name) {
			t.Errorf("%s=%q: exit %d, %q", name, value, code, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dir, cli.DatabaseFileName)); err == nil {
			t.Errorf("%s=%q: serve opened the store first", name, value)
		}
	}
}
