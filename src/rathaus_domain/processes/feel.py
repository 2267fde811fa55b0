"""The FEEL subset that bpmn.io / Camunda Modeler decision tables use, on our safe evaluator.

Two entry points:

* :func:`compile_expression` — simple FEEL expressions (input expressions, output entries,
  literal decisions, Zeebe ``=…`` conditions): literals, names and dotted paths, arithmetic,
  comparisons, ``and``/``or``, ``not(…)``, ``if … then … else …``, ``x between a and b``, lists
  and a few built-in functions.  The FEEL text is *translated* to an expression of
  :mod:`.evaluator` and checked there, so FEEL never reaches Python ``eval``.
* :func:`compile_unary_tests` — input-entry cells: ``-`` or empty (any value), comparisons
  ``< 5``, ``>= date("2026-01-01")``, intervals ``[1..10]``, ``(0..5]``, ``]0..5[``, lists
  ``"a","b"``, ``not("a","b")``, ``null``, literals, and expressions with ``?`` (the input value).

Comparisons follow FEEL rather than Python, in cells and in expressions alike (a Zeebe
condition, an output entry, an ``if … then … else``): comparing with ``null`` or values of
different types gives ``null`` (no match, a condition that does not hold; never an exception),
``true`` is not ``1``, an ISO date text compares with a date, and ``not(null)`` is ``null``.
Arithmetic likewise: ``null + 1`` and ``"a" * 2`` are ``null``; ``and``/``or`` are three-valued
(``null and false`` is ``false``, ``null or true`` is ``true``, otherwise ``null`` with a ``null``).
The translation calls the evaluator's ``feel_cmp``, ``feel_between``, ``feel_not``, ``feel_get``,
``feel_arith``, ``feel_neg``, ``feel_and`` and ``feel_or``.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from . import evaluator
from .evaluator import CompiledExpression, ExpressionError, feel_and, feel_cmp, feel_equal, feel_equality, feel_or, feel_ordered
from .hints import syntax_hint

__all__ = [
    "CELL_INPUT",
    "MAX_NESTING",
    "FeelError",
    "FeelExpression",
    "UnaryTests",
    "compile_expression",
    "compile_unary_tests",
    "feel_equal",
]

#: Name under which the value being tested is visible in input entries (Camunda's default
#: ``camunda:inputVariable``); ``?`` is translated to it.
CELL_INPUT = "cellInput"

#: Deepest nesting of parentheses, lists, calls, ``if``, signs and powers in one FEEL text. Cells
#: nest a few levels; the parser recurses about ten calls per level, and the translation must stay
#: within the evaluator's limits (and Python's 200 nested parentheses).
MAX_NESTING = 30


class FeelError(ExpressionError):
    """A FEEL text could not be parsed or uses something outside the supported subset."""


# --------------------------------------------------------------------------------------------
# Tokens

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<op>\.\.|<=|>=|!=|\*\*|[<>=+\-*/(),\[\]\.?:{}])
  | (?P<name>[^\W\d]\w*)
    """,
    re.VERBOSE,
)

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "'": "'"}


@dataclass(frozen=True)
class _Token:
    kind: str  # "number" | "string" | "op" | "name" | "end"
    text: str
    value: Any
    pos: int


def _unescape(body: str, pos: int) -> str:
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        nxt = body[index + 1 : index + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            index += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[index + 2 : index + 6]):
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 6
        else:
            raise _error(f"Ungültige Escape-Sequenz in Text bei Position {pos}", f"invalid escape in string at position {pos}")
    return "".join(out)


def _number(raw: str, pos: int) -> int | float:
    """A number literal, within the evaluator's bounds (its ints have at most MAX_INT_BITS bits)."""
    whole = raw.partition(".")[0]
    # Python's int() refuses texts of more than 4,300 digits, and a float of 400 digits is infinity.
    if len(whole) <= 400:
        if "." in raw:
            number = float(raw)
            if math.isfinite(number):
                return number
        elif int(raw).bit_length() <= evaluator.MAX_INT_BITS:
            return int(raw)
    raise _error(f"Zahl zu groß an Position {pos + 1}", f"number too large at position {pos + 1}")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            raise _error(
                f"Unerwartetes Zeichen «{text[pos]}» an Position {pos + 1}",
                f"unexpected character «{text[pos]}» at position {pos + 1}",
            )
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "number":
            tokens.append(_Token(kind, raw, _number(raw, pos), pos))
        elif kind == "string":
            tokens.append(_Token(kind, raw, _unescape(raw[1:-1], pos), pos))
        elif kind in ("op", "name"):
            tokens.append(_Token(kind, raw, raw, pos))
        pos = match.end()
    tokens.append(_Token("end", "", None, len(text)))
    return tokens


