"""CEL conditions: an expression compiled once, evaluated per call to a value or an error value.

The engine is `cel-expr-python` (Google's C++ CEL runtime; `benchmarks/bench_conditions.py`
measured it against `common-expression-language`). It is the optional extra `cel` (its wheels
cover Linux glibc x86_64/aarch64, macOS and Windows, but there is no sdist and no musl wheel),
imported only when a manifest has a condition: a manifest without one never loads it, and one
with a condition but without the extra is a `ManifestError` naming the extra.

`Environment(variables)` compiles expressions over the declared variables (an undeclared name is
a `ConditionError` at compile time); `Condition.evaluate(data)` returns the result as a Python
value, or a `CelError` when the expression evaluated to an error (a missing key, a type mismatch,
a value CEL cannot represent such as a tuple or an integer beyond 64 bits): it never raises.
`Condition.holds(data)` is true only for the boolean `true`. `compile_condition(source)` compiles
against the variables of a tool call (`CALL_VARIABLES`: `args`, `tool`, `task`, `principal`,
`now`), cached per source text, and `call_data` builds what such a condition reads, computing
only the variables its text names (`now` costs a datetime).

Custom functions go in through `cel.FunctionDecl` / `cel.Overload(..., impl=fn)` when an
`Environment` is built (`FUNCTIONS`), not per call: `untrusted(value)` and
`from_results(value, tool)` (provenance) read the current decision's view
(`guardrail._provenance.current`), which the decider sets for tools whose expressions name them
(`uses_provenance`). Without a view they fail closed: `untrusted` is true (an `ask` asks, a
`when: "!untrusted(...)"` denies), `from_results` false.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .. import _provenance

__all__ = [
    "CALL_VARIABLES",
    "CEL_EXTRA",
    "CelError",
    "Condition",
    "ConditionError",
    "Environment",
    "call_data",
    "compile_condition",
    "uses_provenance",
]

CEL_EXTRA = "cel"
"""The optional dependency that holds the engine: `pip install 'task-guardrail[cel]'`."""

CALL_VARIABLES: dict[str, str] = {
    "args": "map",  # the call's arguments, after defaults
    "tool": "string",
    "task": "string",
    "principal": "dyn",  # a string, or null when the manifest names none
    "now": "timestamp",  # the guard's clock
}

MAX_SOURCE = 4096


class ConditionError(ValueError):
    """An expression that cannot be used (syntax, an unknown variable, not a boolean, the engine
    missing); the message says what and where in the expression."""


class CelError:
    """An evaluation that ended in an error value. `code` is the engine's status code
    (`NOT_FOUND`, `INVALID_ARGUMENT`, ...): the engine's full message is kept out because it may
    quote argument values, which never go into denials or telemetry."""

    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        self.code = code

    def __repr__(self) -> str:
        return f"CelError({self.code!r})"


_STATUS = re.compile(r"([A-Z_]{3,40}):")


def _error_code(text: object) -> str:
    match = _STATUS.match(str(text))
    return match.group(1) if match else "UNKNOWN"


_ERROR_TYPE: Any = None  # cel.Type.ERROR, set when the engine is first imported


class Condition:
    """One compiled expression. Immutable; safe to share between threads and manifests."""

    __slots__ = ("_program", "names", "source")

    def __init__(self, source: str, program: Any, names: frozenset[str]) -> None:
        self.source = source
        self._program = program
        # The declared variables the text names (a superset of those it reads: a word in a
        # string literal counts too, which costs only time).
        self.names = names

    def evaluate(self, data: Mapping[str, Any]) -> Any:
        """The value of the expression for `data`, or a `CelError`. Never raises."""
        try:
            result = self._program.eval(data=data)
            if result.type() == _ERROR_TYPE:
                return CelError(_error_code(result.value()))
            return result.plain_value()
        except Exception as exc:  # a value the binding cannot convert (e.g. a lone surrogate)
            return CelError(_error_code(exc) if _STATUS.match(str(exc)) else "INVALID_ARGUMENT")

    def holds(self, data: Mapping[str, Any]) -> bool:
        """True only when the expression evaluates to the boolean `true`."""
        try:
            return self._program.eval(data=data).value() is True
        except Exception:
            return False

    def is_false(self, data: Mapping[str, Any]) -> bool:
        """True only when the expression evaluates to the boolean `false` (an `ask` rule that
        does not ask: anything else, an error included, asks)."""
        try:
            return self._program.eval(data=data).value() is False
        except Exception:
            return False

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"


def _engine() -> Any:
    global _ERROR_TYPE
    try:
        from cel_expr_python import cel
    except ImportError:
        raise ConditionError(
            f"conditions need the CEL engine: pip install 'task-guardrail[{CEL_EXTRA}]'"
        ) from None
    _ERROR_TYPE = cel.Type.ERROR
    return cel


class Environment:
    """Compiles expressions over declared variables (name -> `map`, `string`, `int`, `double`,
    `bool`, `timestamp`, `list` or `dyn`)."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        cel = _engine()
        t = cel.Type
        types = {
            "map": t.Map(t.STRING, t.DYN), "list": t.List(t.DYN), "string": t.STRING,
            "int": t.INT, "double": t.DOUBLE, "bool": t.BOOL, "timestamp": t.TIMESTAMP,
            "dyn": t.DYN,
        }
        self._type = t
        self.variables = dict(variables)
        self._env = cel.NewEnv(
            variables={name: types[kind] for name, kind in variables.items()},
            functions=_functions(cel),
        )
        self._words = {name: re.compile(rf"\b{re.escape(name)}\b") for name in variables}
        self._lock = threading.Lock()

    def compile(self, source: str) -> Condition:
        if not isinstance(source, str) or not source.strip():
            raise ConditionError("a condition must be a non-empty CEL expression")
        if len(source) > MAX_SOURCE:
            raise ConditionError(f"a condition is at most {MAX_SOURCE} characters")
        try:
            with self._lock:  # compiling is rare; keep the shared environment single-threaded
                program = self._env.compile(source)
        except Exception as exc:
            raise ConditionError(_compile_message(str(exc), self.variables)) from None
        kind, cel_type = program.return_type(), self._type
        if not (kind == cel_type.BOOL or kind == cel_type.DYN):
            raise ConditionError(
                f"a condition must be a boolean expression; this one is of type "
                f"{kind.name().lower()}"
            )
        names = frozenset(n for n, word in self._words.items() if word.search(source))
        return Condition(source, program, names)


