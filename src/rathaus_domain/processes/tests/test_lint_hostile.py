"""Broken and hostile models: each gets named problems in plain words (German and English), never a
traceback and never SpiffWorkflow's own words; models that would hang or break every running case
are refused before they are published."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from rathaus_domain.processes.checks import ERROR, WARNING, Problem, check_processes
from rathaus_domain.processes.engine import ProcessModel, ProcessRun
from rathaus_domain.processes.lint import FILE_LEVEL_CODES, check_files

from .support import BPMN_HEAD, T0, bpmn, fixture_bytes, linear

STEPS = ["check_completeness", "issue_decision_letter", "notify_citizen", "set_case_status", "compute_fee"]
TIMER = '<bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>'


def codes(problems: list[Problem]) -> list[tuple[str, str | None]]:
    return [(p.code, p.element_id) for p in problems]


def processes(*bodies: tuple[str, str]) -> bytes:
    """A BPMN file with several executable processes: (process id, body) pairs; the ids of each
    body's elements get the process id in front (``main_call``), as ids must be unique."""
    inner = "".join(
        f'<bpmn:process id="{pid}" isExecutable="true">'
        + body.replace(' id="', f' id="{pid}_').replace('Ref="', f'Ref="{pid}_')
        + "</bpmn:process>"
        for pid, body in bodies
    )
    return (BPMN_HEAD + inner + "</bpmn:definitions>").encode()


