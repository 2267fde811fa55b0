"""Engine configuration read from BPMN elements (Camunda 7, Camunda 8/Zeebe, Spiff, Rathaus).

Service tasks name a *step* of the :class:`~.engine.ServiceStepRegistry`. The step name is
taken from the first of these that is present:

1. ``rathaus:step="compute_fee"`` (namespace :data:`RATHAUS_NS`) — our own attribute;
2. ``<zeebe:taskDefinition type="compute_fee"/>`` — Camunda 8 job type;
3. ``camunda:topic="compute_fee"`` (with ``camunda:type="external"``) — Camunda 7 external task;
4. ``camunda:expression="${compute_fee}"`` or ``camunda:delegateExpression="${compute_fee}"``
   — only a plain name inside ``${…}``;
5. ``<spiffworkflow:serviceTaskOperator id="compute_fee"/>`` — SpiffArena.

``camunda:class`` (Java) is rejected.  Step parameters come from ``camunda:inputParameter``,
``camunda:property``, ``zeebe:header``, ``zeebe:input`` and Spiff operator parameters; values
starting with ``${`` or ``=`` are expressions evaluated when the step runs.

Business-rule tasks: ``camunda:decisionRef`` / ``zeebe:calledDecision decisionId`` /
``rathaus:decision`` with ``camunda:resultVariable`` (or Zeebe's ``resultVariable``) and
``camunda:mapDecisionResult``.  User tasks: ``camunda:candidateGroups``, ``candidateUsers``,
``assignee``, ``formKey``, ``dueDate`` or the Zeebe equivalents (``assignmentDefinition``,
``formDefinition``, ``taskSchedule``) or ``rathaus:candidateGroups``/``form``/``due``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from . import feel
from .errors import BilingualError
from .evaluator import ExpressionError
from .xmlutil import local_name, namespace

__all__ = [
    "BPMN_NS",
    "CAMUNDA_NAMESPACES",
    "RATHAUS_NS",
    "SPIFF_NS",
    "ZEEBE_NS",
    "ConfigError",
    "DecisionConfig",
    "ServiceStepConfig",
    "UserTaskConfig",
    "decision_config",
    "script_source",
    "service_step_config",
    "user_task_config",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
#: Namespace of Rathaus' own extension attributes (``xmlns:rathaus="urn:rathaus:bpmn:1"``).
RATHAUS_NS = "urn:rathaus:bpmn:1"
CAMUNDA_NAMESPACES = ("http://camunda.org/schema/1.0/bpmn", "http://activiti.org/bpmn")
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
SCRIPT_FORMATS = frozenset({"", "python", "text/x-python", "rathaus", "spiff"})
MAP_DECISION_RESULTS = frozenset({"singleEntry", "singleResult", "collectEntries", "resultList"})

_STEP_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
_EXPRESSION_NAME_RE = re.compile(r"^\$\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}$")


class ConfigError(BilingualError, ValueError):
    """An element's engine configuration is missing or unsupported."""


def _attr(node: etree._Element, name: str, *namespaces: str) -> str | None:
    for ns in namespaces:
        value = node.get(f"{{{ns}}}{name}")
        if value is not None:
            return str(value)
    return None


def _extensions(node: etree._Element, local: str, *namespaces: str) -> list[etree._Element]:
    """Elements ``local`` in ``namespaces`` anywhere below the node's own extensionElements."""
    found: list[etree._Element] = []
    for ext in node:
        if local_name(ext) == "extensionElements" and namespace(ext) == BPMN_NS:
            found.extend(e for e in ext.iter() if local_name(e) == local and namespace(e) in namespaces)
    return found


def _text(node: etree._Element) -> str:
    return "".join(node.itertext()).strip()


# --------------------------------------------------------------------------------------------
# Service tasks


@dataclass(frozen=True)
class ServiceStepConfig:
    """The step a service task runs, where that name came from, and its raw parameters."""

    step: str
    source: str
    params: dict[str, str] = field(default_factory=dict)
    result_variable: str | None = None


