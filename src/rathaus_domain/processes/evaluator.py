"""Safe expression evaluator for process models (conditions, scripts, timers, DMN cells).

SpiffWorkflow evaluates expressions with Python ``eval``/``exec``; models uploaded by
municipalities must never run arbitrary code, so every expression goes through this module.

The language is a small subset of Python expressions:

* literals (numbers, strings, ``True``/``False``/``None``, lists, tuples, dicts) and the names
  ``true``, ``false``, ``null``;
* names from the context (task data); ``a.b`` reads key ``b`` of the dict ``a``;
* ``+ - * / // % **``, comparisons (also chained, ``in``, ``is``), ``and``/``or``/``not``,
  ``x if c else y``, subscripts and slices, f-strings with simple format specs;
* the functions in :data:`FUNCTION_NAMES` and a short allow-list of read-only methods on
  ``str``, ``dict``, ``list`` and dates.

Everything else (imports, lambdas, comprehensions, ``:=``, names or attributes starting with
``_``, unknown functions, ``str.format``, printf-style ``%`` on strings, set literals, ``*args``)
is rejected by a static check *before* anything runs.  While running, sizes are bounded
(integers: :data:`MAX_INT_BITS` bits, floats finite; strings and collections built by an
expression: :data:`MAX_SIZE` elements/characters, checked before the allocation happens, nested at
most :data:`MAX_VALUE_DEPTH` levels; all values a script assigns together: :data:`MAX_SIZE`), and
so are the number of evaluation steps and the wall time.
"""

from __future__ import annotations

import ast
import copy
import decimal
import math
import operator
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, NoReturn, TypeVar

from simpleeval import EvalWithCompoundTypes

from ..shared.workdays import months_after
from .errors import BilingualError
from .hints import syntax_hint

__all__ = [
    "FUNCTION_NAMES",
    "MAX_INT_BITS",
    "MAX_SIZE",
    "MAX_VALUE_DEPTH",
    "CompiledExpression",
    "CompiledScript",
    "ExpressionError",
    "LimitExceeded",
    "SourceCache",
    "UnsafeExpression",
    "check_expression",
    "check_script",
    "compile_expression",
    "compile_script",
    "date_out_of_range",
    "evaluate",
    "run_script",
]

MAX_SOURCE_LENGTH = 20_000
MAX_AST_NODES = 5_000
MAX_DEPTH = 200
MAX_STATEMENTS = 300
MAX_STEPS = 50_000
MAX_SECONDS = 1.0
MAX_INT_BITS = 1024
MAX_SIZE = 100_000
MAX_ROUND_DIGITS = 50
MAX_DAYS = 1_000_000
#: Deepest nesting of lists and dicts a value may have: deeper ones could not be copied, stored as
#: JSON or printed without running out of Python's stack.
MAX_VALUE_DEPTH = 100


# --------------------------------------------------------------------------------------------
# Errors


class ExpressionError(BilingualError, ValueError):
    """An expression is invalid or failed while running; carries a German and an English text."""

    def __init__(
        self,
        message_de: str,
        message_en: str,
        *,
        expression: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message_de, message_en)
        self.expression = expression
        self.line = line

    def with_context(self, *, expression: str | None = None, line: int | None = None) -> ExpressionError:
        """Return a copy of this error that names the expression and line it came from."""
        prefix_de = prefix_en = ""
        if line is not None:
            prefix_de, prefix_en = f"Zeile {line}: ", f"line {line}: "
        if expression is not None and self.expression is None:
            shown = _shorten(expression)
            prefix_de += f"Ausdruck «{shown}»: "
            prefix_en += f"expression «{shown}»: "
        if not prefix_de:
            return self
        new = type(self)(
            prefix_de + self.message_de,
            prefix_en + self.message_en,
            expression=expression or self.expression,
            line=line if line is not None else self.line,
        )
        return new


class UnsafeExpression(ExpressionError):
    """The expression uses a construct that is not allowed; it is rejected before running."""


class LimitExceeded(UnsafeExpression):
    """A size or time limit would be exceeded; evaluation stops before the work is done."""


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unsafe(de: str, en: str) -> NoReturn:
    raise UnsafeExpression(de, en)


def _limit(de: str, en: str) -> NoReturn:
    raise LimitExceeded(de, en)


# --------------------------------------------------------------------------------------------
# Functions available to expressions


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40:
            _limit("Datumstext zu lang", "date text too long")
        try:
            if len(text) > 10:
                return datetime.fromisoformat(text).date()
            return date.fromisoformat(text)
        except ValueError:
            raise ExpressionError(
                f"«{_shorten(text)}» ist kein Datum im Format JJJJ-MM-TT",
                f"«{_shorten(text)}» is not a date in the form YYYY-MM-DD",
            ) from None
    raise ExpressionError(
        f"Ein Datum wurde erwartet, nicht {type(value).__name__}",
        f"a date was expected, not {type(value).__name__}",
    )


def date_out_of_range() -> ExpressionError:
    """The error for a date before year 1 or after 9999 (what Python's dates hold)."""
    return ExpressionError(
        f"Datum außerhalb des gültigen Bereichs (Jahr {MINYEAR} bis {MAXYEAR})", f"date out of range (years {MINYEAR} to {MAXYEAR})"
    )


def _fn_date(*args: Any) -> date:
    if len(args) == 1:
        return _to_date(args[0])
    if len(args) == 3 and all(type(a) is int for a in args):
        year, month, day = args
        if not MINYEAR <= year <= MAXYEAR:
            raise date_out_of_range()
        try:
            return date(year, month, day)
        except ValueError:
            raise ExpressionError(
                f"{year:04}-{month:02}-{day:02} ist kein gültiges Datum", f"{year:04}-{month:02}-{day:02} is not a valid date"
            ) from None
    raise ExpressionError(
        "date() erwartet einen Text 'JJJJ-MM-TT' oder Jahr, Monat, Tag",
        "date() expects a text 'YYYY-MM-DD' or year, month, day",
    )


def _fn_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ExpressionError(
        f"«{_shorten(str(value))}» ist kein Zeitpunkt (ISO 8601)",
        f"«{_shorten(str(value))}» is not an ISO 8601 date and time",
    )


_DURATION_RE = re.compile(
    r"^(?P<sign>-)?P(?:(?P<weeks>\d{1,6})W)?(?:(?P<days>\d{1,7})D)?"
    r"(?:T(?:(?P<hours>\d{1,8})H)?(?:(?P<minutes>\d{1,9})M)?(?:(?P<seconds>\d{1,10}(?:\.\d+)?)S)?)?$"
)


def _fn_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        match = _DURATION_RE.match(value.strip().upper())
        if match and value.strip().upper() not in ("P", "PT", "-P", "-PT"):
            parts = {k: float(v) for k, v in match.groupdict().items() if v and k != "sign"}
            try:
                result = timedelta(**parts)
            except OverflowError:
                _limit("Dauer zu groß", "duration too large")
            return -result if match.group("sign") else result
    raise ExpressionError(
        f"«{_shorten(str(value))}» ist keine Dauer wie P14D oder PT2H (Monate/Jahre: add_months)",
        f"«{_shorten(str(value))}» is not a duration like P14D or PT2H (months/years: add_months)",
    )


