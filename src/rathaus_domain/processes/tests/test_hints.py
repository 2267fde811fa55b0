"""Expressions written in JUEL (Camunda 7), or JUEL and Python in FEEL, are refused with what to write instead."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rathaus_domain.processes import evaluator, feel, hints
from rathaus_domain.processes.evaluator import ExpressionError
from rathaus_domain.processes.expressions import compile_process_expression
from rathaus_domain.processes.lint import check_files

from .support import bpmn, linear

MIWG_C1 = Path(__file__).resolve().parents[5] / "shared" / "data" / "bpmn-miwg" / "reference" / "C.1.0.bpmn"


def refusal(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_process_expression(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "german", "english"),
    [
        (
            "${!approved}",
            "«!» ist JUEL (Camunda 7), das Rathaus nicht liest; schreiben Sie «not approved»",
            "«!» is JUEL (Camunda 7), which Rathaus does not read; write «not approved»",
        ),
        (
            "${amount > 100 && urgent}",
            "«&&» ist JUEL (Camunda 7), das Rathaus nicht liest; schreiben Sie «amount > 100 and urgent»",
            "«&&» is JUEL (Camunda 7), which Rathaus does not read; write «amount > 100 and urgent»",
        ),
        ("${status == 'ok' || force}", "schreiben Sie «status == 'ok' or force»", "write «status == 'ok' or force»"),
        (
            "${empty documents}",
            "«empty x» ist JUEL (Camunda 7), das Rathaus nicht liest; schreiben Sie «not documents»",
            "«empty x» is JUEL (Camunda 7), which Rathaus does not read; write «not documents»",
        ),
        ("${!empty documents && urgent}", "schreiben Sie «documents and urgent»", "write «documents and urgent»"),
        (
            "${fee gt 100 and dog.breed eq 'pitbull'}",
            "«gt», «eq» sind JUEL (Camunda 7)",
            "write «fee > 100 and dog.breed == 'pitbull'»",
        ),
        ("${urgent ? 5 : 10}", "schreiben Sie «5 if urgent else 10»", "write «5 if urgent else 10»"),
        ("#{!approved}", "schreiben Sie «not approved»", "write «not approved»"),
        ("!approved", "schreiben Sie «not approved»", "write «not approved»"),
        # JUEL's ! binds tighter than Python's not: the rewrite keeps the meaning.
        ("${!approved == flag}", "schreiben Sie «(not approved) == flag»", "write «(not approved) == flag»"),
    ],
)
def test_a_juel_condition_is_refused_with_what_to_write_instead(text: str, german: str, english: str) -> None:
    error = refusal(text)
    assert german in error.message_de
    assert english in error.message_en
    assert "invalid syntax" not in error.message_en


def test_a_juel_fragment_that_cannot_be_rewritten_whole_gets_the_replacement_for_each_operator() -> None:
    error = refusal("${(a && b}")
    assert error.message_de.endswith("«&&» ist JUEL (Camunda 7), das Rathaus nicht liest; schreiben Sie «and» statt «&&»")
    assert error.message_en.endswith("«&&» is JUEL (Camunda 7), which Rathaus does not read; write «and» for «&&»")


@pytest.mark.parametrize(
    ("text", "english"),
    [
        ("=!approved", "«!» is not FEEL; write «not(approved)»"),
        ("=amount > 100 && urgent", "«&&» is not FEEL; write «amount > 100 and urgent»"),
        ('=status == "ok" || force', '«==», «||» are not FEEL; write «status = "ok" or force»'),
        ("=status = 'ok'", 'texts in FEEL go in double quotes; write «status = "ok"»'),
        ("=empty documents", "«empty x» is not FEEL; write «count(documents) = 0»"),
        ("=urgent ? 5 : 10", "write «if urgent then 5 else 10»"),
    ],
)
def test_juel_and_python_in_feel_are_refused_with_the_feel_spelling(text: str, english: str) -> None:
    error = refusal(text)
    assert english in error.message_en
    assert "gibt es in FEEL nicht" in error.message_de or "doppelten Anführungszeichen" in error.message_de


def test_a_decision_table_cell_in_juel_style_gets_the_feel_spelling() -> None:
    with pytest.raises(ExpressionError) as caught:
        feel.compile_unary_tests("'hund','katze'")
    assert 'schreiben Sie «"hund","katze"»' in caught.value.message_de


@pytest.mark.parametrize(
    "text",
    [
        "${not approved}",
        "${a != b}",
        "${status == 'a && b || !c'}",
        "${x if empty else y}",
        "=not(approved)",
        '=status != "ok"',
        "approved and not urgent",
    ],
)
def test_correct_expressions_are_accepted_as_before(text: str) -> None:
    compile_process_expression(text)


def test_the_hint_is_not_computed_for_an_expression_that_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("hint computed for a correct expression")

    monkeypatch.setattr(evaluator, "syntax_hint", fail)
    monkeypatch.setattr(feel, "syntax_hint", fail)
    evaluator._cached_expression.cache_clear()
    assert evaluator.compile_expression("fee > 100 and not urgent").evaluate({"fee": 120, "urgent": False}) is True
    assert feel.compile_expression("fee > 100 and not(urgent)").evaluate({"fee": 120, "urgent": False}) is True
    assert evaluator.compile_script("total = fee + 5").run({"fee": 1}) == {"total": 6}


JUEL_EVERYWHERE = linear(
    '<bpmn:scriptTask id="script" scriptFormat="python"><bpmn:script>ok = 1\ndone = !approved</bpmn:script></bpmn:scriptTask>',
    '<bpmn:userTask id="review" camunda:dueDate="${urgent ? deadline : later}"/>',
    '<bpmn:serviceTask id="status" camunda:type="external" camunda:topic="set_status"><bpmn:extensionElements>'
    '<camunda:inputOutput><camunda:inputParameter name="status">${approved &amp;&amp; paid ? "approved" : "in_review"}'
    "</camunda:inputParameter></camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>",
    '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
    "<bpmn:timeDate>${empty deadline}</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
)


def test_every_place_that_holds_an_expression_names_the_juel_and_what_to_write() -> None:
    problems = {p.element_id: p for p in check_files([("juel.bpmn", bpmn(JUEL_EVERYWHERE))], registry=["set_status"])}
    assert "Skript: Syntaxfehler (Zeile 2, Spalte 8): «!» ist JUEL" in problems["script"].message_de
    assert "write «done = not approved»" in problems["script"].message_en
    assert "write «deadline if urgent else later»" in problems["review"].message_en
    assert 'write «"approved" if approved and paid else "in_review"»' in problems["status"].message_en
    assert problems["status"].message_de.startswith("Parameter «status»: ")
    assert "write «not deadline»" in problems["wait"].message_en


@pytest.mark.skipif(not MIWG_C1.exists(), reason="shared BPMN MIWG data not available")
def test_the_camunda_invoice_example_is_told_how_to_write_its_negated_condition() -> None:
    problems = [p for p in check_files([MIWG_C1]) if p.element_id == "invoiceNotApproved"]
    assert [(p.message_de, p.message_en) for p in problems] == [
        (
            "Bedingung: Syntaxfehler (Zeile 1, Spalte 1): «!» ist JUEL (Camunda 7), das Rathaus nicht liest; "
            "schreiben Sie «not approved»",
            "condition: syntax error (line 1, column 1): «!» is JUEL (Camunda 7), which Rathaus does not read; "
            "write «not approved»",
        )
    ]


def test_long_conditions_with_unclosed_quotes_are_refused_at_once() -> None:
    # «"a\"a\"a…» without a closing quote: looking for string literals tried again from every escaped
    # quote, seconds for each such condition, so a model of a few of them held a worker for a minute.
    text = ('"a\\' * 6_000)[:19_000]
    flows = "".join(
        f'<bpmn:sequenceFlow id="c{i}" sourceRef="gw" targetRef="e"><bpmn:conditionExpression>{text}'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>"
        for i in range(5)
    )
    body = ('<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="gw"/>'
            f'<bpmn:exclusiveGateway id="gw" default="other"/>{flows}'
            '<bpmn:sequenceFlow id="other" sourceRef="gw" targetRef="e"/><bpmn:endEvent id="e"/>')
    started = time.monotonic()
    problems = check_files([("p.bpmn", bpmn(body))])
    assert time.monotonic() - started < 5
    assert [(p.code, p.element_id) for p in problems] == [("invalid-expression", f"c{i}") for i in range(5)]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(alphabet=['"', "'", "\\", "\n", "a", " ", "&"], max_size=16))
def test_string_literals_are_masked_as_the_regular_expression_finds_them(source: str) -> None:
    strings: list[str] = []

    def keep(match: re.Match[str]) -> str:
        strings.append(match.group())
        return f"__s{len(strings) - 1}__"

    assert hints._mask(source) == (hints._STRING_RE.sub(keep, source), strings)
