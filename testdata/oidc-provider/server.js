// OAuth 2.0 / OpenID Connect test peer for Plugboard's Go tests.
//
// It wraps the npm package oidc-provider in an HTTPS server on 127.0.0.1 and
// adds what tests need on top: fixed clients, a password grant, a
// non-interactive login/consent page, grant counters and failure injection on
// the token endpoint. It is started by internal/oidctest (Go); see that
// package's documentation for the contract.
//
// Usage: node server.js '<JSON config>'   (or: node server.js /path/config.json,
// or the JSON in the environment variable OIDC_TEST_CONFIG)
//
// Config (all paths are PEM files):
//   {
//     "port": 0,                       // 0 = random free port
//     "tls": {"cert": "...", "key": "...", "ca": "..."},
//     "accessTokenTTL": 60,            // seconds
//     "refreshTokenTTL": 86400,        // seconds
//     "user": {"username": "alice", "password": "..."},
//     "scopes": ["read", "write"],     // in addition to openid, offline_access
//     "clients": [ oidc-provider client metadata, ... ]
//   }
//
// When ready it prints exactly one JSON line on stdout:
//   {"issuer":"https://127.0.0.1:PORT","authorization_endpoint":...,...}
// Everything else (oidc-provider notices, the Node version warning, errors)
// goes to stderr. The process exits when stdin is closed, so it never
// outlives the Go test that started it.
//
// Test-only endpoints (no authentication, loopback only):
//   GET  /__test/counts  -> {"authorization_code":1,"refresh_token":2,...}
//   POST /__test/fail    {"status":503,"count":1,"delayMs":0}
//        The next `count` token endpoint requests are delayed by delayMs and,
//        if status is set, answered with that status and
//        {"error":"server_error"} instead of reaching oidc-provider.
//   POST /__test/reset   zeroes the counters and clears pending failures.
//
// Deviations from stock oidc-provider: client_secret_basic and
// client_secret_post are not interchangeable (the registered method is
// enforced on the token, introspection and revocation endpoints); refresh
// tokens are issued to every client allowed the refresh_token grant (no
// offline_access needed) and rotate on every use; tokens do not expire with the
// login session; a `password` grant is registered.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';

// oidc-provider prints NOTICEs with console.info (stdout); keep stdout for the
// ready line only.
console.info = console.error;
console.log = console.error;

const { default: Provider, errors } = await import('oidc-provider');

function loadConfig() {
  const arg = process.argv[2] ?? process.env.OIDC_TEST_CONFIG;
  if (!arg) {
    throw new Error('missing configuration: pass a JSON object or a JSON file path as the first argument');
  }
  const text = arg.trim().startsWith('{') ? arg : fs.readFileSync(arg, 'utf8');
  return JSON.parse(text);
}

const cfg = loadConfig();
const user = cfg.user ?? { username: 'alice', password: 'alice-password' };
const accessTokenTTL = cfg.accessTokenTTL ?? 60;
const refreshTokenTTL = cfg.refreshTokenTTL ?? 24 * 60 * 60;
const supportedScopes = ['openid', 'offline_access', ...(cfg.scopes ?? ['read', 'write'])];

// ---------------------------------------------------------------------------
// Counters and failure injection.

const counts = {};
function bump(key) {
  counts[key] = (counts[key] ?? 0) + 1;
}
let pendingFailure = null; // {status, count, delayMs}

// ---------------------------------------------------------------------------
// mTLS helpers (the TLS layer requests but does not require client certs).

function peerCertificate(ctx) {
  const socket = ctx.req.socket;
  if (typeof socket.getPeerX509Certificate !== 'function') {
    return undefined;
  }
  return socket.getPeerX509Certificate() ?? undefined;
}

// X509Certificate#subject is "C=US\nO=Org\nCN=name" (issuer-first); RFC 4514
// strings are the reverse and comma-separated. Compare a normalised form.
function normaliseDN(dn) {
  return dn
    .split(/\n|,(?=\s*[A-Za-z0-9.]+=)/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const i = part.indexOf('=');
      return `${part.slice(0, i).trim().toUpperCase()}=${part.slice(i + 1).trim()}`;
    })
    .sort()
    .join(',');
}