def _fn_days_between(start: Any, end: Any) -> int:
    return (_to_date(end) - _to_date(start)).days


def _fn_add_days(value: Any, days: Any) -> date:
    if type(days) is not int:
        raise ExpressionError("add_days() erwartet eine ganze Zahl", "add_days() expects a whole number")
    if abs(days) > MAX_DAYS:
        _limit("add_days(): zu viele Tage", "add_days(): too many days")
    try:
        return _to_date(value) + timedelta(days=days)
    except OverflowError:
        raise date_out_of_range() from None


def _fn_add_months(value: Any, months: Any) -> date:
    if type(months) is not int or abs(months) > 12 * 3000:
        raise ExpressionError("add_months() erwartet eine ganze Zahl", "add_months() expects a whole number")
    try:
        return months_after(_to_date(value), months)
    except ValueError:  # before year 1 or after 9999
        raise date_out_of_range() from None


def _fn_years_between(start: Any, end: Any) -> int:
    """Full years between two dates (an age)."""
    first, last = _to_date(start), _to_date(end)
    years = last.year - first.year
    if (last.month, last.day) < (first.month, first.day):
        years -= 1
    return years


def _number_arg(value: Any, fn: str) -> int | float | Decimal:
    if not isinstance(value, int | float | Decimal):
        raise ExpressionError(f"{fn}() erwartet eine Zahl", f"{fn}() expects a number")
    return value


def _fn_round(value: Any, ndigits: Any = None) -> Any:
    _number_arg(value, "round")
    if ndigits is None:
        return round(value)
    if type(ndigits) is not int or abs(ndigits) > MAX_ROUND_DIGITS:
        _limit("round(): zu viele Stellen", "round(): too many digits")
    return round(value, ndigits)


def _fn_round_half_up(value: Any, ndigits: Any = None) -> Any:
    """Round as a cash office does (kaufmännisch): a half goes away from zero, 0.125 → 0.13.

    ``round`` rounds a half to the even neighbour (2.5 → 2) and a float as its binary value is
    (2.675 → 2.67); this one rounds the number as it is written (2.675 → 2.68). Like ``round``,
    without ``ndigits`` it gives a whole number.
    """
    _number_arg(value, "round_half_up")
    places = 0 if ndigits is None else ndigits
    if type(places) is not int or abs(places) > MAX_ROUND_DIGITS:
        _limit("round_half_up(): zu viele Stellen", "round_half_up(): too many digits")
    exact = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else int(value))
    try:
        rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP)
    except decimal.InvalidOperation:  # more digits than the context holds, or not a finite number
        raise ExpressionError("round_half_up(): Zahl zu groß", "round_half_up(): number too large") from None
    if ndigits is None or isinstance(value, int):
        return int(rounded)
    return rounded if isinstance(value, Decimal) else float(rounded)


def _fn_int(value: Any) -> int:
    if isinstance(value, str) and len(value) > 400:
        _limit("int(): Text zu lang", "int(): text too long")
    return int(value)


def _fn_float(value: Any) -> float:
    if isinstance(value, str) and len(value) > 400:
        _limit("float(): Text zu lang", "float(): text too long")
    return float(value)


def _fn_number(value: Any) -> int | float:
    """FEEL ``number()``: a number from a text (``"12"`` → 12, ``"1.5"`` → 1.5)."""
    if isinstance(value, bool):
        raise ExpressionError("number() erwartet Text oder Zahl", "number() expects a text or number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    text = str(value).strip()
    if len(text) > 400:
        _limit("number(): Text zu lang", "number(): text too long")
    try:
        return int(text)
    except ValueError:
        return float(text)


def _fn_str(value: Any) -> str:
    if isinstance(value, list | tuple | dict):
        _weight(value)
    return str(value)


def _fn_sum(values: Any, start: Any = 0) -> Any:
    items = list(_iter_arg(values, "sum"))
    for item in [*items, start]:
        _number_arg(item, "sum")
    return sum(items, start)


def _fn_min(*args: Any, default: Any = ...) -> Any:
    values = args[0] if len(args) == 1 else args
    if default is ...:
        return min(_iter_arg(values, "min"))
    return min(_iter_arg(values, "min"), default=default)


def _fn_max(*args: Any, default: Any = ...) -> Any:
    values = args[0] if len(args) == 1 else args
    if default is ...:
        return max(_iter_arg(values, "max"))
    return max(_iter_arg(values, "max"), default=default)


def _fn_sorted(values: Any, *, reverse: bool = False) -> list[Any]:
    return sorted(_iter_arg(values, "sorted"), reverse=bool(reverse))


def _fn_any(values: Any) -> bool:
    return any(_iter_arg(values, "any"))


def _fn_all(values: Any) -> bool:
    return all(_iter_arg(values, "all"))


def _fn_len(value: Any) -> int:
    if not isinstance(value, str | list | tuple | dict):
        raise ExpressionError("len() erwartet Text oder Liste", "len() expects a text or a list")
    return len(value)


def _fn_abs(value: Any) -> Any:
    return abs(_number_arg(value, "abs"))


def _fn_floor(value: Any) -> int:
    return math.floor(_number_arg(value, "floor"))


def _fn_ceil(value: Any) -> int:
    return math.ceil(_number_arg(value, "ceil"))


def _iter_arg(values: Any, fn: str) -> Iterable[Any]:
    if isinstance(values, list | tuple | str):
        return values
    if isinstance(values, dict):
        return list(values)
    raise ExpressionError(f"{fn}() erwartet eine Liste", f"{fn}() expects a list")


# FEEL's comparisons (DMN 1.3, 10.3.2.2): the translations of feel.py call these, so a FEEL
# expression compares as FEEL does wherever it runs (conditions, Zeebe scripts, decision cells).


def feel_comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Bring two values to a comparable pair, or None if FEEL would say "null"."""
    if left is None or right is None:
        return None
    if isinstance(left, bool) or isinstance(right, bool):
        return (left, right) if isinstance(left, bool) and isinstance(right, bool) else None
    numbers = (int, float, Decimal)
    if isinstance(left, numbers) and isinstance(right, numbers):
        if isinstance(left, Decimal) != isinstance(right, Decimal):
            return (float(left), float(right))
        return (left, right)
    if isinstance(left, date) or isinstance(right, date):
        try:
            left, right = _as_date_like(left, right), _as_date_like(right, left)
        except (ValueError, TypeError):
            return None
        if isinstance(left, datetime) != isinstance(right, datetime):
            return None
        if isinstance(left, datetime) and (left.tzinfo is None) != (right.tzinfo is None):
            return None
        return (left, right)
    if isinstance(left, str) and isinstance(right, str):
        return (left, right)
    if type(left) is type(right):
        return (left, right)
    return None


def _as_date_like(value: Any, other: Any) -> Any:
    # Form data holds dates as ISO texts; FEEL compares them with date() values as dates.
    if isinstance(value, str):
        if isinstance(other, datetime):
            return datetime.fromisoformat(value)
        if isinstance(other, date):
            return date.fromisoformat(value) if len(value) <= 10 else datetime.fromisoformat(value).date()
    return value


def feel_ordered(left: Any, op: Callable[[Any, Any], bool], right: Any) -> bool | None:
    """``left op right`` as FEEL compares: None (FEEL's null) where it cannot."""
    pair = feel_comparable(left, right)
    if pair is None:
        return None
    try:
        return bool(op(pair[0], pair[1]))
    except TypeError:
        return None


def feel_equality(left: Any, right: Any) -> bool | None:
    """FEEL's ``=``: None (FEEL's null) for two values of different types (``1 = "1"``, ``true = 1``).

    ``null`` compared with ``=`` is a null check (``x = null`` is true or false, never null). Lists
    and contexts are equal if their items are: false as soon as one pair differs, else null if one
    pair cannot be compared.
    """
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, list) or isinstance(right, list):
        if not (isinstance(left, list) and isinstance(right, list)):
            return None
        if len(left) != len(right):
            return False
        return feel_and(*(feel_equality(a, b) for a, b in zip(left, right, strict=True)))
    if isinstance(left, dict) or isinstance(right, dict):
        if not (isinstance(left, dict) and isinstance(right, dict)):
            return None
        if left.keys() != right.keys():
            return False
        return feel_and(*(feel_equality(left[k], right[k]) for k in left))
    return feel_ordered(left, operator.eq, right)


def feel_equal(left: Any, right: Any) -> bool:
    """Whether FEEL's ``left = right`` is true (false where FEEL says false or null: a cell's test)."""
    return feel_equality(left, right) is True


_FEEL_ORDER: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                       ">=": operator.ge}


