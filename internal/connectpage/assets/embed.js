// Plugboard connect: the embedding snippet. Load it from your Plugboard's public URL
//   <script src="https://plugboard.example.com/connect/embed.js"></script>
// and open the connect session URL your backend created:
//   Plugboard.connect({url, mode: 'popup' | 'iframe' | 'redirect', container, onConnected,
//                      onDisconnected, onClosed})
// Messages are accepted only from the connect page's own origin (and, for popup and iframe, only
// from that very window).
(function () {
  'use strict';
  var root = window.Plugboard = window.Plugboard || {};

  root.connect = function (opts) {
    if (!opts || !opts.url) throw new Error('Plugboard.connect: url is required');
    var url = new URL(opts.url, window.location.href);
    var origin = url.origin;
    var mode = opts.mode || 'popup';
    var win = null;
    var frame = null;
    var finished = false;

    if (mode === 'redirect') {
      window.location.assign(url.href);
      return { close: function () {} };
    }

    function call(fn, arg) {
      if (typeof fn === 'function') {
        try { fn(arg); } catch (e) { window.setTimeout(function () { throw e; }); }
      }
    }

    function cleanup() {
      if (finished) return;
      finished = true;
      window.removeEventListener('message', onMessage);
      window.clearInterval(poll);
      if (frame && frame.parentNode && opts.keepFrame !== true) frame.parentNode.removeChild(frame);
      if (win && mode === 'popup' && !win.closed) win.close();
    }

    function onMessage(ev) {
      if (ev.origin !== origin || !win || ev.source !== win) return;
      var d = ev.data;
      if (!d || typeof d !== 'object' || typeof d.type !== 'string') return;
      if (d.type === 'plugboard:connected') {
        call(opts.onConnected, { connectionId: d.connectionId, templateId: d.templateId });
      } else if (d.type === 'plugboard:disconnected') {
        call(opts.onDisconnected, { connectionId: d.connectionId, templateId: d.templateId });
      } else if (d.type === 'plugboard:closed') {
        cleanup();
        call(opts.onClosed, { reason: 'done' });
      }
    }
    window.addEventListener('message', onMessage);

    var poll = 0;
    if (mode === 'iframe') {
      var container = opts.container;
      if (typeof container === 'string') container = document.querySelector(container);
      if (!container) container = document.body;
      frame = document.createElement('iframe');
      frame.src = url.href;
      frame.title = opts.title || 'Connect your accounts';
      frame.setAttribute('referrerpolicy', 'no-referrer');
      frame.style.border = '0';
      frame.style.width = '100%';
      frame.style.minHeight = (opts.height || 640) + 'px';
      container.appendChild(frame);
      win = frame.contentWindow;
    } else if (mode === 'popup') {
      var w = opts.width || 560;
      var h = opts.height || 720;
      var left = Math.max(0, Math.round((window.screenX || 0) + ((window.outerWidth || w) - w) / 2));
      var top = Math.max(0, Math.round((window.screenY || 0) + ((window.outerHeight || h) - h) / 2));
      win = window.open(url.href, 'plugboard-connect', 'popup,width=' + w + ',height=' + h + ',left=' + left + ',top=' + top);
      if (!win) {
        window.removeEventListener('message', onMessage);
        throw new Error('Plugboard.connect: the popup was blocked; call connect from a click handler');
      }
      poll = window.setInterval(function () {
        if (win.closed) {
          cleanup();
          call(opts.onClosed, { reason: 'window_closed' });
        }
      }, 500);
    } else {
      window.removeEventListener('message', onMessage);
      throw new Error('Plugboard.connect: mode must be popup, iframe or redirect');
    }

    return {
      window: win,
      frame: frame,
      close: function () { cleanup(); }
    };
  };
}());
