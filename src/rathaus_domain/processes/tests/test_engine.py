"""The process engine over SpiffWorkflow: demo processes end to end, timers, messages, state."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from rathaus_domain.processes import engine as engine_module
from rathaus_domain.processes.engine import (
    MessageNotExpected,
    ProcessError,
    ProcessModel,
    ProcessModelError,
    ProcessRun,
    ServiceStepRegistry,
    StepContext,
    StepFailed,
    StepParam,
    UnknownStep,
)

from .support import T0, Recorder, bpmn, fixture_bytes, linear

DOG_FIRST = {"documents": ["foto.jpg"], "exemption": "none", "breed": "Dackel", "dogs_already_owned": 0}


def dog_model(registry: ServiceStepRegistry | None = None) -> ProcessModel:
    return ProcessModel.from_files(
        [("dog_registration.bpmn", fixture_bytes("dog_registration.bpmn"))],
        [("dog_tax.dmn", fixture_bytes("dog_tax.dmn"))],
        registry=registry,
    )


@pytest.fixture
def dog_steps(recorder: Recorder) -> Recorder:
    recorder.add("check_completeness", lambda ctx: {"complete": bool(ctx.data.get("documents"))})
    recorder.add("issue_decision_letter", lambda ctx: {"letter": f"{ctx.params['template']}/{ctx.params['amount']}"})
    recorder.add("notify_citizen", lambda ctx: {"notified": ctx.params["template"]})
    return recorder


# --- dog registration (Camunda 7 attributes, DMN, script, user task) -------------------------


def test_first_dog_is_decided_automatically(dog_steps: Recorder) -> None:
    run = ProcessRun(dog_model(dog_steps.registry), registry=dog_steps.registry, case_ref="HUND-2026-1")
    run.start(DOG_FIRST, now=T0)

    assert run.completed
    assert dog_steps.steps() == ["check_completeness", "issue_decision_letter"]
    assert run.data["fee"] == 90
    assert run.data["notice"] == "Hundesteuer 90 EUR jährlich (Erster Hund)"
    assert run.data["letter"] == "hundesteuer_bescheid/90"
    letter_call = dog_steps.calls[1]
    assert letter_call.params == {"template": "hundesteuer_bescheid", "amount": 90}
    assert letter_call.idempotency_key == f"HUND-2026-1:{letter_call.task_id}"
    assert letter_call.element_id == "issue_letter"
    assert letter_call.now == T0
    assert run.completed_element_ids() == [
        "start", "check_documents", "gw_complete", "decide_fee", "prepare_notice", "gw_auto", "issue_letter", "end_decided",
    ]  # fmt: skip


def test_decision_is_recorded_with_inputs_and_matched_rule(dog_steps: Recorder) -> None:
    run = ProcessRun(dog_model(dog_steps.registry), registry=dog_steps.registry)
    run.start({**DOG_FIRST, "dogs_already_owned": 2}, now=T0)
    events = run.drain_events()
    assert [e.kind for e in events] == ["process_started", "step", "decision", "script", "step", "process_completed"]
    decision = events[2]
    assert decision.element_id == "decide_fee"
    assert decision.element_name == "Hundesteuer festsetzen"
    assert decision.at == T0
    assert decision.details["output"] == {"fee": 120, "reason": "Weiterer Hund"}
    assert decision.details["matched_rules"][0]["rule_id"] == "DecisionRule_further"
    assert decision.details["matched_rules"][0]["inputs"]["Bereits gehaltene Hunde"] == 2
    assert json.loads(json.dumps(decision.details)) == decision.details
    assert run.drain_events() == []


def test_listed_dog_goes_to_staff_and_state_survives_the_database(dog_steps: Recorder) -> None:
    model = dog_model(dog_steps.registry)
    run = ProcessRun(model, registry=dog_steps.registry, case_ref="HUND-7")
    run.start({**DOG_FIRST, "breed": "Bullterrier"}, now=T0)

    assert not run.completed
    [task] = run.ready_user_tasks()
    assert task.element_id == "review_listed_dog"
    assert task.name == "Listenhund prüfen"
    assert task.lane == "Sachbearbeitung Steuern"
    assert task.candidate_groups == ("steueramt", "ordnungsamt")
    assert task.form_key == "dog-review"
    assert task.ready_since == T0
    assert task.due == T0 + timedelta(days=10)
    assert task.data["fee"] == 600
    assert run.current_element_ids() == ["review_listed_dog"]

    state = run.serialize()
    stored = json.loads(state)
    assert stored["model_digest"] == model.digest
    assert "spec" not in stored["workflow"]
    assert "subprocess_specs" not in stored["workflow"]

    restored = ProcessRun.deserialize(model, state, registry=dog_steps.registry, case_ref="HUND-7")
    [again] = restored.ready_user_tasks()
    assert again.id == task.id
    assert again.due == task.due
    restored.complete_user_task(task.id, {"reviewed": True, "review_note": "Wesenstest liegt vor"}, now=T0 + timedelta(days=3))
    assert restored.completed
    assert restored.data["letter"] == "hundesteuer_bescheid/600"
    assert restored.data["review_note"] == "Wesenstest liegt vor"
    kinds = [e.kind for e in restored.drain_events()]
    assert kinds == ["user_task_completed", "step", "process_completed"]


def test_incomplete_application_requests_documents(dog_steps: Recorder) -> None:
    run = ProcessRun(dog_model(dog_steps.registry), registry=dog_steps.registry)
    run.start({**DOG_FIRST, "documents": []}, now=T0)
    assert run.completed
    assert dog_steps.steps() == ["check_completeness", "notify_citizen"]
    assert run.data["notified"] == "unterlagen_fehlen"
    assert "fee" not in run.data


def test_spiffworkflow_eval_and_exec_are_never_used(dog_steps: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("SpiffWorkflow's eval/exec environment was used")

    monkeypatch.setattr(TaskDataEnvironment, "evaluate", forbidden)
    monkeypatch.setattr(TaskDataEnvironment, "execute", forbidden)
    run = ProcessRun(dog_model(dog_steps.registry), registry=dog_steps.registry)
    run.start({**DOG_FIRST, "breed": "Bullterrier"}, now=T0)
    run.complete_user_task(run.ready_user_tasks()[0].id, {"reviewed": True}, now=T0)
    assert run.completed


# --- deadlines: boundary timers and messages --------------------------------------------------


@pytest.fixture
def deadline_steps(recorder: Recorder) -> Recorder:
    recorder.add("notify_citizen", lambda ctx: {"reminded": ctx.params["template"]})
    recorder.add("set_case_status", lambda ctx: {"status": ctx.params["status"], "status_text": ctx.params["citizen_text"]})
    return recorder


def deadline_run(steps: Recorder) -> ProcessRun:
    model = ProcessModel.from_files([fixture_bytes("document_deadline.bpmn")], registry=steps.registry)
    run = ProcessRun(model, registry=steps.registry, case_ref="DOC-1")
    run.start({"deadline": "2026-03-20", "close_after": "P28D"}, now=T0)
    return run


def test_pending_timers_expose_due_times(deadline_steps: Recorder) -> None:
    run = deadline_run(deadline_steps)
    timers = run.pending_timers()
    assert [(t.element_id, t.due) for t in timers] == [
        ("after_14_days", T0 + timedelta(days=14)),
        ("after_28_days", T0 + timedelta(days=28)),
    ]
    task_id, due = timers[0]
    assert (task_id, due) == (timers[0].task_id, timers[0].due)
    [task] = run.ready_user_tasks()
    assert task.due == datetime(2026, 3, 20, 23, 59, 59, tzinfo=T0.tzinfo)  # due on that day: at its end
    assert run.waiting_messages() == ["documents_received"]


BERLIN = ZoneInfo("Europe/Berlin")


def _deadline_timers(steps: Recorder, close_after: str, now: datetime) -> dict[str, datetime]:
    model = ProcessModel.from_files([fixture_bytes("document_deadline.bpmn")], registry=steps.registry)
    run = ProcessRun(model, registry=steps.registry, case_ref="DOC-2")
    run.start({"deadline": "2026-12-31", "close_after": close_after}, now=now)
    return {t.element_id: t.due.astimezone(UTC) for t in run.pending_timers()}


def test_timers_count_days_on_the_calendar_and_hours_as_time_that_passes(deadline_steps: Recorder) -> None:
    # On a clock in German time: 14 days after 09:00 on 20 March (winter time) is 09:00 on
    # 3 April (summer time), 13 days and 23 hours later.
    timers = _deadline_timers(deadline_steps, "P28D", datetime(2026, 3, 20, 9, 0, tzinfo=BERLIN))
    assert timers["after_14_days"] == datetime(2026, 4, 3, 7, 0, tzinfo=UTC)
    # Two hours after 01:30 summer time on 25 October (clocks go back at 03:00) is 02:30 winter time.
    timers = _deadline_timers(deadline_steps, "PT2H", datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN))
    assert timers["after_28_days"] == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    # Ten minutes after the second 02:30 of that night is ten minutes later, not 50 minutes earlier.
    second_half_past_two = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    timers = _deadline_timers(deadline_steps, "PT10M", second_half_past_two)
    assert timers["after_28_days"] == datetime(2026, 10, 25, 1, 40, tzinfo=UTC)
    assert timers["after_28_days"] > second_half_past_two


def test_reminder_after_14_days_and_close_after_28(deadline_steps: Recorder) -> None:
    run = deadline_run(deadline_steps)
    model = run.model

    run.advance(now=T0 + timedelta(days=13, hours=23))
    assert deadline_steps.steps() == []

    run = ProcessRun.deserialize(model, run.serialize(), registry=deadline_steps.registry)
    run.advance(now=T0 + timedelta(days=14))
    assert deadline_steps.steps() == ["notify_citizen"]
    assert deadline_steps.calls[0].params == {"template": "erinnerung_unterlagen"}
    assert not run.completed
    assert len(run.ready_user_tasks()) == 1
    assert [t.element_id for t in run.pending_timers()] == ["after_28_days"]

    run.advance(now=T0 + timedelta(days=20))
    assert deadline_steps.steps() == ["notify_citizen"]

    run = ProcessRun.deserialize(model, run.serialize(), registry=deadline_steps.registry)
    run.advance(now=T0 + timedelta(days=28, minutes=1))
    assert deadline_steps.steps() == ["notify_citizen", "set_case_status"]
    assert run.completed
    assert run.ready_user_tasks() == []
    assert run.data["status"] == "closed"
    assert [e.kind for e in run.drain_events()] == ["timer_fired", "step", "process_completed"]


def test_message_interrupts_the_wait(deadline_steps: Recorder) -> None:
    run = deadline_run(deadline_steps)
    run.deliver_message("documents_received", {"documents": ["a.pdf", "b.pdf"]}, now=T0 + timedelta(days=2))
    assert run.completed
    assert run.data["documents_complete"] is True
    assert run.pending_timers() == []
    assert deadline_steps.steps() == []
    with pytest.raises(MessageNotExpected):
        run.deliver_message("documents_received", {})


def test_unknown_message_is_not_expected(deadline_steps: Recorder) -> None:
    run = deadline_run(deadline_steps)
    with pytest.raises(MessageNotExpected, match="payment_received"):
        run.deliver_message("payment_received", {"amount": 1})


def test_fire_timer_fires_before_due(deadline_steps: Recorder) -> None:
    run = deadline_run(deadline_steps)
    close = next(t for t in run.pending_timers() if t.element_id == "after_28_days")
    run.fire_timer(close.task_id, now=T0 + timedelta(hours=1))
    assert run.completed
    assert deadline_steps.steps() == ["set_case_status"]
    with pytest.raises(ProcessError, match="not a pending timer"):
        run.fire_timer(close.task_id)


def test_completing_the_task_cancels_the_timers(deadline_steps: Recorder) -> None:
    run = deadline_run(deadline_steps)
    run.complete_user_task(run.ready_user_tasks()[0].id, {"checked": True}, now=T0 + timedelta(days=1))
    assert run.completed
    assert run.pending_timers() == []
    assert run.completed_element_ids()[-1] == "end_checked"


def test_the_clock_is_used_when_no_time_is_passed(deadline_steps: Recorder) -> None:
    model = ProcessModel.from_files([fixture_bytes("document_deadline.bpmn")], registry=deadline_steps.registry)
    now = [T0]
    run = ProcessRun(model, registry=deadline_steps.registry, clock=lambda: now[0])
    run.start({"deadline": "2026-04-01", "close_after": "P28D"})
    now[0] = T0 + timedelta(days=15)
    run.advance()
    assert deadline_steps.steps() == ["notify_citizen"]
    with pytest.raises(ValueError, match="timezone-aware"):
        run.advance(now=datetime(2026, 5, 1))  # noqa: DTZ001 - naive on purpose


# --- Camunda 8 (Zeebe) attributes, FEEL conditions, event-based gateway -----------------------


@pytest.fixture
def street_steps(recorder: Recorder) -> Recorder:
    recorder.add("compute_fee", lambda ctx: {"fee": ctx.params["units"] * 2, "tariff": ctx.params["tariff"]})
    return recorder


def street_run(steps: Recorder) -> ProcessRun:
    model = ProcessModel.from_files([("street_use.bpmn", fixture_bytes("street_use.bpmn"))], registry=steps.registry)
    run = ProcessRun(model, registry=steps.registry)
    run.start({"area_m2": 10, "days": 3, "case_ref": "S-1"}, now=T0)
    return run


def test_zeebe_user_task_and_step_parameters(street_steps: Recorder) -> None:
    run = street_run(street_steps)
    assert street_steps.calls[0].params == {"units": 30, "tariff": "sondernutzung_2026"}
    [task] = run.ready_user_tasks()
    assert task.candidate_groups == ("tiefbau", "ordnungsamt")
    assert task.form_key == "street-use-approval"
    assert task.due == datetime(2026, 3, 7, 23, 59, 59, tzinfo=T0.tzinfo)


def test_payment_message_after_approval(street_steps: Recorder) -> None:
    run = street_run(street_steps)
    run.complete_user_task(run.ready_user_tasks()[0].id, {"approved": True}, now=T0)
    assert run.waiting_messages() == ["payment_received"]
    assert [(t.element_id, t.due) for t in run.pending_timers()] == [("payment_deadline", T0 + timedelta(days=30))]
    run = ProcessRun.deserialize(run.model, run.serialize(), registry=street_steps.registry)
    run.deliver_message("payment_received", {"paid": 60}, now=T0 + timedelta(days=5))
    assert run.completed
    assert run.data["permit_text"] == "Erlaubnis Nr. 60"
    assert "end_permit" in run.completed_element_ids()


def test_unpaid_fee_times_out(street_steps: Recorder) -> None:
    run = street_run(street_steps)
    run.complete_user_task(run.ready_user_tasks()[0].id, {"approved": True}, now=T0)
    run.advance(now=T0 + timedelta(days=29))
    assert not run.completed
    run.advance(now=T0 + timedelta(days=30))
    assert run.completed
    assert "end_unpaid" in run.completed_element_ids()
    assert "permit_text" not in run.data


def test_rejection_takes_the_default_flow(street_steps: Recorder) -> None:
    run = street_run(street_steps)
    run.complete_user_task(run.ready_user_tasks()[0].id, {"approved": False}, now=T0)
    assert run.completed
    assert run.completed_element_ids()[-1] == "end_rejected"


# --- sub-processes, parallel branches, cycles, dates -----------------------------------------

NESTED = """
<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="split"/>
<bpmn:parallelGateway id="split"/>
<bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="sub"/>
<bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="notify"/>
<bpmn:subProcess id="sub" name="Prüfen">
  <bpmn:startEvent id="sub_s"/>
  <bpmn:sequenceFlow id="sf1" sourceRef="sub_s" targetRef="calc"/>
  <bpmn:scriptTask id="calc" name="Rechnen"><bpmn:script>total = a + b