def feel_cmp(left: Any, op: Any, right: Any) -> bool | None:
    """``feel_cmp(a, "<", b)``: FEEL's comparison; None (FEEL's null) where FEEL cannot compare."""
    if op in ("=", "!="):
        equal = feel_equality(left, right)
        return equal if op == "=" or equal is None else not equal
    order = _FEEL_ORDER.get(op) if isinstance(op, str) else None
    if order is None:
        raise ExpressionError(f"feel_cmp(): unbekannter Vergleich «{op}»", f"feel_cmp(): unknown comparison «{op}»")
    return feel_ordered(left, order, right)


_FEEL_ARITHMETIC: dict[str, type[ast.operator]] = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div,
                                                   "**": ast.Pow}
_FEEL_NUMBERS = (int, float, Decimal)


def _fn_feel_arith(left: Any, op: Any, right: Any) -> Any:
    """``feel_arith(a, "+", b)``: FEEL arithmetic; null where an operand is null or the operation
    means nothing for the values (a text times a number, a division by zero).

    Numbers, texts joined with ``+``, and dates, times and durations as Python adds them; the
    evaluator's bounds on sizes apply as to any operator.
    """
    kind = _FEEL_ARITHMETIC.get(op) if isinstance(op, str) else None
    if kind is None:
        raise ExpressionError(f"feel_arith(): unbekannte Rechenart «{op}»", f"feel_arith(): unknown operation «{op}»")
    if left is None or right is None or isinstance(left, bool | list | dict) or isinstance(right, bool | list | dict):
        return None
    if isinstance(left, str) or isinstance(right, str):
        if not (op == "+" and isinstance(left, str) and isinstance(right, str)):
            return None
    elif isinstance(left, _FEEL_NUMBERS) and isinstance(right, _FEEL_NUMBERS) and \
            isinstance(left, Decimal) != isinstance(right, Decimal):
        left, right = float(left), float(right)
    try:
        return _guard(_OPERATORS[kind](left, right))
    except (TypeError, ZeroDivisionError, decimal.InvalidOperation):
        return None


def _fn_feel_neg(value: Any) -> Any:
    """FEEL's ``-x``: null for anything but a number or a duration."""
    if isinstance(value, (*_FEEL_NUMBERS, timedelta)) and not isinstance(value, bool):
        return -value
    return None


def _readable_attrs(value: Any) -> frozenset[str]:
    """The attributes an expression may read of a date, a date-time or a duration (none of anything else)."""
    if isinstance(value, datetime):
        return _DATETIME_ATTRS
    if isinstance(value, date):
        return _DATE_ATTRS
    if isinstance(value, timedelta):
        return _TIMEDELTA_ATTRS
    return frozenset()


def _fn_feel_get(value: Any, name: Any) -> Any:
    """FEEL's path ``value.name``: a key of a context (dict), a part of a date; null where there is none."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name) if isinstance(name, str) and name in _readable_attrs(value) else None


def _fn_feel_path(value: Any, name: Any) -> Any:
    """A path in a decision: as ``feel_get``, but a context without the key is an error naming it."""
    if isinstance(value, dict) and name not in value:
        raise ExpressionError(f"Das Feld «{name}» fehlt", f"the field «{name}» is missing")
    return _fn_feel_get(value, name)


def feel_and(*values: Any) -> bool | None:
    """FEEL's ``and``: false if any part is false, true if all are true, else null."""
    if any(value is False for value in values):
        return False
    return True if all(value is True for value in values) else None


def feel_or(*values: Any) -> bool | None:
    """FEEL's ``or``: true if any part is true, false if all are false, else null."""
    if any(value is True for value in values):
        return True
    return False if all(value is False for value in values) else None


def _fn_feel_not(value: Any) -> bool | None:
    """FEEL's ``not(x)``: the negation of a boolean, null for anything else."""
    return (not value) if isinstance(value, bool) else None


def _fn_feel_between(value: Any, low: Any, high: Any) -> bool | None:
    """FEEL's ``value between low and high`` (both ends included; null where either test is null)."""
    return feel_and(feel_cmp(low, "<=", value), feel_cmp(value, "<=", high))


#: Functions that every expression may call (besides ``today()`` and ``now()``).
_PURE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _fn_len,
    "min": _fn_min,
    "max": _fn_max,
    "sum": _fn_sum,
    "abs": _fn_abs,
    "round": _fn_round,
    "round_half_up": _fn_round_half_up,
    "floor": _fn_floor,
    "ceil": _fn_ceil,
    "int": _fn_int,
    "float": _fn_float,
    "number": _fn_number,
    "str": _fn_str,
    "bool": bool,
    "sorted": _fn_sorted,
    "any": _fn_any,
    "all": _fn_all,
    "date": _fn_date,
    "datetime": _fn_datetime,
    "duration": _fn_duration,
    "days_between": _fn_days_between,
    "years_between": _fn_years_between,
    "add_days": _fn_add_days,
    "add_months": _fn_add_months,
    "feel_cmp": feel_cmp,
    "feel_not": _fn_feel_not,
    "feel_between": _fn_feel_between,
    "feel_get": _fn_feel_get,
    "feel_arith": _fn_feel_arith,
    "feel_neg": _fn_feel_neg,
    "feel_path": _fn_feel_path,
    "feel_and": feel_and,
    "feel_or": feel_or,
}
_CLOCK_FUNCTIONS = frozenset({"today", "now"})
FUNCTION_NAMES: frozenset[str] = frozenset(_PURE_FUNCTIONS) | _CLOCK_FUNCTIONS

