"""Whole numbers from request parameters (ids, filters), read strictly.

``str.isdigit`` also accepts "²" (which ``int`` refuses: a server error) and "١" (which ``int`` reads
as 1), and a number of thousands of digits costs ``int`` time; a parameter is a number here only if
it is a short string of ASCII digits.
"""

from __future__ import annotations

from typing import Any, overload

MAX_DIGITS = 18  # every id of a bigint column fits


@overload
def parse_int(value: Any, default: int, *, max_digits: int = MAX_DIGITS) -> int: ...
@overload
def parse_int(value: Any, default: None = None, *, max_digits: int = MAX_DIGITS) -> int | None: ...
def parse_int(value: Any, default: int | None = None, *, max_digits: int = MAX_DIGITS) -> int | None:
    """`value` as a non-negative whole number, or `default` if it is not one (or not a string)."""
    text = value.strip() if isinstance(value, str) else ""
    if text and len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return default
