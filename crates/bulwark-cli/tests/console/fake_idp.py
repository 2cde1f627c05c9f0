"""A fake OpenID Connect provider for tests/console.rs, written apart from Bulwark's code.

Usage: fake_idp.py CLIENT_ID CLIENT_SECRET REDIRECT_URI. Prints its port, then serves:
discovery, its keys (JWKS), an authorization page where a person is picked by a link, and a
token endpoint that checks the code (once), the PKCE verifier (S256), the client's secret and the
redirect URI, and answers with an RS256 ID token (signed with Python's `cryptography`).

People: alice@example.com and mallory@example.com (verified e-mail), and people whose ID token
is wrong in one way each: unverified@ (e-mail not verified), forged@ (signed with a key the
provider does not publish), unsigned@ (`alg: none`), late@ (expired), stranger@ (for another
client) and replayed@ (another flow's nonce).
"""

import base64
import hashlib
import html
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLIENT_ID, CLIENT_SECRET, REDIRECT_URI = sys.argv[1], sys.argv[2], sys.argv[3]
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROGUE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEOPLE = {
    "alice@example.com": True,
    "mallory@example.com": True,
    "unverified@example.com": False,
    "forged@example.com": True,
    "unsigned@example.com": True,
    "late@example.com": True,
    "stranger@example.com": True,
    "replayed@example.com": True,
}
PENDING = {}  # tx -> the authorization request
CODES = {}  # code -> what it was issued for
LOCK = threading.Lock()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n):
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwt(claims, key):
    head = b64(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signed = (head + "." + body).encode()
    sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return head + "." + body + "." + b64(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def issuer(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        iss = self.issuer()
        if url.path == "/.well-known/openid-configuration":
            return self.reply(200, json.dumps({
                "issuer": iss,
                "authorization_endpoint": iss + "/authorize",
                "token_endpoint": iss + "/token",
                "jwks_uri": iss + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            }))
        if url.path == "/jwks":
            pub = KEY.public_key().public_numbers()
            return self.reply(200, json.dumps({"keys": [{
                "kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                "n": uint(pub.n), "e": uint(pub.e),
            }]}))
        if url.path == "/authorize":
            ok = (
                q.get("client_id") == CLIENT_ID
                and q.get("redirect_uri") == REDIRECT_URI
                and q.get("response_type") == "code"
                and q.get("code_challenge_method") == "S256"
                and q.get("code_challenge")
                and q.get("state")
                and q.get("nonce")
                and "openid" in q.get("scope", "").split()
            )
            if not ok:
                return self.reply(400, "bad authorization request: %r" % q, "text/plain")
            tx = secrets.token_urlsafe(16)
            with LOCK:
                PENDING[tx] = q
            links = "".join(
                '<p><a id="%s" href="/login?tx=%s&amp;user=%s">%s</a></p>'
                % (html.escape(p.split("@")[0]), tx, urllib.parse.quote(p), html.escape(p))
                for p in PEOPLE
            )
            return self.reply(200, "<!doctype html><title>Fake IdP</title><h1>Who are you?</h1>" + links,
                              "text/html; charset=utf-8")
        if url.path == "/login":
            with LOCK:
                req = PENDING.pop(q.get("tx", ""), None)
            if req is None or q.get("user") not in PEOPLE:
                return self.reply(400, "unknown transaction", "text/plain")
            code = secrets.token_urlsafe(24)
            with LOCK:
                CODES[code] = dict(req, user=q["user"], at=time.time())
            to = req["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": req["state"]})
            return self.reply(302, "", "text/plain", [("Location", to)])
        return self.reply(404, "not found", "text/plain")

    def do_POST(self):
        if urllib.parse.urlparse(self.path).path != "/token":
            return self.reply(404, "not found", "text/plain")
        n = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
        client, secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            client, secret = urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(pw)
        if client != CLIENT_ID or secret != CLIENT_SECRET:
            return self.reply(401, json.dumps({"error": "invalid_client"}))
        with LOCK:
            grant = CODES.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return self.reply(400, json.dumps({"error": "invalid_grant"}))
        challenge = b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge != grant["code_challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return self.reply(400, json.dumps({"error": "invalid_grant", "error_description": "PKCE or redirect"}))
        user, now = grant["user"], int(time.time())
        claims = {
            "iss": self.issuer(), "sub": "sub-" + user.split("@")[0], "aud": CLIENT_ID,
            "iat": now, "exp": now + 300, "nonce": grant["nonce"],
            "email": user, "email_verified": PEOPLE[user],
        }
        who = user.split("@")[0]
        if who == "late":
            claims.update(iat=now - 3600, exp=now - 1800)
        if who == "stranger":
            claims["aud"] = "another-client"
        if who == "replayed":
            claims["nonce"] = "a-nonce-from-another-flow"
        if who == "unsigned":
            head = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            token = head + "." + b64(json.dumps(claims).encode()) + "."
        else:
            token = jwt(claims, ROGUE if who == "forged" else KEY)
        return self.reply(200, json.dumps({
            "access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
            "id_token": token,
        }), headers=[("Cache-Control", "no-store")])


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
