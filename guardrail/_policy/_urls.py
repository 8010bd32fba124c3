"""The constraint kind on URLs: `url: {schemes, hosts, path_prefix}`.

A value passes when its scheme is listed (default https and http), its host matches a listed host
(exact or `*.` wildcard, case-insensitive; any host when `hosts` is absent) on the scheme's
default port unless a port is listed, and its normalised path lies under `path_prefix`.
User-info, control characters, backslashes, non-ASCII hosts and encoded dots or slashes in the
path are rejected.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, model_validator

from ._json import STR
from ._kind import Branch, Harvest, Kind, Sampler, written
from ._paths import normalize_path, within

__all__ = ["DEFAULT_URL_SCHEMES", "KINDS", "SAMPLERS", "Url", "UrlSpec", "parse_host_pattern",
           "url_subset"]

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_LABELS = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")
_URL_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_URL_SNEAKY_DOTS = re.compile(r"%25(?:25)*(?:2e|2f|5c)|(?:^|/)\.{1,2};")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
DEFAULT_URL_SCHEMES = ("https", "http")


def parse_host_pattern(entry: str) -> tuple[str, int | None]:
    """`api.example.com`, `*.example.com` or either with `:port`, lower-cased. Raises ValueError."""
    host, port = entry.strip().lower(), None
    if host.count(":") == 1:
        host, _, port_text = host.partition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"host {entry!r} has an invalid port")
        port = int(port_text)
    bare = host[2:] if host.startswith("*.") else host
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1], port
    if not _HOST_LABELS.fullmatch(bare.rstrip(".")):
        raise ValueError(f"host {entry!r} is not a valid host name or *.wildcard")
    return host.rstrip("."), port


class UrlSpec(BaseModel):
    """`url:` — allowed schemes (default https and http), hosts and path prefix."""

    # Unknown keys are errors, as everywhere in a manifest.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schemes: list[str] | None = None
    hosts: list[str] | None = None
    path_prefix: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        for scheme in self.schemes or ():
            if not _SCHEME.fullmatch(scheme):
                raise ValueError(f"invalid URL scheme {scheme!r}")
        if self.schemes is not None and not self.schemes:
            raise ValueError("schemes must not be empty")
        for host in self.hosts or ():
            parse_host_pattern(host)
        if self.path_prefix is not None and normalize_path(self.path_prefix) is None:
            raise ValueError(f"path_prefix {self.path_prefix!r} must be an absolute path")
        return self


_PERCENT = re.compile(r"%(?:[uU]([0-9a-fA-F]{4})|([0-9a-fA-F]{2}))")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]")
_MAX_DECODINGS = 4


def _decode_once(text: str) -> str:
    """One round of the percent-decodings servers apply: `%XX` (any case) as UTF-8 bytes, read
    leniently (overlong forms such as `%c0%ae` decode to what they spell, as old decoders did),
    and IIS's `%uXXXX`."""
    out: list[str] = []
    pending = bytearray()
    pos = 0
    for match in _PERCENT.finditer(text):
        if match.start() != pos:
            out.append(_lenient_utf8(pending))
            pending.clear()
            out.append(text[pos:match.start()])
        if match.group(1) is not None:
            out.append(_lenient_utf8(pending))
            pending.clear()
            out.append(chr(int(match.group(1), 16)))
        else:
            pending.append(int(match.group(2), 16))
        pos = match.end()
    out.append(_lenient_utf8(pending))
    out.append(text[pos:])
    return "".join(out)


def _lenient_utf8(data: bytes | bytearray) -> str:
    """UTF-8 that also accepts overlong and otherwise invalid sequences: each lead byte takes the
    continuation bytes that follow it; a stray byte stands for itself."""
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        lead = data[i]
        size = 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF8 else 1
        tail = data[i + 1:i + size]
        if size == 1 or len(tail) != size - 1 or any(b & 0xC0 != 0x80 for b in tail):
            out.append(chr(lead))
            i += 1
            continue
        code = lead & (0x7F >> size)
        for b in tail:
            code = (code << 6) | (b & 0x3F)
        out.append(chr(min(code, 0x10FFFF)))
        i += size
    return "".join(out)


