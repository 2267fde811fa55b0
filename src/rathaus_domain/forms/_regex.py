"""Matching citizen input against a form schema's ``pattern``, in bounded time.

Python's ``re`` backtracks without limit: a pattern such as ``([A-Za-z0-9]+[ -]?)*`` takes
minutes on "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!". Patterns come from form authors and the FIM import,
input from anyone, so no input is ever matched against a schema pattern with ``re``. The
matching goes through jsonschema-rs instead: Rust's ``regex`` engine, linear in the input, for
every pattern it can read; a pattern only the backtracking ``fancy-regex`` engine can read
(lookarounds) is split first, and else run under a backtracking limit, past which the input is
refused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import jsonschema_rs

__all__ = ["END_OF_TEXT", "PatternError", "pattern_accepts", "pattern_search"]

#: Ends a pattern at the true end of the text (see ``validation``): `$` would do in ECMA-262 and
#: Rust, but Python's `re` also matches `$` before a final line break ("a.pdf\n").
END_OF_TEXT = r"(?![\s\S])"

# Enough for every legitimate text (about two steps per character, and texts are bounded by
# maxLength); a few milliseconds at most for a pattern that backtracks badly.
_BACKTRACK_LIMIT = 100_000


class PatternError(ValueError):
    """The pattern is not one jsonschema-rs can compile."""


def pattern_search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``text`` (JSON Schema ``pattern`` semantics).

    Raises ``PatternError`` for a pattern jsonschema-rs cannot compile (``check_form_schema``
    refuses those).
    """
    matcher = _matcher(pattern)
    if isinstance(matcher, PatternError):
        raise PatternError(*matcher.args) from matcher.__cause__
    return matcher(text)


def pattern_accepts(pattern: str, text: str) -> bool:
    """``pattern_search``, but False for a pattern jsonschema-rs cannot compile.

    Such a pattern is one the lint would refuse: the input is refused rather than guessed at.
    """
    try:
        return pattern_search(pattern, text)
    except PatternError:
        return False


@functools.lru_cache(maxsize=2048)
def _matcher(pattern: str) -> Callable[[str], bool] | PatternError:
    """The matcher for ``pattern``, or the PatternError if it cannot be compiled.

    The error is returned, not raised, so that it is cached too (lru_cache does not cache
    exceptions): an uncompilable pattern is not compiled again on every search.
    """
    try:
        return _compiled(pattern)
    except PatternError as exc:
        return exc


def _compiled(pattern: str) -> Callable[[str], bool]:
    linear = _without_end_lookahead(pattern)
    for parts in ([(True, linear)], _split_leading_lookaheads(linear)):
        if not parts:
            continue
        try:
            checks = [(wanted, _compile(part, jsonschema_rs.RegexOptions())) for wanted, part in parts]
        except PatternError:
            continue
        return lambda text: all(check(text) is wanted for wanted, check in checks)
    return _compile(pattern, jsonschema_rs.FancyRegexOptions(backtrack_limit=_BACKTRACK_LIMIT))


def _compile(pattern: str, options: jsonschema_rs.RegexOptions | jsonschema_rs.FancyRegexOptions) -> Callable[[str], bool]:
    try:
        validator = jsonschema_rs.Draft202012Validator({"pattern": pattern}, pattern_options=options)
    except Exception as exc:  # noqa: BLE001 - jsonschema-rs raises several types for a bad pattern
        raise PatternError(str(exc)) from exc
    # Past the backtracking limit `is_valid` answers False: the input is refused, never waited for.
    return validator.is_valid


def _tokens(pattern: str) -> Iterator[tuple[int, str, bool]]:
    """(index, character or escape, whether it is outside a character class and not escaped)."""
    in_class, index = False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            yield index, pattern[index : index + 2], False
            index += 2
            continue
        yield index, char, not in_class
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        index += 1


def _without_end_lookahead(pattern: str) -> str:
    """``pattern`` with each ``END_OF_TEXT`` written as ``$``, which means the same in Rust's regex."""
    out: list[str] = []
    skip_to = 0
    for index, char, plain in _tokens(pattern):
        if index < skip_to:
            continue
        if plain and pattern.startswith(END_OF_TEXT, index):
            out.append("$")
            skip_to = index + len(END_OF_TEXT)
        else:
            out.append(char)
    return "".join(out)


def _split_leading_lookaheads(pattern: str) -> list[tuple[bool, str]]:
    """``^(?!A)(?=B)C`` as [(False, ``^(?:A)``), (True, ``^(?:B)``), (True, ``^C``)], else [].

    Lookaheads right at the start of the text are separate tests of the whole text, which
    Rust's regex can run one by one. Not for a pattern with a top-level ``|``, whose start
    anchor belongs to the first alternative only.
    """
    if not pattern.startswith("^"):
        return []
    depth, groups, start, closes = 0, [], 0, {}
    for index, char, plain in _tokens(pattern):
        if not plain:
            continue
        if char == "(":
            if depth == 0:
                start = index
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                closes[start] = index
        elif char == "|" and depth == 0:
            return []
    index = 1
    while pattern.startswith(("(?!", "(?="), index) and index in closes:
        groups.append((pattern[index + 2] == "=", "^(?:" + pattern[index + 3 : closes[index]] + ")"))
        index = closes[index] + 1
    if not groups:
        return []
    return [*groups, (True, "^" + pattern[index:])]