def calling(called: str, call_id: str = "call") -> str:
    return linear(f'<bpmn:callActivity id="{call_id}" calledElement="{called}"/>')


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            [("p.bpmn", bpmn(linear('<bpmn:userTask id="twice"/>') + '<bpmn:userTask id="twice"/>'))],
            [("duplicate-id", "twice")],
            id="two-tasks-one-id",
        ),
        pytest.param(
            [("p.bpmn", bpmn('<bpmn:startEvent id="a"/><bpmn:sequenceFlow id="a" sourceRef="a" targetRef="e"/>'
                             '<bpmn:endEvent id="e"/>'))],
            [("duplicate-id", "a")],
            id="a-flow-with-the-id-of-an-event",
        ),
        pytest.param(
            [("a.bpmn", bpmn(linear())), ("b.bpmn", bpmn(linear()))],
            [("duplicate-id", "p")],
            id="one-process-id-in-two-files",
        ),
        pytest.param(
            [("p.bpmn", processes(("main", calling("main"))))],
            [("recursive-call", "main_call")],
            id="a-process-that-calls-itself",
        ),
        pytest.param(
            [("p.bpmn", processes(("main", calling("a", "to_a")), ("a", calling("b", "to_b")), ("b", calling("a", "back"))))],
            [("recursive-call", "a_to_b"), ("recursive-call", "b_back")],
            id="processes-that-call-each-other",
        ),
        pytest.param(
            [("p.bpmn", processes(("first", linear()), ("second", linear())))],
            [("several-main-processes", "second")],
            id="two-processes-to-start",
        ),
        pytest.param(
            [("p.bpmn", bpmn(linear('<bpmn:userTask id="ut" camunda:dueDate="P14X"/>')))],
            [("invalid-expression", "ut")],
            id="due-date-P14X",
        ),
        pytest.param(
            [("p.bpmn", bpmn(linear('<bpmn:userTask id="ut"/>') + '<bpmn:boundaryEvent id="remind" attachedToRef="ut" '
                             'cancelActivity="false"><bpmn:timerEventDefinition><bpmn:timeCycle>0 0 9 * * ?'
                             '</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>'
                             '<bpmn:sequenceFlow id="r" sourceRef="remind" targetRef="e2"/><bpmn:endEvent id="e2"/>'))],
            [("invalid-timer", "remind")],
            id="cron-cycle",
        ),
        pytest.param(
            [("p.bpmn", bpmn('<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="gw"/>'
                             '<bpmn:exclusiveGateway id="gw"/>'))],
            [("gateway-without-outgoing", "gw")],
            id="gateway-leading-nowhere",
        ),
        pytest.param(
            [("p.bpmn", bpmn(linear() + '<bpmn:userTask id="after"/><bpmn:sequenceFlow id="on" sourceRef="end" '
                             'targetRef="after"/>'))],
            [("invalid-flow", "end")],
            id="end-event-going-on",
        ),
        pytest.param(
            [("p.bpmn", bpmn(linear('<bpmn:exclusiveGateway id="gw"/>') + f'<bpmn:boundaryEvent id="b" '
                             f'attachedToRef="gw">{TIMER}</bpmn:boundaryEvent><bpmn:sequenceFlow id="bf" sourceRef="b" '
                             'targetRef="end"/>'))],
            [("invalid-reference", "b")],
            id="boundary-event-on-a-gateway",
        ),
        pytest.param(
            [("p.bpmn", bpmn(linear() + f'<bpmn:boundaryEvent id="b" attachedToRef="start">{TIMER}</bpmn:boundaryEvent>'
                             '<bpmn:sequenceFlow id="bf" sourceRef="b" targetRef="end"/>'))],
            [("invalid-reference", "b")],
            id="boundary-event-on-the-start",
        ),
        pytest.param(
            [("p.bpmn", bpmn('<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="a"/>'
                             '<bpmn:scriptTask id="a"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>'
                             '<bpmn:sequenceFlow id="g" sourceRef="a" targetRef="b"/>'
                             '<bpmn:scriptTask id="b"><bpmn:script>y = 1</bpmn:script></bpmn:scriptTask>'
                             '<bpmn:sequenceFlow id="h" sourceRef="b" targetRef="a"/><bpmn:endEvent id="e"/>'))],
            [("loop-without-exit", "a")],
            id="loop-without-exit",
        ),
        pytest.param(
            [("p.bpmn", bpmn(linear('<bpmn:userTask id="ut"><bpmn:sequenceFlow id="in_task" sourceRef="ut" '
                                    'targetRef="end"/></bpmn:userTask>')))],
            [("misplaced-element", "in_task")],
            id="flow-inside-a-task",
        ),
        pytest.param(
            [("p.bpmn", bpmn(linear(), root_extra='<bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
                             'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="d"><bpmndi:BPMNPlane id="pl" '
                             'bpmnElement="p"><bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="start_di" '
                             'y="1" width="36" height="36"/></bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>'))],
            [("invalid-diagram", "start_di")],
            id="diagram-coordinate-not-a-number",
        ),
        pytest.param(
            # Found by the slow fuzz test: SpiffWorkflow took it for a second process ("Duplicate process ID: None").
            [("p.bpmn", bpmn(linear(), root_extra='<bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
                             'id="d"><bpmndi:BPMNPlane id="pl" bpmnElement="p"><bpmn:process/></bpmndi:BPMNPlane>'
                             '</bpmndi:BPMNDiagram>'))],
            [("misplaced-element", "pl")],
            id="process-inside-the-diagram",
        ),
    ],
)
def test_models_that_would_fail_or_hang_are_named_by_element(files: list[tuple[str, bytes]], expected) -> None:
    problems = check_files(files)
    assert codes([p for p in problems if p.severity == ERROR]) == expected
    for problem in problems:
        assert "None" not in problem.message_de + problem.message_en
        assert problem.message_de != problem.message_en


@pytest.mark.parametrize(
    "element",
    [
        '<bpmn:userTask id="bad" camunda:dueDate="-P1D"/>',
        '<bpmn:intermediateCatchEvent id="bad"><bpmn:timerEventDefinition><bpmn:timeDuration>-P1D</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
    ],
    ids=["due-date", "timer"],
)
def test_a_negative_duration_is_named_not_taken_for_a_variable(element: str) -> None:
    # Read as an expression, «-P1D» is minus a variable P1D: every case would fail on reaching it.
    [problem] = check_files([("p.bpmn", bpmn(linear(element)))])
    assert (problem.code, problem.element_id) == ("invalid-expression", "bad")
    assert "«-P1D» ist eine negative Dauer; eine Frist liegt immer in der Zukunft (etwa P1D)" in problem.message_de