due = add_days(received, 14)</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="sf2" sourceRef="calc" targetRef="review"/>
  <bpmn:userTask id="review" name="Sichten" rathaus:candidateGroups="team" rathaus:due="${due}"/>
  <bpmn:sequenceFlow id="sf3" sourceRef="review" targetRef="sub_e"/>
  <bpmn:endEvent id="sub_e"/>
</bpmn:subProcess>
<bpmn:boundaryEvent id="weekly" cancelActivity="false" attachedToRef="sub">
  <bpmn:timerEventDefinition><bpmn:timeCycle>R2/P7D</bpmn:timeCycle></bpmn:timerEventDefinition>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="fw" sourceRef="weekly" targetRef="escalate"/>
<bpmn:serviceTask id="escalate" rathaus:step="escalate"/>
<bpmn:sequenceFlow id="fw2" sourceRef="escalate" targetRef="e_esc"/>
<bpmn:endEvent id="e_esc"/>
<bpmn:serviceTask id="notify" rathaus:step="notify"/>
<bpmn:sequenceFlow id="f4" sourceRef="sub" targetRef="join"/>
<bpmn:sequenceFlow id="f5" sourceRef="notify" targetRef="join"/>
<bpmn:parallelGateway id="join"/>
<bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="wait_date"/>
<bpmn:intermediateCatchEvent id="wait_date">
  <bpmn:timerEventDefinition><bpmn:timeDate>2026-05-01T08:00:00</bpmn:timeDate></bpmn:timerEventDefinition>
</bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f7" sourceRef="wait_date" targetRef="e"/>
<bpmn:endEvent id="e"/>
"""


def test_subprocess_parallel_branches_cycle_and_date_timers(recorder: Recorder) -> None:
    recorder.add("notify", {"notified": True})
    recorder.add("escalate", lambda ctx: {"escalations": len(recorder.calls)})
    model = ProcessModel.from_files([bpmn(NESTED)], registry=recorder.registry)
    run = ProcessRun(model, registry=recorder.registry)
    run.start({"a": 1, "b": 2, "received": date(2026, 3, 2)}, now=T0)

    [task] = run.ready_user_tasks()
    assert task.candidate_groups == ("team",)
    assert task.due == datetime(2026, 3, 16, 23, 59, 59, tzinfo=T0.tzinfo)
    assert task.data["total"] == 3
    assert [t.due for t in run.pending_timers()] == [T0 + timedelta(days=7)]

    run.advance(now=T0 + timedelta(days=8))
    run = ProcessRun.deserialize(model, run.serialize(), registry=recorder.registry)
    run.advance(now=T0 + timedelta(days=30))
    assert recorder.steps() == ["notify", "escalate", "escalate"]
    assert run.pending_timers() == []

    run.complete_user_task(task.id, {"ok": True}, now=T0 + timedelta(days=31))
    [waiting] = run.pending_timers()
    assert waiting.element_id == "wait_date"
    assert waiting.due == datetime(2026, 5, 1, 8, 0, tzinfo=T0.tzinfo)
    run = ProcessRun.deserialize(model, run.serialize(), registry=recorder.registry)
    run.advance(now=datetime(2026, 5, 1, 8, 0, tzinfo=T0.tzinfo))
    assert run.completed
    assert run.data["received"] == date(2026, 3, 2)
    assert run.data["due"] == date(2026, 3, 16)
    assert run.data["ok"] is True
    assert run.data["notified"] is True


def test_a_weekly_cycle_keeps_its_time_of_day_when_the_clocks_change(recorder: Recorder) -> None:
    recorder.add("notify", {"notified": True})
    recorder.add("escalate", {"escalated": True})
    model = ProcessModel.from_files([bpmn(NESTED)], registry=recorder.registry)
    run = ProcessRun(model, registry=recorder.registry)
    run.start({"a": 1, "b": 2, "received": date(2026, 3, 20)}, now=datetime(2026, 3, 20, 9, 0, tzinfo=BERLIN))
    [weekly] = run.pending_timers()
    assert weekly.due.astimezone(UTC) == datetime(2026, 3, 27, 8, 0, tzinfo=UTC)  # 09:00 winter time
    run.advance(now=datetime(2026, 3, 27, 9, 0, tzinfo=BERLIN))
    assert recorder.steps() == ["notify", "escalate"]
    run = ProcessRun.deserialize(model, run.serialize(), registry=recorder.registry)
    [weekly] = run.pending_timers()
    assert weekly.due.astimezone(UTC) == datetime(2026, 4, 3, 7, 0, tzinfo=UTC)  # 09:00 summer time, not 10:00


CYCLE = """
<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
<bpmn:userTask id="wait" name="Warten" rathaus:candidateGroups="team"/>
<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e"/>
<bpmn:endEvent id="e"/>
<bpmn:boundaryEvent id="tick" cancelActivity="false" attachedToRef="wait">
  <bpmn:timerEventDefinition><bpmn:timeCycle>CYCLE_TEXT</bpmn:timeCycle></bpmn:timerEventDefinition>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="ft" sourceRef="tick" targetRef="remind"/>
