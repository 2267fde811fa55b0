"""DMN decision tables as bpmn.io / Camunda Modeler write them, evaluated explainably.

``load_dmn(bytes)`` reads DMN 1.1–1.5 XML (``camunda:`` attributes, ``dmndi``/``biodi``
diagram parts are ignored), compiles every cell once and reports problems with the id of the
element at fault.  ``decide(model, decision_id, inputs)`` evaluates a decision (and the
decisions it requires) and returns a :class:`DecisionResult` that says which rules matched,
with which input values, and what came out — the material for the audit trail and for the
citizen's "why" on the status page.

Supported: decision tables with the hit policies UNIQUE, FIRST, PRIORITY, ANY, RULE ORDER,
OUTPUT ORDER and COLLECT (with SUM, MIN, MAX, COUNT), literal-expression decisions, and
``requiredDecision`` dependencies.  Not supported (named as problems): business knowledge
models, boxed contexts, invocations, relations.

Result shapes (``DecisionResult.output``):

* single-hit tables (UNIQUE, FIRST, PRIORITY, ANY): ``{output name: value}`` or ``None``;
* multi-hit tables (RULE ORDER, OUTPUT ORDER, COLLECT): a list of such dicts;
* COLLECT with an aggregation: the aggregated number;
* literal expressions: ``{variable name: value}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lxml import etree

from . import feel
from .errors import BilingualError
from .evaluator import ExpressionError
from .feel import FeelExpression, UnaryTests, feel_equal
from .xmlutil import XmlError, local_name, namespace, parse_xml

__all__ = [
    "CAMUNDA_DMN_NS",
    "DMN_NAMESPACES",
    "MAX_REQUIREMENT_DEPTH",
    "Decision",
    "DecisionError",
    "DecisionResult",
    "DecisionTable",
    "DmnError",
    "DmnModel",
    "LiteralDecision",
    "MatchedRule",
    "decide",
    "load_dmn",
]

DMN_NAMESPACES = frozenset(
    {
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",  # DMN 1.1 (older Camunda Modeler)
        "http://www.omg.org/spec/DMN/20180521/MODEL/",  # DMN 1.2
        "https://www.omg.org/spec/DMN/20191111/MODEL/",  # DMN 1.3 (Camunda Modeler 4/5)
        "https://www.omg.org/spec/DMN/20211108/MODEL/",  # DMN 1.4
        "https://www.omg.org/spec/DMN/20230324/MODEL/",  # DMN 1.5
    }
)
CAMUNDA_DMN_NS = "http://camunda.org/schema/1.0/dmn"
#: Most decisions in one chain of requirements: evaluating and explaining a decision recurses along it.
MAX_REQUIREMENT_DEPTH = 100

SINGLE_HIT = frozenset({"UNIQUE", "FIRST", "PRIORITY", "ANY"})
MULTI_HIT = frozenset({"RULE ORDER", "OUTPUT ORDER", "COLLECT"})
AGGREGATIONS = frozenset({"SUM", "MIN", "MAX", "COUNT"})
_HIT_POLICY_ALIASES = {
    "U": "UNIQUE", "F": "FIRST", "P": "PRIORITY", "A": "ANY", "R": "RULE ORDER",
    "O": "OUTPUT ORDER", "C": "COLLECT", "RULE_ORDER": "RULE ORDER", "OUTPUT_ORDER": "OUTPUT ORDER",
}  # fmt: skip
_COLLECT_SHORT = {"C+": "SUM", "C<": "MIN", "C>": "MAX", "C#": "COUNT"}
_UNSUPPORTED_LOGIC = {
    "context": ("Boxed Contexts", "boxed contexts"),
    "invocation": ("Aufrufe (invocation)", "invocations"),
    "relation": ("Relationen", "relations"),
    "list": ("Listen-Ausdrücke", "list expressions"),
    "functionDefinition": ("Funktionsdefinitionen", "function definitions"),
    "conditional": ("bedingte Ausdrücke (boxed conditional)", "boxed conditionals"),
    "filter": ("Filter", "filters"),
    "for": ("Schleifen", "iterations"),
    "some": ("Quantoren", "quantifiers"),
    "every": ("Quantoren", "quantifiers"),
}


class DmnError(BilingualError, ValueError):
    """A DMN file or decision is invalid; names the element at fault where there is one."""

    def __init__(self, message_de: str, message_en: str, *, element_id: str | None = None, file: str | None = None) -> None:
        super().__init__(message_de, message_en, where=element_id)
        self.element_id = element_id
        self.file = file


class DecisionError(DmnError):
    """Evaluating a decision failed (conflicting rules, missing input, cell error …)."""


# --------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True, eq=False)
class DmnInput:
    """An input column: its expression and how to show it in explanations."""

    id: str
    label: str
    expression: FeelExpression
    type_ref: str | None
    variable: str

    @property
    def key(self) -> str:
        """Name of this input in explanations (label, else the expression text)."""
        return self.label


@dataclass(frozen=True, eq=False)
class DmnOutput:
    """An output column; ``values`` (output values) order PRIORITY and OUTPUT ORDER."""

    id: str
    name: str
    label: str | None
    type_ref: str | None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True, eq=False)
class DmnRule:
    """One row of a decision table."""

    id: str
    index: int
    annotation: str | None
    input_entries: tuple[tuple[str, UnaryTests], ...]
    output_entries: tuple[tuple[str, FeelExpression | None], ...]


@dataclass(frozen=True, eq=False)
class DecisionTable:
    """A compiled decision table."""

    id: str
    hit_policy: str
    aggregation: str | None
    inputs: tuple[DmnInput, ...]
    outputs: tuple[DmnOutput, ...]
    rules: tuple[DmnRule, ...]


@dataclass(frozen=True, eq=False)
class LiteralDecision:
    """A decision whose logic is one FEEL expression."""

    id: str
    variable: str
    type_ref: str | None
    expression: FeelExpression


@dataclass(frozen=True, eq=False)
class Decision:
    """A decision with its logic and the decisions it requires."""

    id: str
    name: str
    logic: DecisionTable | LiteralDecision
    required_decisions: tuple[str, ...] = ()
    file: str | None = None


@dataclass(frozen=True, eq=False)
class DmnModel:
    """All decisions of one or more DMN files, by id."""

    decisions: Mapping[str, Decision]
    name: str | None = None
    files: tuple[str, ...] = ()

    def decision(self, ref: str) -> Decision:
        """Find a decision by id (or, failing that, by name)."""
        found = self.decisions.get(ref)
        if found is None:
            found = next((d for d in self.decisions.values() if d.name == ref), None)
        if found is None:
            known = ", ".join(sorted(self.decisions)) or "—"
            raise DecisionError(
                f"Entscheidung «{ref}» nicht gefunden (vorhanden: {known})",
                f"decision «{ref}» not found (available: {known})",
                element_id=ref,
            )
        return found

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and (ref in self.decisions or any(d.name == ref for d in self.decisions.values()))

    @classmethod
    def merge(cls, models: Iterable[DmnModel]) -> DmnModel:
        """Combine the decisions of several files; duplicate decision ids are an error."""
        decisions: dict[str, Decision] = {}
        files: list[str] = []
        for model in models:
            for decision_id, decision in model.decisions.items():
                if decision_id in decisions:
                    raise DmnError(
                        f"Entscheidung «{decision_id}» ist mehrfach definiert",
                        f"decision «{decision_id}» is defined more than once",
                        element_id=decision_id,
                        file=decision.file,
                    )
                decisions[decision_id] = decision
            files.extend(model.files)
        merged = cls(decisions=decisions, files=tuple(files))
        _check_requirements(merged)
        return merged


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class MatchedRule:
    """A rule that contributed to the result, with the values it was tested against."""

    rule_id: str
    index: int
    annotation: str | None
    inputs: dict[str, Any]
    conditions: dict[str, str]
    outputs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for audit entries."""
        return {
            "rule_id": self.rule_id,
            "index": self.index,
            "annotation": self.annotation,
            "inputs": _jsonable(self.inputs),
            "conditions": dict(self.conditions),
            "outputs": _jsonable(self.outputs),
        }


