#!/usr/bin/env python3
"""The official MCP Python SDK (``mcp>=2,<3``) as the agent, through mcp-gateway.

Usage: client.py URL TOKEN VERSION

VERSION picks how the session is negotiated:

* ``2025-11-25``: ``ClientSession.initialize()``, the SDK's own handshake (it always
  offers ``LATEST_HANDSHAKE_VERSION``, which is 2025-11-25 in mcp 2.x).
* ``2025-06-18``: the SDK has no switch for the version ``initialize()`` offers, so the
  script sends the same ``InitializeRequest`` with ``protocolVersion: 2025-06-18``
  through ``ClientSession.send_request`` and installs the answer with the public
  ``ClientSession.adopt()``, then sends ``notifications/initialized`` (exactly what
  ``initialize()`` does, with the other offer).
* ``2026-07-28``: ``ClientSession.discover()``, the stateless era's ``server/discover``
  probe, then per-request ``_meta`` envelopes.
* ``auto``: the high-level ``mcp.Client`` in its default ``mode="auto"`` over the same
  transport (what most applications write): discover, falling back to ``initialize``.

Then it lists the tools, calls ``aaa-ping``, ``add`` (7+5), ``upper`` (denied: trust too
low) and ``add`` with a=5000 (denied: argument rule), and prints ONE JSON object on
stdout with what it saw, including every HTTP exchange (method, status, content type,
MCP headers). A JSON-RPC error on a call is an observation, not a failure; anything
else unexpected exits 1 with a message on stderr.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import traceback
from contextlib import AsyncExitStack
from typing import Any

VERSIONS = ("2025-06-18", "2025-11-25", "2026-07-28", "auto")
TIMEOUT_SECONDS = 20.0

# Each call: (label, tool, arguments).
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("ping", "aaa-ping", {}),
    ("add", "add", {"a": 7, "b": 5}),
    ("upper", "upper", {"text": "x"}),
    ("add_over_limit", "add", {"a": 5000, "b": 1}),
]


def fail(message: str) -> None:
    print(f"client.py: {message}", file=sys.stderr)
    sys.exit(1)


try:
    import httpx2
    import mcp
    import mcp_types as types
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # pragma: no cover - environment problem
    fail(f"the MCP Python SDK is not importable ({exc}); install 'mcp>=2,<3'")


def sdk_version() -> str:
    from importlib.metadata import version

    return version("mcp")


class HttpLog:
    """Records every HTTP exchange the SDK makes (httpx2 event hooks)."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []

    async def on_request(self, request: httpx2.Request) -> None:
        entry: dict[str, Any] = {
            "method": request.method,
            "accept": request.headers.get("accept"),
            "mcp-protocol-version": request.headers.get("mcp-protocol-version"),
            "mcp-session-id": request.headers.get("mcp-session-id"),
            "mcp-method": request.headers.get("mcp-method"),
            "mcp-name": request.headers.get("mcp-name"),
            "authorization": "Bearer ..." if request.headers.get("authorization", "").startswith("Bearer ") else None,
        }
        if request.method == "POST":
            try:
                body = json.loads(request.content or b"null")
                entry["rpc"] = body.get("method") if isinstance(body, dict) else None
                if isinstance(body, dict) and body.get("method") == "tools/call":
                    entry["tool"] = (body.get("params") or {}).get("name")
            except (ValueError, httpx2.RequestNotRead):
                entry["rpc"] = "?"
        request.extensions["mcp_log"] = entry
        self.exchanges.append(entry)

    async def on_response(self, response: httpx2.Response) -> None:
        entry = response.request.extensions.get("mcp_log")
        if entry is None:
            return
        entry["status"] = response.status_code
        entry["content-type"] = response.headers.get("content-type")
        for name in ("mcp-session-id", "mcp-protocol-version", "www-authenticate"):
            if (value := response.headers.get(name)) is not None:
                entry[f"response-{name}"] = value


