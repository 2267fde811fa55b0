"""Test data derived from a form schema: a minimal and a full valid instance, and a
hypothesis strategy for near-valid data (mostly right, sometimes wrong in every way a
client can get it wrong)."""

from __future__ import annotations

import base64
import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from rathaus_domain.forms._schema import (
    WILDCARD,
    Schema,
    conditionals,
    is_file_schema,
    item_schema,
    property_order,
    property_schema,
    resolve,
    schema_type,
)
from rathaus_domain.forms.validation import FILE_TYPES

SAMPLE_TEXT = "Beispieltext"


def instance(schema: Schema, *, full: bool = False) -> Any:
    """A valid instance: only what is required (``full=False``) or every property."""
    return _instance(schema, schema, full)


def _instance(node: Any, root: Schema, full: bool) -> Any:
    node = resolve(node, root)
    if is_file_schema(node):
        return _file(node["properties"]["content_type"]["enum"][0])
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][-1 if full else 0]
    kind = schema_type(node)
    if kind == "object":
        return _object(node, root, full)
    if kind == "array":
        items = item_schema(node, WILDCARD, root)
        count = node.get("minItems", 0)
        if full:
            count = min(max(count, 2), node.get("maxItems", 2))
        if "enum" in items:
            return list(items["enum"][:count])
        return [_instance(items, root, full) for _ in range(count)]
    if kind == "boolean":
        return full
    if kind in ("integer", "number"):
        low = node.get("minimum", 0)
        value = max(low, 1) if full else low
        return value if kind == "integer" else value + (0.5 if full else 0)
    if node.get("format") == "date":
        return "2024-02-29"
    if node.get("format") == "email":
        return "erika@example.de"
    low, high = node.get("minLength", 0), node["maxLength"]
    text = (SAMPLE_TEXT if full else "")[:high]
    return text + "x" * max(low - len(text), 0)


def _object(node: Schema, root: Schema, full: bool) -> dict[str, Any]:
    names = property_order(node, root) if full else list(node.get("required", []))
    result = {name: _instance(property_schema(node, name, root), root, full) for name in names}
    # Conditionally required fields must be added once their condition holds.
    for condition, consequence in conditionals(node, root):
        if Draft202012Validator(condition).is_valid(result):
            for name in consequence.get("required", []):
                if name not in result:
                    result[name] = _instance(property_schema(node, name, root), root, full)
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
