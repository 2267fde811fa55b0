"""The registry of automation steps BPMN service tasks call (Open Forms-style plugins).

A step is a function of :class:`~rathaus_domain.processes.engine.StepContext`; it returns the
data updates for the process. Steps that need the case (the application, the municipality)
read it from :func:`current_case`, which the process services set while the engine runs. Side
effects go through the outbox (:func:`rathaus.processes.outbox.outbox_add`) keyed by
``ctx.idempotency_key`` so a re-run step never sends twice.

New steps live in ``steps/contrib/<name>.py`` (or any installed module) and register with::

    from rathaus.processes.steps.registry import register

    @register("compute_fee", description="Gebühr nach DMN berechnen")
    def compute_fee(ctx): ...

A step whose literal parameters can be wrong (an address, a template name) also passes
``check_params``: a function of the parameters returning (German, English) problems, which
``rathaus check-process`` and the upload report with the element's id.

``params`` describes what the step reads, for the step catalogue on the process-model page and
for docs/processes.md (which must describe every registered step)::

    @register("compute_fee", description="Gebühr nach DMN berechnen",
              description_en="Compute the fee with a decision table",
              params=[StepParam("decision", "Id der Entscheidungstabelle", "id of the decision table", default="fee")])
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rathaus.core.plugins import import_submodules
from rathaus_domain.processes.engine import ServiceStepRegistry, StepInfo, StepParam

__all__ = ["CaseContext", "StepParam", "case_context", "current_case", "load_contrib", "register", "running_case",
           "step_catalogue", "steps"]

steps = ServiceStepRegistry()
register = steps.register


@dataclass
class CaseContext:
    """What Django-side steps may use while the engine runs for one case."""

    application: Any
    instance: Any
    model: Any
    # Plain-language lines for the case timeline that steps add (kind, text, public, data).
    notes: list[dict[str, Any]] = field(default_factory=list)
    # The transaction holds the application's row lock and read `application` under it (the process start).
    application_locked: bool = False
    # How many engine events the run has recorded so far: a note is placed among them by it (services._persist).
    events_so_far: Callable[[], int] = lambda: 0
    # The decision letter this move wrote last (issue_decision): the e-mails the process queues after
    # it in the same move tell her about it, and `outbox.outbox_add` links them to it.
    letter_id: int | None = None

    def note(self, text: str, *, kind: str = "step", public: bool = False, element_id: str = "", **data: Any) -> None:
        self.notes.append({"kind": kind, "text": text, "public": public, "element_id": element_id, "data": data,
                           "after": self.events_so_far()})


_current: contextvars.ContextVar[CaseContext | None] = contextvars.ContextVar("rathaus_case", default=None)


def current_case() -> CaseContext:
    """The case the engine is running for (only inside process services)."""
    case = _current.get()
    if case is None:
        raise RuntimeError("this step needs a case; it runs only inside the process services")
    return case


def running_case() -> CaseContext | None:
    """The case the engine is running for, or None outside a process's move."""
    return _current.get()


@contextlib.contextmanager
def case_context(case: CaseContext) -> Iterator[CaseContext]:
    token = _current.set(case)
    try:
        yield case
    finally:
        _current.reset(token)


def load_contrib() -> None:
    """Import every module in ``steps/contrib`` once, which registers its steps."""
    from . import contrib

    import_submodules(contrib)


def step_catalogue() -> list[StepInfo]:
    """Every registered step, plugins included, sorted by name: what service tasks may call."""
    load_contrib()
    return steps.catalogue()
