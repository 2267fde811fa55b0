"""The renderable form model: a form schema (docs/forms.md) parsed into frozen dataclasses.

The schema stays the single source of truth; this tree only answers the questions a
renderer, a review page or a PDF receipt asks: which steps, which fieldsets, which inputs
with which widget, label, limits and condition.

Nodes inside a repeatable group carry ``WILDCARD`` (``"*"``) where the item index belongs;
``Group.item(index)`` returns the children bound to one concrete item.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ._schema import (
    WILDCARD,
    Path,
    PathSegment,
    Schema,
    conditionals,
    is_file_schema,
    item_schema,
    property_order,
    property_schema,
    resolve,
    same_json_value,
    schema_type,
    value_at,
)
from .identity import IdentityCache

__all__ = [
    "DATE_MAX_DAYS_AHEAD",
    "DATE_MIN_DAYS_AHEAD",
    "RELATIVE_DATE_KEYWORDS",
    "RELATIVE_DAYS_LIMIT",
    "WILDCARD",
    "Condition",
    "Field",
    "FormSchemaError",
    "FormSpec",
    "Group",
    "Node",
    "Step",
    "date_limits",
    "default_widget",
    "display_value",
    "format_bytes",
    "parse_condition",
    "relative_days",
    "value_at",
    "value_label",
]

#: Enums with at most this many choices render as radio buttons, longer ones as a select.
RADIO_MAX_CHOICES = 5

YES, NO = "Ja", "Nein"

#: A date relative to the day of submission (docs/forms.md): the value must lie at least
#: (``DATE_MIN_DAYS_AHEAD``) or at most (``DATE_MAX_DAYS_AHEAD``) this many days after the day the
#: form is sent, negative numbers counting back (``-30``: not longer ago than 30 days).
DATE_MIN_DAYS_AHEAD = "x-date-min-days-ahead"
DATE_MAX_DAYS_AHEAD = "x-date-max-days-ahead"
RELATIVE_DATE_KEYWORDS = (DATE_MIN_DAYS_AHEAD, DATE_MAX_DAYS_AHEAD)
#: How far either limit may reach, in days (about a hundred years; further is a typo).
RELATIVE_DAYS_LIMIT = 36_600

# Keywords copied into Field.constraints under their JSON Schema names, so that renderers
# can derive HTML attributes (maxlength, min, max, pattern) without reading the schema.
_CONSTRAINT_KEYWORDS = (
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "const",
    DATE_MIN_DAYS_AHEAD,
    DATE_MAX_DAYS_AHEAD,
)


class FormSchemaError(ValueError):
    """The schema does not have the shape of a Rathaus form (docs/forms.md)."""


@dataclass(frozen=True)
class Condition:
    """A node is shown (and its value kept) only while the field at ``field_path`` equals ``equals``
    (with ``negated``: holds any other value)."""

    field_path: Path
    equals: Any
    negated: bool = False
    # For the form's own words ("nur nötig, wenn …"): the tested field's label, and the label of
    # ``equals`` among its choices (the value itself if it has none).
    field_label: str = field(default="", compare=False)
    value_label: str = field(default="", compare=False)

    def holds(self, data: Mapping[str, Any]) -> bool:
        """Evaluate against the whole form's data; a missing field never satisfies a condition."""
        found, value = value_at(data, self.field_path)
        return found and same_json_value(value, self.equals) != self.negated


@dataclass(frozen=True)
class Field:
    """One input: a leaf of the schema (a file upload and a checkbox group count as leaves)."""

    path: Path
    name: str
    label: str
    help: str
    widget: str
    type: str
    required: bool
    choices: tuple[tuple[str, str], ...] = ()
    constraints: Mapping[str, Any] = field(default_factory=dict)
    autocomplete: str | None = None
    placeholder: str | None = None
    condition: Condition | None = None
    fim_id: str | None = None
    prefill: str | None = None
    # Required only under a condition (``if``/``then``), whether or not ``condition`` mirrors it:
    # ``required_if`` is that condition when it tests one answer (None when richer), and
    # ``required_when`` the form's own words for when (``x-required-when``).
    conditional: bool = False
    required_if: Condition | None = None
    required_when: str = ""

    def choice_label(self, value: Any) -> str:
        """The label shown for a stored value (the value itself if it is not a choice)."""
        text = _choice_value(value)
        for choice_value, label in self.choices:
            if choice_value == text:
                return label
        return text


