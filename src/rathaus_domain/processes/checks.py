"""Structural checks of BPMN files against what our engine supports.

Used by :func:`.lint.check_files` and by :meth:`.engine.ProcessModel.from_files` (which refuses
models with errors), so an upload and ``rathaus check-process`` report the same problems.

Supported in executable processes: none start events; none and terminate end events; user,
service, script and business-rule tasks; untyped tasks (no-ops, with a warning); exclusive,
parallel and event-based gateways; sequence flows; timer and message intermediate catch
events; none intermediate throw events; timer and message boundary events (interrupting or
not); lanes; embedded sub-processes; call activities to processes in the same upload; data
objects.  Everything else is named as an unsupported element.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from . import evaluator
from .bpmnext import (
    BPMN_NS,
    ConfigError,
    decision_config,
    is_expression_param,
    script_source,
    service_step_config,
    unsupported_parameters,
    user_task_config,
)
from .evaluator import ExpressionError
from .expressions import check_timer, compile_process_expression, parse_datetime, timer_literal_kind
from .texts import template_problems
from .xmlutil import local_name, namespace

__all__ = ["ERROR", "MAX_FLOW_NODES", "MAX_ID_LENGTH", "WARNING", "Problem", "check_bpmn", "check_processes"]

ERROR = "error"
WARNING = "warning"

#: Longest element id, lane name and process name a model may use: the database keeps them in
#: columns of this size (tasks, timers and timeline entries the element id, tasks the lane,
#: process versions the process id and name), which refuse anything longer.
MAX_ID_LENGTH = 200
#: Most events, tasks and gateways one BPMN file may hold (the richest reference models have about 100).
MAX_FLOW_NODES = 1000

# Element kinds that carry no behaviour we need to check.
_PASSIVE = frozenset(
    {
        "extensionElements", "documentation", "laneSet", "lane", "childLaneSet", "flowNodeRef",
        "textAnnotation", "text", "association", "group", "dataObject", "dataObjectReference",
        "dataState", "ioSpecification", "dataInput", "dataOutput", "inputSet", "outputSet",
        "dataInputRefs", "dataOutputRefs", "optionalInputRefs", "outputSetRefs", "inputSetRefs",
        "incoming", "outgoing", "sequenceFlow", "categoryValue", "auditing", "monitoring",
    }
)  # fmt: skip
_IGNORED_WITH_WARNING = {
    "property": ("Eigenschaften (property) werden ignoriert", "properties (property) are ignored"),
    "potentialOwner": (
        "potentialOwner wird ignoriert; bitte camunda:candidateGroups verwenden",
        "potentialOwner is ignored; use camunda:candidateGroups",
    ),
    "performer": (
        "performer wird ignoriert; bitte camunda:candidateGroups verwenden",
        "performer is ignored; use camunda:candidateGroups",
    ),
    "humanPerformer": (
        "humanPerformer wird ignoriert; bitte camunda:candidateGroups verwenden",
        "humanPerformer is ignored; use camunda:candidateGroups",
    ),
    "resourceRole": ("resourceRole wird ignoriert", "resourceRole is ignored"),
}
_ELEMENT_NAMES_DE = {
    "manualTask": "Manuelle Aufgabe", "sendTask": "Sende-Aufgabe", "receiveTask": "Empfangs-Aufgabe",
    "inclusiveGateway": "Inklusives Gateway", "complexGateway": "Komplexes Gateway",
    "transaction": "Transaktion", "adHocSubProcess": "Ad-hoc-Unterprozess",
    "dataStoreReference": "Datenspeicher", "dataStore": "Datenspeicher",
    "callChoreography": "Choreographie", "subChoreography": "Choreographie",
    "choreographyTask": "Choreographie",
}  # fmt: skip
# Where ids live that SpiffWorkflow looks up: the model and its diagram (extension elements such as
# Spiff's serviceTaskOperator use "id" for something else).
_ID_NAMESPACES = frozenset({BPMN_NS, "http://www.omg.org/spec/BPMN/20100524/DI"})
# What a boundary event may be attached to.
_ACTIVITIES = frozenset(
    {
        "task", "userTask", "serviceTask", "scriptTask", "businessRuleTask", "manualTask", "sendTask",
        "receiveTask", "subProcess", "transaction", "adHocSubProcess", "callActivity",
    }
)  # fmt: skip
_CONTAINERS = frozenset({"subProcess", "transaction", "adHocSubProcess"})
# Where flow elements may stand (choreographies are refused as such, not for what they hold).
_FLOW_CONTAINERS = _CONTAINERS | {"process", "choreography", "subChoreography"}
_GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "eventBasedGateway", "inclusiveGateway", "complexGateway"})
# A cron expression as Camunda 7 takes it in timeCycle ("0 0 9 * * ?"): 5 to 7 fields.
_CRON_RE = re.compile(r"^\s*[0-9*?/,#LW-]+(\s+[0-9A-Za-z*?/,#LW-]+){4,6}\s*$")
_DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
_DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
_NEGATIVE_DURATION_RE = re.compile(r"^\s*-\s*PT?\d", re.IGNORECASE)
_MAX_SHOWN_NAME = 120
_MAX_SHOWN_QUOTE = 200
_MAX_SHOWN_ID = 1000
_LONG_QUOTE_RE = re.compile(f"«([^«»]{{{_MAX_SHOWN_QUOTE + 1},}})»")
# Languages of scripted conditions (Camunda 7's «Script» condition type): never run here.
_SCRIPT_LANGUAGE_RE = re.compile(r"(?i)\b(javascript|ecmascript|js|groovy|jruby|ruby|jython|kotlin|nashorn|graal)\b")
_MULTIPLE_OUTGOING_OK = frozenset({"exclusiveGateway", "parallelGateway", "eventBasedGateway", "startEvent"})
# Children of an activity that flow_node reports for the activity itself.
_LOOP_MARKERS = frozenset({"multiInstanceLoopCharacteristics", "standardLoopCharacteristics"})
_ACTIVITY_MARKERS = _LOOP_MARKERS | _IGNORED_WITH_WARNING.keys()
_FLOW_NODES = frozenset(
    {
        "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
        "task", "userTask", "serviceTask", "scriptTask", "businessRuleTask", "manualTask", "sendTask",
        "receiveTask", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
        "complexGateway", "subProcess", "transaction", "adHocSubProcess", "callActivity",
        "callChoreography", "subChoreography", "choreographyTask",
    }
)  # fmt: skip
# What the size cap counts: flow nodes and processes (a file of nothing but processes is work too).
_COUNTED = _FLOW_NODES | {"process"}
_EVENT_NAMES = {
    "messageEventDefinition": ("Nachricht", "message"),
    "timerEventDefinition": ("Timer", "timer"),
    "signalEventDefinition": ("Signal", "signal"),
    "none": ("leer", "none"),
    "errorEventDefinition": ("Fehler", "error"),
    "escalationEventDefinition": ("Eskalation", "escalation"),
    "conditionalEventDefinition": ("Bedingung", "conditional"),
    "compensateEventDefinition": ("Kompensation", "compensation"),
    "cancelEventDefinition": ("Abbruch", "cancel"),
    "linkEventDefinition": ("Link", "link"),
    "terminateEventDefinition": ("Terminierung", "terminate"),
    "eventDefinitionRef": ("Ereignis-Referenz", "event definition reference"),
}


@dataclass(frozen=True)
class Problem:
    """One finding about a model file; ``element_id`` names the BPMN/DMN element at fault."""

    file: str | None
    element_id: str | None
    severity: str
    message_de: str
    message_en: str
    code: str = "invalid"

    def __post_init__(self) -> None:
        # A message quotes what the model says («…»); a runaway value (megabytes in one attribute)
        # would make it unreadable, and it is printed, shown on the upload page and stored.
        for field in ("message_de", "message_en"):
            object.__setattr__(self, field, _LONG_QUOTE_RE.sub(_cut_quote, getattr(self, field)))
        if self.element_id is not None and len(self.element_id) > _MAX_SHOWN_ID:
            object.__setattr__(self, "element_id", self.element_id[: _MAX_SHOWN_ID - 1] + "…")

    def __str__(self) -> str:
        where = f"{self.file or '-'}: {self.element_id or '-'}"
        return f"{where}: {self.severity}: {self.message_de} / {self.message_en}"


def _cut_quote(match: re.Match[str]) -> str:
    return f"«{match.group(1)[: _MAX_SHOWN_QUOTE - 1]}…»"


def element_id(element: etree._Element | None) -> str | None:
    """The element's id, else the id of its nearest ancestor that has one."""
    while element is not None:
        found = element.get("id") if isinstance(element.tag, str) else None
        if found:
            return str(found)
        element = element.getparent()
    return None