def describe_error(exc: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": False, "exception": f"{type(exc).__module__}.{type(exc).__qualname__}"}
    if isinstance(exc, MCPError):
        out.update(code=exc.code, message=exc.message, data=exc.data)
    else:
        out["message"] = str(exc)
    return out


def texts_of(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def negotiate(session: ClientSession, version: str) -> str:
    if version == "2025-11-25":
        await session.initialize()
        return "ClientSession.initialize()"
    if version == "2025-06-18":
        result = await session.send_request(
            types.InitializeRequest(
                params=types.InitializeRequestParams(
                    protocol_version=version,
                    capabilities=types.ClientCapabilities(),
                    client_info=types.Implementation(name="mcp-gateway-python-it", version="0.1.0"),
                )
            ),
            types.InitializeResult,
        )
        session.adopt(result)
        await session.send_notification(types.InitializedNotification())
        return "InitializeRequest(protocolVersion=2025-06-18) + ClientSession.adopt()"
    if version == "2026-07-28":
        await session.discover()
        return "ClientSession.discover()"
    raise AssertionError(version)


async def exercise(session: ClientSession, observed: dict[str, Any]) -> None:
    try:
        listed = await session.list_tools()
        observed["tools"] = sorted(t.name for t in listed.tools)
    except MCPError as exc:
        observed["tools_error"] = describe_error(exc)
    calls: dict[str, Any] = {}
    observed["calls"] = calls
    for label, tool, arguments in CALLS:
        try:
            result = await session.call_tool(tool, arguments)
        except MCPError as exc:
            calls[label] = describe_error(exc)
        else:
            calls[label] = {"ok": True, "is_error": bool(result.is_error), "text": texts_of(result)}


async def run(url: str, token: str, version: str) -> dict[str, Any]:
    log = HttpLog()
    observed: dict[str, Any] = {"requested": version, "sdk": f"mcp {sdk_version()}", "http": log.exchanges}
    http_client = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(TIMEOUT_SECONDS),
        event_hooks={"request": [log.on_request], "response": [log.on_response]},
    )
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(http_client)
        transport = streamable_http_client(url, http_client=http_client)
        if version == "auto":
            client = await stack.enter_async_context(mcp.Client(transport, read_timeout_seconds=TIMEOUT_SECONDS))
            session = client.session
            observed["negotiation"] = 'mcp.Client(mode="auto")'
        else:
            read, write = await stack.enter_async_context(transport)
            session = await stack.enter_async_context(
                ClientSession(read, write, read_timeout_seconds=TIMEOUT_SECONDS)
            )
            observed["negotiation"] = await negotiate(session, version)
        observed["negotiated"] = session.protocol_version
        observed["era"] = "discover" if session.discover_result is not None else "initialize"
        info = session.server_info
        observed["server_info"] = info.model_dump(mode="json", exclude_none=True) if info else None
        await exercise(session, observed)
    observed["seconds"] = round(time.monotonic() - started, 3)
    return observed


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside anyio's (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def main(argv: list[str]) -> None:
    if len(argv) != 4 or argv[3] not in VERSIONS:
        fail(f"usage: client.py URL TOKEN {{{'|'.join(VERSIONS)}}}")
    _, url, token, version = argv
    try:
        observed = asyncio.run(asyncio.wait_for(run(url, token, version), 3 * TIMEOUT_SECONDS))
    except Exception as exc:  # noqa: BLE001 - report anything unexpected and exit non-zero
        traceback.print_exc()
        reasons = []
        for leaf in leaves(exc):
            if isinstance(leaf, MCPError):
                reasons.append(f"MCPError code={leaf.code} message={leaf.message!r} data={leaf.data!r}")
            else:
                reasons.append(f"{type(leaf).__module__}.{type(leaf).__qualname__}: {leaf}")
        fail(f"{version}: unexpected " + "; ".join(reasons))
    json.dump(observed, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
