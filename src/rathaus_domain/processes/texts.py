"""Texts with ``{name}`` placeholders in process models (letters, e-mails, status texts).

Models are shared between municipalities, so their texts are untrusted like their expressions.
``str.format`` would let ``{case_ref.__class__}`` reach attributes and ``{x:>200000000}`` build
huge strings; here a placeholder is a plain variable name and nothing else, each value is cut
to a bounded length, and so is the result. ``{{`` and ``}}`` stand for literal braces.

A placeholder may name a field inside the form's data by its path, ``{vehicle.plate}``: the path
goes through dictionaries only (keys, never attributes). Values are shown as Germans read them:
decimal comma, dates as ``20.12.2026``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["MAX_TEXT", "MAX_VALUE", "render_text", "template_problems"]

#: Longest text a model may contain in one parameter, and longest rendered result.
MAX_TEXT = 10_000
#: Longest rendering of one placeholder's value.
MAX_VALUE = 500

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}(?:\.[A-Za-z0-9][A-Za-z0-9_]{0,63}){0,7}")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MISSING = object()


def template_problems(text: str) -> list[tuple[str, str]]:
    """German and English descriptions of what is wrong with a text template (empty: fine)."""
    problems: list[tuple[str, str]] = []
    if len(text) > MAX_TEXT:
        problems.append((f"Text ist länger als {MAX_TEXT} Zeichen", f"text is longer than {MAX_TEXT} characters"))
    for match in _TOKEN.finditer(text):
        inner = match.group(1)
        if inner is not None and not _NAME.fullmatch(inner):
            problems.append(
                (
                    f"Platzhalter «{{{inner}}}» ist kein Variablenname (erlaubt: Buchstaben, Ziffern, _, "
                    "und Punkte zwischen den Teilen eines Feldpfads wie vehicle.plate)",
                    f"placeholder «{{{inner}}}» is not a variable name (allowed: letters, digits, _, and dots "
                    "between the parts of a field path such as vehicle.plate)",
                )
            )
    return problems


def _show(value: Any) -> str | None:
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, Decimal | float):
        # German decimal comma; whole amounts without decimals.
        return f"{value:.2f}".replace(".", ",") if value != int(value) else str(int(value))
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, str):
        # A date as forms store it (2026-12-20) is read as Germans write it (20.12.2026).
        iso = _ISO_DATE.fullmatch(value)
        return f"{iso[3]}.{iso[2]}.{iso[1]}" if iso else value
    if isinstance(value, int):
        return str(value)
    return None


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    """The value a placeholder names: a variable, or a field inside one by its dotted path."""
    value: Any = values
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def render_text(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders from ``values``; anything else stays as written.

    Only scalar values are shown (text, numbers, yes/no); an unknown name or a placeholder that
    is not a plain name is left in the text unchanged, so a mistake is visible, not silent. A
    placeholder whose value is empty takes one space next to it along (an optional sentence,
    ``"… bei. {note} Der …"``, leaves no double space).
    """
    template = template[:MAX_TEXT]

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        name = match.group(1)
        value = _lookup(values, name) if _NAME.fullmatch(name) else _MISSING
        if value is _MISSING:
            return whole
        shown = _show(value)
        if shown is None:
            return whole
        return shown.replace(_EMPTY, "")[:MAX_VALUE] or _EMPTY

    # A NUL cannot come from a model (XML has none); it marks where an empty value stood.
    filled = _TOKEN.sub(replace, template.replace(_EMPTY, ""))
    return _GAP_RE.sub("", filled)[:MAX_TEXT]


_EMPTY = "\x00"
# The space an empty value leaves: before it when a space, the end of a line or closing punctuation
# follows ("bei. {note} Der", "bei. {note}"), after it at the start of a line ("{note} Der");
# never one that separates two words ("Tag {title}{name}"), where only the marker goes.
_GAP_RE = re.compile("(?m) \x00(?=[ .,;:!?)]|$)|^\x00 |\x00")