def test_a_timer_date_in_the_past_is_a_warning_not_an_error() -> None:
    timer = ('<bpmn:intermediateCatchEvent id="t"><bpmn:timerEventDefinition><bpmn:timeDate>2020-01-01T09:00:00+01:00'
             "</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")
    [problem] = check_files([("p.bpmn", bpmn(linear(timer)))])
    assert (problem.severity, problem.code, problem.element_id) == (WARNING, "timer-in-the-past", "t")
    assert problem.message_de == ("Timer: der Zeitpunkt 2020-01-01T09:00:00+01:00 liegt in der Vergangenheit; der Timer "
                                  "löst in jedem Vorgang sofort aus")


def test_a_runaway_name_is_cut_in_the_message() -> None:
    [problem] = check_files([("p.bpmn", bpmn(linear(f'<bpmn:sendTask id="send" name="{"Brief " * 100_000}"/>')))])
    assert problem.code == "unsupported-element"
    assert len(problem.message_de) < 200 and "…» wird nicht unterstützt" in problem.message_de


def test_a_model_of_ten_thousand_tasks_is_refused_at_once_in_plain_words() -> None:
    # About 1 MB of tasks in a row: SpiffWorkflow's parser took a minute and then failed in its own words.
    tasks = [f'<bpmn:userTask id="t{i}"/>' for i in range(10_000)]
    started = time.monotonic()
    problems = check_files([("p.bpmn", bpmn(linear(*tasks)))])
    assert time.monotonic() - started < 10
    assert [(p.code, p.element_id, p.message_de) for p in problems] == [
        ("too-large", None, "Das Modell hat 10003 Ereignisse, Aufgaben, Gateways und Prozesse; höchstens 1000 sind erlaubt")
    ]


def test_a_file_of_a_hundred_thousand_processes_is_refused_at_once() -> None:
    # No events, tasks or gateways at all: before processes were counted, the check of which process
    # calls which compared every process with every other (hours for 100,000).
    processes = "".join(f'<bpmn:process id="p{i}" isExecutable="true"/>' for i in range(100_000))
    started = time.monotonic()
    problems = check_files([("p.bpmn", bpmn(linear(), root_extra=processes))])
    assert time.monotonic() - started < 10
    assert [p.code for p in problems] == ["too-large"]


def test_a_long_chain_of_call_activities_is_checked_in_time() -> None:
    """240 processes (as many as the size cap lets through) each calling the next, the last the first: one cycle."""
    count = 240
    processes = "".join(
        f'<bpmn:process id="c{i}" isExecutable="true"><bpmn:startEvent id="s{i}"/><bpmn:sequenceFlow id="f{i}" '
        f'sourceRef="s{i}" targetRef="a{i}"/><bpmn:callActivity id="a{i}" calledElement="c{(i + 1) % count}"/>'
        f'<bpmn:sequenceFlow id="g{i}" sourceRef="a{i}" targetRef="e{i}"/><bpmn:endEvent id="e{i}"/></bpmn:process>'
        for i in range(count))
    started = time.monotonic()
    problems = check_processes([("p.bpmn", etree.fromstring(bpmn(linear(), root_extra=processes)))])
    assert time.monotonic() - started < 20
    assert {p.code for p in problems} == {"recursive-call"}
    assert "c0 → c1 → c2" in next(p.message_en for p in problems if p.element_id == "a0")


def test_a_called_element_with_spaces_still_counts_as_called() -> None:
    """Modelling tools may leave spaces around an id; the called process is no second process to start."""
    sub = ('<bpmn:process id="sub" isExecutable="true"><bpmn:startEvent id="ss"/><bpmn:sequenceFlow id="sf" '
           'sourceRef="ss" targetRef="se"/><bpmn:endEvent id="se"/></bpmn:process>')
    main = bpmn(linear('<bpmn:callActivity id="call" calledElement=" sub "/>'), root_extra=sub)
    assert [p.code for p in check_processes([("p.bpmn", etree.fromstring(main))])] == []


def gateway_with(condition: str) -> bytes:
    return bpmn(
        '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="gw"/>'
        '<bpmn:exclusiveGateway id="gw" default="other"/>'
        f'<bpmn:sequenceFlow id="yes" sourceRef="gw" targetRef="e">{condition}</bpmn:sequenceFlow>'
        '<bpmn:sequenceFlow id="other" sourceRef="gw" targetRef="e"/><bpmn:endEvent id="e"/>'
    )


