"""Manifest data written as readable YAML: keys in the order the docs use, short constraint
mappings on one line (`{type: number, min: 0, max: 50}`), comments where they help.

The text reads back (through `Manifest.from_yaml`) as exactly the data written: every string that
the manifest reader would take for something else (`null`, `true`, `012`, `1e3`, `.inf`, a date is
fine) is quoted, and characters YAML cannot hold raw are escaped. Comments never carry a line
break, so no comment can add a key.

Stage A moves this module into `guardrail/_manifest/`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._data import _FALSE, _FLOAT, _INT, _NOT_FINITE, _NULL, _TRUE

__all__ = ["Comments", "default_comments", "manifest_json", "manifest_yaml", "write_file"]

KeyPath = tuple[str | int, ...]

WIDTH = 100

# Key order per kind of mapping, as the docs write them; keys not listed keep their own order
# after the listed ones (so a key added to the format later is still written).
_ORDER: dict[str, tuple[str, ...]] = {
    "manifest": ("manifest", "task", "principal", "issuer", "issued_at", "not_before", "expires_at",
                 "ttl", "inputs", "budget", "tools", "signature"),
    "grant": ("args", "allow_other_args", "results", "when", "ask", "budget", "refund_on_error",
              "retry"),
    "constraint": ("type", "equals", "one_of", "not_one_of", "min", "max", "min_length",
                   "max_length", "pattern", "starts_with", "path_within", "url", "provenance",
                   "from_results", "each", "fields", "any_of", "not", "required"),
    "budget": ("calls", "sum", "per", "distinct", "window"),
    "url": ("schemes", "hosts", "path_prefix"),
    "retry": ("attempts", "on", "backoff"),
}

# What each key's value is, by the kind of the mapping holding it.
_CHILD: dict[str, dict[str, str]] = {
    "manifest": {"budget": "budget", "tools": "tools"},
    "tools": {"*": "grant"},
    "grant": {"args": "args", "budget": "budget", "retry": "retry"},
    "args": {"*": "constraint"},
    "constraint": {"each": "constraint", "fields": "args", "not": "constraint", "url": "url",
                   "any_of": "constraints"},
    "constraints": {"*": "constraint"},
}

# Mappings that are always written as blocks (one key per line), however short.
_BLOCK = frozenset({"manifest", "tools", "grant", "args"})

_PLAIN = re.compile(r"[A-Za-z0-9_/.](?:[A-Za-z0-9_./@+=-]|:(?=[^\s,\]}])| (?=[A-Za-z0-9_./]))*")
# YAML's printable characters, minus its line breaks (which a quoted scalar would fold).
_PRINTABLE = r"\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff"
_RAW_OK = re.compile(f"[{_PRINTABLE}]*")
_COMMENT_BAD = re.compile(f"[^{_PRINTABLE}]")


@dataclass
class Comments:
    """Comments to write with the data. Paths are keys from the top (`("tools", "read_ticket")`).

    `header`: lines at the top; `trailing`: at the end of the line holding a key; `before`: lines
    above a key; `end`: lines after the last key of a mapping (indented as its keys)."""

    header: list[str] = field(default_factory=list)
    trailing: dict[KeyPath, str] = field(default_factory=dict)
    before: dict[KeyPath, list[str]] = field(default_factory=dict)
    end: dict[KeyPath, list[str]] = field(default_factory=dict)

    def has_inside(self, path: KeyPath) -> bool:
        """True when a comment sits strictly inside the value at `path` (it must be a block)."""
        n = len(path)
        return any(
            len(p) > n and p[:n] == path
            for table in (self.trailing, self.before, self.end) for p in table
        ) or path in self.end


def comment_text(text: str) -> str:
    """One comment line's text: no line break, no character YAML cannot hold."""
    return _COMMENT_BAD.sub(" ", text).strip()


# -- scalars ----------------------------------------------------------------------------------


_YAML11 = yaml.resolver.Resolver()


def _reads_as_string(text: str) -> bool:
    """True when plain `text` is a string both to the manifest reader (JSON's rules) and to
    YAML 1.1 readers such as editors' (`yes`, `012`, `0x1F`, `1_000` are not)."""
    if text in _NULL or text in _TRUE or text in _FALSE:
        return False
    if _INT.fullmatch(text) or _FLOAT.fullmatch(text) or _NOT_FINITE.fullmatch(text):
        return False
    tag: str = _YAML11.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag == "tag:yaml.org,2002:str"


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\\":
        return "\\\\"
    if ch == '"':
        return '\\"'
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def string(text: str) -> str:
    """A string as a YAML scalar that reads back as the same string, in a block or in a flow."""
    if _PLAIN.fullmatch(text) and _reads_as_string(text):
        return text
    if _RAW_OK.fullmatch(text):
        return "'" + text.replace("'", "''") + "'"
    out = []
    for ch in text:
        out.append(ch if _RAW_OK.fullmatch(ch) and ch not in '\\"' else _escape(ch))
    return '"' + "".join(out) + '"'


