"""A hostile MCP server over raw stdio lines, for tests/mcp.rs: `flood` answers tools/list only
after 20000 notifications/tools/list_changed, a line that is not JSON, an answer nobody asked
for and a batch; `oversized` answers tools/call with a line of 2 MiB."""

import json
import sys

mode = sys.argv[1]
out = sys.stdout


def send(obj):
    out.write(json.dumps(obj) + "\n")
    out.flush()


TOOLS = [{"name": "add", "description": "Adds two numbers.", "inputSchema": {"type": "object"}}]

for line in sys.stdin:
    msg = json.loads(line)
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": "2025-06-18",
              "capabilities": {"tools": {"listChanged": True}}, "serverInfo": {"name": "hostile", "version": "1"}}})
    elif method == "tools/list":
        if mode == "flood" and not str(mid).startswith("bulwark-recheck"):
            note = json.dumps({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}) + "\n"
            out.write(note * 20000)
            out.write("{{{ not json\n")
            out.write(json.dumps({"jsonrpc": "2.0", "id": 999, "result": {}}) + "\n")
            out.write(json.dumps([{"jsonrpc": "2.0", "method": "x"}]) + "\n")
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        if mode == "oversized":
            out.write(json.dumps({"jsonrpc": "2.0", "id": mid, "result": {"content": [
                {"type": "text", "text": "x" * (2 * 1024 * 1024)}]}}) + "\n")
            out.flush()
        else:
            send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "2"}]}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "method not found"}})