@pytest.mark.parametrize(
    ("condition", "message_de"),
    [
        # Camunda 7's «Script» condition: it happens to read like our language, but it was meant for a script engine.
        ('<bpmn:conditionExpression language="javascript">approved == true</bpmn:conditionExpression>',
         "Bedingung in der Sprache «javascript» wird nicht unterstützt; bitte einen Ausdruck wie ${betrag > 100} oder "
         "in FEEL =betrag > 100 ohne language-Angabe"),
        # FEEL as some tools mark it (the BPMN MIWG's C.8.1): without «=» it was read as Python and said «invalid syntax».
        ('<bpmn:conditionExpression language="https://www.omg.org/spec/DMN/20191111/FEEL/">status = "ok"'
         "</bpmn:conditionExpression>",
         'Bedingung ist als FEEL angegeben (language=«https://www.omg.org/spec/DMN/20191111/FEEL/»); FEEL-Ausdrücke '
         'beginnen in Rathaus mit «=»: «=status = "ok"»'),
    ],
    ids=["javascript", "feel-without-equals"],
)
def test_a_condition_in_another_language_is_named_with_what_to_write(condition: str, message_de: str) -> None:
    [problem] = check_files([("p.bpmn", gateway_with(condition))])
    assert (problem.code, problem.element_id, problem.message_de) == ("invalid-expression", "yes", message_de)


def test_a_condition_without_or_with_our_language_is_read_as_before() -> None:
    for condition in ("<bpmn:conditionExpression>approved</bpmn:conditionExpression>",
                      '<bpmn:conditionExpression language="feel">=approved</bpmn:conditionExpression>',
                      '<bpmn:conditionExpression language="python">approved</bpmn:conditionExpression>'):
        assert check_files([("p.bpmn", gateway_with(condition))]) == []


def test_a_long_coordinate_is_named_at_once() -> None:
    diagram = ('<bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
               'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="d"><bpmndi:BPMNPlane id="pl" bpmnElement="p">'
               f'<bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="{"1" * 50_000}x" y="1" width="36" '
               'height="36"/></bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>')
    started = time.monotonic()
    problems = check_files([("p.bpmn", bpmn(linear(), root_extra=diagram))])
    assert time.monotonic() - started < 5
    assert codes(problems) == [("invalid-diagram", "start_di")]
    assert problems[0].message_de == f"Diagramm: Koordinate x=«{'1' * 39}…» ist keine Zahl"


@pytest.mark.parametrize(
    "element",
    [
        '<bpmn:intermediateCatchEvent id="bad"><bpmn:messageEventDefinition messageRef="{v}"/></bpmn:intermediateCatchEvent>',
        '<bpmn:callActivity id="bad" calledElement="{v}"/>',
        '<bpmn:intermediateCatchEvent id="bad"><bpmn:timerEventDefinition><bpmn:timeDuration>P1{v}X</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
    ],
    ids=["message", "called-process", "timer"],
)
def test_a_megabyte_value_is_quoted_cut_in_the_message(element: str) -> None:
    # The message is printed, shown on the upload page (German and English) and stored with warnings.
    [problem] = check_files([("p.bpmn", bpmn(linear(element.replace("{v}", "1" * 1_000_000))))])
    assert problem.element_id == "bad"
    assert len(problem.message_de) < 400 and len(problem.message_en) < 400
    assert "1" * 150 + "…»" in problem.message_de


def test_a_feel_null_among_candidate_groups_is_no_group_named_none() -> None:
    model = ProcessModel.from_files([("p.bpmn", bpmn(linear(
        '<bpmn:userTask id="ut"><bpmn:extensionElements><zeebe:assignmentDefinition candidateGroups=\'=["team", null]\'/>'
        "</bpmn:extensionElements></bpmn:userTask>")))])
    run = ProcessRun(model)
    run.start({}, now=T0)
    [task] = run.ready_user_tasks()
    assert task.candidate_groups == ("team",)


def test_a_recursive_call_names_the_way_round() -> None:
    model = processes(("main", calling("a", "to_a")), ("a", calling("a", "again")))
    [problem] = check_files([("p.bpmn", model)])
    assert problem.message_de == ("Aufrufaktivität a_again ruft «a» auf, und damit ruft sich der Prozess selbst wieder auf "
                                  "(a → a); rekursive Aufrufe werden nicht unterstützt")


