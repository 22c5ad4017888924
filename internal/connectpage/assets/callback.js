// Plugboard OAuth result page: reports the outcome carried in <body data-result='{...}'> to the
// connect page that opened this window (same origin only), then closes the window.
(function () {
  'use strict';
  var result = { ok: false, code: 'internal', message: 'Signing in did not finish.' };
  try {
    var parsed = JSON.parse(document.body.getAttribute('data-result') || '');
    if (parsed && typeof parsed === 'object') result = parsed;
  } catch (e) { /* keep the default */ }

  var text = result.ok ? 'Signed in. You can close this window.' : (result.message || 'Signing in did not finish.');
  var out = document.getElementById('message') || document.querySelector('body > p');
  if (!out) {
    out = document.createElement('p');
    out.id = 'message';
    document.body.appendChild(out);
  }
  out.setAttribute('role', result.ok ? 'status' : 'alert');
  out.textContent = text;

  var opener = window.opener;
  if (!opener || opener === window) return;
  var msg = { type: 'plugboard:oauth', ok: !!result.ok };
  if (result.connectionId) msg.connectionId = String(result.connectionId);
  if (result.code) msg.code = String(result.code);
  if (result.message) msg.message = String(result.message);
  try {
    // The connect page is served from this same origin; nobody else may read the outcome.
    opener.postMessage(msg, window.location.origin);
  } catch (e) {
    return;
  }
  window.setTimeout(function () { window.close(); }, 50);
}());
