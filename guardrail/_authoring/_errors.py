"""The error of the authoring commands."""

from __future__ import annotations

from .._errors import GuardrailError

__all__ = ["AuthoringError"]


class AuthoringError(GuardrailError, ValueError):
    """Input that a manifest cannot be written from (a trace without values, an empty trace, a
    tool registry that is not one). The message names the problem and where it is."""
