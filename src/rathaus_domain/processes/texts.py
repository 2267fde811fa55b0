"""Texts with ``{name}`` placeholders in process models (letters, e-mails, status texts).

Models are shared between municipalities, so their texts are untrusted like their expressions.
``str.format`` would let ``{case_ref.__class__}`` reach attributes and ``{x:>200000000}`` build
huge strings; here a placeholder is a plain variable name and nothing else, each value is cut
to a bounded length, and so is the result. ``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["MAX_TEXT", "MAX_VALUE", "render_text", "template_problems"]

#: Longest text a model may contain in one parameter, and longest rendered result.
MAX_TEXT = 10_000
#: Longest rendering of one placeholder's value.
MAX_VALUE = 500

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


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
                    f"Platzhalter «{{{inner}}}» ist kein einfacher Variablenname (erlaubt: Buchstaben, Ziffern, _)",
                    f"placeholder «{{{inner}}}» is not a plain variable name (allowed: letters, digits, _)",
                )
            )
    return problems


def _show(value: Any) -> str | None:
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, Decimal | float):
        # German decimal comma; whole amounts without decimals.
        return f"{value:.2f}".replace(".", ",") if value != int(value) else str(int(value))
    if isinstance(value, str | int):
        return str(value)
    return None


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
        if not _NAME.fullmatch(name) or name not in values:
            return whole
        shown = _show(values[name])
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