def unsupported_parameters(node: etree._Element) -> list[ConfigError]:
    """Camunda input parameters holding a script, list or map (their text alone would reach the step).

    A problem for the model check only: a model published before the check refused them still
    loads and runs as it did (the parameter is its text), so its running cases go on.
    """
    problems = []
    for param in _extensions(node, "inputParameter", *CAMUNDA_NAMESPACES):
        nested = [local_name(child) for child in param if isinstance(child.tag, str)]
        if param.get("name") and nested:
            problems.append(ConfigError(
                f"Parameter «{param.get('name')}»: {nested[0]} wird nicht unterstützt; bitte einen Text oder einen "
                "Ausdruck (${…} oder =…) angeben",
                f"parameter «{param.get('name')}»: {nested[0]} is not supported; give a text or an expression "
                "(${…} or =…)",
            ))
    return problems


def service_step_config(node: etree._Element) -> ServiceStepConfig:
    """Read the step configuration of a ``bpmn:serviceTask``; raises :class:`ConfigError`."""
    step: str | None = None
    source = ""
    rathaus = _attr(node, "step", RATHAUS_NS)
    zeebe = [e.get("type") for e in _extensions(node, "taskDefinition", ZEEBE_NS)]
    topic = _attr(node, "topic", *CAMUNDA_NAMESPACES)
    expression = _attr(node, "expression", *CAMUNDA_NAMESPACES) or _attr(node, "delegateExpression", *CAMUNDA_NAMESPACES)
    spiff = [e.get("id") for e in _extensions(node, "serviceTaskOperator", SPIFF_NS)]
    java = _attr(node, "class", *CAMUNDA_NAMESPACES)
    if rathaus:
        step, source = rathaus.strip(), "rathaus:step"
    elif zeebe and zeebe[0]:
        step, source = str(zeebe[0]).strip(), "zeebe:taskDefinition"
    elif topic:
        step, source = topic.strip(), "camunda:topic"
    elif expression:
        match = _EXPRESSION_NAME_RE.match(expression.strip())
        if not match:
            raise ConfigError(
                f"camunda:expression «{expression}» wird nicht unterstützt; nur «${{schrittname}}» ist erlaubt",
                f"camunda:expression «{expression}» is not supported; only «${{step_name}}» is allowed",
            )
        step, source = match.group(1), "camunda:expression"
    elif spiff and spiff[0]:
        step, source = str(spiff[0]).strip(), "spiffworkflow:serviceTaskOperator"
    elif java:
        raise ConfigError(
            f"Java-Klassen (camunda:class «{java}») werden nicht unterstützt; bitte rathaus:step oder camunda:topic",
            f"Java classes (camunda:class «{java}») are not supported; use rathaus:step or camunda:topic",
        )
    if not step:
        raise ConfigError(
            "Service-Task ohne Automatisierungsschritt (rathaus:step, camunda:topic oder zeebe:taskDefinition fehlt)",
            "service task without an automation step (rathaus:step, camunda:topic or zeebe:taskDefinition missing)",
        )
    if not _STEP_NAME_RE.match(step):
        raise ConfigError(f"Ungültiger Schrittname «{step}»", f"invalid step name «{step}»")

    params: dict[str, str] = {}
    for prop in _extensions(node, "property", *CAMUNDA_NAMESPACES):
        if prop.get("name"):
            params[str(prop.get("name"))] = str(prop.get("value") or "")
    for param in _extensions(node, "inputParameter", *CAMUNDA_NAMESPACES):
        if param.get("name"):
            params[str(param.get("name"))] = _text(param)
    for header in _extensions(node, "header", ZEEBE_NS):
        if header.get("key"):
            params[str(header.get("key"))] = str(header.get("value") or "")
    for mapping in _extensions(node, "input", ZEEBE_NS):
        if mapping.get("target"):
            params[str(mapping.get("target"))] = str(mapping.get("source") or "")
    for operator in _extensions(node, "serviceTaskOperator", SPIFF_NS):
        for param in operator.iter():
            if local_name(param) == "parameter" and param.get("id"):
                params[str(param.get("id"))] = str(param.get("value") or "")
    result_variable = _attr(node, "resultVariable", *CAMUNDA_NAMESPACES)
    if result_variable is None:
        for operator in _extensions(node, "serviceTaskOperator", SPIFF_NS):
            result_variable = operator.get("resultVariable") or result_variable
    return ServiceStepConfig(step=step, source=source, params=params, result_variable=result_variable or None)


