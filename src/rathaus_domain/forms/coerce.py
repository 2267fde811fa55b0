"""From an HTML form POST to the JSON data of one step, and from errors back to the form.

HTML transports every value as text under names built by ``FormSpec.html_name``
(``applicant.name``, ``dogs.0.breed``). Coercion is deliberately forgiving about
spelling (``12,5``, ``31.01.2025``) but never guesses: whatever cannot be read stays
text, so the validator reports it with its own clear message.

A NUL character (which no keyboard types, and which PostgreSQL cannot store even in a
draft) becomes U+FFFD, the replacement character, as HTML parsers do.

Files never arrive in the POST data here; the caller reads the upload and stores it
with ``with_file`` after coercion (and re-injects a file uploaded in an earlier attempt,
since coercion builds the step's data afresh).
"""

from __future__ import annotations

import base64
import copy
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._schema import Path, schema_for_path, value_at
from .model import Field, FormSpec, Group, Node
from .validation import FieldError, sniff_content_type

__all__ = ["drop_hidden", "errors_for_step", "is_shown", "normalise_date", "parse_number", "step_data_from_post",
           "with_file", "without_hidden"]

PostData = Mapping[str, Sequence[str] | str]

_TRUE = frozenset({"on", "true", "1", "ja", "yes"})
_FALSE = frozenset({"off", "false", "0", "nein", "no"})
_GERMAN_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}(\.[0-9]{3})+")
# Bounded: Python refuses to convert integers of more than 4300 digits (and nobody types them).
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def step_data_from_post(
    spec: FormSpec, step_key: str, post: PostData, file_names: Iterable[str] = ()
) -> dict[str, Any]:
    """Build the JSON data of step ``step_key`` from POST data (name → list of values).

    Text is trimmed and empty inputs are left out; numbers, booleans, checkbox groups,
    repeatable groups and dates are converted; values of fields whose condition does
    not hold are dropped. With Django, pass ``dict(request.POST.lists())``.
    ``file_names``: the names of file inputs that hold a file (uploaded now or kept from an
    earlier attempt); an entry of a repeatable group with such a file is kept even when
    its other inputs are empty, so the caller can put the file back into it.
    """
    step = spec.step(step_key)
    reader = _Reader(spec, post, file_names)
    data, _ = reader.nodes(step.children)
    drop_hidden(spec, step_key, data)
    return data


def drop_hidden(spec: FormSpec, step_key: str, data: dict[str, Any]) -> None:
    """Remove (in place) the values of the step's fields whose condition does not hold.

    ``step_data_from_post`` does this for what the POST holds; call it again once files (new
    uploads and those kept from an earlier attempt) are merged into the step's ``data``.
    """
    _drop_hidden(spec.step(step_key).children, {step_key: data})


