"""The CEL engine unit (`guardrail._policy._conditions`): compiled once, evaluated to a value or an
error value, never raising; CEL's edge cases as the guard sees them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from guardrail._policy._conditions import (
    CALL_VARIABLES,
    CelError,
    Condition,
    ConditionError,
    Environment,
    call_data,
    compile_condition,
)

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC).timestamp()


def run(source: str, args: dict[str, Any] | None = None, *, now: float = NOW,
        principal: str | None = "agent:bot") -> Any:
    condition = compile_condition(source)
    return condition.evaluate(call_data(condition, args or {}, "pay", "task-1", principal, now))


def holds(source: str, args: dict[str, Any] | None = None, **kw: Any) -> bool:
    condition = compile_condition(source)
    return condition.holds(
        call_data(condition, args or {}, "pay", "task-1", kw.get("principal", "agent:bot"),
                  kw.get("now", NOW))
    )


# -- CEL edge cases -----------------------------------------------------------------------------


def test_a_missing_optional_argument_is_an_error_unless_guarded_with_has() -> None:
    result = run("args.note.size() < 10")
    assert isinstance(result, CelError) and result.code == "NOT_FOUND"
    assert not holds("args.note.size() < 10")
    assert holds("!has(args.note) || args.note.size() < 10")
    assert holds("!has(args.note) || args.note.size() < 10", {"note": "short"})
    assert not holds("!has(args.note) || args.note.size() < 10", {"note": "far too long a note"})


def test_null_is_a_value_not_an_absence() -> None:
    # The guard passes what the model sent: `null` is present (has() is true) and equals null.
    assert holds("has(args.x) && args.x == null", {"x": None})
    assert isinstance(run("args.x < 3", {"x": None}), CelError)
    assert holds("args.x == null || args.x < 3", {"x": None})
    # principal is null when the manifest names none.
    assert holds("principal == null", principal=None)
    assert not holds("principal == 'agent:bot'", principal=None)


def test_int_and_double_compare_across_types() -> None:
    assert holds("args.amount <= 100.0", {"amount": 50})
    assert holds("args.amount <= 100", {"amount": 50.5})
    assert not holds("args.amount <= 100.0", {"amount": 100.5})
    assert holds("args.amount == 50.0", {"amount": 50})
    # Arithmetic does not mix them: an error value, so the condition does not hold.
    assert isinstance(run("args.amount + 1.0 > 0.0", {"amount": 50}), CelError)
    assert holds("double(args.amount) + 1.0 > 0.0", {"amount": 50})


def test_a_bool_is_not_a_number() -> None:
    assert isinstance(run("args.amount <= 100", {"amount": True}), CelError)


def test_nan_and_big_integers() -> None:
    assert not holds("args.amount <= 100.0", {"amount": float("nan")})
    # Beyond 64 bits CEL cannot hold the integer: an error, never a wrapped-around small number.
    assert isinstance(run("args.amount <= 100", {"amount": 2**64 + 1}), CelError)


def test_string_comparison() -> None:
    assert holds("args.currency == 'EUR'", {"currency": "EUR"})
    assert not holds("args.currency == 'EUR'", {"currency": "eur"})
    assert holds("args.start < args.end", {"start": "2026-01-01", "end": "2026-01-02"})
    assert holds("args.id.startsWith('ORD-') && args.id.matches('^ORD-[0-9]+$')", {"id": "ORD-12"})
    assert isinstance(run("args.currency < 3", {"currency": "EUR"}), CelError)


def test_timestamps_from_the_clock() -> None:
    assert holds("now < timestamp('2030-01-01T00:00:00Z')")
    assert not holds("now < timestamp('2030-01-01T00:00:00Z')",
                     now=datetime(2031, 1, 1, tzinfo=UTC).timestamp())
    assert holds("now.getHours() == 9")  # UTC
    # Timestamps in arguments are strings; timestamp() parses them, a bad one is an error.
    assert holds("timestamp(args.end) - timestamp(args.start) <= duration('168h')",
                 {"start": "2026-01-01T00:00:00Z", "end": "2026-01-07T00:00:00Z"})
    assert not holds("timestamp(args.end) - timestamp(args.start) <= duration('168h')",
                     {"start": "2026-01-01T00:00:00Z", "end": "2026-01-09T00:00:00Z"})
    assert isinstance(run("timestamp(args.end) > now", {"end": "next week"}), CelError)


def test_a_clock_out_of_range_is_an_error_value() -> None:
    for bad in (1e300, float("nan")):
        assert isinstance(run("now < timestamp('2030-01-01T00:00:00Z')", now=bad), CelError)


def test_values_cel_cannot_hold_make_an_error_value() -> None:
    for value in [(1, 2), {1, 2}, object(), "\ud800", [b"ok", object()]]:
        result = run("args.amount <= 100", {"amount": 5, "other": value})
        assert isinstance(result, CelError), value
        assert not holds("args.amount <= 100", {"amount": 5, "other": value})
    # A key of the arguments that is not a string (a caller's dict, not JSON).
    assert isinstance(run("args.amount <= 100", {"amount": 5, 1: "x"}), CelError)  # type: ignore[dict-item]
    # Nested maps may have other keys: CEL maps do.
    assert holds("args.amount <= 100", {"amount": 5, "other": {1: "int key"}})


def test_only_true_holds() -> None:
    assert isinstance(compile_condition("args.flag"), Condition)  # dyn: allowed at compile time
    for value in [1, "true", [True], {"a": True}, None, 1.0]:
        assert run("args.flag", {"flag": value}) == value
        assert not holds("args.flag", {"flag": value})
    assert holds("args.flag", {"flag": True})


def test_error_values_hide_the_engines_message() -> None:
    # The engine's text would quote the value; a CelError keeps only its status code.
    result = run("args.amount <= 100", {"amount": 2**70})
    assert isinstance(result, CelError)
    assert str(2**70) not in repr(result) and result.code == "INVALID_ARGUMENT"


# -- compiling ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "message"), [
    ("amount < 3", "undeclared reference to 'amount' (the variables are args, tool, task"),
    ("args.amount <", "line 1, column 14: Syntax error"),
    ("args.a == 1 &&\n  user == 'x'", "line 2, column 3: undeclared reference to 'user'"),
    ("args.amount + 1", "must be a boolean expression; this one is of type int"),
    ("'yes'", "of type string"),
    ("", "non-empty"),
    ("   ", "non-empty"),
    ("x" * 5000, "at most 4096 characters"),
])
def test_bad_expressions_are_refused_when_compiled(source: str, message: str) -> None:
    with pytest.raises(ConditionError, match=None) as info:
        compile_condition(source)
    assert message in str(info.value)


def test_compiling_is_cached_per_source() -> None:
    assert compile_condition("tool == 'a'") is compile_condition("tool == 'a'")


def test_only_named_variables_are_built() -> None:
    condition = compile_condition("args.a == 1")
    assert condition.names == {"args"}
    assert call_data(condition, {"a": 1}, "t", "k", None, NOW) == {"args": {"a": 1}}
    both = compile_condition("now > timestamp('2020-01-01T00:00:00Z') && task == 'k'")
    data = call_data(both, {}, "t", "k", None, NOW)
    assert set(data) == {"now", "task"} and data["now"] == datetime.fromtimestamp(NOW, UTC)


def test_an_environment_is_reusable_with_other_variables() -> None:
    # What the approvals' `ask` reuses: any variables, compile once, evaluate with a map.
    env = Environment({"amount": "double", "who": "string"})
    condition = env.compile("amount > 50.0 || who != 'alice'")
    assert condition.evaluate({"amount": 60.0, "who": "alice"}) is True
    assert condition.evaluate({"amount": 10.0, "who": "alice"}) is False
    assert isinstance(condition.evaluate({"amount": 10.0}), CelError)
    with pytest.raises(ConditionError, match="undeclared reference to 'args"):
        env.compile("args.x == 1")
    assert set(CALL_VARIABLES) == {"args", "tool", "task", "principal", "now"}


def test_evaluation_is_safe_from_many_threads() -> None:
    condition = compile_condition("args.amount <= 100.0 && args.currency == 'EUR'")
    wrong: list[int] = []

    def work(offset: int) -> None:
        for i in range(300):
            amount = (i + offset) % 200
            got = condition.holds({"args": {"amount": amount, "currency": "EUR"}})
            if got != (amount <= 100):
                wrong.append(amount)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