def is_expression_param(value: str) -> bool:
    """Whether a parameter value is an expression (``${…}`` or ``=…``) rather than a literal."""
    text = value.strip()
    return text.startswith("${") or (text.startswith("=") and not text.startswith("=="))


# --------------------------------------------------------------------------------------------
# Business-rule tasks


@dataclass(frozen=True)
class DecisionConfig:
    """Which decision a business-rule task evaluates and where the result goes."""

    decision_ref: str
    result_variable: str | None = None
    map_result: str | None = None


def decision_config(node: etree._Element) -> DecisionConfig:
    """Read the decision reference of a ``bpmn:businessRuleTask``; raises :class:`ConfigError`."""
    ref = _attr(node, "decision", RATHAUS_NS) or _attr(node, "decisionRef", *CAMUNDA_NAMESPACES)
    result_variable = _attr(node, "resultVariable", *CAMUNDA_NAMESPACES)
    for called in _extensions(node, "calledDecision", ZEEBE_NS):
        ref = ref or called.get("decisionId")
        result_variable = result_variable or called.get("resultVariable")
    for called in _extensions(node, "calledDecisionId", SPIFF_NS):
        ref = ref or _text(called)
    if _attr(node, "class", *CAMUNDA_NAMESPACES) or _attr(node, "topic", *CAMUNDA_NAMESPACES):
        raise ConfigError(
            "Business-Rule-Task muss eine DMN-Entscheidung aufrufen (camunda:decisionRef)",
            "business rule task must call a DMN decision (camunda:decisionRef)",
        )
    if not ref or not ref.strip():
        raise ConfigError(
            "Business-Rule-Task ohne Entscheidung (camunda:decisionRef fehlt)",
            "business rule task without a decision (camunda:decisionRef missing)",
        )
    ref = ref.strip()
    if ref.startswith(("${", "=", "#{")):
        raise ConfigError(
            f"Berechnete Entscheidungs-Referenzen («{ref}») werden nicht unterstützt",
            f"computed decision references («{ref}») are not supported",
        )
    map_result = _attr(node, "mapDecisionResult", *CAMUNDA_NAMESPACES)
    if map_result is not None and map_result not in MAP_DECISION_RESULTS:
        raise ConfigError(f"Unbekanntes mapDecisionResult «{map_result}»", f"unknown mapDecisionResult «{map_result}»")
    return DecisionConfig(decision_ref=ref, result_variable=result_variable or None, map_result=map_result)


# --------------------------------------------------------------------------------------------
# User tasks


@dataclass(frozen=True)
class UserTaskConfig:
    """Inbox information of a user task."""

    form_key: str | None = None
    candidate_groups: tuple[str, ...] = ()
    candidate_users: tuple[str, ...] = ()
    assignee: str | None = None
    due_date: str | None = None