@dataclass(frozen=True)
class DecisionResult:
    """Outcome of a decision, explainable: matched rules, the inputs used, sub-decisions."""

    decision_id: str
    decision_name: str
    hit_policy: str | None
    output: Any
    matched_rules: tuple[MatchedRule, ...]
    inputs_used: dict[str, Any]
    required: tuple[DecisionResult, ...] = field(default=())
    output_names: tuple[str, ...] = field(default=())

    @property
    def value(self) -> Any:
        """The output without single-column wrappers (``{"fee": 90}`` → ``90``)."""
        output = self.output
        if isinstance(output, dict) and len(output) == 1:
            return next(iter(output.values()))
        if isinstance(output, list) and all(isinstance(o, dict) and len(o) == 1 for o in output):
            return [next(iter(o.values())) for o in output]
        return output

    def variables(self) -> dict[str, Any]:
        """Names this result provides to decisions that require it."""
        names: dict[str, Any] = dict.fromkeys(self.output_names)
        if isinstance(self.output, dict):
            names.update(self.output)
        elif isinstance(self.output, list) and self.output and all(isinstance(o, dict) for o in self.output):
            for key in self.output[0]:
                names[key] = [o.get(key) for o in self.output]
        names[self.decision_id] = self.value
        return names

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly explanation (for the audit trail and the status page).

        A decision required along several paths is explained once, where it comes first, and
        named (``explained_above``) elsewhere: repeated, 15 layers of two decisions that each
        require both below would be explained 2**15 times.
        """
        return self._to_dict(set())

    def _to_dict(self, explained: set[str]) -> dict[str, Any]:
        explained.add(self.decision_id)
        required = [
            {"decision_id": result.decision_id, "decision_name": result.decision_name, "explained_above": True}
            if result.decision_id in explained
            else result._to_dict(explained)
            for result in self.required
        ]
        return {
            "decision_id": self.decision_id,
            "decision_name": self.decision_name,
            "hit_policy": self.hit_policy,
            "output": _jsonable(self.output),
            "matched_rules": [rule.to_dict() for rule in self.matched_rules],
            "inputs_used": _jsonable(self.inputs_used),
            "required": required,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# --------------------------------------------------------------------------------------------
# Loading


class _Reader:
    def __init__(self, root: etree._Element, file: str | None) -> None:
        self.root = root
        self.ns = namespace(root)
        self.file = file

    def children(self, element: etree._Element, name: str) -> list[etree._Element]:
        return [c for c in element if local_name(c) == name and namespace(c) == self.ns]

    def child(self, element: etree._Element, name: str) -> etree._Element | None:
        found = self.children(element, name)
        return found[0] if found else None

    def text_of(self, element: etree._Element | None) -> str | None:
        """Text of the ``<text>`` child (DMN 1.1+ ``<text>``)."""
        if element is None:
            return None
        text = self.child(element, "text")
        if text is not None:
            return text.text or ""
        return None

    def error(self, de: str, en: str, element: etree._Element | None) -> DmnError:
        return DmnError(de, en, element_id=_element_id(element), file=self.file)


def _element_id(element: etree._Element | None) -> str | None:
    while element is not None:
        found = element.get("id")
        if found:
            return str(found)
        element = element.getparent()
    return None


def load_dmn(data: bytes, *, file: str | None = None) -> DmnModel:
    """Parse and compile a DMN file. Raises :class:`DmnError` naming the element at fault."""
    try:
        root = parse_xml(data)
    except XmlError as exc:
        raise DmnError(exc.message_de, exc.message_en, file=file) from None
    if local_name(root) != "definitions" or namespace(root) not in DMN_NAMESPACES:
        raise DmnError(
            f"Keine DMN-Datei (Wurzelelement {local_name(root)} im Namensraum «{namespace(root)}»)",
            f"not a DMN file (root element {local_name(root)} in namespace «{namespace(root)}»)",
            file=file,
        )
    reader = _Reader(root, file)
    decisions: dict[str, Decision] = {}
    for node in reader.children(root, "decision"):
        decision = _read_decision(reader, node)
        if decision.id in decisions:
            raise reader.error(f"Entscheidungs-ID «{decision.id}» ist doppelt", f"duplicate decision id «{decision.id}»", node)
        decisions[decision.id] = decision
    for kind in ("businessKnowledgeModel", "decisionService"):
        for node in reader.children(root, kind):
            raise reader.error(f"{kind} wird nicht unterstützt", f"{kind} is not supported", node)
    model = DmnModel(decisions=decisions, name=root.get("name"), files=(file,) if file else ())
    _check_requirements(model, file)
    return model


def _read_decision(reader: _Reader, node: etree._Element) -> Decision:
    decision_id = node.get("id")
    if not decision_id:
        raise reader.error("Entscheidung ohne id", "decision without id", node)
    name = node.get("name") or decision_id
    required: list[str] = []
    for requirement in reader.children(node, "informationRequirement"):
        for ref in reader.children(requirement, "requiredDecision"):
            href = (ref.get("href") or "").strip()
            required.append(href.split("#", 1)[-1])
    if reader.children(node, "knowledgeRequirement"):
        raise reader.error(
            "Wissensmodelle (knowledgeRequirement/BKM) werden nicht unterstützt",
            "business knowledge models (knowledgeRequirement) are not supported",
            node,
        )
    table = reader.child(node, "decisionTable")
    literal = reader.child(node, "literalExpression")
    logic: DecisionTable | LiteralDecision
    if table is not None:
        logic = _read_table(reader, table)
    elif literal is not None:
        logic = _read_literal(reader, node, literal, name)
    else:
        for child in node:
            kind = local_name(child)
            if kind in _UNSUPPORTED_LOGIC:
                de, en = _UNSUPPORTED_LOGIC[kind]
                raise reader.error(f"{de} werden nicht unterstützt", f"{en} are not supported", child)
        raise reader.error(
            f"Entscheidung «{name}» hat keine Entscheidungstabelle und keinen Ausdruck",
            f"decision «{name}» has neither a decision table nor a literal expression",
            node,
        )
    return Decision(id=decision_id, name=name, logic=logic, required_decisions=tuple(required), file=reader.file)


def _compile_feel(reader: _Reader, text: str, element: etree._Element) -> FeelExpression:
    try:
        return feel.compile_expression(text)
    except ExpressionError as exc:
        raise reader.error(exc.message_de, exc.message_en, element) from None


def _read_literal(reader: _Reader, decision: etree._Element, literal: etree._Element, name: str) -> LiteralDecision:
    text = reader.text_of(literal)
    if not text or not text.strip():
        raise reader.error("Leerer Ausdruck", "empty literal expression", literal)
    variable = reader.child(decision, "variable")
    variable_name = (variable.get("name") if variable is not None else None) or decision.get("id") or name
    type_ref = (variable.get("typeRef") if variable is not None else None) or literal.get("typeRef")
    return LiteralDecision(
        id=str(literal.get("id") or decision.get("id")),
        variable=variable_name,
        type_ref=type_ref,
        expression=_compile_feel(reader, text, literal),
    )


def _read_table(reader: _Reader, table: etree._Element) -> DecisionTable:
    table_id = str(table.get("id") or _element_id(table) or "")
    raw_policy = (table.get("hitPolicy") or "UNIQUE").strip().upper()
    aggregation = (table.get("aggregation") or "").strip().upper() or None
    if raw_policy in _COLLECT_SHORT:
        raw_policy, aggregation = "COLLECT", _COLLECT_SHORT[raw_policy]
    hit_policy = _HIT_POLICY_ALIASES.get(raw_policy, raw_policy)
    if hit_policy not in SINGLE_HIT | MULTI_HIT:
        raise reader.error(f"Unbekannte Hit Policy «{raw_policy}»", f"unknown hit policy «{raw_policy}»", table)
    if aggregation is not None and (hit_policy != "COLLECT" or aggregation not in AGGREGATIONS):
        raise reader.error(
            f"Aggregation «{aggregation}» ist nur bei COLLECT mit SUM, MIN, MAX oder COUNT möglich",
            f"aggregation «{aggregation}» is only possible with COLLECT and SUM, MIN, MAX or COUNT",
            table,
        )

    inputs: list[DmnInput] = []
    for index, node in enumerate(reader.children(table, "input"), start=1):
        expression_node = reader.child(node, "inputExpression")
        text = reader.text_of(expression_node)
        if expression_node is None or not text or not text.strip():
            raise reader.error(
                f"Eingabespalte {index} hat keinen Eingabeausdruck", f"input column {index} has no input expression", node
            )
        label = node.get("label") or text.strip()
        inputs.append(
            DmnInput(
                id=str(node.get("id") or f"input{index}"),
                label=label,
                expression=_compile_feel(reader, text, expression_node),
                type_ref=expression_node.get("typeRef"),
                variable=node.get(f"{{{CAMUNDA_DMN_NS}}}inputVariable") or feel.CELL_INPUT,
            )
        )
    labels = [i.label for i in inputs]
    if len(set(labels)) != len(labels):
        inputs = [
            DmnInput(i.id, f"{i.label} ({i.id})", i.expression, i.type_ref, i.variable) if labels.count(i.label) > 1 else i
            for i in inputs
        ]

    outputs: list[DmnOutput] = []
    output_nodes = reader.children(table, "output")
    if not output_nodes:
        raise reader.error("Entscheidungstabelle ohne Ausgabespalte", "decision table without an output column", table)
    for index, node in enumerate(output_nodes, start=1):
        name = node.get("name") or node.get("label")
        if not name:
            if len(output_nodes) > 1:
                raise reader.error(f"Ausgabespalte {index} braucht einen Namen", f"output column {index} needs a name", node)
            name = node.get("id") or "output"
        values: tuple[Any, ...] = ()
        values_text = reader.text_of(reader.child(node, "outputValues"))
        if values_text and values_text.strip():
            listed = _compile_feel(reader, f"[{values_text}]", node)
            try:
                evaluated = listed.evaluate({})
            except ExpressionError as exc:
                raise reader.error(exc.message_de, exc.message_en, node) from None
            values = tuple(evaluated)
        outputs.append(
            DmnOutput(
                id=str(node.get("id") or f"output{index}"),
                name=name,
                label=node.get("label"),
                type_ref=node.get("typeRef"),
                values=values,
            )
        )
    if len({o.name for o in outputs}) != len(outputs):
        raise reader.error("Ausgabespalten brauchen verschiedene Namen", "output columns need distinct names", table)
    if hit_policy in ("PRIORITY", "OUTPUT ORDER") and not any(o.values for o in outputs):
        raise reader.error(
            f"{hit_policy} braucht Ausgabewerte (outputValues) für die Reihenfolge",
            f"{hit_policy} needs output values (outputValues) to order by",
            table,
        )
    if aggregation is not None and len(outputs) != 1:
        raise reader.error("Aggregation braucht genau eine Ausgabespalte", "aggregation needs exactly one output column", table)

    rules: list[DmnRule] = []
    for index, node in enumerate(reader.children(table, "rule"), start=1):
        rules.append(_read_rule(reader, node, index, inputs, outputs))
    return DecisionTable(
        id=table_id,
        hit_policy=hit_policy,
        aggregation=aggregation,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        rules=tuple(rules),
    )


def _read_rule(
    reader: _Reader, node: etree._Element, index: int, inputs: Sequence[DmnInput], outputs: Sequence[DmnOutput]
) -> DmnRule:
    rule_id = str(node.get("id") or f"rule{index}")
    input_nodes = reader.children(node, "inputEntry")
    output_nodes = reader.children(node, "outputEntry")
    if len(input_nodes) != len(inputs) or len(output_nodes) != len(outputs):
        raise reader.error(
            f"Regel {index} hat {len(input_nodes)}/{len(output_nodes)} Zellen, erwartet {len(inputs)}/{len(outputs)}",
            f"rule {index} has {len(input_nodes)}/{len(output_nodes)} cells, expected {len(inputs)}/{len(outputs)}",
            node,
        )
    entries: list[tuple[str, UnaryTests]] = []
    for cell in input_nodes:
        text = reader.text_of(cell) or ""
        try:
            entries.append((text.strip(), feel.compile_unary_tests(text)))
        except ExpressionError as exc:
            raise reader.error(f"Regel {index}: {exc.message_de}", f"rule {index}: {exc.message_en}", cell) from None
    results: list[tuple[str, FeelExpression | None]] = []
    for cell in output_nodes:
        text = (reader.text_of(cell) or "").strip()
        if not text:
            results.append((text, None))
            continue
        try:
            results.append((text, feel.compile_expression(text)))
        except ExpressionError as exc:
            raise reader.error(f"Regel {index}: {exc.message_de}", f"rule {index}: {exc.message_en}", cell) from None
    notes = [(d.text or "").strip() for d in reader.children(node, "description")]
    for entry in reader.children(node, "annotationEntry"):
        notes.append((reader.text_of(entry) or "").strip())
    annotation = "; ".join(n for n in notes if n) or None
    return DmnRule(id=rule_id, index=index, annotation=annotation, input_entries=tuple(entries), output_entries=tuple(results))


def _check_requirements(model: DmnModel, file: str | None = None) -> None:
    for decision in model.decisions.values():
        for ref in decision.required_decisions:
            if ref not in model.decisions:
                raise DmnError(
                    f"Entscheidung «{decision.id}» benötigt die unbekannte Entscheidung «{ref}»",
                    f"decision «{decision.id}» requires the unknown decision «{ref}»",
                    element_id=decision.id,
                    file=decision.file,
                )
    visiting: set[str] = set()
    lengths: dict[str, int] = {}  # decisions in the longest chain a decision starts, itself included

    def too_long(decision_id: str) -> DmnError:
        return DmnError(
            f"Die Kette benötigter Entscheidungen ist zu lang (höchstens {MAX_REQUIREMENT_DEPTH})",
            f"the chain of required decisions is too long (at most {MAX_REQUIREMENT_DEPTH})",
            element_id=decision_id,
            file=file or model.decisions[decision_id].file,
        )

    def visit(decision_id: str, path: list[str]) -> int:
        if decision_id in lengths:
            return lengths[decision_id]
        if decision_id in visiting:
            cycle = " → ".join([*path[path.index(decision_id) :], decision_id])
            raise DmnError(
                f"Zyklische Abhängigkeit: {cycle}",
                f"cyclic requirement: {cycle}",
                element_id=decision_id,
                file=file or model.decisions[decision_id].file,
            )
        if len(path) >= MAX_REQUIREMENT_DEPTH:  # (before recursing deeper than Python can)
            raise too_long(decision_id)
        visiting.add(decision_id)
        length = 1 + max((visit(ref, [*path, decision_id]) for ref in model.decisions[decision_id].required_decisions), default=0)
        visiting.discard(decision_id)
        if length > MAX_REQUIREMENT_DEPTH:
            raise too_long(decision_id)
        lengths[decision_id] = length
        return length

    for decision_id in model.decisions:
        visit(decision_id, [])


# --------------------------------------------------------------------------------------------
# Evaluation


def decide(model: DmnModel, decision_id: str, inputs: Mapping[str, Any], *, now: datetime | None = None) -> DecisionResult:
    """Evaluate a decision (and the decisions it requires) for ``inputs``.

    Raises :class:`DecisionError` for conflicting rules (UNIQUE, ANY), failing cells or
    missing inputs; the message names the decision, rule or input concerned.
    """
    return _decide(model, model.decision(decision_id), dict(inputs), now, {})


def _decide(
    model: DmnModel, decision: Decision, inputs: dict[str, Any], now: datetime | None, cache: dict[str, DecisionResult]
) -> DecisionResult:
    if decision.id in cache:
        return cache[decision.id]
    required = tuple(_decide(model, model.decisions[ref], inputs, now, cache) for ref in decision.required_decisions)
    context = dict(inputs)
    for result in required:
        context.update(result.variables())
    if isinstance(decision.logic, LiteralDecision):
        result = _decide_literal(decision, decision.logic, context, now, required)
    else:
        result = _decide_table(decision, decision.logic, context, now, required)
    cache[decision.id] = result
    return result


def _decide_literal(
    decision: Decision, logic: LiteralDecision, context: dict[str, Any], now: datetime | None,
    required: tuple[DecisionResult, ...],
) -> DecisionResult:  # fmt: skip
    try:
        value = logic.expression.evaluate(context, now=now)
    except ExpressionError as exc:
        raise DecisionError(
            f"Entscheidung «{decision.name}»: {exc.message_de}",
            f"decision «{decision.name}»: {exc.message_en}",
            element_id=logic.id,
            file=decision.file,
        ) from None
    used = {name: context[name] for name in sorted(logic.expression.names) if name in context}
    return DecisionResult(
        decision_id=decision.id,
        decision_name=decision.name,
        hit_policy=None,
        output={logic.variable: _coerce_output(value, logic.type_ref)},
        matched_rules=(),
        inputs_used=used,
        required=required,
        output_names=(logic.variable,),
    )


#: The typeRefs a text input is read as, by the name this module uses for them.
_TYPE_KINDS = {
    "date": "date", "datetime": "datetime", "date and time": "datetime", "integer": "integer", "long": "integer",
    "int": "integer", "double": "number", "number": "number", "decimal": "number", "boolean": "boolean",
}
#: What a text input must be for its column's type: (German, English) for the error message.
_TYPE_WORDS = {
    "date": ("ist kein Datum (2026-03-01)", "is not a date (2026-03-01)"),
    "datetime": ("ist kein Zeitpunkt (2026-03-01T09:00:00)", "is not a date and time (2026-03-01T09:00:00)"),
    "integer": ("ist keine ganze Zahl", "is not a whole number"),
    "number": ("ist keine Zahl", "is not a number"),
    "boolean": ("ist weder true noch false", "is neither true nor false"),
}


# Python's int() and float() also read "1_000" and other scripts' digits ("٣"); a form's reader does not.
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _coerce_input(value: Any, type_ref: str | None) -> Any:
    """A text input as its column's type; a text that is not one is an error (as in Camunda),
    never kept as text: it would silently miss every comparison and pick another rule."""
    kind = _TYPE_KINDS.get((type_ref or "").strip().lower())
    if not isinstance(value, str) or kind is None:
        return value
    text = value.strip()
    try:
        if kind == "date":
            # A date and time ("2026-03-01T10:00:00") is read as its day; anything else after the day is not a date.
            return date.fromisoformat(text) if len(text) <= 10 else datetime.fromisoformat(text).date()
        if kind == "datetime":
            return datetime.fromisoformat(text)
        if kind == "boolean":
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            raise ValueError(text)
        if not (_INTEGER_RE if kind == "integer" else _NUMBER_RE).fullmatch(text):
            raise ValueError(text)
        if kind == "integer":
            return int(text)
        number = int(text) if _INTEGER_RE.fullmatch(text) else float(text)
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(text)
        return number
    except ValueError:
        shown = value if len(value) <= 50 else value[:50] + "…"
        is_not_de, is_not_en = _TYPE_WORDS[kind]
        raise ExpressionError(f"«{shown}» {is_not_de} (typeRef {type_ref})",
                              f"«{shown}» {is_not_en} (typeRef {type_ref})") from None


def _coerce_output(value: Any, type_ref: str | None) -> Any:
    if _TYPE_KINDS.get((type_ref or "").strip().lower()) == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _decide_table(
    decision: Decision, table: DecisionTable, context: dict[str, Any], now: datetime | None,
    required: tuple[DecisionResult, ...],
) -> DecisionResult:  # fmt: skip
    def fail(de: str, en: str, element_id: str | None) -> DecisionError:
        return DecisionError(
            f"Entscheidung «{decision.name}»: {de}", f"decision «{decision.name}»: {en}",
            element_id=element_id, file=decision.file,
        )  # fmt: skip

    values: list[Any] = []
    scopes: list[dict[str, Any]] = []
    for column in table.inputs:
        try:
            value = _coerce_input(column.expression.evaluate(context, now=now), column.type_ref)
        except ExpressionError as exc:
            raise fail(
                f"Eingabe «{column.label}»: {exc.message_de}", f"input «{column.label}»: {exc.message_en}", column.id
            ) from None
        values.append(value)
        scope = dict(context)
        scope[column.variable] = value
        scopes.append(scope)

    matched: list[DmnRule] = []
    for rule in table.rules:
        try:
            hit = all(tests.matches(values[i], scopes[i], now=now) for i, (_, tests) in enumerate(rule.input_entries))
        except ExpressionError as exc:
            raise fail(f"Regel {rule.index}: {exc.message_de}", f"rule {rule.index}: {exc.message_en}", rule.id) from None
        if hit:
            matched.append(rule)
            if table.hit_policy == "FIRST":
                break

    def outputs_of(rule: DmnRule) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for column, (_, expression) in zip(table.outputs, rule.output_entries, strict=True):
            try:
                value = None if expression is None else expression.evaluate(context, now=now)
            except ExpressionError as exc:
                raise fail(
                    f"Regel {rule.index}, Ausgabe «{column.name}»: {exc.message_de}",
                    f"rule {rule.index}, output «{column.name}»: {exc.message_en}",
                    rule.id,
                ) from None
            result[column.name] = _coerce_output(value, column.type_ref)
        return result

    rows = [(rule, outputs_of(rule)) for rule in matched]
    policy = table.hit_policy
    output: Any
    if policy == "UNIQUE" and len(rows) > 1:
        ids = ", ".join(f"{r.index} ({r.id})" for r, _ in rows)
        raise fail(f"mehrere Regeln treffen zu ({ids}), erlaubt ist genau eine (UNIQUE)",
                   f"several rules match ({ids}) but UNIQUE allows one", table.id)  # fmt: skip
    if policy == "ANY" and len(rows) > 1:
        first = rows[0][1]
        for rule, result in rows[1:]:
            if not feel_equal(result, first):
                raise fail(
                    f"Regeln {rows[0][0].index} und {rule.index} treffen zu, liefern aber Verschiedenes (ANY)",
                    f"rules {rows[0][0].index} and {rule.index} match with different outputs (ANY)",
                    table.id,
                )
    if policy in ("PRIORITY", "OUTPUT ORDER"):
        rows.sort(key=lambda row: _priority(table.outputs, row[1]))
        if policy == "PRIORITY":
            rows = rows[:1]
    if policy in SINGLE_HIT:
        used_rows = rows[:1] if policy != "ANY" else rows
        output = rows[0][1] if rows else None
    else:
        used_rows = rows
        if table.aggregation is None:
            output = [result for _, result in rows]
        else:
            name = table.outputs[0].name
            numbers = [result[name] for _, result in rows if result[name] is not None]
            output = _aggregate(table.aggregation, numbers, fail, table.id)

    explained = tuple(
        MatchedRule(
            rule_id=rule.id,
            index=rule.index,
            annotation=rule.annotation,
            inputs={column.label: values[i] for i, column in enumerate(table.inputs)},
            conditions={column.label: rule.input_entries[i][0] or "-" for i, column in enumerate(table.inputs)},
            outputs=result,
        )
        for rule, result in used_rows
    )
    return DecisionResult(
        decision_id=decision.id,
        decision_name=decision.name,
        hit_policy=policy if table.aggregation is None else f"{policy} {table.aggregation}",
        output=output,
        matched_rules=explained,
        inputs_used={column.label: values[i] for i, column in enumerate(table.inputs)},
        required=required,
        output_names=tuple(column.name for column in table.outputs),
    )


def _priority(outputs: Sequence[DmnOutput], result: Mapping[str, Any]) -> tuple[int, ...]:
    key: list[int] = []
    for column in outputs:
        if not column.values:
            continue
        value = result.get(column.name)
        position = next((i for i, v in enumerate(column.values) if feel_equal(v, value)), len(column.values))
        key.append(position)
    return tuple(key)


def _aggregate(aggregation: str, numbers: list[Any], fail: Any, table_id: str) -> Any:
    if aggregation == "COUNT":
        return len(numbers)
    if not numbers:
        return None
    if any(isinstance(n, bool) or not isinstance(n, int | float) for n in numbers) and aggregation == "SUM":
        raise fail("SUM braucht Zahlen", "SUM needs numbers", table_id)
    try:
        if aggregation == "SUM":
            return sum(numbers)
        if aggregation == "MIN":
            return min(numbers)
        return max(numbers)
    except TypeError:
        raise fail(f"{aggregation} braucht vergleichbare Werte", f"{aggregation} needs comparable values", table_id) from None
