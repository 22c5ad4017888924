package connectpage_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"testing"
)

// embeddingApp serves an app on its own origin that embeds the connect page with embed.js: open
// /app.html#<session url> and it shows the page in an iframe (or, with ?mode=popup, a popup on a
// click of #open). It keeps what reaches it in window.events (from embed.js's callbacks) and
// window.messages (every message event, with its origin).
func embeddingApp(t *testing.T, plugboardURL string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example app</title>
<script src="%s/connect/embed.js"></script>
<script src="/app.js" defer></script></head>
<body><main><h1>Example app</h1><button id="open" type="button">Connect accounts</button><div id="frame"></div></main></body></html>`,
			html.EscapeString(plugboardURL))
	})
	// The baseline of the first-render figure: a page with one heading and nothing to load.
	mux.HandleFunc("GET /blank.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Blank</title></head><body><h1>Connect your accounts</h1></body></html>`)
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		fmt.Fprint(w, `window.events = [];
window.messages = [];
window.addEventListener('message', function (e) { window.messages.push({origin: e.origin, data: e.data}); });
var url = decodeURIComponent(location.hash.slice(1));
var mode = new URLSearchParams(location.search).get('mode') || 'iframe';
function start() {
  window.handle = Plugboard.connect({url: url, mode: mode, container: '#frame',
    onConnected: function (m) { window.events.push({type: 'connected', connectionId: m.connectionId, templateId: m.templateId}); },
    onDisconnected: function (m) { window.events.push({type: 'disconnected', connectionId: m.connectionId, templateId: m.templateId}); },
    onClosed: function (m) { window.events.push({type: 'closed', reason: m.reason}); }});
}
if (mode === 'iframe') start(); else document.getElementById('open').addEventListener('click', start);
`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
