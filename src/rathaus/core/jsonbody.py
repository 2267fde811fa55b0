"""What a parsed JSON request body may not hold although it is valid JSON: deep nesting, lone surrogates.

Every API that stores what it receives refuses both with the same problem documents (400): a
lone surrogate (the escape `\\ud800`) is JSON but no text, and neither the database nor UTF-8 can
take it; deep nesting is an attack on the validators' recursion.
"""

from __future__ import annotations

import re
from typing import Any

from .problems import ProblemError

# Forms nest a few levels; anything deeper is an attack on the parser or the validator's recursion.
MAX_JSON_DEPTH = 64

#: The escape of a surrogate (\uD800-\uDFFF) in JSON text: only a text holding one can decode to a lone surrogate.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_json_structure(body: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse nesting beyond `max_depth` and lone surrogates in keys or values (ProblemError, 400)."""
    stack = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise ProblemError(400, "Bad Request", f"Die Daten sind zu tief verschachtelt (höchstens {max_depth} Ebenen).",
                               type_="invalid-json")
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict):
            for key, child in value.items():
                _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ProblemError(400, "Bad Request", "Der Inhalt enthält ungültige Unicode-Zeichen (einzelne Surrogate).",
                           type_="invalid-encoding") from None
