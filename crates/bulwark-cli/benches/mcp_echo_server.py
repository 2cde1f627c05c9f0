"""A minimal MCP server over raw stdio lines for benches/mcp_stdio.rs: answers initialize,
tools/list and tools/call at once; every call's result is the same 4 KB of prose."""

import json
import sys

TEXT = ("The quarterly report lists revenue by region, the open incidents and the planned "
        "maintenance windows for the storage cluster. ") * 32
TEXT = TEXT[:4096]
TOOLS = [{"name": "fetch_report", "description": "Returns the quarterly report.",
          "inputSchema": {"type": "object", "properties": {"region": {"type": "string"}}}}]
out = sys.stdout
for line in sys.stdin:
    msg = json.loads(line)
    mid, method = msg.get("id"), msg.get("method")
    if mid is None:
        continue
    if method == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                  "serverInfo": {"name": "echo", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        result = {"content": [{"type": "text", "text": TEXT}], "isError": False}
    else:
        result = {}
    out.write(json.dumps({"jsonrpc": "2.0", "id": mid, "result": result}) + "\n")
    out.flush()
