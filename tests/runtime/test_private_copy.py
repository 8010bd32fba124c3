"""The tool runs with the guard's private copy of what it checked (issue 11, items 3 and 11).

`invoke`, `ainvoke` and `wrap` decide on a copy of the arguments in exact JSON types and hand the
tool that copy; a value a constraint looks at that is not JSON data is denied `argument_invalid`
naming where; one nothing looks at is passed on as given. `wrap` leaves out a null where the
function has a default, as `invoke` does. `owns` is False for a denial that came out of the tool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from guardrail import (
    ArgumentViolation,
    DelegationDenied,
    DenialCode,
    Guard,
    ManifestError,
    MemoryStore,
    NotJson,
    normalize_arguments,
)
from guardrail._policy._normalize import MAX_DEPTH
from guardrail.testing import task_id

TOOLS: dict[str, Any] = {
    "f": {"args": {
        "xs": {"each": {"max": 5}},
        "obj": {"fields": {"k": {"one_of": ["a", "b"]}, "extra": {}, "t": {}, "deep": {}}},
        "cur": {"one_of": ["EUR", "GBP"]},
        "n": {"type": "integer", "max": 50},
        "x": {"type": "number"},
        "free": {},
    }},
}


def make(mode: str = "enforce", tools: dict[str, Any] | None = None) -> Guard:
    manifest = {"task": task_id("copy"), "ttl": "5m", "tools": TOOLS if tools is None else tools}
    return Guard(manifest, store=MemoryStore(), mode=mode)  # type: ignore[arg-type]


class Seen:
    """A tool that records what it was called with."""

    def __init__(self) -> None:
        self.kw: dict[str, Any] = {}

    def __call__(self, **kw: Any) -> dict[str, Any]:
        self.kw = kw
        return kw


def f(xs: Any = None, obj: Any = None, cur: Any = None, n: Any = None, x: Any = None,
      free: Any = None) -> dict[str, Any]:
    return {"xs": xs, "obj": obj, "cur": cur, "n": n, "x": x, "free": free}


async def af(xs: Any = None, obj: Any = None, cur: Any = None, n: Any = None, x: Any = None,
             free: Any = None) -> dict[str, Any]:
    return f(xs, obj, cur, n, x, free)


ENTRY_POINTS = ["invoke", "ainvoke", "wrap", "wrap_async"]


def run(guard: Guard, entry: str, args: dict[str, Any], tool: Callable[..., Any] = f) -> Any:
    """`tool(**args)` through one of the guard's entry points."""
    if entry == "invoke":
        return guard.invoke("f", tool, args)
    if entry == "ainvoke":
        return asyncio.run(guard.ainvoke("f", tool, args))
    if entry == "wrap":
        return guard.wrap(tool, name="f")(**args)
    assert entry == "wrap_async"

    async def atool(**kw: Any) -> Any:
        return tool(**kw)

    import inspect

    atool.__signature__ = inspect.signature(tool)  # type: ignore[attr-defined]
    return asyncio.run(guard.wrap(atool, name="f")(**args))


# --- another thread changes the caller's objects while the tool runs ----------------------------


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_change_by_another_thread_during_the_run_does_not_reach_the_tool(entry: str) -> None:
    xs = [1, 2]
    obj = {"k": "a"}
    started, changed = threading.Event(), threading.Event()

    def tool(xs: Any = None, obj: Any = None, **_: Any) -> tuple[Any, Any]:
        started.set()
        assert changed.wait(10)
        return list(xs), dict(obj)

    def attacker() -> None:
        assert started.wait(10)
        xs.append(99)  # 99 > max 5: never checked
        obj["k"] = "z"  # not one_of [a, b]
        changed.set()

    thread = threading.Thread(target=attacker)
    thread.start()
    got = run(make(tools={"f": {"args": {"xs": TOOLS["f"]["args"]["xs"],
                                         "obj": TOOLS["f"]["args"]["obj"]}}}),
              entry, {"xs": xs, "obj": obj}, tool)
    thread.join()
    assert got == ([1, 2], {"k": "a"})  # the checked copy, not the caller's changed objects
    assert xs == [1, 2, 99] and obj == {"k": "z"}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_the_tool_gets_a_copy_not_the_callers_objects(entry: str) -> None:
    xs, obj = [1, 2], {"k": "a", "extra": [1]}
    got = run(make(), entry, {"xs": xs, "obj": obj})
    assert got["xs"] == xs and got["xs"] is not xs
    assert got["obj"] == obj and got["obj"] is not obj and got["obj"]["extra"] is not obj["extra"]


