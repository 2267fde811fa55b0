"""docs/processes.md: its marked examples pass our checks, and it describes every registered step.

A fenced block whose info string is ``<language> <marker>`` is checked by its marker:

* ``bpmn-check`` — process content (``bpmn:message`` elements are moved to the definitions), put
  in one executable process with a start and an end event unless it has its own, and checked with
  every ``dmn-check`` file of the guide exactly as ``rathaus check-process`` does: no problem at all;
* ``dmn-check`` — a whole DMN file, checked the same way;
* ``feel-check`` / ``cells-check`` / ``expr-check`` — one FEEL expression / input cell / BPMN
  expression (any spelling) per line; ``expr-refused`` — each line is refused as unsafe;
* ``script-check`` — the block is one script; ``timer-check`` — ``kind: value`` lines;
  ``text-check`` — one step-parameter text per line; ``plugin-check`` — Python that registers a step.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from rathaus.processes.services import process_check
from rathaus.processes.steps.registry import load_contrib, step_catalogue, steps
from rathaus_domain.processes import dmn, evaluator, feel
from rathaus_domain.processes.evaluator import UnsafeExpression
from rathaus_domain.processes.expressions import check_timer, compile_process_expression
from rathaus_domain.processes.texts import template_problems

GUIDE = Path(__file__).resolve().parents[4] / "docs" / "processes.md"
MARKERS = ("bpmn-check", "dmn-check", "feel-check", "cells-check", "expr-check", "expr-refused", "script-check",
           "timer-check", "text-check", "plugin-check")
_FENCE = re.compile(r"^```([\w-]*)[ \t]*([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_NAMESPACES = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "zeebe": "http://camunda.org/schema/zeebe/1.0",
    "rathaus": "urn:rathaus:bpmn:1",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def _text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _blocks(marker: str) -> list[str]:
    return [body for _language, found, body in _FENCE.findall(_text()) if found == marker]


def _lines(marker: str) -> list[str]:
    return [line.strip() for body in _blocks(marker) for line in body.splitlines() if line.strip()]


def _dmn_files() -> list[tuple[str, bytes]]:
    return [(f"guide-{index}.dmn", body.encode()) for index, body in enumerate(_blocks("dmn-check"), start=1)]


def _bpmn_file(fragment: str) -> bytes:
    """The fragment as a BPMN file: messages beside the process, the rest inside it."""
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _NAMESPACES.items())
    wrapper = etree.fromstring(f"<wrapper {declarations}>{fragment}</wrapper>".encode())
    definitions = etree.Element(f"{{{_NAMESPACES['bpmn']}}}definitions", nsmap=_NAMESPACES,
                                id="guide", targetNamespace="urn:rathaus:guide")
    process = etree.Element(f"{{{_NAMESPACES['bpmn']}}}process", id="guide_process", isExecutable="true")
    elements = [child for child in wrapper if isinstance(child.tag, str)]
    definitions.extend(e for e in elements if etree.QName(e).localname == "message")
    definitions.append(process)
    if not any(etree.QName(e).localname == "startEvent" for e in elements):
        etree.SubElement(process, f"{{{_NAMESPACES['bpmn']}}}startEvent", id="guide_start")
        etree.SubElement(process, f"{{{_NAMESPACES['bpmn']}}}endEvent", id="guide_end")
    process.extend(e for e in elements if etree.QName(e).localname != "message")
    return etree.tostring(definitions, xml_declaration=True, encoding="UTF-8")


def test_the_guide_has_examples_of_every_kind_and_no_unknown_marker():
    found = [marker for _language, marker, _body in _FENCE.findall(_text()) if marker]
    assert set(found) == set(MARKERS)


@pytest.mark.parametrize("index", range(len(_blocks("bpmn-check"))))
def test_bpmn_examples_pass_the_model_check(index):
    fragment = _blocks("bpmn-check")[index]
    problems = process_check([("guide.bpmn", _bpmn_file(fragment)), *_dmn_files()])
    assert problems == [], fragment


def test_dmn_examples_pass_the_model_check_and_decide_as_the_guide_says():
    files = _dmn_files()
    assert process_check(files) == []
    model = dmn.DmnModel.merge([dmn.load_dmn(data, file=name) for name, data in files])
    result = dmn.decide(model, "dog_tax", {"dog": {"breed": "labrador", "other_dogs": 1}})
    assert result.output == {"fee": 150, "reason": "weiterer Hund"}
    assert [(rule.index, rule.annotation) for rule in result.matched_rules] == [(2, "Zweiter und jeder weitere Hund")]
    assert '{"fee": 150, "reason": "weiterer Hund"}' in _text()


@pytest.mark.parametrize(("marker", "check"), [
    ("feel-check", feel.compile_expression),
    ("cells-check", feel.compile_unary_tests),
    ("expr-check", compile_process_expression),
    ("text-check", lambda line: pytest.fail(str(template_problems(line))) if template_problems(line) else None),
])
def test_line_examples_are_accepted(marker, check):
    lines = _lines(marker)
    assert lines
    for line in lines:
        check(line)


def test_refused_examples_are_refused_as_unsafe():
    lines = _lines("expr-refused")
    assert lines
    for line in lines:
        with pytest.raises(UnsafeExpression):
            # Statically, or (sizes) while running, before the work is done.
            compile_process_expression(line).evaluate({"fee": 1})


def test_script_examples_are_accepted():
    blocks = _blocks("script-check")
    assert blocks
    for block in blocks:
        evaluator.check_script(block)


def test_timer_examples_are_accepted_for_their_kind():
    lines = _lines("timer-check")
    assert lines
    for line in lines:
        kind, value = (part.strip() for part in line.split(":", 1))
        assert kind in ("timeDate", "timeDuration", "timeCycle")
        check_timer(kind, value)


def test_the_plugin_example_registers_a_step_as_the_guide_says(monkeypatch):
    load_contrib()
    monkeypatch.setattr(steps, "_steps", dict(steps._steps))
    [block] = _blocks("plugin-check")
    namespace: dict = {}
    exec(compile(block, str(GUIDE), "exec"), namespace)  # noqa: S102 - the guide's own example
    info = steps.info("notify_utility")
    assert [p.name for p in info.params] == ["meter"] and [r.name for r in info.results] == ["utility_notified"]


def _catalogue_sections() -> dict[str, str]:
    text = _text()
    start = text.index("\n## Step catalogue\n")
    end = text.index("\n## ", start + 1)
    parts = re.split(r"^### `([^`]+)`[ \t]*$", text[start:end], flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_registered_step_is_described_with_its_parameters_and_results():
    """A plugin step without a section here fails this test: designers must find what they may use."""
    sections = _catalogue_sections()
    catalogue = step_catalogue()
    assert sorted(sections) == [step.name for step in catalogue], "the guide's step catalogue and the registry differ"
    for step in catalogue:
        for field in (*step.params, *step.results):
            assert f"`{field.name}`" in sections[step.name], f"{step.name}: «{field.name}» is not described"
