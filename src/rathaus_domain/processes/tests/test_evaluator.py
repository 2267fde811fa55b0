"""The safe evaluator: what works, and that known escapes are refused before anything runs."""

from __future__ import annotations

import ast
import math
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rathaus_domain.processes import evaluator
from rathaus_domain.processes.evaluator import (
    ExpressionError,
    LimitExceeded,
    UnsafeExpression,
    check_expression,
    check_script,
    evaluate,
    run_script,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CONTEXT: dict[str, Any] = {
    "fee": 90,
    "applicant": {"name": "Erika Mustermann", "birth_date": "1990-05-17", "address": {"zip": "12345"}},
    "dogs": [{"breed": "Dackel"}, {"breed": "Pudel"}],
    "documents": ["ausweis.pdf", "impfpass.pdf"],
    "approved": True,
    "Gebühr": 12,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("fee * 2 if approved else 0", 180),
        ("applicant.address.zip", "12345"),
        ("applicant['name'].upper()", "ERIKA MUSTERMANN"),
        ("len(documents) >= 2 and 'ausweis.pdf' in documents", True),
        ("dogs[1].breed", "Pudel"),
        ("null is None and true and not false", True),
        ("f'Gebühr: {fee:.2f} EUR'", "Gebühr: 90.00 EUR"),
        ("f'{date(\"2026-03-01\"):%d.%m.%Y}'", "01.03.2026"),
        ("years_between(applicant.birth_date, today())", 35),
        ("days_between(date('2026-03-01'), add_days('2026-03-01', 14))", 14),
        ("add_months(date('2026-01-31'), 1)", date(2026, 2, 28)),
        ("today() + duration('P14D')", date(2026, 3, 16)),
        ("round(fee / 7, 2)", 12.86),
        ("sum([1, 2, 3]) + max(4, 5) - min([6, 7])", 5),
        ("sorted(['b', 'a'], reverse=True)", ["b", "a"]),
        ("any([false, true]) and all([true])", True),
        ("{'fee': fee, 'list': [1, (2, 3)]}", {"fee": 90, "list": [1, (2, 3)]}),
        ("documents[-1][:-4]", "impfpass"),
        ("applicant.get('missing', 'n/a')", "n/a"),
        ("'; '.join(documents)", "ausweis.pdf; impfpass.pdf"),
        ("Gebühr + 1", 13),
        ("number('1.5') + int('2') + float(1)", 4.5),
        ("now().hour", 9),
        ("2 ** 10", 1024),
        ("-fee // 7", -13),
        ("1 < fee <= 90", True),
    ],
)
def test_expressions_evaluate_like_python(expression: str, expected: Any) -> None:
    assert evaluate(expression, CONTEXT, now=NOW) == expected


def test_context_is_not_modified_and_results_are_copies() -> None:
    context = {"items": [1, 2]}
    changes = run_script("copy = items\nmore = items + [3]", context)
    changes["copy"].append(99)
    assert context == {"items": [1, 2]}
    assert changes["more"] == [1, 2, 3]


def test_script_runs_assignments_in_order_and_returns_only_changes() -> None:
    script = "total = fee * 2\nlabel = f'{total} EUR'\nfee = 0\n"
    assert run_script(script, CONTEXT) == {"total": 180, "label": "180 EUR", "fee": 0}
    assert check_script(script) == ("total", "label", "fee")


def test_missing_name_is_a_clear_error() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("fee + surcharge", CONTEXT)
    assert "surcharge" in info.value.message_de
    assert "unknown name" in info.value.message_en
    assert not isinstance(info.value, UnsafeExpression)


def test_division_by_zero_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="division by zero"):
        evaluate("fee / 0", CONTEXT)


def test_type_errors_are_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="evaluation failed"):
        evaluate("fee + 'x'", CONTEXT)


# --- escapes and bombs ----------------------------------------------------------------------

