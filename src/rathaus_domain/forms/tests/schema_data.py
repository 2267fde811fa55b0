"""Test data derived from a form schema: a minimal and a full valid instance, a hypothesis
strategy for near-valid data (mostly right, sometimes wrong in every way a client can get
it wrong), and strategies for valid data and for data broken in one known way."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from rathaus_domain.forms._schema import (
    WILDCARD,
    Path,
    Schema,
    _json_type_of,
    conditionals,
    is_file_schema,
    item_schema,
    json_pointer,
    property_order,
    property_schema,
    resolve,
    schema_for_path,
    schema_type,
)
from rathaus_domain.forms.validation import END_OF_TEXT, FILE_TYPES

SAMPLE_TEXT = "Beispieltext"

# The relative date keywords (docs/forms.md), spelled out here rather than imported: this module
# is the tests' independent reading of the form language.
DATE_MIN_DAYS_AHEAD = "x-date-min-days-ahead"
DATE_MAX_DAYS_AHEAD = "x-date-max-days-ahead"
# A date field limited on one side only is drawn within this many days of that limit.
_OPEN_SIDE_DAYS = 3650
_TOWNS = ZoneInfo("Europe/Berlin")


def town_today() -> dt.date:
    """The day in the towns (Europe/Berlin): the server counts relative dates from it, not from UTC's."""
    return dt.datetime.now(_TOWNS).date()


def relative_window(node: Schema) -> tuple[int, int] | None:
    """The offsets from today (earliest, latest) a date field with relative limits allows, else None."""
    low, high = node.get(DATE_MIN_DAYS_AHEAD), node.get(DATE_MAX_DAYS_AHEAD)
    if low is None and high is None:
        return None
    if low is None:
        low = high - _OPEN_SIDE_DAYS
    if high is None:
        high = low + _OPEN_SIDE_DAYS
    return low, high


def _day(offset: int, today: dt.date | None) -> str:
    # Without a fixed day, today's is taken when the value is made, so examples drawn over midnight stay valid.
    return ((today or town_today()) + dt.timedelta(days=offset)).isoformat()


def form_validator(schema: Schema, today: dt.date | None = None) -> Any:
    """A `jsonschema` validator that reads a form schema as docs/forms.md defines it: 2020-12 with
    formats asserted, plus the dates relative to the day of submission (``today``, else the towns' day).

    The oracle of the property tests, written apart from the code under test.
    """

    def relative(earliest: bool) -> Any:
        def check(validator: Any, days: Any, value: Any, node: Schema) -> Iterator[ValidationError]:
            if not validator.is_type(value, "string") or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                return
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                return  # no date: the format says so
            limit = (today or town_today()) + dt.timedelta(days=days)
            if (day < limit) if earliest else (day > limit):
                yield ValidationError(f"{value} is {'before' if earliest else 'after'} {limit}")

        return check

    cls = validators.extend(Draft202012Validator, {DATE_MIN_DAYS_AHEAD: relative(True),
                                                   DATE_MAX_DAYS_AHEAD: relative(False)})
    return cls(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def instance(schema: Schema, *, full: bool = False, today: dt.date | None = None) -> Any:
    """A valid instance: only what is required (``full=False``) or every property.

    A date limited relative to the day of submission is its earliest (else latest) allowed day
    counted from ``today`` (else the towns' day).
    """
    return _instance(schema, schema, full, today)


def _instance(node: Any, root: Schema, full: bool, today: dt.date | None = None) -> Any:
    node = resolve(node, root)
    if is_file_schema(node):
        return _file(node["properties"]["content_type"]["enum"][0])
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][-1 if full else 0]
    kind = schema_type(node)
    if kind == "object":
        return _object(node, root, full, today)
    if kind == "array":
        items = item_schema(node, WILDCARD, root)
        count = node.get("minItems", 0)
        if full:
            count = min(max(count, 2), node.get("maxItems", 2))
        if "enum" in items:
            return list(items["enum"][:count])
        return [_instance(items, root, full, today) for _ in range(count)]
    if kind == "boolean":
        return full
    if kind in ("integer", "number"):
        low = node.get("minimum", 0)
        value = max(low, 1) if full else low
        return value if kind == "integer" else value + (0.5 if full else 0)
    if node.get("format") == "date":
        window = relative_window(node)
        if window is not None:
            return _day(window[0] if DATE_MIN_DAYS_AHEAD in node else window[1], today)
        return "2024-02-29"
    if node.get("format") == "email":
        return "erika@example.de"
    low, high = node.get("minLength", 0), node["maxLength"]
    text = (SAMPLE_TEXT if full else "")[:high]
    return text + "x" * max(low - len(text), 0)


