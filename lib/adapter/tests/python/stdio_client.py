#!/usr/bin/env python3
"""The official MCP Python SDK (``mcp>=2,<3``) stdio client, with ``mcp-runtime adapter stdio``
as its "server" command.

Usage: stdio_client.py COMMAND [ARG...]

It spawns the command with the SDK's ``stdio_client``, runs ``ClientSession.initialize()``,
lists the tools, calls ``echo`` (granted) and ``upper`` (not granted), and prints ONE JSON
line with what it saw. Then it waits for a line on its own stdin (the test revokes the
adapter's session meanwhile), calls ``echo`` until refused (at most 3 s), prints a second JSON
line and exits. A JSON-RPC error is an observation; anything else unexpected exits 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

try:
    import mcp_types as types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"stdio_client.py: the MCP Python SDK is not importable ({exc})", file=sys.stderr)
    sys.exit(1)

TIMEOUT_SECONDS = 20.0


def describe_error(exc: MCPError) -> dict[str, Any]:
    return {"ok": False, "code": exc.code, "message": exc.message, "data": exc.data}


async def call(session: ClientSession, tool: str) -> dict[str, Any]:
    try:
        result = await session.call_tool(tool, {"text": "hello"})
    except MCPError as exc:
        return describe_error(exc)
    text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
    return {"ok": True, "is_error": bool(result.is_error), "text": text}


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(command: str, args: list[str]) -> None:
    params = StdioServerParameters(command=command, args=args)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=TIMEOUT_SECONDS) as session:
            init = await session.initialize()
            first: dict[str, Any] = {"negotiated": session.protocol_version}
            first["server"] = init.server_info.name if init.server_info else None
            listed = await session.list_tools()
            first["tools"] = sorted(t.name for t in listed.tools)
            # The second list is answered from the adapter's cache: same answer.
            again = await session.list_tools()
            first["tools_again"] = sorted(t.name for t in again.tools)
            first["echo"] = await call(session, "echo")
            first["upper"] = await call(session, "upper")
            emit(first)
            await asyncio.to_thread(sys.stdin.readline)
            second: dict[str, Any] = {}
            deadline = time.monotonic() + 3.0
            while True:
                answer = await call(session, "echo")
                if not answer["ok"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            second["after_revoke"] = answer
            emit(second)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