def test_an_element_without_id_is_named_without_none() -> None:
    body = '<bpmn:startEvent name="Antrag"/><bpmn:sequenceFlow sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"/>'
    problems = check_files([("p.bpmn", bpmn(body))])
    assert [(p.code, p.element_id, p.message_de) for p in problems] == [
        ("missing-id", "p", "Ein Element startEvent «Antrag» in p hat keine ID; Sequenzflüsse, Aufgaben und Fristen "
                            "brauchen sie"),
        ("invalid-reference", "p", "Sequenzfluss (ohne ID) verbindet unbekannte Elemente (s → e)"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        # The way out of the loop is the gateway's default flow.
        '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="ut"/><bpmn:userTask id="ut"/>'
        '<bpmn:sequenceFlow id="g" sourceRef="ut" targetRef="gw"/><bpmn:exclusiveGateway id="gw" default="out"/>'
        '<bpmn:sequenceFlow id="again" sourceRef="gw" targetRef="ut"><bpmn:conditionExpression>more</bpmn:conditionExpression>'
        '</bpmn:sequenceFlow><bpmn:sequenceFlow id="out" sourceRef="gw" targetRef="e"/><bpmn:endEvent id="e"/>',
        # ... an interrupting timer on the task in the loop.
        '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="ut"/><bpmn:userTask id="ut"/>'
        '<bpmn:sequenceFlow id="g" sourceRef="ut" targetRef="ut2"/><bpmn:userTask id="ut2"/>'
        f'<bpmn:sequenceFlow id="h" sourceRef="ut2" targetRef="ut"/><bpmn:boundaryEvent id="b" attachedToRef="ut2">{TIMER}'
        '</bpmn:boundaryEvent><bpmn:sequenceFlow id="bf" sourceRef="b" targetRef="e"/><bpmn:endEvent id="e"/>',
        # ... a terminate end event on a parallel branch.
        '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="split"/><bpmn:parallelGateway id="split"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="split" targetRef="ut"/><bpmn:userTask id="ut"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="ut" targetRef="ut"/>'
        '<bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="done"/><bpmn:userTask id="done"/>'
        '<bpmn:sequenceFlow id="f4" sourceRef="done" targetRef="stop"/>'
        '<bpmn:endEvent id="stop"><bpmn:terminateEventDefinition/></bpmn:endEvent>',
    ],
    ids=["gateway", "interrupting-timer", "terminate-end-event"],
)
def test_loops_with_a_way_out_are_fine(body: str) -> None:
    assert [p for p in check_files([("p.bpmn", bpmn(body))]) if p.severity == ERROR] == []


@pytest.mark.parametrize(
    ("data", "message_de"),
    [
        (b"", "Die Datei ist leer"),
        (b"  \n\t", "Die Datei ist leer"),
        (BPMN_HEAD.encode() + b"<x>" * 300 + b"</x>" * 300 + b"</bpmn:definitions>",
         "Die Datei ist zu tief verschachtelt (höchstens 256 Ebenen) (Zeile 3)"),
        (bpmn(linear('<bpmn:userTask id="ut" name="Prüfen"/>')).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
         'Die Datei gibt die Kodierung «ISO-8859-1» an, ist aber in UTF-8 gespeichert. Bitte speichern Sie sie im '
         'Modellierungswerkzeug mit der Kodierung UTF-8 (encoding="UTF-8").'),
    ],
    ids=["empty", "blank", "nested-too-deeply", "utf8-declared-latin1"],
)
def test_files_that_are_no_model_are_named_in_plain_words(data: bytes, message_de: str) -> None:
    [problem] = check_files([("p.bpmn", data)])
    assert (problem.file, problem.element_id, problem.message_de) == ("p.bpmn", None, message_de)
    assert problem.code in FILE_LEVEL_CODES
    assert "XML_PARSE_HUGE" not in problem.message_en


# --- mutations of the fixture models --------------------------------------------------------------

