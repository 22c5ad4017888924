#!/usr/bin/python3
"""A real OAuth 1.0a (RFC 5849) provider for Plugboard's tests.

Built on Debian's python3-oauthlib (apt-get install python3-oauthlib) and the
standard library's http.server; all state is in memory and lost on exit. Run it
with /usr/bin/python3, which sees Debian's packages:

    /usr/bin/python3 provider.py --consumer key:secret [--port 0]

When it is ready it prints one JSON line to stdout, {"url": "http://127.0.0.1:PORT"},
and then serves:

  POST /request_token   temporary credentials (oauth_callback required: an
                        absolute http(s) URL or "oob")
  GET  /authorize       ?oauth_token=...  auto-approves as the test user and
                        redirects 302 to the callback with oauth_token and
                        oauth_verifier (200 form body for "oob"); &deny=1
                        redirects with denied=TOKEN instead
  POST /access_token    token credentials, plus user_id and screen_name
  ANY  /resource        protected resource: 200 {"ok": true, "user": ...} or 401
  GET  /__test/counts   JSON hit and failure counters
  POST /__test/fail     ?status=503&count=1[&endpoint=access_token] makes the next
                        count requests to endpoint fail with status
  POST /__test/reset    clears counters and pending injected failures

Signatures are HMAC-SHA1 and HMAC-SHA256 by default (--signature-method to
change), sent in the Authorization header, a form body or the query string.
Nonces are single use per (consumer, timestamp, nonce, token).
"""

import argparse
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

try:
    from oauthlib.oauth1 import (
        AccessTokenEndpoint, AuthorizationEndpoint, RequestTokenEndpoint,
        RequestValidator, ResourceEndpoint,
    )
    from oauthlib.oauth1.rfc5849 import errors as oauth_errors
except ImportError as exc:  # pragma: no cover - environment problem
    sys.stderr.write(
        "provider.py: cannot import oauthlib (%s); install it with "
        "apt-get install python3-oauthlib and run /usr/bin/python3\n" % exc)
    sys.exit(3)

SUPPORTED_METHODS = ("HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512", "PLAINTEXT")
DEFAULT_METHODS = ("HMAC-SHA1", "HMAC-SHA256")

