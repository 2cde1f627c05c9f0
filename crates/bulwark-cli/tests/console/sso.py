"""Sign in to Bulwark's web console through a fake OpenID Connect provider, in headless Chromium
driven by selenium (tests/console.rs starts both). One JSON argument: the console's base URL.
Alice (mapped to the approver alice) gets in; mallory (not listed) is refused, and so is everyone
whose ID token is wrong (fake_idp.py says how).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_support import D, check, click, go, one  # noqa: E402

BASE = json.loads(sys.argv[1])["base"]


def sso_as(person):
    go("/console/approvals")
    check("/console/login" in D.current_url, "not sent to sign in")
    click(one("#sso"))
    check("Who are you?" in D.page_source, "not at the identity provider")
    click(one("#" + person))


sso_as("alice")
check(D.current_url == BASE + "/console/approvals", "alice landed on " + D.current_url)
check("alice" in one("#who").text, "not signed in as alice")
click(one("#sign-out"))

for person, why in [
    ("mallory", "not an approver here"),
    ("unverified", "not verified"),
    ("forged", "ID token was refused"),
    ("unsigned", "ID token was refused"),
    ("late", "ID token was refused"),
    ("stranger", "ID token was refused"),
    ("replayed", "ID token was refused"),
]:
    sso_as(person)
    check(why in one("#error").text, "%s: %s" % (person, one("#error").text))
    go("/console/approvals")
    check("/console/login" in D.current_url, person + " got in")

D.quit()
print("sso: ok")
