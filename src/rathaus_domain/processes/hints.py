"""Plain-words hints for expressions written in another expression language.

Camunda 7 models carry JUEL (``${!approved}``, ``${a && b}``, ``${empty documents}``, ``${x eq 1}``,
``${c ? a : b}``); designers moving to Camunda 8 carry JUEL and Python habits into FEEL (``=a == 1``,
``='ok'``). We do not read JUEL: the ``${…}`` spelling holds our Python-like subset, and ``=…`` is
FEEL. Python's parser only says "invalid syntax" about such text, so every place that compiles an
expression (the evaluator's parser for conditions, scripts, timers, due dates and step parameters;
FEEL's for ``=…`` and decision tables) asks :func:`syntax_hint` what to write instead, and only
after the text has failed to compile: a correct expression never gets here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["syntax_hint"]

#: Longest rewrite shown in a message; longer texts get the list of replacements only.
MAX_SHOWN = 200

# Strings are masked while searching, so ``"a && b"`` is left alone. The placeholder is a name
# starting with "_", which the language refuses anyway (no designer's name can collide). What a
# string literal is, as a regular expression (``_mask`` finds the same ones without it, faster).
_STRING_RE = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'""")
_PLACEHOLDER_RE = re.compile(r"__s(\d+)__")

# An operand of a prefix operator: a dotted path with optional indexes and call, or one group.
_OPERAND = r"(?:[A-Za-z_]\w*(?:\s*\.\s*\w+|\[[^\[\]]*\])*(?:\([^()]*\))?|\([^()]*\))"
# After a prefix operator's operand, an operator that binds tighter than Python's ``not``.
_TIGHTER_RE = re.compile(r"\s*(?:[=<>!+\-*/%]|\bin\b|\bis\b)")

_NOT_EMPTY_RE = re.compile(rf"(?:!\s*|\bnot\s+)empty\s+(?P<operand>{_OPERAND})")
_EMPTY_RE = re.compile(rf"\bempty\s+(?P<operand>{_OPERAND})")
_BANG_RE = re.compile(rf"!(?!=)\s*(?P<operand>{_OPERAND})?")
_WORD_OP_RE = re.compile(r"(?<=[\w)\]])(?P<space>\s+)(?P<op>eq|ne|lt|gt|le|ge|div|mod)\s+(?=[\w(\[\-!])")

_PYTHON_WORDS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "div": "/", "mod": "%"}
_FEEL_WORDS = {"eq": "=", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "div": "/"}


def _string_end(source: str, start: int) -> int:
    """Where the string literal opening at ``start`` ends (after its closing quote), or where it
    stops without one (at a line break or the end of the text) as the negative of that index minus one."""
    quote = source[start]
    index = start + 1
    while index < len(source):
        char = source[index]
        if char == quote:
            return index + 1
        if char == "\n" or (char == "\\" and (index + 1 == len(source) or source[index + 1] == "\n")):
            break
        index += 2 if char == "\\" else 1
    return -min(index, len(source)) - 1


def _mask(source: str) -> tuple[str, list[str]]:
    """The text with each string literal replaced by a placeholder, and the literals in order.

    As ``_STRING_RE.sub`` would, but in linear time: the regular expression tries an unclosed quote
    again from every escaped quote after it («"a\\"a\\"a…»), seconds for one long condition. A quote of
    a kind whose earlier literal stayed unclosed up to some point cannot close before that point
    either (every quote of that kind in between is escaped), so it is not tried again.
    """
    strings: list[str] = []
    parts: list[str] = []
    unclosed_until = {'"': -1, "'": -1}
    copied = index = 0
    while index < len(source):
        char = source[index]
        if char in unclosed_until and index > unclosed_until[char]:
            end = _string_end(source, index)
            if end > 0:
                parts.append(source[copied:index])
                strings.append(source[index:end])
                parts.append(f"__s{len(strings) - 1}__")
                copied = index = end
                continue
            unclosed_until[char] = -end - 1
        index += 1
    parts.append(source[copied:])
    return "".join(parts), strings


def _unmask(text: str, strings: list[str]) -> str:
    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return strings[index] if index < len(strings) else match.group()

    return _PLACEHOLDER_RE.sub(restore, text)


def _tighter_after(text: str, end: int) -> bool:
    return bool(_TIGHTER_RE.match(text, end))


def _ternary(line: str, *, feel: bool) -> str | None:
    """``c ? a : b`` (one of each, outside brackets) rewritten, or None."""
    prefix_match = re.match(r"\s*[A-Za-z]\w*\s*=(?!=)\s*", line) if not feel else None
    prefix = prefix_match.group() if prefix_match else ""
    body = line[len(prefix) :]
    depth = 0
    marks: list[tuple[str, int]] = []
    for index, char in enumerate(body):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char in "?:" and depth == 0:
            marks.append((char, index))
    if [m[0] for m in marks] != ["?", ":"]:
        return None
    condition, yes, no = body[: marks[0][1]].strip(), body[marks[0][1] + 1 : marks[1][1]].strip(), body[marks[1][1] + 1 :].strip()
    if not (condition and yes and no):
        return None
    if feel:
        return f"{prefix}if {condition} then {yes} else {no}"
    return f"{prefix}{yes} if {condition} else {no}"


