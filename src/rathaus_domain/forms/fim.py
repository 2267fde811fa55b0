"""Import FIM XDatenfelder 1 and 2 master data schemas (Stammdatenschemata) as form schemas.

Mapping (see docs/forms.md for the target shape):

* the Stammdatenschema becomes the form; its FIM id and version are kept as
  ``x-fim-id``/``x-fim-version``;
* each top-level Datenfeldgruppe becomes a step; top-level loose fields are gathered into
  one step "Angaben"; an optional or repeatable top-level group is wrapped in a step;
* nested groups become fieldsets; ``anzahl`` decides required/optional/repeatable;
* ``datentyp``, ``feldart`` and ``praezisierung`` decide the leaf schema; every string gets
  a ``maxLength`` so the published schema stays closed, and every free text a ``pattern``
  that refuses control characters (tab and line breaks only in a textarea); a FIM
  ``pattern`` (an XML Schema regex) is translated into the subset Python's ``re`` and
  ECMA-262 read alike, or left out with a warning;
* code lists contained in the file (genericode) become ``enum`` + ``x-enum-labels``; lists
  that are only referenced fall back to free text with a warning;
* prose rules (``regel``) are collected into ``x-rules`` at the root.

XDF1 and XDF2 differ mainly in how identifiers (``id``/``version`` vs. ``identifikation``)
and code lists (``codeliste`` vs. ``codelisteReferenz``) are written.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ._regex import PatternError, pattern_search
from ._schema import DRAFT_2020_12
from .validation import DATE_PATTERN, MAX_ITEMS_LIMIT, MIN_ITEMS_LIMIT, file_field_schema, text_pattern

__all__ = [
    "DATE_PATTERN",
    "DEFAULT_FILE_TYPES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_LENGTH",
    "FimImportError",
    "ImportedForm",
    "import_xdf",
    "slugify",
    "xsd_pattern_to_regex",
]

XDF1 = "urn:xoev-de:fim:standard:xdatenfelder_1"
XDF2 = "urn:xoev-de:fim:standard:xdatenfelder_2"

#: Limits the importer adds where FIM leaves them open, so every schema stays bounded.
DEFAULT_MAX_LENGTH = 255
DEFAULT_MAX_ITEMS = 25
DEFAULT_FILE_TYPES = ("application/pdf", "image/png", "image/jpeg")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

#: Texts longer than this are entered in a textarea rather than a one-line input.
TEXTAREA_FROM_LENGTH = 256

MAX_XML_BYTES = 20 * 1024 * 1024
KEY_MAX_LENGTH = 40
LOOSE_FIELDS_STEP = ("angaben", "Angaben")

_PRECISION_KEYS = ("minLength", "maxLength", "minValue", "maxValue", "pattern")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})
# FIM fills empty descriptive elements with a dash.
_EMPTY_TEXTS = frozenset({"", "-", "–"})


class FimImportError(ValueError):
    """The document is not a readable XDatenfelder 1/2 Stammdatenschema."""


@dataclass(frozen=True)
class ImportedForm:
    """The result of an import: a form schema plus what the importer noticed on the way."""

    title: str
    fim_id: str
    version: str
    schema: dict[str, Any]
    rules: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def import_xdf(xml: bytes, code_lists: Mapping[str, bytes] | None = None) -> ImportedForm:
    """Import an XDatenfelder 1 or 2 Stammdatenschema as a Rathaus form schema.

    ``code_lists`` optionally maps canonical code list URIs (with or without version, as
    FIM exports ship them next to the schema) to genericode documents; lists found neither
    there nor embedded in the file become free text and produce a warning.

    The XML is parsed without DTDs, entity expansion or network access; a document with a
    DTD is rejected. Raises ``FimImportError`` for anything that is not XDF1/XDF2.
    """
    root = _parse_xml(xml)
    namespace = etree.QName(root).namespace
    if namespace not in (XDF1, XDF2):
        raise FimImportError(f"not an XDatenfelder 1 or 2 document (namespace {namespace!r})")
    if not etree.QName(root).localname.startswith("xdatenfelder.stammdatenschema"):
        raise FimImportError("only Stammdatenschema messages can be imported as forms")
    importer = _Importer(namespace, dict(code_lists or {}))
    return importer.run(root)


def slugify(text: str, max_length: int = KEY_MAX_LENGTH) -> str:
    """An ASCII property key from a German name: ``"Größe Person"`` → ``"groesse_person"``.

    Cut at a word boundary to ``max_length``; empty if nothing usable is left.
    """
    ascii_text = unicodedata.normalize("NFKD", text.translate(_UMLAUTS)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if slug[:1].isdigit():
        slug = "f_" + slug  # keys start with a letter, like identifiers
    if len(slug) > max_length:
        head = slug[: max_length + 1]
        cut = head.rsplit("_", 1)[0] if "_" in head else ""
        slug = cut or slug[:max_length]
    return slug


def _parse_xml(xml: bytes) -> etree._Element:
    if len(xml) > MAX_XML_BYTES:
        raise FimImportError(f"document larger than {MAX_XML_BYTES} bytes")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise FimImportError(f"not well-formed XML: {exc}") from None
    # FIM documents never carry a DTD; one can only be there to smuggle in entities.
    if root.getroottree().docinfo.internalDTD is not None:
        raise FimImportError("documents with a DTD are not accepted")
    return root


@dataclass(frozen=True)
class _Cardinality:
    minimum: int
    maximum: int | None  # None: unbounded ("*")

    @property
    def repeatable(self) -> bool:
        return self.maximum is None or self.maximum > 1


class _Keys:
    """Hands out property keys that are unique within one object."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self.taken: set[str] = set(taken or ())

    def allocate(self, name: str, fim_id: str) -> str:
        fallback = fim_id.lower() or "feld"
        base = slugify(name) or fallback
        key = base if base not in self.taken else f"{base}_{fallback}"
        counter = 2
        while key in self.taken:
            key = f"{base}_{fallback}_{counter}"
            counter += 1
        self.taken.add(key)
        return key


