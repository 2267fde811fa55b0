"""Small helpers for walking Rathaus form schemas (JSON Schema 2020-12 documents).

Shared by the model, validation, coercion and the FIM importer. Only local references
(``#/...``) are followed: a form schema is one self-contained document by convention.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Schema = Mapping[str, Any]
PathSegment = str | int
Path = tuple[PathSegment, ...]

#: Stands for "every item" in the path of a node inside a repeatable group. Property keys
#: are ASCII identifiers by convention, so the asterisk can never collide with one.
WILDCARD = "*"

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

_MAX_REF_DEPTH = 32


class SchemaReferenceError(ValueError):
    """A ``$ref`` could not be resolved inside the document."""


def json_pointer(path: Sequence[PathSegment]) -> str:
    """Return the RFC 6901 JSON pointer for ``path`` (``""`` for the document root)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Return the value ``pointer`` addresses in ``document``; raise ``KeyError`` if absent."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    current = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            if token not in current:
                raise KeyError(pointer)
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or int(token) >= len(current):
                raise KeyError(pointer)
            current = current[int(token)]
        else:
            raise KeyError(pointer)
    return current


def resolve(schema: Any, root: Schema) -> Any:
    """Follow local ``$ref`` chains; keywords next to a ``$ref`` override the target's."""
    depth = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if not ref.startswith("#"):
            raise SchemaReferenceError(f"only local references are supported, got {ref!r}")
        depth += 1
        if depth > _MAX_REF_DEPTH:
            raise SchemaReferenceError(f"reference cycle at {ref!r}")
        try:
            target = resolve_pointer(root, ref[1:])
        except KeyError:
            raise SchemaReferenceError(f"unresolvable reference {ref!r}") from None
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings} if isinstance(target, Mapping) else target
    return schema


def schema_type(schema: Schema) -> str | None:
    """The JSON type a leaf schema describes (the first non-null one if it lists several)."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, list):
        for item in declared:
            if item != "null":
                return str(item)
    if "const" in schema:
        return _json_type_of(schema["const"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _json_type_of(schema["enum"][0])
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _json_type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def is_file_schema(schema: Any) -> bool:
    """True for the file leaf of docs/forms.md (an object marked ``x-widget: file``)."""
    return isinstance(schema, Mapping) and schema.get("x-widget") == "file"


def conditionals(schema: Schema, root: Schema) -> Iterator[tuple[Schema, Schema]]:
    """Yield the ``(if, then)`` pairs of an object schema, its own and those inside ``allOf``."""
    candidates: list[Any] = [schema]
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        candidates.extend(resolve(item, root) for item in all_of)
    for candidate in candidates:
        if not isinstance(candidate, Mapping):
            continue
        condition, consequence = candidate.get("if"), candidate.get("then")
        if isinstance(condition, Mapping) and isinstance(consequence, Mapping):
            yield condition, consequence


def property_order(schema: Schema, root: Schema) -> list[str]:
    """Property names in schema order: own ``properties`` first, then those of ``allOf`` parts."""
    names: list[str] = []
    sources: list[Any] = [schema]
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        sources.extend(resolve(item, root) for item in all_of)
    for source in sources:
        if isinstance(source, Mapping) and isinstance(source.get("properties"), Mapping):
            names.extend(name for name in source["properties"] if name not in names)
    return names


def property_schema(schema: Schema, name: str, root: Schema) -> Any:
    """The subschema that governs property ``name`` of an object schema, or ``None``."""
    sources: list[Any] = [schema]
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        sources.extend(resolve(item, root) for item in all_of)
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        properties = source.get("properties")
        if isinstance(properties, Mapping) and name in properties:
            return resolve(properties[name], root)
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping):
        return resolve(additional, root)
    return None


def item_schema(schema: Schema, index: int | str, root: Schema) -> Any:
    """The subschema governing array item ``index`` (``WILDCARD`` for the general item)."""
    prefix = schema.get("prefixItems")
    if isinstance(index, int) and isinstance(prefix, list) and index < len(prefix):
        return resolve(prefix[index], root)
    items = schema.get("items")
    if isinstance(items, Mapping):
        return resolve(items, root)
    return None


def schema_for_path(root: Schema, path: Sequence[PathSegment]) -> Any:
    """Walk from the root schema along a data path; ``None`` if the path leaves the schema."""
    current: Any = resolve(root, root)
    for part in path:
        if not isinstance(current, Mapping):
            return None
        if isinstance(part, int) or part == WILDCARD:
            current = item_schema(current, part, root)
        else:
            current = property_schema(current, part, root)
    return current


def value_at(data: Any, path: Sequence[PathSegment]) -> tuple[bool, Any]:
    """Return ``(found, value)`` for ``path`` inside plain JSON data."""
    current = data
    for part in path:
        if isinstance(part, int):
            if not isinstance(current, list) or not 0 <= part < len(current):
                return False, None
            current = current[part]
        else:
            if not isinstance(current, Mapping) or part not in current:
                return False, None
            current = current[part]
    return True, current


def same_json_value(left: Any, right: Any) -> bool:
    """JSON equality: ``True`` and ``1`` differ (Python's ``==`` says they are equal)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return bool(left == right)
