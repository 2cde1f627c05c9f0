"""What an on-call approver does with the approval a withheld tool call names: read it through
the sidecar's API, and approve the digest it was shown. Shared by the SDK clients here."""
import json
import re
import urllib.request


def approve(approvals_url, approver, text):
    """Approve the approval `text` names; returns the command that was approved (None if none)."""
    m = re.search(r"Approval (\S+) \(intent digest sha256:([0-9a-f]{64})\)", text or "")
    if not m:
        return None
    auth = {"Authorization": f"Bearer {approver}", "Content-Type": "application/json"}
    shown = json.load(urllib.request.urlopen(urllib.request.Request(f"{approvals_url}/{m.group(1)}", headers=auth)))
    body = json.dumps({"digest": shown["approval"]["digest"]}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{approvals_url}/{m.group(1)}/approve", data=body, headers=auth, method="POST"))
    return shown["intent"]["args"]["command"]