def number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written in a manifest")
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:  # 1e+20 is a string to YAML 1.1 readers; 1.0e+20 a float
        text = f"{mantissa}.0e{exponent}"
    return text


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, str):
        return string(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


# -- structure --------------------------------------------------------------------------------


def _ordered(data: Mapping[str, Any], kind: str) -> list[str]:
    order = _ORDER.get(kind, ())
    known = [k for k in order if k in data]
    return known + [k for k in data if k not in order]


def _child_kind(kind: str, key: str | int) -> str:
    table = _CHILD.get(kind, {})
    if "*" in table:
        return table["*"]
    return table.get(str(key), "data")


def _flow(value: Any, kind: str) -> str:
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        parts = [f"{string(str(k))}: {_flow(value[k], _child_kind(kind, k))}"
                 for k in _ordered(value, kind)]
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v, _child_kind(kind, i)) for i, v in enumerate(value)) + "]"
    return scalar(value)


def _is_collection(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


class _Writer:
    def __init__(self, comments: Comments, width: int) -> None:
        self.comments = comments
        self.width = width
        self.lines: list[str] = []

    def comment_lines(self, texts: Sequence[str], indent: int) -> None:
        for text in texts:
            self.lines.append(" " * indent + "# " + comment_text(text) if text else "#")

    def add(self, text: str, path: KeyPath) -> None:
        note = self.comments.trailing.get(path)
        self.lines.append(f"{text}  # {comment_text(note)}" if note else text)

    def mapping(self, data: Mapping[str, Any], indent: int, path: KeyPath, kind: str) -> None:
        pad = " " * indent
        for key in _ordered(data, kind):
            here = (*path, key)
            self.comment_lines(self.comments.before.get(here, ()), indent)
            self.entry(f"{pad}{string(str(key))}:", data[key], indent, here, _child_kind(kind, key))
        self.comment_lines(self.comments.end.get(path, ()), indent)

    def entry(self, head: str, value: Any, indent: int, path: KeyPath, kind: str) -> None:
        """`head` is the text up to and including the `:` or `-` that introduces `value`."""
        if not _is_collection(value) or not value:
            self.add(f"{head} {_flow(value, kind)}", path)
            self.comment_lines(self.comments.end.get(path, ()), indent + 2)
            return
        if kind not in _BLOCK and not self.comments.has_inside(path):
            line = f"{head} {_flow(value, kind)}"
            if len(line) <= self.width:
                self.add(line, path)
                return
        self.add(head, path)
        if isinstance(value, Mapping):
            self.mapping(value, indent + 2, path, kind)
        else:
            for i, item in enumerate(value):
                self.item(item, indent + 2, (*path, i), _child_kind(kind, i))

    def item(self, value: Any, indent: int, path: KeyPath, kind: str) -> None:
        pad = " " * indent
        if isinstance(value, Mapping) and value and (
            kind in _BLOCK or self.comments.has_inside(path)
            or len(pad) + 2 + len(_flow(value, kind)) > self.width
        ):
            # A block mapping in a list: its first key on the dash's line.
            start = len(self.lines)
            self.mapping(value, indent + 2, path, kind)
            first = self.lines[start]
            if first.lstrip().startswith("#"):
                self.lines.insert(start, pad + "-")
            else:
                self.lines[start] = pad + "- " + first[indent + 2:]
            return
        self.entry(f"{pad}-", value, indent, path, kind)


def manifest_yaml(data: Mapping[str, Any], comments: Comments | None = None, *,
                  width: int = WIDTH) -> str:
    """Manifest data (as `Manifest.model_dump(by_alias=True, exclude_unset=True, mode="json")`
    gives it) as YAML text."""
    notes = comments or Comments()
    writer = _Writer(notes, width)
    writer.comment_lines(notes.header, 0)
    writer.mapping(data, 0, (), "manifest")
    return "\n".join(writer.lines) + "\n"


def manifest_json(data: Mapping[str, Any]) -> str:
    """Manifest data as indented JSON (non-ASCII text as is)."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_file(data: Mapping[str, Any], path: str | os.PathLike[str],
               comments: Comments | None = None) -> None:
    """Write manifest data to `path`: JSON for a `.json` file, YAML otherwise (UTF-8)."""
    target = Path(path)
    text = manifest_json(data) if target.suffix.lower() == ".json" else manifest_yaml(data, comments)
    target.write_text(text, encoding="utf-8")


def default_comments(data: Mapping[str, Any]) -> Comments:
    """The comments `Manifest.to_yaml()` writes: what a reader might not know from the key."""
    notes = Comments()
    task = data.get("task")
    if isinstance(task, str):
        notes.header.append(f"Delegation manifest for task {task}.")
    if isinstance(data.get("budget"), Mapping):
        notes.trailing[("budget",)] = "the whole task, all tools together"
    if "signature" in data:
        notes.before[("signature",)] = ["Covers everything above: any edit invalidates it."]
    tools = data.get("tools")
    for name, grant in (tools.items() if isinstance(tools, Mapping) else ()):
        if not isinstance(grant, Mapping):
            continue
        if grant.get("allow_other_args") is True:
            notes.trailing[("tools", name, "allow_other_args")] = "arguments not named are not checked"
        args = grant.get("args")
        for arg, constraint in (args.items() if isinstance(args, Mapping) else ()):
            if constraint == {}:
                notes.trailing[("tools", name, "args", arg)] = "any value"
    return notes