_DEFAULT_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}

_STR_METHODS = frozenset(
    {
        "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "title",
        "capitalize", "casefold", "isdigit", "isalpha", "isalnum", "isnumeric", "isspace",
        "islower", "isupper", "split", "count", "find", "replace", "join",
    }
)  # fmt: skip
_DICT_METHODS = frozenset({"get", "keys", "values", "items"})
_LIST_METHODS = frozenset({"count", "index"})
_DATE_METHODS = frozenset({"isoformat", "weekday", "isoweekday", "strftime", "date"})
_ALL_METHODS = _STR_METHODS | _DICT_METHODS | _LIST_METHODS | _DATE_METHODS
_DATE_ATTRS = frozenset({"year", "month", "day"})
_DATETIME_ATTRS = _DATE_ATTRS | {"hour", "minute", "second"}
_TIMEDELTA_ATTRS = frozenset({"days", "seconds"})
# Names of escape helpers that must not appear even as dict keys, so a typo never looks harmless.
_DENIED_ATTRS = frozenset({"format", "format_map", "mro", "gi_frame", "f_globals", "f_locals"})


# --------------------------------------------------------------------------------------------
# Static check


_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**",
}  # fmt: skip
_UNARYOPS = (ast.USub, ast.UAdd, ast.Not)
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_CONSTANT_TYPES = (int, float, str, bool, type(None))

_FORBIDDEN: dict[type[ast.AST], tuple[str, str]] = {
    ast.Lambda: ("Lambda-Funktionen sind nicht erlaubt", "lambda functions are not allowed"),
    ast.ListComp: ("Comprehensions (… for … in …) sind nicht erlaubt", "comprehensions are not allowed"),
    ast.SetComp: ("Comprehensions (… for … in …) sind nicht erlaubt", "comprehensions are not allowed"),
    ast.DictComp: ("Comprehensions (… for … in …) sind nicht erlaubt", "comprehensions are not allowed"),
    ast.GeneratorExp: ("Generatoren (… for … in …) sind nicht erlaubt", "generator expressions are not allowed"),
    ast.NamedExpr: ("Der Walross-Operator := ist nicht erlaubt", "the walrus operator := is not allowed"),
    ast.Await: ("await ist nicht erlaubt", "await is not allowed"),
    ast.Yield: ("yield ist nicht erlaubt", "yield is not allowed"),
    ast.YieldFrom: ("yield ist nicht erlaubt", "yield is not allowed"),
    ast.Starred: ("Entpacken mit * ist nicht erlaubt", "unpacking with * is not allowed"),
    ast.Set: ("Mengen {…} sind nicht erlaubt; bitte eine Liste […] verwenden", "set literals are not allowed; use a list"),
    ast.BitAnd: ("Bit-Operatoren sind nicht erlaubt", "bitwise operators are not allowed"),
    ast.BitOr: ("Bit-Operatoren sind nicht erlaubt", "bitwise operators are not allowed"),
    ast.BitXor: ("Bit-Operatoren sind nicht erlaubt", "bitwise operators are not allowed"),
    ast.LShift: ("Bit-Operatoren sind nicht erlaubt", "bitwise operators are not allowed"),
    ast.RShift: ("Bit-Operatoren sind nicht erlaubt", "bitwise operators are not allowed"),
    ast.Invert: ("Bit-Operatoren sind nicht erlaubt", "bitwise operators are not allowed"),
    ast.MatMult: ("Der Operator @ ist nicht erlaubt", "the @ operator is not allowed"),
}

_STATEMENT_NAMES: dict[type[ast.AST], tuple[str, str]] = {
    ast.Import: ("import", "import"),
    ast.ImportFrom: ("import", "import"),
    ast.FunctionDef: ("Funktionsdefinitionen", "function definitions"),
    ast.AsyncFunctionDef: ("Funktionsdefinitionen", "function definitions"),
    ast.ClassDef: ("Klassendefinitionen", "class definitions"),
    ast.For: ("Schleifen (for)", "loops (for)"),
    ast.AsyncFor: ("Schleifen (for)", "loops (for)"),
    ast.While: ("Schleifen (while)", "loops (while)"),
    ast.If: ("if-Anweisungen (bitte «x = a if b else c»)", "if statements (use «x = a if b else c»)"),
    ast.With: ("with-Blöcke", "with blocks"),
    ast.AsyncWith: ("with-Blöcke", "with blocks"),
    ast.Try: ("try-Blöcke", "try blocks"),
    ast.Raise: ("raise", "raise"),
    ast.Assert: ("assert", "assert"),
    ast.Delete: ("del", "del"),
    ast.Global: ("global", "global"),
    ast.Nonlocal: ("nonlocal", "nonlocal"),
    ast.Return: ("return", "return"),
    ast.Pass: ("pass", "pass"),
    ast.Break: ("break", "break"),
    ast.Continue: ("continue", "continue"),
    ast.Expr: ("Ausdrücke ohne Zuweisung", "expressions without assignment"),
    ast.AugAssign: ("erweiterte Zuweisungen wie += (bitte «x = x + 1»)", "augmented assignments like += (use «x = x + 1»)"),
    ast.AnnAssign: ("Zuweisungen mit Typangabe", "annotated assignments"),
}

_NUMBER_SPEC_RE = re.compile(r"^[<>^=]?[+\- ]?#?0?(\d{1,3})?[,_]?(\.\d{1,2})?[bdeEfFgGnosxX%]?$")
_DATE_SPEC_RE = re.compile(r"^(%[aAbBdHIjmMpSUwWyYzZ%]|[ .,:;/\-T])*$")


def _parse(source: str, mode: str) -> ast.AST:
    if not isinstance(source, str):
        raise ExpressionError("Ausdruck muss Text sein", "expression must be text")
    if len(source) > MAX_SOURCE_LENGTH:
        _limit(
            f"Ausdruck zu lang (höchstens {MAX_SOURCE_LENGTH} Zeichen)",
            f"expression too long (at most {MAX_SOURCE_LENGTH} characters)",
        )
    try:
        return ast.parse(source if mode == "exec" else source.strip(), mode=mode)
    except SyntaxError as exc:
        if exc.msg.startswith("too many nested parentheses"):  # Python's parser stops at 200 levels
            _limit("Ausdruck zu tief verschachtelt", "expression nested too deeply")
        where_de = f" (Zeile {exc.lineno}, Spalte {exc.offset})" if exc.lineno else ""
        where_en = f" (line {exc.lineno}, column {exc.offset})" if exc.lineno else ""
        what_de = what_en = exc.msg
        hint = _syntax_hint(source, mode, exc.lineno)
        if hint is not None:
            # Python's "invalid syntax" says nothing a designer can use; the hint replaces it.
            what_de, what_en = (hint if exc.msg == "invalid syntax" else (f"{exc.msg}; {hint[0]}", f"{exc.msg}; {hint[1]}"))
        raise ExpressionError(
            f"Syntaxfehler{where_de}: {what_de}", f"syntax error{where_en}: {what_en}", expression=source
        ) from None
    except (RecursionError, MemoryError, ValueError):
        _limit("Ausdruck zu tief verschachtelt oder ungültig", "expression nested too deeply or invalid")