<bpmn:serviceTask id="remind" rathaus:step="notify"/>
<bpmn:sequenceFlow id="ft2" sourceRef="remind" targetRef="e2"/>
<bpmn:endEvent id="e2"/>
"""


def _occurrences(recorder: Recorder, cycle: str, start: datetime, count: int) -> list[datetime]:
    """The due times of the first `count` occurrences of a repeating timer, each fired when due."""
    recorder.add("notify", {"notified": True})
    model = ProcessModel.from_files([bpmn(CYCLE.replace("CYCLE_TEXT", cycle))], registry=recorder.registry)
    run = ProcessRun(model, registry=recorder.registry)
    run.start({}, now=start)
    due = []
    for _ in range(count):
        [timer] = run.pending_timers()
        due.append(timer.due.astimezone(BERLIN))
        run = ProcessRun.deserialize(model, run.serialize(), registry=recorder.registry)
        run.advance(now=timer.due)
    return due


def test_a_daily_timer_in_the_hour_the_clocks_skip_returns_to_its_time_the_next_day(recorder: Recorder) -> None:
    due = _occurrences(recorder, "R4/P1D", datetime(2026, 3, 27, 2, 30, tzinfo=BERLIN), 4)
    # 29 March has no 02:30 (the clocks go from 02:00 to 03:00): that one is at 03:30, the next at 02:30 again.
    assert [(d.day, d.hour, d.minute) for d in due] == [(28, 2, 30), (29, 3, 30), (30, 2, 30), (31, 2, 30)]


def test_a_monthly_timer_counts_each_month_from_the_first(recorder: Recorder) -> None:
    due = _occurrences(recorder, "R3/2026-01-31T09:00:00/P1M", datetime(2026, 1, 30, 12, 0, tzinfo=BERLIN), 3)
    # The last day of February, then 31 March again (not 28 March), always at 09:00 German time.
    assert [(d.month, d.day, d.hour) for d in due] == [(1, 31, 9), (2, 28, 9), (3, 31, 9)]


DECISION_RESULTS = """
<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="all"/>
<bpmn:businessRuleTask id="all" camunda:decisionRef="collect" camunda:resultVariable="sizes" camunda:mapDecisionResult="collectEntries"/>
<bpmn:sequenceFlow id="f2" sourceRef="all" targetRef="one"/>
<bpmn:businessRuleTask id="one" camunda:decisionRef="first" camunda:resultVariable="size" camunda:mapDecisionResult="singleEntry"/>
<bpmn:sequenceFlow id="f3" sourceRef="one" targetRef="sum"/>
<bpmn:businessRuleTask id="sum" camunda:decisionRef="collect_sum"/>
<bpmn:sequenceFlow id="f4" sourceRef="sum" targetRef="e"/>
<bpmn:endEvent id="e"/>
"""


def test_decision_results_are_mapped_like_camunda() -> None:
    model = ProcessModel.from_files([bpmn(DECISION_RESULTS)], [fixture_bytes("hit_policies.dmn")])
    run = ProcessRun(model)
    run.start({"amount": 60}, now=T0)
    assert run.data["sizes"] == ["medium", "large"]
    assert run.data["size"] == "medium"
    assert run.data["collect_sum"] == 6


# --- failures name the element and leave no half-done work behind -----------------------------


def test_unsafe_expression_in_a_model_is_rejected_at_load() -> None:
    body = linear('<bpmn:scriptTask id="evil"><bpmn:script>x = __import__("os").system("id")</bpmn:script></bpmn:scriptTask>')
    with pytest.raises(ProcessModelError) as info:
        ProcessModel.from_files([bpmn(body)])
    assert info.value.element_id == "evil"
    assert [p.code for p in info.value.problems] == ["unsafe-expression"]


def test_unsupported_elements_are_rejected_at_load() -> None:
    body = linear('<bpmn:sendTask id="send" name="Mail"/>')
    with pytest.raises(ProcessModelError) as info:
        ProcessModel.from_files([bpmn(body)])
    assert info.value.element_id == "send"
    assert "sendTask" in info.value.message_en


def test_missing_step_and_decision_are_rejected_at_load(recorder: Recorder) -> None:
    with pytest.raises(ProcessModelError) as info:
        ProcessModel.from_files(
            [bpmn(linear('<bpmn:serviceTask id="svc" camunda:topic="unknown_step"/>'))], registry=recorder.registry
        )
    assert info.value.problems[0].code == "unknown-step"
    with pytest.raises(ProcessModelError) as info:
        ProcessModel.from_files([bpmn(linear('<bpmn:businessRuleTask id="brt" camunda:decisionRef="nope"/>'))])
    assert info.value.problems[0].code == "missing-decision"
    assert info.value.element_id == "brt"


def test_runtime_expression_errors_name_the_element() -> None:
    body = """
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" name="Betrag hoch?" default="f3"/>
    <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="e1"><bpmn:conditionExpression>amount &gt; 100</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="e2"/>
    <bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>
    """
    run = ProcessRun(ProcessModel.from_files([bpmn(body)]))
    with pytest.raises(ProcessError) as info:
        run.start({}, now=T0)
    assert info.value.element_id == "gw"
    assert "amount" in info.value.message_en
    assert "Betrag hoch?" in info.value.message_de


def test_a_feel_condition_on_a_missing_value_does_not_hold_instead_of_failing_the_case() -> None:
    # Camunda 8 (Zeebe) conditions are FEEL: an optional field left empty is null, and
    # "null > 100" is null, so the gateway takes its default flow.
    body = """
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f3"/>
    <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="high"><bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="low"/>
    <bpmn:endEvent id="high"/><bpmn:endEvent id="low"/>
    """
    model = ProcessModel.from_files([bpmn(body)])
    for data, end in [({"amount": None}, "low"), ({}, "low"), ({"amount": 150}, "high"), ({"amount": 50}, "low")]:
        run = ProcessRun(model)
        run.start(data, now=T0)
        assert run.completed
        assert end in run.completed_element_ids() and ({"high", "low"} - {end}).isdisjoint(run.completed_element_ids())


def test_endless_automatic_loop_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "MAX_AUTOMATIC_STEPS", 150)
    body = """
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="inc"/>
    <bpmn:scriptTask id="inc"><bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="inc" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="inc"><bpmn:conditionExpression>n &gt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="e"/>
    <bpmn:endEvent id="e"/>
    """
    run = ProcessRun(ProcessModel.from_files([bpmn(body)]))
    with pytest.raises(ProcessError, match="endless loop"):
        run.start({"n": 0}, now=T0)


def test_failing_step_keeps_its_cause(recorder: Recorder) -> None:
    def broken(ctx: StepContext) -> dict[str, Any]:
        raise ConnectionError("Fachverfahren nicht erreichbar")

    recorder.registry.add("send", broken)
    model = ProcessModel.from_files([bpmn(linear('<bpmn:serviceTask id="svc" camunda:topic="send"/>'))])
    with pytest.raises(StepFailed) as info:
        ProcessRun(model, registry=recorder.registry).start({}, now=T0)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert info.value.element_id == "svc"


@pytest.mark.parametrize(
    ("result", "message"),
    [(["not", "a", "dict"], "must return a dict"), ({"_secret": 1}, "invalid field name"), ({"x": object()}, "cannot be stored")],
)
def test_step_results_are_checked(recorder: Recorder, result: Any, message: str) -> None:
    recorder.add("step", lambda ctx: result)
    model = ProcessModel.from_files([bpmn(linear('<bpmn:serviceTask id="svc" rathaus:step="step"/>'))])
    with pytest.raises(ProcessError, match=message):
        ProcessRun(model, registry=recorder.registry).start({}, now=T0)


def test_unregistered_step_fails_when_reached() -> None:
    model = ProcessModel.from_files([bpmn(linear('<bpmn:serviceTask id="svc" rathaus:step="later"/>'))])
    assert model.step_names() == {"later"}
    with pytest.raises(UnknownStep, match="later"):
        ProcessRun(model, registry=ServiceStepRegistry()).start({}, now=T0)


def test_step_context_data_is_read_only(recorder: Recorder) -> None:
    def mutate(ctx: StepContext) -> None:
        ctx.data["fee"] = 0  # type: ignore[index]

    recorder.registry.add("mutate", mutate)
    model = ProcessModel.from_files([bpmn(linear('<bpmn:serviceTask id="svc" rathaus:step="mutate"/>'))])
    with pytest.raises(StepFailed, match="TypeError"):
        ProcessRun(model, registry=recorder.registry).start({"fee": 1}, now=T0)


# --- API misuse and persistence guards ---------------------------------------------------------


def test_api_misuse_is_reported(dog_steps: Recorder) -> None:
    run = ProcessRun(dog_model(dog_steps.registry), registry=dog_steps.registry)
    run.start({**DOG_FIRST, "breed": "Bullterrier"}, now=T0)
    with pytest.raises(ProcessError, match="already been started"):
        run.start({})
    with pytest.raises(ProcessError, match="not found"):
        run.complete_user_task("00000000-0000-0000-0000-000000000000", {})
    with pytest.raises(ProcessError, match="not found"):
        run.complete_user_task("no-uuid", {})
    timer_free = [t for t in run._wf.get_tasks() if t.task_spec.name == "start"][0]
    with pytest.raises(ProcessError, match="not an open user task"):
        run.complete_user_task(str(timer_free.id), {})
    with pytest.raises(ProcessError, match="typename"):
        run.complete_user_task(run.ready_user_tasks()[0].id, {"typename": "x"})


def test_state_is_bound_to_its_model(dog_steps: Recorder) -> None:
    model = dog_model(dog_steps.registry)
    run = ProcessRun(model, registry=dog_steps.registry)
    run.start({**DOG_FIRST, "breed": "Bullterrier"}, now=T0)
    state = run.serialize()
    other = ProcessModel.from_files([fixture_bytes("document_deadline.bpmn")])
    with pytest.raises(ProcessError, match="different model version"):
        ProcessRun.deserialize(other, state)
    with pytest.raises(ProcessError, match="unreadable"):
        ProcessRun.deserialize(model, "{broken")
    with pytest.raises(ProcessError, match="not a Rathaus process state"):
        ProcessRun.deserialize(model, json.dumps({"format": "x"}))


def test_several_processes_need_a_choice() -> None:
    two = bpmn(linear(), process_id="a").replace(
        b"</bpmn:definitions>",
        b'<bpmn:process id="b" isExecutable="true"><bpmn:startEvent id="bs"/></bpmn:process></bpmn:definitions>',
    )
    with pytest.raises(ProcessModelError, match="process_id"):
        ProcessModel.from_files([two])
    assert ProcessModel.from_files([two], process_id="b").process_id == "b"


def test_registry_contract() -> None:
    registry = ServiceStepRegistry()

    @registry.register("compute_fee", description="Gebühr berechnen")
    def compute_fee(ctx: StepContext) -> dict[str, Any]:
        return {"fee": 1}

    assert compute_fee.__name__ == "compute_fee"
    assert "compute_fee" in registry
    assert registry.names() == ["compute_fee"]
    assert registry.describe("compute_fee") == "Gebühr berechnen"
    with pytest.raises(ValueError, match="already registered"):
        registry.add("compute_fee", compute_fee)
    with pytest.raises(ValueError, match="invalid step name"):
        registry.add("bad name!", compute_fee)


def test_a_parameter_given_without_one_it_needs_is_reported_also_when_the_other_is_an_expression() -> None:
    registry = ServiceStepRegistry()
    registry.add("letter", lambda ctx: None, params=[
        StepParam("tax", "Steuer", needs=("tax_from", "payment_days|payment_months")), StepParam("tax_from", "ab"),
        StepParam("payment_days", "Tage"), StepParam("payment_months", "Monate")])
    assert registry.param_problems("letter", {"tax_from": "2026-12-01"}) == []
    assert registry.param_problems("letter", {"tax": "Hundesteuer", "tax_from": "${start}", "payment_months": "1"}) == []
    assert registry.param_problems("letter", {"tax": "Hundesteuer", "tax_from": " "}) == [
        ("Parameter «tax» braucht «tax_from»", "parameter «tax» needs «tax_from»"),
        ("Parameter «tax» braucht «payment_days» oder «payment_months»",
         "parameter «tax» needs «payment_days» or «payment_months»")]


def test_start_data_with_dates_and_nested_values_round_trips() -> None:
    model = ProcessModel.from_files([bpmn(linear('<bpmn:userTask id="ut"/>'))])
    run = ProcessRun(model)
    data = {"born": date(1990, 5, 17), "when": datetime(2026, 1, 1, tzinfo=UTC), "nested": {"list": [1, "x", None]}}
    run.start(data, now=T0)
    restored = ProcessRun.deserialize(model, run.serialize())
    assert restored.ready_user_tasks()[0].data == data


# --- a task's due date from its interrupting boundary timer ------------------------------------

def _guarded_task(task_attrs: str = "", *timers: tuple[str, str, bool]) -> bytes:
    """A user task with boundary timers (id, duration, interrupting), each leading to its own end."""
    parts = ['<bpmn:startEvent id="s"/>', '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>',
             f'<bpmn:userTask id="review" name="Prüfen" rathaus:candidateGroups="team" {task_attrs}/>',
             '<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="e"/>', '<bpmn:endEvent id="e"/>']
    for timer_id, duration, interrupting in timers:
        parts += [f'<bpmn:boundaryEvent id="{timer_id}" cancelActivity="{str(interrupting).lower()}" attachedToRef="review">'
                  f"<bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration>"
                  "</bpmn:timerEventDefinition></bpmn:boundaryEvent>",
                  f'<bpmn:sequenceFlow id="f_{timer_id}" sourceRef="{timer_id}" targetRef="e_{timer_id}"/>',
                  f'<bpmn:endEvent id="e_{timer_id}"/>']
    return bpmn("\n".join(parts))


@pytest.mark.parametrize(("task_attrs", "timers", "due"), [
    # The task is cut off when its interrupting timer fires: that is its due time.
    ("", [("close", "P28D", True)], T0 + timedelta(days=28)),
    # A reminder that lets the task go on sets no due time; the earliest interrupting timer does.
    ("", [("remind", "P3D", False), ("close", "P28D", True), ("close_early", "P20D", True)], T0 + timedelta(days=20)),
    # The task's own due date wins over its timers.
    ('rathaus:due="P5D"', [("close", "P28D", True)], T0 + timedelta(days=5)),
    # Neither: no due time from the model (the service's processing norm applies, see processes/services.py).
    ("", [("remind", "P3D", False)], None),
])
def test_a_task_without_a_due_date_is_due_when_its_interrupting_timer_fires(
        recorder: Recorder, task_attrs: str, timers: list, due: datetime | None) -> None:
    model = ProcessModel.from_files([("guarded.bpmn", _guarded_task(task_attrs, *timers))], registry=recorder.registry)
    run = ProcessRun(model, registry=recorder.registry)
    run.start({}, now=T0)
    [task] = run.ready_user_tasks()
    assert task.due == due
    again = ProcessRun.deserialize(model, run.serialize(), registry=recorder.registry)
    assert again.ready_user_tasks()[0].due == due