# --- what the copy is made of ---------------------------------------------------------------------


class Liar(str):
    """A str whose comparisons, hash and str() lie."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("EUR")

    def __str__(self) -> str:
        return "EUR"


class Huge(int):
    """An int that says it is small."""

    def __le__(self, other: object) -> bool:
        return True

    def __lt__(self, other: object) -> bool:
        return True

    def __ge__(self, other: object) -> bool:
        return True

    def __gt__(self, other: object) -> bool:
        return False


class Hider(dict):  # type: ignore[type-arg]
    """A dict that hides a key from items(), keys() and iteration."""

    def items(self) -> Any:
        return [(k, v) for k, v in super().items() if k != "k"]

    def keys(self) -> Any:
        return [k for k in dict.keys(self) if k != "k"]

    def __iter__(self) -> Any:
        return iter(self.keys())


@dataclasses.dataclass
class Point:
    x: int


class Model(BaseModel):
    x: int


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_subclasses_are_decided_and_passed_as_their_plain_value(entry: str) -> None:
    guard = make()
    with pytest.raises(ArgumentViolation):
        run(guard, entry, {"cur": Liar("XXX")})
    got = run(guard, entry, {"cur": Liar("EUR")})
    assert type(got["cur"]) is str and got["cur"] == "EUR"
    with pytest.raises(ArgumentViolation) as info:
        run(guard, entry, {"n": Huge(10**6)})
    assert info.value.denial.argument == "n"
    with pytest.raises(ArgumentViolation) as info:
        run(guard, entry, {"obj": Hider(k="z")})  # the hidden key is read, and denied
    assert info.value.denial.argument == "obj.k"
    got = run(guard, entry, {"obj": Hider(k="a")})
    assert type(got["obj"]) is dict and got["obj"] == {"k": "a"}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_tuples_become_lists(entry: str) -> None:
    got = run(make(), entry, {"xs": (1, 2), "obj": {"k": "a", "t": (1, (2,))}})
    assert got["xs"] == [1, 2] and type(got["xs"]) is list
    assert got["obj"]["t"] == [1, [2]]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(("value", "type_name"), [
    ({1, 2}, "set"), (frozenset({1}), "frozenset"), (b"ab", "bytes"), (bytearray(b"a"), "bytearray"),
    (object(), "object"), (Point(1), "Point"), (Model(x=1), "Model"), (1j, "complex"),
])
def test_what_is_not_json_is_denied_where_a_constraint_looks(entry: str, value: Any, type_name: str) -> None:
    guard = make()
    for args, where in (({"xs": value}, "xs"), ({"xs": [1, value]}, "xs.1"),
                        ({"obj": {"k": "a", "deep": [value]}}, "obj.deep.0")):
        with pytest.raises(ArgumentViolation) as info:
            run(guard, entry, args)
        denial = info.value.denial
        assert denial.code is DenialCode.ARGUMENT_INVALID and denial.argument == where
        assert denial.constraint is not None and denial.constraint.endswith(f"not {type_name}")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_what_nothing_looks_at_is_passed_on_as_given(entry: str) -> None:
    handle = object()
    model = Model(x=1)
    got = run(make(), entry, {"free": handle})
    assert got["free"] is handle
    got = run(make(), entry, {"free": model, "xs": (1,)})
    assert got["free"] is model and got["xs"] == [1]


def test_a_condition_looks_at_every_argument() -> None:
    guard = make(tools={"f": {"args": {"free": {}}, "when": "true"}})
    with pytest.raises(ArgumentViolation) as info:
        guard.invoke("f", f, {"free": object()})
    assert info.value.denial.argument == "free"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_nan_infinities_and_bools_stay_what_they_are(entry: str) -> None:
    guard = make()
    for bad in (math.nan, math.inf, -math.inf, True):
        with pytest.raises(ArgumentViolation):
            run(guard, entry, {"n": bad} if bad is True else {"x": bad})
    got = run(make(tools={"f": {"args": {"free": {"type": "array"}}}}), entry,
              {"free": (math.nan, True, 1)})
    assert math.isnan(got["free"][0])
    assert got["free"][1:] == [True, 1] and type(got["free"][1]) is bool and type(got["free"][2]) is int


def _nested(depth: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(depth):
        current.append([])
        current = current[0]
    return root


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_too_deep_and_cycles_are_denied_naming_where(entry: str) -> None:
    guard = make(tools={"f": {"args": {"xs": {"type": "array"}, "obj": {"type": "object"}}}})
    # (`type: object` looks at the value: it is copied, all the way down)
    assert run(guard, entry, {"xs": _nested(MAX_DEPTH - 2)})["xs"] == _nested(MAX_DEPTH - 2)
    with pytest.raises(ArgumentViolation) as info:
        run(guard, entry, {"xs": _nested(MAX_DEPTH + 5)})
    assert info.value.denial.constraint == f"nesting at most {MAX_DEPTH} levels deep"
    loop: dict[str, Any] = {"a": [1]}
    loop["a"].append(loop)
    with pytest.raises(ArgumentViolation) as info:
        run(guard, entry, {"obj": {"root": loop}})
    assert info.value.denial.argument == "obj.root.a.1"
    assert info.value.denial.constraint == "a cycle: a container inside itself"


@pytest.mark.parametrize("entry", ["invoke", "wrap"])
def test_huge_arguments_are_copied_whole(entry: str) -> None:
    xs = list(range(5)) * 40_000
    got = run(make(), entry, {"xs": xs})
    assert got["xs"] == xs and got["xs"] is not xs


def test_keys_that_are_not_strings_are_denied() -> None:
    guard = make()
    for args, where in (({1: "x"}, "1"), ({"obj": {"k": "a", 2: "b"}}, "obj.2"),
                        ({"xs": [{None: 1}]}, "xs.0.None")):
        with pytest.raises(ArgumentViolation) as info:
            guard.invoke("f", f, args)  # type: ignore[arg-type]
        assert info.value.denial.argument == where and "a string" in (info.value.denial.constraint or "")

    class Key(str):
        pass

    assert guard.invoke("f", f, {Key("cur"): "EUR"})["cur"] == "EUR"


def test_a_shadow_guard_runs_the_tool_with_the_arguments_as_given() -> None:
    guard = make(mode="shadow")
    handle = object()
    assert guard.invoke("f", f, {"xs": [handle], "n": None})["xs"][0] is handle


# --- normalize_arguments -----------------------------------------------------------------------------


def test_normalize_arguments_converts_what_frameworks_produce() -> None:
    import datetime
    import decimal
    import enum
    import uuid

    class Color(enum.Enum):
        RED = "red"

    class Size(enum.IntEnum):
        BIG = 3

    class Inner(BaseModel):
        a: int = 1
        b: str = "x"

    out = normalize_arguments({
        "enum": Color.RED, "int_enum": Size.BIG, "dec": decimal.Decimal("2.0"),
        "frac": decimal.Decimal("0.5"),
        "date": datetime.date(2026, 1, 2), "uuid": uuid.UUID(int=1), "set": {3, 1, 2}, "bytes": b"hi",
        "point": Point(1), "model": Inner(a=2), "tuple": (1, (2,)), "nan": math.nan,
    })
    assert out == {
        "enum": "red", "int_enum": 3, "dec": 2, "frac": 0.5, "date": "2026-01-02",
        "uuid": "00000000-0000-0000-0000-000000000001", "set": [1, 2, 3], "bytes": "hi",
        "point": {"x": 1}, "model": {"a": 2, "b": "x"}, "tuple": [1, [2]], "nan": out["nan"],
    }
    assert type(out["int_enum"]) is int and math.isnan(out["nan"])
    assert normalize_arguments({"model": Inner(a=2)}, as_sent=True) == {"model": {"a": 2}}


@pytest.mark.parametrize(("args", "message"), [
    ({"a": [1, {2: 3}]}, "arguments.a[1].2: a key that is a string, not int"),
    ({"a": [object()]}, "arguments.a[0]: JSON data (a string, number, boolean, null, array or object), "
                        "not object"),
    ({"a": _nested(MAX_DEPTH + 1)}, f": nesting at most {MAX_DEPTH} levels deep"),
])
def test_normalize_arguments_names_what_it_cannot_copy_and_where(args: Any, message: str) -> None:
    with pytest.raises(NotJson) as info:
        normalize_arguments(args)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(NotJson, match="an object of arguments"):
        normalize_arguments([1])  # type: ignore[arg-type]


def test_normalize_arguments_names_a_cycle_where_it_closes() -> None:
    inner: list[Any] = [1]
    inner.append({"back": inner})
    with pytest.raises(NotJson) as info:
        normalize_arguments({"a": inner})
    assert info.value.path == ["a", 1, "back"]
    assert str(info.value) == "arguments.a[1].back: a cycle: a container inside itself"


# --- wrap and null (item 11): every entry point treats a null as left out -----------------------


NULL_TOOLS = {"search": {"args": {"query": {"required": True}, "limit": {"max": 50}}}}


def search(query: str, limit: int = 10, **rest: Any) -> dict[str, Any]:
    return {"query": query, "limit": limit, "rest": rest}


async def asearch(query: str, limit: int = 10, **rest: Any) -> dict[str, Any]:
    return search(query, limit, **rest)


def _search(guard: Guard, entry: str, args: dict[str, Any], limit_default: int = 10) -> Any:
    def tool(query: str, limit: int = limit_default, **rest: Any) -> dict[str, Any]:
        return {"query": query, "limit": limit, "rest": rest}

    async def atool(query: str, limit: int = limit_default, **rest: Any) -> dict[str, Any]:
        return tool(query, limit, **rest)

    defaults = {"limit": limit_default}
    if entry == "invoke":
        return guard.invoke("search", tool, args, defaults=defaults)
    if entry == "ainvoke":
        return asyncio.run(guard.ainvoke("search", atool, args, defaults=defaults))
    if entry == "wrap":
        return guard.wrap(tool, name="search")(**args)
    return asyncio.run(guard.wrap(atool, name="search")(**args))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_null_for_an_unnamed_argument_is_left_out_by_every_entry_point(entry: str) -> None:
    guard = make(tools=NULL_TOOLS)
    got = _search(guard, entry, {"query": "q", "page": None, "filters": None, "limit": None})
    assert got == {"query": "q", "limit": 10, "rest": {}}  # not passed on: the tool's default
    with pytest.raises(ArgumentViolation) as info:
        _search(guard, entry, {"query": "q", "page": 2})
    assert info.value.denial.code is DenialCode.ARGUMENT_NOT_ALLOWED


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_null_does_not_hide_a_default_the_manifest_denies(entry: str) -> None:
    guard = make(tools=NULL_TOOLS)
    with pytest.raises(ArgumentViolation) as info:
        _search(guard, entry, {"query": "q", "limit": None}, limit_default=1000)
    assert info.value.denial.argument == "limit"


def test_wrap_passes_a_null_on_where_python_cannot_leave_it_out() -> None:
    guard = make(tools={"note": {"args": {"text": {}, "tags": {"type": "array"}}}})

    def note(text: str | None, tags: list[str] | None = None) -> tuple[Any, Any]:
        return text, tags

    wrapped = guard.wrap(note)
    assert wrapped(None) == (None, None)
    assert wrapped(None, None) == (None, None)
    assert wrapped("t", tags=("a",)) == ("t", ["a"])


def test_wrap_rebinds_the_copy_to_positional_only_and_star_parameters() -> None:
    guard = make(tools={"g": {"args": {"a": {"type": "array"}, "rest": {"each": {"type": "array"}},
                                       "k": {}}}})

    def g(a: Any, /, *rest: Any, k: Any = None) -> tuple[Any, Any, Any]:
        return a, rest, k

    wrapped = guard.wrap(g)
    assert wrapped((1,), (2,), (3,), k=(4,)) == ([1], ([2], [3]), (4,))  # `k` is looked at by nothing
    with pytest.raises(ArgumentViolation):
        wrapped((1,), 2)

    def h(a: Any, /, **kw: Any) -> Any:
        return a, kw

    with pytest.raises(TypeError, match="both positionally and as a keyword"):
        make(tools={"h": {"args": {"a": {}}, "allow_other_args": True}}).wrap(h)(1, a=2)


# --- owns: a denial that came out of the tool is the tool's own error ---------------------------


def test_owns_is_false_for_a_denial_of_a_call_the_tool_made_through_the_same_guard() -> None:
    guard = make(tools={"outer": {}, "inner": {"args": {"x": {"max": 1}}}})
    seen: list[bool] = []

    def outer() -> None:
        try:
            guard.invoke("inner", lambda x: x, {"x": 2})
        except DelegationDenied as denied:
            seen.append(guard.owns(denied))  # inside the tool: the inner call's own denial
            raise

    with pytest.raises(DelegationDenied) as info:
        guard.invoke("outer", outer)
    assert seen == [True]
    assert not guard.owns(info.value)  # for the outer call: the tool's error
    with pytest.raises(DelegationDenied) as info:
        guard.wrap(outer)()
    assert not guard.owns(info.value)

    async def aouter() -> None:
        await guard.ainvoke("inner", lambda x: x, {"x": 2})

    with pytest.raises(DelegationDenied) as info:
        asyncio.run(guard.ainvoke("outer", aouter))
    assert not guard.owns(info.value)
    with pytest.raises(DelegationDenied) as info:
        asyncio.run(guard.wrap(aouter, name="outer")())
    assert not guard.owns(info.value)
    with pytest.raises(DelegationDenied) as info:
        guard.invoke("inner", lambda x: x, {"x": 2})
    assert guard.owns(info.value)  # its own decision still is


# --- check_arguments: one check of a manifest against the arguments a tool takes -----------------


def test_check_arguments() -> None:
    guard = make(tools={"t": {"args": {"a": {}, "amout": {"max": 1}, "b": {"required": True}}}})
    with pytest.raises(ManifestError) as info:
        guard.check_arguments("t", ["a", "amount"])
    assert info.value.problems == [
        "tools.t.args.amout: tool 't' has no argument 'amout' (it takes: a, amount)",
        "tools.t.args.b: tool 't' has no argument 'b' (it takes: a, amount)",
    ]
    guard.check_arguments("t", ["a"], others=True)
    guard.check_arguments("t", ["a", "amout", "b"])
    guard.check_arguments("not_granted", [])
    upstream = r"the upstream tool 't' has no argument 'b' \(it takes: no arguments\)"
    with pytest.raises(ManifestError, match=upstream):
        guard.check_arguments("t", [], what="the upstream tool 't'")

    def t(a: int, amout: int) -> None: ...

    with pytest.raises(ManifestError, match=r"tools\.t\.args\.b: .*t\(\) has no argument 'b'"):
        guard.wrap(t)
