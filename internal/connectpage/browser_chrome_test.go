package connectpage_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// EnvBrowser switches the browser test on: PLUGBOARD_TEST_BROWSER=1 (with Debian's chromium
// installed and `npm ci --prefix testdata/axe-core` run).
const EnvBrowser = "PLUGBOARD_TEST_BROWSER"

// repoRoot is the repository's root directory (this file is internal/connectpage/...).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// browserPrerequisites skips the test unless the browser suite is switched on and what it needs
// is installed, and returns the chromium binary and axe-core's source.
func browserPrerequisites(t *testing.T) (chromium string, axe []byte) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the end-to-end browser test under -short")
	}
	if os.Getenv(EnvBrowser) != "1" {
		t.Skipf("skipping: the connect page's browser test needs Debian's chromium and axe-core; set %s=1 to run it "+
			"(after `apt-get install chromium` and `npm ci --prefix testdata/axe-core`)", EnvBrowser)
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		t.Skipf("skipping: %s=1 but chromium is not on PATH (apt-get install chromium)", EnvBrowser)
	}
	axePath := filepath.Join(repoRoot(t), "testdata", "axe-core", "node_modules", "axe-core", "axe.min.js")
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Skipf("skipping: %s=1 but axe-core is not installed (run `npm ci --prefix testdata/axe-core`): %v", EnvBrowser, err)
	}
	return chromium, axe
}

// spkiHashes returns the base64 SHA-256 hashes of the public keys of the chain a TLS server at
// addr presents, after verifying it against the given CA: chromium is told to accept exactly
// these keys (--ignore-certificate-errors-spki-list), which trusts the test CA's server and no
// other.
func spkiHashes(t *testing.T, addr string, caPEM []byte) []string {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the test CA is not PEM")
	}
	host, _, _ := strings.Cut(addr, ":")
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: host})
	if err != nil {
		t.Fatalf("TLS to %s with the test CA: %v", addr, err)
	}
	defer conn.Close()
	var out []string
	for _, chain := range conn.ConnectionState().VerifiedChains {
		for _, c := range chain {
			sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			out = append(out, base64.StdEncoding.EncodeToString(sum[:]))
		}
	}
	return out
}

// startBrowser starts headless chromium with a fresh profile and returns the context of its first
// tab. trusted are the SPKI hashes of TLS servers it must accept.
func startBrowser(t *testing.T, chromium string, trusted []string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Windows behind others (the tab under a popup) must keep running at full speed.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-hang-monitor", true),
		chromedp.Flag("disable-ipc-flooding-protection", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 800),
	}
	if len(trusted) > 0 {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(trusted, ",")))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return ctx
}

// newTab opens a tab in the browser of ctx that records Content-Security-Policy violations in
// window.__cspViolations (the recorder is added by the devtools protocol, which the page's CSP
// does not govern).
func newTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, recordCSPViolations()); err != nil {
		t.Fatal(err)
	}
	return tab
}

func recordCSPViolations() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});`})
		return err
	})
}

// cspViolations returns what the page's CSP refused so far.
func cspViolations(t *testing.T, ctx context.Context) []string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// colorScheme emulates prefers-color-scheme (light or dark).
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// axeViolation is one rule axe-core found broken.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// runAxe injects axe-core through the devtools protocol (the page's CSP does not govern it) and
// returns the violations of WCAG 2.x A and AA rules and best practices.
func runAxe(t *testing.T, ctx context.Context, axe []byte) []axeViolation {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](string(axe))); err != nil {
		t.Fatalf("injecting axe-core: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`axe.run(document, {
  runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
  resultTypes: ['violations']
}).then(function (r) { return r.violations; })`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("running axe-core: %v", err)
	}
	var out []axeViolation
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("axe-core's answer %s: %v", raw, err)
	}
	return out
}

// checkAxe fails the test on any serious or critical violation and logs the others.
func checkAxe(t *testing.T, ctx context.Context, axe []byte, what string) {
	t.Helper()
	for _, v := range runAxe(t, ctx, axe) {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, n.HTML)
		}
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("axe-core, %s: %s violation %s (%s) at %s", what, v.Impact, v.ID, v.Help, strings.Join(nodes, " | "))
		} else {
			t.Logf("axe-core, %s: %s finding %s (%s)", what, v.Impact, v.ID, v.Help)
		}
	}
}

// firstView is what the browser measured of a page's first view.
type firstView struct {
	FCP           float64 `json:"fcp"`      // ms from navigation start to first contentful paint
	Rendered      float64 `json:"rendered"` // ms from navigation start to the template list
	TransferBytes int     `json:"bytes"`    // bytes transferred: the document and every resource
	Resources     int     `json:"resources"`
}

func measureFirstView(t *testing.T, ctx context.Context) firstView {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[firstView](`(function () {
  var nav = performance.getEntriesByType('navigation')[0];
  var res = performance.getEntriesByType('resource');
  var bytes = nav ? nav.transferSize : 0;
  res.forEach(function (r) { bytes += r.transferSize; });
  var fcp = performance.getEntriesByName('first-contentful-paint')[0];
  var mark = performance.getEntriesByName('plugboard-rendered')[0];
  return {fcp: fcp ? fcp.startTime : -1, rendered: mark ? mark.startTime : -1, bytes: bytes, resources: res.length};
})()`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screenshot saves a screenshot of the tab at the given width, scheme and state to
// docs/connect-NAME.png.
func screenshot(t *testing.T, ctx context.Context, name string, width, height int64, scheme string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height), colorScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repoRoot(t), "docs", "connect-"+name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote docs/connect-%s.png", name)
}

// popup waits for the tab of ctx (in browser) to open a window (window.open) while trigger runs, and returns
// the context of that window once it shows a URL starting with prefix (and, unless empty, the
// title). Attaching to the window before its first document has committed leaves the devtools
// session stuck, so the attach waits for it.
func popup(t *testing.T, browser, ctx context.Context, trigger chromedp.Action[chromedp.Void], prefix, title string) (context.Context, target.ID) {
	t.Helper()
	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	ch := chromedp.WaitNewTarget(wait, func(info *target.Info) bool { return info.Type == "page" })
	if err := chromedp.Do(ctx, trigger); err != nil {
		t.Fatal(err)
	}
	id, ok := <-ch
	if !ok || id == "" {
		t.Fatal("no window opened")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(infos, func(info *target.Info) bool { return info.TargetID == id })
		if i < 0 {
			t.Fatal("the window closed before it showed anything")
		}
		if strings.HasPrefix(infos[i].URL, prefix) && (title == "" || infos[i].Title == title) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the window shows %s (%q), want a URL starting with %s (%q)", infos[i].URL, infos[i].Title, prefix, title)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Attached from the browser's context: a session made from the opener's tab context stays
	// stuck when the window's page is on the opener's site.
	pctx, cancel := chromedp.NewContext(browser, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	return pctx, id
}

// within runs actions with a deadline, failing the test with what it was doing.
func within(t *testing.T, ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			t.Fatalf("%s: %s still false (err %v); the page says:\n%s", what, expr, err, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// origin returns the origin of a URL.
func origin(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Scheme + "://" + u.Host
}