def _hidden_dot_segment(path: str) -> bool:
    """True when decoding the path (up to `_MAX_DECODINGS` times, every encoding some server
    decodes before it normalises) reveals a dot segment or a separator that the raw path does
    not have as such: `/..%3B/`, `/%u002e%u002e/`, `/..%00/`, `/%c0%ae%c0%ae/`, `/%252e./`.
    A path still changing after that many rounds is refused too."""
    if "%" not in path:  # `..;` is matched by `_URL_SNEAKY_DOTS`, control characters earlier
        return False
    decoded = path
    for _ in range(_MAX_DECODINGS):
        again = _decode_once(decoded)
        if again == decoded:
            break
        decoded = again
    else:
        return True
    raw_segments = path.split("/")
    segments = decoded.replace("\\", "/").split("/")
    if len(segments) != len(raw_segments):
        return True  # an encoded slash or backslash
    for raw, segment in zip(raw_segments, segments, strict=True):
        # What Tomcat, Jetty and IIS strip before they compare a segment with `..`: path
        # parameters after `;`, NULs, spaces and control characters.
        # Best-fit mappings (IIS) read a fullwidth dot as a dot: compare in NFKC.
        core = unicodedata.normalize("NFKC", _INVISIBLE.sub("", segment.split(";", 1)[0]))
        if core and core.strip(".") == "" and raw != core:
            return True
    return False


class Url:
    """A URL whose scheme, host (exact or `*.` wildcard, case-insensitive) and normalised path are
    allowed. User-info, control characters, backslashes, non-ASCII hosts, encoded dots or slashes in
    the path and ports other than the scheme's default (unless listed) are rejected."""

    __slots__ = ("hosts", "path_prefix", "schemes", "written")

    def __init__(self, spec: UrlSpec) -> None:
        self.schemes = frozenset(s.lower() for s in (spec.schemes or DEFAULT_URL_SCHEMES))
        self.hosts = (
            tuple(parse_host_pattern(h) for h in spec.hosts) if spec.hosts is not None else None
        )
        self.path_prefix = None
        if spec.path_prefix is not None:
            norm = normalize_path(spec.path_prefix)
            if norm is None:
                raise ValueError(f"path_prefix {spec.path_prefix!r} must start with '/'")
            self.path_prefix = norm
        self.written = written("url", spec.model_dump(exclude_unset=True))

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, str) or len(value) > 8192 or not value.isascii():
            return False
        if _URL_BAD_CHARS.search(value):
            return False
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return False
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            return False
        netloc = parts.netloc
        if not netloc or "@" in netloc or "%" in netloc:
            return False
        host = parts.hostname or ""
        if host.endswith("."):  # one trailing dot is the root (FQDN form); two are not a host
            host = host[:-1]
        if not host:
            return False
        if not netloc.startswith("[") and not _HOST_LABELS.fullmatch(host):
            return False
        default_port = _DEFAULT_PORTS.get(scheme)
        if self.hosts is not None and not self._host_allowed(host, port, default_port):
            return False
        if self.path_prefix is not None:
            path = parts.path or "/"
            lowered = path.lower()
            if "%2e" in lowered or "%2f" in lowered or "%5c" in lowered:
                return False
            # Decoded twice by some servers (`%252e` -> `%2e` -> `.`), or a dot segment carrying
            # path parameters (`/..;/`), which Tomcat, Jetty and Spring resolve as `..`.
            if _URL_SNEAKY_DOTS.search(lowered) or _hidden_dot_segment(path):
                return False
            norm = normalize_path(path)
            if norm is None or not within(norm, (self.path_prefix,)):
                return False
        return True

    def _host_allowed(self, host: str, port: int | None, default_port: int | None) -> bool:
        assert self.hosts is not None
        for pattern, allowed_port in self.hosts:
            if allowed_port is None:
                if port is not None and port != default_port:
                    continue
            elif (port if port is not None else default_port) != allowed_port:
                continue
            if pattern.startswith("*."):
                suffix = pattern[1:]
                if host.endswith(suffix) and len(host) > len(suffix):
                    return True
            elif host == pattern:
                return True
        return False


