"""FEEL: the unary tests and expressions Camunda Modeler users type into decision tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rathaus_domain.processes.evaluator import ExpressionError
from rathaus_domain.processes.feel import FeelError, compile_expression, compile_unary_tests


@pytest.mark.parametrize(
    ("cell", "value", "matches"),
    [
        ("-", 5, True),
        ("", None, True),
        ("  ", "x", True),
        ("< 5", 4, True),
        ("< 5", 5, False),
        ("<= 5", 5, True),
        ("> 5", 5.5, True),
        (">= 18", 17.99, False),
        ("< 5", None, False),
        ("< 5", "4", False),
        ("[1..10]", 1, True),
        ("[1..10]", 10, True),
        ("[1..10]", 10.5, False),
        ("(0..5]", 0, False),
        ("(0..5]", 5, True),
        ("]0..5[", 5, False),
        ("]0..5[", 0.1, True),
        ("[0..5)", 5, False),
        ('"a","b"', "b", True),
        ('"a","b"', "c", False),
        ('"a", "b"', "a", True),
        ('not("a","b")', "c", True),
        ('not("a","b")', "a", False),
        # a test that cannot compare the input is no match, negated or not (FEEL: null)
        ('not("a","b")', 1, False),
        ('!= "a"', 1, False),
        ('!= "a"', "b", True),
        ("not([1..3])", "x", False),
        ("not(< 5)", None, False),
        ('not("a")', None, True),
        ("not(< 5)", 7, True),
        ("not([1..3])", 2, False),
        ("< 5, > 10", 11, True),
        ("< 5, > 10", 7, False),
        ("[1..2], [5..6]", 5, True),
        ('"Zone A"', "Zone A", True),
        ('"Straße"', "Straße", True),
        ('"say \\"hi\\""', 'say "hi"', True),
        ("true", True, True),
        ("true", 1, False),
        ("false", False, True),
        ("1", True, False),
        ("1", 1.0, True),
        ("null", None, True),
        ("null", 0, False),
        ("-5", -5, True),
        ("1.5", 1.5, True),
        ('date("2026-01-01")', date(2026, 1, 1), True),
        ('date("2026-01-01")', "2026-01-01", True),
        ('>= date("2026-01-01")', date(2026, 3, 1), True),
        ('>= date("2026-01-01")', "2025-12-31", False),
        ('< date("2026-01-01")', "not a date", False),
        ('[date("2026-01-01")..date("2026-12-31")]', date(2026, 6, 1), True),
        ('>= date and time("2026-01-01T08:00:00")', datetime(2026, 1, 1, 9, 0), True),
        ("? > 3", 4, True),
        ("? > 3", 2, False),
        ('contains(?, "hund")', "Hund", False),
        ('contains(lower case(?), "hund")', "Hund", True),
        ("[1, 2, 3]", 2, True),
        ("< limit", 3, True),
        ("[low..high]", 7, True),
        ("string length(?) > 3", "abcd", True),
    ],
)
def test_unary_test_cells(cell: str, value: Any, matches: bool) -> None:
    assert compile_unary_tests(cell).matches(value, {"limit": 5, "low": 5, "high": 10}) is matches


def test_dash_and_empty_cells_match_anything() -> None:
    assert compile_unary_tests("-").is_any
    assert compile_unary_tests(None).is_any
    assert not compile_unary_tests("< 1").is_any


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a + b * 2", 8),
        ("(a + b) * 2", 10),
        ("a ** 2", 4),
        ("-a", -2),
        ('if a > 1 then "gross" else "klein"', "gross"),
        ("applicant.age >= 18 and not(blocked)", True),
        ("a > 5 or b = 3", True),
        ("a != 2", False),
        ("x between 1 and 5", True),
        ("a in (1, 2)", True),
        ('date("2026-01-01")', date(2026, 1, 1)),
        ('date and time("2026-01-01T10:00:00")', datetime(2026, 1, 1, 10, 0)),
        ('duration("P2D")', timedelta(days=2)),
        ("string length(name)", 6),
        ("upper case(name)", "ERIKA!"),
        ('starts with(name, "Er")', True),
        ("count([1, 2, 3])", 3),
        ("sum([1, 2])", 3),
        ("sum(1, 2, 3)", 6),
        ("min(4, 2)", 2),
        ("floor(2.7) + ceiling(2.1)", 5),
        ("decimal(1.2345, 2)", 1.23),
        ("round half up(2.5, 0)", 3),
        ("round half up(-2.5, 0)", -3),
        ("round half up(0.125, 2)", 0.13),
        ('number("12")', 12),
        ("string(a)", "2"),
        ("null", None),
        ("true and false", False),
        ("Gebühr * 2", 10),
        ('years_between(date("2000-03-02"), today())', 26),
        ("is defined(a)", True),
    ],
)
def test_simple_expressions(expression: str, expected: Any) -> None:
    context = {"a": 2, "b": 3, "applicant": {"age": 20}, "blocked": False, "x": 3, "name": "Erika!", "Gebühr": 5}
    now = datetime(2026, 3, 2, tzinfo=UTC)
    assert compile_expression(expression).evaluate(context, now=now) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a +", "value expected"),
        ("for x in y return x", "not supported"),
        ("some x in y satisfies x > 1", "not supported"),
        ("{a: 1}", "contexts"),
        ("a[1]", "filters"),
        ('__import__("os")', "unknown FEEL function"),
        ("a.__class__", "not allowed"),
        ("foo(1)", "unknown FEEL function"),
        ('"abc', "unexpected character"),
        ("1 2", "end of expression"),
        ("not(", "value expected"),
        ("@", "unexpected character"),
    ],
)
def test_invalid_expressions_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(FeelError) as info:
        compile_expression(text)
    assert message in info.value.message_en
    assert text.strip() in info.value.message_de


@pytest.mark.parametrize("cell", ["[1..", ">", "not(", "< ", "]1..2", '"a",', "[1..2] x", "9 ** 9 ** 9"])
def test_invalid_cells_fail_when_compiled(cell: str) -> None:
    with pytest.raises(ExpressionError):
        compile_unary_tests(cell)


def test_feel_never_reaches_python_eval() -> None:
    translated = compile_expression('if a = 1 then "x" else "y"').python
    assert "feel_cmp(a, '=', 1)" in translated
    # The translation is checked by the safe evaluator like any other expression.
    assert compile_expression("a").compiled.names == frozenset({"a"})


@pytest.mark.parametrize(
    ("expression", "context", "expected"),
    [
        # null compares to nothing: FEEL's null, a condition that does not hold (Python raised TypeError)
        ("amount > 100", {"amount": None}, None),
        ("amount > 100 or urgent", {"amount": None, "urgent": True}, True),
        ("not(amount > 100)", {"amount": None}, None),
        ('if age >= 18 then "volljährig" else "minderjährig"', {"age": None}, "minderjährig"),
        ("amount between 1 and 5", {"amount": None}, None),
        ("amount between 1 and 5", {"amount": 0}, False),
        ("amount between 1 and 5", {"amount": 5}, True),
        # an ISO date text from a form compares with a date as a date
        ('birth_date < date("2008-12-07")', {"birth_date": "2008-05-01"}, True),
        ('birth_date >= date("2008-12-07")', {"birth_date": "2008-05-01"}, False),
        # values of different types: null, not an error; true is not 1
        ('amount < "5"', {"amount": 3}, None),
        ("flag = 1", {"flag": True}, None),
        ('amount != "3"', {"amount": 3}, None),
        ('not(amount = "3")', {"amount": 3}, None),
        ("tags = [1, 2]", {"tags": [1, 2]}, True),
        ("tags = [1, 2]", {"tags": [1]}, False),
        ('tags = [1, "2"]', {"tags": [5, 2]}, False),
        ('tags = [1, "2"]', {"tags": [1, 2]}, None),
        ("tags = 1", {"tags": [1]}, None),
        ("missing = 1", {"missing": None}, False),
        ("flag = true", {"flag": True}, True),
        ("missing = null", {"missing": None}, True),
        ("missing != 1", {"missing": None}, True),
        ("not(flag)", {"flag": "ja"}, None),
        # and/or are three-valued: false wins an and, true wins an or, otherwise null stays null
        ("x > 5 and y = 1", {"x": None, "y": 2}, False),
        ("not(x > 5 and y = 1)", {"x": None, "y": 2}, True),
        ("x > 5 or y = 1", {"x": None, "y": 2}, None),
        ("x > 5 or y = 2", {"x": None, "y": 2}, True),
        ("x > 5 and y = 2", {"x": None, "y": 2}, None),
    ],
)
def test_comparisons_in_expressions_follow_feel_not_python(expression: str, context: dict[str, Any], expected: Any) -> None:
    assert compile_expression(expression).evaluate(context) == expected


@given(st.integers(-100, 100), st.integers(-100, 100), st.sampled_from(["<", "<=", ">", ">=", "=", "!="]))
def test_feel_comparisons_of_numbers_agree_with_python(left: int, right: int, op: str) -> None:
    python = {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right, "=": left == right,
              "!=": left != right}[op]
    assert compile_expression(f"a {op} b").evaluate({"a": left, "b": right}) is python


@given(st.integers(-100, 100), st.integers(-100, 100), st.integers(-100, 100), st.booleans(), st.booleans())
def test_intervals_agree_with_comparisons(low: int, high: int, value: int, low_closed: bool, high_closed: bool) -> None:
    cell = f"{'[' if low_closed else '('}{low}..{high}{']' if high_closed else ')'}"
    expected = (low <= value if low_closed else low < value) and (value <= high if high_closed else value < high)
    assert compile_unary_tests(cell).matches(value) is expected


DEEP = 150


@pytest.mark.parametrize(
    "text",
    [
        "(" * DEEP + "1" + ")" * DEEP,
        "not(" * DEEP + "true" + ")" * DEEP,
        "[" * DEEP + "1" + "]" * DEEP,
        "-" * DEEP + "1",
        "2" + " ** 2" * DEEP,
        "if a then 1 else " * DEEP + "0",
        "abs(" * DEEP + "1" + ")" * DEEP,
    ],
    ids=["parentheses", "not", "lists", "signs", "powers", "if", "calls"],
)
@pytest.mark.parametrize("compile_", [compile_expression, compile_unary_tests], ids=["expression", "cell"])
def test_deep_nesting_is_refused_with_the_limit_not_a_recursion_error(compile_: Any, text: str) -> None:
    with pytest.raises(FeelError) as info:
        compile_(text)
    assert "zu tief verschachtelt (höchstens 30 Ebenen)" in info.value.message_de
    assert "nested too deeply (at most 30 levels)" in info.value.message_en


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert compile_expression("(" * 29 + "1" + ")" * 29).evaluate() == 1
    assert compile_unary_tests("not(" + "not(" * 28 + "true" + ")" * 28 + ")").matches(False)


def test_the_deepest_feel_the_limit_allows_compiles_and_runs() -> None:
    # Each FEEL level becomes several nested calls for the evaluator (feel_or, feel_and, feel_cmp,
    # feel_arith): still within what Python parses and what the evaluator walks.
    text = "(a or b and c = 1 + " * 29 + "1" + ")" * 29
    expression = compile_expression(text)
    assert expression.python.count("(") > 140
    assert expression.evaluate({"a": False, "b": True, "c": 2}) is False  # inner 1 + true is null; c = null is false


def test_a_failing_feel_expression_is_named_as_written_not_as_its_translation() -> None:
    from rathaus_domain.processes.expressions import compile_process_expression

    with pytest.raises(ExpressionError) as caught:
        compile_process_expression("=string length(fee) > 10").evaluate({"fee": 5})
    assert "«string length(fee) > 10»" in caught.value.message_en and "feel_cmp" not in caught.value.message_en
    with pytest.raises(ExpressionError) as caught:
        compile_unary_tests("< string length(limit)").matches(5, {"limit": 7})
    assert "«< string length(limit)»" in caught.value.message_en and "feel_cmp" not in caught.value.message_en


@pytest.mark.parametrize(
    ("expression", "context", "expected"),
    [
        ("fee + 1", {"fee": None}, None),  # null, not an error
        ("fee + 1 > 10", {}, None),
        ("-fee", {"fee": None}, None),
        ("fee * 2 - 1", {"fee": 5}, 9),
        ('"Hunde" + "steuer"', {}, "Hundesteuer"),
        ('"a" * 3', {}, None),  # FEEL multiplies numbers, not texts
        ("1 / 0", {}, None),
        ("fee / 2", {"fee": 5}, 2.5),
        ('date("2026-01-31") + duration("P1D")', {}, date(2026, 2, 1)),
    ],
)
def test_arithmetic_in_expressions_follows_feel(expression: str, context: dict[str, Any], expected: Any) -> None:
    from rathaus_domain.processes.expressions import compile_process_expression

    assert compile_process_expression("=" + expression).evaluate(context) == expected


def test_feel_arithmetic_keeps_the_size_limits() -> None:
    with pytest.raises(ExpressionError, match="too large"):
        compile_expression("9 ** 9 ** 9").evaluate({})


def test_a_missing_field_is_an_error_in_a_decision_and_null_in_a_process_condition() -> None:
    # A decision must not guess an input: the field is named. A process condition (Camunda 8) reads null.
    with pytest.raises(ExpressionError, match="address"):
        compile_expression("applicant.address.street").evaluate({"applicant": {}})
    assert compile_expression("applicant.address.street", missing_is_null=True).evaluate({"applicant": {}}) is None
    assert compile_expression("applicant.age").evaluate({"applicant": None}) is None  # a null propagates in both

    from rathaus_domain.processes.expressions import compile_process_expression

    assert compile_process_expression("=applicant.age >= 18").evaluate({"applicant": {}}) is None


@pytest.mark.parametrize(
    "number",
    ["1" + "0" * 5000, "1" + "0" * 400, "1" * 400 + ".5", "0." + "0" * 5000 + "1"],
    ids=["5000 digits", "400 digits", "400-digit float", "5000 decimals"],
)
def test_number_literals_beyond_the_evaluators_bounds_are_named_when_compiled(number: str) -> None:
    # A float literal of 400 digits would be infinity, whose translation «inf» reads as a name.
    if number.startswith("0."):
        assert compile_expression(number).evaluate() == 0.0
        return
    for compile_ in (compile_expression, compile_unary_tests, lambda text: compile_unary_tests(f"< {text}")):
        with pytest.raises(FeelError, match="number too large"):
            compile_(number)