def _syntax_hint(source: str, mode: str, lineno: int | None) -> tuple[str, str] | None:
    """What to write instead of JUEL in the line that failed (see :mod:`.hints`)."""
    if mode == "exec":
        lines = source.splitlines()
        if not lineno or lineno > len(lines):
            return None
        source = lines[lineno - 1]

    def accepts(candidate: str) -> bool:
        try:
            tree = ast.parse(candidate, mode=mode)
            if isinstance(tree, ast.Module):
                if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
                    return False
                tree = tree.body[0].value
            _check_tree(tree, script=False)
        except (SyntaxError, ExpressionError, ValueError, RecursionError):
            return False
        return True

    return syntax_hint(source, feel=False, accepts=accepts)


def _check_tree(root: ast.AST, *, script: bool) -> tuple[frozenset[str], bool]:
    """Walk the tree iteratively; reject anything outside the allow-list.

    Returns the free names used and whether ``today()``/``now()`` are called.
    """
    names: set[str] = set()
    uses_clock = False
    count = 0
    stack: list[tuple[ast.AST, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_AST_NODES:
            _limit("Ausdruck zu groß", "expression too large")
        if depth > MAX_DEPTH:
            _limit("Ausdruck zu tief verschachtelt", "expression nested too deeply")
        kind = type(node)
        if kind in _FORBIDDEN:
            de, en = _FORBIDDEN[kind]
            _unsafe(de, en)
        if isinstance(node, ast.Expression | ast.Load):
            pass
        elif isinstance(node, ast.Module):
            if not script:
                _unsafe("Nur ein einzelner Ausdruck ist erlaubt", "only a single expression is allowed")
        elif isinstance(node, ast.Assign):
            if not script or depth != 1:
                _unsafe("Zuweisungen sind hier nicht erlaubt", "assignments are not allowed here")
        elif isinstance(node, ast.Store):
            if not script:
                _unsafe("Zuweisungen sind hier nicht erlaubt", "assignments are not allowed here")
        elif isinstance(node, ast.Constant):
            if type(node.value) not in _CONSTANT_TYPES:
                _unsafe(
                    f"Literale vom Typ {type(node.value).__name__} sind nicht erlaubt",
                    f"literals of type {type(node.value).__name__} are not allowed",
                )
            _guard(node.value)  # a literal is held to the bounds of a computed number (10**400, 1e999)
        elif isinstance(node, ast.Name):
            _check_identifier(node.id, "Name", "name")
            if isinstance(node.ctx, ast.Load):
                names.add(node.id)
        elif isinstance(node, ast.Attribute):
            _check_identifier(node.attr, "Attribut", "attribute")
            if node.attr in _DENIED_ATTRS:
                _unsafe(f"Das Attribut «{node.attr}» ist nicht erlaubt", f"the attribute «{node.attr}» is not allowed")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                if func.id.startswith("_"):
                    _check_identifier(func.id, "Name", "name")
                if func.id not in FUNCTION_NAMES:
                    _unsafe(
                        f"Die Funktion «{func.id}» ist nicht verfügbar (erlaubt: {', '.join(sorted(FUNCTION_NAMES))})",
                        f"the function «{func.id}» is not available (allowed: {', '.join(sorted(FUNCTION_NAMES))})",
                    )
                if func.id in _CLOCK_FUNCTIONS:
                    uses_clock = True
                # The function name itself is not a data name; skip the Name node.
                children: list[ast.AST] = [*node.args, *node.keywords]
                stack.extend((child, depth + 1) for child in children)
                continue
            if isinstance(func, ast.Attribute):
                _check_identifier(func.attr, "Methode", "method")
                if func.attr not in _ALL_METHODS:
                    _unsafe(f"Die Methode «{func.attr}» ist nicht erlaubt", f"the method «{func.attr}» is not allowed")
            else:
                _unsafe("Nur benannte Funktionen dürfen aufgerufen werden", "only named functions may be called")
        elif isinstance(node, ast.keyword):
            if node.arg is None:
                _unsafe("Entpacken mit ** ist nicht erlaubt", "unpacking with ** is not allowed")
        elif isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                _unsafe("Entpacken mit ** ist nicht erlaubt", "unpacking with ** is not allowed")
        elif isinstance(node, ast.FormattedValue):
            if node.conversion != -1:
                _unsafe("Umwandlungen wie !r in f-Strings sind nicht erlaubt", "conversions like !r in f-strings are not allowed")
            if node.format_spec is not None:
                spec = node.format_spec
                if not (
                    isinstance(spec, ast.JoinedStr)
                    and all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in spec.values)
                ):
                    _unsafe("Formatangaben in f-Strings müssen fest sein", "format specs in f-strings must be constant")
                text = "".join(v.value for v in spec.values if isinstance(v, ast.Constant))
                if not (_NUMBER_SPEC_RE.match(text) or (len(text) <= 40 and _DATE_SPEC_RE.match(text))):
                    _unsafe(
                        f"Formatangabe «{_shorten(text)}» ist nicht erlaubt", f"format spec «{_shorten(text)}» is not allowed"
                    )
                stack.append((node.value, depth + 1))
                continue
        elif isinstance(node, ast.operator):
            if kind not in _BINOPS:
                _unsafe(f"Operator {kind.__name__} ist nicht erlaubt", f"operator {kind.__name__} is not allowed")
        elif isinstance(node, ast.unaryop):
            if not isinstance(node, _UNARYOPS):
                _unsafe(f"Operator {kind.__name__} ist nicht erlaubt", f"operator {kind.__name__} is not allowed")
        elif isinstance(node, ast.cmpop):
            if not isinstance(node, _CMPOPS):
                _unsafe(f"Vergleich {kind.__name__} ist nicht erlaubt", f"comparison {kind.__name__} is not allowed")
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and (
                isinstance(node.left, ast.JoinedStr) or (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str))
            )
        ):
            _unsafe(
                "Text-Formatierung mit % ist nicht erlaubt; bitte f-Strings verwenden",
                "string formatting with % is not allowed; use f-strings",
            )
        elif isinstance(
            node,
            ast.BinOp | ast.UnaryOp | ast.BoolOp | ast.And | ast.Or | ast.Compare | ast.IfExp | ast.Subscript | ast.Slice | ast.List | ast.Tuple | ast.JoinedStr,
        ):  # fmt: skip
            pass
        elif isinstance(node, ast.stmt):
            de, en = _STATEMENT_NAMES.get(kind, (kind.__name__, kind.__name__))
            _unsafe(
                f"Nur Zuweisungen «name = Ausdruck» sind erlaubt, nicht {de}",
                f"only assignments «name = expression» are allowed, not {en}",
            )
        else:
            _unsafe(f"Das Sprachmittel {kind.__name__} ist nicht erlaubt", f"the construct {kind.__name__} is not allowed")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return frozenset(names), uses_clock


def _check_identifier(name: str, kind_de: str, kind_en: str) -> None:
    if name.startswith("_"):
        _unsafe(
            f"{kind_de} «{name}» ist nicht erlaubt (Namen dürfen nicht mit «_» beginnen)",
            f"{kind_en} «{name}» is not allowed (names must not start with «_»)",
        )