def _error(de: str, en: str) -> FeelError:
    return FeelError(de, en)


# --------------------------------------------------------------------------------------------
# Expression parser → evaluator source

_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "not",
        "true",
        "false",
        "null",
        "if",
        "then",
        "else",
        "between",
        "in",
        "for",
        "some",
        "every",
        "function",
        "return",
        "satisfies",
        "instance",
        "of",
    }
)
_UNSUPPORTED_KEYWORDS = frozenset({"for", "some", "every", "function", "satisfies", "instance"})
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})  # translated to feel_cmp (see evaluator)

# FEEL function name → (evaluator template). ``{0}``, ``{1}`` are the translated arguments.
_FUNCTIONS: dict[str, tuple[int | None, str]] = {
    "date": (None, "date({args})"),
    "date and time": (1, "datetime({0})"),
    "duration": (1, "duration({0})"),
    "today": (0, "today()"),
    "now": (0, "now()"),
    "abs": (1, "abs({0})"),
    "floor": (1, "floor({0})"),
    "ceiling": (1, "ceil({0})"),
    "decimal": (2, "round({0}, {1})"),
    "round half up": (2, "round_half_up({0}, {1})"),
    "min": (None, "min({args})"),
    "max": (None, "max({args})"),
    "sum": (None, "sum({list})"),
    "count": (1, "len({0})"),
    "string": (1, "str({0})"),
    "number": (1, "number({0})"),
    "string length": (1, "len({0})"),
    "upper case": (1, "({0}).upper()"),
    "lower case": (1, "({0}).lower()"),
    "contains": (2, "(({1}) in ({0}))"),
    "starts with": (2, "({0}).startswith({1})"),
    "ends with": (2, "({0}).endswith({1})"),
    "not": (1, "feel_not({0})"),
    "is defined": (1, "(({0}) is not None)"),
    # Helpers of our evaluator, offered to FEEL under the same names.
    "days_between": (2, "days_between({0}, {1})"),
    "years_between": (2, "years_between({0}, {1})"),
    "add_days": (2, "add_days({0}, {1})"),
    "add_months": (2, "add_months({0}, {1})"),
}
_MULTIWORD = sorted((name.split() for name in _FUNCTIONS if " " in name), key=len, reverse=True)