# RFC 3986 unreserved characters: consumer keys, tokens and verifiers.
UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Nonces may also be standard base64 (dghubble/oauth1 sends 32 random bytes as
# base64.StdEncoding: 44 characters including + / =).
NONCE_CHARACTERS = UNRESERVED | set("+/=")

LOCK = threading.RLock()

COUNTER_NAMES = (
    "request_token", "request_token_failures",
    "authorize", "authorize_failures",
    "access_token", "access_token_failures",
    "resource", "resource_failures",
    "nonce_replays", "injected_failures",
)


def new_counts():
    return {name: 0 for name in COUNTER_NAMES}


class Validator(RequestValidator):
    """In-memory RequestValidator. Callers hold LOCK around endpoint calls."""

    def __init__(self, consumers, user_id, screen_name, signature_methods,
                 timestamp_lifetime, realms):
        super().__init__()
        self.consumers = dict(consumers)      # key -> secret
        self.user_id = user_id
        self.screen_name = screen_name
        self._methods = tuple(signature_methods)
        self._lifetime = timestamp_lifetime
        self._realms = list(realms)
        self.request_tokens = {}              # token -> dict
        self.access_tokens = {}               # token -> dict
        self.nonces = {}                      # (key, ts, nonce, token) -> ts
        self.replays = 0

    # ---- configuration properties -------------------------------------
    @property
    def allowed_signature_methods(self):
        return self._methods

    @property
    def enforce_ssl(self):
        return False  # plain http on 127.0.0.1

    @property
    def timestamp_lifetime(self):
        return self._lifetime

    @property
    def realms(self):
        return self._realms

    @property
    def safe_characters(self):
        return UNRESERVED

    @property
    def client_key_length(self):
        return 4, 128

    @property
    def request_token_length(self):
        return 20, 128

    @property
    def access_token_length(self):
        return 20, 128

    @property
    def verifier_length(self):
        return 20, 128

    @property
    def nonce_length(self):
        return 8, 128

    def check_nonce(self, nonce):
        lower, upper = self.nonce_length
        return set(nonce) <= NONCE_CHARACTERS and lower <= len(nonce) <= upper

    def check_realms(self, realms):
        # With no --realm configured any realm is accepted (RFC 5849 gives the
        # realm no meaning beyond "protection realm"); otherwise it must be known.
        if not self._realms:
            return True
        return all(r in self._realms for r in realms)

    # ---- dummies (used by oauthlib to keep timing uniform) -------------
    @property
    def dummy_client(self):
        return "dummy-client-key"

    @property
    def dummy_request_token(self):
        return "dummy-request-token-0000000000"

    @property
    def dummy_access_token(self):
        return "dummy-access-token-00000000000"

    # ---- secrets -------------------------------------------------------
    def get_client_secret(self, client_key, request):
        return self.consumers.get(client_key, "dummy-client-secret")

    def get_request_token_secret(self, client_key, token, request):
        rt = self.request_tokens.get(token)
        if rt and rt["client_key"] == client_key:
            return rt["secret"]
        return "dummy-request-token-secret"

    def get_access_token_secret(self, client_key, token, request):
        at = self.access_tokens.get(token)
        if at and at["client_key"] == client_key:
            return at["secret"]
        return "dummy-access-token-secret"

    def get_rsa_key(self, client_key, request):
        raise NotImplementedError("RSA signatures are not supported")

    # ---- realms, callbacks ----------------------------------------------
    def get_default_realms(self, client_key, request):
        return list(self._realms)

    def get_realms(self, token, request):
        rt = self.request_tokens.get(token)
        return list(rt["realms"]) if rt else []

    def get_redirect_uri(self, token, request):
        return self.request_tokens[token]["callback"]

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        if redirect_uri == "oob":
            return True
        parts = urlsplit(redirect_uri)
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    def validate_requested_realms(self, client_key, realms, request):
        return self.check_realms(realms)

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        if not realms:
            return True
        at = self.access_tokens.get(token)
        return bool(at) and set(at["realms"]).issuperset(realms)

    def verify_realms(self, token, realms, request):
        rt = self.request_tokens.get(token)
        return bool(rt) and set(rt["realms"]).issuperset(realms)

    # ---- validation ------------------------------------------------------
    def validate_client_key(self, client_key, request):
        return client_key in self.consumers

    def validate_request_token(self, client_key, token, request):
        rt = self.request_tokens.get(token)
        return bool(rt) and rt["client_key"] == client_key

    def validate_access_token(self, client_key, token, request):
        at = self.access_tokens.get(token)
        return bool(at) and at["client_key"] == client_key

    def validate_verifier(self, client_key, token, verifier, request):
        rt = self.request_tokens.get(token)
        if not rt or rt["client_key"] != client_key or not rt["verifier"]:
            return False
        return hmac.compare_digest(rt["verifier"].encode(), verifier.encode())

    def verify_request_token(self, token, request):
        return token in self.request_tokens

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce,
                                     request, request_token=None,
                                     access_token=None):
        key = (client_key, timestamp, nonce, request_token or access_token or "")
        if key in self.nonces:
            self.replays += 1
            return False
        ts = int(timestamp)
        if len(self.nonces) > 10000:
            horizon = time.time() - 2 * self._lifetime
            self.nonces = {k: v for k, v in self.nonces.items() if v >= horizon}
        self.nonces[key] = ts
        return True

    # ---- persistence -----------------------------------------------------
    def save_request_token(self, token, request):
        self.request_tokens[token["oauth_token"]] = {
            "client_key": request.client_key,
            "secret": token["oauth_token_secret"],
            "callback": request.redirect_uri,
            "realms": list(request.realms or []),
            "verifier": None,
        }

    def save_verifier(self, token, verifier, request):
        self.request_tokens[token]["verifier"] = verifier["oauth_verifier"]

    def invalidate_request_token(self, client_key, request_token, request):
        self.request_tokens.pop(request_token, None)

    def save_access_token(self, token, request):
        self.access_tokens[token["oauth_token"]] = {
            "client_key": request.client_key,
            "secret": token["oauth_token_secret"],
            "realms": list(request.realms or []),
            "user_id": token.get("user_id", self.user_id),
            "screen_name": token.get("screen_name", self.screen_name),
        }


