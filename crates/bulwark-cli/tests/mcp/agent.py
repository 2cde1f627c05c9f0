"""A small agent on the official SDKs, for tests/mcp.rs: its model behind Bulwark's model gateway
(the `openai` SDK, base URL pointed at `bulwark serve`) and its tools from an MCP server wrapped
by `bulwark mcp wrap` (the `mcp` SDK). It reads a file through MCP, asks the model what to do,
runs the call the model proposes through MCP, and then tries two calls no model proposed.

usage: agent.py BASE_URL TOKEN NOTES_PATH TASK OTHER_PATH -- CMD ARGS...
Prints, as JSON, what each step gave.
"""

import asyncio
import json
import os
import sys

import openai
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters


def text_of(r):
    return "".join(getattr(c, "text", "") for c in r.content)


async def main() -> None:
    base, token, notes, task, other = sys.argv[1:6]
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=dict(os.environ))
    model = openai.OpenAI(base_url=base, api_key=token, max_retries=0)
    out = {"steps": []}

    async def call(name, args):
        try:
            r = await c.call_tool(name, args)
            out["steps"].append({"call": name, "result": text_of(r), "is_error": bool(r.is_error)})
        except Exception as e:  # the SDK raises MCPError for a JSON-RPC error
            out["steps"].append({"call": name, "error": str(e)})

    async with Client(params, read_timeout_seconds=30) as c:
        await c.list_tools()
        read = await c.call_tool("read_text_file", {"path": notes})
        content = text_of(read)
        out["steps"].append({"call": "read_text_file", "result": content})
        reply = model.chat.completions.create(
            model="fake-model",
            messages=[
                {"role": "user", "content": task},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_read",
                            "type": "function",
                            "function": {
                                "name": "mcp__fs__read_text_file",
                                "arguments": json.dumps({"path": notes}),
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_read", "content": content},
            ],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": f"mcp__fs__{t}",
                        "parameters": {
                            "type": "object",
                            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                        },
                    },
                }
                for t in ("read_text_file", "write_file")
            ],
        )
        proposed = reply.choices[0].message.tool_calls or []
        out["proposed"] = [p.function.name for p in proposed]
        for p in proposed:
            # The client's prefix off: the MCP server's own name.
            await call(p.function.name.split("__")[-1], json.loads(p.function.arguments))
        # A write no model proposed through the gateway, in the same tainted session.
        await call("write_file", {"path": other, "content": "deploy key"})
        # The proposed call again: its judgement was taken once.
        for p in proposed:
            await call(p.function.name.split("__")[-1], json.loads(p.function.arguments))
    print(json.dumps(out))


asyncio.run(main())