def without_hidden(spec: FormSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a whole form's ``data`` without the values of fields whose condition does not hold.

    What the steps of the HTML form drop one by one (docs/forms.md), for data that arrives
    whole, as through the API.
    """
    if not any(step.conditions for step in spec.steps):
        return dict(data)  # nothing can be hidden: no copy of what may be megabytes of files
    result = copy.deepcopy(dict(data))
    _drop_hidden([node for step in spec.steps for node in step.children], result)
    return result


def is_shown(spec: FormSpec, path: Path, form: Mapping[str, Any]) -> bool:
    """Whether the input at concrete ``path`` (``("docs", 0, "scan")``) is shown for ``form``.

    It is hidden when its condition or that of a group around it does not hold. A path the
    form does not know counts as shown (validation has its own word on it).
    """
    try:
        nodes: Sequence[Node] = spec.step(str(path[0])).children
    except (IndexError, KeyError):
        return True
    at = 1
    while at < len(path):
        node = next((n for n in nodes if n.path == tuple(path[: at + 1])), None)
        if node is None:
            return True
        if node.condition is not None and not node.condition.holds(form):
            return False
        at += 1
        if isinstance(node, Field):
            return True
        if not node.repeatable:
            nodes = node.children
        elif at < len(path) and isinstance(index := path[at], int):
            nodes = node.item(index)
            at += 1
        else:
            return True
    return True


def with_file(
    data: Mapping[str, Any],
    path: Path,
    filename: str,
    content_type: str,
    raw_bytes: bytes,
) -> dict[str, Any]:
    """Return a copy of ``data`` with an upload stored at ``path`` in the file-leaf shape.

    ``path`` is relative to ``data`` (a step's data or the whole form's). The content
    type browsers declare is unreliable, so the type sniffed from the magic bytes wins
    when it is recognised; otherwise the declared one is kept and validation rejects it.
    Directory parts some browsers send with the file name are removed.
    """
    leaf = {
        "filename": _bare_filename(filename),
        "content_type": sniff_content_type(raw_bytes) or content_type,
        "content": base64.b64encode(raw_bytes).decode("ascii"),
    }
    result = _set_in(data, path, leaf)
    assert isinstance(result, dict)
    return result


def errors_for_step(errors: Sequence[FieldError], step_key: str) -> dict[str, FieldError]:
    """The errors of one step keyed by HTML field name, one (the most important) per field.

    Errors about the step as a whole are keyed by ``step_key``. The order is the order of
    the fields in the form, ready for an error summary at the top of the page.
    """
    by_name: dict[str, FieldError] = {}
    for error in errors:
        if error.path[:1] != (step_key,):
            continue
        by_name.setdefault(FormSpec.html_name(error.path), error)
    return by_name


def normalise_date(text: str) -> str:
    """``31.1.2025`` or ``2025-01-31`` → ``2025-01-31``; anything else is returned unchanged."""
    german = _GERMAN_DATE.fullmatch(text)
    if german:
        day, month, year = german.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    iso = _ISO_DATE.fullmatch(text)
    if iso:
        year, month, day = iso.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def parse_number(text: str, *, integer: bool) -> int | float | str:
    """Read a number as Germans and browsers write it; unreadable text is returned as is.

    ``1.234`` is one thousand two hundred thirty-four (German grouping), ``12,5`` and
    ``12.5`` are both twelve and a half. Only ASCII digits count, as in the schema's patterns.
    """
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    elif _THOUSANDS.fullmatch(cleaned):
        cleaned = cleaned.replace(".", "")
    if _INTEGER.fullmatch(cleaned):
        return int(cleaned)
    if integer or not _DECIMAL.fullmatch(cleaned):
        return text
    number = float(cleaned)
    return number if math.isfinite(number) else text


class _Reader:
    """Reads the nodes of one step from POST data; returns ``(data, touched)`` pairs.

    ``touched`` tells whether the citizen entered anything: an optional group whose
    inputs were all left empty is left out rather than sent half-filled.
    """

    def __init__(self, spec: FormSpec, post: PostData, file_names: Iterable[str] = ()) -> None:
        self.spec = spec
        self.post = post
        self.file_names = frozenset(file_names)

    def values(self, name: str) -> list[str]:
        raw = self.post.get(name)
        if raw is None:
            return []
        return [_without_nul(raw)] if isinstance(raw, str) else [_without_nul(str(v)) for v in raw]

    def first(self, name: str) -> str | None:
        values = self.values(name)
        return values[0] if values else None

    def nodes(self, nodes: Sequence[Node]) -> tuple[dict[str, Any], bool]:
        data: dict[str, Any] = {}
        touched = False
        for node in nodes:
            key = str(node.path[-1])
            if isinstance(node, Field):
                found, value, entered = self.field(node)
            elif node.repeatable:
                found, value, entered = self.repeatable(node)
            else:
                value, entered = self.nodes(node.children)
                found = entered or node.required
            if found:
                data[key] = value
            touched = touched or entered
        return data, touched

    def field(self, field: Field) -> tuple[bool, Any, bool]:
        """``(present, value, entered)`` for one field."""
        if field.widget == "file":
            return False, None, False
        if field.widget == "checkboxes":
            chosen = [v.strip() for v in self.values(field.name) if v.strip()]
            chosen = list(dict.fromkeys(chosen))
            typed = [self.enum_value(field, v) for v in chosen]
            return bool(typed), typed, bool(typed)
        raw = self.first(field.name)
        if field.type == "boolean":
            return self.boolean(field, raw)
        # Browsers send CRLF from textareas but count a line break as one character.
        text = (raw or "").replace("\r\n", "\n").strip()
        if not text:
            return False, None, False
        if field.choices:
            return True, self.enum_value(field, text), True
        if field.type in ("integer", "number"):
            return True, parse_number(text, integer=field.type == "integer"), True
        if field.constraints.get("format") == "date":
            return True, normalise_date(text), True
        return True, text, True

    def boolean(self, field: Field, raw: str | None) -> tuple[bool, Any, bool]:
        if raw is None or not raw.strip():
            if field.widget == "checkbox" and field.constraints.get("const") is not True:
                # An unticked checkbox sends nothing: that is the answer "no".
                return True, False, False
            # A confirmation left unticked stays absent, so validation asks for it.
            return False, None, False
        word = raw.strip().lower()
        if word in _TRUE:
            return True, True, True
        if word in _FALSE:
            return True, False, True
        return True, raw.strip(), True

    def enum_value(self, field: Field, text: str) -> Any:
        # Choices travel as text; give back the typed enum value (1, true) the schema lists.
        schema = schema_for_path(self.spec.schema, field.path)
        if isinstance(schema, Mapping) and isinstance(schema.get("items"), Mapping):
            schema = schema["items"]
        enum = schema.get("enum") if isinstance(schema, Mapping) else None
        for choice_value, candidate in zip((c[0] for c in field.choices), enum if isinstance(enum, list) else [], strict=False):
            if choice_value == text:
                return candidate
        return text

    def repeatable(self, group: Group) -> tuple[bool, Any, bool]:
        with_file = self.item_indices(group, self.file_names)
        indices = sorted(self.item_indices(group, self.post) | with_file)
        items: list[tuple[Any, bool]] = []
        for index in indices:
            children = group.item(index)
            if group.holds_values:
                child = children[0]
                assert isinstance(child, Field)
                found, value, entered = self.field(child)
                if found:
                    items.append((value, entered))
            else:
                value, entered = self.nodes(children)
                # A file is an entry too, though it arrives apart from the POST data.
                items.append((value, entered or index in with_file))
        if group.holds_values:
            # Several inputs may also share the list's own name (<input name="x"> repeated).
            for text in self.values(group.name):
                if text.strip():
                    items.append((text.strip(), True))
        entered_count = sum(1 for _, entered in items if entered)
        # Empty items are kept only as far as needed to reach minItems, so the citizen sees
        # which inputs are missing instead of a bare "at least n entries".
        padding = max(group.min_items - entered_count, 0)
        kept: list[Any] = []
        for value, entered in items:
            if entered:
                kept.append(value)
            elif padding and not group.holds_values:
                kept.append(value)
                padding -= 1
        if not kept and not group.required:
            return False, None, False
        return True, kept, entered_count > 0

    @staticmethod
    def item_indices(group: Group, names: Iterable[str]) -> set[int]:
        prefix = group.name + "."
        return {
            int(head)
            for name in names
            if name.startswith(prefix)
            for head in [name[len(prefix) :].split(".", 1)[0]]
            if head.isascii() and head.isdigit() and len(head) <= 4  # "²" passes isdigit but not int
        }


def _drop_hidden(nodes: Sequence[Node], form: dict[str, Any]) -> None:
    # Dropping one value can switch off conditions that depend on it; repeat until stable.
    while _drop_once(nodes, form):
        pass


def _drop_once(nodes: Sequence[Node], form: dict[str, Any]) -> bool:
    changed = False
    for node in nodes:
        if node.condition is not None and not node.condition.holds(form):
            changed = _remove(form, node.path) or changed
            continue
        if isinstance(node, Group):
            found, value = value_at(form, node.path)
            if not found:
                continue
            if node.repeatable and isinstance(value, list):
                for index in range(len(value)):
                    changed = _drop_once(node.item(index), form) or changed
            elif not node.repeatable:
                changed = _drop_once(node.children, form) or changed
    return changed


def _remove(data: dict[str, Any], path: Path) -> bool:
    found, parent = value_at(data, path[:-1])
    if found and isinstance(parent, dict) and path[-1] in parent:
        del parent[path[-1]]
        return True
    return False


def _set_in(container: Any, path: Path, value: Any) -> Any:
    # Copies only the containers along the path: other uploads in `data` stay shared.
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(container) if isinstance(container, list) else []
        if head == len(items):
            items.append({})
        if not 0 <= head < len(items):
            raise IndexError(f"cannot store a file at item {head} of a list of {len(items)}")
        items[head] = _set_in(items[head], rest, value)
        return items
    mapping = dict(container) if isinstance(container, Mapping) else {}
    mapping[head] = _set_in(mapping.get(head), rest, value)
    return mapping


def _bare_filename(filename: str) -> str:
    name = re.split(r"[\\/]", _without_nul(filename))[-1].strip()
    return name or "Datei"


def _without_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd")