function sanValues(cert, type) {
  // subjectAltName: 'DNS:a.example, IP Address:127.0.0.1, URI:spiffe://x, email:a@b'
  const prefix = { dns: 'DNS:', ip: 'IP Address:', uri: 'URI:', email: 'email:' }[type];
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith(prefix))
    .map((entry) => entry.slice(prefix.length));
}

function certificateSubjectMatches(ctx, property, expected) {
  const cert = peerCertificate(ctx);
  if (!cert) {
    return false;
  }
  switch (property) {
    case 'tls_client_auth_subject_dn':
      return normaliseDN(cert.subject) === normaliseDN(expected);
    case 'tls_client_auth_san_dns':
      return sanValues(cert, 'dns').includes(expected);
    case 'tls_client_auth_san_ip':
      return sanValues(cert, 'ip').includes(expected);
    case 'tls_client_auth_san_uri':
      return sanValues(cert, 'uri').includes(expected);
    case 'tls_client_auth_san_email':
      return sanValues(cert, 'email').includes(expected);
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------
// Signing key (fresh per run) and the provider.

function signingJWK() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig',
  };
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: cfg.clients ?? [],
    jwks: { keys: [signingJWK()] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: supportedScopes,
    claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, email: `${sub}@example.test`, name: sub };
        },
      };
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'tls_client_auth', 'none'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        getCertificate(ctx) {
          return peerCertificate(ctx);
        },
        certificateAuthorized(ctx) {
          return ctx.req.socket.authorized === true;
        },
        certificateSubjectMatches,
      },
    },
    interactions: {
      url(ctx, interaction) {
        return `/interaction/${interaction.uid}`;
      },
    },
    // S256 only; PKCE is required for public clients (none here) and optional
    // for confidential ones.
    pkce: { required: () => false },
    // Refresh tokens for every client allowed the refresh_token grant, without
    // needing offline_access + prompt=consent.
    issueRefreshToken(ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    // Tokens do not die with the (cookie) login session.
    expiresWithSession() {
      return false;
    },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: accessTokenTTL,
      ClientCredentials: accessTokenTTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: refreshTokenTTL,
      Grant: Math.max(refreshTokenTTL, 3600) * 2,
      Interaction: 600,
      Session: 3600,
    },
    clientBasedCORS() {
      return false;
    },
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  provider.on('grant.success', (ctx) => bump(ctx.oidc.params.grant_type));
  provider.on('grant.error', (ctx) => {
    const gt = ctx.oidc?.params?.grant_type;
    if (gt) {
      bump(`${gt}_failed`);
    }
  });
  provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));

  registerPasswordGrant(provider);
  return provider;
}

// ---------------------------------------------------------------------------
// Resource Owner Password Credentials grant (not built into oidc-provider).
// Tokens are ordinary AccessToken/RefreshToken models backed by a Grant, so the
// built-in refresh_token grant (with rotation) works on them.

function registerPasswordGrant(provider) {
  async function passwordGrant(ctx) {
    const { params, client } = ctx.oidc;
    if (!params.username || !params.password) {
      throw new errors.InvalidRequest('missing required parameter(s) (username,password)');
    }
    const a = Buffer.from(`${params.username}\0${params.password}`);
    const b = Buffer.from(`${user.username}\0${user.password}`);
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
      throw new errors.InvalidGrant('invalid resource owner credentials');
    }

    const requested = params.scope ? params.scope.split(' ').filter(Boolean) : (client.scope ?? '').split(' ').filter(Boolean);
    const supported = new Set(supportedScopes);
    const allowedByClient = client.scope ? new Set(client.scope.split(' ')) : null;
    for (const s of requested) {
      if (!supported.has(s) || (allowedByClient && !allowedByClient.has(s))) {
        throw new errors.InvalidScope('requested scope is not allowed', s);
      }
    }
    const scope = requested.join(' ');

    const accountId = params.username;
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    if (scope) {
      grant.addOIDCScope(scope);
    }
    const grantId = await grant.save();

    const at = new provider.AccessToken({
      accountId, client, grantId, gty: 'password', scope: scope || undefined,
    });
    ctx.oidc.entity('AccessToken', at);
    const accessToken = await at.save();

    let refreshToken;
    if (client.grantTypeAllowed('refresh_token')) {
      const rt = new provider.RefreshToken({
        accountId, client, grantId, gty: 'password', scope: scope || undefined, rotations: 0,
      });
      ctx.oidc.entity('RefreshToken', rt);
      refreshToken = await rt.save();
    }

    ctx.body = {
      access_token: accessToken,
      expires_in: at.expiration,
      refresh_token: refreshToken,
      scope: scope || undefined,
      token_type: at.tokenType,
    };
  }
  provider.registerGrantType('password', passwordGrant, ['username', 'password', 'scope']);
}

