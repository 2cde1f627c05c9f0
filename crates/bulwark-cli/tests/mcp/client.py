"""A test MCP client on the official Python SDK: runs steps against a stdio server command and
prints what each gave, as JSON, for the Rust tests (tests/mcp.rs).

usage: client.py MODE STEPS_JSON -- CMD ARGS...   (stdio)
       client.py MODE STEPS_JSON -- http URL TOKEN  (Streamable HTTP, TOKEN as the bearer)
MODE: `auto` (the SDK's default: server/discover, 2026-07-28) or `legacy` (the initialize
handshake). STEPS_JSON: a list of {"op": "list" | "call" | "prompts" | "resources" | "templates" | "read",
"name": ..., "args": {...}, "uri": ...} or {"op": "sleep", "seconds": N}.
"""

import asyncio
import json
import os
import sys

from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters


def dump(x):
    return x.model_dump(mode="json", by_alias=True, exclude_none=True)


async def main() -> None:
    mode, steps = sys.argv[1], json.loads(sys.argv[2])
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    if cmd[0] == "http":
        # `http URL TOKEN`: Streamable HTTP, the token as the bearer.
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {cmd[2]}"}, timeout=30)
        params = streamable_http_client(cmd[1], http_client=http)
    else:
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=dict(os.environ))
    out = {"steps": []}
    async with Client(params, mode=mode, read_timeout_seconds=30) as c:
        out["protocol"] = c.protocol_version
        out["instructions"] = c.instructions
        for s in steps:
            op = s["op"]
            try:
                if op == "list":
                    r = await c.list_tools()
                    out["steps"].append({"tools": {t.name: dump(t) for t in r.tools}})
                elif op == "call":
                    r = await c.call_tool(s["name"], s.get("args", {}))
                    out["steps"].append({"result": dump(r)})
                elif op == "prompts":
                    r = await c.list_prompts()
                    out["steps"].append({"prompts": [p.name for p in r.prompts]})
                elif op == "resources":
                    r = await c.list_resources()
                    out["steps"].append({"resources": [x.uri for x in r.resources]})
                elif op == "approve":
                    # Approve the call the last refusal withheld, as an approver would.
                    import re
                    import subprocess

                    last = out["steps"][-1]["error"]
                    m = re.search(r"Approval ([0-9a-f]+) \(intent digest (sha256:[0-9a-f]+)\)", last)
                    r = subprocess.run(
                        [s["bulwark"], "approvals", "approve", m.group(1), "--digest", m.group(2), "--as", s["as"]],
                        capture_output=True, text=True,
                    )
                    out["steps"].append({"approved": r.returncode, "stderr": r.stderr})
                elif op == "templates":
                    r = await c.list_resource_templates()
                    out["steps"].append({"templates": [x.uri_template for x in r.resource_templates]})
                elif op == "sleep":
                    await asyncio.sleep(s["seconds"])
                    out["steps"].append({"slept": s["seconds"]})
                elif op == "read":
                    r = await c.read_resource(s["uri"])
                    out["steps"].append({"result": dump(r)})
                else:
                    raise ValueError(op)
            except Exception as e:  # the SDK raises MCPError for a JSON-RPC error
                out["steps"].append({"error": str(e)})
    print(json.dumps(out))


asyncio.run(main())