@dataclass(frozen=True)
class Group:
    """A fieldset; ``repeatable`` groups hold a list of items (a list of values if their
    only child sits at ``path + (WILDCARD,)``)."""

    path: Path
    key: str
    title: str
    help: str
    children: tuple[Node, ...]
    repeatable: bool = False
    min_items: int = 0
    max_items: int | None = None
    required: bool = False
    condition: Condition | None = None
    fim_id: str | None = None

    @property
    def name(self) -> str:
        """The HTML name prefix of this group (``applicant``, ``dogs``)."""
        return FormSpec.html_name(self.path)

    @property
    def holds_values(self) -> bool:
        """True for a repeatable list of plain values rather than of objects."""
        return self.repeatable and len(self.children) == 1 and self.children[0].path == (*self.path, WILDCARD)

    def item(self, index: int) -> tuple[Node, ...]:
        """The children of a repeatable group bound to item ``index`` (``dogs.0.breed``)."""
        if not self.repeatable:
            raise ValueError(f"group {self.name!r} is not repeatable")
        return tuple(_bind(child, len(self.path), index) for child in self.children)


Node = Field | Group


@dataclass(frozen=True)
class Step:
    """One page of the multi-step form: a root property of the schema."""

    key: str
    title: str
    description: str
    children: tuple[Node, ...]
    conditions: tuple[Condition, ...] = ()

    @property
    def path(self) -> Path:
        """The data path of the step (its key)."""
        return (self.key,)

    def fields(self) -> Iterator[Field]:
        """All fields of the step, depth first, in schema order (unbound wildcards kept)."""
        yield from _iter_fields(self.children)


_SPECS: IdentityCache[FormSpec] = IdentityCache()


@dataclass(frozen=True)
class FormSpec:
    """A whole form: title, help text and steps, plus the schema it was read from."""

    title: str
    description: str
    steps: tuple[Step, ...]
    schema: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def cached(cls, schema: Mapping[str, Any]) -> FormSpec:
        """`from_schema`, remembered for the very same schema object (e.g. one a cache hands out).

        Keyed by identity: a schema object must not be changed once parsed (nothing here does).
        """
        return _SPECS.get(schema, cls.from_schema)

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any]) -> FormSpec:
        """Parse a form schema (docs/forms.md shape) into the renderable tree.

        Raises ``FormSchemaError`` if the root is not an object of object-typed steps.
        """
        root = resolve(schema, schema)
        if not isinstance(root, Mapping) or schema_type(root) != "object":
            raise FormSchemaError("the root of a form schema must be an object")
        steps: list[Step] = []
        for key in property_order(root, schema):
            step_schema = property_schema(root, key, schema)
            if not isinstance(step_schema, Mapping) or schema_type(step_schema) != "object":
                raise FormSchemaError(f"step {key!r} must be an object schema")
            children = _build_children(step_schema, (key,), schema)
            steps.append(
                Step(
                    key=key,
                    title=str(step_schema.get("title") or key),
                    description=str(step_schema.get("description") or ""),
                    children=children,
                    conditions=tuple(_unique_conditions(children)),
                )
            )
        if not steps:
            raise FormSchemaError("a form needs at least one step")
        return cls(
            title=str(root.get("title") or ""),
            description=str(root.get("description") or ""),
            steps=tuple(steps),
            schema=schema,
        )

    @staticmethod
    def html_name(path: Sequence[PathSegment]) -> str:
        """The form-field name for a data path: ``("dogs", 0, "breed")`` → ``"dogs.0.breed"``."""
        return ".".join(str(part) for part in path)

    def step(self, key: str) -> Step:
        """The step with ``key``; raises ``KeyError`` for an unknown step."""
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    def fields(self) -> Iterator[Field]:
        """All fields of all steps in schema order."""
        for step in self.steps:
            yield from step.fields()

    def rules(self) -> list[dict[str, Any]]:
        """The prose rules (``x-rules``) anywhere in the schema: outer before inner, then schema order."""
        found: list[dict[str, Any]] = []
        _collect_rules(self.schema, found)
        return found

    def summary(self, data: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
        """Human-readable ``(step title, [(label, value), ...])`` rows for a review page or receipt.

        Empty and hidden (condition not met) values are left out; labels of nested fields name
        their groups (``Anschrift › Ort``) and items of repeatable groups are numbered from 1.
        """
        result: list[tuple[str, list[tuple[str, str]]]] = []
        for step in self.steps:
            rows: list[tuple[str, str]] = []
            _summarise(step.children, data, (), rows)
            result.append((step.title, rows))
        return result


def default_widget(schema: Schema) -> str:
    """The widget docs/forms.md assigns to a leaf schema unless ``x-widget`` names one."""
    explicit = schema.get("x-widget")
    if isinstance(explicit, str) and explicit:
        return explicit
    kind = schema_type(schema)
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, Mapping) and "enum" in items:
            return "checkboxes"
        return "text"
    enum = schema.get("enum")
    if isinstance(enum, list):
        return "radio" if len(enum) <= RADIO_MAX_CHOICES else "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if schema.get("format") == "date":
        return "date"
    if schema.get("format") == "email":
        return "email"
    return "text"