# --------------------------------------------------------------------------------------------
# Runtime guards


def _weight(value: Any, limit: int = MAX_SIZE) -> int:
    """Expanded size of a value (characters + elements), raising once it passes ``limit`` or
    nests deeper than :data:`MAX_VALUE_DEPTH`."""
    total = 0
    level = [value]
    depth = 0
    # Level by level, so the depth is known without a pair per item.
    while level and total <= limit:
        depth += 1
        below: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is str:
                total += len(item) or 1
            elif kind is list or kind is tuple or kind is dict:
                if depth > MAX_VALUE_DEPTH:
                    _limit(
                        f"Wert zu tief verschachtelt (höchstens {MAX_VALUE_DEPTH} Ebenen)",
                        f"value nested too deeply (at most {MAX_VALUE_DEPTH} levels)",
                    )
                total += len(item) or 1
                if total > limit:
                    break
                if kind is dict:
                    below.extend(item.keys())
                    below.extend(item.values())
                else:
                    below.extend(item)
            elif kind is int or kind is float or kind is Decimal:
                total += 1
                _guard(item)
            elif kind in (bool, type(None), date, datetime, timedelta):
                total += 1
            else:
                raise ExpressionError(
                    f"Werte vom Typ {kind.__name__} sind nicht erlaubt", f"values of type {kind.__name__} are not allowed"
                )
            if total > limit:
                break
        level = below
    if total > limit:
        _limit(
            f"Ergebnis zu groß (mehr als {limit} Zeichen/Elemente)",
            f"result too large (more than {limit} characters/elements)",
        )
    return total


def _too_big_int() -> NoReturn:
    _limit(f"Zahl zu groß (mehr als {MAX_INT_BITS} Bit)", f"number too large (more than {MAX_INT_BITS} bits)")


def _not_finite() -> NoReturn:
    _limit(
        "Zahl außerhalb des darstellbaren Bereichs (unendlich oder keine Zahl)", "number out of range (infinite or not a number)"
    )


def _guard(value: Any) -> Any:
    """Check a value an expression has just built."""
    kind = type(value)
    if kind is int:
        if value.bit_length() > MAX_INT_BITS:
            _too_big_int()
    elif kind is float:
        # 1e308 * 10 is infinity rather than an OverflowError; neither it nor NaN is JSON.
        if not math.isfinite(value):
            _not_finite()
    elif kind is Decimal:
        if not value.is_finite():
            _not_finite()
    elif kind is str:
        if len(value) > MAX_SIZE:
            _weight(value)
    elif kind in (bool, type(None), date, datetime, timedelta):
        pass
    else:
        _weight(value)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # bool included: True * 'a' repeats too


def _safe_mult(left: Any, right: Any) -> Any:
    if isinstance(left, str | list | tuple) and _is_int(right):
        left, right = right, left
    if _is_int(left) and isinstance(right, str | list | tuple):
        if left > 0 and left * _weight(right) > MAX_SIZE:
            _limit(
                f"Wiederholung ergäbe mehr als {MAX_SIZE} Zeichen/Elemente",
                f"repetition would produce more than {MAX_SIZE} characters/elements",
            )
    elif _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            _too_big_int()
    return left * right


def _safe_pow(base: Any, exponent: Any) -> Any:
    if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        # bits(base ** exponent) >= exponent * (bits(base) - 1): refuse before computing.
        if exponent * (abs(base).bit_length() - 1) > MAX_INT_BITS:
            _too_big_int()
    elif isinstance(base, Decimal) or isinstance(exponent, Decimal):
        if abs(exponent) > 10_000:
            _too_big_int()
    return base**exponent


def _safe_add(left: Any, right: Any) -> Any:
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        if _weight(left) + _weight(right) > MAX_SIZE:
            _limit(
                f"Verkettung ergäbe mehr als {MAX_SIZE} Zeichen/Elemente",
                f"concatenation would produce more than {MAX_SIZE} characters/elements",
            )
    return left + right


def _safe_mod(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        _unsafe(
            "Text-Formatierung mit % ist nicht erlaubt; bitte f-Strings verwenden",
            "string formatting with % is not allowed; use f-strings",
        )
    return left % right


def _contains(container: Any, item: Any) -> bool:
    if not isinstance(container, str | list | tuple | dict):
        raise ExpressionError("«in» erwartet Text, Liste oder Dict", "«in» expects a text, list or dict")
    if isinstance(container, str) and not isinstance(item, str):
        return False
    return item in container


_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: _safe_add,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: _safe_mult,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: _safe_mod,
    ast.Pow: _safe_pow,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: _contains(b, a),
    ast.NotIn: lambda a, b: not _contains(b, a),
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
    ast.Not: lambda a: not a,
    ast.USub: lambda a: -a,
    ast.UAdd: lambda a: +a,
}


