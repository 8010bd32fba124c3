"""`Guard.wrap`: a function behind the guard, same signature, sync or async.

Each call binds its positional and keyword arguments to parameter names (the names the manifest
constrains), adds the defaults the manifest constrains, and runs through the guard.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

from .._errors import ManifestError
from .._manifest._models import ToolGrant

__all__ = ["Bind", "binder", "check_signature", "guarded", "parameter_defaults"]

F = TypeVar("F", bound=Callable[..., Any])
Bind = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]
Run = Callable[[str, dict[str, Any], Callable[[], Any], str | None], Any]
ARun = Callable[[str, dict[str, Any], Callable[[], Any], str | None], Awaitable[Any]]

_P = inspect.Parameter


def check_signature(grant: ToolGrant | None, tool: str, fn: Any, sig: inspect.Signature) -> None:
    """A constraint on a parameter `fn` does not have would never apply: a `ManifestError`."""
    if grant is None:
        return
    params = sig.parameters
    if any(p.kind is _P.VAR_KEYWORD for p in params.values()):
        return
    fname = getattr(fn, "__qualname__", repr(fn))
    problems = [
        f"tools.{tool}.args.{arg}: {fname}() has no parameter {arg!r}, so this "
        "constraint would never apply (a typo?)"
        for arg in grant.args if arg not in params
    ]
    if grant.budget is not None:  # with allow_other_args, only the signature can tell
        problems += [
            f"tools.{tool}.{where}: {fname}() has no parameter {arg!r}, so this budget would "
            "never see it (a typo?)"
            for where, arg in grant.budget.arguments() if arg not in params and arg not in grant.args
        ]
    if problems:
        raise ManifestError(problems, source=None)


def parameter_defaults(sig: inspect.Signature) -> dict[str, Any]:
    return {name: p.default for name, p in sig.parameters.items() if p.default is not _P.empty}


def binder(sig: inspect.Signature, defaults: Mapping[str, Any]) -> Bind:
    """A function from a call's `(args, kwargs)` to the arguments by name, `defaults` added."""
    params = sig.parameters
    # Plain parameters (no *args, **kwargs or positional-only) bind without inspect, which
    # costs several microseconds per call; anything unusual takes inspect's path.
    plain = all(p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY) for p in params.values())
    positional = tuple(name for name, p in params.items() if p.kind is _P.POSITIONAL_OR_KEYWORD)

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
                    out.update(value)
                elif kind is _P.VAR_POSITIONAL:
                    out[pname] = list(value)
                else:
                    out[pname] = value
        for pname, value in defaults.items():
            out.setdefault(pname, value)
        return out

    return bind


def guarded(fn: F, tool: str, bind: Bind, run: Run, arun: ARun) -> F:
    """`fn` whose every call runs as `run(tool, bound arguments, the call, None)` (or `arun`)."""
    if _is_async(fn):

        @functools.wraps(fn)
        async def guarded_async(*a: Any, **kw: Any) -> Any:
            return await arun(tool, bind(a, kw), lambda: fn(*a, **kw), None)

        return cast(F, guarded_async)

    @functools.wraps(fn)
    def guarded_sync(*a: Any, **kw: Any) -> Any:
        return run(tool, bind(a, kw), lambda: fn(*a, **kw), None)

    return cast(F, guarded_sync)


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)