class _Importer:
    def __init__(self, namespace: str, code_lists: dict[str, bytes]) -> None:
        self.ns = namespace
        self.code_lists = code_lists
        self.rules: list[dict[str, str]] = []
        self.warnings: list[str] = []

    # ----------------------------------------------------------- XML access

    def q(self, tag: str) -> str:
        return f"{{{self.ns}}}{tag}"

    def text(self, element: etree._Element, tag: str) -> str:
        child = element.find(self.q(tag))
        if child is None:
            return ""
        value = " ".join((child.text or "").split())
        return "" if value in _EMPTY_TEXTS else value

    def code(self, element: etree._Element, tag: str) -> str:
        child = element.find(self.q(tag))
        if child is None:
            return ""
        # XDF code elements carry the value in an unqualified <code> child.
        code = child.find("code")
        if code is None:
            code = child.find(self.q("code"))
        return (code.text or "").strip() if code is not None else ""

    def identity(self, element: etree._Element) -> tuple[str, str]:
        holder = element.find(self.q("identifikation"))
        if holder is None:  # XDF1 writes id and version directly into the element
            holder = element
        return self.text(holder, "id"), self.text(holder, "version")

    def title(self, element: etree._Element) -> str:
        return self.text(element, "bezeichnungEingabe") or self.text(element, "name")

    def children(self, element: etree._Element) -> Iterator[tuple[_Cardinality, etree._Element]]:
        for structure in element.findall(self.q("struktur")):
            contained = structure.find(self.q("enthaelt"))
            for child in contained if contained is not None else ():
                if isinstance(child.tag, str):
                    yield self.cardinality(structure, child), child

    def cardinality(self, structure: etree._Element, child: etree._Element) -> _Cardinality:
        raw = self.text(structure, "anzahl")
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+|\*|n)\s*", raw)
        if not match:
            self.warn(child, f"unreadable cardinality {raw!r}; treated as optional (0:1)")
            return _Cardinality(0, 1)
        upper = match.group(2)
        maximum = None if upper in ("*", "n") else int(upper)
        return _Cardinality(int(match.group(1)), maximum)

    def warn(self, element: etree._Element, message: str) -> None:
        fim_id, _ = self.identity(element)
        text = f"{fim_id} {self.text(element, 'name')}: {message}".strip()
        if text not in self.warnings:
            self.warnings.append(text)

    # ----------------------------------------------------------- mapping

    def run(self, root: etree._Element) -> ImportedForm:
        master = root.find(self.q("stammdatenschema"))
        if master is None:
            raise FimImportError("the message contains no stammdatenschema")
        fim_id, version = self.identity(master)
        header = root.find(self.q("header"))
        if header is not None:
            # XDF1 keeps the schema's id and version in the message header.
            fim_id = fim_id or self.text(header, "fimId")
            version = version or self.text(header, "version")
        title = self.title(master)
        if not fim_id or not title:
            raise FimImportError("the stammdatenschema has no id or no name")
        self.collect_rules(master)
        properties = self.steps(master)
        if not properties:
            raise FimImportError("the stammdatenschema contains no input fields")
        schema: dict[str, Any] = {"$schema": DRAFT_2020_12, "title": title}
        description = self.text(master, "beschreibung") or self.text(master, "definition")
        if description:
            schema["description"] = description
        schema["x-fim-id"] = fim_id
        if version:
            schema["x-fim-version"] = version
        schema.update(
            {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            }
        )
        if self.rules:
            schema["x-rules"] = self.rules
        return ImportedForm(
            title=title,
            fim_id=fim_id,
            version=version,
            schema=schema,
            rules=list(self.rules),
            warnings=list(self.warnings),
        )

    def steps(self, master: etree._Element) -> dict[str, Any]:
        keys = _Keys({LOOSE_FIELDS_STEP[0]})
        steps: dict[str, Any] = {}
        loose = self.object_builder()
        for cardinality, element in self.children(master):
            is_group = etree.QName(element).localname == "datenfeldgruppe"
            if not is_group:
                if not loose.properties and LOOSE_FIELDS_STEP[0] not in steps:
                    # Reserve the position of the first loose field for the "Angaben" step.
                    steps[LOOSE_FIELDS_STEP[0]] = None
                loose.add(cardinality, element)
                continue
            built = self.node(element, cardinality)
            if built is None:
                continue
            key = keys.allocate(self.text(element, "name"), self.identity(element)[0])
            if cardinality.minimum == 1 and cardinality.maximum == 1:
                steps[key] = built
            else:
                steps[key] = self.wrap_step(element, key, built, cardinality)
        if loose.properties:
            steps[LOOSE_FIELDS_STEP[0]] = loose.build({"type": "object", "title": LOOSE_FIELDS_STEP[1]})
        else:
            steps.pop(LOOSE_FIELDS_STEP[0], None)
        return steps

    def wrap_step(self, element: etree._Element, key: str, built: dict[str, Any], cardinality: _Cardinality) -> dict[str, Any]:
        # Every step is required by convention (docs/forms.md); an optional or repeatable
        # group therefore becomes a step that holds the group.
        step: dict[str, Any] = {"type": "object", "title": self.title(element)}
        help_text = self.text(element, "hilfetextEingabe")
        if help_text:
            step["description"] = help_text
        step["properties"] = {key: built}
        if cardinality.minimum >= 1:
            step["required"] = [key]
        step["additionalProperties"] = False
        return step

    def object_builder(self) -> _ObjectBuilder:
        return _ObjectBuilder(self)

    def node(self, element: etree._Element, cardinality: _Cardinality) -> dict[str, Any] | None:
        """The schema of one element with its cardinality applied; ``None`` if it has no input."""
        if cardinality.maximum == 0:
            self.warn(element, "cardinality allows no occurrence; left out")
            return None
        if etree.QName(element).localname == "datenfeldgruppe":
            single = self.group(element)
        else:
            single = self.field(element)
        if single is None:
            return None
        if not cardinality.repeatable:
            return single
        array: dict[str, Any] = {"type": "array", "title": single.get("title", "")}
        if single.get("description"):
            array["description"] = single["description"]
        array["x-fim-id"] = self.identity(element)[0]
        # The help text belongs to the list; repeating it on every item would say it twice.
        array["items"] = {k: v for k, v in single.items() if k != "description"}
        minimum = min(cardinality.minimum, MIN_ITEMS_LIMIT)
        maximum = DEFAULT_MAX_ITEMS if cardinality.maximum is None else cardinality.maximum
        if minimum:
            array["minItems"] = minimum
        array["maxItems"] = min(max(maximum, minimum), MAX_ITEMS_LIMIT)
        if (minimum, array["maxItems"]) != (cardinality.minimum, max(maximum, cardinality.minimum)):
            self.warn(element, f"cardinality limited to {minimum}:{array['maxItems']}, what one form can hold")
        return array

    def group(self, element: etree._Element) -> dict[str, Any] | None:
        self.collect_rules(element)
        builder = self.object_builder()
        for cardinality, child in self.children(element):
            builder.add(cardinality, child)
        if not builder.properties:
            self.warn(element, "group contains no input fields; left out")
            return None
        schema: dict[str, Any] = {"type": "object", "title": self.title(element)}
        help_text = " ".join(part for part in (self.text(element, "hilfetextEingabe"), *builder.notes) if part)
        if help_text:
            schema["description"] = help_text
        self.annotate(schema, element)
        return builder.build(schema)

    def annotate(self, schema: dict[str, Any], element: etree._Element) -> None:
        fim_id, fim_version = self.identity(element)
        schema["x-fim-id"] = fim_id
        if fim_version:
            schema["x-fim-version"] = fim_version

    def field(self, element: etree._Element) -> dict[str, Any] | None:
        self.collect_rules(element)
        kind = self.code(element, "feldart") or "input"
        if kind == "label":
            return None  # display text only; its content is kept as group help (see notes)
        if kind not in ("input", "select", "textarea"):
            self.warn(element, f"feldart {kind!r} is not supported; imported as an input")
        schema: dict[str, Any] = {"title": self.title(element)}
        help_text = self.text(element, "hilfetextEingabe")
        if help_text:
            schema["description"] = help_text
        self.annotate(schema, element)
        return {**schema, **self.leaf(element, kind, schema["title"], help_text)}

    def leaf(self, element: etree._Element, kind: str, title: str, help_text: str) -> dict[str, Any]:
        datatype = self.code(element, "datentyp") or "text"
        precision, hint = self.precision(element)
        if kind == "select":
            choices = self.choices(element, hint)
            if choices:
                return {
                    "type": "string",
                    "enum": [code for code, _ in choices],
                    "x-enum-labels": [label for _, label in choices],
                }
        if datatype in ("date", "datum"):
            if "minValue" in precision or "maxValue" in precision:
                self.warn(element, "date limits (minValue/maxValue) are not imported")
            return {"type": "string", "format": "date", "pattern": DATE_PATTERN, "maxLength": 10}
        if datatype == "bool":
            return {"type": "boolean"}
        if datatype in ("num", "num_int", "num_currency", "int"):
            return self.number(element, datatype, precision)
        if datatype == "file":
            return file_field_schema(DEFAULT_FILE_TYPES, DEFAULT_MAX_BYTES, title, help_text)
        if datatype not in ("text", "text_latin", "string"):
            self.warn(element, f"datentyp {datatype!r} is not supported; imported as text")
        return self.text_leaf(element, precision, textarea=kind == "textarea")

    def text_leaf(self, element: etree._Element, precision: dict[str, str], *, textarea: bool = False) -> dict[str, Any]:
        leaf: dict[str, Any] = {"type": "string"}
        minimum = self.integer(element, precision, "minLength")
        maximum = self.integer(element, precision, "maxLength")
        if minimum:
            leaf["minLength"] = minimum
        leaf["maxLength"] = maximum if maximum is not None else max(DEFAULT_MAX_LENGTH, minimum or 0)
        multi_line = textarea or leaf["maxLength"] >= TEXTAREA_FROM_LENGTH
        body: str | None = None
        pattern = precision.get("pattern")
        if pattern:
            body = xsd_pattern_to_regex(pattern)
            if body is None:
                self.warn(element, f"pattern {pattern!r} cannot be imported (unsupported XML Schema regex); left out")
        # Every text gets a pattern: the published schema, not the server, refuses control characters.
        leaf["pattern"] = text_pattern(body, multi_line=multi_line)
        if multi_line:
            leaf["x-widget"] = "textarea"
        return leaf

    def number(self, element: etree._Element, datatype: str, precision: dict[str, str]) -> dict[str, Any]:
        leaf: dict[str, Any] = {"type": "integer" if datatype in ("num_int", "int") else "number"}
        for source, target in (("minValue", "minimum"), ("maxValue", "maximum")):
            raw = precision.get(source)
            if raw is None:
                continue
            try:
                value = float(raw.replace(",", "."))
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                self.warn(element, f"{source} {raw!r} is not a number; left out")
                continue
            leaf[target] = int(value) if value.is_integer() else value
        return leaf

    def integer(self, element: etree._Element, precision: dict[str, str], key: str) -> int | None:
        raw = precision.get(key)
        if raw is None:
            return None
        if not re.fullmatch(r"\s*[0-9]{1,9}\s*", raw):
            self.warn(element, f"{key} {raw!r} is not a whole number; left out")
            return None
        return int(raw)

    def precision(self, element: etree._Element) -> tuple[dict[str, str], str]:
        """Limits from ``praezisierung`` and, if it is plain text, the code list name it holds."""
        holder = element.find(self.q("praezisierung"))
        if holder is None:
            return {}, ""
        # Later XDF versions write limits as attributes or child elements, XDF1/2 as JSON text.
        limits = {k: str(v) for k, v in holder.attrib.items() if k in _PRECISION_KEYS}
        for child in holder:
            if isinstance(child.tag, str) and etree.QName(child).localname in _PRECISION_KEYS:
                limits[etree.QName(child).localname] = (child.text or "").strip()
        text = (holder.text or "").strip()
        if not text.startswith("{"):
            return limits, text
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            self.warn(element, f"praezisierung {text!r} is not valid JSON; ignored")
            return limits, ""
        if isinstance(parsed, dict):
            limits.update({k: str(v) for k, v in parsed.items() if k in _PRECISION_KEYS})
        return limits, ""

    # ----------------------------------------------------------- code lists

    def choices(self, element: etree._Element, hint: str) -> list[tuple[str, str]]:
        references = [
            child
            for child in element
            if isinstance(child.tag, str) and etree.QName(child).localname in ("codeliste", "codelisteReferenz")
        ]
        for reference in references:
            embedded = _genericode_rows(reference)
            if embedded:
                return embedded
            for uri in self.code_list_uris(reference):
                if uri in self.code_lists:
                    rows = _genericode_rows(_parse_xml(self.code_lists[uri]))
                    if rows:
                        return rows
        uris = self.code_list_uris(references[0]) if references else []
        described = uris[0] if uris else hint
        self.warn(
            element,
            f"code list {described or '(unnamed)'} is not contained in the file; "
            f"imported as free text (max. {DEFAULT_MAX_LENGTH} characters)",
        )
        return []

    def code_list_uris(self, reference: etree._Element) -> list[str]:
        uris: list[str] = []
        for tag in ("canonicalVersionUri", "canonicalIdentification", "kennung"):
            for found in reference.iter(self.q(tag)):
                value = (found.text or "").strip()
                if value and value not in uris:
                    uris.append(value)
        return uris

    # ----------------------------------------------------------- rules

    def collect_rules(self, element: etree._Element) -> None:
        for rule in element.findall(self.q("regel")):
            rule_id, _ = self.identity(rule)
            text = self.text(rule, "definition") or self.text(rule, "beschreibung")
            entry = {"id": rule_id, "name": self.title(rule), "text": text}
            if entry not in self.rules:
                self.rules.append(entry)