def _object(node: Schema, root: Schema, full: bool, today: dt.date | None) -> dict[str, Any]:
    names = property_order(node, root) if full else list(node.get("required", []))
    result = {name: _instance(property_schema(node, name, root), root, full, today) for name in names}
    # Conditionally required fields must be added once their condition holds.
    for condition, consequence in conditionals(node, root):
        if Draft202012Validator(condition).is_valid(result):
            for name in consequence.get("required", []):
                if name not in result:
                    result[name] = _instance(property_schema(node, name, root), root, full, today)
    return result


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _file(content_type: str) -> dict[str, str]:
    raw = FILE_TYPES[content_type].magic + b"\x00" * 16
    extension = FILE_TYPES[content_type].label.lower()
    return {
        "filename": f"nachweis.{extension}",
        "content_type": content_type,
        "content": base64.b64encode(raw).decode(),
    }


def near_valid(schema: Schema) -> st.SearchStrategy[Any]:
    """Data shaped like the schema, with random omissions, extra keys and wrong values."""
    return _strategy(schema, schema, depth=0)


_WRONG = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2))


def _strategy(node: Any, root: Schema, depth: int) -> st.SearchStrategy[Any]:
    node = resolve(node, root)
    right = _right(node, root, depth)
    # Mostly well-typed data (one value in about forty is wrong), so that some examples
    # are valid and the deep branches get exercised too.
    return _rarely(_WRONG, right, 40) if depth else right


@st.composite
def _rarely(draw: st.DrawFn, rare: st.SearchStrategy[Any], usual: st.SearchStrategy[Any], odds: int) -> Any:
    """A value from ``rare`` about once in ``odds`` draws, otherwise from ``usual``."""
    return draw(rare) if draw(_dice(odds)) == odds else draw(usual)


@functools.cache
def _dice(sides: int) -> st.SearchStrategy[int]:
    return st.integers(1, sides)


def _right(node: Any, root: Schema, depth: int) -> st.SearchStrategy[Any]:
    if not isinstance(node, Mapping):
        return _WRONG
    if is_file_schema(node):
        types = node["properties"]["content_type"]["enum"]
        return st.one_of(
            st.sampled_from(types).map(_file),
            st.fixed_dictionaries(
                {"filename": st.text(max_size=8), "content_type": st.text(max_size=12)},
                optional={"content": st.binary(max_size=12).map(_base64)},
            ),
        )
    if "const" in node:
        return st.one_of(st.just(node["const"]), _WRONG)
    if "enum" in node:
        return st.one_of(st.sampled_from(node["enum"]), st.text(max_size=6))
    kind = schema_type(node)
    if kind == "object":
        names = property_order(node, root)
        required = set(node.get("required", []))
        fields = {n: _strategy(property_schema(node, n, root), root, depth + 1) for n in names}
        mandatory = {n: s for n, s in fields.items() if n in required}
        optional = {n: s for n, s in fields.items() if n not in required}
        closed = st.fixed_dictionaries(mandatory, optional=optional)
        with_unknown = st.fixed_dictionaries(mandatory, optional={**optional, "unbekannt": st.text(max_size=3)})
        return _rarely(with_unknown, closed, 20)
    if kind == "array":
        items = item_schema(node, WILDCARD, root)
        high = node.get("maxItems", 3)
        return st.lists(
            _strategy(items, root, depth + 1),
            min_size=max(node.get("minItems", 0) - 1, 0),
            max_size=min(high + 1, 4),
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=-10, max_value=10**6)
    if kind == "number":
        return st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=False, allow_infinity=False))
    if node.get("format") == "date":
        return st.one_of(
            st.dates(min_value=dt.date(1900, 1, 1)).map(dt.date.isoformat),
            st.sampled_from(["31.01.2024", "2024-02-30", "2024-01-31\n", ""]),
        )
    # Short texts keep the examples cheap; the edge lengths are drawn explicitly.
    low, high = node.get("minLength", 0), node.get("maxLength", 20)
    return st.one_of(
        st.text(min_size=min(low, high), max_size=min(max(low, 10), high)),
        st.sampled_from(["", " ", "x" * high, "x" * (high + 1)]),
    )


# --------------------------------------------------------------------- valid and broken data
#
# Property tests of "the published schema is the contract" need data that is valid under a
# form schema, drawn fast enough for the normal suite. hypothesis-jsonschema's ``from_schema``
# over a whole form rejects nearly every example: file leaves (an ``allOf`` of ``if``/``then``
# content patterns) and free texts with a length window are reached only through filters.
# So the strategy below walks the form (docs/forms.md) itself, draws leaves with
# ``from_schema`` from their published subschema, and builds exactly what filters would hunt
# for: free texts from the alphabet their pattern allows, files from real magic bytes, and
# conditionally required fields once their condition holds. Nothing is made laxer: every
# example must still pass the published schema, and the tests assert that it does.