# -- provenance functions ----------------------------------------------------------------------


def _untrusted(value: Any) -> bool:
    probe = _provenance.current()
    if probe is None or probe.view is None:
        return True  # no task's view: doubt, which an `ask` sends to a person
    return probe.view.untrusted(value) is not None


def _from_results(value: Any, tool: str) -> bool:
    probe = _provenance.current()
    if probe is None or probe.view is None:
        return False
    return probe.view.from_results(value, frozenset((tool,)))


_PROVENANCE_CALL = re.compile(r"\b(?:untrusted|from_results)\s*\(")


def uses_provenance(source: str) -> bool:
    """True when an expression calls `untrusted` or `from_results` (a superset: a string literal
    naming them counts too, which costs only time)."""
    return _PROVENANCE_CALL.search(source) is not None


def _functions(cel: Any) -> list[Any]:
    """`untrusted(value)` and `from_results(value, tool)`: one overload per value type, since the
    engine matches an argument of type dyn only against concrete parameter types."""
    t = cel.Type
    kinds = {
        "string": t.STRING, "list": t.List(t.DYN), "map": t.Map(t.STRING, t.DYN), "int": t.INT,
        "uint": t.UINT, "double": t.DOUBLE, "bool": t.BOOL, "null": t.NULL,
    }
    return [
        cel.FunctionDecl("untrusted", [
            cel.Overload(f"untrusted_{name}", t.BOOL, [kind], impl=_untrusted)
            for name, kind in kinds.items()
        ]),
        cel.FunctionDecl("from_results", [
            cel.Overload(f"from_results_{name}_string", t.BOOL, [kind, t.STRING], impl=_from_results)
            for name, kind in kinds.items()
        ]),
    ]


_LOCATION = re.compile(r"<input>:(\d+):(\d+): ")


def _compile_message(text: str, variables: Mapping[str, str]) -> str:
    """The engine's compile error as one line per problem: `line L, column C: what`."""
    problems = []
    for line in text.splitlines():
        _, sep, rest = line.partition("ERROR: ")
        if not sep:
            continue
        match = _LOCATION.match(rest)
        what = rest[match.end():] if match else rest
        what = what.replace(" (in container '')", "").removesuffix(" [INVALID_ARGUMENT]")
        if "undeclared reference" in what:
            what += f" (the variables are {', '.join(variables)})"
        where = f"line {match.group(1)}, column {match.group(2)}: " if match else ""
        problems.append(f"{where}{what}")
    if not problems:
        problems.append(text.removeprefix("INVALID_ARGUMENT: ").strip() or "it does not compile")
    return "invalid CEL expression: " + "; ".join(problems)


@functools.cache
def _call_environment() -> Environment:
    return Environment(CALL_VARIABLES)


@functools.lru_cache(maxsize=4096)
def compile_condition(source: str) -> Condition:
    """`source` compiled over `CALL_VARIABLES` (cached: a manifest loaded twice, or a child that
    repeats its parent's condition, compiles it once). Raises `ConditionError`."""
    return _call_environment().compile(source)


def call_data(
    condition: Condition, args: Mapping[str, Any], tool: str, task: str, principal: str | None,
    now: float,
) -> dict[str, Any]:
    """The variables a condition on a tool call reads; only those its text names are built."""
    names = condition.names
    data: dict[str, Any] = {}
    if "args" in names:
        data["args"] = args if type(args) is dict else dict(args)
    if "tool" in names:
        data["tool"] = tool
    if "task" in names:
        data["task"] = task
    if "principal" in names:
        data["principal"] = principal
    if "now" in names:
        # A clock out of datetime's range leaves `now` out: reading it is then an error value.
        with contextlib.suppress(OverflowError, OSError, ValueError, TypeError):
            data["now"] = datetime.fromtimestamp(now, UTC)
    return data