class _ObjectBuilder:
    """Collects the properties of one object (a group or a step) in document order."""

    def __init__(self, importer: _Importer) -> None:
        self.importer = importer
        self.keys = _Keys()
        self.properties: dict[str, Any] = {}
        self.required: list[str] = []
        self.notes: list[str] = []

    def add(self, cardinality: _Cardinality, element: etree._Element) -> None:
        importer = self.importer
        if importer.code(element, "feldart") == "label":
            importer.collect_rules(element)
            # A label's text (inhalt) is help for the surrounding group.
            content = importer.text(element, "inhalt")
            if content:
                self.notes.append(content)
            return
        built = importer.node(element, cardinality)
        if built is None:
            return
        key = self.keys.allocate(importer.text(element, "name"), importer.identity(element)[0])
        self.properties[key] = built
        if cardinality.minimum >= 1:
            self.required.append(key)

    def build(self, head: dict[str, Any]) -> dict[str, Any]:
        schema = dict(head)
        if self.notes and "description" not in schema:
            schema["description"] = " ".join(self.notes)
        schema["properties"] = self.properties
        if self.required:
            schema["required"] = self.required
        schema["additionalProperties"] = False
        return schema


# XML Schema escapes for one character that mean the same character in Python's re and ECMA-262.
_XSD_SINGLE_CHARACTER_ESCAPES = frozenset("nrt\\|.?*+(){}[]^-")
# Multi-character escapes with a translation both engines read alike. XSD's \d is any Unicode
# digit, but a FIM pattern means 0-9; \s is exactly these four characters in XSD.
_XSD_CLASS_ESCAPES = {"d": "[0-9]", "D": "[^0-9]", "s": "[ \\t\\n\\r]", "S": "[^ \\t\\n\\r]"}
_XSD_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")


