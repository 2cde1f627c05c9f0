"""Send a Slack or Discord interaction to Bulwark, signed the way the platform signs it, with
Python's own hmac (Slack's v0) and PyNaCl (Discord's Ed25519): an implementation independent of
Bulwark's. Prints the HTTP status, then the body.

  click.py slack URL SIGNING_SECRET TIMESTAMP PAYLOAD_JSON [tamper]
  click.py discord URL SEED_HEX TIMESTAMP BODY_JSON [tamper]
  click.py discord-public-key SEED_HEX
"""
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request

mode = sys.argv[1]
if mode == "discord-public-key":
    from nacl.signing import SigningKey

    print(SigningKey(bytes.fromhex(sys.argv[2])).verify_key.encode().hex())
    sys.exit(0)

url, secret, ts, body = sys.argv[2:6]
tamper = len(sys.argv) > 6 and sys.argv[6] == "tamper"
if mode == "slack":
    data = urllib.parse.urlencode({"payload": body}).encode()
    mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + data, hashlib.sha256)
    sig = "v0=" + mac.hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sig,
    }
elif mode == "discord":
    from nacl.signing import SigningKey

    data = body.encode()
    sig = SigningKey(bytes.fromhex(secret)).sign(ts.encode() + data).signature.hex()
    headers = {
        "Content-Type": "application/json",
        "X-Signature-Ed25519": sig,
        "X-Signature-Timestamp": ts,
    }
else:
    sys.exit("mode: slack, discord or discord-public-key")
if tamper:
    data = data + b" "
request = urllib.request.Request(url, data=data, headers=headers, method="POST")
try:
    with urllib.request.urlopen(request, timeout=30) as r:
        print(r.status)
        print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
    print(e.read().decode())