def relative_days(value: Any) -> int | None:
    """A relative date limit as a number of days, or None if it is not one ``check_form_schema`` accepts."""
    if isinstance(value, int) and not isinstance(value, bool) and -RELATIVE_DAYS_LIMIT <= value <= RELATIVE_DAYS_LIMIT:
        return value
    return None


def date_limits(schema: Mapping[str, Any], today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The earliest and latest date the relative limits of a date field allow on ``today`` (None: no limit).

    ``schema`` is the field's schema or its ``Field.constraints``; ``today`` is the day of submission
    in the town (the caller knows its time zone). A value the lint would refuse is no limit here.
    """
    low, high = relative_days(schema.get(DATE_MIN_DAYS_AHEAD)), relative_days(schema.get(DATE_MAX_DAYS_AHEAD))
    return (None if low is None else today + dt.timedelta(days=low),
            None if high is None else today + dt.timedelta(days=high))


def format_bytes(size: int) -> str:
    """A file size as Germans read it: ``"850 Bytes"``, ``"12,3 KB"``, ``"4,0 MB"``."""
    if size < 1024:
        return "1 Byte" if size == 1 else f"{size} Bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB".replace(".", ",")
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


def _build_children(schema: Schema, path: Path, root: Schema) -> tuple[Node, ...]:
    required = schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    shown_if, required_if = _conditional_targets(schema, path, root)
    nodes: list[Node] = []
    for key in property_order(schema, root):
        subschema = property_schema(schema, key, root)
        if not isinstance(subschema, Mapping):
            continue  # a `false` schema forbids the property: nothing to render
        condition = shown_if.get(key)
        conditional = key not in required_names and key in required_if
        nodes.append(
            _build_node(
                subschema,
                (*path, key),
                key,
                # A conditionally required field is required whenever it is shown.
                required=key in required_names or condition is not None,
                condition=condition,
                conditional=conditional,
                required_if=required_if.get(key) if conditional else None,
                root=root,
            )
        )
    return tuple(nodes)


def _conditional_targets(
    schema: Schema, path: Path, root: Schema
) -> tuple[dict[str, Condition], dict[str, Condition | None]]:
    """The conditions that show (and then require) a property, and for every property an ``if``
    requires, the condition that does (None if too rich to read as one answer).

    Only "one property equals one value" shows and hides a field: a hidden field's value is dropped
    before validation (docs/forms.md), which for a negated condition would let the API accept data
    the published schema refuses. A negated one still names when the field is needed.
    """
    shown_if: dict[str, Condition] = {}
    required_if: dict[str, Condition | None] = {}
    for condition_schema, consequence in conditionals(schema, root):
        condition = parse_condition(condition_schema, schema, root, path)
        names = consequence.get("required")
        for name in names if isinstance(names, list) else ():
            if condition is not None and not condition.negated:
                shown_if.setdefault(name, condition)
            if required_if.get(name) is None:
                required_if[name] = condition
    return shown_if, required_if


def parse_condition(condition_schema: Schema, schema: Schema, root: Schema, path: Path = ()) -> Condition | None:
    """The ``if`` of the object ``schema`` (at ``path``) as a Condition, or None if too rich.

    "One property equals one value" (``const``, a one-value ``enum``) and its negation (``not``
    around either) map onto show/hide; anything richer is still enforced by the validator, it
    just isn't mirrored in the UI.
    """
    properties = condition_schema.get("properties")
    if not isinstance(properties, Mapping) or len(properties) != 1:
        return None
    ((name, test),) = properties.items()
    negated = False
    if isinstance(test, Mapping) and set(test) == {"not"}:
        test, negated = test["not"], True
    if not isinstance(test, Mapping):
        return None
    enum = test.get("enum")
    if "const" in test:
        equals = test["const"]
    elif isinstance(enum, list) and len(enum) == 1:
        equals = enum[0]
    else:
        return None
    tested = property_schema(schema, str(name), root)
    tested = tested if isinstance(tested, Mapping) else {}
    return Condition((*path, name), equals, negated, field_label=str(tested.get("title") or name),
                     value_label=value_label(tested, equals))


def value_label(schema: Schema, value: Any) -> str:
    """How the form shows ``value`` of the field ``schema``: its choice label, Ja/Nein, or itself."""
    if isinstance(value, bool):
        return YES if value else NO
    labels = schema.get("x-enum-labels")
    enum = schema.get("enum")
    if isinstance(enum, list) and isinstance(labels, list) and len(labels) == len(enum):
        for candidate, label in zip(enum, labels, strict=True):
            if same_json_value(candidate, value):
                return str(label)
    return _choice_value(value)


def _build_node(
    schema: Schema,
    path: Path,
    key: str,
    *,
    required: bool,
    condition: Condition | None,
    root: Schema,
    conditional: bool = False,
    required_if: Condition | None = None,
) -> Node:
    kind = schema_type(schema)
    title = str(schema.get("title") or key)
    help_text = str(schema.get("description") or "")
    fim_id = _optional_str(schema.get("x-fim-id"))
    if is_file_schema(schema) or kind not in ("object", "array"):
        return _build_field(schema, path, key, required=required, condition=condition, root=root,
                            conditional=conditional, required_if=required_if)
    if kind == "object":
        return Group(
            path=path,
            key=key,
            title=title,
            help=help_text,
            children=_build_children(schema, path, root),
            required=required,
            condition=condition,
            fim_id=fim_id,
        )
    items = item_schema(schema, WILDCARD, root)
    if isinstance(items, Mapping) and "enum" in items:
        return _build_field(schema, path, key, required=required, condition=condition, root=root,
                            conditional=conditional, required_if=required_if)
    item_path = (*path, WILDCARD)
    if isinstance(items, Mapping) and schema_type(items) == "object" and not is_file_schema(items):
        children = _build_children(items, item_path, root)
    else:
        item = items if isinstance(items, Mapping) else {}
        # A list of plain values: one field per item, labelled like the list itself.
        labelled = {"title": title, **item} if "title" not in item else item
        children = (_build_field(labelled, item_path, key, required=True, condition=None, root=root),)
    max_items = schema.get("maxItems")
    return Group(
        path=path,
        key=key,
        title=title,
        help=help_text,
        children=children,
        repeatable=True,
        min_items=int(schema.get("minItems", 0)),
        max_items=int(max_items) if isinstance(max_items, int) else None,
        required=required,
        condition=condition,
        fim_id=fim_id,
    )


def _build_field(
    schema: Schema,
    path: Path,
    key: str,
    *,
    required: bool,
    condition: Condition | None,
    root: Schema,
    conditional: bool = False,
    required_if: Condition | None = None,
) -> Field:
    widget = default_widget(schema)
    constraints: dict[str, Any] = {k: schema[k] for k in _CONSTRAINT_KEYWORDS if k in schema}
    choices: tuple[tuple[str, str], ...] = ()
    if is_file_schema(schema):
        content_type = property_schema(schema, "content_type", root)
        if isinstance(content_type, Mapping) and isinstance(content_type.get("enum"), list):
            constraints["accept"] = list(content_type["enum"])
        if isinstance(schema.get("x-max-bytes"), int):
            constraints["max_bytes"] = schema["x-max-bytes"]
    elif widget == "checkboxes":
        items = item_schema(schema, WILDCARD, root)
        labels = schema.get("x-enum-labels") or items.get("x-enum-labels")
        choices = _choices(items["enum"], labels)
    elif isinstance(schema.get("enum"), list):
        choices = _choices(schema["enum"], schema.get("x-enum-labels"))
    elif schema_type(schema) == "boolean" and widget in ("radio", "select"):
        choices = (("true", YES), ("false", NO))
    return Field(
        path=path,
        name=FormSpec.html_name(path),
        label=str(schema.get("title") or key),
        help=str(schema.get("description") or ""),
        widget=widget,
        type=schema_type(schema) or "string",
        required=required,
        choices=choices,
        constraints=constraints,
        autocomplete=_optional_str(schema.get("x-autocomplete")),
        placeholder=_optional_str(schema.get("x-placeholder")),
        condition=condition,
        fim_id=_optional_str(schema.get("x-fim-id")),
        prefill=_optional_str(schema.get("x-prefill")),
        conditional=conditional,
        required_if=required_if,
        required_when=str(schema.get("x-required-when") or "") if conditional else "",
    )


def _choices(values: Sequence[Any], labels: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(labels, list) or len(labels) != len(values):
        labels = [_choice_value(value) for value in values]
    return tuple((_choice_value(v), str(label)) for v, label in zip(values, labels, strict=True))


def _choice_value(value: Any) -> str:
    # HTML transports every value as text; JSON spelling keeps true/false and 1 distinct.
    return value if isinstance(value, str) else json.dumps(value)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _bind(node: Node, position: int, index: int) -> Node:
    def bind_path(path: Path) -> Path:
        if len(path) > position and path[position] == WILDCARD:
            return (*path[:position], index, *path[position + 1 :])
        return path

    def bind(condition: Condition | None) -> Condition | None:
        return None if condition is None else replace(condition, field_path=bind_path(condition.field_path))

    condition = bind(node.condition)
    if isinstance(node, Field):
        path = bind_path(node.path)
        return replace(node, path=path, name=FormSpec.html_name(path), condition=condition,
                       required_if=bind(node.required_if))
    return replace(
        node,
        path=bind_path(node.path),
        condition=condition,
        children=tuple(_bind(child, position, index) for child in node.children),
    )


def _iter_fields(nodes: Sequence[Node]) -> Iterator[Field]:
    for node in nodes:
        if isinstance(node, Field):
            yield node
        else:
            yield from _iter_fields(node.children)


def _unique_conditions(nodes: Sequence[Node]) -> Iterator[Condition]:
    seen: list[Condition] = []
    stack = list(nodes)
    while stack:
        node = stack.pop(0)
        if node.condition is not None and node.condition not in seen:
            seen.append(node.condition)
            yield node.condition
        if isinstance(node, Group):
            stack[0:0] = node.children


def _collect_rules(schema: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(schema, Mapping):
        # A node's own rules come before those of its children, wherever the key sits.
        own = schema.get("x-rules")
        if isinstance(own, list):
            found.extend(dict(rule) for rule in own if isinstance(rule, Mapping))
        for key, value in schema.items():
            if key != "x-rules":
                _collect_rules(value, found)
    elif isinstance(schema, list):
        for item in schema:
            _collect_rules(item, found)


def _summarise(
    nodes: Sequence[Node],
    data: Mapping[str, Any],
    labels: tuple[str, ...],
    rows: list[tuple[str, str]],
) -> None:
    for node in nodes:
        if node.condition is not None and not node.condition.holds(data):
            continue
        found, value = value_at(data, node.path)
        if not found or value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(node, Field):
            rows.append((" › ".join((*labels, node.label)), display_value(node, value)))
        elif not node.repeatable:
            _summarise(node.children, data, (*labels, node.title), rows)
        elif isinstance(value, list):
            for index in range(len(value)):
                numbered = f"{node.title} {index + 1}"
                children = node.item(index)
                if node.holds_values:
                    child = children[0]
                    assert isinstance(child, Field)
                    rows.append((" › ".join((*labels, numbered)), display_value(child, value[index])))
                else:
                    _summarise(children, data, (*labels, numbered), rows)


def display_value(node: Field, value: Any) -> str:
    """Format one stored value the way a citizen reads it (German conventions)."""
    if node.widget == "file" and isinstance(value, Mapping):
        content = value.get("content")
        name = str(value.get("filename") or "Datei")
        if isinstance(content, str):
            return f"{name} ({format_bytes(_base64_size(content))})"
        return name
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, list):
        return ", ".join(node.choice_label(item) if node.choices else str(item) for item in value)
    if node.choices:
        return node.choice_label(value)
    if node.constraints.get("format") == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).strftime("%d.%m.%Y")
        except ValueError:
            return value
    if isinstance(value, float):
        return repr(value).replace(".", ",").removesuffix(",0")
    return str(value)


def _base64_size(content: str) -> int:
    # Decoding megabytes just to print a size would be wasteful; the length says it exactly.
    stripped = content.strip()
    return len(stripped) * 3 // 4 - len(stripped) + len(stripped.rstrip("="))