def xsd_pattern_to_regex(pattern: str) -> str | None:
    """Translate an XML Schema regex into one that Python's ``re`` and ECMA-262 read alike.

    XSD has no anchors (``^`` and ``$`` are plain characters there), its ``.`` excludes only
    line breaks, and ``\\d``/``\\s`` differ between the engines; those are rewritten. Returns
    ``None`` for constructs without a common meaning (``\\w``, ``\\i``, ``\\c``, ``\\p{..}``,
    class subtraction) and for malformed patterns. The result is not anchored.
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            index += 2
            if escaped in _XSD_CLASS_ESCAPES:
                translated = _XSD_CLASS_ESCAPES[escaped]
                if in_class and translated.startswith("[^"):
                    return None  # a negated set inside a set has no plain equivalent
                out.append(translated[1:-1] if in_class else translated)
            elif escaped and escaped in _XSD_SINGLE_CHARACTER_ESCAPES:
                # ECMA-262 with the u flag refuses "\-" outside a character class.
                out.append("-" if escaped == "-" and not in_class else "\\" + escaped)
            else:
                return None
            continue
        if in_class:
            if char == "[":
                return None  # class subtraction ([a-z-[aeiou]]) or a stray bracket
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            if pattern.startswith("^", index + 1):
                out.append("^")
                index += 1
            if pattern.startswith("]", index + 1):
                return None  # "[]" is an empty set in ECMA-262 but starts a set holding "]" in Python
        elif char == "{":
            quantifier = _XSD_QUANTIFIER.match(pattern, index)
            if quantifier is None:
                return None
            out.append(quantifier.group())
            index = quantifier.end()
            continue
        elif char in "]}":
            return None
        elif char == ".":
            out.append("[^\\n\\r]")
        elif char in "^$":
            out.append("\\" + char)
        elif char == "(" and pattern.startswith("?", index + 1):
            return None  # (?...) is not XSD syntax
        else:
            out.append(char)
        index += 1
    if in_class:
        return None
    translated = "".join(out)
    try:
        re.compile(translated)
        pattern_search(translated, "")  # the validator matches input with jsonschema-rs, never with re
    except (re.error, PatternError):
        return None
    return translated


def _genericode_rows(document: etree._Element) -> list[tuple[str, str]]:
    """``(code, label)`` rows of a genericode SimpleCodeList inside ``document``, if any."""
    # Matched by local name: exporters use several namespace URIs and prefixes for genericode.
    code_list = _first_descendant(document, "SimpleCodeList")
    if code_list is None:
        return []
    columns: list[str] = []
    key_column = ""
    column_set = _first_descendant(document, "ColumnSet")
    if column_set is not None:
        for element in column_set.iter():
            if not isinstance(element.tag, str):
                continue
            name = etree.QName(element).localname
            if name == "Column" and element.get("Id"):
                columns.append(element.get("Id", ""))
            elif name == "ColumnRef" and not key_column and element.get("Ref"):
                key_column = element.get("Ref", "")
    key_column = key_column or (columns[0] if columns else "")
    label_column = next((c for c in columns if c != key_column), key_column)
    rows: list[tuple[str, str]] = []
    for row in code_list:
        if not isinstance(row.tag, str) or etree.QName(row).localname != "Row":
            continue
        values: dict[str, str] = {}
        position = 0
        for value in row:
            if not isinstance(value.tag, str) or etree.QName(value).localname != "Value":
                continue
            column = value.get("ColumnRef") or (columns[position] if position < len(columns) else str(position))
            position += 1
            simple = next(
                (v for v in value if isinstance(v.tag, str) and etree.QName(v).localname == "SimpleValue"),
                None,
            )
            values[column] = " ".join(((simple.text if simple is not None else "") or "").split())
        code = values.get(key_column) or next(iter(values.values()), "")
        if code and all(code != existing for existing, _ in rows):
            rows.append((code, values.get(label_column) or code))
    return rows


def _first_descendant(document: etree._Element, localname: str) -> etree._Element | None:
    for element in document.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname == localname:
            return element
    return None
