"""Validation helpers for user-facing options: names from a list, ints, (H, W) pairs.

The one home for these checks (torch-free); every module validates user values through them."""

from __future__ import annotations

import difflib
import numbers
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


def to_pair(value: object, name: str, *, minimum: int = 0) -> tuple[int, int]:
    """Return ``value`` as an ``(h, w)`` int pair, checking that both entries are >= ``minimum``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}.")
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints (h, w), got {value!r}.")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}.")
    return pair


def check_int(value: object, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an int, checking it is an integer >= ``minimum``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is a positive ``int`` (not a bool); otherwise raise TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__}: {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}.")
    return value