MODELS = [
    ("dog_registration.bpmn", "dog_tax.dmn"),
    ("street_use.bpmn", "parking_zone.dmn"),
    ("document_deadline.bpmn", "hit_policies.dmn"),
]
ODD_VALUES = ["", " ", "x" * 300, "P14X", "R/P1D", "0 0 9 * * ?", "${x}", "=1", "-P1D", "1999-01-01T00:00:00Z",
              "${__import__('os')}", "a && b", "Flow_nowhere", "\u00e4\u00f6\u00fc", "{case_ref.__class__}"]
NEW_ELEMENTS = ["sequenceFlow", "userTask", "startEvent", "endEvent", "exclusiveGateway", "parallelGateway",
                "boundaryEvent", "callActivity", "subProcess", "timerEventDefinition", "messageEventDefinition",
                "conditionExpression", "process", "inclusiveGateway", "sendTask", "dataStore", "eventBasedGateway"]
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def mutate(data: bytes, seed: int, count: int) -> bytes:
    """The model with ``count`` random edits: elements removed, copied (ids twice), moved, renamed
    to other kinds, attributes dropped or set to ids of other elements and odd values, new elements."""
    rng = random.Random(seed)
    root = etree.fromstring(data)
    for _ in range(count):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        ids = [str(e.get("id")) for e in elements if e.get("id")] or ["x"]
        element = rng.choice(elements)
        parent = element.getparent()
        operation = rng.randrange(9)
        if operation == 0 and parent is not None:
            parent.remove(element)
        elif operation == 1 and element.attrib:
            del element.attrib[rng.choice(sorted(element.attrib))]
        elif operation == 2 and element.attrib:
            element.set(rng.choice(sorted(element.attrib)), rng.choice(ids + ODD_VALUES))
        elif operation == 3 and parent is not None:
            parent.append(etree.fromstring(etree.tostring(element)))
        elif operation == 4:
            element.text = rng.choice(ODD_VALUES)
        elif operation == 5:
            new = etree.SubElement(element, BPMN + rng.choice(NEW_ELEMENTS))
            for attribute in ("id", "sourceRef", "targetRef", "attachedToRef", "calledElement", "default"):
                if rng.random() < 0.4:
                    new.set(attribute, rng.choice(ids + ODD_VALUES))
        elif operation == 6 and parent is not None:
            target = rng.choice(elements)
            if target is not element and element not in target.iterancestors():
                target.append(element)
        elif operation == 7 and element.get("id"):
            element.set("id", rng.choice(ids))
        elif operation == 8:
            kinds = ("userTask", "serviceTask", "exclusiveGateway", "endEvent", "startEvent", "scriptTask")
            element.tag = str(element.tag).replace(rng.choice(kinds), rng.choice(kinds + ("manualTask", "task")))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def assert_named(problems: list[Problem], names: set[str]) -> None:
    for problem in problems:
        assert problem.severity in (ERROR, WARNING)
        assert problem.file in names
        assert problem.message_de.strip() and problem.message_en.strip()
        assert "None" not in problem.message_de + problem.message_en, str(problem)
        # Neither a crash of the checker nor what SpiffWorkflow says in its own (English) words.
        assert problem.code not in ("internal-error", "invalid-model"), str(problem)
        if problem.code not in FILE_LEVEL_CODES:
            assert problem.element_id, f"problem without element id: {problem}"


@st.composite
def mutated_models(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    bpmn_name, dmn_name = draw(st.sampled_from(MODELS))
    files = [(bpmn_name, fixture_bytes(bpmn_name)), (dmn_name, fixture_bytes(dmn_name))]
    which = draw(st.sampled_from([[0], [1], [0, 1]]))
    for index in which:
        name, data = files[index]
        files[index] = (name, mutate(data, draw(st.integers(0, 2**32)), draw(st.integers(1, 4))))
    return files


def _check_mutated(files: list[tuple[str, bytes]]) -> None:
    assert_named(check_files(files, registry=STEPS), {name for name, _ in files})


@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=mutated_models())
def test_mutated_models_get_named_problems_never_a_traceback(files: list[tuple[str, bytes]]) -> None:
    _check_mutated(files)


@pytest.mark.slow_property
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=mutated_models())
def test_many_mutated_models_get_named_problems_never_a_traceback(files: list[tuple[str, bytes]]) -> None:
    _check_mutated(files)