def _rewrite(masked: str, *, feel: bool) -> tuple[str, list[tuple[str, str]]]:
    """The masked text with JUEL (and, in FEEL, Python) spellings replaced, and what was found:
    pairs of (as written, what to write instead) for the message."""
    found: list[tuple[str, str]] = []

    def note(written: str, instead: str) -> None:
        if (written, instead) not in found:
            found.append((written, instead))

    def not_empty(match: re.Match[str]) -> str:
        operand = match.group("operand")
        note("not empty x", "count(x) > 0" if feel else "x")
        return f"count({operand}) > 0" if feel else operand

    def empty(match: re.Match[str]) -> str:
        operand = match.group("operand")
        note("empty x", "count(x) = 0" if feel else "not x")
        if feel:
            return f"count({operand}) = 0"
        wrap = _tighter_after(match.string, match.end())
        return f"(not {operand})" if wrap else f"not {operand}"

    def bang(match: re.Match[str]) -> str:
        operand = match.group("operand")
        note("!", "not(…)" if feel else "not")
        if operand is None:
            return "not(" if feel else "not "
        if feel:
            return f"not{operand}" if operand.startswith("(") else f"not({operand})"
        wrap = _tighter_after(match.string, match.end())
        return f"(not {operand})" if wrap else f"not {operand}"

    def word(match: re.Match[str]) -> str:
        words = _FEEL_WORDS if feel else _PYTHON_WORDS
        op = match.group("op")
        if op not in words:
            return match.group()
        note(op, words[op])
        return f"{match.group('space')}{words[op]} "

    text = _NOT_EMPTY_RE.sub(not_empty, masked)
    text = _EMPTY_RE.sub(empty, text)
    text = _BANG_RE.sub(bang, text)
    if "&&" in text:
        note("&&", "and")
        text = re.sub(r"\s*&&\s*", " and ", text)
    if "||" in text:
        note("||", "or")
        text = re.sub(r"\s*\|\|\s*", " or ", text)
    text = _WORD_OP_RE.sub(word, text)
    if feel and re.search(r"(?<![<>!=])==(?!=)", text):
        note("==", "=")
        text = re.sub(r"(?<![<>!=])==(?!=)", "=", text)
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if "?" in line and ":" in line:
            rewritten = _ternary(line, feel=feel)
            if rewritten is not None:
                note("c ? a : b", "if c then a else b" if feel else "a if c else b")
                lines[number] = rewritten
    # Name them in the order they appear in the text.
    probes = {"not empty x": "empty", "empty x": "empty", "c ? a : b": "?"}

    def position(pair: tuple[str, str]) -> int:
        at = masked.find(probes.get(pair[0], pair[0]))
        return at if at >= 0 else len(masked)

    return "\n".join(lines), sorted(found, key=position)


def _quoted(items: list[str]) -> str:
    return ", ".join(f"«{item}»" for item in items)


def syntax_hint(source: str, *, feel: bool, accepts: Callable[[str], bool]) -> tuple[str, str] | None:
    """German and English advice for an expression that failed to compile, or None.

    ``feel`` says which language ``source`` was read as (FEEL, else our Python-like subset);
    ``accepts`` tells whether a rewritten text would compile, so the message proposes the whole
    corrected expression only when it is one that works.
    """
    masked, strings = _mask(source)
    rewritten, found = _rewrite(masked, feel=feel)
    single_quoted = feel and any(s.startswith("'") for s in strings)
    if single_quoted:
        strings = [f'"{s[1:-1]}"' if s.startswith("'") and '"' not in s else s for s in strings]
    if not found and not single_quoted:
        return None
    suggestion = _unmask(rewritten, strings).strip()
    if len(suggestion) > MAX_SHOWN or "\n" in suggestion or not accepts(suggestion):
        suggestion = ""
    parts_de: list[str] = []
    parts_en: list[str] = []
    if found:
        written = [w for w, _ in found]
        verb_de, verb_en = ("ist", "is") if len(written) == 1 else ("sind", "are")
        if feel:
            parts_de.append(f"{_quoted(written)} gibt es in FEEL nicht")
            parts_en.append(f"{_quoted(written)} {verb_en} not FEEL")
        else:
            parts_de.append(f"{_quoted(written)} {verb_de} JUEL (Camunda 7), das Rathaus nicht liest")
            parts_en.append(f"{_quoted(written)} {verb_en} JUEL (Camunda 7), which Rathaus does not read")
    if single_quoted:
        parts_de.append("Texte stehen in FEEL in doppelten Anführungszeichen")
        parts_en.append("texts in FEEL go in double quotes")
    if suggestion:
        advice_de, advice_en = f"schreiben Sie «{suggestion}»", f"write «{suggestion}»"
    else:
        instead = [(i, w) for w, i in found]
        advice_de = "schreiben Sie " + ", ".join(f"«{i}» statt «{w}»" for i, w in instead)
        advice_en = "write " + ", ".join(f"«{i}» for «{w}»" for i, w in instead)
        if single_quoted:
            advice_de += (", " if instead else "") + "\"…\" statt '…'"
            advice_en += (", " if instead else "") + "\"…\" for '…'"
    return "; ".join(parts_de) + "; " + advice_de, "; ".join(parts_en) + "; " + advice_en
