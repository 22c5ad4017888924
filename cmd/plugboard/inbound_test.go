package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestInboundWebhookSetup runs the setup block of docs/events.md, as written, against a built
// server started with PLUGBOARD_INBOUND_MAX_BODY_BYTES, then delivers to the URL it prints as
// GitHub does, signed with the openssl command line: a good delivery is stored, a tampered one is
// 401, one over the configured limit 413, and the secret shows nowhere.
func TestInboundWebhookSetup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is not installed")
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- inbound-setup:start -->\n```sh\n(.*?)```\n<!-- inbound-setup:end -->").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/events.md has no inbound-setup block")
	}
	bin := buildBinary(t)
	env := append(storeEnv(t, bin), "PLUGBOARD_INBOUND_MAX_BODY_BYTES=4096")
	srv := startServer(t, bin, filepath.Join(t.TempDir(), "data"), env...)
	const secret = "SECRET-docs-github-hook-51c0"

	script := `
first() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -1; }
api() { curl -sS -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@"; }
PROJECT_JSON=$(api -X POST "$PB/o/$ORG/projects" -d '{"name":"Hooks"}')
ENV=$(echo "$PROJECT_JSON" | sed 's/.*"environments":\[{[^]]*"id":"\([^"]*\)".*/\1/')
PROJECT=$(echo "$PROJECT_JSON" | sed 's/.*\],"id":"\([^"]*\)".*/\1/')
URL=$(
` + string(m[1]) + `
)
echo "url: $URL"
deliver() { # body, signed body
  sig=$(printf '%s' "$2" | openssl dgst -sha256 -hmac "$GITHUB_WEBHOOK_SECRET" -r | cut -d' ' -f1)
  printf '%s' "$1" | curl -sS -o /dev/null -w '%{http_code}\n' -X POST "$URL" -H "X-Hub-Signature-256: sha256=$sig" \
    -H 'X-GitHub-Event: push' -H 'Content-Type: application/json' --data-binary @-
}
echo "good: $(deliver '{"ref":"refs/heads/main"}' '{"ref":"refs/heads/main"}')"
echo "tampered: $(deliver '{"ref":"refs/heads/evil"}' '{"ref":"refs/heads/main"}')"
big=$(head -c 5000 /dev/zero | tr '\0' a)
echo "big: $(deliver "$big" "$big")"
api "$PB/o/$ORG/events?type=inbound.received"; echo
`
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "PB="+srv.url, "ORG="+srv.org, "KEY="+srv.key, "GITHUB_WEBHOOK_SECRET="+secret)
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("setup failed: %v\n%s", err, text)
	}
	for _, want := range []string{"url: " + srv.url + "/hooks/" + srv.org + "/", "good: 202\n", "tampered: 401\n", "big: 413\n",
		`"totalCount":1`, `"X-Github-Event":["push"]`, `"body":"{\"ref\":\"refs/heads/main\"}"`} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, secret) || strings.Contains(srv.stderr.String(), secret) || strings.Contains(srv.stdout.String(), secret) {
		t.Error("the webhook secret appears in the output or the server's log")
	}
	srv.stop(t)
}