ESCAPES = [
    ("__import__('os').system('id')", "__import__"),
    ("().__class__.__bases__[0].__subclasses__()", "__class__"),
    ("[].__class__.__mro__", "__class__"),
    ("applicant.__class__", "__class__"),
    ("open('/etc/passwd').read()", "open"),
    ("getattr(applicant, 'x')", "getattr"),
    ("eval('1')", "eval"),
    ("exec('x = 1')", "exec"),
    ("compile('1', 'x', 'eval')", "compile"),
    ("globals()", "globals"),
    ("vars()", "vars"),
    ("type(1)", "type"),
    ("print(1)", "print"),
    ("lambda: 1", "lambda"),
    ("(lambda x: x)(1)", "lambda"),
    ("[x for x in documents]", "comprehension"),
    ("[[y for y in documents] for x in documents]", "comprehension"),
    ("{x: 1 for x in documents}", "comprehension"),
    ("sum(x for x in [1, 2])", "generator"),
    ("(y := 5)", "walrus"),
    ("f'{applicant.__class__}'", "__class__"),
    ("f'{fee!r}'", "!r"),
    ("f'{fee:{fee}}'", "format spec"),
    ("f'{fee:>1000000000}'", "format spec"),
    ("'{0.__class__}'.format(1)", "format"),
    ("'{x}'.format_map({})", "format_map"),
    ("'%s' % fee", "% "),
    ("'%999999999d' % 1", "% "),
    ("fee.bit_length()", "bit_length"),
    ("documents.append(1)", "append"),
    ("applicant.update({})", "update"),
    ("fee << 100000", "bitwise"),
    ("~fee", "bitwise"),
    ("{1, 2}", "set"),
    ("b'abc'", "bytes"),
    ("1j", "complex"),
    ("max(*documents)", "unpacking"),
    ("dict(**applicant)", "dict"),
    ("_private", "_private"),
    ("fee @ fee", "@"),
]


@pytest.mark.parametrize(("expression", "named"), ESCAPES)
def test_escapes_are_rejected_before_running(expression: str, named: str) -> None:
    with pytest.raises(UnsafeExpression) as info:
        check_expression(expression)
    assert named.strip() in str(info.value)
    # The German and the English message both exist and name the expression.
    assert info.value.message_de
    assert info.value.message_en
    assert "«" in info.value.message_de


@pytest.mark.parametrize(
    "expression",
    [
        "9**9**9",
        "10 ** 400",
        "2 ** 1025",
        "'a' * 10**10",
        "[1] * 10**9",
        "'ab' * 60000",
        "[[1] * 10000] * 10000",
        "sum([[1] * 10000] * 10000, [])",
        "str([[1] * 1000] * 1000)",
        "('a' * 60000) + ('b' * 60000)",
        "10**300 * 10**300 * 10**300 * 10**300",
        "round(10**100, -10**9)",
        "int('9' * 5000)",
        "'a'.replace('a', 'b' * 99999) .replace('b', 'cc')",
        "add_days(today(), 10**9)",
        'f\'{"x" * 99999}{"y" * 99999}\'',
    ],
)
def test_size_bombs_stop_before_allocating(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(LimitExceeded):
        evaluate(expression, {}, now=NOW)
    assert time.perf_counter() - started < 1.0


def test_deeply_nested_expressions_are_refused() -> None:
    with pytest.raises(LimitExceeded):
        check_expression("-" * 5000 + "1")
    with pytest.raises(LimitExceeded):
        check_expression("not " * 300 + "1")
    with pytest.raises(ExpressionError):
        check_expression("[" * 250 + "]" * 250)
    with pytest.raises(LimitExceeded):
        check_expression("+".join(["1"] * 6000))


def test_very_long_source_is_refused() -> None:
    with pytest.raises(LimitExceeded):
        check_expression("1 + " * 10_000 + "1")


@pytest.mark.parametrize(
    ("script", "named"),
    [
        ("import os", "import"),
        ("from os import system", "import"),
        ("x = 1\nos.system('id')", "without assignment"),
        ("for i in documents:\n    x = i", "loops"),
        ("while True:\n    x = 1", "while"),
        ("def f():\n    return 1", "function"),
        ("class A:\n    pass", "class"),
        ("x += 1", "augmented"),
        ("a, b = 1, 2", "plain name"),
        ("applicant.name = 'x'", "plain name"),
        ("documents[0] = 'x'", "plain name"),
        ("a = b = 1", "plain name"),
        ("_hidden = 1", "_hidden"),
        ("x = 1\ny = __import__('os')", "__import__"),
        ("with open('x') as f:\n    y = 1", "with"),
        ("try:\n    x = 1\nexcept Exception:\n    x = 2", "try"),
        ("if fee:\n    x = 1", "if"),
        ("del fee", "del"),
        ("x = lambda: 1", "lambda"),
    ],
)
def test_scripts_allow_only_assignments_and_nothing_runs_on_rejection(script: str, named: str) -> None:
    context = {"fee": 1, "documents": ["a"], "applicant": {"name": "A"}}
    before = repr(context)
    with pytest.raises(UnsafeExpression) as info:
        run_script(script, context)
    assert named in str(info.value)
    assert "line" in info.value.message_en
    assert repr(context) == before


def test_a_failing_later_line_returns_no_changes() -> None:
    context = {"fee": 1}
    with pytest.raises(LimitExceeded) as info:
        run_script("first = 1\nsecond = 9**9**9", context)
    assert info.value.line == 2
    assert context == {"fee": 1}


def test_steps_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluator, "MAX_STEPS", 50)
    with pytest.raises(LimitExceeded, match="too many evaluation steps"):
        evaluate(" + ".join(["1"] * 60))