def _bpmn_children(node: etree._Element, name: str | None = None) -> list[etree._Element]:
    return [c for c in node if namespace(c) == BPMN_NS and (name is None or local_name(c) == name)]


def _element_count(root: etree._Element) -> int:
    """Events, tasks, gateways and processes of a file (what MAX_FLOW_NODES counts)."""
    return sum(1 for node in root.iter(f"{{{BPMN_NS}}}*") if local_name(node) in _COUNTED)


def _describe(node: etree._Element) -> str:
    name = " ".join((node.get("name") or "").split())
    if len(name) > _MAX_SHOWN_NAME:
        # Messages are printed, shown and stored with the version: a runaway name is cut.
        name = name[: _MAX_SHOWN_NAME - 1] + "…"
    return f"«{name}»" if name else str(node.get("id") or local_name(node))


def _is_number(value: str) -> bool:
    """Whether SpiffWorkflow can read a diagram coordinate (it takes them with ``float``)."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def _negative_duration(text: str) -> ExpressionError | None:
    """«-P1D» would be read as minus a variable named P1D (and fail when the case gets there)."""
    if not _NEGATIVE_DURATION_RE.match(text):
        return None
    return ExpressionError(
        f"«{text.strip()}» ist eine negative Dauer; eine Frist liegt immer in der Zukunft (etwa P1D)",
        f"«{text.strip()}» is a negative duration; a deadline always lies ahead (such as P1D)",
    )


class _Checker:
    def __init__(
        self,
        root: etree._Element,
        file: str | None,
        decisions: Collection[str] | None,
        steps: Collection[str] | None,
        process_ids: Collection[str],
        forms: Collection[str] | None = None,
        param_problems: Callable[[str, Mapping[str, str]], list[tuple[str, str]]] | None = None,
    ) -> None:
        self.root = root
        self.forms = forms
        self.param_problems = param_problems
        self.file = file
        self.decisions = decisions
        self.steps = steps
        self.process_ids = process_ids
        self.problems: list[Problem] = []
        self.messages = {str(m.get("id")): m for m in root.iter(f"{{{BPMN_NS}}}message") if m.get("id")}

    def add(self, node: etree._Element | None, severity: str, de: str, en: str, code: str) -> None:
        self.problems.append(Problem(self.file, element_id(node), severity, de, en, code))

    def error(self, node: etree._Element | None, de: str, en: str, code: str = "invalid") -> None:
        self.add(node, ERROR, de, en, code)

    def warning(self, node: etree._Element | None, de: str, en: str, code: str = "ignored") -> None:
        self.add(node, WARNING, de, en, code)

    def unsupported(self, node: etree._Element, what_de: str | None = None, what_en: str | None = None) -> None:
        kind = local_name(node)
        label_de = what_de or _ELEMENT_NAMES_DE.get(kind, kind)
        label_en = what_en or kind
        self.error(
            node,
            f"{label_de} {_describe(node)} wird nicht unterstützt",
            f"{label_en} {_describe(node)} is not supported",
            "unsupported-element",
        )

    # -- top level -------------------------------------------------------------------------
    def run(self) -> list[Problem]:
        count = _element_count(self.root)
        if count > MAX_FLOW_NODES:
            # SpiffWorkflow's parser takes minutes over tens of thousands of elements (10 MB of them).
            self.error(
                None,
                f"Das Modell hat {count} Ereignisse, Aufgaben, Gateways und Prozesse; höchstens {MAX_FLOW_NODES} sind erlaubt",
                f"the model has {count} events, tasks, gateways and processes; at most {MAX_FLOW_NODES} are allowed",
                "too-large",
            )
            return self.problems
        self.lengths()
        self.unique_ids()
        self.diagram()
        processes = _bpmn_children(self.root, "process")
        if not processes:
            self.error(None, "Die Datei enthält keinen Prozess", "the file contains no process", "no-process")
            return self.problems
        executable = [p for p in processes if (p.get("isExecutable") or "true").strip().lower() == "true"]
        runnable = set(executable)
        for process in processes:
            if process not in runnable:
                self.warning(
                    process,
                    f"Prozess {_describe(process)} ist nicht als ausführbar markiert und wird ignoriert",
                    f"process {_describe(process)} is not marked executable and is ignored",
                    "not-executable",
                )
        if not executable:
            self.error(
                None,
                'Kein Prozess ist als ausführbar markiert (isExecutable="true")',
                'no process is marked executable (isExecutable="true")',
                "no-executable-process",
            )
        for process in executable:
            if not (process.get("id") or "").strip():
                name = " ".join((process.get("name") or "").split())
                label = f" «{name}»" if name else ""
                self.error(
                    process,
                    f"Ein Prozess{label} hat keine ID; ohne sie kann er nicht gestartet werden",
                    f"a process{label} has no id; without one it cannot be started",
                    "missing-id",
                )
        for store in self.root.iter(f"{{{BPMN_NS}}}dataStore"):
            self.unsupported(store, "Datenspeicher", "data store")
        self.misplaced()
        for process in executable:
            self.container(process)
        return self.problems

    def misplaced(self) -> None:
        """Flow elements anywhere but directly in a process or sub-process (inside a task, in the
        diagram), processes anywhere but directly in the definitions: SpiffWorkflow's parser finds
        them wherever they are and fails in its own words."""
        for node in self.root.iter(f"{{{BPMN_NS}}}*"):
            kind = local_name(node)
            parent = node.getparent()
            if (kind in _FLOW_NODES or kind == "sequenceFlow") and parent is not None and (
                namespace(parent) != BPMN_NS or local_name(parent) not in _FLOW_CONTAINERS
            ):
                self.error(
                    node,
                    f"{kind} {_describe(node)} steht innerhalb von {_describe(parent)} ({local_name(parent)}); "
                    "Ereignisse, Aufgaben und Flüsse gehören direkt in einen Prozess oder Unterprozess",
                    f"{kind} {_describe(node)} is inside {_describe(parent)} ({local_name(parent)}); events, tasks "
                    "and flows belong directly in a process or sub-process",
                    "misplaced-element",
                )
            elif kind == "process" and parent is not None and (namespace(parent) != BPMN_NS or local_name(parent) != "definitions"):
                label = "" if _describe(node) == "process" else f" {_describe(node)}"
                self.error(
                    node,
                    f"Ein Prozess{label} steht innerhalb von {_describe(parent)} ({local_name(parent)}); "
                    "ein Prozess gehört direkt in die Definitionen (definitions) der Datei",
                    f"a process{label} is inside {_describe(parent)} ({local_name(parent)}); a process "
                    "belongs directly in the file's definitions",
                    "misplaced-element",
                )

    def lengths(self) -> None:
        """Ids (of every BPMN element), lane names and process names longer than the database keeps."""
        for node in self.root.iter(f"{{{BPMN_NS}}}*"):
            node_id = node.get("id") or ""
            if len(node_id) > MAX_ID_LENGTH:
                self.error(
                    node,
                    f"Die ID ist {len(node_id)} Zeichen lang, erlaubt sind höchstens {MAX_ID_LENGTH}; "
                    "bitte kürzen Sie sie im Modellierungswerkzeug",
                    f"the id is {len(node_id)} characters long, at most {MAX_ID_LENGTH} are allowed; "
                    "shorten it in the modelling tool",
                    "too-long",
                )
            name = node.get("name") or ""
            if local_name(node) in ("lane", "process") and len(name) > MAX_ID_LENGTH:
                what_de, what_en = (
                    ("Der Name der Lane", "the lane name")
                    if local_name(node) == "lane"
                    else ("Der Name des Prozesses", "the process name")
                )
                self.error(
                    node,
                    f"{what_de} ist {len(name)} Zeichen lang, erlaubt sind höchstens {MAX_ID_LENGTH}",
                    f"{what_en} is {len(name)} characters long, at most {MAX_ID_LENGTH} are allowed",
                    "too-long",
                )

    def unique_ids(self) -> None:
        """Ids used twice: SpiffWorkflow would take one element for the other (or refuse in its own words)."""
        counts = Counter(
            str(node.get("id"))
            for node in self.root.iter()
            if isinstance(node.tag, str) and namespace(node) in _ID_NAMESPACES and node.get("id")
        )
        for node_id, count in counts.items():
            if count > 1:
                self.problems.append(
                    Problem(
                        self.file,
                        node_id,
                        ERROR,
                        f"Die ID «{node_id}» kommt {count}-mal vor; jede ID darf im Modell nur einmal vorkommen",
                        f"the id «{node_id}» occurs {count} times; every id may occur only once in a model",
                        "duplicate-id",
                    )  # fmt: skip
                )

    def diagram(self) -> None:
        """Coordinates of the diagram that are no numbers (SpiffWorkflow reads them to order lanes)."""
        for node in self.root.iter(f"{{{_DC_NS}}}Bounds", f"{{{_DI_NS}}}waypoint"):
            for attribute in ("x", "y", "width", "height"):
                value = node.get(attribute)
                if value is None or _is_number(value):
                    continue
                shown = value if len(value) <= 40 else value[:39] + "…"
                self.error(
                    node,
                    f"Diagramm: Koordinate {attribute}=«{shown}» ist keine Zahl",
                    f"diagram: coordinate {attribute}=«{shown}» is not a number",
                    "invalid-diagram",
                )

    # -- processes and sub-processes -------------------------------------------------------
    def container(self, container: etree._Element) -> None:
        children = _bpmn_children(container)
        nodes = {str(c.get("id")): c for c in children if local_name(c) in _FLOW_NODES and c.get("id")}
        flows = [c for c in children if local_name(c) == "sequenceFlow"]
        outgoing: dict[str, list[etree._Element]] = defaultdict(list)
        for child in children:
            if local_name(child) in _FLOW_NODES and not (child.get("id") or "").strip():
                name = " ".join((child.get("name") or "").split())
                label = local_name(child) + (f" «{name}»" if name else "")
                self.error(
                    container,
                    f"Ein Element {label} in {_describe(container)} hat keine ID; Sequenzflüsse, Aufgaben und "
                    "Fristen brauchen sie",
                    f"an element {label} in {_describe(container)} has no id; sequence flows, tasks and deadlines "
                    "need it",
                    "missing-id",
                )
        for flow in flows:
            source, target = flow.get("sourceRef"), flow.get("targetRef")
            if source not in nodes or target not in nodes:
                flow_id = flow.get("id") or "(ohne ID)"
                ends_de = f"{source or '(fehlt)'} → {target or '(fehlt)'}"
                ends_en = f"{source or '(missing)'} → {target or '(missing)'}"
                self.error(
                    flow,
                    f"Sequenzfluss {flow_id} verbindet unbekannte Elemente ({ends_de})",
                    f"sequence flow {flow.get('id') or '(without id)'} connects unknown elements ({ends_en})",
                    "invalid-reference",
                )
                continue
            if local_name(nodes[str(target)]) in ("boundaryEvent", "startEvent"):
                # SpiffWorkflow would silently wait on such an event forever.
                self.error(
                    flow,
                    f"Sequenzfluss {flow.get('id') or '(ohne ID)'} führt in ein {local_name(nodes[str(target)])} ({target}); "
                    "Start- und Randereignisse haben keine eingehenden Flüsse",
                    f"sequence flow {flow.get('id') or '(without id)'} leads into a {local_name(nodes[str(target)])} ({target}); "
                    "start and boundary events take no incoming flows",
                    "invalid-flow",
                )
                continue
            outgoing[str(source)].append(flow)
        starts = [c for c in children if local_name(c) == "startEvent"]
        is_sub = local_name(container) != "process"
        if not starts:
            self.error(
                container,
                f"{_describe(container)} hat kein Startereignis",
                f"{_describe(container)} has no start event",
                "missing-start-event",
            )
        elif is_sub and len(starts) != 1:
            self.error(
                container,
                "Ein Unterprozess braucht genau ein Startereignis",
                "a sub-process needs exactly one start event",
                "invalid-subprocess",
            )
        if is_sub and not any(local_name(c) == "endEvent" for c in children):
            self.error(
                container, "Ein Unterprozess braucht ein Endereignis", "a sub-process needs an end event", "invalid-subprocess"
            )

        for child in children:
            kind = local_name(child)
            try:
                if kind in _PASSIVE or (is_sub and kind in _ACTIVITY_MARKERS):
                    continue
                if kind in _IGNORED_WITH_WARNING:
                    de, en = _IGNORED_WITH_WARNING[kind]
                    self.warning(child, de, en)
                    continue
                if kind not in _FLOW_NODES:
                    self.unsupported(child)
                    continue
                self.flow_node(child, kind, nodes, outgoing.get(str(child.get("id")), []))
            except Exception as exc:  # noqa: BLE001 - a checker must name problems, never crash
                self.error(
                    child,
                    f"Interner Fehler beim Prüfen: {type(exc).__name__}: {exc}",
                    f"internal error while checking: {type(exc).__name__}: {exc}",
                    "internal-error",
                )
        self.dead_ends(container, children, nodes, outgoing)
        for flow in flows:
            source = nodes.get(str(flow.get("sourceRef")))
            condition = _bpmn_children(flow, "conditionExpression")
            if source is not None and condition and local_name(source) != "exclusiveGateway":
                self.warning(
                    flow,
                    "Bedingungen sind nur an Ausgängen exklusiver Gateways wirksam und werden hier ignoriert",
                    "conditions only take effect on exclusive gateway outputs and are ignored here",
                )

    def dead_ends(
        self,
        container: etree._Element,
        children: list[etree._Element],
        nodes: dict[str, etree._Element],
        outgoing: Mapping[str, list[etree._Element]],
    ) -> None:
        """A loop the process can enter but never leave: its case would never end (or would run
        automatic steps until the engine gives up)."""
        if any(
            local_name(c) == "endEvent" and _bpmn_children(c, "terminateEventDefinition") for c in children
        ) or self.interrupted(container):
            # A terminate end event on another branch, or an interrupting event on the
            # sub-process, ends the loop from outside.
            return
        successors: dict[str, set[str]] = {node_id: set() for node_id in nodes}
        for source, flows in outgoing.items():
            successors[source].update(str(f.get("targetRef")) for f in flows)
        for node_id, node in nodes.items():
            attached = node.get("attachedToRef")
            if local_name(node) == "boundaryEvent" and attached in successors:
                successors[str(attached)].add(node_id)
        can_end = {node_id for node_id, after in successors.items() if not after}
        predecessors: dict[str, set[str]] = defaultdict(set)
        for node_id, after in successors.items():
            for target in after:
                predecessors[target].add(node_id)
        todo = list(can_end)
        while todo:
            for before in predecessors[todo.pop()] - can_end:
                can_end.add(before)
                todo.append(before)
        reached: set[str] = set()
        todo = [node_id for node_id, node in nodes.items() if local_name(node) == "startEvent"]
        while todo:
            node_id = todo.pop()
            if node_id not in reached:
                reached.add(node_id)
                todo.extend(successors[node_id])
        trapped = [node_id for node_id in nodes if node_id in reached and node_id not in can_end]
        if trapped:
            # Named at the loop itself, not where the way into it starts: every trapped node leads
            # on to trapped nodes only, so walking on from one must come round to a node seen before.
            seen: set[str] = set()
            node_id = trapped[0]
            while node_id not in seen:
                seen.add(node_id)
                node_id = min(successors[node_id] - can_end)
            first = nodes[node_id]
            self.error(
                first,
                f"Von {_describe(first)} an führt kein Weg mehr zu einem Ende: eine Schleife ohne Ausgang "
                "(der Vorgang würde nie abgeschlossen); bitte einen Ausgang modellieren, etwa ein Gateway mit "
                "Bedingung zu einem Endereignis",
                f"from {_describe(first)} on no path leads to an end: a loop without an exit (the case would never "
                "finish); model a way out, such as a gateway with a condition leading to an end event",
                "loop-without-exit",
            )

    def interrupted(self, container: etree._Element) -> bool:
        """Whether an interrupting boundary event is attached to this sub-process."""
        container_id = container.get("id")
        parent = container.getparent()
        if local_name(container) == "process" or not container_id or parent is None:
            return False
        return any(
            local_name(c) == "boundaryEvent"
            and c.get("attachedToRef") == container_id
            and (c.get("cancelActivity") or "true").strip().lower() != "false"
            for c in _bpmn_children(parent)
        )

    def flow_node(
        self, node: etree._Element, kind: str, nodes: dict[str, etree._Element], outgoing: list[etree._Element]
    ) -> None:
        for child in _bpmn_children(node):
            child_kind = local_name(child)
            if child_kind in _LOOP_MARKERS:
                self.error(
                    node,
                    f"Schleifen und Mehrfachinstanzen wie {_describe(node)} werden nicht unterstützt",
                    f"loops and multi-instance activities like {_describe(node)} are not supported",
                    "unsupported-element",
                )
            elif child_kind in _IGNORED_WITH_WARNING:
                de, en = _IGNORED_WITH_WARNING[child_kind]
                self.warning(child, de, en)
        handler = getattr(self, f"check_{kind}", None)
        # A node refused as unsupported gets no advice on its flows ("use a gateway" to an
        # inclusive gateway would be wrong): the refusal says all there is to say.
        if len(outgoing) > 1 and handler is not None and kind not in _MULTIPLE_OUTGOING_OK:
            self.error(
                node,
                f"{_describe(node)} hat mehrere ausgehende Flüsse; bitte ein Gateway verwenden",
                f"{_describe(node)} has several outgoing flows; use a gateway",
                "multiple-outgoing",
            )
        if handler is not None and kind in _GATEWAYS and not outgoing:
            self.error(
                node,
                f"Gateway {_describe(node)} hat keinen ausgehenden Fluss; der Vorgang bliebe hier stehen",
                f"gateway {_describe(node)} has no outgoing flow; the case would stop here",
                "gateway-without-outgoing",
            )
        if kind == "endEvent" and outgoing:
            self.error(
                node,
                f"Endereignis {_describe(node)} hat einen ausgehenden Fluss; ein Endereignis beendet seinen Weg",
                f"end event {_describe(node)} has an outgoing flow; an end event ends its path",
                "invalid-flow",
            )
        if handler is None:
            self.unsupported(node)
        else:
            handler(node, nodes, outgoing)

    def _definitions(self, node: etree._Element) -> list[etree._Element]:
        return [
            c for c in _bpmn_children(node) if local_name(c).endswith("EventDefinition") or local_name(c) == "eventDefinitionRef"
        ]

    def _event(self, node: etree._Element, allowed: Iterable[str], what_de: str, what_en: str) -> etree._Element | None:
        definitions = self._definitions(node)
        allowed = set(allowed)
        if len(definitions) > 1:
            self.error(
                node,
                f"Mehrfach-Ereignisse wie {_describe(node)} werden nicht unterstützt",
                f"multiple events like {_describe(node)} are not supported",
                "unsupported-element",
            )
            return None
        definition = definitions[0] if definitions else None
        kind = local_name(definition) if definition is not None else "none"
        if kind not in allowed:
            name_de, name_en = _EVENT_NAMES.get(kind, (kind, kind))
            self.error(
                node,
                f"{what_de} vom Typ {name_de} {_describe(node)} wird nicht unterstützt",
                f"{what_en} of type {name_en} {_describe(node)} is not supported",
                "unsupported-element",
            )
            return None
        if definition is not None and kind == "timerEventDefinition":
            self.timer(node, definition)
        elif definition is not None and kind == "messageEventDefinition":
            self.message(node, definition)
        return definition

    def timer(self, node: etree._Element, definition: etree._Element) -> None:
        parts = [c for c in _bpmn_children(definition) if local_name(c) in ("timeDate", "timeDuration", "timeCycle")]
        if len(parts) != 1:
            self.error(
                node,
                "Timer braucht genau eine Angabe (Datum, Dauer oder Zyklus)",
                "timer needs exactly one value (date, duration or cycle)",
                "invalid-timer",
            )
            return
        text = "".join(parts[0].itertext()).strip()
        if not text:
            self.error(node, "Timer ohne Wert", "timer without a value", "invalid-timer")
            return
        if local_name(parts[0]) == "timeCycle" and _CRON_RE.match(text):
            self.error(
                node,
                f"Timer: Cron-Ausdrücke wie «{text}» werden nicht unterstützt; bitte einen Zyklus nach ISO 8601 "
                "angeben, etwa R/P1D (täglich) oder R3/PT1H (dreimal stündlich)",
                f"timer: cron expressions like «{text}» are not supported; give an ISO 8601 cycle such as R/P1D "
                "(daily) or R3/PT1H (three times, hourly)",
                "invalid-timer",
            )
            return
        try:
            negative = _negative_duration(text)
            if negative is not None:
                raise negative
            check_timer(local_name(parts[0]), text)
        except ExpressionError as exc:
            self.error(node, f"Timer: {exc.message_de}", f"timer: {exc.message_en}", _expression_code(exc))
            return
        if local_name(parts[0]) == "timeDate" and timer_literal_kind(text) == "datetime":
            moment = parse_datetime(text, UTC)
            if moment < datetime.now(UTC):
                self.warning(
                    node,
                    f"Timer: der Zeitpunkt {text} liegt in der Vergangenheit; der Timer löst in jedem Vorgang sofort aus",
                    f"timer: the moment {text} lies in the past; the timer fires at once in every case",
                    "timer-in-the-past",
                )

    def message(self, node: etree._Element, definition: etree._Element) -> None:
        ref = definition.get("messageRef")
        if ref:
            message = self.messages.get(ref)
            if message is None:
                self.error(node, f"Nachricht «{ref}» ist nicht definiert", f"message «{ref}» is not defined", "invalid-reference")
            elif not (message.get("name") or "").strip():
                self.error(message, "Nachricht ohne Namen", "message without a name", "invalid-message")
        elif not (node.get("name") or "").strip():
            self.error(
                node,
                "Nachrichtenereignis ohne Nachricht (messageRef)",
                "message event without a message (messageRef)",
                "invalid-message",
            )

    def expression(self, node: etree._Element, text: str, what_de: str, what_en: str) -> None:
        try:
            compile_process_expression(text)
        except ExpressionError as exc:
            self.error(node, f"{what_de}: {exc.message_de}", f"{what_en}: {exc.message_en}", _expression_code(exc))

    def config_error(self, node: etree._Element, exc: ConfigError, code: str) -> None:
        self.error(node, f"{_describe(node)}: {exc.message_de}", f"{_describe(node)}: {exc.message_en}", code)

    # -- element kinds ---------------------------------------------------------------------
    def check_startEvent(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        self._event(node, ["none"], "Startereignis", "start event")

    def check_endEvent(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        self._event(node, ["none", "terminateEventDefinition"], "Endereignis", "end event")

    def check_intermediateCatchEvent(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        self._event(node, ["timerEventDefinition", "messageEventDefinition"], "Zwischenereignis", "intermediate event")

    def check_intermediateThrowEvent(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        self._event(node, ["none"], "Auslösendes Zwischenereignis", "intermediate throw event")

    def check_boundaryEvent(self, node: etree._Element, nodes: dict[str, etree._Element], outgoing: object) -> None:
        attached = node.get("attachedToRef")
        if attached not in nodes:
            self.error(
                node,
                f"Randereignis hängt an unbekanntem Element «{attached}»"
                if attached
                else "Randereignis hängt an keinem Element (attachedToRef fehlt)",
                f"boundary event is attached to unknown element «{attached}»"
                if attached
                else "boundary event is attached to no element (attachedToRef missing)",
                "invalid-reference",
            )
        elif local_name(nodes[str(attached)]) not in _ACTIVITIES:
            self.error(
                node,
                f"Randereignis {_describe(node)} hängt an {_describe(nodes[str(attached)])} "
                f"({local_name(nodes[str(attached)])}); Randereignisse gehören an Aufgaben, Unterprozesse "
                "und Aufrufaktivitäten",
                f"boundary event {_describe(node)} is attached to {_describe(nodes[str(attached)])} "
                f"({local_name(nodes[str(attached)])}); boundary events belong on tasks, sub-processes "
                "and call activities",
                "invalid-reference",
            )
        self._event(node, ["timerEventDefinition", "messageEventDefinition"], "Randereignis", "boundary event")

    def check_task(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        self.warning(
            node,
            f"Aufgabe ohne Typ {_describe(node)} wird übersprungen",
            f"task without a type {_describe(node)} does nothing",
            "untyped-task",
        )

    def check_userTask(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        try:
            config = user_task_config(node)
        except ConfigError as exc:
            self.config_error(node, exc, "invalid-user-task")
            return
        due_kind = timer_literal_kind(config.due_date) if config.due_date else None
        if due_kind == "cycle":
            # «R3/P1D» would pass as an expression (R3 divided by P1D) and fail when the task is due.
            self.error(
                node,
                f"Fälligkeit «{config.due_date}» wiederholt sich; eine Aufgabe ist einmal fällig "
                "(eine Dauer wie P14D oder ein Datum wie 2026-12-31)",
                f"due date «{config.due_date}» repeats; a task is due once (a duration like P14D or a date like 2026-12-31)",
                "invalid-due-date",
            )
        elif config.due_date:
            # As a timer reads it: «P14X» is a broken duration, not the name of a variable.
            try:
                negative = _negative_duration(config.due_date)
                if negative is not None:
                    raise negative
                check_timer("dueDate", config.due_date)
            except ExpressionError as exc:
                self.error(node, f"Fälligkeit: {exc.message_de}", f"due date: {exc.message_en}", _expression_code(exc))
        if self.forms is not None and config.form_key and config.form_key not in self.forms:
            known = ", ".join(sorted(self.forms)) or "—"
            self.error(
                node,
                f"Aufgabenformular «{config.form_key}» ist nicht bekannt (vorhanden: {known})",
                f"task form «{config.form_key}» is unknown (available: {known})",
                "unknown-form",
            )

    def check_serviceTask(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        try:
            config = service_step_config(node)
        except ConfigError as exc:
            self.config_error(node, exc, "invalid-service-task")
            return
        for problem in unsupported_parameters(node):
            self.config_error(node, problem, "invalid-service-task")
        if self.steps is not None and config.step not in self.steps:
            known = ", ".join(sorted(self.steps)) or "—"
            self.error(
                node,
                f"Automatisierungsschritt «{config.step}» ({config.source}) ist nicht registriert (vorhanden: {known})",
                f"automation step «{config.step}» ({config.source}) is not registered (available: {known})",
                "unknown-step",
            )
        for name, value in config.params.items():
            if is_expression_param(value):
                self.expression(node, value, f"Parameter «{name}»", f"parameter «{name}»")
                continue
            for de, en in template_problems(value):
                self.error(node, f"Parameter «{name}»: {de}", f"parameter «{name}»: {en}", "unsafe-template")
        if self.param_problems is not None:
            # All of them: a parameter given as an expression is not missing (its default does not apply).
            for de, en in self.param_problems(config.step, config.params):
                self.error(node, de, en, "invalid-step-parameter")

    def check_scriptTask(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        try:
            source = script_source(node)
        except ConfigError as exc:
            self.config_error(node, exc, "invalid-script")
            return
        try:
            evaluator.check_script(source)
        except ExpressionError as exc:
            self.error(node, f"Skript: {exc.message_de}", f"script: {exc.message_en}", _expression_code(exc))

    def check_businessRuleTask(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        try:
            config = decision_config(node)
        except ConfigError as exc:
            self.config_error(node, exc, "invalid-business-rule-task")
            return
        if self.decisions is not None and config.decision_ref not in self.decisions:
            known = ", ".join(sorted(self.decisions)) or "—"
            self.error(
                node,
                f"Entscheidung «{config.decision_ref}» fehlt in den DMN-Dateien (vorhanden: {known})",
                f"decision «{config.decision_ref}» is missing from the DMN files (available: {known})",
                "missing-decision",
            )

    def check_exclusiveGateway(self, node: etree._Element, nodes: object, outgoing: list[etree._Element]) -> None:
        default = node.get("default")
        flow_ids = [f.get("id") for f in outgoing]
        if default and default not in flow_ids:
            self.error(
                node,
                f"Standardfluss «{default}» geht nicht von diesem Gateway aus",
                f"default flow «{default}» does not leave this gateway",
                "invalid-reference",
            )
        if len(outgoing) > 1 and not default:
            self.error(
                node,
                f"Exklusives Gateway {_describe(node)} hat keinen Standardfluss",
                f"exclusive gateway {_describe(node)} has no default flow",
                "gateway-without-default",
            )
        for flow in outgoing:
            conditions = _bpmn_children(flow, "conditionExpression")
            text = "".join(conditions[0].itertext()).strip() if conditions else ""
            if flow.get("id") == default:
                if text:
                    self.warning(flow, "Bedingung am Standardfluss wird ignoriert", "condition on the default flow is ignored")
                continue
            if not text:
                if len(outgoing) > 1:
                    self.error(
                        flow,
                        f"Ausgang {flow.get('id') or '(ohne ID)'} des Gateways hat keine Bedingung",
                        f"gateway output {flow.get('id') or '(without id)'} has no condition",
                        "missing-condition",
                    )
                continue
            language = " ".join((conditions[0].get("language") or "").split())
            if language and _SCRIPT_LANGUAGE_RE.search(language):
                self.error(
                    flow,
                    f"Bedingung in der Sprache «{language}» wird nicht unterstützt; bitte einen Ausdruck wie "
                    "${betrag > 100} oder in FEEL =betrag > 100 ohne language-Angabe",
                    f"a condition in the language «{language}» is not supported; give an expression such as "
                    "${amount > 100} or in FEEL =amount > 100 without a language",
                    "invalid-expression",
                )
                continue
            if "feel" in language.lower() and not text.startswith("="):
                # Read without «=», the text would be taken for our Python-like language.
                try:
                    compile_process_expression(f"={text}")
                    still_de = still_en = ""
                except ExpressionError as exc:
                    still_de, still_en = f"; auch so ist sie ungültig: {exc.message_de}", f"; even so it is invalid: {exc.message_en}"
                self.error(
                    flow,
                    f"Bedingung ist als FEEL angegeben (language=«{language}»); FEEL-Ausdrücke beginnen in Rathaus mit "
                    f"«=»: «={text}»{still_de}",
                    f"the condition is given as FEEL (language=«{language}»); in Rathaus FEEL expressions start "
                    f"with «=»: «={text}»{still_en}",
                    "invalid-expression",
                )
                continue
            self.expression(flow, text, "Bedingung", "condition")

    def check_parallelGateway(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        return None

    def check_eventBasedGateway(
        self, node: etree._Element, nodes: dict[str, etree._Element], outgoing: list[etree._Element]
    ) -> None:
        for flow in outgoing:
            target = nodes.get(str(flow.get("targetRef")))
            if target is None:
                continue
            kinds = [local_name(d) for d in self._definitions(target)]
            if local_name(target) != "intermediateCatchEvent" or kinds not in (
                ["timerEventDefinition"],
                ["messageEventDefinition"],
            ):
                self.error(
                    target,
                    "Nach einem ereignisbasierten Gateway muss ein Timer- oder Nachrichten-Zwischenereignis folgen",
                    "an event-based gateway must be followed by timer or message intermediate events",
                    "invalid-event-gateway",
                )

    def check_subProcess(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        if (node.get("triggeredByEvent") or "").strip().lower() == "true":
            self.unsupported(node, "Ereignis-Unterprozess", "event sub-process")
            return
        self.container(node)

    def check_callActivity(self, node: etree._Element, nodes: object, outgoing: object) -> None:
        called = (node.get("calledElement") or "").strip()
        if not called:
            self.error(node, "Aufrufaktivität ohne calledElement", "call activity without calledElement", "invalid-reference")
        elif called not in self.process_ids:
            self.error(
                node,
                f"Aufgerufener Prozess «{called}» ist nicht Teil des Modells",
                f"called process «{called}» is not part of the model",
                "missing-process",
            )


def _expression_code(exc: ExpressionError) -> str:
    return "unsafe-expression" if isinstance(exc, evaluator.UnsafeExpression) else "invalid-expression"


def executable_process_ids(root: etree._Element) -> list[str]:
    """Ids of the executable processes defined in a BPMN file."""
    return [
        str(p.get("id"))
        for p in _bpmn_children(root, "process")
        if p.get("id") and (p.get("isExecutable") or "true").strip().lower() == "true"
    ]


def check_processes(files: Sequence[tuple[str | None, etree._Element]]) -> list[Problem]:
    """What only the BPMN files of a model together tell: a process id defined twice, call
    activities that call their own process again (directly or through others), and whether
    exactly one executable process is left to start (the one no call activity calls)."""
    problems: list[Problem] = []
    if any(_element_count(root) > MAX_FLOW_NODES for _, root in files):
        return problems  # refused as too large by check_bpmn; following every call would take too long
    where: dict[str, tuple[str | None, etree._Element]] = {}
    for file, root in files:
        executable = set(executable_process_ids(root))
        for process in _bpmn_children(root, "process"):
            process_id = str(process.get("id") or "")
            if not process_id or process_id not in executable:
                continue
            if process_id in where and where[process_id][0] == file:
                continue  # named with the file's other duplicate ids
            if process_id in where:
                other = where[process_id][0] or "-"
                problems.append(
                    Problem(
                        file,
                        process_id,
                        ERROR,
                        f"Die Prozess-ID «{process_id}» gibt es schon in {other}; jede Prozess-ID darf im Modell nur "
                        "einmal vorkommen",
                        f"the process id «{process_id}» already exists in {other}; every process id may occur only "
                        "once in a model",
                        "duplicate-id",
                    )  # fmt: skip
                )
                continue
            where[process_id] = (file, process)
    calls: dict[str, list[tuple[str, etree._Element]]] = {
        process_id: [
            (str(node.get("calledElement") or "").strip(), node)
            for node in process.iter(f"{{{BPMN_NS}}}callActivity")
        ]
        for process_id, (_, process) in where.items()
    }  # fmt: skip

    def path_back(start: str, goal: str) -> list[str] | None:
        """Processes from ``start`` whose calls lead to ``goal`` (breadth first: the shortest way)."""
        came_from: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            if current == goal:
                path = [current]
                while (before := came_from[path[-1]]) is not None:
                    path.append(before)
                return path[::-1]
            for called, _ in calls.get(current, []):
                if called in calls and called not in came_from:
                    came_from[called] = current
                    queue.append(called)
        return None

    for process_id, activities in calls.items():
        for called, node in activities:
            cycle = path_back(called, process_id) if called in calls else None
            if cycle is None:
                continue
            chain = " → ".join([process_id, *cycle])
            problems.append(
                Problem(
                    where[process_id][0],
                    element_id(node),
                    ERROR,
                    f"Aufrufaktivität {_describe(node)} ruft «{called}» auf, und damit ruft sich der Prozess selbst "
                    f"wieder auf ({chain}); rekursive Aufrufe werden nicht unterstützt",
                    f"call activity {_describe(node)} calls «{called}», so the process calls itself again "
                    f"({chain}); recursive calls are not supported",
                    "recursive-call",
                )  # fmt: skip
            )
    called_anywhere = {
        str(node.get("calledElement") or "").strip() for _, root in files for node in root.iter(f"{{{BPMN_NS}}}callActivity")
    }
    candidates = [process_id for process_id in where if process_id not in called_anywhere]
    if len(candidates) > 1:
        listed = ", ".join(f"«{c}»" for c in candidates)
        problems.append(
            Problem(
                where[candidates[1]][0],
                candidates[1],
                ERROR,
                f"Mehrere ausführbare Prozesse werden von keiner Aufrufaktivität aufgerufen ({listed}); gestartet "
                "werden kann aber nur einer. "
                'Bitte die übrigen als nicht ausführbar markieren (isExecutable="false") oder per Aufrufaktivität '
                "aufrufen",
                f"several executable processes are called by no call activity ({listed}); exactly one is started. "
                'Mark the others as not executable (isExecutable="false") or call them from a call activity',
                "several-main-processes",
            )  # fmt: skip
        )
    return problems


def check_bpmn(
    root: etree._Element,
    file: str | None = None,
    *,
    decisions: Collection[str] | None = None,
    steps: Collection[str] | None = None,
    process_ids: Collection[str] | None = None,
    forms: Collection[str] | None = None,
    param_problems: Callable[[str, Mapping[str, str]], list[tuple[str, str]]] | None = None,
) -> list[Problem]:
    """Check one parsed BPMN file.

    ``decisions``: decision ids available (None: don't check references); ``steps``: registered
    step names (None: don't check); ``process_ids``: processes available to call activities;
    ``forms``: known user-task form keys (None: don't check); ``param_problems(step, params)``:
    what is wrong with a service task's parameters (all of them, literals and expressions).
    """
    if local_name(root) != "definitions" or namespace(root) != BPMN_NS:
        return [
            Problem(
                file,
                None,
                ERROR,
                f"Keine BPMN-2.0-Datei (Wurzelelement {local_name(root)})",
                f"not a BPMN 2.0 file (root element {local_name(root)})",
                "not-bpmn",
            )  # fmt: skip
        ]
    ids = process_ids if process_ids is not None else executable_process_ids(root)
    return _Checker(root, file, decisions, steps, ids, forms, param_problems).run()
