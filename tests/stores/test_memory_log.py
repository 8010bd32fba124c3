"""The memory store's window log against a plain list: any order of charges (clocks disagree),
refunds and forgetting, the same use in every window."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from guardrail._stores._memory import _Log

ops = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 20), st.integers(0, 5), st.sampled_from(["", "a", "b"])),
    st.tuples(st.just("remove"), st.integers(0, 30), st.just(0), st.just("")),
    st.tuples(st.just("forget"), st.integers(-1, 20), st.just(0), st.just("")),
), max_size=40)


@given(ops, st.integers(-1, 21))
def test_the_log_agrees_with_a_list(steps: list[tuple[str, int, int, str]], cutoff: int) -> None:
    log = _Log()
    model: list[tuple[float, str, int, str]] = []
    for n, (op, x, units, member) in enumerate(steps):
        if op == "add":
            log.add(float(x), f"e{n}", units if not member else 0, member)
            model.append((float(x), f"e{n}", units if not member else 0, member))
        elif op == "remove":
            log.remove(f"e{x}")
            model = [m for m in model if m[1] != f"e{x}"]
        else:
            log.forget(float(x))
            model = [m for m in model if m[0] > x]
        later = [m for m in model if m[0] > cutoff]
        assert log.in_window(float(cutoff), False)[1] == sum(m[2] for m in later if not m[3])
        names, count = log.in_window(float(cutoff), True)
        assert count == len({m[3] for m in later if m[3]})
        assert set(k for k in names if (names[k] if isinstance(names, dict) else True)) == {
            m[3] for m in later if m[3]}
