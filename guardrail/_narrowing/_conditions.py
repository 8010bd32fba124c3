"""Comparing `when` conditions: proven only when the child's condition contains every conjunct of
the parent's, word for word (whitespace aside).

CEL is too rich to decide implication in general, so the check is syntactic and sound: a child
`A && B && C` implies a parent `A && C`. Anything else is `unprovable`, never `ok`. The parent's
condition binds at run time anyway (the chain checks every link), which the finding says.
"""

from __future__ import annotations

__all__ = ["conjuncts", "implies"]

_OPEN = {"(": ")", "[": "]", "{": "}"}


def _string_end(text: str, i: int) -> int:
    """The index after the string literal starting at `text[i]` (a quote)."""
    quote = text[i]
    raw = i > 0 and text[i - 1] in "rR"
    delim = quote * 3 if text.startswith(quote * 3, i) else quote
    j = i + len(delim)
    while j < len(text):
        if not raw and text[j] == "\\":
            j += 2
            continue
        if text.startswith(delim, j):
            return j + len(delim)
        j += 1
    return len(text)


def _tokens(text: str) -> list[tuple[str, int]]:
    """(piece, depth) pieces: string literals whole, other characters one by one."""
    out: list[tuple[str, int]] = []
    depth, i = 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            end = _string_end(text, i)
            out.append((text[i:end], depth))
            i = end
            continue
        if ch in _OPEN:
            out.append((ch, depth))
            depth += 1
        elif ch in ")]}":
            depth -= 1
            out.append((ch, depth))
        else:
            out.append((ch, depth))
        i += 1
    return out


def _normal(pieces: list[tuple[str, int]]) -> str:
    """The text without whitespace that separates nothing (kept between two word characters)."""
    out: list[str] = []
    pending = False
    for piece, _ in pieces:
        if piece.isspace():
            pending = True
            continue
        if pending and out and _wordy(out[-1][-1]) and _wordy(piece[0]):
            out.append(" ")
        pending = False
        out.append(piece)
    return "".join(out)


def _wordy(ch: str) -> bool:
    return ch.isalnum() or ch in "_'\""


def conjuncts(source: str) -> frozenset[str]:
    """The top-level `&&` operands of `source`, normalised; the whole text when it has a top-level
    `||` or `?:` (which bind looser than `&&`)."""
    pieces = _tokens(source)
    return frozenset(_split(pieces))


def _split(pieces: list[tuple[str, int]]) -> list[str]:
    while pieces and pieces[0][0].isspace():
        pieces = pieces[1:]
    while pieces and pieces[-1][0].isspace():
        pieces = pieces[:-1]
    if not pieces:
        return []
    base = pieces[0][1]
    # `( ... )` around the whole: look inside.
    if pieces[0][0] == "(" and pieces[-1][0] == ")" and all(
        d > base for _, d in pieces[1:-1]
    ):
        return _split([(p, d - 1) for p, d in pieces[1:-1]])
    top = [i for i, (p, d) in enumerate(pieces) if d == base]
    text = [pieces[i][0] for i in top]
    for k in range(len(top) - 1):
        if (text[k], text[k + 1]) == ("|", "|") or text[k] == "?":
            return [_normal(pieces)]
    if text and text[-1] == "?":
        return [_normal(pieces)]
    parts: list[str] = []
    start = 0
    k = 0
    while k < len(top) - 1:
        if text[k] == "&" and text[k + 1] == "&":
            parts += _split(pieces[start:top[k]])
            start = top[k + 1] + 1
            k += 2
            continue
        k += 1
    if start == 0:
        return [_normal(pieces)]
    parts += _split(pieces[start:])
    return parts


def implies(child: str, parent: str) -> bool:
    """True when `child` has every conjunct of `parent` (so it cannot be true while the parent is
    false); False means not proven."""
    return conjuncts(parent) <= conjuncts(child)