def test_time_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluator, "MAX_SECONDS", -1.0)
    with pytest.raises(LimitExceeded, match="time limit"):
        evaluate("[" + ", ".join(["1"] * 200) + "]")


def test_printf_formatting_of_a_variable_is_refused_when_it_runs() -> None:
    with pytest.raises(UnsafeExpression, match="string formatting"):
        evaluate("template % fee", {"template": "%999999999d", "fee": 1})
    assert evaluate("fee % 7", {"fee": 90}) == 6


def test_objects_in_the_context_expose_no_attributes() -> None:
    class Secret:
        token = "s3cret"

        def method(self) -> str:
            return "called"

    with pytest.raises(ExpressionError):
        evaluate("obj.token", {"obj": Secret()})
    with pytest.raises(UnsafeExpression):
        evaluate("obj.method()", {"obj": Secret()})


def test_clock_functions_use_the_time_passed_in() -> None:
    assert evaluate("today()", now=datetime(2030, 1, 2, 23, 0, tzinfo=UTC)) == date(2030, 1, 2)
    assert evaluator.compile_expression("today() > date('2026-01-01')").uses_clock
    assert not evaluator.compile_expression("fee > 1").is_constant
    assert evaluator.compile_expression("date('2026-01-01')").is_constant


def test_timedelta_and_date_attributes() -> None:
    assert evaluate("(date('2026-03-01') - date('2026-02-01')).days") == 28
    assert evaluate("date('2026-03-01').year") == 2026
    assert evaluate("date('2026-03-01').weekday()") == 6
    with pytest.raises(ExpressionError):
        evaluate("date('2026-03-01').resolution")


def test_round_half_up_rounds_as_a_cash_office_where_round_rounds_to_even() -> None:
    # A half cent goes up, as a cash office books it: round() gives 22.62 (half to even) and 2.67
    # (the float just below 2.675); round_half_up the amount as it is written.
    assert evaluate("round(90.5 * 3 / 12, 2)") == 22.62
    assert evaluate("round_half_up(90.5 * 3 / 12, 2)") == 22.63
    assert evaluate("round(2.675, 2)") == 2.67
    assert evaluate("round_half_up(2.675, 2)") == 2.68
    assert evaluate("round_half_up(120 / 12 * 1, 2)") == 10.0
    assert evaluate("round_half_up(100 / 12, 2)") == 8.33
    # Without places a whole number, like round(); halves away from zero; whole numbers stay whole.
    assert (evaluate("round_half_up(2.5)"), evaluate("round(2.5)")) == (3, 2)
    assert evaluate("round_half_up(-2.5)") == -3
    assert evaluate("round_half_up(125, -1)") == 130
    assert evaluate("round_half_up(x, 1)", {"x": Decimal("0.25")}) == Decimal("0.3")
    with pytest.raises(ExpressionError, match="expects a number"):
        evaluate("round_half_up('1.5', 1)")
    with pytest.raises(LimitExceeded):
        evaluate("round_half_up(1.5, 99)")
    with pytest.raises(ExpressionError, match="number too large"):
        evaluate("round_half_up(1e300, 2)")