// ---------------------------------------------------------------------------
// Non-interactive login/consent.
//
// GET  /interaction/:uid  shows a minimal HTML form (for humans poking around).
// POST /interaction/:uid  login=<username>&password=<password>&action=approve|deny
//   approve: checks the credentials, finishes the login prompt and grants
//            every requested scope/claim in the same step (so no separate
//            consent page); for a consent-only prompt the credentials are
//            ignored.
//   deny:    finishes the interaction with error=access_denied.
// Either way the answer is a 303 back to the authorization endpoint, which then
// redirects to the client's redirect_uri.

function htmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req, limit = 1 << 20) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    size += chunk.length;
    if (size > limit) {
      throw new Error('request body too large');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sendJSON(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function handleInteraction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;

  if (req.method === 'GET') {
    const page = `<!doctype html><html><head><title>oidctest ${htmlEscape(prompt.name)}</title></head><body>
<h1>${htmlEscape(prompt.name)}: ${htmlEscape(params.client_id)}</h1>
<p>scope: ${htmlEscape(params.scope ?? '')}</p>
<form method="post" action="/interaction/${htmlEscape(uid)}">
<input name="login" placeholder="username"> <input name="password" type="password" placeholder="password">
<button name="action" value="approve">Approve</button> <button name="action" value="deny">Deny</button>
</form></body></html>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page);
    return;
  }
  if (req.method !== 'POST') {
    sendJSON(res, 405, { error: 'method_not_allowed' });
    return;
  }

  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  if (form.get('action') === 'deny') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'end-user denied the request',
    }, { mergeWithLastSubmission: false });
    return;
  }

  let accountId = details.session?.accountId;
  const result = {};
  if (prompt.name === 'login' || !accountId) {
    if (form.get('login') !== user.username || form.get('password') !== user.password) {
      sendJSON(res, 401, { error: 'invalid_credentials', error_description: 'wrong username or password' });
      return;
    }
    accountId = user.username;
    result.login = { accountId };
  }

  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
  }
  if (!grant || grant.accountId !== accountId) {
    grant = new provider.Grant({ accountId, clientId: params.client_id });
  }
  // Grant everything requested. On a login prompt the consent details are not
  // computed yet, so take the scopes straight from the request.
  if (params.scope) {
    grant.addOIDCScope(params.scope);
  }
  const pd = prompt.details ?? {};
  if (pd.missingOIDCScope) {
    grant.addOIDCScope(pd.missingOIDCScope.join(' '));
  }
  if (pd.missingOIDCClaims) {
    grant.addOIDCClaims(pd.missingOIDCClaims);
  }
  if (pd.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(pd.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  result.consent = { grantId: await grant.save() };

  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

// ---------------------------------------------------------------------------
// HTTPS server.

const tlsOpts = {
  cert: fs.readFileSync(cfg.tls.cert),
  key: fs.readFileSync(cfg.tls.key),
  ca: cfg.tls.ca ? fs.readFileSync(cfg.tls.ca) : undefined,
  requestCert: true,
  rejectUnauthorized: false,
};

let provider;
let providerCallback;
let tokenPath = '/token';
let clientAuthPaths = new Set();

// oidc-provider accepts client_secret_basic and client_secret_post
// interchangeably for a client registered with either. Real authorization
// servers often do not, so enforce the registered method.
const registeredAuthMethod = new Map((cfg.clients ?? []).map((c) => [
  c.client_id, c.token_endpoint_auth_method ?? 'client_secret_basic',
]));

function clientAuthMismatch(req, form) {
  let used;
  let clientId;
  const header = req.headers.authorization ?? '';
  if (/^basic /i.test(header)) {
    used = 'client_secret_basic';
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    try {
      clientId = decodeURIComponent(decoded.slice(0, decoded.indexOf(':')));
    } catch {
      return null; // malformed: let oidc-provider reject it
    }
  } else if (form.has('client_secret')) {
    used = 'client_secret_post';
    clientId = form.get('client_id');
  } else {
    return null;
  }
  const registered = registeredAuthMethod.get(clientId);
  if (!registered || registered === used
    || !['client_secret_basic', 'client_secret_post'].includes(registered)) {
    return null;
  }
  return `client authenticated with ${used} but is registered for ${registered}`;
}

const server = https.createServer(tlsOpts, async (req, res) => {
  try {
    const { pathname } = new URL(req.url, 'https://127.0.0.1');

    if (pathname === '/__test/counts' && req.method === 'GET') {
      sendJSON(res, 200, counts);
      return;
    }
    if (pathname === '/__test/fail' && req.method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString('utf8') || '{}');
      const status = Number(body.status ?? 0);
      const delayMs = Number(body.delayMs ?? 0);
      const count = Number(body.count ?? 1);
      if ((status && (status < 400 || status > 599)) || delayMs < 0 || count < 0) {
        sendJSON(res, 400, { error: 'invalid_request', error_description: 'status must be 4xx/5xx, delayMs and count >= 0' });
        return;
      }
      pendingFailure = count > 0 && (status || delayMs) ? { status, delayMs, count } : null;
      sendJSON(res, 200, { ok: true });
      return;
    }
    if (pathname === '/__test/reset' && req.method === 'POST') {
      for (const k of Object.keys(counts)) delete counts[k];
      pendingFailure = null;
      sendJSON(res, 200, { ok: true });
      return;
    }

    if (req.method === 'POST' && clientAuthPaths.has(pathname)) {
      // Buffer the body: failure injection and the client authentication
      // check need it. oidc-provider then reads the buffered req.body (it
      // logs a one-time warning about an "already parsed request body").
      const raw = await readBody(req);
      req.body = raw;
      const form = new URLSearchParams(raw.toString('utf8'));
      const isToken = pathname === tokenPath;

      if (isToken) {
        bump('token_requests');
      }
      if (isToken && pendingFailure) {
        const failure = pendingFailure;
        failure.count -= 1;
        if (failure.count <= 0) {
          pendingFailure = null;
        }
        if (failure.delayMs) {
          await new Promise((resolve) => { setTimeout(resolve, failure.delayMs); });
        }
        if (failure.status) {
          bump('injected_failures');
          sendJSON(res, failure.status, { error: 'server_error', error_description: 'injected failure' });
          return;
        }
      }

      const mismatch = clientAuthMismatch(req, form);
      if (mismatch) {
        if (isToken && form.get('grant_type')) {
          bump(`${form.get('grant_type')}_failed`);
        }
        res.setHeader('www-authenticate', 'Basic realm="oidctest"');
        sendJSON(res, 401, { error: 'invalid_client', error_description: mismatch });
        return;
      }
    }

    if (pathname.startsWith('/interaction/')) {
      await handleInteraction(provider, req, res);
      return;
    }

    providerCallback(req, res);
  } catch (err) {
    console.error('oidctest server error:', err);
    if (!res.headersSent) {
      const status = err.statusCode ?? err.status ?? 500;
      sendJSON(res, status, { error: err.error ?? 'server_error', error_description: err.error_description ?? String(err.message ?? err) });
    } else {
      res.destroy();
    }
  }
});

server.on('tlsClientError', () => {}); // e.g. a client that does not trust the CA

server.listen(cfg.port ?? 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  provider = buildProvider(issuer);
  providerCallback = provider.callback();
  tokenPath = provider.pathFor('token');
  clientAuthPaths = new Set(['token', 'introspection', 'revocation'].map((name) => provider.pathFor(name)));

  const url = (name) => `${issuer}${provider.pathFor(name)}`;
  process.stdout.write(`${JSON.stringify({
    issuer,
    authorization_endpoint: url('authorization'),
    token_endpoint: url('token'),
    userinfo_endpoint: url('userinfo'),
    jwks_uri: url('jwks'),
    revocation_endpoint: url('revocation'),
    introspection_endpoint: url('introspection'),
  })}\n`);
});

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