# Text drawn for a free-text field is cut to this length: long enough for every limit the
# forms set below it, short enough to keep examples cheap.
_TEXT_MAX_DRAWN = 40
# Arrays are drawn with at most this many items beyond minItems.
_EXTRA_ITEMS = 2
# Bytes after a file's magic bytes that keep the published base64 prefix intact (the prefix
# pins a few bits past the magic bytes: "%PDF-1", a PNG's IHDR length).
_FILE_STARTS = {"application/pdf": b"1.7\n", "image/png": b"\x00\x00\x00\x0dIHDR", "image/jpeg": b"\xe0"}
# "^[^...]*" or "+" up to the end: one negated class (escapes allowed, no bare "]" inside).
_FREE_TEXT = re.compile(r"\^\[\^((?:\\.|[^\]\\])+)\]([*+])" + re.escape(END_OF_TEXT))


def valid_data(schema: Schema, today: dt.date | None = None) -> st.SearchStrategy[Any]:
    """Data valid under the form ``schema`` (docs/forms.md), optional parts included at random.

    Dates limited relative to the day of submission lie within their limits counted from
    ``today`` (else the towns' day when the example is drawn), their first and last day included.
    """
    return _valid(schema, schema, today)


def _valid(node: Any, root: Schema, today: dt.date | None = None) -> st.SearchStrategy[Any]:
    node = resolve(node, root)
    if is_file_schema(node):
        return _valid_file(node)
    kind = schema_type(node)
    if kind == "object" and "enum" not in node and "const" not in node:
        return _valid_object(node, root, today)
    if kind == "array" and "enum" not in node and "const" not in node:
        items = item_schema(node, WILDCARD, root)
        low = node.get("minItems", 0)
        return st.lists(
            _valid(items, root, today),
            min_size=low,
            max_size=min(node.get("maxItems", low + _EXTRA_ITEMS), low + _EXTRA_ITEMS),
            unique_by=_canonical if node.get("uniqueItems") else None,
        )
    window = relative_window(node) if kind == "string" and node.get("format") == "date" else None
    if window is not None:
        return st.builds(_day, st.integers(*window), st.just(today))
    plain_text = kind == "string" and "enum" not in node and "format" not in node
    alphabet = _free_text_alphabet(node.get("pattern")) if plain_text else None
    if alphabet is not None:
        low = node.get("minLength", 0)
        high = max(low, min(node.get("maxLength", _TEXT_MAX_DRAWN), _TEXT_MAX_DRAWN))
        return st.text(alphabet, min_size=low, max_size=high)
    leaf = {key: value for key, value in node.items() if not key.startswith("x-")}
    return from_schema(leaf)


@st.composite
def _valid_object(draw: st.DrawFn, node: Schema, root: Schema, today: dt.date | None) -> dict[str, Any]:
    required = set(node.get("required", []))
    result: dict[str, Any] = {}
    for name in property_order(node, root):
        if name in required or draw(st.booleans()):
            result[name] = draw(_valid(property_schema(node, name, root), root, today))
    # A field required by a condition is added once the condition holds; adding it may make
    # another condition hold, so repeat until nothing changes.
    changed = True
    while changed:
        changed = False
        for condition, consequence in conditionals(node, root):
            if set(consequence) - {"required"}:
                raise NotImplementedError(f"then with more than required: {consequence!r}")
            if Draft202012Validator(condition).is_valid(result):
                for name in consequence.get("required", []):
                    if name not in result:
                        result[name] = draw(_valid(property_schema(node, name, root), root, today))
                        changed = True
    return result


@st.composite
def _valid_file(draw: st.DrawFn, node: Schema) -> dict[str, Any]:
    properties = node["properties"]
    content_type = draw(st.sampled_from(properties["content_type"]["enum"]))
    raw = FILE_TYPES[content_type].magic + _FILE_STARTS[content_type] + draw(st.binary(max_size=48))
    return {
        "filename": draw(from_schema({k: v for k, v in properties["filename"].items()})),
        "content_type": content_type,
        "content": base64.b64encode(raw).decode(),
    }


@functools.cache
def _free_text_alphabet(pattern: str | None) -> st.SearchStrategy[str] | None:
    """For a pattern ``^[^...]*`` (or ``+``) up to the end: the characters it allows, else ``None``."""
    match = _FREE_TEXT.fullmatch(pattern or "")
    if match is None:
        return None
    allowed = re.compile(f"[^{match.group(1)}]")
    # Such classes exclude characters of the Basic Multilingual Plane only; listing those is exact.
    excluded = "".join(chr(c) for c in range(0x10000) if not allowed.fullmatch(chr(c)))
    return st.characters(codec="utf-8", exclude_characters=excluded)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class Broken:
    """Data made invalid in one known way, and the JSON pointer the error must be reported at."""

    data: Any
    pointer: str
    how: str