class _Parser:
    """Recursive descent over FEEL tokens, emitting fully parenthesised evaluator source."""

    def __init__(self, text: str, *, missing_is_null: bool = False) -> None:
        self.text = text
        # The function a path a.b becomes: feel_get (a key the context lacks is null, as in a
        # process condition) or feel_path (it is an error naming the key, as in a decision).
        self.path_function = "feel_get" if missing_is_null else "feel_path"
        self.tokens = _tokenize(text)
        self.index = 0
        self.uses_input = False
        self.in_endpoint = False
        self.depth = 0

    # -- helpers ---------------------------------------------------------------------------
    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def is_op(self, *ops: str) -> bool:
        return self.current.kind == "op" and self.current.text in ops

    def is_name(self, *names: str) -> bool:
        return self.current.kind == "name" and self.current.text in names

    def advance(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def expect_op(self, op: str) -> None:
        if not self.is_op(op):
            self.fail(f"«{op}» erwartet", f"«{op}» expected")
        self.advance()

    def expect_name(self, name: str) -> None:
        if not self.is_name(name):
            self.fail(f"«{name}» erwartet", f"«{name}» expected")
        self.advance()

    def fail(self, de: str, en: str) -> NoReturn:
        token = self.current
        found = "Ende" if token.kind == "end" else f"«{token.text}»"
        found_en = "end of text" if token.kind == "end" else f"«{token.text}»"
        raise _error(f"{de}, gefunden: {found} (Position {token.pos + 1})", f"{en}, found: {found_en} (position {token.pos + 1})")

    def at_end(self) -> bool:
        return self.current.kind == "end"

    @contextmanager
    def nested(self) -> Iterator[None]:
        """One level deeper; refuses more than MAX_NESTING levels (named, not a RecursionError)."""
        if self.depth >= MAX_NESTING:
            self.fail(
                f"Ausdruck zu tief verschachtelt (höchstens {MAX_NESTING} Ebenen)",
                f"expression nested too deeply (at most {MAX_NESTING} levels)",
            )
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    # -- grammar ---------------------------------------------------------------------------
    def expression(self) -> str:
        with self.nested():
            return self._expression()

    def _expression(self) -> str:
        if self.is_name("if"):
            self.advance()
            condition = self.expression()
            self.expect_name("then")
            then = self.expression()
            self.expect_name("else")
            otherwise = self.expression()
            return f"(({then}) if ({condition}) is True else ({otherwise}))"
        return self.disjunction()

    def disjunction(self) -> str:
        parts = [self.conjunction()]
        while self.is_name("or"):
            self.advance()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else f"feel_or({', '.join(parts)})"

    def conjunction(self) -> str:
        parts = [self.comparison()]
        while self.is_name("and"):
            self.advance()
            parts.append(self.comparison())
        return parts[0] if len(parts) == 1 else f"feel_and({', '.join(parts)})"

    def comparison(self) -> str:
        left = self.additive()
        if self.current.kind == "op" and self.current.text in _COMPARISONS:
            op = self.advance().text
            right = self.additive()
            return f"feel_cmp({left}, {op!r}, {right})"
        if self.is_name("between"):
            self.advance()
            low = self.additive()
            self.expect_name("and")
            high = self.additive()
            return f"feel_between({left}, {low}, {high})"
        if self.is_name("in"):
            self.advance()
            if self.is_op("("):
                self.advance()
                items = [self.expression()]
                while self.is_op(","):
                    self.advance()
                    items.append(self.expression())
                self.expect_op(")")
                return f"(({left}) in [{', '.join(items)}])"
            right = self.additive()
            return f"(({left}) in ({right}))"
        return left

    def additive(self) -> str:
        result = self.multiplicative()
        while self.is_op("+", "-"):
            op = self.advance().text
            result = f"feel_arith({result}, {op!r}, {self.multiplicative()})"
        return result

    def multiplicative(self) -> str:
        result = self.power()
        while self.is_op("*", "/"):
            op = self.advance().text
            result = f"feel_arith({result}, {op!r}, {self.power()})"
        return result

    def power(self) -> str:
        base = self.unary()
        if self.is_op("**"):
            self.advance()
            with self.nested():
                return f"feel_arith({base}, '**', {self.power()})"
        return base

    def unary(self) -> str:
        if self.is_op("-"):
            self.advance()
            with self.nested():
                return f"feel_neg({self.unary()})"
        return self.postfix()

    def postfix(self) -> str:
        result = self.primary()
        while True:
            if self.is_op("."):
                self.advance()
                if self.current.kind != "name":
                    self.fail("Name nach «.» erwartet", "name expected after «.»")
                result = f"{self.path_function}({result}, {self._identifier(self.advance().text)!r})"
            elif self.is_op("[") and not self.in_endpoint:
                self.fail("Filter und Indizes […] werden nicht unterstützt", "filters and indexes […] are not supported")
            else:
                return result

    def primary(self) -> str:
        token = self.current
        if token.kind == "number":
            self.advance()
            return repr(token.value)
        if token.kind == "string":
            self.advance()
            return repr(token.value)
        if token.kind == "op":
            if token.text == "(":
                self.advance()
                inner = self.expression()
                self.expect_op(")")
                return f"({inner})"
            if token.text == "[":
                self.advance()
                items: list[str] = []
                if not self.is_op("]"):
                    items.append(self.expression())
                    while self.is_op(","):
                        self.advance()
                        items.append(self.expression())
                self.expect_op("]")
                return f"[{', '.join(items)}]"
            if token.text == "?":
                self.advance()
                self.uses_input = True
                return CELL_INPUT
            if token.text == "{":
                self.fail("FEEL-Kontexte {…} werden nicht unterstützt", "FEEL contexts {…} are not supported")
            return self.fail("Wert erwartet", "value expected")
        if token.kind == "name":
            return self.name_or_call()
        return self.fail("Wert erwartet", "value expected")

    def name_or_call(self) -> str:
        token = self.current
        word = token.text
        if word == "true":
            self.advance()
            return "True"
        if word == "false":
            self.advance()
            return "False"
        if word == "null":
            self.advance()
            return "None"
        # Multi-word function names ("date and time", "string length", …) before a "(".
        for words in _MULTIWORD:
            span = [self.peek(i) for i in range(len(words) + 1)]
            if all(t.kind == "name" and t.text == w for t, w in zip(span, words, strict=False)) and (
                span[-1].kind == "op" and span[-1].text == "("
            ):
                self.index += len(words)
                return self.call(" ".join(words))
        if self.peek().kind == "op" and self.peek().text == "(":
            self.advance()
            return self.call(word)
        if word in _UNSUPPORTED_KEYWORDS:
            self.fail(f"«{word}» wird nicht unterstützt", f"«{word}» is not supported")
        if word in _KEYWORDS:
            self.fail("Wert erwartet", "value expected")
        self.advance()
        return self._identifier(word)

    def call(self, name: str) -> str:
        self.expect_op("(")
        args: list[str] = []
        if not self.is_op(")"):
            args.append(self.expression())
            while self.is_op(","):
                self.advance()
                args.append(self.expression())
        self.expect_op(")")
        if name not in _FUNCTIONS:
            known = ", ".join(sorted(_FUNCTIONS))
            raise _error(
                f"Unbekannte FEEL-Funktion «{name}» (verfügbar: {known})", f"unknown FEEL function «{name}» (available: {known})"
            )
        arity, template = _FUNCTIONS[name]
        if arity is not None and len(args) != arity:
            raise _error(f"{name}() erwartet {arity} Argument(e)", f"{name}() expects {arity} argument(s)")
        if "{list}" in template:
            listed = args[0] if len(args) == 1 else f"[{', '.join(args)}]"
            return template.replace("{list}", listed)
        if "{args}" in template:
            return template.replace("{args}", ", ".join(args))
        return template.format(*args)

    def _identifier(self, word: str) -> str:
        if word.startswith("_") or not word.isidentifier():
            raise _error(f"Name «{word}» ist nicht erlaubt", f"name «{word}» is not allowed")
        return word


# --------------------------------------------------------------------------------------------
# Expressions


@dataclass(frozen=True, eq=False)
class FeelExpression:
    """A FEEL expression translated to (and checked by) the safe evaluator."""

    text: str
    python: str
    compiled: CompiledExpression

    def evaluate(self, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> Any:
        """Evaluate against ``context``; raises :class:`~.evaluator.ExpressionError` on failure.

        A name the context lacks is an error here (a decision table names the missing input);
        process conditions treat it as null (see :func:`with_nulls`).
        """
        return self.compiled.evaluate(context, now=now)

    @property
    def names(self) -> frozenset[str]:
        """Names the expression reads from the context."""
        return self.compiled.names


def with_nulls(compiled: CompiledExpression, context: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`context` with FEEL's null for each name the expression reads and the context lacks.

    In FEEL a variable nobody set (an optional form field left empty) is null, not an error:
    process conditions and parameters written as ``=…`` evaluate so, as Camunda 8 does. Decision
    tables do not: there a missing input is an error that names its column.
    """
    context = context or {}
    missing = [name for name in compiled.names if name not in context]
    return {**context, **dict.fromkeys(missing)} if missing else context


def _translate(text: str, *, missing_is_null: bool = False) -> tuple[str, bool]:
    parser = _Parser(text, missing_is_null=missing_is_null)
    if parser.at_end():
        raise _error("Leerer Ausdruck", "empty expression")
    python = parser.expression()
    if not parser.at_end():
        parser.fail("Ende des Ausdrucks erwartet", "end of expression expected")
    return python, parser.uses_input


def compile_expression(text: str, *, missing_is_null: bool = False) -> FeelExpression:
    """Translate a simple FEEL expression into a checked evaluator expression.

    `missing_is_null`: a field a path reads that its context lacks is null (process conditions, as
    Camunda 8 has it), not an error naming it (decision tables: a decision does not guess an input).
    """
    try:
        python, _ = _translate(text.strip(), missing_is_null=missing_is_null)
        compiled = _as_written(evaluator.compile_expression(python), text)
    except FeelError as exc:
        de, en = _with_hint(exc, text.strip(), _translates)
        raise FeelError(f"FEEL «{text.strip()}»: {de}", f"FEEL «{text.strip()}»: {en}") from None
    except ExpressionError as exc:
        raise FeelError(f"FEEL «{text.strip()}»: {exc.message_de}", f"FEEL «{text.strip()}»: {exc.message_en}") from None
    return FeelExpression(text=text, python=python, compiled=compiled)


def _with_hint(exc: FeelError, text: str, accepts: Callable[[str], bool]) -> tuple[str, str]:
    """The parser's message, followed by what to write instead of JUEL or Python (:mod:`.hints`)."""
    hint = syntax_hint(text, feel=True, accepts=accepts)
    if hint is None:
        return exc.message_de, exc.message_en
    return f"{exc.message_de}; {hint[0]}", f"{exc.message_en}; {hint[1]}"


def _translates(text: str) -> bool:
    try:
        _translate(text, missing_is_null=True)
    except ExpressionError:
        return False
    return True


def _parses_as_tests(text: str) -> bool:
    try:
        _UnaryParser(text).unary_tests()
    except ExpressionError:
        return False
    return True


def _as_written(compiled: CompiledExpression, text: str) -> CompiledExpression:
    """The compiled translation, naming ``text`` (the FEEL the designer wrote) in its errors."""
    return dataclasses.replace(compiled, written=text.strip())


# --------------------------------------------------------------------------------------------
# Comparisons with FEEL semantics


# --------------------------------------------------------------------------------------------
# Unary tests


class _Endpoint:
    """A value in a unary test; constant values are computed once."""

    def __init__(self, expression: FeelExpression) -> None:
        self.expression = expression
        self.constant = expression.compiled.is_constant
        self._value: Any = None
        if self.constant:
            self._value = expression.evaluate({})

    def value(self, context: Mapping[str, Any], now: datetime | None) -> Any:
        if self.constant:
            return self._value
        return self.expression.evaluate(context, now=now)


class _Test:
    #: Whether matching reads other names or ``?`` (else an empty scope will do).
    needs_context = False

    def matches(self, value: Any, context: Mapping[str, Any], now: datetime | None) -> bool | None:
        """True or false, or None (FEEL's null) where the input cannot be compared with the test."""
        raise NotImplementedError


class _AnyTest(_Test):
    def matches(self, value: Any, context: Mapping[str, Any], now: datetime | None) -> bool:
        return True


class _CompareTest(_Test):
    def __init__(self, op: str, endpoint: _Endpoint) -> None:
        self.op = op
        self.endpoint = endpoint
        self.needs_context = not endpoint.constant

    def matches(self, value: Any, context: Mapping[str, Any], now: datetime | None) -> bool | None:
        return feel_cmp(value, self.op, self.endpoint.value(context, now))


class _IntervalTest(_Test):
    def __init__(self, low: _Endpoint, high: _Endpoint, low_closed: bool, high_closed: bool) -> None:
        self.low, self.high = low, high
        self.low_op = operator.ge if low_closed else operator.gt
        self.high_op = operator.le if high_closed else operator.lt
        self.needs_context = not (low.constant and high.constant)

    def matches(self, value: Any, context: Mapping[str, Any], now: datetime | None) -> bool | None:
        return feel_and(feel_ordered(value, self.low_op, self.low.value(context, now)),
                        feel_ordered(value, self.high_op, self.high.value(context, now)))


class _ValueTest(_Test):
    """A plain expression: equality, membership for lists, or a boolean test using ``?``."""

    def __init__(self, endpoint: _Endpoint, uses_input: bool) -> None:
        self.endpoint = endpoint
        self.uses_input = uses_input
        self.needs_context = uses_input or not endpoint.constant

    def matches(self, value: Any, context: Mapping[str, Any], now: datetime | None) -> bool | None:
        target = self.endpoint.value(context, now)
        if self.uses_input:
            return target if isinstance(target, bool) else None
        # As in Camunda's FEEL: a computed boolean (``amount > 5``) decides by itself unless
        # the input is boolean; a literal ``true`` still means "equals true".
        if isinstance(target, bool) and not isinstance(value, bool) and not self.endpoint.constant:
            return target
        if isinstance(target, list) and not isinstance(value, list):
            return feel_or(*(feel_equality(value, item) for item in target))
        return feel_equality(value, target)


@dataclass(frozen=True, eq=False)
class UnaryTests:
    """A compiled input-entry cell. ``matches(value, context)`` tells whether the rule applies."""

    text: str
    tests: tuple[_Test, ...]
    negated: bool = False

    @property
    def is_any(self) -> bool:
        """True for ``-`` / empty cells, which match every value."""
        return len(self.tests) == 1 and isinstance(self.tests[0], _AnyTest) and not self.negated

    def matches(self, value: Any, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> bool:
        """Test ``value`` (``context`` supplies other names and ``?``/``cellInput``)."""
        scope: Mapping[str, Any] = {}
        if any(test.needs_context for test in self.tests):
            scope = {**(context or {}), CELL_INPUT: value}
        if not self.negated:
            return any(test.matches(value, scope, now) is True for test in self.tests)
        # not(tests): true only where each test is false; a test that cannot compare (null) is no match.
        return all(test.matches(value, scope, now) is False for test in self.tests)


class _UnaryParser(_Parser):
    def unary_tests(self) -> tuple[list[_Test], bool]:
        if self.at_end():
            return [_AnyTest()], False
        if self.is_op("-") and self.peek().kind == "end":
            return [_AnyTest()], False
        if self.is_name("not") and self.peek().kind == "op" and self.peek().text == "(":
            start = self.index
            self.advance()
            self.advance()
            tests = self.positive_tests()
            if self.is_op(")") and self.peek().kind == "end":
                self.advance()
                return tests, True
            # "not(x) and y" style: it was an expression after all.
            self.index = start
        tests = self.positive_tests()
        if not self.at_end():
            self.fail("Ende der Bedingung erwartet", "end of condition expected")
        return tests, False

    def positive_tests(self) -> list[_Test]:
        tests = [self.positive_test()]
        while self.is_op(","):
            self.advance()
            tests.append(self.positive_test())
        return tests

    def endpoint(self) -> _Endpoint:
        self.in_endpoint = True
        try:
            python = self.additive()
        finally:
            self.in_endpoint = False
        return _Endpoint(FeelExpression(text=self.text, python=python,
                                        compiled=_as_written(evaluator.compile_expression(python), self.text)))

    def positive_test(self) -> _Test:
        if self.current.kind == "op" and self.current.text in ("<", "<=", ">", ">=", "=", "!="):
            op = self.advance().text
            return _CompareTest(op, self.endpoint())
        if self.is_op("[", "(", "]") and self._looks_like_interval():
            opening = self.advance().text
            low = self.endpoint()
            self.expect_op("..")
            high = self.endpoint()
            if not self.is_op("]", ")", "["):
                self.fail("«]», «)» oder «[» erwartet", "«]», «)» or «[» expected")
            closing = self.advance().text
            return _IntervalTest(low, high, opening == "[", closing == "]")
        before = self.uses_input
        self.uses_input = False
        python = self.expression()
        uses_input = self.uses_input
        self.uses_input = before or uses_input
        endpoint = _Endpoint(FeelExpression(text=self.text, python=python,
                                            compiled=_as_written(evaluator.compile_expression(python), self.text)))
        return _ValueTest(endpoint, uses_input)

    def _looks_like_interval(self) -> bool:
        depth = 1
        for token in self.tokens[self.index + 1 :]:
            if token.kind == "op" and token.text in ("(", "["):
                depth += 1
            elif token.kind == "op" and token.text in (")", "]"):
                depth -= 1
                if depth <= 0:
                    return False
            elif token.kind == "op" and token.text == ".." and depth == 1:
                return True
            elif token.kind == "op" and token.text == "," and depth == 1:
                return False
        return False


def compile_unary_tests(text: str | None) -> UnaryTests:
    """Compile an input-entry cell (FEEL simple unary tests) once for many evaluations."""
    source = (text or "").strip()
    try:
        parser = _UnaryParser(source)
        tests, negated = parser.unary_tests()
    except FeelError as exc:
        de, en = _with_hint(exc, source, _parses_as_tests)
        raise FeelError(f"FEEL-Bedingung «{source}»: {de}", f"FEEL test «{source}»: {en}") from None
    except ExpressionError as exc:
        raise FeelError(f"FEEL-Bedingung «{source}»: {exc.message_de}", f"FEEL test «{source}»: {exc.message_en}") from None
    return UnaryTests(text=source, tests=tuple(tests), negated=negated)
