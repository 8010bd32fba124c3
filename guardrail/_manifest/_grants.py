"""What a manifest grants per tool: its argument constraints, budget and retries."""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from .._policy._conditions import MAX_SOURCE, ConditionError, compile_condition
from ._constraint import Constraint

__all__ = ["Budget", "RetrySpec", "Strict", "ToolGrant", "parse_duration"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_EXCEPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def parse_duration(value: str | int | float) -> float:
    """`30s`, `15m`, `2h`, `1d`, `1h30m`, `250ms` or a number of seconds, as seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a string like '15m' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        if not text or _DURATION.sub("", text):
            raise ValueError(f"invalid duration {value!r}: use forms like '30s', '15m', '2h', '1d'")
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


class Strict(BaseModel):
    # Unknown keys are errors: a typo such as `max_lenght` must never drop a constraint.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Number = StrictInt | StrictFloat
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]


ArgName = Annotated[str, Field(min_length=1, max_length=256)]


class Budget(Strict):
    """`calls`: at most this many allowed calls. `sum`: argument name -> the most its values may
    add up to over the task. `per`: the limits count separately per value of this argument (a
    tool grant's budget only). `distinct`: argument name -> the most different values it may take
    (a tool grant's budget only). `window`: the limits hold per rolling window of this duration
    instead of over the whole task."""

    calls: NonNegativeInt | None = None
    sum: dict[str, Annotated[Number, Field(ge=0)]] | None = None
    per: ArgName | None = Field(
        default=None, description="Count the limits separately per value of this argument."
    )
    distinct: dict[str, Annotated[StrictInt, Field(ge=1)]] | None = Field(
        default=None, description="Argument name -> at most this many different values."
    )
    window: str | Annotated[StrictInt, Field(gt=0)] | Annotated[StrictFloat, Field(gt=0)] | None = (
        Field(default=None, description="The limits hold per rolling window of this duration "
              "(e.g. '1h'), at most the manifest's lifetime.")
    )

    @field_validator("sum")
    @classmethod
    def _finite(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for name, limit in (value or {}).items():
            if not math.isfinite(limit):
                raise ValueError(f"sum limit of {name!r} must be a finite number")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _limited(self) -> Self:
        limits = self.calls is not None or bool(self.sum) or bool(self.distinct)
        if self.per is not None and not limits:
            raise ValueError("per needs a limit to count per value (calls, sum or distinct)")
        if self.window is not None and not limits:
            raise ValueError("window needs a limit to hold per window (calls, sum or distinct)")
        if self.per is not None and self.per in (self.distinct or {}):
            raise ValueError(
                f"distinct.{self.per}: counted per {self.per!r}, it always has one value"
            )
        return self

    @property
    def window_seconds(self) -> float:
        """The window in seconds; 0.0 when the limits hold over the whole task."""
        return parse_duration(self.window) if self.window is not None else 0.0

    def arguments(self) -> list[tuple[str, str]]:
        """(where, argument) of every argument the budget names: sums, `per`, `distinct`."""
        out = [(f"budget.sum.{a}", a) for a in self.sum or {}]
        if self.per is not None:
            out.append(("budget.per", self.per))
        out += [(f"budget.distinct.{a}", a) for a in self.distinct or {}]
        return out


class RetrySpec(Strict):
    """Bounded retries of a failing allowed call. Every attempt is authorized and charged as a
    call, so retries never go past a budget or the expiry."""

    attempts: Annotated[StrictInt, Field(ge=1, le=10)]
    on: list[str] = Field(min_length=1)
    backoff: str | StrictInt | StrictFloat | None = None

    @field_validator("backoff")
    @classmethod
    def _backoff(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("on")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _EXCEPTION_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an exception class name")
        return value

    @property
    def backoff_seconds(self) -> float:
        return parse_duration(self.backoff) if self.backoff is not None else 0.0

    def matches(self, exc: BaseException) -> bool:
        """True when `exc` is (a subclass of) one of the named exception classes."""
        names = set(self.on)
        for cls in type(exc).__mro__:
            if cls.__name__ in names or f"{cls.__module__}.{cls.__qualname__}" in names:
                return True
        return False


_Expression = Annotated[str, Field(min_length=1, max_length=MAX_SOURCE)]


class ToolGrant(Strict):
    """One granted tool: its argument constraints, its condition, its budget and its retries."""

    args: dict[str, Constraint] = Field(default_factory=dict)
    allow_other_args: StrictBool = False
    when: Annotated[str, Field(min_length=1, max_length=MAX_SOURCE)] | None = Field(
        default=None,
        description="A CEL expression over args, tool, task, principal and now that must be "
        "true for the call to be allowed (needs the 'cel' extra).",
    )
    ask: StrictBool | _Expression | Annotated[list[_Expression], Field(min_length=1)] | None = Field(
        default=None,
        description="When a person approves the call: true (every call), a CEL expression over "
        "the same variables as `when`, or a list of them (any true asks; an expression that "
        "evaluates to an error asks too). Needs the 'cel' extra for expressions.",
    )
    budget: Budget | None = None
    retry: RetrySpec | None = None
    refund_on_error: StrictBool = Field(
        default=False,
        description="An allowed call whose tool raises gives its budget charges back.",
    )
    results: Literal["trusted", "untrusted"] | None = Field(
        default=None,
        description="Whether what the tool returns is trusted content for provenance checks "
        "(default: untrusted).",
    )

    @field_validator("ask")
    @classmethod
    def _ask(cls, value: bool | str | list[str] | None) -> bool | str | list[str] | None:
        if isinstance(value, list):
            for i, source in enumerate(value):
                try:
                    compile_condition(source)
                except ConditionError as exc:
                    raise ValueError(f"item {i}: {exc}") from None
        elif isinstance(value, str):
            try:
                compile_condition(value)
            except ConditionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @property
    def ask_rules(self) -> list[str]:
        """The ask rules as written, one per item: `true`, or a CEL expression."""
        if self.ask is None or self.ask is False:
            return []
        if self.ask is True:
            return ["true"]
        return [self.ask] if isinstance(self.ask, str) else list(self.ask)

    @field_validator("when")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        # Compiled here so that a bad expression names its own path and line; compiling again
        # when the manifest is compiled hits the cache.
        if value is not None:
            try:
                compile_condition(value)
            except ConditionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _sums_named(self) -> Self:
        # With `allow_other_args` the tool's own parameters are known only when it is wrapped
        # (`argument_problems`).
        if self.budget is not None and not self.allow_other_args:
            for where, name in self.budget.arguments():
                if name not in self.args:
                    raise ValueError(f"{where} names argument {name!r}, which args does not grant")
        return self
