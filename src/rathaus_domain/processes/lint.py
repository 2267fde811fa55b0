"""Check BPMN/DMN files before they are published: every problem named, never a traceback.

``check_files`` is what ``rathaus check-process FILE...`` and the upload form run. It reports

* files not stored as UTF-8 (``encoding``), not well-formed XML, not BPMN/DMN, or using DTDs (``parse-error``, …);
* unsupported BPMN elements, named with their id (``unsupported-element``);
* exclusive gateways without a default flow and outputs without conditions;
* unsafe or invalid expressions in conditions, scripts, timers, due dates and DMN cells
  (``unsafe-expression`` / ``invalid-expression``), using the evaluator's static check;
* business-rule tasks whose decision is missing (``missing-decision``), service tasks whose
  step is not registered (``unknown-step``), call activities whose process is missing;
* anything SpiffWorkflow's parser still rejects (``invalid-model``).

Problems whose ``code`` is in :data:`FILE_LEVEL_CODES` concern a whole file; all others name
the element at fault.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Iterable
from pathlib import Path

from lxml import etree

from . import checks, feel
from .bpmnext import BPMN_NS
from .checks import ERROR, WARNING, Problem
from .dmn import DMN_NAMESPACES, DecisionTable, DmnError, DmnModel, load_dmn
from .engine import ProcessModel, ProcessModelError, ServiceStepRegistry
from .evaluator import ExpressionError
from .xmlutil import XmlError, local_name, namespace, parse_xml

__all__ = ["FILE_LEVEL_CODES", "FileInput", "Problem", "check_files", "file_kind", "has_errors"]

FileInput = str | os.PathLike[str] | tuple[str, bytes]

#: Problem codes that concern a file as a whole (no element id).
FILE_LEVEL_CODES = frozenset(
    {"read-error", "encoding", "parse-error", "unknown-file-type", "not-bpmn", "no-process", "no-executable-process",
     "too-large", "internal-error"}
)


def _read(item: FileInput) -> tuple[str, bytes]:
    if isinstance(item, tuple):
        return str(item[0]), bytes(item[1])
    path = Path(item)
    return path.name, path.read_bytes()


def _kind(root: etree._Element) -> str | None:
    if local_name(root) != "definitions":
        return None
    if namespace(root) == BPMN_NS:
        return "bpmn"
    if namespace(root) in DMN_NAMESPACES:
        return "dmn"
    return None


def file_kind(data: bytes) -> str | None:
    """``"bpmn"`` or ``"dmn"`` by the file's root element (as :func:`check_files` sorts them), whatever its
    name ends with (modelling tools also save ``.xml``); None if it is neither or not well-formed."""
    try:
        return _kind(parse_xml(data))
    except XmlError:
        return None


def _problem(file: str | None, element_id: str | None, de: str, en: str, code: str, severity: str = ERROR) -> Problem:
    return Problem(file, element_id, severity, de, en, code)


def has_errors(problems: Iterable[Problem]) -> bool:
    """Whether any problem is an error (the CLI exits with status 1 then)."""
    return any(p.severity == ERROR for p in problems)


def _dmn_cell_problems(name: str, root: etree._Element) -> list[Problem]:
    """Every rule cell of every decision table that does not compile, each with its element id."""
    found: list[Problem] = []
    ns = namespace(root)
    for rule in root.iter(f"{{{ns}}}rule"):
        for cell in rule:
            kind = local_name(cell)
            if kind not in ("inputEntry", "outputEntry"):
                continue
            text_node = cell.find(f"{{{ns}}}text")
            text = (text_node.text or "") if text_node is not None else ""
            try:
                if kind == "inputEntry":
                    feel.compile_unary_tests(text)
                elif text.strip():
                    feel.compile_expression(text)
            except ExpressionError as exc:
                cell_id = cell.get("id") or rule.get("id")
                found.append(_problem(name, cell_id, exc.message_de, exc.message_en, "invalid-dmn"))
    return found


def check_files(
    files: Iterable[FileInput],
    *,
    registry: ServiceStepRegistry | Collection[str] | None = None,
    forms: Collection[str] | None = None,
) -> list[Problem]:
    """Check BPMN and DMN files together (paths or ``(name, bytes)`` pairs).

    ``registry``: the step registry (or step names) service tasks may use; without it step
    names are not checked. ``forms``: the user-task form keys that exist; without it form keys
    are not checked. Returns all problems; an empty list means OK.
    """
    problems: list[Problem] = []
    bpmn: list[tuple[str, bytes, etree._Element]] = []
    dmn_files: list[tuple[str, bytes]] = []
    models: list[DmnModel] = []
    dmn_failed = False

    for item in files:
        name = str(item[0]) if isinstance(item, tuple) else os.fspath(item)
        try:
            name, data = _read(item)
        except OSError as exc:
            problems.append(_problem(name, None, f"Datei nicht lesbar: {exc}", f"file not readable: {exc}", "read-error"))
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            # Stored as text once uploaded (shown in the diagram, exported in packages): UTF-8, as
            # modelling tools write it.
            problems.append(_problem(name, None, "Die Datei ist nicht in UTF-8 gespeichert. Bitte speichern Sie sie "
                                     "im Modellierungswerkzeug mit der Kodierung UTF-8.",
                                     "the file is not UTF-8 encoded; save it as UTF-8 in the modelling tool", "encoding"))
            continue
        try:
            root = parse_xml(data)
        except XmlError as exc:
            where = f" (Zeile {exc.line})" if exc.line else ""
            where_en = f" (line {exc.line})" if exc.line else ""
            problems.append(_problem(name, None, exc.message_de + where, exc.message_en + where_en, "parse-error"))
            continue
        declared = str(root.getroottree().docinfo.encoding or "UTF-8")
        if declared.upper().replace("_", "-") not in ("UTF-8", "UTF8") and not data.isascii():
            # UTF-8 bytes read as the declared encoding: every umlaut would turn into two odd letters.
            problems.append(_problem(name, None, f"Die Datei gibt die Kodierung «{declared}» an, ist aber in UTF-8 "
                                     "gespeichert. Bitte speichern Sie sie im Modellierungswerkzeug mit der "
                                     'Kodierung UTF-8 (encoding="UTF-8").',
                                     f"the file declares the encoding «{declared}» but is stored as UTF-8; save it "
                                     'as UTF-8 (encoding="UTF-8") in the modelling tool', "encoding"))
            continue
        kind = _kind(root)
        if kind == "bpmn":
            bpmn.append((name, data, root))
        elif kind == "dmn":
            dmn_files.append((name, data))
            try:
                model = load_dmn(data, file=name)
            except DmnError as exc:
                dmn_failed = True
                problems.append(_problem(name, exc.element_id, exc.message_de, exc.message_en, "invalid-dmn"))
                # Loading stops at the first fault; a designer wants every bad cell in one go.
                problems.extend(p for p in _dmn_cell_problems(name, root) if p.element_id != exc.element_id)
            except Exception as exc:  # noqa: BLE001 - report, never crash
                dmn_failed = True
                problems.append(_internal(name, exc))
            else:
                models.append(model)
                problems.extend(_dmn_warnings(name, model))
        else:
            problems.append(
                _problem(
                    name,
                    None,
                    f"Weder BPMN 2.0 noch DMN (Wurzelelement «{local_name(root)}», Namensraum «{namespace(root)}»)",
                    f"neither BPMN 2.0 nor DMN (root element «{local_name(root)}», namespace «{namespace(root)}»)",
                    "unknown-file-type",
                )  # fmt: skip
            )

    decisions: set[str] | None = None
    if not dmn_failed:
        try:
            decisions = set(DmnModel.merge(models).decisions)
        except DmnError as exc:
            problems.append(_problem(exc.file, exc.element_id, exc.message_de, exc.message_en, "invalid-dmn"))

    steps: set[str] | None = None
    param_problems = None
    if isinstance(registry, ServiceStepRegistry):
        steps = set(registry.names())
        param_problems = functools.partial(registry.param_problems, decisions=decisions)
    elif registry is not None:
        steps = set(registry)

    available = [pid for _, _, root in bpmn for pid in checks.executable_process_ids(root)]
    for name, _, root in bpmn:
        try:
            problems.extend(
                checks.check_bpmn(root, name, decisions=decisions, steps=steps, process_ids=available, forms=forms,
                                  param_problems=param_problems)
            )
        except Exception as exc:  # noqa: BLE001 - report, never crash
            problems.append(_internal(name, exc))
    try:
        problems.extend(checks.check_processes([(name, root) for name, _, root in bpmn]))
    except Exception as exc:  # noqa: BLE001 - report, never crash
        problems.append(_internal(bpmn[0][0], exc))

    if bpmn and not has_errors(problems):
        problems.extend(_build(bpmn, dmn_files))
    return problems


def _build(bpmn: list[tuple[str, bytes, etree._Element]], dmn_files: list[tuple[str, bytes]]) -> list[Problem]:
    """Let SpiffWorkflow parse each top-level process; report what it still rejects."""
    called = {str(node.get("calledElement")) for _, _, root in bpmn for node in root.iter(f"{{{BPMN_NS}}}callActivity")}
    problems: list[Problem] = []
    files = [(name, data) for name, data, _ in bpmn]
    for name, _, root in bpmn:
        for process_id in checks.executable_process_ids(root):
            if process_id in called:
                continue
            try:
                # The checks above found no error: only what SpiffWorkflow's parser refuses is new here.
                ProcessModel.from_files(files, dmn_files, process_id=process_id, checked=False)
            except ProcessModelError as exc:
                problems.append(
                    _problem(exc.file or name, exc.element_id or process_id, exc.message_de, exc.message_en, "invalid-model")
                )
            except Exception as exc:  # noqa: BLE001 - report, never crash
                problems.append(_internal(name, exc))
    return problems


def _dmn_warnings(name: str, model: DmnModel) -> list[Problem]:
    found: list[Problem] = []
    for decision in model.decisions.values():
        logic = decision.logic
        if isinstance(logic, DecisionTable) and not logic.rules:
            found.append(
                _problem(
                    name,
                    decision.id,
                    f"Entscheidungstabelle «{decision.name}» hat keine Regeln",
                    f"decision table «{decision.name}» has no rules",
                    "empty-table",
                    WARNING,
                )  # fmt: skip
            )
    return found


def _internal(name: str, exc: Exception) -> Problem:
    detail = f"{type(exc).__name__}: {exc}"
    return _problem(
        name, None, f"Interner Fehler beim Prüfen: {detail}", f"internal error while checking: {detail}", "internal-error"
    )
