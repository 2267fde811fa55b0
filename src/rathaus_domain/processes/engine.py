"""Process engine: SpiffWorkflow 3 runs the BPMN, everything that computes is ours.

* :class:`ProcessModel` parses BPMN with a subclass of SpiffWorkflow's ``BpmnParser`` whose
  task parsers read Camunda 7 / Camunda 8 (Zeebe) / Spiff / ``rathaus:`` attributes (see
  :mod:`.bpmnext`), and DMN with our own :mod:`.dmn`.
* A ``PythonScriptEngine`` subclass routes every condition, script, timer value and message
  correlation through :mod:`.evaluator`; business-rule tasks call :func:`.dmn.decide`; service
  tasks call steps of a :class:`ServiceStepRegistry`.  SpiffWorkflow's ``eval``/``exec`` are
  never reached.
* Timers read the time from the run's clock (or the ``now=`` passed to each call), never the
  wall clock directly, so schedulers and tests control time.
* :class:`ProcessRun` wraps one ``BpmnWorkflow``: start, run automatic steps until the process
  waits, list user tasks, complete them, deliver messages, fire timers, and serialize the state
  as JSON (SpiffWorkflow's ``BpmnWorkflowSerializer``) *without* the process definition — the
  model is passed back in on :meth:`ProcessRun.deserialize` and checked by digest.

A :class:`ProcessError` from any call means the in-memory run is in an undefined state:
discard it and reload the last saved state (the Django side rolls back its transaction).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from types import MappingProxyType
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from lxml import etree
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    BoundaryEventParser,
    EndEventParser,
    EventDefinitionParser,
    IntermediateCatchEventParser,
    IntermediateThrowEventParser,
    StartEventParser,
)
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.util import first
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import (
    BasePythonScriptEngineEnvironment,
    PythonScriptEngine,
)
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    TimerConditionalEventDefinitionConverter,
)
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_STATE_VERSION
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import (
    ScriptTask,
    ServiceTask,
    UserTask,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from . import bpmnext, checks, dmn
from .checks import Problem
from .dmn import DecisionResult, DmnError, DmnModel
from .errors import BilingualError
from .evaluator import ExpressionError, run_script
from .expressions import (
    add_duration,
    add_timedelta,
    check_timer,
    compile_process_expression,
    parse_cycle,
    parse_datetime,
    timer_literal_kind,
    timer_text,
)
from .xmlutil import XmlError, parse_xml

__all__ = [
    "MAX_AUTOMATIC_STEPS",
    "RESERVED_DATA_KEY",
    "MessageInvalid",
    "MessageNotExpected",
    "PendingTimer",
    "ProcessError",
    "ProcessEvent",
    "ProcessModel",
    "ProcessModelError",
    "ProcessRun",
    "ServiceStepRegistry",
    "StepContext",
    "StepFailed",
    "StepInfo",
    "StepParam",
    "UnknownStep",
    "UserTaskInfo",
    "check_message",
]

#: Automatic steps one call may run before the engine assumes an endless loop in the model.
MAX_AUTOMATIC_STEPS = 2_000
STATE_FORMAT = "rathaus-process-state"
STATE_VERSION = 1


# --------------------------------------------------------------------------------------------
# Errors


class ProcessError(BilingualError):
    """Running a process failed; names the BPMN element (and task) where it happened."""

    def __init__(
        self,
        message_de: str,
        message_en: str,
        *,
        element_id: str | None = None,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message_de, message_en, where=element_id)
        self.element_id = element_id
        self.task_id = task_id


class ProcessModelError(ProcessError):
    """A model could not be loaded; ``problems`` lists every finding of the check."""

    def __init__(
        self,
        message_de: str,
        message_en: str,
        *,
        element_id: str | None = None,
        file: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        super().__init__(message_de, message_en, element_id=element_id)
        self.file = file
        self.problems = list(problems)


class MessageNotExpected(ProcessError):
    """No part of the process can receive this message (now or later)."""


class MessageInvalid(ProcessError):
    """The message's data cannot be kept as process data (a reserved or invalid field name, a value
    of another type); bad input from outside, not a fault of the process, which stays as it was."""


class UnknownStep(ProcessError):
    """A service task names a step that is not in the registry."""


class StepFailed(ProcessError):
    """A step implementation raised; the original exception is ``__cause__``."""


def _task_error(task: Any, exc: BaseException) -> ProcessError:
    spec = task.task_spec
    where = getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name
    if isinstance(exc, ProcessError):
        return exc
    if isinstance(exc, ExpressionError | DmnError):
        de, en = exc.message_de, exc.message_en
    elif isinstance(exc, WorkflowException) and "No conditions satisfied" in str(exc):
        de = "Keine Bedingung des Gateways trifft zu und es gibt keinen Standardfluss"
        en = "no condition of the gateway matches and there is no default flow"
    else:
        detail = f"{type(exc).__name__}: {exc}"
        de, en = f"Interner Fehler: {detail}", f"internal error: {detail}"
    return ProcessError(f"«{where}»: {de}", f"«{where}»: {en}", element_id=getattr(spec, "bpmn_id", None), task_id=str(task.id))


# --------------------------------------------------------------------------------------------
# Automation steps


@dataclass(frozen=True)
class StepContext:
    """What a step implementation sees: a read-only copy of the task data and the call site."""

    step: str
    params: Mapping[str, Any]
    data: Mapping[str, Any]
    case_ref: str | None
    task_id: str
    element_id: str
    element_name: str | None
    now: datetime

    @property
    def idempotency_key(self) -> str:
        """Stable key for outgoing side effects of this step execution (outbox entries)."""
        return f"{self.case_ref or '-'}:{self.task_id}"


StepFunction = Callable[[StepContext], Mapping[str, Any] | None]
_F = TypeVar("_F", bound=StepFunction)
_STEP_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")


# Checks a step's literal parameters when a model is checked: (German, English) problems.
ParamCheck = Callable[[Mapping[str, str]], list[tuple[str, str]]]


@dataclass(frozen=True)
class StepParam:
    """A parameter a step reads from its service task (or a field it writes into the process data),
    described for process designers.

    ``decision``: the value names a DMN decision of the model; a literal (or the default) that is
    not among the model's decisions is reported by the check, as for a business-rule task.
    ``needs``: parameters the task must give as well when it gives this one (a literal or an
    expression); ``"a|b"`` is satisfied by either.
    """

    name: str
    description: str
    description_en: str = ""
    default: str | None = None
    decision: bool = False
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepInfo:
    """What the step catalogue shows of a registered step (German texts, English where given)."""

    name: str
    description: str
    description_en: str
    params: tuple[StepParam, ...]
    results: tuple[StepParam, ...]


@dataclass(frozen=True)
class _Step:
    name: str
    function: StepFunction
    description: str
    check_params: ParamCheck | None = None
    description_en: str = ""
    params: tuple[StepParam, ...] = ()
    results: tuple[StepParam, ...] = ()


class ServiceStepRegistry:
    """Named automation steps that BPMN service tasks call (Open Forms-style plugin registry).

    ::

        registry = ServiceStepRegistry()

        @registry.register("compute_fee", description="Gebühr berechnen")
        def compute_fee(ctx: StepContext) -> dict[str, Any]:
            return {"fee": 90}
    """

    def __init__(self) -> None:
        self._steps: dict[str, _Step] = {}

    def register(self, name: str, *, description: str = "", check_params: ParamCheck | None = None,
                 description_en: str = "", params: Sequence[StepParam] = (), results: Sequence[StepParam] = (),
                 ) -> Callable[[_F], _F]:
        """Decorator that registers a step function under ``name``."""

        def decorator(function: _F) -> _F:
            self.add(name, function, description=description, check_params=check_params,
                     description_en=description_en, params=params, results=results)
            return function

        return decorator

    def add(self, name: str, function: StepFunction, *, description: str = "",
            check_params: ParamCheck | None = None, description_en: str = "", params: Sequence[StepParam] = (),
            results: Sequence[StepParam] = ()) -> None:
        """Register ``function`` as step ``name``; names are unique.

        ``check_params`` checks the literal parameters a model gives the step (expressions are
        left out: their value is known only when the step runs), so a model uploaded with a
        wrong one is refused at once instead of failing when a case reaches the step.
        ``description`` (German), ``params`` (what the service task may pass) and ``results``
        (the fields the step writes into the process data) are what the step catalogue shows
        designers; ``description_en`` is the English text for the English interface.
        """
        if not _STEP_NAME_RE.match(name):
            raise ValueError(f"invalid step name {name!r}")
        if name in self._steps:
            raise ValueError(f"step {name!r} is already registered")
        names = [param.name for param in params]
        if len(set(names)) != len(names):
            raise ValueError(f"step {name!r} describes a parameter twice")
        self._steps[name] = _Step(name, function, description or (function.__doc__ or "").strip(), check_params,
                                  description_en, tuple(params), tuple(results))

    def param_problems(self, name: str, params: Mapping[str, str], *,
                       decisions: Collection[str] | None = None) -> list[tuple[str, str]]:
        """What is wrong with a service task's parameters for this step (German, English).

        Only literal values are checked (an expression's value is known when the step runs): by
        the step's own check and, with ``decisions`` (the model's decision ids), a parameter
        described as naming a decision must name one of them (its default when not given). A
        parameter given without one it ``needs`` is reported whatever the values.
        """
        step = self._steps.get(name)
        if step is None:
            return []
        problems: list[tuple[str, str]] = []
        literal = {key: value for key, value in params.items() if not bpmnext.is_expression_param(value)}
        for param in step.params:
            if decisions is None or not param.decision or (param.name in params and param.name not in literal):
                continue
            value = (literal.get(param.name) or param.default or "").strip()
            if value and value not in decisions:
                known = ", ".join(sorted(decisions)) or "—"
                problems.append((
                    f"Parameter «{param.name}»: die Entscheidung «{value[:100]}» fehlt in den DMN-Dateien (vorhanden: {known})",
                    f"parameter «{param.name}»: the decision «{value[:100]}» is missing from the DMN files (available: {known})",
                ))
        # Which parameters are given is known before any expression runs (check_params sees the literals only).
        given = {key for key, value in params.items() if str(value).strip()}
        for param in step.params:
            if param.name not in given:
                continue
            for need in param.needs:
                names = need.split("|")
                if not given.intersection(names):
                    de = " oder ".join(f"«{name}»" for name in names)
                    en = " or ".join(f"«{name}»" for name in names)
                    problems.append((f"Parameter «{param.name}» braucht {de}", f"parameter «{param.name}» needs {en}"))
        if step.check_params is not None:
            problems.extend(step.check_params(literal))
        return problems

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def names(self) -> list[str]:
        """Registered step names, sorted."""
        return sorted(self._steps)

    def describe(self, name: str) -> str:
        """The description given at registration (or the function's docstring)."""
        return self._steps[name].description

    def info(self, name: str) -> StepInfo:
        """Name, descriptions and described parameters of step ``name`` (for the catalogue)."""
        step = self._steps[name]
        return StepInfo(step.name, step.description, step.description_en, step.params, step.results)

    def catalogue(self) -> list[StepInfo]:
        """Every registered step, sorted by name, as designers may use it."""
        return [self.info(name) for name in self.names()]

    def run(self, name: str, ctx: StepContext) -> dict[str, Any]:
        """Run step ``name`` and return its data updates (a step may return None for none)."""
        step = self._steps.get(name)
        if step is None:
            raise UnknownStep(
                f"Automatisierungsschritt «{name}» ist nicht registriert",
                f"automation step «{name}» is not registered",
                element_id=ctx.element_id,
                task_id=ctx.task_id,
            )
        # A described parameter the task leaves out (or empty) gets its described default, the one
        # the catalogue shows and the model check reads: the step itself repeats none of them.
        defaults = {param.name: param.default for param in step.params
                    if param.default is not None and not ctx.params.get(param.name)}
        if defaults:
            ctx = replace(ctx, params=MappingProxyType({**ctx.params, **defaults}))
        try:
            result = step.function(ctx)
        except ProcessError:
            raise
        except Exception as exc:
            raise StepFailed(
                f"Schritt «{name}» ist fehlgeschlagen: {type(exc).__name__}: {exc}",
                f"step «{name}» failed: {type(exc).__name__}: {exc}",
                element_id=ctx.element_id,
                task_id=ctx.task_id,
            ) from exc
        if result is None:
            return {}
        if not isinstance(result, Mapping):
            raise StepFailed(
                f"Schritt «{name}» muss ein Dict zurückgeben, nicht {type(result).__name__}",
                f"step «{name}» must return a dict, not {type(result).__name__}",
                element_id=ctx.element_id,
                task_id=ctx.task_id,
            )
        return dict(result)


# --------------------------------------------------------------------------------------------
# Task data hygiene

_STORABLE_SCALARS = (str, int, float, bool, type(None), date, datetime, timedelta)
#: The one dict key task data cannot hold: Spiff's serializer reads it as a type tag.
RESERVED_DATA_KEY = "typename"
_DATA_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def is_data_key(name: object) -> bool:
    """Whether the process data may hold a field of this name (letters, digits, _; a letter first; not reserved)."""
    return isinstance(name, str) and _DATA_KEY.fullmatch(name) is not None and name != RESERVED_DATA_KEY


def _check_storable(value: Any, where: str, depth: int = 0) -> None:
    """Task data must survive JSON serialization; dict keys named "typename" confuse Spiff's."""
    if depth > 50:
        raise ValueError(f"{where}: nested too deeply")
    if isinstance(value, _STORABLE_SCALARS):
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_storable(item, where, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be strings, not {type(key).__name__}")
            if key == RESERVED_DATA_KEY:
                raise ValueError(f"{where}: the key 'typename' is reserved by the state serializer")
            _check_storable(item, where, depth + 1)
        return
    raise ValueError(f"{where}: values of type {type(value).__name__} cannot be stored")


def check_message(name: str, payload: Mapping[str, Any]) -> None:
    """Raise :class:`MessageInvalid` if message ``name`` could not deliver ``payload`` (checked first by
    :meth:`ProcessRun.deliver_message`; callers check before they load a run to keep bad input out)."""
    try:
        _check_updates(payload, f"Nachricht «{name}»", f"message «{name}»")
    except ProcessError as exc:
        raise MessageInvalid(exc.message_de, exc.message_en) from None


def _check_updates(updates: Mapping[str, Any], where_de: str, where_en: str, element_id: str | None = None) -> None:
    for key, value in updates.items():
        if not isinstance(key, str) or not key or key.startswith("_") or key == RESERVED_DATA_KEY:
            raise ProcessError(
                f"{where_de}: ungültiger Feldname {key!r}", f"{where_en}: invalid field name {key!r}", element_id=element_id
            )
        try:
            _check_storable(value, key)
        except ValueError as exc:
            raise ProcessError(f"{where_de}: {exc}", f"{where_en}: {exc}", element_id=element_id) from None


# --------------------------------------------------------------------------------------------
# Spec classes (what the parser builds)


class RathausUserTask(UserTask):  # type: ignore[misc]
    """User task with inbox data: candidate groups/users, assignee, form key, due date."""

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        *,
        config: bpmnext.UserTaskConfig | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.config = config or bpmnext.UserTaskConfig()


class RathausServiceTask(ServiceTask):  # type: ignore[misc]
    """Service task that runs a registered automation step."""

    def __init__(self, wf_spec: Any, bpmn_id: str, *, config: bpmnext.ServiceStepConfig, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.config = config

    def _execute(self, task: Any) -> bool:
        engine: _ScriptEngine = task.workflow.script_engine
        return engine.run_step(task, self)


class RathausBusinessRuleTask(ScriptEngineTask, BpmnSpecMixin):  # type: ignore[misc]
    """Business-rule task evaluated by our DMN engine (not SpiffWorkflow's)."""

    def __init__(self, wf_spec: Any, bpmn_id: str, *, config: bpmnext.DecisionConfig, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.config = config

    def _execute(self, task: Any) -> bool:
        engine: _ScriptEngine = task.workflow.script_engine
        return engine.run_decision(task, self)


class _ClockedTimer:
    """Mixin: timers ask the run's clock for the time and our evaluator for their value."""

    expression: str
    kind = "timeDuration"

    def _engine(self, my_task: Any) -> _ScriptEngine:
        engine: _ScriptEngine = my_task.workflow.script_engine
        return engine

    def due(self, my_task: Any) -> datetime | None:
        """When this timer fires (None until the timer has been reached)."""
        value = my_task._get_internal_data("event_value")
        if value is None:
            return None
        if isinstance(value, dict):
            return datetime.fromisoformat(value["next"]) if value.get("cycles", 0) != 0 else None
        return datetime.fromisoformat(value)

    def force(self, my_task: Any, now: datetime) -> None:
        """Make the timer fire at the next refresh."""
        my_task._set_internal_data(event_fired=True)


class _OneShotTimer(_ClockedTimer):
    """A timer that fires once: its due time is fixed when reached, then compared with the clock."""

    def _first_due(self, text: str, now: datetime) -> datetime:
        raise NotImplementedError

    def has_fired(self, my_task: Any) -> bool:
        if my_task._get_internal_data("event_fired", False):
            return True
        engine = self._engine(my_task)
        now = engine.now()
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = self._first_due(engine.timer_value(my_task, self.expression), now).isoformat()
            my_task._set_internal_data(event_value=value)
        if datetime.fromisoformat(value) <= now:
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class RathausTimeDateTimer(_OneShotTimer, TimeDateEventDefinition):  # type: ignore[misc]
    """``timeDate`` timer on the run's clock."""

    kind = "timeDate"

    def _first_due(self, text: str, now: datetime) -> datetime:
        return parse_datetime(text[:10] if len(text) == 10 else text, now.tzinfo)


class RathausDurationTimer(_OneShotTimer, DurationTimerEventDefinition):  # type: ignore[misc]
    """``timeDuration`` timer counted from when it is reached, on the run's clock."""

    kind = "timeDuration"

    def _first_due(self, text: str, now: datetime) -> datetime:
        return add_duration(text, now)


class RathausCycleTimer(_ClockedTimer, CycleTimerEventDefinition):  # type: ignore[misc]
    """``timeCycle`` timer (``R3/P7D``) on the run's clock; each occurrence releases one token."""

    kind = "timeCycle"

    def cycle_complete(self, my_task: Any) -> bool:
        engine = self._engine(my_task)
        now = engine.now()
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            cycle = parse_cycle(engine.timer_value(my_task, self.expression), now)
            event_value = {"cycles": cycle.cycles, "next": cycle.start.isoformat(), "duration": cycle.interval.total_seconds(),
                           "interval": cycle.interval_text, "anchor": cycle.start.isoformat(), "local": cycle.local,
                           "zone": getattr(now.tzinfo, "key", None) if cycle.local else None, "count": 0}
        ready = False
        if event_value["cycles"] != 0:
            next_event = datetime.fromisoformat(event_value["next"])
            if next_event <= now:
                if event_value.get("interval"):
                    # R/P1D: the same time of day, also after the clocks change; each occurrence counted
                    # from the first (R/P1M from 31 January: 28 February, then 31 March, not 28 March).
                    anchor = datetime.fromisoformat(event_value["anchor"])
                    if event_value.get("zone"):  # back on the run's clock: its zone, not the offset stored
                        anchor = anchor.astimezone(ZoneInfo(event_value["zone"]))
                    elif event_value["local"]:
                        anchor = anchor.astimezone(now.tzinfo)
                    event_value["count"] += 1
                    following = add_duration(event_value["interval"], anchor, times=event_value["count"])
                else:  # stored before the interval was kept: as many seconds as the first one lasted
                    following = next_event + timedelta(seconds=event_value["duration"])
                event_value["next"] = following.isoformat()
                event_value["cycles"] -= 1
                ready = True
                engine._run._record("timer_fired", my_task, {"expression": self.expression, "cycle": True})
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
            return ready
        my_task._set_internal_data(event_value=event_value)
        return ready

    def force(self, my_task: Any, now: datetime) -> None:
        value = my_task._get_internal_data("event_value")
        if isinstance(value, dict) and value.get("cycles", 0) != 0:
            value["next"] = now.isoformat()


_TIMER_CLASSES = {"timeDate": RathausTimeDateTimer, "timeDuration": RathausDurationTimer, "timeCycle": RathausCycleTimer}


# --------------------------------------------------------------------------------------------
# Parser


class _TimerParsing(EventDefinitionParser):  # type: ignore[misc]
    """Builds our clocked timers; values are checked now rather than when the timer is reached."""

    def parse_timer_event(self, event: Any) -> TimerEventDefinition:
        description = self.get_event_description(event)
        name = self.node.get("name", self.node.get("id"))
        for kind, cls in _TIMER_CLASSES.items():
            node = first(self.xpath(f".//bpmn:{kind}"))
            if node is None:
                continue
            text = "".join(node.itertext()).strip()
            try:
                check_timer(kind, text)
            except ExpressionError as exc:
                raise ValidationException(f"Timer: {exc}", node=self.node, file_name=self.filename) from None
            return cls(name, text, description=description)
        raise ValidationException("Timer without timeDate, timeDuration or timeCycle", node=self.node, file_name=self.filename)


class _StartEventParser(_TimerParsing, StartEventParser):  # type: ignore[misc]
    pass


class _EndEventParser(_TimerParsing, EndEventParser):  # type: ignore[misc]
    pass


class _IntermediateCatchEventParser(_TimerParsing, IntermediateCatchEventParser):  # type: ignore[misc]
    pass


class _IntermediateThrowEventParser(_TimerParsing, IntermediateThrowEventParser):  # type: ignore[misc]
    pass


class _BoundaryEventParser(_TimerParsing, BoundaryEventParser):  # type: ignore[misc]
    pass


def _config_or_raise(parser: Any, read: Callable[[Any], Any]) -> Any:
    try:
        return read(parser.node)
    except bpmnext.ConfigError as exc:
        raise ValidationException(str(exc), node=parser.node, file_name=parser.filename) from None


class _UserTaskParser(TaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        config = _config_or_raise(self, bpmnext.user_task_config)
        return self.spec_class(self.spec, self.bpmn_id, config=config, **self.bpmn_attributes)


class _ServiceTaskParser(TaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        config = _config_or_raise(self, bpmnext.service_step_config)
        return self.spec_class(self.spec, self.bpmn_id, config=config, **self.bpmn_attributes)


class _BusinessRuleTaskParser(TaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        config = _config_or_raise(self, bpmnext.decision_config)
        decisions: DmnModel = self.process_parser.parser.dmn_model
        if config.decision_ref not in decisions:
            raise ValidationException(
                f"Decision {config.decision_ref!r} is not in the DMN files", node=self.node, file_name=self.filename
            )
        return self.spec_class(self.spec, self.bpmn_id, config=config, **self.bpmn_attributes)


class _ScriptTaskParser(TaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        script = _config_or_raise(self, bpmnext.script_source)
        return self.spec_class(self.spec, self.bpmn_id, script=script, **self.bpmn_attributes)


class _Parser(BpmnParser):  # type: ignore[misc]
    """SpiffWorkflow's BPMN parser with our task parsers and spec classes."""

    OVERRIDE_PARSER_CLASSES = {
        full_tag("userTask"): (_UserTaskParser, RathausUserTask),
        full_tag("serviceTask"): (_ServiceTaskParser, RathausServiceTask),
        full_tag("businessRuleTask"): (_BusinessRuleTaskParser, RathausBusinessRuleTask),
        full_tag("scriptTask"): (_ScriptTaskParser, ScriptTask),
        full_tag("startEvent"): (_StartEventParser, BpmnParser.PARSER_CLASSES[full_tag("startEvent")][1]),
        full_tag("endEvent"): (_EndEventParser, BpmnParser.PARSER_CLASSES[full_tag("endEvent")][1]),
        full_tag("intermediateCatchEvent"): (
            _IntermediateCatchEventParser,
            BpmnParser.PARSER_CLASSES[full_tag("intermediateCatchEvent")][1],
        ),
        full_tag("intermediateThrowEvent"): (
            _IntermediateThrowEventParser,
            BpmnParser.PARSER_CLASSES[full_tag("intermediateThrowEvent")][1],
        ),
        full_tag("boundaryEvent"): (_BoundaryEventParser, BpmnParser.PARSER_CLASSES[full_tag("boundaryEvent")][1]),
    }

    def __init__(self, dmn_model: DmnModel) -> None:
        super().__init__()
        self.dmn_model = dmn_model


# --------------------------------------------------------------------------------------------
# Model


def _named(files: Sequence[bytes | tuple[str, bytes]], kind: str) -> list[tuple[str, bytes]]:
    named: list[tuple[str, bytes]] = []
    for index, item in enumerate(files, start=1):
        if isinstance(item, tuple):
            named.append((str(item[0]), bytes(item[1])))
        else:
            named.append((f"{kind}-{index}", bytes(item)))
    return named


@dataclass(frozen=True, eq=False)
class ProcessModel:
    """A parsed, checked and runnable process (BPMN) with its decisions (DMN)."""

    process_id: str
    name: str
    spec: Any
    subprocess_specs: Mapping[str, Any]
    dmn: DmnModel
    digest: str
    files: tuple[str, ...]
    warnings: tuple[Problem, ...] = ()

    @classmethod
    def from_files(
        cls,
        bpmn_files: Sequence[bytes | tuple[str, bytes]],
        dmn_files: Sequence[bytes | tuple[str, bytes]] = (),
        *,
        process_id: str | None = None,
        registry: ServiceStepRegistry | None = None,
        checked: bool = True,
    ) -> ProcessModel:
        """Parse BPMN and DMN files (raw bytes or ``(name, bytes)`` pairs) into a model.

        The model is checked first (:mod:`.checks`); any error raises
        :class:`ProcessModelError` listing all problems. ``process_id`` picks the process to
        run when the files define several top-level executable processes. With a
        ``registry``, service tasks must name registered steps.

        ``checked=False`` loads a model that passed the check when it was published, without
        checking it again: the check grows stricter between releases, and a model published
        before must keep running its cases (every expression still goes through the safe
        evaluator when it runs; what the parser cannot build is still refused).
        """
        bpmn_named = _named(bpmn_files, "bpmn")
        dmn_named = _named(dmn_files, "dmn")
        if not bpmn_named:
            raise ProcessModelError("Keine BPMN-Datei übergeben", "no BPMN file given")
        digest = hashlib.sha256()
        for name, data in [*bpmn_named, *dmn_named]:
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())

        models = []
        for name, data in dmn_named:
            try:
                models.append(dmn.load_dmn(data, file=name))
            except DmnError as exc:
                raise ProcessModelError(exc.message_de, exc.message_en, element_id=exc.element_id, file=name) from None
        try:
            dmn_model = DmnModel.merge(models)
        except DmnError as exc:
            raise ProcessModelError(exc.message_de, exc.message_en, element_id=exc.element_id, file=exc.file) from None

        roots: list[tuple[str, etree._Element]] = []
        for name, data in bpmn_named:
            try:
                roots.append((name, parse_xml(data)))
            except XmlError as exc:
                raise ProcessModelError(exc.message_de, exc.message_en, file=name) from None
        available = [pid for _, root in roots for pid in checks.executable_process_ids(root)]
        problems: list[Problem] = []
        for name, root in roots if checked else ():
            problems.extend(
                checks.check_bpmn(
                    root,
                    name,
                    decisions=set(dmn_model.decisions),
                    steps=set(registry.names()) if registry is not None else None,
                    process_ids=available,
                )
            )
        errors = [p for p in problems if p.severity == checks.ERROR]
        if errors:
            first_error = errors[0]
            more_de = f" (und {len(errors) - 1} weitere Probleme)" if len(errors) > 1 else ""
            more_en = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise ProcessModelError(
                first_error.message_de + more_de,
                first_error.message_en + more_en,
                element_id=first_error.element_id,
                file=first_error.file,
                problems=problems,
            )

        parser = _Parser(dmn_model)
        try:
            for name, root in roots:
                parser.add_bpmn_xml(root, filename=name)
            chosen = process_id or _main_process(roots, available)
            spec = parser.get_spec(chosen)
            subprocess_specs = parser.get_subprocess_specs(chosen)
        except ProcessModelError:
            raise
        except ValidationException as exc:
            raise ProcessModelError(
                f"Modell ungültig: {exc}", f"invalid model: {exc}", element_id=exc.id or None, file=exc.file_name or None
            ) from None
        except Exception as exc:
            raise ProcessModelError(
                f"Modell ungültig: {type(exc).__name__}: {exc}", f"invalid model: {type(exc).__name__}: {exc}"
            ) from None
        digest.update(b"\0process\0" + chosen.encode())
        return cls(
            process_id=chosen,
            name=str(spec.description or chosen),
            spec=spec,
            subprocess_specs=subprocess_specs,
            dmn=dmn_model,
            digest=digest.hexdigest(),
            files=tuple(name for name, _ in [*bpmn_named, *dmn_named]),
            warnings=tuple(problems),
        )

    def reminder_timer_ids(self) -> frozenset[str]:
        """Element ids of the timers that let the task they are attached to go on (non-interrupting
        boundary events): a reminder when they fire, not the end of what the task waits for."""
        ids: set[str] = set()
        for spec in [self.spec, *self.subprocess_specs.values()]:
            for task_spec in spec.task_specs.values():
                if (getattr(task_spec, "cancel_activity", True) is False
                        and isinstance(getattr(task_spec, "event_definition", None), _ClockedTimer)):
                    ids.add(str(task_spec.bpmn_id))
        return frozenset(ids)

    def step_names(self) -> set[str]:
        """Names of all automation steps the model's service tasks call."""
        names: set[str] = set()
        for spec in [self.spec, *self.subprocess_specs.values()]:
            for task_spec in spec.task_specs.values():
                if isinstance(task_spec, RathausServiceTask):
                    names.add(task_spec.config.step)
        return names


def _main_process(roots: Sequence[tuple[str, etree._Element]], available: Sequence[str]) -> str:
    called = {
        str(node.get("calledElement"))
        for _, root in roots
        for node in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}callActivity")
    }
    candidates = [pid for pid in available if pid not in called]
    if len(candidates) != 1:
        listed = ", ".join(candidates or available) or "—"
        raise ProcessModelError(
            f"Bitte den zu startenden Prozess angeben (process_id): {listed}",
            f"please choose the process to start (process_id): {listed}",
        )
    return candidates[0]


# --------------------------------------------------------------------------------------------
# Script engine (SpiffWorkflow's extension point for all evaluation)


class _SafeEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """SpiffWorkflow also calls the environment directly (message correlations): safe too."""

    def __init__(self, engine: _ScriptEngine) -> None:
        super().__init__({})
        self._engine = engine

    def evaluate(self, expression: str, context: Mapping[str, Any], external_context: Any = None) -> Any:
        scope = {**(external_context or {}), **context}
        return compile_process_expression(expression).evaluate(scope, now=self._engine.now())

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        context.update(run_script(script, {**(external_context or {}), **context}, now=self._engine.now()))
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ProcessError("Nicht unterstützt", "not supported")


class _ScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """Routes conditions, scripts, timers, decisions and steps to our implementations."""

    def __init__(self, run: ProcessRun) -> None:
        super().__init__(environment=_SafeEnvironment(self))
        self._run = run

    def now(self) -> datetime:
        return self._run._current_time()

    @staticmethod
    def _scope(task: Any, external_context: Any = None) -> dict[str, Any]:
        if external_context:
            return {**external_context, **task.data}
        return task.data  # type: ignore[no-any-return]

    def validate(self, expression: str) -> None:
        compile_process_expression(expression)

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        try:
            return compile_process_expression(expression).evaluate(self._scope(task, external_context), now=self.now())
        except ExpressionError as exc:
            raise _task_error(task, exc) from None

    def execute(self, task: Any, script: str, external_context: Any = None) -> bool:
        try:
            changes = run_script(script, self._scope(task, external_context), now=self.now())
        except ExpressionError as exc:
            raise _task_error(task, exc) from None
        _check_updates(changes, "Skript", "script", task.task_spec.bpmn_id)
        task.data.update(changes)
        self._run._record("script", task, {"changed": sorted(changes)})
        return True

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise _task_error(task, ProcessError("Nicht unterstützt", "not supported"))

    def timer_value(self, task: Any, expression: str) -> str:
        """ISO text of a timer: a literal as written, or the value of its expression."""
        text = (expression or "").strip()
        if timer_literal_kind(text) is not None:
            return text
        try:
            return timer_text(compile_process_expression(text).evaluate(task.data, now=self.now()))
        except ExpressionError as exc:
            raise _task_error(task, exc) from None

    def run_step(self, task: Any, spec: RathausServiceTask) -> bool:
        config = spec.config
        registry = self._run.registry
        if registry is None or config.step not in registry:
            raise UnknownStep(
                f"Automatisierungsschritt «{config.step}» ist nicht registriert",
                f"automation step «{config.step}» is not registered",
                element_id=spec.bpmn_id,
                task_id=str(task.id),
            )
        params: dict[str, Any] = {}
        for name, raw in config.params.items():
            if bpmnext.is_expression_param(raw):
                try:
                    params[name] = compile_process_expression(raw).evaluate(task.data, now=self.now())
                except ExpressionError as exc:
                    raise _task_error(task, exc) from None
            else:
                params[name] = raw
        context = StepContext(
            step=config.step,
            params=MappingProxyType(params),
            data=MappingProxyType(copy.deepcopy(task.data)),
            case_ref=self._run.case_ref,
            task_id=str(task.id),
            element_id=spec.bpmn_id,
            element_name=spec.bpmn_name,
            now=self.now(),
        )
        updates = registry.run(config.step, context)
        _check_updates(updates, f"Schritt «{config.step}»", f"step «{config.step}»", spec.bpmn_id)
        if config.result_variable:
            task.data[config.result_variable] = copy.deepcopy(updates)
        else:
            task.data.update(copy.deepcopy(updates))
        self._run._record("step", task, {"step": config.step, "params": _jsonable(params), "updated": sorted(updates)})
        return True

    def run_decision(self, task: Any, spec: RathausBusinessRuleTask) -> bool:
        config = spec.config
        try:
            result = dmn.decide(self._run.model.dmn, config.decision_ref, task.data, now=self.now())
            value = _map_decision_result(result, config.map_result)
        except DmnError as exc:
            raise _task_error(task, exc) from None
        if config.result_variable:
            updates = {config.result_variable: value}
        elif isinstance(result.output, dict):
            updates = dict(result.output)
        else:
            updates = {config.decision_ref: value}
        _check_updates(updates, "Entscheidung", "decision", spec.bpmn_id)
        task.data.update(updates)
        self._run._record("decision", task, result.to_dict())
        return True


def _map_decision_result(result: DecisionResult, mapping: str | None) -> Any:
    """Camunda's ``mapDecisionResult``; without it the natural shape of :mod:`.dmn`."""
    if mapping is None:
        return result.output
    rows = result.output if isinstance(result.output, list) else ([] if result.output is None else [result.output])
    if not all(isinstance(row, dict) for row in rows):
        rows = [{result.decision_id: result.output}]
    if mapping == "resultList":
        return rows
    if mapping == "collectEntries":
        if any(len(row) != 1 for row in rows):
            raise DmnError("collectEntries braucht genau eine Ausgabe", "collectEntries needs exactly one output")
        return [next(iter(row.values())) for row in rows]
    if len(rows) > 1:
        raise DmnError(f"{mapping}: mehr als ein Ergebnis", f"{mapping}: more than one result")
    if mapping == "singleResult":
        return rows[0] if rows else None
    if not rows:
        return None
    if len(rows[0]) != 1:
        raise DmnError("singleEntry braucht genau eine Ausgabe", "singleEntry needs exactly one output")
    return next(iter(rows[0].values()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


# --------------------------------------------------------------------------------------------
# Serialization (state only; the model comes back in through ProcessRun.deserialize)


class _StateConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Workflow converter that leaves the process definition out of the state."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        workflow = self.target_class(spec, dict(subprocess_specs or {}), deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_SCALARS = frozenset({str, int, float, bool, type(None)})


class _StateRegistry(DefaultRegistry):  # type: ignore[misc]
    """Spiff's registry with a fast path for JSON values, which is nearly all task data.

    Spiff converts every value through a type lookup and a generator; task data (the whole
    form for every task) made that a quarter of a run. The result is the same: callables
    dropped from dicts, registered types converted by the registry.
    """

    def convert(self, obj: Any) -> Any:
        cls = obj.__class__
        if cls in _SCALARS:
            return obj
        if cls is dict:
            return {key: self.convert(value) for key, value in obj.items() if not callable(value)}
        if cls is list:
            return [self.convert(item) for item in obj]
        return super().convert(obj)

    def restore(self, val: Any, **kwargs: Any) -> Any:
        cls = val.__class__
        if cls in _SCALARS:
            return val
        if cls is dict and "typename" not in val:
            return {key: self.restore(value, **kwargs) for key, value in val.items()}
        if cls is list:
            return [self.restore(item, **kwargs) for item in val]
        return super().restore(val, **kwargs)


def _make_serializer() -> Any:
    config = dict(DEFAULT_CONFIG)
    config[BpmnWorkflow] = _StateConverter
    for timer_class in _TIMER_CLASSES.values():
        config[timer_class] = TimerConditionalEventDefinitionConverter
    registry = _StateRegistry()
    # Dates from forms and decisions; Spiff only knows datetime and timedelta.
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config, registry))


_SERIALIZER = _make_serializer()


# --------------------------------------------------------------------------------------------
# Runs


@dataclass(frozen=True)
class ProcessEvent:
    """Something that happened while running, for the audit trail and the case timeline."""

    kind: str
    at: datetime
    element_id: str | None
    element_name: str | None
    task_id: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UserTaskInfo:
    """A user task that waits for staff."""

    id: str
    element_id: str
    name: str | None
    lane: str | None
    candidate_groups: tuple[str, ...]
    candidate_users: tuple[str, ...]
    assignee: str | None
    form_key: str | None
    due: datetime | None
    ready_since: datetime | None
    documentation: str | None
    data: dict[str, Any]


class PendingTimer(tuple[str, datetime]):
    """``(task_id, due)`` of a timer the process waits for; ``element_id`` names the event."""

    element_id: str | None

    def __new__(cls, task_id: str, due: datetime, element_id: str | None = None) -> PendingTimer:
        instance = super().__new__(cls, (task_id, due))
        instance.element_id = element_id
        return instance

    @property
    def task_id(self) -> str:
        """Id of the timer's task (pass it to :meth:`ProcessRun.fire_timer`)."""
        return self[0]

    @property
    def due(self) -> datetime:
        """When the timer fires."""
        return self[1]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _end_of_day(day: date, reference: datetime) -> datetime:
    """The last second of ``day`` in ``reference``'s zone: a task due on a day is not overdue during it."""
    return datetime.combine(day, time(23, 59, 59), reference.tzinfo)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times passed to the process engine must be timezone-aware")
    return moment


class ProcessRun:
    """One running instance of a :class:`ProcessModel`.

    Every method that moves the process accepts ``now=`` (an aware datetime); otherwise the
    ``clock`` given to the constructor (default: UTC wall clock) tells the time.
    """

    def __init__(
        self,
        model: ProcessModel,
        *,
        registry: ServiceStepRegistry | None = None,
        case_ref: str | None = None,
        clock: Callable[[], datetime] | None = None,
        _workflow: Any = None,
    ) -> None:
        self.model = model
        self.registry = registry
        self.case_ref = case_ref
        self._clock = clock or _wall_clock
        self._now: datetime | None = None
        self._events: list[ProcessEvent] = []
        self._engine = _ScriptEngine(self)
        if _workflow is None:
            _workflow = BpmnWorkflow(model.spec, dict(model.subprocess_specs), script_engine=self._engine)
        else:
            _workflow.script_engine = self._engine
        self._wf = _workflow

    # -- time ------------------------------------------------------------------------------
    def _current_time(self) -> datetime:
        return self._now if self._now is not None else _aware(self._clock())

    @contextmanager
    def _at(self, now: datetime | None) -> Iterator[None]:
        previous = self._now
        self._now = _aware(now) if now is not None else _aware(self._clock())
        try:
            yield
        finally:
            self._now = previous

    # -- events ----------------------------------------------------------------------------
    def _record(self, kind: str, task: Any = None, details: dict[str, Any] | None = None) -> None:
        spec = task.task_spec if task is not None else None
        self._events.append(
            ProcessEvent(
                kind=kind,
                at=self._current_time(),
                element_id=getattr(spec, "bpmn_id", None),
                element_name=getattr(spec, "bpmn_name", None),
                task_id=str(task.id) if task is not None else None,
                details=details or {},
            )
        )

    @property
    def events(self) -> list[ProcessEvent]:
        """Events recorded since the run object was created or last drained."""
        return list(self._events)

    @property
    def event_count(self) -> int:
        """How many events are recorded and not yet drained: where a note made now belongs among them."""
        return len(self._events)

    def drain_events(self) -> list[ProcessEvent]:
        """Return and forget the recorded events (write them to the audit trail)."""
        events, self._events = self._events, []
        return events

    # -- state -----------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """Whether :meth:`start` has run."""
        return bool(self._wf.task_tree.state != TaskState.READY)

    @property
    def completed(self) -> bool:
        """Whether the process has reached its end."""
        return bool(self._wf.is_completed())

    @property
    def data(self) -> dict[str, Any]:
        """Current process data (of the most recently completed step; final data at the end)."""
        if self._wf.is_completed():
            return copy.deepcopy(dict(self._wf.data))
        task = self._wf.last_task or self._wf.task_tree
        return copy.deepcopy(dict(task.data))

    def current_element_ids(self) -> list[str]:
        """BPMN ids of elements that are ready, waiting or running (for the diagram)."""
        mask = TaskState.READY | TaskState.WAITING | TaskState.STARTED
        return _unique(t.task_spec.bpmn_id for t in self._wf.get_tasks(state=mask) if getattr(t.task_spec, "bpmn_id", None))

    def completed_element_ids(self) -> list[str]:
        """BPMN ids of elements already completed (for the diagram)."""
        return _unique(
            t.task_spec.bpmn_id for t in self._wf.get_tasks(state=TaskState.COMPLETED) if getattr(t.task_spec, "bpmn_id", None)
        )

    # -- moving the process ----------------------------------------------------------------
    def start(self, data: Mapping[str, Any] | None = None, *, now: datetime | None = None, advance: bool = True) -> None:
        """Start the process with ``data`` and (by default) run automatic steps until it waits."""
        if self.started:
            raise ProcessError("Der Prozess läuft bereits", "the process has already been started")
        initial = dict(data or {})
        _check_updates(initial, "Startdaten", "start data")
        with self._at(now):
            self._wf.task_tree.data.update(copy.deepcopy(initial))
            self._record("process_started", None, {"process_id": self.model.process_id})
            self._guard(lambda: self._wf.task_tree.run(), self._wf.task_tree)
            if advance:
                self._advance()

    def advance(self, *, now: datetime | None = None) -> None:
        """Run automatic steps and fire due timers until the process waits or ends."""
        with self._at(now):
            self._advance()

    def ready_user_tasks(self) -> list[UserTaskInfo]:
        """User tasks waiting for staff, with inbox data."""
        return [self._user_task_info(t) for t in self._ready_user_tasks()]

    def complete_user_task(
        self, task_id: str, data: Mapping[str, Any] | None = None, *, now: datetime | None = None, advance: bool = True
    ) -> None:
        """Complete a ready user task with the form ``data`` and continue the process."""
        updates = dict(data or {})
        with self._at(now):
            task = self._find_task(task_id)
            if not isinstance(task.task_spec, UserTask) or task.state != TaskState.READY:
                raise ProcessError(
                    "Diese Aufgabe ist keine offene Benutzeraufgabe",
                    "this task is not an open user task",
                    element_id=getattr(task.task_spec, "bpmn_id", None),
                    task_id=task_id,
                )
            _check_updates(updates, "Formulardaten", "form data", task.task_spec.bpmn_id)
            task.data.update(copy.deepcopy(updates))
            self._guard(task.run, task)
            self._record("user_task_completed", task, {"fields": sorted(updates)})
            if advance:
                self._advance()

    def deliver_message(
        self, name: str, payload: Mapping[str, Any] | None = None, *, now: datetime | None = None, advance: bool = True
    ) -> None:
        """Deliver BPMN message ``name``; its payload is merged into the receiving task's data.

        Raises :class:`MessageNotExpected` if no part of the process can receive it, and
        :class:`MessageInvalid` (before anything happens) if the payload cannot be kept.
        """
        body = dict(payload or {})
        check_message(name, body)
        with self._at(now):
            event = BpmnEvent(MessageEventDefinition(name), payload=copy.deepcopy(body))
            try:
                self._wf.send_event(event)
            except WorkflowException as exc:
                if "not waiting" in str(exc):
                    raise MessageNotExpected(
                        f"Der Prozess erwartet die Nachricht «{name}» nicht",
                        f"the process does not expect the message «{name}»",
                    ) from None
                raise ProcessError(f"Nachricht «{name}»: {exc}", f"message «{name}»: {exc}") from None
            except ProcessError:
                raise
            except Exception as exc:
                raise ProcessError(f"Nachricht «{name}»: {exc}", f"message «{name}»: {exc}") from exc
            self._record("message_received", None, {"message": name, "fields": sorted(body)})
            if advance:
                self._advance()

    def waiting_messages(self) -> list[str]:
        """Names of messages the process is waiting for right now."""
        names = []
        for task in self._wf.get_tasks(state=TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            # An event-based gateway waits with a MultipleEventDefinition of its successors.
            for candidate in getattr(definition, "event_definitions", None) or [definition]:
                if isinstance(candidate, MessageEventDefinition) and candidate.name:
                    names.append(candidate.name)
        return _unique(names)

    def pending_timers(self) -> list[PendingTimer]:
        """Timers the process waits for, soonest first: ``(task_id, due)`` pairs."""
        timers: list[PendingTimer] = []
        for task in self._wf.get_tasks(state=TaskState.NOT_FINISHED_MASK):
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, _ClockedTimer) or task._get_internal_data("event_fired", False):
                continue
            due = definition.due(task)
            if due is not None:
                timers.append(PendingTimer(str(task.id), due, task.task_spec.bpmn_id))
        return sorted(timers, key=lambda timer: timer.due)

    def fire_timer(self, task_id: str, *, now: datetime | None = None, advance: bool = True) -> None:
        """Fire a pending timer now, whatever its due time (the scheduler found it due)."""
        with self._at(now):
            task = self._find_task(task_id)
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, _ClockedTimer) or task.has_state(TaskState.FINISHED_MASK):
                raise ProcessError("Diese Aufgabe ist kein wartender Timer", "this task is not a pending timer", task_id=task_id)
            definition.force(task, self._current_time())
            self._guard(self._wf.refresh_waiting_tasks, task)
            if advance:
                self._advance()

    # -- persistence -----------------------------------------------------------------------
    def serialize(self) -> str:
        """The run's state as JSON (without the model; see :meth:`deserialize`)."""
        try:
            workflow = _SERIALIZER.to_dict(self._wf)
        except Exception as exc:
            raise ProcessError(f"Zustand nicht speicherbar: {exc}", f"state cannot be serialized: {exc}") from exc
        envelope = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "spiff_version": SPIFF_STATE_VERSION,
            "model_digest": self.model.digest,
            "process_id": self.model.process_id,
            "workflow": workflow,
        }
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def deserialize(
        cls,
        model: ProcessModel,
        state: str,
        *,
        registry: ServiceStepRegistry | None = None,
        case_ref: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> ProcessRun:
        """Restore a run saved with :meth:`serialize`; ``model`` must be the one it ran on."""
        try:
            envelope = json.loads(state)
        except (TypeError, ValueError) as exc:
            raise ProcessError(f"Zustand unlesbar: {exc}", f"state unreadable: {exc}") from None
        if not isinstance(envelope, dict) or envelope.get("format") != STATE_FORMAT:
            raise ProcessError("Kein Rathaus-Prozesszustand", "not a Rathaus process state")
        if envelope.get("version") != STATE_VERSION or envelope.get("spiff_version") != SPIFF_STATE_VERSION:
            raise ProcessError("Zustand hat eine unbekannte Version", "state has an unknown version")
        if envelope.get("model_digest") != model.digest:
            raise ProcessError(
                "Der Zustand gehört zu einer anderen Modellversion", "the state belongs to a different model version"
            )
        try:
            workflow = _SERIALIZER.from_dict(envelope["workflow"], spec=model.spec, subprocess_specs=model.subprocess_specs)
        except Exception as exc:
            raise ProcessError(f"Zustand nicht ladbar: {exc}", f"state cannot be loaded: {exc}") from exc
        return cls(model, registry=registry, case_ref=case_ref, clock=clock, _workflow=workflow)

    # -- internals -------------------------------------------------------------------------
    def _find_task(self, task_id: str) -> Any:
        try:
            task = self._wf.get_task_from_id(UUID(str(task_id)))
        except (ValueError, SpiffWorkflowException):
            task = None
        if task is None:
            raise ProcessError(f"Aufgabe {task_id} nicht gefunden", f"task {task_id} not found", task_id=str(task_id))
        return task

    def _guard(self, action: Callable[[], Any], task: Any) -> Any:
        try:
            return action()
        except ProcessError as exc:
            if exc.task_id is None and task is not None:
                exc.task_id = str(task.id)
            raise
        except Exception as exc:
            raise _task_error(task, exc) from exc

    def _ready_user_tasks(self) -> list[Any]:
        return [t for t in self._wf.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, UserTask)]

    def _run_ready(self, workflow: Any, budget: list[int]) -> int:
        """Run ready automatic tasks, following each task's children depth-first.

        Following children directly avoids a scan of the whole task tree per step, which is
        what makes SpiffWorkflow's own ``do_engine_steps`` slow on longer processes.
        """
        count = 0
        pending = deque(t for t in workflow.get_tasks(state=TaskState.READY) if not t.task_spec.manual)
        while pending:
            task = pending.popleft()
            if task.state != TaskState.READY or task.task_spec.manual:
                continue
            budget[0] += 1
            if budget[0] > MAX_AUTOMATIC_STEPS:
                raise ProcessError(
                    f"Mehr als {MAX_AUTOMATIC_STEPS} automatische Schritte am Stück (Endlosschleife im Modell?)",
                    f"more than {MAX_AUTOMATIC_STEPS} automatic steps in a row (endless loop in the model?)",
                    element_id=getattr(task.task_spec, "bpmn_id", None),
                    task_id=str(task.id),
                )
            definition = getattr(task.task_spec, "event_definition", None)
            self._guard(task.run, task)
            if isinstance(definition, _ClockedTimer) and not isinstance(definition, RathausCycleTimer):
                self._record("timer_fired", task, {"expression": definition.expression})
            count += 1
            pending.extendleft(reversed([c for c in task.children if c.state == TaskState.READY and not c.task_spec.manual]))
        return count

    def _advance(self) -> None:
        # SpiffWorkflow's do_engine_steps, but iterative and with a step budget: a model with a
        # loop of automatic steps must fail with a message, not hang or hit the recursion limit.
        wf = self._wf
        was_completed = wf.is_completed()
        budget = [0]
        while True:
            active = wf.get_active_subprocesses()
            ran = 0
            for subprocess in sorted(active, key=lambda sp: sp.depth, reverse=True):
                ran += self._run_ready(subprocess, budget)
                if subprocess.parent_task_id is not None:
                    parent = wf.get_task_from_id(subprocess.parent_task_id)
                    self._guard(partial(parent.task_spec._update, parent), parent)
            ran += self._run_ready(wf, budget)
            if ran == 0 and len(wf.get_active_subprocesses()) <= len(active):
                self._guard(wf.refresh_waiting_tasks, None)
                if not any(not t.task_spec.manual for t in wf.get_tasks(state=TaskState.READY)):
                    break
        self._note_user_tasks()
        if wf.is_completed() and not was_completed:
            self._record("process_completed", None, {})

    def _note_user_tasks(self) -> None:
        now = self._current_time()
        for task in self._ready_user_tasks():
            if task._get_internal_data("rathaus_ready_at") is not None:
                continue
            due = self._compute_due(task, now)
            task._set_internal_data(rathaus_ready_at=now.isoformat(), rathaus_due=due.isoformat() if due else None)
            self._record("user_task_ready", task, {"due": due.isoformat() if due else None})

    def _compute_due(self, task: Any, ready_at: datetime) -> datetime | None:
        spec = task.task_spec
        text = spec.config.due_date if isinstance(spec, RathausUserTask) else None
        if not text:
            return self._interrupting_timer_due(task)
        try:
            kind = timer_literal_kind(text)
            value: Any = text
            if kind is None:
                value = compile_process_expression(text).evaluate(task.data, now=ready_at)
            if isinstance(value, timedelta):
                return add_timedelta(ready_at, value)
            if isinstance(value, datetime):
                return value if value.tzinfo else value.replace(tzinfo=ready_at.tzinfo)
            if isinstance(value, date):
                return _end_of_day(value, ready_at)
            text_value = timer_text(value)
            if timer_literal_kind(text_value) == "duration":
                return add_duration(text_value, ready_at)
            moment = parse_datetime(text_value, ready_at.tzinfo)
            if len(text_value.strip()) == 10:  # a date: due at its end, not its first second
                return _end_of_day(moment.date(), ready_at)
            return moment
        except ExpressionError as exc:
            raise _task_error(task, exc) from None
        except (OverflowError, ValueError):  # P9999999D: past the year 9999
            raise _task_error(task, ExpressionError(f"Die Fälligkeit «{text[:100]}» liegt außerhalb des Kalenders",
                                                    f"the due date «{text[:100]}» lies outside the calendar")) from None

    @staticmethod
    def _interrupting_timer_due(task: Any) -> datetime | None:
        """When the earliest interrupting boundary timer on `task` fires (None without one).

        The timer cuts the task off (e.g. "no answer within 28 days: close"), so a task without a
        due date of its own is due then; a timer that lets the task go on (a reminder) sets none.
        The timers were reached with the task, so their due times are fixed by now.
        """
        parent = task.parent
        if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
            return None
        dues = [sibling.task_spec.event_definition.due(sibling) for sibling in parent.children
                if sibling is not task and getattr(sibling.task_spec, "cancel_activity", False)
                and isinstance(getattr(sibling.task_spec, "event_definition", None), _ClockedTimer)]
        return min((due for due in dues if due is not None), default=None)

    def _user_task_info(self, task: Any) -> UserTaskInfo:
        spec = task.task_spec
        config = spec.config if isinstance(spec, RathausUserTask) else bpmnext.UserTaskConfig()
        ready = task._get_internal_data("rathaus_ready_at")
        due = task._get_internal_data("rathaus_due")
        return UserTaskInfo(
            id=str(task.id),
            element_id=spec.bpmn_id,
            name=spec.bpmn_name,
            lane=spec.lane,
            candidate_groups=config.candidate_groups,
            candidate_users=config.candidate_users,
            assignee=config.assignee,
            form_key=config.form_key,
            due=datetime.fromisoformat(due) if due else None,
            ready_since=datetime.fromisoformat(ready) if ready else None,
            documentation=spec.documentation,
            data=copy.deepcopy(dict(task.data)),
        )


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))