class AccessEndpoint(AccessTokenEndpoint):
    """Adds the authorizing user to the token credentials response."""

    def create_access_token(self, request, credentials):
        creds = dict(credentials)
        creds["user_id"] = self.request_validator.user_id
        creds["screen_name"] = self.request_validator.screen_name
        return super().create_access_token(request, creds)


class State:
    def __init__(self, validator, quiet):
        self.validator = validator
        self.quiet = quiet
        self.request_token = RequestTokenEndpoint(validator)
        self.authorization = AuthorizationEndpoint(validator)
        self.access_token = AccessEndpoint(validator)
        self.resource = ResourceEndpoint(validator)
        self.counts = new_counts()
        self.fail = {}  # endpoint -> [status, remaining]


ENDPOINT_PATHS = {
    "/request_token": "request_token",
    "/authorize": "authorize",
    "/access_token": "access_token",
    "/resource": "resource",
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    server_version = "plugboard-oauth1-provider/1"
    state = None  # set in main

    # ---- plumbing ----------------------------------------------------------
    def log_message(self, fmt, *args):
        if not self.state.quiet:
            sys.stderr.write("oauth1-provider: %s\n" % (fmt % args))

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status, body=b"", headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        body = body or b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        self.send(status, json.dumps(obj, sort_keys=True) + "\n", h)

    def full_uri(self):
        if self.path.startswith(("http://", "https://")):
            return self.path
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return "http://%s%s" % (host, self.path)

    def count(self, name, status):
        self.state.counts[name] += 1
        if status >= 400:
            self.state.counts[name + "_failures"] += 1

    # ---- dispatch ----------------------------------------------------------
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.send(400, "error=invalid_request&error_description=unreadable+body",
                      {"Content-Type": "application/x-www-form-urlencoded"})
            return
        path = urlsplit(self.path).path
        try:
            with LOCK:
                if path.startswith("/__test/"):
                    self.test_hook(path)
                    return
                name = ENDPOINT_PATHS.get(path)
                if name is None:
                    self.send_json(404, {"error": "not_found", "path": path})
                    return
                allowed = {"request_token": ("POST",), "access_token": ("POST",),
                           "authorize": ("GET",)}.get(name)
                if allowed and self.command not in allowed:
                    self.count(name, 405)
                    self.send_json(405, {"error": "method_not_allowed"},
                                   {"Allow": ", ".join(allowed)})
                    return
                if self.inject_failure(name):
                    return
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    self.count(name, 400)
                    self.send(400, "error=invalid_request&error_description=body+is+not+UTF-8",
                              {"Content-Type": "application/x-www-form-urlencoded"})
                    return
                getattr(self, "handle_" + name)(text)
        except Exception as exc:  # keep the server alive; report the bug
            import traceback
            traceback.print_exc()
            try:
                self.send_json(500, {"error": "server_error", "detail": repr(exc)})
            except OSError:
                pass

    def inject_failure(self, name):
        plan = self.state.fail.get(name)
        if not plan or plan[1] <= 0:
            return False
        status = plan[0]
        plan[1] -= 1
        if plan[1] <= 0:
            del self.state.fail[name]
        self.state.counts["injected_failures"] += 1
        self.count(name, status)
        self.send(status, "error=injected_failure&error_description=requested+by+__test%2Ffail",
                  {"Content-Type": "application/x-www-form-urlencoded", "Retry-After": "0"})
        return True

    def oauth_headers(self):
        return {k: v for k, v in self.headers.items()}

    def respond_oauth(self, name, headers, body, status):
        self.count(name, status)
        headers = dict(headers or {})
        if status == 401:
            headers["WWW-Authenticate"] = 'OAuth realm="plugboard-test"'
        if body is None:
            body = "error=unauthorized" if status == 401 else ""
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        self.send(status, body, headers)

    # ---- OAuth endpoints ------------------------------------------------------
    def handle_request_token(self, body):
        try:
            h, b, s = self.state.request_token.create_request_token_response(
                self.full_uri(), http_method=self.command, body=body,
                headers=self.oauth_headers())
        except ValueError as exc:  # malformed Authorization header or query
            h, b, s = {}, urlencode({"error": "invalid_request",
                                     "error_description": str(exc)}), 400
        self.respond_oauth("request_token", h, b, s)

    def handle_authorize(self, body):
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        token = query.get("oauth_token", "")
        deny = query.get("deny", "") not in ("", "0", "false")
        v = self.state.validator
        try:
            if deny and token in v.request_tokens:
                cb = v.request_tokens[token]["callback"]
                if cb == "oob":
                    self.respond_oauth("authorize", {"Content-Type": "application/x-www-form-urlencoded"},
                                       urlencode({"denied": token}), 200)
                else:
                    sep = "&" if urlsplit(cb).query else "?"
                    self.respond_oauth("authorize", {"Location": cb + sep + urlencode({"denied": token})},
                                       "", 302)
                return
            h, b, s = self.state.authorization.create_authorization_response(
                self.full_uri(), http_method="GET", body=body,
                headers=self.oauth_headers())
        except oauth_errors.OAuth1Error as exc:
            h, b, s = ({"Content-Type": "application/x-www-form-urlencoded"},
                       exc.urlencoded, exc.status_code)
        except ValueError as exc:
            h, b, s = ({"Content-Type": "application/x-www-form-urlencoded"},
                       urlencode({"error": "invalid_request", "error_description": str(exc)}), 400)
        self.respond_oauth("authorize", h, b, s)

    def handle_access_token(self, body):
        try:
            h, b, s = self.state.access_token.create_access_token_response(
                self.full_uri(), http_method=self.command, body=body,
                headers=self.oauth_headers())
        except ValueError as exc:
            h, b, s = {}, urlencode({"error": "invalid_request",
                                     "error_description": str(exc)}), 400
        self.respond_oauth("access_token", h, b, s)

    def handle_resource(self, body):
        v = self.state.validator
        replays_before = v.replays
        try:
            ok, req = self.state.resource.validate_protected_resource_request(
                self.full_uri(), http_method=self.command, body=body,
                headers=self.oauth_headers())
        except ValueError as exc:
            ok, req = False, None
            reason = str(exc)
        else:
            reason = ""
        if not ok:
            if v.replays != replays_before:
                reason = "nonce already used"
            elif req is not None and req.validator_log:
                reason = "validation failed: " + ", ".join(
                    "%s=%s" % kv for kv in sorted(req.validator_log.items()))
            elif not reason:
                reason = "malformed or incomplete OAuth request"
            self.count("resource", 401)
            self.send_json(401, {"ok": False, "error": "unauthorized", "reason": reason},
                           {"WWW-Authenticate": 'OAuth realm="plugboard-test"'})
            return
        at = v.access_tokens[req.resource_owner_key]
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() == "oauth ":
            transmission = "header"
        elif "oauth_signature" in dict(parse_qsl(urlsplit(self.path).query)):
            transmission = "query"
        else:
            transmission = "body"
        params = {}
        for k, val in req.params:
            if not k.startswith("oauth_") and k != "realm":
                params.setdefault(k, []).append(val)
        self.count("resource", 200)
        self.send_json(200, {
            "ok": True,
            "user": at["user_id"],
            "screen_name": at["screen_name"],
            "consumer_key": req.client_key,
            "signature_method": req.signature_method,
            "transmission": transmission,
            "method": self.command,
            "params": params,
        })

    # ---- test hooks -------------------------------------------------------------
    def test_hook(self, path):
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        if path == "/__test/counts" and self.command == "GET":
            counts = dict(self.state.counts)
            counts["nonce_replays"] = self.state.validator.replays
            self.send_json(200, counts)
        elif path == "/__test/fail" and self.command == "POST":
            endpoint = query.get("endpoint", "access_token")
            if endpoint not in ENDPOINT_PATHS.values():
                self.send_json(400, {"error": "unknown endpoint %r" % endpoint})
                return
            try:
                status = int(query.get("status", "503"))
                count = int(query.get("count", "1"))
            except ValueError:
                self.send_json(400, {"error": "status and count must be integers"})
                return
            if not 100 <= status <= 599 or count < 0:
                self.send_json(400, {"error": "status must be 100-599 and count >= 0"})
                return
            if count == 0:
                self.state.fail.pop(endpoint, None)
            else:
                self.state.fail[endpoint] = [status, count]
            self.send_json(200, {"endpoint": endpoint, "status": status, "count": count})
        elif path == "/__test/reset" and self.command == "POST":
            self.state.counts = new_counts()
            self.state.validator.replays = 0
            self.state.fail = {}
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": "not_found", "path": path})


def parse_consumers(values):
    consumers = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, secret = item.partition(":")
            if not sep or not key or not secret:
                raise SystemExit("provider.py: consumer %r is not key:secret" % item)
            consumers[key] = secret
    return consumers


def main(argv=None):
    p = argparse.ArgumentParser(description="OAuth 1.0a test provider (oauthlib)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("OAUTH1_PROVIDER_PORT", "0")),
                   help="0 picks a free port (env OAUTH1_PROVIDER_PORT)")
    p.add_argument("--consumer", action="append", default=[],
                   help="key:secret, repeatable or comma separated "
                        "(env OAUTH1_PROVIDER_CONSUMERS)")
    p.add_argument("--user-id", default=os.environ.get("OAUTH1_PROVIDER_USER_ID", "1001"))
    p.add_argument("--screen-name",
                   default=os.environ.get("OAUTH1_PROVIDER_SCREEN_NAME", "plugboard-test-user"))
    p.add_argument("--signature-method", action="append", default=[],
                   help="allowed method, repeatable (default HMAC-SHA1 and HMAC-SHA256)")
    p.add_argument("--realm", action="append", default=[],
                   help="allowed realm, repeatable (default: any realm accepted)")
    p.add_argument("--timestamp-lifetime", type=int, default=600)
    p.add_argument("--watch-stdin", action="store_true",
                   help="exit when stdin reaches EOF (parent process went away)")
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = p.parse_args(argv)

    consumer_values = list(args.consumer)
    if os.environ.get("OAUTH1_PROVIDER_CONSUMERS"):
        consumer_values.append(os.environ["OAUTH1_PROVIDER_CONSUMERS"])
    consumers = parse_consumers(consumer_values)
    if not consumers:
        p.error("at least one --consumer key:secret is required")
    methods = args.signature_method or list(DEFAULT_METHODS)
    for m in methods:
        if m not in SUPPORTED_METHODS:
            p.error("unsupported signature method %r (have %s)" % (m, ", ".join(SUPPORTED_METHODS)))

    validator = Validator(consumers, args.user_id, args.screen_name, methods,
                          args.timestamp_lifetime, args.realm)
    for key in consumers:
        if not validator.check_client_key(key):
            p.error("consumer key %r must be %d-%d characters of [A-Za-z0-9-._~]"
                    % ((key,) + validator.client_key_length))
    Handler.state = State(validator, args.quiet)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    sys.stdout.write(json.dumps({"url": "http://%s:%d" % (host, port)}) + "\n")
    sys.stdout.flush()

    if args.watch_stdin:
        def watch():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except OSError:
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()

    import signal
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