# --- hypothesis: safe arithmetic agrees with Python ------------------------------------------

_leaf = st.one_of(
    st.integers(min_value=-1000, max_value=1000).map(str),
    st.floats(min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False).map(repr),
    st.tuples(st.integers(-9, 9), st.integers(0, 4)).map(lambda t: f"({t[0]} ** {t[1]})"),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "//", "%", "<", "<=", "==", "!=", "and", "or"]), children)
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda c: f"(-{c})"),
        children.map(lambda c: f"(not {c})"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.lists(children, min_size=1, max_size=3).map(lambda items: f"max([{', '.join(items)}])"),
        children.map(lambda c: f"abs({c})"),
    )


class _Finite(ast.NodeTransformer):
    """Wraps every operation of the oracle in finite(): where Python's float arithmetic gives
    infinity (2 / 1e-308), even halfway (not -(2 / 1e-308)), the evaluator refuses."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.Call:
        self.generic_visit(node)
        return ast.Call(func=ast.Name("finite", ast.Load()), args=[node], keywords=[])


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise OverflowError("not finite")
    return value


@settings(max_examples=150, deadline=None)
@given(st.recursive(_leaf, _combine, max_leaves=12))
def test_random_safe_arithmetic_agrees_with_python(expression: str) -> None:
    oracle = compile(ast.fix_missing_locations(_Finite().visit(ast.parse(expression, mode="eval"))), "<oracle>", "eval")
    try:
        expected: Any = eval(oracle, {"__builtins__": {"max": max, "abs": abs}, "finite": _finite})  # noqa: S307 - oracle on generated arithmetic
    except ZeroDivisionError:
        with pytest.raises(ExpressionError, match="division by zero"):
            evaluate(expression)
        return
    except OverflowError:
        with pytest.raises(ExpressionError):
            evaluate(expression)
        return
    if isinstance(expected, int) and abs(expected).bit_length() > evaluator.MAX_INT_BITS:
        return
    result = evaluate(expression)
    assert result == expected
    assert type(result) is type(expected)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_escapes(text: str) -> None:
    """Whatever is typed, the evaluator answers with a value or an ExpressionError."""
    try:
        evaluate(text, {"x": 1})
    except ExpressionError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_string_repetition_is_bounded_by_size(count: int, width: int) -> None:
    expression = f"'{'x' * min(width, 50)}' * {count}"
    size = min(width, 50) * count if width else count
    if size > evaluator.MAX_SIZE:
        with pytest.raises(LimitExceeded):
            evaluate(expression)
    else:
        assert len(evaluate(expression)) == min(width, 50) * count


def test_dates_round_trip_through_scripts() -> None:
    changes = run_script("due = add_days(start, 14)\nlate = today() > due", {"start": "2026-03-01"}, now=NOW)
    assert changes == {"due": date(2026, 3, 15), "late": False}
    assert evaluate("due - today()", changes, now=NOW) == timedelta(days=13)


# --- bounds that hold for a whole script and for the work done between steps ---------------


def test_the_time_limit_holds_for_work_done_after_the_last_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every node of the nested list is entered (and counted) first; the lists are built, and
    # their sizes checked, only on the way back, so the clock must be read there too.
    monkeypatch.setattr(evaluator, "MAX_SECONDS", 0.2)
    script = "b = [0] * 49000\nc = " + "[" * 90 + "b" + "]" * 90
    started = time.perf_counter()
    with pytest.raises(LimitExceeded, match="time limit") as info:
        run_script(script)
    assert info.value.line == 2
    assert time.perf_counter() - started < 1.0


def test_values_nested_deeper_than_the_limit_are_refused_not_a_recursion_error() -> None:
    # Each line may nest 150 levels; ten of them would be deeper than Python can copy or print.
    line = "a = " + "[" * 150 + "a" + "]" * 150
    with pytest.raises(LimitExceeded, match="nested too deeply") as info:
        run_script("a = 1\n" + "\n".join([line] * 10))
    assert info.value.line == 2
    assert len(str(evaluate("[" * 99 + "1" + "]" * 99))) == 199


def test_what_a_script_hands_back_is_bounded_in_total_not_only_per_line() -> None:
    # 300 lines of 99,999 characters each would be 30 MB of task data from one script task.
    script = "\n".join(f"text{i} = 'x' * 60000" for i in range(3))
    with pytest.raises(LimitExceeded, match="script") as info:
        run_script(script)
    assert info.value.line == 2
    # Assigning a name again replaces its value: only what is handed back counts.
    assert len(run_script("text = 'x' * 60000\ntext = 'y' * 60000\ntext = 'z' * 60000")["text"]) == 60000


@pytest.mark.parametrize(
    "expression",
    [
        "1e308 * 10",
        "-1e308 * 10",
        "sum([1e308, 1e308])",
        "float('inf')",
        "float('nan')",
        "float('1' * 400)",
        "number('1' + '0' * 399 + '.5')",
        "1e999",
        "1" + "0" * 400,
    ],
)
def test_numbers_beyond_the_bounds_are_refused_also_as_floats_and_literals(expression: str) -> None:
    # Infinity and NaN are not JSON: task data holding them cannot be stored in PostgreSQL.
    with pytest.raises(LimitExceeded, match="number"):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["big * big", "big ** 10", "big % 0", "nan < 1", "max([nan, 1])"])
def test_decimal_failures_from_the_task_data_are_expression_errors(expression: str) -> None:
    # Decimal raises its own ArithmeticErrors (decimal.Overflow, decimal.InvalidOperation).
    with pytest.raises(ExpressionError):
        evaluate(expression, {"big": Decimal("1e500000"), "nan": Decimal("NaN")})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("date(99999, 1, 1)", "date out of range (years 1 to 9999)"),
        ("date(0, 1, 1)", "date out of range (years 1 to 9999)"),
        ("date(2026, 2, 30)", "2026-02-30 is not a valid date"),
        ("add_days(date(9999, 12, 31), 1)", "date out of range (years 1 to 9999)"),
        ("add_days('0001-01-01', -1)", "date out of range (years 1 to 9999)"),
    ],
)
def test_dates_beyond_the_calendar_are_named_as_such(expression: str, message: str) -> None:
    # Not Python's «evaluation failed (ValueError: year 99999 is out of range)», in English in both texts.
    with pytest.raises(ExpressionError) as info:
        evaluate(expression)
    assert info.value.message_en == f"expression «{expression}»: {message}"
    assert "Error" not in info.value.message_de


def test_the_compile_caches_are_bounded_by_the_characters_they_hold() -> None:
    # Counted by entries (4,096), 400 distinct conditions of 10 kB (a 4 MB model) kept 790 MB of
    # syntax trees in the process that checked them, for as long as it ran.
    from rathaus_domain.processes.expressions import compile_process_expression

    def long(i: int) -> str:
        return f"'{i:05}{'x' * 10_000}' == text"

    def long_feel(i: int) -> str:
        return f'="{i:05}{"x" * 10_000}" = text'

    first, first_feel = evaluator.compile_expression(long(0)), compile_process_expression(long_feel(0))
    for i in range(1, 30):
        evaluator.compile_expression(long(i))
        compile_process_expression(long_feel(i))
    assert evaluator.compile_expression(long(0)) is not first
    assert compile_process_expression(long_feel(0)) is not first_feel
    assert evaluator._cached_expression.chars <= evaluator._cached_expression.max_chars
    assert evaluator.compile_expression("fee > 100") is evaluator.compile_expression("fee > 100")
    assert compile_process_expression("=fee > 100") is compile_process_expression("=fee > 100")
