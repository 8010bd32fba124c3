"""The upstream runs with exactly what the guard checked (issue 11, items 1 and 11; issue 12, item 5).

A Python MCP server coerces what it receives (`"0"` to `0` for an `int`), by rules the proxy
cannot see. The proxy forwards what the guard allowed only when every value has the JSON type
the tool's `inputSchema` gives it, so a value a constraint denies cannot reach the tool in another
JSON form; a null for an argument the schema does not require counts as left out; a manifest that
constrains an argument an upstream tool does not take is refused at start. Real MCP servers and
clients: in process, and `guardrail mcp-proxy` as a subprocess in front of a subprocess upstream.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from guardrail_mcp import DENIAL_META_KEY, GuardedServer
from hypothesis import HealthCheck, given, settings
from mcp import Client, StdioServerParameters, types
from mcp.server import MCPServer

from guardrail import Guard, ManifestError, MemoryStore
from guardrail.testing import task_id
from tests.adapters import coercion
from tests.adapters.coercion import FORMS, GOOD, never_denied
from tests.adapters.mcp.support import PROXY_ENTRY, TIMEOUT, child_env, write_manifest
from tests.adapters.mcp.typed_upstream import make_server

TYPED_UPSTREAM = Path(__file__).resolve().parent / "typed_upstream.py"

# The typed upstream's `act` also takes `limit: int | None = 10`.
GRANT: dict[str, Any] = {"args": {**coercion.GRANT["args"], "limit": {"max": 20}}}

# (argument, a form of a denied value a Python upstream coerces to it)
OTHER_TYPES = [
    ("user_id", "0"), ("user_id", " 1 "), ("user_id", 7.0), ("user_id", "1"),
    ("flag", "true"), ("flag", "yes"), ("flag", 1), ("flag", "on"),
    ("amount", "1000"), ("amount", " 1e3 "), ("amount", "100.0"),
]
# The same JSON values as the guard sees them (`1.0` is `1`): denied.
SAME_TYPE = [("user_id", 0), ("user_id", 1.0), ("flag", True), ("amount", 1000), ("amount", 100.0)]


def guard_for(grants: dict[str, Any], **changes: Any) -> Guard:
    return Guard({"task": task_id("coerce"), "ttl": "5m", "tools": grants, **changes}, store=MemoryStore())


async def call_through_proxy(
    upstream: MCPServer, guard: Guard, calls: list[dict[str, Any]]
) -> list[types.CallToolResult]:
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(upstream, guard) as proxy, Client(proxy.server) as client:
            return [await client.call_tool("act", arguments) for arguments in calls]


def refused(result: types.CallToolResult) -> str:
    """The text of an invalid-arguments result (never a denial)."""
    assert result.is_error is True
    assert DENIAL_META_KEY not in (result.meta or {})
    [block] = result.content
    assert isinstance(block, types.TextContent)
    assert block.text.startswith("Invalid arguments for tool 'act': "), block.text
    return block.text


def denied_argument(result: types.CallToolResult) -> str:
    assert result.is_error is True and isinstance(result.structured_content, dict)
    assert result.structured_content["code"] == "argument_invalid"
    return str(result.structured_content["argument"])


# --- item 1: only values of the schema's JSON type reach the upstream -------------------------


@pytest.mark.asyncio
async def test_a_denied_value_in_another_json_form_never_reaches_the_upstream() -> None:
    received: list[dict[str, Any]] = []
    calls = [{**GOOD, argument: form} for argument, form in OTHER_TYPES + SAME_TYPE]
    results = await call_through_proxy(make_server(received.append), guard_for({"act": GRANT}),
                                       [*calls, {"user_id": 8, "flag": False, "amount": 99.5}])
    texts = [refused(result) for result in results[: len(OTHER_TYPES)]]
    assert "'0' is not of type 'integer' at $.user_id" in texts[0]
    assert "7.0 is not of type 'integer' at $.user_id" in texts[2]  # an integer is an int
    assert [denied_argument(r) for r in results[len(OTHER_TYPES):-1]] == [a for a, _ in SAME_TYPE]
    assert results[-1].is_error is False
    assert received == [{"user_id": 8, "flag": False, "amount": 99.5, "limit": 10}]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_id=FORMS, flag=FORMS, amount=FORMS)
def test_property_the_upstream_never_runs_with_a_denied_value(user_id: Any, flag: Any, amount: Any) -> None:
    received: list[dict[str, Any]] = []
    arguments = {"user_id": user_id, "flag": flag, "amount": amount}
    upstream = make_server(received.append)
    [result] = anyio.run(call_through_proxy, upstream, guard_for({"act": GRANT}), [arguments])
    assert result.is_error is not bool(received)
    for values in received:
        never_denied(values)


# --- item 11: a null for an argument the schema does not require is left out -------------------


@pytest.mark.asyncio
async def test_a_null_for_an_optional_argument_is_left_out_and_the_upstream_uses_its_default() -> None:
    received: list[dict[str, Any]] = []
    results = await call_through_proxy(make_server(received.append), guard_for({"act": GRANT}), [
        {**GOOD, "limit": None}, {**GOOD, "limit": 3},
    ])
    assert [r.is_error for r in results] == [False, False]
    assert [values["limit"] for values in received] == [10, 3]  # the default, never None


# --- issue 12, item 5: the manifest is checked against tools/list -------------------------------


@pytest.mark.asyncio
async def test_a_constraint_on_an_argument_the_upstream_tool_lacks_is_a_manifest_error() -> None:
    received: list[dict[str, Any]] = []
    grants = {"act": {"args": {**GRANT["args"], "amout": {"max": 50}}}, "not_upstream": {}}
    with anyio.fail_after(TIMEOUT), pytest.raises(ManifestError) as raised:
        async with GuardedServer(make_server(received.append), guard_for(grants)):
            pytest.fail("the proxy started with a manifest that does not fit the upstream")
    assert raised.value.problems == [
        "tools.act.args.amout: the upstream tool 'act' has no argument 'amout' "
        "(it takes: amount, flag, limit, user_id)"
    ]


def test_the_proxy_command_refuses_a_misfit_manifest_in_one_line(tmp_path: Path) -> None:
    grants = {"act": {"args": {"user_id": {}, "amout": {"max": 50}}}}
    manifest = write_manifest(tmp_path, {"task": task_id(), "ttl": "5m", "tools": grants})
    done = subprocess.run(
        [*PROXY_ENTRY, "--manifest", str(manifest), "--", sys.executable, str(TYPED_UPSTREAM)],
        env=child_env(), capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "tools.act.args.amout: the upstream tool 'act' has no argument 'amout'" in done.stderr


@pytest.mark.asyncio
async def test_the_proxy_command_forwards_only_values_of_the_schemas_types(tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"
    manifest = write_manifest(tmp_path, {"task": task_id(), "ttl": "5m", "tools": {"act": GRANT}})
    command, *args = [*PROXY_ENTRY, "--manifest", str(manifest), "--", sys.executable, str(TYPED_UPSTREAM)]
    params = StdioServerParameters(
        command=command, args=args, env=child_env(GUARDRAIL_UPSTREAM_RECORD=str(record))
    )
    with anyio.fail_after(TIMEOUT):
        async with Client(params, read_timeout_seconds=30) as client:
            results = [await client.call_tool("act", {**GOOD, arg: form}) for arg, form in OTHER_TYPES]
            denied = await client.call_tool("act", {**GOOD, "user_id": 0})
            allowed = await client.call_tool("act", {**GOOD, "user_id": 9, "limit": None})
    for result in results:
        refused(result)
    assert denied_argument(denied) == "user_id"
    assert allowed.is_error is False
    lines = record.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{**GOOD, "user_id": 9, "amount": 5.0, "limit": 10}]


# --- issue 10, item 3: a DelegationDenied the tool raises is the tool's error -------------------


@pytest.mark.asyncio
async def test_a_denial_the_upstream_tool_raises_comes_back_as_its_own_error() -> None:
    other = guard_for({})
    upstream = MCPServer("delegating")

    @upstream.tool()
    def act(user_id: int) -> str:
        """Runs a step through another guarded function, which is denied."""
        return str(other.invoke("anything", lambda: "never"))

    guard = guard_for({"act": {"args": {"user_id": {}}}})
    with anyio.fail_after(TIMEOUT):
        async with Client(upstream) as direct:
            unguarded = await direct.call_tool("act", {"user_id": 3})
        [result] = await call_through_proxy(upstream, guard, [{"user_id": 3}])
    assert result.is_error is True
    assert DENIAL_META_KEY not in (result.meta or {})
    assert result.content == unguarded.content  # the upstream's own error, untouched
