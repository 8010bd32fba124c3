"""Helpers for testing code that uses guardrail (and for guardrail's own tests).

    from guardrail import DelegationExpired, DenialCode, Guard
    from guardrail.testing import CapturedSpans, FailingStore, FakeClock, task_id

    clock = FakeClock()
    spans = CapturedSpans()
    guard = Guard({"task": task_id(), "ttl": "5m", "tools": {"ping": None}},
                  clock=clock, tracer_provider=spans.provider)
    assert guard.check("ping").allowed
    clock.advance(301)
    try:
        guard.invoke("ping", lambda: None, {})
    except DelegationExpired:
        pass
    assert spans.names() == ["execute_tool ping"]

    down = Guard({"task": task_id(), "ttl": "5m", "tools": {"pay": {"budget": {"calls": 1}}}},
                 store=FailingStore())
    assert down.check("pay").denial.code is DenialCode.STORE_UNAVAILABLE

Every helper is a real component: `FailingStore` is a `BudgetStore` over a `MemoryStore`,
`CapturedSpans` the OpenTelemetry SDK with its own in-memory exporter. This module imports the
OpenTelemetry SDK; `import guardrail` does not import this module.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import ClassVar

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# The public API only, like any other user of the library (the core never imports this module).
from guardrail import BudgetStore, Charge, MemoryStore, Overrun, StoreUnavailable

__all__ = ["CapturedSpans", "FailingStore", "FakeClock", "task_id"]


def task_id(prefix: str = "task") -> str:
    """A unique task id, such as `task-1f0c6a9e2b3d`.

    Budgets and revocations are keyed on the task id, and the default store is process-wide, so
    tests that share a store (or the default one) stay apart by giving every manifest its own id.
    """
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class FakeClock:
    """A clock the test moves by hand; pass it as `Guard(..., clock=clock)`.

    It starts at the real time unless told otherwise, because a manifest's `ttl` is counted from
    the real time the manifest is loaded.
    """

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative number) by `seconds`."""
        self.now += seconds


class FailingStore:
    """A `BudgetStore` whose methods named in `down` raise, the way a lost backend fails.

    The others answer from a `MemoryStore` inside. `down` may change during a test (it is a set):
    `store.down.clear()` brings the store back. `error` is raised as it is; without it each failing
    call raises a fresh `StoreUnavailable("<method>: connection refused")`. `calls` lists every
    method called, in order.
    """

    ALL: ClassVar[frozenset[str]] = frozenset({"consume", "used", "usage", "revoke", "revoked"})

    def __init__(self, down: Iterable[str] = ALL, error: Exception | None = None) -> None:
        self.down = set(down)
        unknown = self.down - self.ALL
        if unknown:
            raise ValueError(
                f"FailingStore(down=...): unknown store method(s) {sorted(unknown)}; "
                f"expected some of {sorted(self.ALL)}"
            )
        self.error = error
        self.inner = MemoryStore()
        self.calls: list[str] = []

    def _gate(self, name: str) -> None:
        self.calls.append(name)
        if name in self.down:
            raise self.error if self.error is not None else StoreUnavailable(f"{name}: connection refused")

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        self._gate("consume")
        return self.inner.consume(charges, expires_at=expires_at)

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        self._gate("used")
        return self.inner.used(keys)

    def usage(self, task: str) -> dict[str, float]:
        self._gate("usage")
        return self.inner.usage(task)

    def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        self._gate("revoke")
        self.inner.revoke(task, reason, expires_at=expires_at)

    def revoked(self, tasks: Sequence[str]) -> str | None:
        self._gate("revoked")
        return self.inner.revoked(tasks)

    def close(self) -> None:
        self.inner.close()


def _is_store(store: BudgetStore) -> BudgetStore:  # mypy checks FailingStore against the protocol
    return store


_is_store(FailingStore())


class CapturedSpans:
    """An OpenTelemetry SDK `TracerProvider` whose finished spans stay in memory.

    Pass `spans.provider` as a guard's (or an adapter's) `tracer_provider`; read what ended with
    `spans.spans()`. Usable as a context manager, which shuts the provider down on exit.
    """

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self, prefix: str = "") -> list[ReadableSpan]:
        """The finished spans whose name starts with `prefix` (all by default), oldest first."""
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(prefix)]

    def names(self) -> list[str]:
        """The names of the finished spans, oldest first."""
        return [s.name for s in self.exporter.get_finished_spans()]

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self.exporter.clear()

    def shutdown(self) -> None:
        self.provider.shutdown()

    def __enter__(self) -> CapturedSpans:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()
