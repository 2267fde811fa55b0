"""Helpers for the process-core tests: fixture files, a fixed time, BPMN snippets, step recorder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rathaus_domain.processes.engine import ServiceStepRegistry, StepContext

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=1)))

BPMN_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:rathaus="urn:rathaus:bpmn:1"'
    ' xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="http://example.org/test">\n'
)


def fixture_bytes(name: str) -> bytes:
    """Raw content of a file in ``tests/fixtures``."""
    return (FIXTURES / name).read_bytes()


def bpmn(body: str, *, process_id: str = "p", executable: bool = True, root_extra: str = "") -> bytes:
    """A BPMN file with one process whose content is ``body``."""
    flag = "true" if executable else "false"
    return (
        BPMN_HEAD
        + root_extra
        + f'<bpmn:process id="{process_id}" isExecutable="{flag}">\n{body}\n</bpmn:process>\n</bpmn:definitions>\n'
    ).encode()


def linear(*elements: str) -> str:
    """Start event → elements (each with an id as first attribute value) → end event."""
    ids = ["start"]
    parts = ['<bpmn:startEvent id="start"/>']
    for element in elements:
        ids.append(element.split('id="', 1)[1].split('"', 1)[0])
        parts.append(element)
    ids.append("end")
    parts.append('<bpmn:endEvent id="end"/>')
    flows = [
        f'<bpmn:sequenceFlow id="flow{i}" sourceRef="{a}" targetRef="{b}"/>'
        for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False), start=1)
    ]
    return "\n".join(parts + flows)


class Recorder:
    """Registry whose steps record every call (to check idempotency keys, params, data)."""

    def __init__(self) -> None:
        self.registry = ServiceStepRegistry()
        self.calls: list[StepContext] = []

    def add(self, name: str, result: dict[str, Any] | Callable[[StepContext], Any] | None = None) -> None:
        def step(ctx: StepContext) -> Any:
            self.calls.append(ctx)
            return result(ctx) if callable(result) else result

        self.registry.add(name, step)

    def steps(self) -> list[str]:
        return [call.step for call in self.calls]