# Values of each JSON type, to put where the schema wants another type.
_OF_TYPE: dict[str, Any] = {
    "null": None,
    "boolean": True,
    "integer": 42,
    "number": 1.5,
    "string": "Text",
    "array": ["Text"],
    "object": {"a": "b"},
}
_UNKNOWN_KEY = "x_unbekannt"


#: The kinds of defect ``broken_data`` plants.
DEFECTS = ("type", "unknown", "missing", "pattern", "enum", "bounds")


def broken_data(schema: Schema, prefer: str | None = None, today: dt.date | None = None) -> st.SearchStrategy[Broken]:
    """Valid data with one known defect: a wrong type, an unknown field, a missing required
    field, a text against its pattern, a value outside its enum or its bounds (a number's, or
    the day before or after the limits of a date relative to ``today``, else the towns' day).

    With ``prefer`` (one of ``DEFECTS``) that kind is planted whenever the drawn data has a
    place for it, so a handful of examples per kind covers them all.
    """
    return _broken(schema, prefer, today)


@st.composite
def _broken(draw: st.DrawFn, schema: Schema, prefer: str | None, today: dt.date | None) -> Broken:
    data = draw(valid_data(schema, today))
    sites: dict[str, list[tuple[Path, Any]]] = {}
    for how, path, value in _defect_sites(schema, data, today):
        sites.setdefault(how, []).append((path, value))
    # The kind of defect first, then where: otherwise the many objects (each a site for an
    # unknown field) would crowd out the rarer kinds.
    how = prefer if prefer is not None and prefer in sites else draw(st.sampled_from(sorted(sites)))
    path, replacement = draw(st.sampled_from(sites[how]))
    broken = copy.deepcopy(data)
    if how == "missing":
        parent = _at(broken, path[:-1])
        del parent[path[-1]]
    else:
        _put(broken, path, replacement)
    # A problem inside a file leaf is reported on the leaf, which is one control.
    reported = path[:-1] if len(path) >= 1 and is_file_schema(schema_for_path(schema, path[:-1])) else path
    return Broken(broken, json_pointer(reported), how)


def _defect_sites(schema: Schema, data: Any, today: dt.date | None = None) -> Iterator[tuple[str, Path, Any]]:
    """``(how, path, new value)`` for every defect that can be planted in ``data``."""
    for path, value in _nodes(data):
        node = resolve(schema_for_path(schema, path), schema) if path else resolve(schema, schema)
        if not isinstance(node, Mapping):
            continue
        if path:
            allowed = _json_types(node)
            for kind, wrong in _OF_TYPE.items():
                if kind not in allowed and not (kind == "integer" and "number" in allowed):
                    yield "type", path, wrong
        if isinstance(value, dict):
            assert node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False, path
            yield "unknown", (*path, _UNKNOWN_KEY), "1"
            for name in node.get("required", []):
                yield "missing", (*path, name), None
        elif isinstance(value, str) and isinstance(node.get("pattern"), str):
            pattern = re.compile(node["pattern"])
            for bad in (value + "\n", value[: len(value) // 2] + "\x00" + value[len(value) // 2 :]):
                if not pattern.search(bad):
                    yield "pattern", path, bad
                    break
        if isinstance(node.get("enum"), list) and "kein-wert" not in node["enum"]:
            yield "enum", path, "kein-wert"
        if isinstance(value, str) and node.get("format") == "date":
            if DATE_MIN_DAYS_AHEAD in node:
                yield "bounds", path, _day(node[DATE_MIN_DAYS_AHEAD] - 1, today)
            if DATE_MAX_DAYS_AHEAD in node:
                yield "bounds", path, _day(node[DATE_MAX_DAYS_AHEAD] + 1, today)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "maximum" in node:
                yield "bounds", path, node["maximum"] + 1
            if "minimum" in node:
                yield "bounds", path, node["minimum"] - 1


def _json_types(node: Schema) -> set[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    values = node.get("enum", [node["const"]] if "const" in node else [])
    return {_json_type_of(v) for v in values}


def _nodes(value: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every ``(path, value)`` of JSON data, the root included."""
    yield prefix, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _nodes(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _nodes(child, (*prefix, index))


def _at(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


def _put(data: Any, path: Path, value: Any) -> None:
    _at(data, path[:-1])[path[-1]] = value
