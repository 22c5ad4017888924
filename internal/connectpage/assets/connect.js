// Plugboard hosted connect page. Plain ES2017, no build step, no dependencies.
//
// The session token arrives in the URL fragment (#token=...), is removed from the address bar at
// once and kept in memory only; every API call sends it as a Bearer token. No cookies are used.
(function () {
  'use strict';

  var EXPIRED = 'This connect session has expired; ask the app for a new link.';
  var INCOMPLETE = 'This link is incomplete; ask the app for a new link.';
  var STATE_LABEL = { connected: 'Connected', needs_attention: 'Needs attention', not_connected: 'Not connected' };
  var ATTENTION = {
    refresh_failed: 'Signing in again is needed: the provider refused to renew access.',
    credential_expired: 'The saved credential has expired.'
  };

  var token = '';
  var session = null;
  var ended = false; // expired, revoked or done: nothing more can be sent
  var open = {}; // templateId -> {mode: 'form'|'confirm', scheme: index}
  var oauthPending = null; // {popup, templateId, connectionId, timer}
  var seq = 0;
  var rendered = false;

  var statusEl = document.getElementById('status');
  var contentEl = document.getElementById('content');
  var subtitleEl = document.getElementById('subtitle');

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') node.textContent = v;
        else if (k === 'onclick') node.addEventListener('click', v);
        else if (k === 'onsubmit') node.addEventListener('submit', v);
        else if (k === 'onchange') node.addEventListener('change', v);
        else node.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { if (x) node.appendChild(x); });
      else node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }

  function uid(prefix) { seq += 1; return prefix + '-' + seq; }

  function announce(msg) {
    // Re-setting the same text would not be announced again; clear first.
    statusEl.textContent = '';
    window.setTimeout(function () { statusEl.textContent = msg; }, 30);
  }

  function apiURL(path) { return new URL('../api/' + path, window.location.href).toString(); }

  // api calls the page's JSON API. It resolves with the parsed body (or null) and rejects with
  // {status, code, message, fields}.
  function api(method, path, body) {
    if (ended) return Promise.reject({ status: 0, code: 'ended', message: EXPIRED, fields: [] });
    var init = { method: method, headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
      credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(apiURL(path), init).then(function (res) {
      if (res.status === 204) return null;
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.ok) return data;
        var err = { status: res.status, code: (data && data.code) || 'error',
          message: (data && data.message) || ('The request failed (HTTP ' + res.status + ').'),
          fields: (data && data.fields) || [] };
        if (res.status === 401 || err.code === 'session_expired') expire(err.message);
        throw err;
      });
    }, function () {
      throw { status: 0, code: 'network', message: 'Plugboard could not be reached. Check your connection and try again.', fields: [] };
    });
  }

  // ---- messages to the embedding app -----------------------------------------------------------

  function embedder() {
    if (window.opener && window.opener !== window) return window.opener;
    if (window.parent && window.parent !== window) return window.parent;
    return null;
  }

  function notify(msg) {
    var target = embedder();
    if (!target || !session) return;
    (session.allowedOrigins || []).forEach(function (origin) {
      try { target.postMessage(msg, origin); } catch (e) { /* a malformed origin: skip it */ }
    });
  }

  // ---- the end of the session ------------------------------------------------------------------

  function expire(message) {
    if (ended) return;
    ended = true;
    closePopup();
    contentEl.textContent = '';
    contentEl.appendChild(el('div', { 'class': 'notice notice-error', role: 'alert' },
      el('p', { text: message === INCOMPLETE ? INCOMPLETE : EXPIRED })));
    contentEl.setAttribute('aria-busy', 'false');
    statusEl.textContent = '';
  }

  // ---- rendering ---------------------------------------------------------------------------------

  function render(focusId) {
    if (ended || !session) return;
    var envName = session.environment && session.environment.name;
    var who = session.endUser && (session.endUser.displayName || session.endUser.externalId);
    subtitleEl.textContent = (who ? 'For ' + who : '') + (who && envName ? ' · ' : '') + (envName ? envName : '');

    var list = el('ul', { 'class': 'templates', 'aria-label': 'Apps you can connect' });
    (session.templates || []).forEach(function (t) { list.appendChild(renderTemplate(t)); });
    contentEl.textContent = '';
    if (!session.templates || session.templates.length === 0) {
      contentEl.appendChild(el('p', { 'class': 'notice', text: 'There is nothing to connect in this session.' }));
    }
    contentEl.appendChild(list);
    contentEl.appendChild(el('div', { 'class': 'footer' },
      el('button', { type: 'button', id: 'done', onclick: done }, 'Done')));
    contentEl.setAttribute('aria-busy', 'false');
    if (!rendered) {
      rendered = true;
      if (window.performance && window.performance.mark) window.performance.mark('plugboard-rendered');
    }
    if (focusId) {
      var f = document.getElementById(focusId);
      if (f) f.focus();
    }
  }

  function renderTemplate(t) {
    var headingId = 'tpl-' + t.id;
    var state = t.state || 'not_connected';
    var card = el('li', { 'class': 'card', 'aria-labelledby': headingId, 'data-template': t.id, 'data-state': state });
    var title = el('div', { 'class': 'card-title' },
      el('h2', { id: headingId, text: t.name || (t.system && t.system.name) || 'App' }),
      t.system && t.system.name && t.system.name !== t.name ? el('p', { 'class': 'muted', text: t.system.name }) : null,
      t.connection ? el('p', { 'class': 'muted', text: 'Connection: ' + t.connection.name }) : null);
    card.appendChild(el('div', { 'class': 'card-head' }, title,
      el('span', { 'class': 'badge badge-' + state, 'data-badge': state }, STATE_LABEL[state] || state)));
    if (state === 'needs_attention') {
      card.appendChild(el('p', { 'class': 'notice notice-warn',
        text: t.attentionMessage || ATTENTION[t.attention] || 'This connection needs to be set up again.' }));
    }
    var o = open[t.id];
    var err = o && o.error;
    if (err && !o.mode) card.appendChild(el('p', { 'class': 'field-error', role: 'alert', text: err }));

    if (o && o.mode === 'confirm') {
      card.appendChild(renderConfirm(t));
    } else if (o && o.mode === 'form') {
      card.appendChild(renderForm(t, o));
    } else {
      var actions = el('div', { 'class': 'actions' });
      var name = t.name || 'app';
      if (state === 'not_connected') {
        actions.appendChild(el('button', { type: 'button', id: 'connect-' + t.id, 'data-action': 'connect', 'aria-label': 'Connect ' + name,
          onclick: function () { openForm(t, 'connect-' + t.id); } }, 'Connect'));
      } else {
        actions.appendChild(el('button', { type: 'button', id: 'reconnect-' + t.id, 'data-action': 'reconnect', 'aria-label': 'Reconnect ' + name,
          onclick: function () { openForm(t, 'reconnect-' + t.id); } }, 'Reconnect'));
        actions.appendChild(el('button', { type: 'button', 'class': 'secondary', id: 'disconnect-' + t.id, 'data-action': 'disconnect',
          'aria-label': 'Disconnect ' + name,
          onclick: function () { open[t.id] = { mode: 'confirm' }; render('confirm-no-' + t.id); } }, 'Disconnect'));
      }
      card.appendChild(actions);
    }
    return card;
  }

  function openForm(t) {
    var schemes = t.schemes || [];
    if (schemes.length === 1 && schemes[0].flow === 'popup' && !t.allowBaseUrlOverride) {
      // Nothing to fill in: go straight to the provider (the popup must open within the click).
      startOAuth(t, schemes[0], undefined);
      return;
    }
    open[t.id] = { mode: 'form', scheme: 0 };
    render(schemes.length > 1 ? 'scheme-' + t.id + '-0' : firstFieldId(t, 0));
  }

  function firstFieldId(t, i) {
    if (t.allowBaseUrlOverride) return 'f-' + t.id + '-baseUrl';
    var s = (t.schemes || [])[i];
    if (s && s.fields && s.fields.length) return 'f-' + t.id + '-' + s.fields[0].name;
    return 'submit-' + t.id;
  }

  function renderConfirm(t) {
    var msgId = uid('confirm');
    var box = el('div', { 'class': 'confirm', role: 'group', 'aria-labelledby': msgId },
      el('p', { id: msgId, text: 'Disconnect ' + (t.name || 'this app') + '? The app will no longer be able to use it.' }));
    var actions = el('div', { 'class': 'actions' },
      el('button', { type: 'button', 'class': 'danger', id: 'confirm-yes-' + t.id, 'data-action': 'confirm-disconnect',
        onclick: function (ev) { disconnect(t, ev.currentTarget); } }, 'Disconnect'),
      el('button', { type: 'button', 'class': 'secondary', id: 'confirm-no-' + t.id,
        onclick: function () { delete open[t.id]; render('disconnect-' + t.id); } }, 'Cancel'));
    box.appendChild(actions);
    return box;
  }

  function fieldBlock(t, f, errors) {
    var id = 'f-' + t.id + '-' + f.name;
    var errId = id + '-error';
    var hintId = id + '-hint';
    var describedBy = errId;
    var input;
    var hint = null;
    if (f.kind === 'pem' || f.kind === 'textarea') {
      input = el('textarea', { id: id, name: f.name, rows: f.kind === 'pem' ? 6 : 4, spellcheck: 'false',
        autocomplete: 'off', autocapitalize: 'off', required: f.required ? true : null, 'data-kind': f.kind,
        'data-pem': f.pem || null, 'data-max-bytes': f.maxBytes || null });
    } else {
      input = el('input', { id: id, name: f.name, type: f.kind === 'password' ? 'password' : 'text',
        autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', required: f.required ? true : null, 'data-kind': f.kind });
    }
    var file = null;
    if (f.kind === 'pem') {
      hint = el('p', { 'class': 'hint', id: hintId,
        text: 'Paste the PEM text (-----BEGIN ' + (f.pem || '') + '-----) or choose a file' +
          (f.maxBytes ? ' (at most ' + Math.floor(f.maxBytes / 1024) + ' KB).' : '.') });
      describedBy = hintId + ' ' + errId;
      var fileId = id + '-file';
      file = el('div', { 'class': 'field' },
        el('label', { 'for': fileId, text: (f.label || f.name) + ' file' }),
        el('input', { type: 'file', id: fileId, accept: '.pem,.crt,.cer,.key,text/plain',
          onchange: function (ev) { readPEMFile(ev.currentTarget, input, f, errId); } }));
    }
    input.setAttribute('aria-describedby', describedBy);
    var msg = errors[f.name];
    if (msg) input.setAttribute('aria-invalid', 'true');
    return el('div', { 'class': 'field' },
      el('label', { 'for': id }, (f.label || f.name) + (f.required ? '' : ' (optional)')),
      hint, input,
      el('p', { 'class': 'field-error', id: errId, text: msg || '' }),
      file);
  }

  function renderForm(t, o) {
    var schemes = t.schemes || [];
    var scheme = schemes[o.scheme] || schemes[0];
    var errors = o.errors || {};
    var formId = 'form-' + t.id;
    var form = el('form', { id: formId, novalidate: true, 'aria-labelledby': 'tpl-' + t.id,
      onsubmit: function (ev) { ev.preventDefault(); submit(t, form); } });
    if (o.error) form.appendChild(el('p', { 'class': 'field-error', role: 'alert', text: o.error }));

    if (schemes.length > 1) {
      var fs = el('fieldset', null, el('legend', { text: 'How do you want to sign in?' }));
      schemes.forEach(function (s, i) {
        var rid = 'scheme-' + t.id + '-' + i;
        fs.appendChild(el('div', { 'class': 'radio' },
          el('input', { type: 'radio', id: rid, name: 'scheme-' + t.id, value: String(i), checked: i === o.scheme ? true : null,
            onchange: function () { keepBaseUrl(t); o.scheme = i; o.errors = {}; o.error = ''; render(rid); } }),
          el('label', { 'for': rid, text: s.name || s.type })));
      });
      form.appendChild(fs);
    }
    if (t.allowBaseUrlOverride) {
      form.appendChild(fieldBlock(t, { name: 'baseUrl', label: 'Base URL', kind: 'text', required: false }, { baseUrl: errors.baseUrl }));
      var b = form.querySelector('#f-' + t.id + '-baseUrl');
      b.setAttribute('type', 'url');
      b.value = o.baseUrl !== undefined ? o.baseUrl : (t.baseUrl || '');
    }
    if (scheme) {
      (scheme.fields || []).forEach(function (f) { form.appendChild(fieldBlock(t, f, errors)); });
    }
    var label = scheme && scheme.flow === 'popup' ? 'Continue to ' + ((t.system && t.system.name) || 'sign in') : 'Save';
    form.appendChild(el('div', { 'class': 'actions' },
      el('button', { type: 'submit', id: 'submit-' + t.id, 'data-action': 'submit' }, label),
      el('button', { type: 'button', 'class': 'secondary', id: 'cancel-' + t.id,
        onclick: function () { delete open[t.id]; render((t.state === 'not_connected' ? 'connect-' : 'reconnect-') + t.id); } }, 'Cancel')));
    return form;
  }

  function keepBaseUrl(t) {
    var b = document.getElementById('f-' + t.id + '-baseUrl');
    if (b && open[t.id]) open[t.id].baseUrl = b.value;
  }

  // ---- PEM checks (the server checks again) -----------------------------------------------------

  function utf8Length(s) { return new TextEncoder().encode(s).length; }

  // checkPEM returns an error message, or '' when value is one or more well-formed PEM blocks of
  // the expected kind.
  function checkPEM(value, want, maxBytes) {
    if (maxBytes && utf8Length(value) > maxBytes) return 'This is larger than ' + Math.floor(maxBytes / 1024) + ' KB.';
    var text = value.replace(/\r\n?/g, '\n').trim();
    var re = /-----BEGIN ([A-Z0-9 ]+)-----\n([\s\S]*?)\n?-----END ([A-Z0-9 ]+)-----/g;
    var m;
    var n = 0;
    var rest = text;
    while ((m = re.exec(text)) !== null) {
      n += 1;
      if (m[1] !== m[3]) return 'The BEGIN and END lines do not match.';
      var label = m[1];
      var okLabel = want === 'PRIVATE KEY' ? /(^|\s)PRIVATE KEY$/.test(label) : (!want || label === want);
      if (!okLabel) return 'Expected a ' + want + ' block, found ' + label + '.';
      var body = m[2].split('\n').filter(function (line) { return line.indexOf(':') < 0; }).join('').replace(/\s+/g, '');
      if (!body || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return 'The text between the BEGIN and END lines is not valid base64.';
      try { window.atob(body); } catch (e) { return 'The text between the BEGIN and END lines is not valid base64.'; }
      rest = rest.replace(m[0], '');
    }
    if (n === 0) return 'Expected PEM text starting with -----BEGIN ' + (want || '') + '-----.';
    if (rest.trim() !== '') return 'There is text outside the BEGIN and END lines.';
    if (want === 'PRIVATE KEY' && n > 1) return 'Give exactly one private key.';
    return '';
  }

  function readPEMFile(fileInput, target, f, errId) {
    var file = fileInput.files && fileInput.files[0];
    var errEl = document.getElementById(errId);
    if (!file) return;
    if (f.maxBytes && file.size > f.maxBytes) {
      errEl.textContent = 'The file is larger than ' + Math.floor(f.maxBytes / 1024) + ' KB.';
      target.setAttribute('aria-invalid', 'true');
      fileInput.value = '';
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      target.value = String(reader.result || '');
      fileInput.value = '';
      var msg = checkPEM(target.value, f.pem, f.maxBytes);
      errEl.textContent = msg;
      if (msg) target.setAttribute('aria-invalid', 'true'); else target.removeAttribute('aria-invalid');
      announce(msg ? 'The file was read but is not valid: ' + msg : 'Read ' + file.name + '.');
    };
    reader.onerror = function () { errEl.textContent = 'The file could not be read.'; };
    reader.readAsText(file);
  }

  // ---- actions ------------------------------------------------------------------------------------

  function isSecret(f) { return f.kind === 'password' || (f.kind === 'pem' && f.pem === 'PRIVATE KEY'); }

  function submit(t, form) {
    var o = open[t.id];
    var scheme = (t.schemes || [])[o.scheme] || (t.schemes || [])[0];
    if (!scheme) return;
    var values = {};
    var errors = {};
    var firstBad = '';
    var baseInput = form.querySelector('#f-' + t.id + '-baseUrl');
    var baseUrl = baseInput ? baseInput.value.trim() : '';
    if (baseInput) {
      o.baseUrl = baseInput.value;
      if (baseUrl && !/^https?:\/\/[^\s/]+/i.test(baseUrl)) { errors.baseUrl = 'Enter a URL starting with https://'; firstBad = firstBad || 'baseUrl'; }
    }
    (scheme.fields || []).forEach(function (f) {
      var input = form.querySelector('#f-' + t.id + '-' + f.name);
      var v = input ? input.value : '';
      if (f.kind !== 'password' && f.kind !== 'pem') v = v.trim();
      if (f.required && v === '') { errors[f.name] = (f.label || f.name) + ' is required.'; firstBad = firstBad || f.name; }
      else if (f.kind === 'pem' && v !== '') {
        var msg = checkPEM(v, f.pem, f.maxBytes);
        if (msg) { errors[f.name] = msg; firstBad = firstBad || f.name; }
      }
      if (v !== '') values[f.name] = v;
    });
    if (firstBad) {
      showErrors(t, form, scheme, errors, '');
      announce('Please correct the highlighted fields.');
      return;
    }
    if (scheme.flow === 'popup') {
      startOAuth(t, scheme, baseUrl || undefined);
      return;
    }
    var body = { templateId: t.id, authSchemeConfigId: scheme.authSchemeConfigId, values: values };
    if (baseUrl) body.baseUrl = baseUrl;
    var reconnecting = !!t.connection;
    var buttons = form.querySelectorAll('button');
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    announce(reconnecting ? 'Reconnecting…' : 'Connecting…');
    var req = reconnecting ? api('PUT', 'connections/' + encodeURIComponent(t.connection.id), body) : api('POST', 'connections', body);
    // Secrets leave the page's inputs as soon as they are sent, whatever the answer.
    (scheme.fields || []).forEach(function (f) {
      if (!isSecret(f)) return;
      var input = form.querySelector('#f-' + t.id + '-' + f.name);
      if (input) input.value = '';
    });
    values = null;
    body = null;
    req.then(function (res) {
      var conn = res && res.connection;
      delete open[t.id];
      announce((t.name || 'The app') + (reconnecting ? ' is reconnected.' : ' is connected.'));
      notify({ type: 'plugboard:connected', connectionId: conn && conn.id, templateId: t.id });
      return reload('reconnect-' + t.id);
    }, function (err) {
      if (ended) return;
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      var fe = {};
      var first = '';
      (err.fields || []).forEach(function (x) {
        var name = String(x.field || '').replace(/^values\./, '');
        if (name === 'templateId' || name === 'authSchemeConfigId') return;
        fe[name] = x.message;
        first = first || name;
      });
      showErrors(t, form, scheme, fe, first ? '' : err.message);
      announce(first ? 'Please correct the highlighted fields.' : err.message);
    });
  }

  // showErrors puts each message next to its field (and clears the others) without rebuilding the
  // form, so what the user typed (other than secrets) stays.
  function showErrors(t, form, scheme, errors, general) {
    var names = (scheme.fields || []).map(function (f) { return f.name; });
    if (t.allowBaseUrlOverride) names.unshift('baseUrl');
    var first = null;
    names.forEach(function (name) {
      var input = form.querySelector('#f-' + t.id + '-' + name);
      var errEl = document.getElementById('f-' + t.id + '-' + name + '-error');
      if (!input || !errEl) return;
      errEl.textContent = errors[name] || '';
      if (errors[name]) { input.setAttribute('aria-invalid', 'true'); first = first || input; } else input.removeAttribute('aria-invalid');
    });
    var gen = form.querySelector('.form-error');
    if (!gen) {
      gen = el('p', { 'class': 'field-error form-error', role: 'alert' });
      form.insertBefore(gen, form.firstChild);
    }
    var unplaced = Object.keys(errors).filter(function (k) { return names.indexOf(k) < 0; }).map(function (k) { return errors[k]; });
    gen.textContent = general || unplaced.join(' ');
    if (first) first.focus();
    else if (gen.textContent) { gen.setAttribute('tabindex', '-1'); gen.focus(); }
  }

  function disconnect(t, button) {
    if (!t.connection) return;
    button.disabled = true;
    announce('Disconnecting…');
    var id = t.connection.id;
    api('DELETE', 'connections/' + encodeURIComponent(id)).then(function () {
      delete open[t.id];
      announce((t.name || 'The app') + ' is disconnected.');
      notify({ type: 'plugboard:disconnected', connectionId: id, templateId: t.id });
      return reload('connect-' + t.id);
    }, function (err) {
      if (ended) return;
      open[t.id] = { error: err.message };
      render('reconnect-' + t.id);
      announce(err.message);
    });
  }

  function closePopup() {
    if (!oauthPending) return;
    window.clearInterval(oauthPending.timer);
    try { if (oauthPending.popup && !oauthPending.popup.closed) oauthPending.popup.close(); } catch (e) { /* gone */ }
    oauthPending = null;
  }

  // startOAuth opens the popup synchronously (inside the click, so no blocker stops it), then asks
  // the server for the provider's authorize URL and sends the popup there.
  function startOAuth(t, scheme, baseUrl) {
    closePopup();
    var w = 520;
    var h = 680;
    var left = Math.max(0, Math.round((window.screenX || 0) + ((window.outerWidth || w) - w) / 2));
    var top = Math.max(0, Math.round((window.screenY || 0) + ((window.outerHeight || h) - h) / 2));
    var popup = window.open('', 'plugboard-oauth', 'popup,width=' + w + ',height=' + h + ',left=' + left + ',top=' + top);
    if (!popup) {
      open[t.id] = Object.assign(open[t.id] || {}, { error: 'The sign-in window was blocked. Allow pop-ups for this page and try again.' });
      render();
      announce('The sign-in window was blocked. Allow pop-ups for this page and try again.');
      return;
    }
    var body = { templateId: t.id, authSchemeConfigId: scheme.authSchemeConfigId };
    if (baseUrl) body.baseUrl = baseUrl;
    if (t.connection) body.connectionId = t.connection.id;
    oauthPending = { popup: popup, templateId: t.id, reconnect: !!t.connection, name: t.name, timer: 0 };
    var pending = oauthPending;
    announce('Continue in the sign-in window…');
    api('POST', 'oauth', body).then(function (res) {
      if (oauthPending !== pending) return;
      popup.location.href = res.url;
      pending.timer = window.setInterval(function () {
        if (oauthPending === pending && popup.closed) {
          closePopup();
          announce('The sign-in window was closed before finishing.');
        }
      }, 500);
    }, function (err) {
      if (oauthPending === pending) closePopup();
      if (ended) return;
      var fe = {};
      (err.fields || []).forEach(function (x) { fe[String(x.field || '').replace(/^values\./, '')] = x.message; });
      open[t.id] = Object.assign(open[t.id] || { mode: 'form', scheme: 0 }, { errors: fe, error: fe.baseUrl ? '' : err.message });
      render();
      announce(err.message);
    });
  }

  window.addEventListener('message', function (ev) {
    // Only the OAuth callback page, served from this very origin, may talk to the page.
    if (ev.origin !== window.location.origin) return;
    var d = ev.data;
    if (!d || typeof d !== 'object' || d.type !== 'plugboard:oauth' || !oauthPending) return;
    if (oauthPending.popup && ev.source && ev.source !== oauthPending.popup) return;
    var pending = oauthPending;
    closePopup();
    if (d.ok) {
      delete open[pending.templateId];
      announce((pending.name || 'The app') + (pending.reconnect ? ' is reconnected.' : ' is connected.'));
      notify({ type: 'plugboard:connected', connectionId: d.connectionId, templateId: pending.templateId });
      reload('reconnect-' + pending.templateId);
      return;
    }
    if (d.code === 'session_expired') { expire(d.message || EXPIRED); return; }
    open[pending.templateId] = Object.assign(open[pending.templateId] || {}, { error: d.message || 'Signing in did not finish.' });
    render();
    announce(d.message || 'Signing in did not finish.');
  });

  function done() {
    var btn = document.getElementById('done');
    if (btn) btn.disabled = true;
    api('POST', 'complete').then(function () {
      notify({ type: 'plugboard:closed' });
      ended = true;
      contentEl.textContent = '';
      contentEl.appendChild(el('p', { 'class': 'notice', role: 'status', text: 'All done. You can close this window.' }));
      var ret = session && session.returnUrl;
      if (ret && !embedder()) window.location.assign(ret);
    }, function (err) {
      if (btn) btn.disabled = false;
      if (!ended) announce(err.message);
    });
  }

  function reload(focusId) {
    return api('GET', 'session').then(function (s) {
      session = s;
      render(focusId);
    }, function (err) {
      if (!ended) announce(err.message);
    });
  }

  // ---- start ----------------------------------------------------------------------------------------

  var m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash || '');
  if (m) token = decodeURIComponent(m[1]);
  if (window.location.hash) {
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
  }
  if (!token) {
    expire(INCOMPLETE);
    return;
  }
  reload().then(function () {
    if (session) announce('');
  });
}());