def _names(value: str | None, what: str) -> tuple[str, ...]:
    if value is None or not value.strip():
        return ()
    text = value.strip()
    if text.startswith("="):
        try:
            compiled = feel.compile_expression(text[1:])
            if not compiled.compiled.is_constant:
                raise ExpressionError("nicht konstant", "not constant")
            result: Any = compiled.evaluate({})
        except ExpressionError:
            raise ConfigError(
                f"{what}: nur feste Werte werden unterstützt, nicht «{text}»",
                f"{what}: only fixed values are supported, not «{text}»",
            ) from None
        items = result if isinstance(result, list) else [result]
        # FEEL's null is no group (str() would make it one named "None").
        return tuple(str(i).strip() for i in items if i is not None and str(i).strip())
    if "${" in text or "#{" in text:
        raise ConfigError(
            f"{what}: nur feste Werte werden unterstützt, nicht «{text}»",
            f"{what}: only fixed values are supported, not «{text}»",
        )
    return tuple(part.strip() for part in text.split(",") if part.strip())


def user_task_config(node: etree._Element) -> UserTaskConfig:
    """Read candidate groups, form key and due date of a ``bpmn:userTask``."""
    groups = _attr(node, "candidateGroups", RATHAUS_NS, *CAMUNDA_NAMESPACES)
    users = _attr(node, "candidateUsers", RATHAUS_NS, *CAMUNDA_NAMESPACES)
    assignee = _attr(node, "assignee", RATHAUS_NS, *CAMUNDA_NAMESPACES)
    form_key = _attr(node, "form", RATHAUS_NS) or _attr(node, "formKey", *CAMUNDA_NAMESPACES)
    form_key = form_key or _attr(node, "formRef", *CAMUNDA_NAMESPACES)
    due = _attr(node, "due", RATHAUS_NS) or _attr(node, "dueDate", *CAMUNDA_NAMESPACES)
    for element in _extensions(node, "assignmentDefinition", ZEEBE_NS):
        groups = groups or element.get("candidateGroups")
        users = users or element.get("candidateUsers")
        assignee = assignee or element.get("assignee")
    for element in _extensions(node, "formDefinition", ZEEBE_NS):
        form_key = form_key or element.get("formKey") or element.get("formId") or element.get("externalReference")
    for element in _extensions(node, "taskSchedule", ZEEBE_NS):
        due = due or element.get("dueDate")
    if assignee and ("${" in assignee or assignee.strip().startswith("=")):
        raise ConfigError(
            f"Bearbeiter: nur feste Werte werden unterstützt, nicht «{assignee}»",
            f"assignee: only fixed values are supported, not «{assignee}»",
        )
    return UserTaskConfig(
        form_key=form_key.strip() if form_key and form_key.strip() else None,
        candidate_groups=_names(groups, "candidateGroups"),
        candidate_users=_names(users, "candidateUsers"),
        assignee=assignee.strip() if assignee and assignee.strip() else None,
        due_date=due.strip() if due and due.strip() else None,
    )


# --------------------------------------------------------------------------------------------
# Script tasks


def script_source(node: etree._Element) -> str:
    """The script of a ``bpmn:scriptTask`` in our assignment language; raises :class:`ConfigError`."""
    script_nodes = [c for c in node if local_name(c) == "script" and namespace(c) == BPMN_NS]
    if script_nodes:
        script_format = (node.get("scriptFormat") or "").strip().lower()
        if script_format not in SCRIPT_FORMATS:
            raise ConfigError(
                f"Skriptsprache «{node.get('scriptFormat')}» wird nicht unterstützt (nur Zuweisungen «name = Ausdruck»)",
                f"script language «{node.get('scriptFormat')}» is not supported (only «name = expression» assignments)",
            )
        return script_nodes[0].text or ""
    for element in _extensions(node, "script", ZEEBE_NS):
        expression = (element.get("expression") or "").strip()
        target = (element.get("resultVariable") or "").strip()
        if not expression.startswith("=") or not target.isidentifier():
            raise ConfigError(
                "zeebe:script braucht expression=«=…» und resultVariable",
                "zeebe:script needs expression=«=…» and resultVariable",
            )
        try:
            translated = feel.compile_expression(expression[1:]).python
        except ExpressionError as exc:
            raise ConfigError(exc.message_de, exc.message_en) from None
        return f"{target} = {translated}"
    raise ConfigError("Skript-Task ohne Skript", "script task without a script")
