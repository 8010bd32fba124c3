"""The error of the authoring commands: `AuthoringError`, which lives in the one exception tree."""

from __future__ import annotations

from .._errors import AuthoringError

__all__ = ["AuthoringError"]
