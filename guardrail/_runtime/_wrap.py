"""`Guard.wrap`: a function behind the guard, same signature, sync or async.

Each call binds its positional and keyword arguments to parameter names (the names the manifest
constrains), leaves out a null where the function has a default for it (as `invoke` does), adds
the defaults the manifest constrains, and runs through the guard, which copies the arguments
(`_arguments`); the function is then called with that copy, re-bound to its signature.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from .._manifest._models import ToolGrant

__all__ = ["Bind", "argument_problems", "binder", "caller", "guarded", "parameter_defaults",
           "signature_names"]

F = TypeVar("F", bound=Callable[..., Any])
Bind = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]
Copy = Callable[[dict[str, Any]], Any]
Call = Callable[[dict[str, Any]], Any]
Run = Callable[[str, dict[str, Any], Callable[[], Any], str | None], Any]
ARun = Callable[[str, dict[str, Any], Callable[[], Any], str | None], Awaitable[Any]]

_P = inspect.Parameter


def argument_problems(
    grant: ToolGrant | None, tool: str, names: Iterable[str], *, others: bool, what: str
) -> list[str]:
    """A problem for each argument `grant` constrains that is not among `names` (unless the tool
    takes `others`): such a constraint would never apply, and a required one denies every call."""
    if grant is None or others:
        return []
    takes = frozenset(names)
    listed = ", ".join(sorted(takes)) or "no arguments"
    problems = [
        f"tools.{tool}.args.{arg}: {what} has no argument {arg!r} (it takes: {listed})"
        for arg in grant.args if arg not in takes
    ]
    if grant.budget is not None:  # with allow_other_args, only the signature can tell
        problems += [
            f"tools.{tool}.{where}: {what} has no argument {arg!r}, so this budget would "
            f"never see it (it takes: {listed})"
            for where, arg in grant.budget.arguments() if arg not in takes and arg not in grant.args
        ]
    return problems


def signature_names(sig: inspect.Signature) -> tuple[list[str], bool]:
    """The argument names a function takes by name, and whether it takes others (`**kwargs`)."""
    params = sig.parameters
    return list(params), any(p.kind is _P.VAR_KEYWORD for p in params.values())


def parameter_defaults(sig: inspect.Signature) -> dict[str, Any]:
    return {name: p.default for name, p in sig.parameters.items() if p.default is not _P.empty}


def binder(sig: inspect.Signature, defaults: Mapping[str, Any]) -> Bind:
    """A function from a call's `(args, kwargs)` to the arguments by name: a null for a parameter
    that has a default (or lands in `**kwargs`) left out, as `invoke` leaves it out, then
    `defaults` (the ones the manifest constrains) added."""
    params = sig.parameters
    # Plain parameters (no *args, **kwargs or positional-only) bind without inspect, which
    # costs several microseconds per call; anything unusual takes inspect's path.
    plain = all(p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY) for p in params.values())
    positional = tuple(name for name, p in params.items() if p.kind is _P.POSITIONAL_OR_KEYWORD)
    # A null counts as left out where Python can leave the argument out: a parameter with a
    # default, or a `**kwargs` key. Elsewhere (no default, positional-only, `*args`) it stays.
    kept = frozenset(
        name for name, p in params.items()
        if p.default is _P.empty or p.kind in (_P.POSITIONAL_ONLY, _P.VAR_POSITIONAL)
    )
    by_name = frozenset(
        name for name, p in params.items() if p.kind in (_P.POSITIONAL_ONLY, _P.VAR_POSITIONAL)
    )

    def bind(a: tuple[Any, ...], kw: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] | None = None
        if plain and len(a) <= len(positional):
            out = dict(zip(positional, a, strict=False))
            if kw and not all(k in params and k not in out for k in kw):
                out = None  # an unknown or repeated keyword: let inspect say so
            else:
                out.update(kw)
        if out is None:
            # bind_partial: a missing argument is for the manifest to deny
            # (argument_missing); if the manifest lets it through, fn raises its TypeError.
            out = {}
            for pname, value in sig.bind_partial(*a, **kw).arguments.items():
                kind = params[pname].kind
                if kind is _P.VAR_KEYWORD:
                    clash = by_name.intersection(value)
                    if clash:
                        # Checked by name, a `**kwargs` key and a positional-only parameter (or
                        # `*args`) of one name would be one argument: refuse to guess.
                        raise TypeError(
                            f"{sig}: {sorted(clash)[0]!r} given both positionally and as a "
                            "keyword argument; the guard checks arguments by name"
                        )
                    out.update(value)
                elif kind is _P.VAR_POSITIONAL:
                    out[pname] = list(value)
                else:
                    out[pname] = value
        nulls = [name for name, value in out.items() if value is None and name not in kept]
        for name in nulls:
            del out[name]
        for pname, value in defaults.items():
            out.setdefault(pname, value)
        return out

    return bind


def caller(fn: Callable[..., Any], sig: inspect.Signature) -> Call:
    """A function that calls `fn` with the checked arguments by name (as `bind` made them):
    positional-only parameters and `*args` positionally, everything else by keyword."""
    params = sig.parameters
    posonly = tuple(name for name, p in params.items() if p.kind is _P.POSITIONAL_ONLY)
    star = next((name for name, p in params.items() if p.kind is _P.VAR_POSITIONAL), None)
    if not posonly and star is None:
        return lambda checked: fn(**checked)
    # With `*args`, the parameters before it can only be given positionally.
    before_star = tuple(
        name for name, p in params.items() if p.kind is _P.POSITIONAL_OR_KEYWORD
    ) if star is not None else ()

    def call(checked: dict[str, Any]) -> Any:
        rest = dict(checked)
        a: list[Any] = []
        for name in posonly:
            if name not in rest:
                break  # left out: it and those after it take their defaults
            a.append(rest.pop(name))
        extra = rest.pop(star, None) if star is not None else None
        if extra:
            for name in before_star:
                a.append(rest.pop(name))
            a.extend(extra)
        return fn(*a, **rest)

    return call


def guarded(fn: F, tool: str, bind: Bind, copy: Copy, call: Call, run: Run, arun: ARun) -> F:
    """`fn` whose every call runs as `run(tool, arguments, the call, None)` (or `arun`): the
    arguments bound by name, then copied by the guard (`copy`); `fn` is called with exactly that
    copy (`call`), or, for arguments the guard could not copy (denied, so only in shadow mode),
    as it was called."""
    if _is_async(fn):

        @functools.wraps(fn)
        async def guarded_async(*a: Any, **kw: Any) -> Any:
            checked = copy(bind(a, kw))
            if type(checked) is not dict:
                return await arun(tool, checked, lambda: fn(*a, **kw), None)
            return await arun(tool, checked, lambda: call(checked), None)

        return cast(F, guarded_async)

    @functools.wraps(fn)
    def guarded_sync(*a: Any, **kw: Any) -> Any:
        checked = copy(bind(a, kw))
        if type(checked) is not dict:
            return run(tool, checked, lambda: fn(*a, **kw), None)
        return run(tool, checked, lambda: call(checked), None)

    return cast(F, guarded_sync)


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)