def _call_method(obj: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run one allow-listed, read-only method; size-amplifying ones are checked first."""
    if isinstance(obj, str) and name in _STR_METHODS:
        if name == "replace":
            old, new = (list(args) + [None, None])[:2]
            if isinstance(old, str) and isinstance(new, str):
                hits = obj.count(old) if old else len(obj) + 1
                if len(obj) + hits * max(0, len(new) - len(old)) > MAX_SIZE:
                    _limit("replace() ergäbe zu langen Text", "replace() would produce too long a text")
        elif name == "join":
            items = args[0] if args else []
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ExpressionError("join() erwartet eine Liste von Texten", "join() expects a list of texts")
            if sum(len(i) for i in items) + len(obj) * max(0, len(items) - 1) > MAX_SIZE:
                _limit("join() ergäbe zu langen Text", "join() would produce too long a text")
        return getattr(obj, name)(*args, **kwargs)
    if isinstance(obj, dict) and name in _DICT_METHODS:
        if kwargs:
            raise ExpressionError(f"{name}() nimmt keine Schlüsselwort-Argumente", f"{name}() takes no keyword arguments")
        if name == "get":
            return obj.get(*args)
        if args:
            raise ExpressionError(f"{name}() nimmt keine Argumente", f"{name}() takes no arguments")
        if name == "keys":
            return list(obj.keys())
        if name == "values":
            return list(obj.values())
        return [tuple(item) for item in obj.items()]
    if isinstance(obj, list | tuple) and name in _LIST_METHODS:
        return getattr(obj, name)(*args, **kwargs)
    if isinstance(obj, date) and name in _DATE_METHODS:
        if name == "date" and not isinstance(obj, datetime):
            pass
        elif name == "strftime":
            fmt = args[0] if args else kwargs.get("format")
            if not isinstance(fmt, str) or len(fmt) > 100:
                raise ExpressionError("strftime() erwartet ein kurzes Format", "strftime() expects a short format")
            return obj.strftime(fmt)
        else:
            return getattr(obj, name)(*args, **kwargs)
    _unsafe(
        f"Die Methode «{name}» ist für Werte vom Typ {type(obj).__name__} nicht erlaubt",
        f"the method «{name}» is not allowed on values of type {type(obj).__name__}",
    )


# --------------------------------------------------------------------------------------------
# Interpreter


@dataclass
class _Budget:
    steps: int = 0
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_SECONDS)

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            _limit("Zu viele Rechenschritte", "too many evaluation steps")

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            _limit("Zeitlimit für die Auswertung überschritten", "evaluation time limit exceeded")


#: Nodes that only look a value up: reading the clock after them would cost more than they do.
_CHEAP_NODES = frozenset({ast.Name, ast.Constant, ast.Attribute})


class _Interpreter(EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval's tree walker with our node table, operators, functions and guards."""

    # Class-level tables: every evaluation creates an interpreter, and simpleeval's own
    # __init__ (which rebuilds tables we replace anyway) would dominate the cost of small
    # conditions; so it is deliberately not called.
    operators = _OPERATORS
    functions = _PURE_FUNCTIONS
    ATTR_INDEX_FALLBACK = False

    def __init__(self, names: Mapping[str, Any], now: datetime | None, budget: _Budget) -> None:
        self.names = names
        self.expr = ""
        self._now = now
        self._budget = budget
        # Only the node types that survive the static check; anything else fails closed.
        self.nodes = {
            ast.Expr: self._eval_expr,
            ast.Name: self._eval_name,
            ast.Constant: self._eval_constant,
            ast.UnaryOp: self._eval_unaryop,
            ast.BinOp: self._eval_binop,
            ast.BoolOp: self._eval_boolop,
            ast.Compare: self._eval_compare,
            ast.IfExp: self._eval_ifexp,
            ast.Call: self._eval_call,
            ast.Subscript: self._eval_subscript,
            ast.Attribute: self._eval_attribute,
            ast.Slice: self._eval_slice,
            ast.JoinedStr: self._eval_joinedstr,
            ast.FormattedValue: self._eval_formattedvalue,
            ast.List: self._eval_list,
            ast.Tuple: self._eval_tuple,
            ast.Dict: self._eval_dict,
        }

    def __del__(self) -> None:
        pass

    def _clock(self) -> datetime:
        if self._now is None:
            return datetime.now(UTC).astimezone()
        return self._now

    def _today(self) -> date:
        return self._clock().date()

    def _current_time(self) -> datetime:
        return self._clock()

    def _eval(self, node: ast.AST) -> Any:
        self._budget.tick()
        handler = self.nodes.get(type(node))
        if handler is None:
            _unsafe(
                f"Das Sprachmittel {type(node).__name__} ist nicht erlaubt", f"the construct {type(node).__name__} is not allowed"
            )
        value = handler(node)
        # The clock is read when a node is done, not when it is entered: the work (building a
        # value, checking its size, sorting) happens on the way back, after the last node entered.
        if type(node) not in _CHEAP_NODES:
            self._budget.check_time()
        return value

    def _eval_name(self, node: ast.Name) -> Any:
        if node.id in self.names:
            return self.names[node.id]
        if node.id in _DEFAULT_NAMES:
            return _DEFAULT_NAMES[node.id]
        raise ExpressionError(f"Unbekannter Name «{node.id}»", f"unknown name «{node.id}»")

    @staticmethod
    def _eval_constant(node: ast.Constant) -> Any:
        return node.value

    def _eval_binop(self, node: ast.BinOp) -> Any:
        operator = self.operators[type(node.op)]
        return _guard(operator(self._eval(node.left), self._eval(node.right)))

    def _eval_unaryop(self, node: ast.UnaryOp) -> Any:
        return self.operators[type(node.op)](self._eval(node.operand))

    def _eval_call(self, node: ast.Call) -> Any:
        args = [self._eval(arg) for arg in node.args]
        kwargs = {kw.arg: self._eval(kw.value) for kw in node.keywords if kw.arg is not None}
        func = node.func
        if isinstance(func, ast.Attribute):
            obj = self._eval(func.value)
            return _guard(_call_method(obj, func.attr, args, kwargs))
        if isinstance(func, ast.Name):
            if func.id == "today":
                return self._today(*args, **kwargs)
            if func.id == "now":
                return self._current_time(*args, **kwargs)
            if func.id in self.functions:
                return _guard(self.functions[func.id](*args, **kwargs))
        _unsafe("Nur erlaubte Funktionen dürfen aufgerufen werden", "only allowed functions may be called")

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        obj = self._eval(node.value)
        name = node.attr
        if isinstance(obj, dict):
            if name in obj:
                return obj[name]
            raise ExpressionError(f"Das Feld «{name}» fehlt", f"the field «{name}» is missing")
        if name in _readable_attrs(obj):
            return getattr(obj, name)
        raise ExpressionError(
            f"«{name}» ist für Werte vom Typ {type(obj).__name__} nicht verfügbar",
            f"«{name}» is not available on values of type {type(obj).__name__}",
        )

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        if not isinstance(container, str | list | tuple | dict):
            raise ExpressionError(
                f"Werte vom Typ {type(container).__name__} haben keine Elemente",
                f"values of type {type(container).__name__} have no elements",
            )
        return container[key]

    def _eval_list(self, node: ast.List) -> Any:
        return _guard([self._eval(item) for item in node.elts])

    def _eval_tuple(self, node: ast.Tuple) -> Any:
        return _guard(tuple(self._eval(item) for item in node.elts))

    def _eval_dict(self, node: ast.Dict) -> Any:
        # ``{**x}`` (a None key) never passes the static check.
        return _guard({self._eval(k): self._eval(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None})

    def _eval_joinedstr(self, node: ast.JoinedStr) -> str:
        parts: list[str] = []
        length = 0
        for value in node.values:
            text = self._eval(value)
            text = text if isinstance(text, str) else _fn_str(text)
            length += len(text)
            if length > MAX_SIZE:
                _limit("f-String ergäbe zu langen Text", "f-string would produce too long a text")
            parts.append(text)
        return "".join(parts)

    def _eval_formattedvalue(self, node: ast.FormattedValue) -> str:
        value = self._eval(node.value)
        if node.format_spec is None:
            return value if isinstance(value, str) else _fn_str(value)
        spec = "".join(v.value for v in node.format_spec.values)  # type: ignore[attr-defined]
        if isinstance(value, date):
            if not _DATE_SPEC_RE.match(spec):
                _unsafe("Formatangabe passt nicht zu einem Datum", "format spec does not fit a date")
        elif not isinstance(value, int | float | str | Decimal) or not _NUMBER_SPEC_RE.match(spec):
            _unsafe("Formatangabe passt nicht zum Wert", "format spec does not fit the value")
        return format(value, spec)


# --------------------------------------------------------------------------------------------
# Public API


def _run(tree: ast.AST, source: str, names: Mapping[str, Any], now: datetime | None, budget: _Budget) -> Any:
    interpreter = _Interpreter(names, now, budget)
    try:
        return interpreter._eval(tree)
    except ExpressionError:
        raise
    except ZeroDivisionError:
        raise ExpressionError("Division durch null", "division by zero") from None
    except RecursionError:
        _limit("Ausdruck zu tief verschachtelt", "expression nested too deeply")
    except (TypeError, ValueError, KeyError, IndexError, ArithmeticError, AttributeError) as exc:
        # ArithmeticError: OverflowError, and what Decimal values from the task data raise
        # (decimal.Overflow, decimal.InvalidOperation for NaN < 1 or x % 0).
        detail = _shorten(f"{type(exc).__name__}: {exc}", 160)
        raise ExpressionError(f"Auswertung fehlgeschlagen ({detail})", f"evaluation failed ({detail})") from None


@dataclass(frozen=True, eq=False)
class CompiledExpression:
    """An expression that passed the static check; evaluate it as often as needed."""

    source: str
    tree: ast.expr
    names: frozenset[str]
    uses_clock: bool
    #: The text an error names, when the designer wrote another one (FEEL translated to this language).
    written: str | None = None

    @property
    def is_constant(self) -> bool:
        """True when the value depends neither on the context nor on the clock."""
        return not self.names and not self.uses_clock

    def evaluate(self, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> Any:
        """Evaluate against ``context`` (task data); ``now`` feeds ``today()``/``now()``."""
        try:
            return _run(self.tree, self.source, context or {}, now, _Budget())
        except ExpressionError as exc:
            raise exc.with_context(expression=self.written or self.source) from None


@dataclass(frozen=True, eq=False)
class CompiledScript:
    """A script of ``name = expression`` lines that passed the static check."""

    source: str
    assignments: tuple[tuple[str, ast.expr, int], ...]

    @property
    def targets(self) -> tuple[str, ...]:
        """Names the script assigns, in order of first assignment."""
        return tuple(dict.fromkeys(target for target, _, _ in self.assignments))

    def run(self, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> dict[str, Any]:
        """Run all lines; return the changed names. ``context`` itself is never modified."""
        scope: dict[str, Any] = dict(context or {})
        changes: dict[str, Any] = {}
        sizes: dict[str, int] = {}
        budget = _Budget()
        for target, tree, line in self.assignments:
            try:
                value = _run(tree, self.source, scope, now, budget)
                # What a script hands back is stored with the task: bounded in total, not per line
                # (300 lines of MAX_SIZE each would be 30 MB of task data).
                sizes[target] = _weight(value)
                budget.check_time()
                if sum(sizes.values()) > MAX_SIZE:
                    _limit(
                        f"Die Werte des Skripts zusammen sind zu groß (mehr als {MAX_SIZE} Zeichen/Elemente)",
                        f"the script's values together are too large (more than {MAX_SIZE} characters/elements)",
                    )
            except ExpressionError as exc:
                raise exc.with_context(line=line) from None
            scope[target] = value
            changes[target] = value
        # Values may alias context data; hand back independent copies.
        return copy.deepcopy(changes)


_Compiled = TypeVar("_Compiled")


class SourceCache(Generic[_Compiled]):
    """Compiled texts by their text, the least recently used dropped first, bounded by the characters
    it holds rather than by a count: a syntax tree costs some 200 bytes a character, so 4,096 long
    conditions (a 10 MB model) kept by count would pin gigabytes in every process that checked them."""

    def __init__(self, compile_: Callable[[str], _Compiled], size: Callable[[_Compiled], int], max_chars: int) -> None:
        self._compile = compile_
        self._size = size
        self.max_chars = max_chars
        self.chars = 0
        self._items: OrderedDict[str, tuple[_Compiled, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> _Compiled:
        """The compiled ``text``, from the cache or compiled now (errors are not cached)."""
        with self._lock:
            hit = self._items.get(text)
            if hit is not None:
                self._items.move_to_end(text)
                return hit[0]
        compiled = self._compile(text)
        size = len(text) + self._size(compiled)
        if size <= self.max_chars // 16:  # (one long text must not push out everything else)
            with self._lock:
                if text not in self._items:
                    self._items[text] = (compiled, size)
                    self.chars += size
                    while self.chars > self.max_chars:
                        _, (_, dropped) = self._items.popitem(last=False)
                        self.chars -= dropped
        return compiled

    def cache_clear(self) -> None:
        """Forget everything compiled so far."""
        with self._lock:
            self._items.clear()
            self.chars = 0


def compile_expression(source: str) -> CompiledExpression:
    """Parse and statically check one expression (cached). Raises :class:`ExpressionError`."""
    return _cached_expression(source)


def _compile_expression(source: str) -> CompiledExpression:
    tree = _parse(source, "eval")
    try:
        names, uses_clock = _check_tree(tree, script=False)
    except ExpressionError as exc:
        raise exc.with_context(expression=source) from None
    assert isinstance(tree, ast.Expression)
    return CompiledExpression(source=source, tree=tree.body, names=names, uses_clock=uses_clock)


_cached_expression = SourceCache(_compile_expression, lambda compiled: 0, max_chars=250_000)


def compile_script(source: str) -> CompiledScript:
    """Parse and statically check a script: only ``name = expression`` lines are allowed (cached)."""
    return _cached_script(source)


def _compile_script(source: str) -> CompiledScript:
    tree = _parse(source, "exec")
    assert isinstance(tree, ast.Module)
    if len(tree.body) > MAX_STATEMENTS:
        _limit(f"Skript zu lang (höchstens {MAX_STATEMENTS} Zeilen)", f"script too long (at most {MAX_STATEMENTS} lines)")
    assignments: list[tuple[str, ast.expr, int]] = []
    for statement in tree.body:
        line = getattr(statement, "lineno", None)
        try:
            if not isinstance(statement, ast.Assign):
                de, en = _STATEMENT_NAMES.get(type(statement), (type(statement).__name__,) * 2)
                _unsafe(
                    f"Nur Zuweisungen «name = Ausdruck» sind erlaubt, nicht {de}",
                    f"only assignments «name = expression» are allowed, not {en}",
                )
            if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
                _unsafe(
                    "Links vom = muss genau ein einfacher Name stehen",
                    "the left side of = must be exactly one plain name",
                )
            target = statement.targets[0].id
            _check_identifier(target, "Name", "name")
            _check_tree(statement.value, script=False)
        except ExpressionError as exc:
            raise exc.with_context(line=line) from None
        assignments.append((target, statement.value, line or 0))
    return CompiledScript(source=source, assignments=tuple(assignments))


_cached_script = SourceCache(_compile_script, lambda compiled: 0, max_chars=100_000)


def check_expression(source: str) -> None:
    """Statically check an expression without running it. Raises :class:`ExpressionError`."""
    compile_expression(source)


def check_script(source: str) -> tuple[str, ...]:
    """Statically check a script without running it; return the names it assigns."""
    return compile_script(source).targets


def evaluate(source: str, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> Any:
    """Evaluate one safe expression against ``context`` and return its value.

    Raises :class:`UnsafeExpression` for forbidden constructs (nothing runs),
    :class:`LimitExceeded` when a size or time bound would be passed, and
    :class:`ExpressionError` for any other failure (unknown name, division by zero, …).
    """
    return compile_expression(source).evaluate(context, now=now)


def run_script(source: str, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    """Run a script of ``name = expression`` lines and return ``{name: value}`` of its changes.

    Every line is checked before the first one runs; ``context`` is never modified, so a
    failing script leaves no trace.
    """
    return compile_script(source).run(context, now=now)
