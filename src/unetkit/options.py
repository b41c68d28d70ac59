"""Validation helpers for user-facing options."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def look_up_option(value: str, supported: Iterable[str], name: str = "option") -> str:
    """Return ``value`` if it is one of ``supported``; otherwise raise a ValueError naming the options.

    The message adds a "did you mean" hint when a close match exists.
    """
    options = sorted(supported)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}: {value!r}.")
    key = value.lower()
    if key in options:
        return key
    close = difflib.get_close_matches(key, options, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown {name} {value!r}.{hint} Available: {', '.join(options)}.")
