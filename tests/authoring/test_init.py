"""`guardrail init`: a skeleton manifest from Python functions, OpenAI tool JSON, LangChain tools
and an MCP server (the last two through the adapters' entry points)."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from guardrail import AuthoringError, Guard, Manifest, MemoryStore, skeleton_manifest
from guardrail._authoring import load_source, skeleton, specs_from_openai, specs_from_source
from guardrail._authoring._schema import args_from_schema
from tests.authoring.support import ROOT, run_cli

GROUP = "guardrail.tool_sources"
DECLARED = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][GROUP]
ENTRY_POINTS = [importlib.metadata.EntryPoint(name, value, GROUP) for name, value in DECLARED.items()]

TOOLS_MODULE = '''
from __future__ import annotations

import enum
from typing import Annotated, Literal

import pydantic


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Line(pydantic.BaseModel):
    sku: str
    qty: int = 1


class Opaque:
    pass


def send_refund(order_id: str, amount: float, currency: Literal["EUR", "GBP"] = "EUR",
                note: str | None = None) -> str:
    """Refund an amount on an order.

    The second paragraph is not part of the description."""
    return "ok"


def place_order(lines: list[Line], priority: Priority = Priority.LOW, limit=10, *rest, **extra):
    "Place an order."


def bounded(n: Annotated[int, pydantic.Field(ge=1, le=9)], flag: bool, handle: Opaque, later: "Missing"):
    pass


TOOLS = [send_refund, place_order]
BY_NAME = {"refund": send_refund, "order": place_order}
NOT_A_FUNCTION = 42
MIXED = [send_refund, "read_ticket"]
'''


@pytest.fixture
def tools_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "shop_tools.py").write_text(TOOLS_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("shop_tools", None)
    return tmp_path


def args_of(m: Manifest, tool: str) -> dict[str, Any]:
    grant = m.grant(tool)
    assert grant is not None
    return {name: c.spec() for name, c in grant.args.items()}


# -- Python functions -------------------------------------------------------------------------


def test_python_functions_give_typed_arguments_enums_and_required(tools_module: Path) -> None:
    import shop_tools

    result = skeleton_manifest(shop_tools.TOOLS, task="refund-1", ttl="5m")
    m = Manifest.from_yaml(result.yaml)
    assert m.task == "refund-1" and m.ttl == "5m"
    assert list(m.tools) == ["send_refund", "place_order"]
    assert args_of(m, "send_refund") == {
        "order_id": {"type": "string", "required": True},
        "amount": {"type": "number", "required": True},
        "currency": {"type": "string", "one_of": ["EUR", "GBP"]},
        "note": {"type": "string"},
    }
    order = args_of(m, "place_order")
    line = {"sku": {"type": "string", "required": True}, "qty": {"type": "integer"}}
    assert order["lines"] == {"type": "array", "required": True,
                              "each": {"type": "object", "fields": line}}
    assert order["priority"] == {"type": "string", "one_of": ["low", "high"]}
    assert order["limit"] == {"type": "integer"}  # from the default's type
    assert set(order) == {"lines", "priority", "limit"}  # *rest and **extra are not granted
    text = result.yaml
    assert "send_refund:  # Refund an amount on an order." in text
    assert "second paragraph" not in text
    assert "# budget: {calls: 10}  # fill in: calls of send_refund over the task" in text
    assert "# budget: {calls: 20}  # fill in: calls over the whole task" in text
    assert "# rest: *rest is not granted" in text and "# extra: **extra is not granted" in text
    assert 'currency: {type: string, one_of: [EUR, GBP]}  # default: "EUR"' in text


def test_the_skeleton_keeps_the_types(tools_module: Path) -> None:
    import shop_tools

    guard = Guard(Manifest.from_yaml(skeleton_manifest(shop_tools.send_refund).yaml), store=MemoryStore())
    assert guard.check("send_refund", {"order_id": "ORD-1", "amount": 12.5}).allowed
    refused = guard.check("send_refund", {"order_id": 4711, "amount": 12.5})
    assert not refused.allowed and refused.denial is not None
    assert (refused.denial.argument, refused.denial.constraint) == ("order_id", 'type: "string"')
    assert not guard.check("send_refund", {"order_id": "ORD-1", "amount": True}).allowed
    assert not guard.check("send_refund", {"order_id": "ORD-1", "amount": 1, "currency": "USD"}).allowed
    assert not guard.check("send_refund", {"order_id": "ORD-1"}).allowed  # amount is required
    assert not guard.check("send_refund", {"order_id": "ORD-1", "amount": 1, "other": 1}).allowed


def test_a_dict_names_the_tools(tools_module: Path) -> None:
    import shop_tools

    assert list(skeleton_manifest(shop_tools.BY_NAME).manifest.tools) == ["refund", "order"]


def test_annotations_without_a_schema_are_left_open_and_noted(tools_module: Path) -> None:
    import shop_tools

    result = skeleton_manifest(shop_tools.bounded)
    args = args_of(result.manifest, "bounded")
    assert args["n"] == {"type": "integer", "min": 1, "max": 9, "required": True}
    assert args["flag"] == {"type": "boolean", "required": True}
    assert args["handle"] == {"required": True} and args["later"] == {"required": True}
    assert "handle: {required: true}  # any value: constrain it" in result.yaml
    assert "# handle: type Opaque has no JSON Schema" in result.yaml
    assert "# later: type 'Missing' could not be resolved" in result.yaml


@pytest.mark.parametrize(("target", "message"), [
    ("shop_tools:NOT_A_FUNCTION", "shop_tools:NOT_A_FUNCTION is an int, not a function"),
    ("shop_tools:MIXED", "shop_tools:MIXED[1] is a str, not a function"),
    ("shop_tools:Missing", "shop_tools:Missing: shop_tools has no attribute 'Missing'"),
    ("no_such_module_xyz:f", "cannot import no_such_module_xyz"),
    ("shop_tools", "expected module:attr"),
])
def test_init_python_of_something_that_is_not_callable_names_it(
    tools_module: Path, target: str, message: str
) -> None:
    done = run_cli("init", "--python", target, cwd=tools_module)
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_init_cli_writes_a_manifest_that_validates(tools_module: Path) -> None:
    out = tools_module / "refund.yaml"
    done = run_cli("init", "--python", "shop_tools:TOOLS", "--task", "case-9", "--ttl", "10m",
                   "--out", str(out), cwd=tools_module)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out} (2 tools)" in done.stderr
    checked = run_cli("validate", str(out))
    assert checked.returncode == 0 and "ok (task case-9, 2 tools" in checked.stdout


@pytest.mark.parametrize("argv", [
    ["init"],
    ["init", "--python", "a:b", "--openai-tools", "x.json"],
    ["init", "--python", "a:b", "extra"],
    ["init", "--mcp"],
    ["init", "--python", "shop_tools:TOOLS", "--ttl", "soon"],
])
def test_init_usage_errors(tools_module: Path, argv: list[str]) -> None:
    done = run_cli(*argv, cwd=tools_module)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip()


# -- OpenAI tool JSON -------------------------------------------------------------------------

CHAT = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        }, "required": ["city"], "additionalProperties": False},
        "strict": True,
    }},
    {"type": "function", "function": {"name": "ping"}},
]


def test_openai_chat_and_responses_formats_give_the_same_skeleton(tmp_path: Path) -> None:
    responses = [{"type": "function", **tool["function"]} for tool in CHAT]
    chat = skeleton(specs_from_openai(CHAT)).manifest
    assert skeleton(specs_from_openai(responses)).manifest.tools == chat.tools
    assert skeleton(specs_from_openai({"tools": CHAT})).manifest.tools == chat.tools
    assert args_of(chat, "get_weather") == {
        "city": {"type": "string", "required": True},
        "unit": {"type": "string", "one_of": ["c", "f"]},
        "days": {"type": "integer", "min": 1, "max": 7},
    }
    assert args_of(chat, "ping") == {}
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(CHAT))
    done = run_cli("init", "--openai-tools", str(path))
    assert done.returncode == 0, done.stderr
    assert "city: {type: string, required: true}  # City name" in done.stdout
    assert "ping:\n    args: {}\n" in done.stdout
    assert Manifest.from_yaml(done.stdout).tools == chat.tools


@pytest.mark.parametrize(("data", "message"), [
    ([{"type": "web_search"}], "tools.json[0]: tool type 'web_search' is not a function tool"),
    ([{"type": "function", "function": {"description": "no name"}}], "tools.json[0]: the tool name"),
    ([{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}],
     "tools.json[1]: the tool name 'a' appears twice"),
    ([{"type": "function", "function": {"name": "a", "parameters": {"type": "array"}}}],
     "must be of type object"),
    ([{"type": "function", "function": {"name": "a", "parameters": []}}], "parameters must be a JSON Schema"),
    ({"name": "a\nb"}, "printable"),
    ("just a string", "expected a list of function tools"),
    ([], "holds no tools"),
])
def test_bad_openai_tool_json_is_named(tmp_path: Path, data: Any, message: str) -> None:
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(data))
    done = run_cli("init", "--openai-tools", "tools.json", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert message in done.stderr


def test_unreadable_openai_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("[{")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe")
    assert "bad.json: not valid JSON" in run_cli("init", "--openai-tools", "bad.json", cwd=tmp_path).stderr
    assert "not UTF-8" in run_cli("init", "--openai-tools", "bin.json", cwd=tmp_path).stderr
    assert "cannot read" in run_cli("init", "--openai-tools", "none.json", cwd=tmp_path).stderr


def test_descriptions_cannot_add_keys_and_odd_names_are_quoted() -> None:
    tools = [
        {"name": "tools", "description": "x\ntools: {evil: {}}\r\nmanifest: 2\u2028budget: 0",
         "parameters": {"type": "object", "properties": {
             "a: b": {"type": "string", "description": "\x00\n# evil: 1"},
             "yes": {"type": "boolean"}, "#": {}, "- x": {"enum": ["null", None, "1", 1]},
         }}},
        {"name": "ns/read.file:v2", "parameters": {"type": "object", "properties": {}}},
    ]
    result = skeleton(specs_from_openai(tools))
    m = Manifest.from_yaml(result.yaml)
    assert list(m.tools) == ["tools", "ns/read.file:v2"]
    assert list(args_of(m, "tools")) == ["a: b", "yes", "#", "- x"]
    assert args_of(m, "tools")["- x"] == {"one_of": ["null", None, "1", 1]}
    assert m.budget is None


# -- JSON Schema to constraints ---------------------------------------------------------------


def converted(properties: dict[str, Any], **root: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, **root}
    return {name: c.constraint for name, c in args_from_schema(schema).items()}


def test_schema_conversion() -> None:
    defs = {"Addr": {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                     "required": ["zip"]},
            "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
    got = converted({
        "opt": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "either": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
        "addr": {"$ref": "#/$defs/Addr"},
        "gt0": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        "pos": {"type": "number", "exclusiveMinimum": 0},
        "word": {"type": "string", "pattern": "abc"},
        "lookahead": {"type": "string", "pattern": "^(?=x)x$"},
        "free": {"type": "object", "additionalProperties": {"type": "integer"}},
        "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
        "nums": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3},
        "one": {"const": "fixed"},
        "node": {"$ref": "#/$defs/Node"},
        "anything": {},
        "never": False,
    }, **{"$defs": defs, "required": ["addr", "opt"]})
    assert got["opt"] == {"type": "integer"}  # required but nullable: null counts as absent
    assert got["either"] == {"any_of": [{"type": "string"}, {"type": "integer", "min": 0}]}
    assert got["addr"] == {"type": "object", "required": True, "fields": {
        "zip": {"type": "string", "pattern": "^[0-9]{5}$", "required": True}}}
    assert got["gt0"] == {"type": "integer", "min": 1, "max": 9}
    assert got["pos"] == {"type": "number", "min": 0, "not_one_of": [0]}
    assert got["word"] == {"type": "string", "pattern": ".*abc.*"}
    assert got["lookahead"] == {"type": "string"}
    assert got["free"] == {"type": "object"}
    assert got["pair"] == {"type": "array", "each": {"any_of": [{"type": "integer"}, {"type": "string"}]}}
    assert got["nums"] == {"type": "array", "min_length": 1, "max_length": 3, "each": {"type": "number"}}
    assert got["one"] == {"equals": "fixed"}
    assert got["node"] == {"type": "object", "fields": {"next": {}}}  # recursion stops
    assert got["anything"] == {} and got["never"] == {"not": {}}
    m = Manifest.model_validate({"task": "t", "ttl": 60, "tools": {"t": {"args": got}}})
    guard = Guard(m, store=MemoryStore())
    assert guard.check("t", {"addr": {"zip": "12345"}, "gt0": 9, "pos": 0.5, "word": "xabcx"}).allowed
    for bad in ({"addr": {"zip": "1234"}}, {"addr": {"zip": "12345"}, "gt0": 10},
                {"addr": {"zip": "12345"}, "pos": 0}, {"addr": {"zip": "12345"}, "never": 1}):
        assert not guard.check("t", bad).allowed, bad


# -- sources registered by the adapters -------------------------------------------------------

LC_MODULE = '''
from langchain_core.tools import tool


@tool
def read_ticket(queue: str, ticket_id: str) -> str:
    """Read one ticket from a helpdesk queue."""
    return "ticket"


@tool
def post_reply(ticket_id: str, body: str, urgent: bool = False) -> str:
    """Post a reply to the customer on a ticket."""
    return "posted"


TOOLS = [read_ticket, post_reply]
NOT_TOOLS = [read_ticket, len]
'''


@pytest.fixture
def lc_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "desk_tools.py").write_text(LC_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("desk_tools", None)
    return tmp_path


def test_the_adapters_declare_their_tool_sources() -> None:
    assert DECLARED == {"langchain": "guardrail_langchain._authoring:tool_specs",
                        "mcp": "guardrail_mcp._authoring:tool_specs"}
    for ep in ENTRY_POINTS:
        assert callable(ep.load())


def test_langchain_tools_through_the_entry_point(lc_module: Path) -> None:
    import desk_tools

    specs = specs_from_source("langchain", desk_tools.TOOLS, "desk_tools:TOOLS", ENTRY_POINTS)
    m = skeleton(specs).manifest
    assert args_of(m, "read_ticket") == {"queue": {"type": "string", "required": True},
                                         "ticket_id": {"type": "string", "required": True}}
    assert args_of(m, "post_reply")["urgent"] == {"type": "boolean"}
    one = specs_from_source("langchain", desk_tools.read_ticket, "desk_tools:read_ticket", ENTRY_POINTS)
    assert [s.name for s in one] == ["read_ticket"]
    with pytest.raises(AuthoringError, match=r"desk_tools:NOT_TOOLS\[1\] is a builtin_function_or_method"):
        specs_from_source("langchain", desk_tools.NOT_TOOLS, "desk_tools:NOT_TOOLS", ENTRY_POINTS)
    with pytest.raises(AuthoringError, match="desk_tools:x is a int, not a LangChain tool"):
        specs_from_source("langchain", 5, "desk_tools:x", ENTRY_POINTS)


def test_an_mcp_server_through_the_entry_point() -> None:
    argv = [sys.executable, str(ROOT / "examples" / "mcp_upstream.py")]
    m = skeleton(specs_from_source("mcp", argv, "upstream", ENTRY_POINTS)).manifest
    assert list(m.tools) == ["read_ticket", "send_refund", "delete_account", "export_customers",
                             "enable_beta_tools"]
    assert args_of(m, "send_refund") == {"order_id": {"type": "string", "required": True},
                                         "amount": {"type": "number", "required": True},
                                         "currency": {"type": "string"}}


def test_an_mcp_server_that_does_not_start_is_named() -> None:
    with pytest.raises(AuthoringError, match="cannot start the MCP server 'no-such-server-xyz'"):
        specs_from_source("mcp", ["/nonexistent/no-such-server-xyz"], "no-such-server-xyz", ENTRY_POINTS)
    with pytest.raises(AuthoringError, match="cannot list the tools of the MCP server 'false'"):
        specs_from_source("mcp", ["/bin/false"], "false", ENTRY_POINTS)


def test_a_missing_source_or_framework_names_the_extra() -> None:
    with pytest.raises(AuthoringError, match=r"no tool source 'langchain' is installed .*"
                       r"pip install 'task-guardrail\[langchain\]'"):
        load_source("langchain", [])
    broken = [importlib.metadata.EntryPoint("mcp", "no_such_adapter_xyz:tool_specs", GROUP)]
    with pytest.raises(AuthoringError,
                       match=r"--mcp needs the mcp extra: pip install 'task-guardrail\[mcp\]'"):
        load_source("mcp", broken)
    odd = [importlib.metadata.EntryPoint("mcp", "guardrail:__version__", GROUP)]
    with pytest.raises(AuthoringError, match="is not callable"):
        load_source("mcp", odd)


def _dist_info(tmp_path: Path) -> Path:
    """A distribution on the import path declaring the project's tool sources, so that a fresh
    interpreter finds them through importlib.metadata whatever is installed."""
    site = tmp_path / "site"
    info = site / "guardrail_tool_sources_test-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: guardrail-tool-sources-test\nVersion: 0\n")
    body = "\n".join(f"{name} = {value}" for name, value in DECLARED.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{body}\n")
    return site


def test_cli_without_the_framework_says_which_extra_to_install(lc_module: Path) -> None:
    import os

    site = _dist_info(lc_module)
    code = textwrap.dedent("""
        import sys
        sys.modules['langchain_core'] = None  # as if LangChain were not installed
        from guardrail._cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    path = [str(lc_module), str(site), str(ROOT), str(ROOT / "adapters")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    import subprocess

    done = subprocess.run([sys.executable, "-c", code, "init", "--langchain", "desk_tools:TOOLS"],
                          capture_output=True, text=True, env=env, cwd=lc_module, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "--langchain needs the langchain extra: pip install 'task-guardrail[langchain]'" in done.stderr
    # With LangChain importable, the same command line works.
    done = run_cli("init", "--langchain", "desk_tools:TOOLS", cwd=lc_module, pythonpath=[lc_module, site])
    assert done.returncode == 0, done.stderr
    assert "read_ticket:  # Read one ticket from a helpdesk queue." in done.stdout


def test_cli_mcp_lists_the_servers_tools(tmp_path: Path) -> None:
    site = _dist_info(tmp_path)
    done = run_cli("init", "--mcp", "--task", "desk", "--", sys.executable,
                   str(ROOT / "examples" / "mcp_upstream.py"), pythonpath=[site])
    assert done.returncode == 0, done.stderr
    m = Manifest.from_yaml(done.stdout)
    assert m.task == "desk" and "delete_account" in m.tools
    assert "# Skeleton delegation manifest from the MCP server" in done.stdout


def test_installed_entry_points_are_the_declared_ones(lc_module: Path) -> None:
    """End to end through the installed package metadata (`pip install -e .` after a change to
    the entry points)."""
    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=GROUP)}
    assert installed == DECLARED
    done = run_cli("init", "--langchain", "desk_tools:TOOLS", cwd=lc_module, pythonpath=[lc_module])
    assert done.returncode == 0, done.stderr
    assert Manifest.from_yaml(done.stdout).tools.keys() == {"read_ticket", "post_reply"}
