// Hands an OAuth popup's outcome (the body's data-result) to the page that opened it, on this
// server's own origin only, and closes the popup.
(function () {
  var result = {};
  try { result = JSON.parse(document.body.getAttribute("data-result") || "{}"); } catch (e) { result = { ok: false }; }
  result.type = "plugboard:oauth";
  if (window.opener) {
    window.opener.postMessage(result, window.location.origin);
    window.close();
  }
})();
