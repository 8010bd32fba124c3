"""Adversarial: URL paths a backend resolves outside `path_prefix`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail import Guard, MemoryStore
from guardrail.testing import task_id


def _guard(args: dict[str, Any]) -> Guard:
    manifest = {"task": task_id("adv"), "ttl": "1h", "tools": {"fetch": {"args": args}}}
    return Guard(manifest, store=MemoryStore())


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/..;/admin",  # Tomcat / Jetty / Spring read `..;` as `..`
        "https://api.example.com/v1/.;x/../../admin",
        "https://api.example.com/v1/%252e%252e/admin",  # decoded twice: `..`
        "https://api.example.com/v1/%252E%252e%252fadmin",
        "https://api.example.com/v1/x%255cadmin",
    ],
)
def test_url_path_tricks_outside_the_prefix_are_denied(url: str) -> None:
    guard = _guard({"u": {"url": {"hosts": ["api.example.com"], "path_prefix": "/v1"}}})
    decision = guard.check("fetch", {"u": url})
    assert not decision.allowed, f"{url} must not pass path_prefix /v1"


@pytest.mark.parametrize(
    "url", ["https://api.example.com/v1/a;b/c", "https://api.example.com/v1/100%25/x",
            "https://api.example.com/v1/x..;y"],
)
def test_ordinary_url_paths_still_pass(url: str) -> None:
    guard = _guard({"u": {"url": {"hosts": ["api.example.com"], "path_prefix": "/v1"}}})
    assert guard.check("fetch", {"u": url}).allowed


# -- issue 11, item 7: every encoding of a dot segment that some server decodes first ------------

DOT_ENCODINGS = [
    "..%3B", "..%3b", ".%3B", "..%3Bjsessionid=1",  # path parameters, encoded `;`
    "%u002e%u002e", "%U002E%U002E", "%u002E.", ".%u002e",  # IIS %uXXXX
    "..%00", "%00..", ".%00.", "..%09", "..%20",  # NUL, tab, space stripped
    "%c0%ae%c0%ae", "%C0%AE.", ".%c0%ae", "%e0%80%ae%e0%80%ae", "%f0%80%80%ae.",  # overlong UTF-8
    "%252e%252e", "%25252e%25252e", "%2525%32%65.", "%25u002e%25u002e", "%25c0%25ae.",  # double
    "%uff0e%uff0e", "%ef%bc%8e%ef%bc%8e",  # fullwidth dots, best-fit mapped
]
SLASH_ENCODINGS = ["%c0%af", "%u002f", "%u005c", "%e0%80%af", "%252f", "%c1%9c"]


@pytest.mark.parametrize("segment", DOT_ENCODINGS)
def test_encoded_dot_segments_are_denied(segment: str) -> None:
    guard = _guard({"u": {"url": {"hosts": ["api.example.com"], "path_prefix": "/v1"}}})
    for url in (f"https://api.example.com/v1/{segment}/admin",
                f"https://api.example.com/v1/{segment}/{segment}/admin",
                f"https://api.example.com/v1/x/{segment}"):
        assert not guard.check("fetch", {"u": url}).allowed, url


@pytest.mark.parametrize("slash", SLASH_ENCODINGS)
def test_encoded_separators_are_denied(slash: str) -> None:
    guard = _guard({"u": {"url": {"hosts": ["api.example.com"], "path_prefix": "/v1"}}})
    url = f"https://api.example.com/v1/..{slash}admin"
    assert not guard.check("fetch", {"u": url}).allowed, url


@pytest.mark.parametrize(
    "path", ["/v1/a%20b", "/v1/caf%C3%A9", "/v1/%7Euser", "/v1/x..%3By", "/v1/file.tar.gz",
             "/v1/..a", "/v1/a%2Db", "/v1/%u0041", "/v1/100%"],
)
def test_encoded_ordinary_segments_still_pass(path: str) -> None:
    guard = _guard({"u": {"url": {"hosts": ["api.example.com"], "path_prefix": "/v1"}}})
    url = f"https://api.example.com{path}"
    assert guard.check("fetch", {"u": url}).allowed, url


def _encodings_of(char: str) -> st.SearchStrategy[str]:
    code = ord(char)
    forms = [char, f"%{code:02x}", f"%u{code:04x}", f"%{0xC0 | code >> 6:02x}%{0x80 | code & 0x3F:02x}",
             f"%e0%{0x80 | code >> 6:02x}%{0x80 | code & 0x3F:02x}"]
    if char == ".":
        forms += ["%uff0e", "%ef%bc%8e"]
    once = st.sampled_from(forms)
    twice = once.map(lambda form: form.replace("%", "%25"))  # decoded twice
    mixed = st.one_of(once, twice).flatmap(
        lambda form: st.sampled_from([form, form.upper(), form.lower()])
    )
    return mixed


_DOT_SEGMENT = st.tuples(
    st.sampled_from([1, 2]),
    st.sampled_from(["", "%3b", "%3Bx=1", "%00", "%20", "%09", ";v=1"]),
).flatmap(
    lambda spec: st.tuples(*[_encodings_of(".")] * spec[0]).map(lambda dots: "".join(dots) + spec[1])
)


@settings(max_examples=300, deadline=None)
@given(segment=_DOT_SEGMENT, depth=st.integers(1, 3))
def test_property_no_encoding_of_a_dot_segment_escapes_the_prefix(segment: str, depth: int) -> None:
    url = "https://api.example.com/v1/" + "/".join([segment] * depth) + "/admin"
    allowed = _PROPERTY_GUARD.check("fetch", {"u": url}).allowed
    # A literal `.` is normalised away and stays inside; anything else leaves /v1 or is refused.
    assert allowed == (segment == "."), url


_PROPERTY_GUARD = _guard({"u": {"url": {"hosts": ["api.example.com"], "path_prefix": "/v1"}}})