# -- narrowing: one URL spec inside another ----------------------------------------------------


def url_subset(child: UrlSpec, parent: UrlSpec) -> bool:
    """Every URL `child` allows, `parent` allows (sound, not complete)."""
    c_schemes = {s.lower() for s in (child.schemes or DEFAULT_URL_SCHEMES)}
    p_schemes = {s.lower() for s in (parent.schemes or DEFAULT_URL_SCHEMES)}
    if not c_schemes <= p_schemes:
        return False
    if parent.path_prefix is not None:
        pp = normalize_path(parent.path_prefix)
        cp = normalize_path(child.path_prefix) if child.path_prefix is not None else None
        if pp is None or cp is None or not within(cp, (pp,)):
            return False
    if parent.hosts is None:
        return True
    if child.hosts is None:
        return False
    theirs = [parse_host_pattern(h) for h in parent.hosts]
    for entry in child.hosts:
        host, port = parse_host_pattern(entry)
        for scheme in c_schemes:
            default = _DEFAULT_PORTS.get(scheme)
            effective = port if port is not None else default
            if not any(
                _host_covers(p_host, host)
                and (effective == default if p_port is None else effective == p_port)
                for p_host, p_port in theirs
            ):
                return False
    return True


def _host_covers(parent: str, child: str) -> bool:
    if parent.startswith("*."):
        suffix = parent[1:]  # ".example.com"
        if child.startswith("*."):
            return child[1:] == suffix or child[1:].endswith(suffix)
        return child.endswith(suffix) and len(child) > len(suffix)
    return child == parent


class _Url(Kind):
    key = "url"
    rank = 110
    template = {"path_prefix": "path", "hosts": "host"}
    atoms = frozenset({STR})
    bucket = "urls"

    def annotation(self) -> Any:
        return UrlSpec | None

    def compile(self, value: Any) -> Url:
        return Url(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        return branch.types <= {STR} and any(url_subset(u, value) for u in branch.values(self.key))


def _url_samples(h: Harvest) -> list[Any]:
    return url_candidates(h.get("urls"))


def url_candidates(specs: Sequence[UrlSpec], limit: int = 4000) -> list[str]:
    """URLs near the edges of `specs`: their hosts and look-alikes, ports, path prefixes and
    escapes from them, user-info."""
    if not specs:
        return []
    schemes: dict[str, None] = {}
    hosts: dict[str, None] = {}
    ports: dict[int, None] = {}
    paths: dict[str, None] = {"/": None, "/x": None}
    for spec in specs:
        schemes.update(dict.fromkeys(s.lower() for s in spec.schemes or ()))
        for entry in spec.hosts or ():
            host, port = parse_host_pattern(entry)
            if port is not None:
                ports[port] = None
            if host.startswith("*."):
                bare = host[2:]
                hosts.update(dict.fromkeys(["a." + bare, bare, "a.b." + bare, "a" + bare]))
            else:
                hosts.update(dict.fromkeys([host, "a." + host, host + ".evil.example"]))
        if spec.path_prefix is not None:
            pp = spec.path_prefix.rstrip("/")
            paths.update(dict.fromkeys(
                [pp or "/", pp + "/x", pp + "x", pp + "/../x", pp + "/%2e%2e/x"]
            ))
    schemes.update(dict.fromkeys(["https", "http", "ftp"]))
    hosts["example.com"] = None
    ports.update(dict.fromkeys([443, 80, 8443]))
    all_schemes = [*schemes, *(s.upper() for s in schemes)]
    out = []
    for scheme, host in itertools.product(all_schemes, hosts):
        shown = f"[{host}]" if ":" in host else host
        for path in paths:
            out.append(f"{scheme}://{shown}{path}")
        for port in ports:
            out.append(f"{scheme}://{shown}:{port}/x")
        out.append(f"{scheme}://user@{shown}/x")
    return out[:limit]


KINDS: tuple[Kind, ...] = (_Url(),)
SAMPLERS = (Sampler(70, _url_samples),)
