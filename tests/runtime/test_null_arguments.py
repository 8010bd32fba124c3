"""A null counts as the argument left out, also for one the manifest does not name, and is not
passed on to the tool by invoke/ainvoke (issue 11, item 11, core half)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail import DenialCode, Guard, MemoryStore
from guardrail.testing import task_id


def _guard(allow_other: bool = False) -> Guard:
    manifest = {"task": task_id("null"), "ttl": "5m", "tools": {"search": {
        "args": {"query": {"required": True, "max_length": 20}, "limit": {"max": 50}},
        "allow_other_args": allow_other,
    }}}
    return Guard(manifest, store=MemoryStore())


def test_null_for_an_unnamed_argument_counts_as_left_out() -> None:
    guard = _guard()
    for decide in (guard.check, guard.authorize):
        assert decide("search", {"query": "x", "filters": None, "page": None}).allowed
    denied = guard.check("search", {"query": "x", "filters": {}})
    assert denied.denial is not None and denied.denial.code is DenialCode.ARGUMENT_NOT_ALLOWED


def test_null_for_a_named_required_argument_is_still_missing() -> None:
    decision = _guard().check("search", {"query": None, "other": None})
    assert decision.denial is not None
    assert decision.denial.code is DenialCode.ARGUMENT_MISSING


def test_a_null_is_not_passed_to_the_tool() -> None:
    guard = _guard()
    seen: dict[str, Any] = {}

    def search(query: str, limit: int = 10, page: int = 1, **rest: Any) -> str:
        seen.update(query=query, limit=limit, page=page, rest=rest)
        return "ok"

    assert guard.invoke("search", search, {"query": "x", "limit": None, "page": None}) == "ok"
    assert seen == {"query": "x", "limit": 10, "page": 1, "rest": {}}

    async def asearch(query: str, page: int = 2) -> int:
        return page

    assert asyncio.run(guard.ainvoke("search", asearch, {"query": "x", "page": None})) == 2


def test_a_left_out_default_is_still_checked_when_the_null_is_dropped() -> None:
    guard = _guard()

    def search(query: str, limit: int = 1000) -> str:
        return "ran"

    decision = guard.check("search", guard.with_defaults("search", {"query": "x"}, {"limit": 1000}))
    assert not decision.allowed
    try:
        guard.invoke("search", search, {"query": "x", "limit": None}, defaults={"limit": 1000})
    except Exception as exc:  # the default 1000 is over max: 50
        assert "limit" in str(exc)
    else:
        raise AssertionError("the default limit=1000 must be checked and denied")


@settings(max_examples=100, deadline=None, database=None)
@given(extra=st.dictionaries(st.sampled_from(["a", "b", "filters"]), st.none(), max_size=3),
       call=st.fixed_dictionaries({"query": st.sampled_from(["x", "y" * 30])},
                                  optional={"limit": st.sampled_from([None, 5, 500, "5"])}))
def test_property_nulls_for_unnamed_arguments_change_no_decision(
    extra: dict[str, None], call: dict[str, Any]
) -> None:
    guard = _guard()
    plain = guard.check("search", call)
    with_nulls = guard.check("search", {**extra, **call})
    assert plain.allowed == with_nulls.allowed
    assert (plain.denial and plain.denial.code) == (with_nulls.denial and with_nulls.denial.code)
