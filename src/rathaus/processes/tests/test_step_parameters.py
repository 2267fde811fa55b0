"""Literal step parameters that could only fail when a case reaches the step are refused by the check."""

from __future__ import annotations

from rathaus.processes.demo import DEMO_DIR
from rathaus.processes.services import process_check


def _model(step: str, params: dict[str, str]) -> bytes:
    inputs = "".join(f'<camunda:inputParameter name="{k}">{v}</camunda:inputParameter>' for k, v in params.items())
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="urn:test">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task" camunda:type="external" camunda:topic="{step}">
      <bpmn:extensionElements><camunda:inputOutput>{inputs}</camunda:inputOutput></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def _step_problems(files) -> list[str]:
    return [p["message_en"] for p in process_check(files) if p["code"] == "invalid-step-parameter"]


def test_set_deadline_refuses_a_number_of_working_days_that_is_not_a_whole_number_and_a_bad_field_name():
    assert _step_problems([("ok.bpmn", _model("set_deadline", {"working_days": "15", "variable": "reply_by"}))]) == []
    assert _step_problems([("expr.bpmn", _model("set_deadline", {"working_days": "${days}"}))]) == []
    problems = _step_problems([("bad.bpmn", _model("set_deadline", {"working_days": "zehn", "variable": "_due"}))])
    assert len(problems) == 2
    assert "«zehn» is not a whole number of working days" in problems[0]
    for days in ("²", "١٢", "-3", "2001"):  # a superscript digit, other scripts' digits, out of range
        assert "is not a whole number of working days" in _step_problems([("d.bpmn", _model("set_deadline", {"working_days": days}))])[0]
    assert "«_due» is not a field name" in problems[1]
    assert len(_step_problems([("bad.bpmn", _model("set_deadline", {"working_days": "100000"}))])) == 1


def test_compute_fee_must_name_a_decision_of_the_model():
    bpmn = (DEMO_DIR / "street_space.bpmn").read_bytes()
    dmn = ("street_fee.dmn", (DEMO_DIR / "street_fee.dmn").read_bytes())
    assert _step_problems([("street.bpmn", bpmn), dmn]) == []
    typo = bpmn.replace(b'name="decision">street_fee<', b'name="decision">street_fees<')
    assert _step_problems([("street.bpmn", typo), dmn]) == [
        "parameter «decision»: the decision «street_fees» is missing from the DMN files (available: street_fee)"]
    # Without the parameter the step evaluates the decision «fee», which this model does not have either.
    assert _step_problems([("fee.bpmn", _model("compute_fee", {})), dmn]) == [
        "parameter «decision»: the decision «fee» is missing from the DMN files (available: street_fee)"]
    assert _step_problems([("expr.bpmn", _model("compute_fee", {"decision": "=fee_table"})), dmn]) == []


def test_a_decision_letter_refuses_days_to_pay_that_are_not_a_whole_number_of_days():
    assert _step_problems([("ok.bpmn", _model("issue_decision", {"payment_days": "14"}))]) == []
    assert _step_problems([("expr.bpmn", _model("issue_decision", {"payment_days": "${days}"}))]) == []
    for days in ("vierzehn", "0", "367", "²"):
        assert _step_problems([("bad.bpmn", _model("issue_decision", {"payment_days": days}))]) == [
            f"parameter «payment_days»: «{days}» is not a whole number of days (1 to 366)"], days


TAX_LETTER = {"tax": "Hundesteuer", "tax_from": "${tax_from}", "tax_due_now": "${tax_due_now}",
              "tax_due": "jeweils zum 1. Juli", "payment_months": "1"}


def test_a_tax_letter_with_its_terms_passes_the_check_and_the_demo_dog_model_is_one():
    assert _step_problems([("ok.bpmn", _model("issue_decision", TAX_LETTER))]) == []
    literal = {**TAX_LETTER, "tax_from": "2026-12-01", "tax_due_now": "10.50", "payment_months": "", "payment_days": "30"}
    assert _step_problems([("literal.bpmn", _model("issue_decision", literal))]) == []
    dog = [(name, (DEMO_DIR / name).read_bytes()) for name in ("dog_registration.bpmn", "dog_tax.dmn")]
    assert _step_problems(dog) == []


def test_a_tax_letter_refuses_a_bad_tax_name_start_amount_or_months_to_pay():
    bad = {**TAX_LETTER, "tax": "ja", "tax_from": "01.12.2026", "tax_due_now": "7,50", "payment_months": "13"}
    assert _step_problems([("bad.bpmn", _model("issue_decision", bad))]) == [
        "parameter «payment_months»: «13» is not a whole number of months (1 to 12)",
        "parameter «tax»: «ja» is not the name of a tax (one capitalised word, e.g. «Hundesteuer»)",
        "parameter «tax_from»: «01.12.2026» is neither a date (YYYY-MM-DD) nor an expression",
        "parameter «tax_due_now»: «7,50» is neither an amount in euros (e.g. 10 or 10.50) nor an expression"]
    for months in ("0", "eins", "²", "1.5"):
        assert _step_problems([("m.bpmn", _model("issue_decision", {"payment_months": months}))]) == [
            f"parameter «payment_months»: «{months}» is not a whole number of months (1 to 12)"], months
    assert _step_problems([("both.bpmn", _model("issue_decision", {"payment_days": "14", "payment_months": "1"}))]) == [
        "parameters «payment_days» and «payment_months»: only one period to pay, in days or in months"]
    long = {**TAX_LETTER, "tax_due": "x" * 201}
    assert _step_problems([("long.bpmn", _model("issue_decision", long))]) == [
        "parameter «tax_due» is longer than 200 characters"]


def test_a_tax_letter_needs_its_start_amount_due_date_and_time_to_pay_and_they_need_the_tax():
    assert _step_problems([("alone.bpmn", _model("issue_decision", {"tax": "Hundesteuer"}))]) == [
        "parameter «tax» needs «tax_from»", "parameter «tax» needs «tax_due_now»", "parameter «tax» needs «tax_due»",
        "parameter «tax» needs «payment_days» or «payment_months»"]
    without_tax = {key: value for key, value in TAX_LETTER.items() if key != "tax"}
    assert _step_problems([("fee.bpmn", _model("issue_decision", without_tax))]) == [
        "parameter «tax_from» needs «tax»", "parameter «tax_due_now» needs «tax»", "parameter «tax_due» needs «tax»"]


def test_a_payment_request_refuses_a_pay_before_that_is_no_date_or_has_no_days_to_pay():
    ok = {"deadline_days": "14", "pay_before": "2027-01-05"}
    assert _step_problems([("ok.bpmn", _model("wait_for_payment", ok))]) == []
    assert _step_problems([("expr.bpmn", _model("wait_for_payment", {**ok, "pay_before": "${add_days(place.date, -3)}"}))]) == []
    for day in ("morgen", "05.01.2027", "2027-02-30"):
        assert _step_problems([("bad.bpmn", _model("wait_for_payment", {**ok, "pay_before": day}))]) == [
            f"parameter «pay_before»: «{day}» is neither a date (YYYY-MM-DD) nor an expression"], day
    assert _step_problems([("alone.bpmn", _model("wait_for_payment", {"pay_before": "2027-01-05"}))]) == [
        "parameter «pay_before» needs «deadline_days»"]
    # Days to pay from an expression are days to pay: the check sees that they are given.
    assert _step_problems([("expr_days.bpmn", _model("wait_for_payment", {**ok, "deadline_days": "${days}"}))]) == []
