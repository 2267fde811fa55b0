"""Validation of form data against a form schema, with plain-language messages.

The schema is the contract (docs/forms.md): ``validate`` only translates what
``jsonschema`` finds into ``FieldError`` objects a form or an API problem document can show,
and ``check_form_schema`` lints a form definition before it is published.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry

from ._regex import END_OF_TEXT, PatternError, pattern_accepts, pattern_search
from ._schema import (
    DRAFT_2020_12,
    Path,
    Schema,
    SchemaReferenceError,
    conditionals,
    is_file_schema,
    item_schema,
    json_pointer,
    property_order,
    property_schema,
    resolve,
    resolve_pointer,
    schema_for_path,
    schema_type,
)
from .identity import IdentityCache
from .model import (
    DATE_MAX_DAYS_AHEAD,
    DATE_MIN_DAYS_AHEAD,
    RELATIVE_DATE_KEYWORDS,
    RELATIVE_DAYS_LIMIT,
    FormSpec,
    date_limits,
    format_bytes,
    parse_condition,
    relative_days,
    value_label,
)

__all__ = [
    "CONTROL_CHARACTERS",
    "CONTROL_CHARACTERS_BUT_LINE_BREAKS",
    "DATE_PATTERN",
    "END_OF_TEXT",
    "FILENAME_PATTERN",
    "FILE_TYPES",
    "FieldError",
    "FileType",
    "MULTI_LINE_TEXT_PATTERN",
    "SINGLE_LINE_TEXT_PATTERN",
    "accepted_labels",
    "check_form_schema",
    "content_pattern",
    "compiled",
    "file_field_schema",
    "prepare",
    "sniff_content_type",
    "text_pattern",
    "validate",
]


@dataclass(frozen=True)
class FileType:
    """An upload type Rathaus recognises by its first bytes."""

    content_type: str
    magic: bytes
    base64_prefix: str
    label: str


#: The allowed upload types; the base64 prefix is how the magic bytes look once encoded.
FILE_TYPES: Mapping[str, FileType] = {
    "application/pdf": FileType("application/pdf", b"%PDF-", "JVBERi0", "PDF"),
    "image/png": FileType("image/png", b"\x89PNG\r\n\x1a\n", "iVBORw0KGgo", "PNG"),
    "image/jpeg": FileType("image/jpeg", b"\xff\xd8\xff", "/9j/", "JPEG"),
}

# Published patterns must mean the same in Python's `re` (which validates here) and in
# ECMA-262 (which other validators use), with or without the `u` flag. So they avoid `$`, `.`,
# `\d`, `\w`, `\b` and a lone `\s` (each defined differently by the two) and write characters as
# `\uXXXX` escapes, which both read alike. `[\s\S]` (any character) is the same in both.

# END_OF_TEXT (from `_regex`) ends a pattern at the true end of the text: `$` would do in
# ECMA-262, but Python's `re` also matches `$` before a final line break ("a.pdf\n").

#: The control characters (Unicode category Cc: C0, DEL and C1), as the body of a character class.
CONTROL_CHARACTERS = r"\u0000-\u001f\u007f-\u009f"
#: The same without tab, line feed and carriage return, which multi-line text may contain.
CONTROL_CHARACTERS_BUT_LINE_BREAKS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"

#: One line of free text: anything but control characters (so no NUL, which PostgreSQL cannot store).
SINGLE_LINE_TEXT_PATTERN = rf"^[^{CONTROL_CHARACTERS}]*{END_OF_TEXT}"
#: Free text over several lines (textarea): tab and line breaks allowed, other control characters not.
MULTI_LINE_TEXT_PATTERN = rf"^[^{CONTROL_CHARACTERS_BUT_LINE_BREAKS}]*{END_OF_TEXT}"

#: A calendar date as JSON Schema's `format: date` writes it (YYYY-MM-DD).
DATE_PATTERN = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])" + END_OF_TEXT
# Fields every form and the citizen's profile ("Meine Daten") share, so a value the profile
# accepts is accepted where a form takes it over.
#: Names, streets, places: no markup or code-like characters.
NAME_PATTERN = rf"^[^<>{{}}\[\]\\/@#$%^*=|~`{CONTROL_CHARACTERS}]+{END_OF_TEXT}"
POSTCODE_PATTERN = r"^[0-9]{5}" + END_OF_TEXT
_SPACES = r"\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMAIL_PATTERN = (rf"^[^@<>{CONTROL_CHARACTERS}{_SPACES}]{{1,64}}@[^@<>{CONTROL_CHARACTERS}{_SPACES}]{{1,190}}"
                 rf"\.[A-Za-z]{{2,24}}{END_OF_TEXT}")
PHONE_PATTERN = r"^\+?[0-9 ()/-]{6,30}" + END_OF_TEXT
HOUSE_NUMBER_PATTERN = r"^[0-9]{1,4}[a-zA-Z]?(-[0-9]{1,4}[a-zA-Z]?)?" + END_OF_TEXT


def text_pattern(body: str | None = None, *, multi_line: bool = False) -> str:
    """The pattern of a free-text field: no control characters, and the whole text matching ``body``.

    Without ``body`` any text without control characters matches; ``multi_line`` allows tab
    and line breaks. ``body`` must itself read alike in Python's ``re`` and ECMA-262; it is
    wrapped in a group and anchored at both ends.
    """
    if body is None:
        return MULTI_LINE_TEXT_PATTERN if multi_line else SINGLE_LINE_TEXT_PATTERN
    forbidden = CONTROL_CHARACTERS_BUT_LINE_BREAKS if multi_line else CONTROL_CHARACTERS
    return rf"^(?![\s\S]*[{forbidden}])(?:{body}){END_OF_TEXT}"


#: A bare file name: no directory part, no control characters, not "." or "..".
FILENAME_PATTERN = r"^(?!\.{1,2}(?![\s\S]))[^/\\\u0000-\u001f\u007f]+" + END_OF_TEXT

FILENAME_MAX_LENGTH = 255


@dataclass(frozen=True)
class FieldError:
    """One problem with submitted data, addressed by data path and JSON pointer."""

    path: Path
    pointer: str
    code: str
    message: str
    message_en: str

    @property
    def message_de(self) -> str:
        """The German message (as other bilingual errors name it; see core.language.localized)."""
        return self.message


# When several keywords fail on one field, the field shows the most helpful message only.
_PRIORITY = {
    "required": 0,
    "type": 1,
    "additionalProperties": 1,
    "unevaluatedProperties": 1,
    "const": 2,
    "enum": 2,
    "minLength": 3,
    "maxLength": 3,
    "pattern": 4,
    "format": 5,
}
# For dates and e-mail addresses "wrong format" says more than "too long".
_PRIORITY_FORMATTED = {**_PRIORITY, "pattern": 3, "format": 4, "minLength": 5, "maxLength": 5}


_LOCAL_ONLY: Registry = Registry()  # references resolve within the schema only (see validate)


# `jsonschema` matches patterns with Python's `re`, which backtracks without limit: one crafted
# text could hold a worker for minutes. These keywords match through `_regex` instead.
def _pattern(validator: Any, pattern: str, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not pattern_accepts(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Mapping[str, Any], instance: Any,
                        schema: Schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if pattern_accepts(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    extras = [key for key in instance if key not in properties and not any(pattern_accepts(p, key) for p in patterns)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, sorted(extras)))} unexpected)")


def _multiple_of(validator: Any, divisor: Any, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    # `jsonschema` divides floats: 19.99 / 0.01 is 1998.9999999999998, so a euro amount with cents
    # was "not a multiple of 0.01". The decimal texts are what the citizen and the author wrote.
    if not validator.is_type(instance, "number"):
        return
    try:
        failed = (Fraction(str(instance)) / Fraction(str(divisor))).denominator != 1
    except (ValueError, ZeroDivisionError, OverflowError):
        failed = True  # infinity or not a number: no multiple of anything
    if failed:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


_Validator = validators.extend(Draft202012Validator, {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "multipleOf": _multiple_of,
})


def validate(schema: Mapping[str, Any], data: Any, *, today: dt.date | None = None) -> list[FieldError]:
    """Validate ``data`` against a form schema (2020-12, formats asserted).

    Returns at most one error per field (the most helpful one), sorted by the position of
    the field in the schema. ``required`` errors point at the missing field itself; for
    ``oneOf``/``anyOf`` the errors of the alternative that came closest are reported.

    ``today``: the day of submission in the town (Europe/Berlin), for the dates relative to it
    (``x-date-min-days-ahead``, ``x-date-max-days-ahead``). Without it those limits are not
    checked: data stored when it was sent stays valid although its dates draw nearer every day.
    """
    if _fast_valid(schema, data) and next(_nul_errors(schema, data, ()), None) is None:
        if today is None or not _has_relative_dates(schema):
            return []
        return sorted(_relative_date_errors(schema, data, today, ()), key=lambda e: _order_key(schema, e.path))
    # An empty registry: a reference is resolved within the form's own schema, never fetched from
    # the network (jsonschema's default would download an http(s) `$ref`).
    validator = _Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER, registry=_LOCAL_ONLY)
    best: dict[str, tuple[int, FieldError]] = {}
    for error in validator.iter_errors(data):
        for inner in _innermost(error):
            for field_error in _field_errors(inner, schema):
                rank = _rank(schema, field_error)
                current = best.get(field_error.pointer)
                if current is None or rank < current[0]:
                    best[field_error.pointer] = (rank, field_error)
    # Normally the schema's patterns have refused a NUL already; this keeps a form whose schema
    # forgot one from sending it to the database, which cannot store it (PostgreSQL).
    for field_error in list(_nul_errors(schema, data, best)):
        best[field_error.pointer] = (_rank(schema, field_error), field_error)
    if today is not None and _has_relative_dates(schema):
        # Only where the field has no error yet: a date that is no date says so first.
        for field_error in list(_relative_date_errors(schema, data, today, best)):
            best[field_error.pointer] = (_rank(schema, field_error), field_error)
    return sorted((e for _, e in best.values()), key=lambda e: _order_key(schema, e.path))


# --------------------------------------------------------------------------- dates relative to today

_RELATIVE: IdentityCache[bool] = IdentityCache()
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _has_relative_dates(schema: Mapping[str, Any]) -> bool:
    return _RELATIVE.get(schema, lambda s: any(next(_keyword_uses(s, (), k), None) for k in RELATIVE_DATE_KEYWORDS))


def _relative_date_errors(root: Schema, data: Any, today: dt.date, reported: Iterable[str]) -> Iterator[FieldError]:
    """An error for each date outside the limits its field sets relative to ``today``.

    Walks the data along the schema as the form model reads it (properties, also those of
    ``allOf`` parts, and items): that is where the lint allows the keywords. Values that are no
    date are left to the ``format`` and ``pattern`` errors, fields in ``reported`` alone.
    """
    taken = set(reported)
    stack: list[tuple[Path, Any, Any]] = [((), data, root)]
    while stack:
        path, value, node = stack.pop()
        try:
            node = resolve(node, root)
        except SchemaReferenceError:
            continue  # reported as a schema problem by the lint; nothing to check against
        if not isinstance(node, Mapping):
            continue
        if isinstance(value, str):
            earliest, latest = date_limits(node, today)
            day = _iso_date(value) if earliest is not None or latest is not None else None
            pointer = json_pointer(path)
            if day is None or pointer in taken:
                continue
            if earliest is not None and day < earliest:
                german, english = _relative_date_message(DATE_MIN_DAYS_AHEAD, node[DATE_MIN_DAYS_AHEAD], earliest)
                code = DATE_MIN_DAYS_AHEAD
            elif latest is not None and day > latest:
                german, english = _relative_date_message(DATE_MAX_DAYS_AHEAD, node[DATE_MAX_DAYS_AHEAD], latest)
                code = DATE_MAX_DAYS_AHEAD
            else:
                continue
            taken.add(pointer)
            yield FieldError(path=path, pointer=pointer, code=code, message=german, message_en=english)
        elif isinstance(value, Mapping):
            for key, child in value.items():
                child_schema = property_schema(node, str(key), root)
                if child_schema is not None:
                    stack.append(((*path, str(key)), child, child_schema))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                child_schema = item_schema(node, index, root)
                if child_schema is not None:
                    stack.append(((*path, index), child, child_schema))


def _iso_date(text: str) -> dt.date | None:
    # Python 3.11 also reads "20261221" and week dates; a form date is YYYY-MM-DD only.
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _relative_date_message(keyword: str, days: int, limit: dt.date) -> tuple[str, str]:
    """What the citizen reads: the rule in words, and the first (or last) day it allows."""
    when = limit.strftime("%d.%m.%Y")
    count = abs(days)
    de_days = "einen Tag" if count == 1 else f"{count} Tage"
    en_days = f"{count} {_plural(count, 'day')}"
    if keyword == DATE_MIN_DAYS_AHEAD:
        if days > 0:
            return (f"Das Datum muss mindestens {de_days} in der Zukunft liegen, also frühestens am {when}.",
                    f"The date must be at least {en_days} from today, so {when} at the earliest.")
        if days == 0:
            return (f"Das Datum darf nicht in der Vergangenheit liegen, also frühestens heute, am {when}.",
                    f"The date must not be in the past, so today, {when}, at the earliest.")
        return (f"Das Datum darf höchstens {de_days} zurückliegen, also frühestens am {when}.",
                f"The date may be at most {en_days} in the past, so {when} at the earliest.")
    if days > 0:
        return (f"Das Datum darf höchstens {de_days} in der Zukunft liegen, also spätestens am {when}.",
                f"The date may be at most {en_days} from today, so {when} at the latest.")
    if days == 0:
        return (f"Das Datum darf nicht in der Zukunft liegen, also spätestens heute, am {when}.",
                f"The date must not be in the future, so today, {when}, at the latest.")
    return (f"Das Datum muss mindestens {de_days} zurückliegen, also spätestens am {when}.",
            f"The date must be at least {en_days} in the past, so {when} at the latest.")


# The fast path of `validate`: jsonschema-rs answers "valid?" about fifty times faster than
# `jsonschema` walks the data; only data it refuses goes through `jsonschema` for the errors. So
# it must never accept what `jsonschema` refuses. Formats are checked by `jsonschema`'s own
# checkers on both paths (jsonschema-rs calls them back); a schema whose keywords the two could
# read apart (a pattern outside the portable subset, a fractional `multipleOf`, which only the
# reference path checks in exact decimals, see _multiple_of) is not compiled.
_COMPILED: IdentityCache[Callable[[Any], bool] | None] = IdentityCache()


def prepare(schema: Mapping[str, Any]) -> None:
    """Compile ``schema`` for the fast path of ``validate``, for this very schema object.

    For a schema object that lives long and is never changed (one a cache hands out): keyed by
    identity, like ``FormSpec.cached``. ``validate`` answers the same with or without it.
    """
    _COMPILED.get(schema, _compile)


def _compile(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    keywords = _keywords(schema)
    if not all(_portable_pattern(p) for p in keywords["pattern"]) or not all(
            isinstance(m, int) and not isinstance(m, bool) for m in keywords["multipleOf"]):
        return None
    checker = Draft202012Validator.FORMAT_CHECKER
    formats: dict[str, Callable[..., bool]] = {
        name: functools.partial(checker.conforms, format=name) for name in keywords["format"] if name in checker.checkers}
    try:
        return jsonschema_rs.Draft202012Validator(dict(schema), formats=formats, validate_formats=True,
                                                  offline=True).is_valid
    except Exception:  # noqa: BLE001 - whatever it cannot compile is validated by `jsonschema` alone
        return None


def compiled(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """The fast check ``prepare`` compiled for this schema object (None: not prepared, or not compilable)."""
    return _COMPILED.known(schema)[1]


def _fast_valid(schema: Mapping[str, Any], data: Any) -> bool:
    check = compiled(schema)
    if check is None:
        return False
    try:
        return check(data)
    except (ValueError, TypeError, OverflowError):
        return False  # e.g. an integer beyond 64 bits: the reference path decides


def _keywords(node: Any) -> dict[str, list[Any]]:
    """The values of `pattern`, `format` and `multipleOf` anywhere in a schema."""
    found: dict[str, list[Any]] = {"pattern": [], "format": [], "multipleOf": []}
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            for key in found:
                if key in value and not isinstance(value[key], Mapping | list):
                    found[key].append(value[key])
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


# Constructs that Python's `re`, ECMA-262 and Rust's regex engines read differently: anchors and
# boundaries other than ^ and lookarounds, inline flags, named or atomic groups, Unicode classes.
_UNPORTABLE = re.compile(r"\\[AZzGbBpPk]|\(\?(?![:=!])")


def _portable_pattern(pattern: Any) -> bool:
    """True if `pattern` keeps to what reads alike in Python, ECMA-262 and Rust (see above).

    Inside a character class, a nested ``[`` and ``&&``, ``--``, ``~~`` are set operations in Rust
    but literals in Python. What the form check refuses as read differently by Python and
    ECMA-262 (`_engine_dependent`) is not portable either, for a schema that skipped that check.
    Errs on the side of False (then only the reference path runs).
    """
    if not isinstance(pattern, str) or _UNPORTABLE.search(pattern) or _engine_dependent(pattern):
        return False
    in_class, index = False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            if char == "[" or pattern[index:index + 2] in ("&&", "--", "~~"):
                return False
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            # A "]" or "^]" right after "[" is a literal in Python but ends an empty class in ECMA.
            if pattern[index + 1:index + 2] == "]" or pattern[index + 1:index + 3] == "^]":
                return False
        index += 1
    return True


def _rank(schema: Schema, error: FieldError) -> int:
    target = schema_for_path(schema, error.path)
    formatted = isinstance(target, Mapping) and "format" in target
    return (_PRIORITY_FORMATTED if formatted else _PRIORITY).get(error.code, 9)


def file_field_schema(accept: Sequence[str], max_bytes: int, title: str, description: str = "") -> dict[str, Any]:
    """Build the file leaf of docs/forms.md for the given content types and size limit.

    The ``content`` pattern ties the first bytes to the allowed types, so content
    sniffing is part of the published schema. Raises ``ValueError`` for unknown types.
    """
    types = list(dict.fromkeys(accept))
    unknown = [t for t in types if t not in FILE_TYPES]
    if not types or unknown:
        raise ValueError(f"accept must list known content types {sorted(FILE_TYPES)}, got {accept!r}")
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    leaf: dict[str, Any] = {"type": "object", "title": title}
    if description:
        leaf["description"] = description
    leaf.update(
        {
            "x-widget": "file",
            "x-max-bytes": max_bytes,
            "properties": {
                "filename": {
                    "type": "string",
                    "maxLength": FILENAME_MAX_LENGTH,
                    "pattern": FILENAME_PATTERN,
                },
                "content_type": {"enum": types},
                "content": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "maxLength": base64_length(max_bytes),
                    "pattern": content_pattern(types),
                },
            },
            "required": ["filename", "content_type", "content"],
            "additionalProperties": False,
        }
    )
    if len(types) > 1:
        # The declared type must be the one the first bytes show: a PNG declared as PDF is refused.
        leaf["allOf"] = [
            {
                "if": {"properties": {"content_type": {"const": t}}, "required": ["content_type"]},
                "then": {"properties": {"content": {"pattern": content_pattern([t])}}},
            }
            for t in types
        ]
    return leaf


def base64_length(size: int) -> int:
    """Length of the base64 text for ``size`` bytes (with padding)."""
    return 4 * math.ceil(size / 3)


def content_pattern(content_types: Sequence[str]) -> str:
    """The base64 pattern accepting only content that starts with an allowed type's magic bytes.

    It also checks that the text is well-formed base64 (whole 4-character groups, correct
    padding): whatever the published schema accepts, the server must be able to decode.
    """
    # Each prefix is padded to whole 4-character groups, so no lookahead is needed (generators of
    # example data, like hypothesis-jsonschema, handle plain patterns far better).
    prefixes = "|".join(
        FILE_TYPES[t].base64_prefix + "[A-Za-z0-9+/]" * (-len(FILE_TYPES[t].base64_prefix) % 4)
        for t in dict.fromkeys(content_types)
    )
    return f"^(?:{prefixes})(?:[A-Za-z0-9+/]{{4}})*(?:[A-Za-z0-9+/]{{2}}==|[A-Za-z0-9+/]{{3}}=)?{END_OF_TEXT}"


def sniff_content_type(raw: bytes) -> str | None:
    """The content type whose magic bytes ``raw`` starts with, or ``None``."""
    for file_type in FILE_TYPES.values():
        if raw.startswith(file_type.magic):
            return file_type.content_type
    return None


# --------------------------------------------------------------------------- errors


def _innermost(error: ValidationError) -> list[ValidationError]:
    """Replace a ``oneOf``/``anyOf`` umbrella error by the errors of its closest alternative.

    Closest: not rejected for its type at the top, fewest errors, then the deepest ones
    (the alternative the data got furthest into).
    """
    if not error.context:
        return [error]
    depth = len(error.absolute_path)
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def distance(errors: list[ValidationError]) -> tuple[bool, int, int]:
        wrong_type = any(e.validator == "type" and len(e.absolute_path) == depth for e in errors)
        return wrong_type, len(errors), -max(len(e.absolute_path) for e in errors)

    closest = min(branches.values(), key=distance)
    return [inner for sub in closest for inner in _innermost(sub)]


def _field_errors(error: ValidationError, root: Schema) -> Iterator[FieldError]:
    path: Path = tuple(error.absolute_path)
    keyword = str(error.validator) if error.validator is not None else "false"
    instance = error.instance
    if keyword in ("required", "dependentRequired"):
        for name in _missing(keyword, error.validator_value, instance):
            yield _make(root, (*path, name), "required", error)
    elif keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, Mapping):
        parent = error.schema if isinstance(error.schema, Mapping) else {}
        for name in instance:
            if not _declared(parent, str(name), root):
                yield _make(root, (*path, str(name)), keyword, error)
    else:
        yield _make(root, path, keyword, error)


def _nul_errors(root: Schema, data: Any, reported: Iterable[str]) -> Iterator[FieldError]:
    """A ``pattern`` error for each field holding a NUL character (in a text or a key) that has
    no error yet, at the field itself or below it."""
    taken = set(reported)
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                yield from _control_character_error(root, path, taken)
        elif isinstance(value, Mapping):
            for key, child in value.items():
                if "\x00" in str(key):
                    yield from _control_character_error(root, (*path, str(key)), taken)
                else:
                    stack.append(((*path, str(key)), child))
        elif isinstance(value, list):
            stack.extend(((*path, index), child) for index, child in enumerate(value))


def _control_character_error(root: Schema, path: Path, taken: set[str]) -> Iterator[FieldError]:
    # Report at the deepest node the schema knows, and a file leaf as one control (as in _make).
    while path and schema_for_path(root, path) is None:
        path = path[:-1]
    if path and is_file_schema(schema_for_path(root, path[:-1])):
        path = path[:-1]
    pointer = json_pointer(path)
    if any(p == pointer or p.startswith(pointer + "/") for p in taken):
        return  # the data is refused already, by an error that says more
    taken.add(pointer)
    german, english = _CONTROL_CHARACTER_MESSAGE
    yield FieldError(path=path, pointer=pointer, code="pattern", message=german, message_en=english)


def _missing(keyword: str, value: Any, instance: Any) -> list[str]:
    if not isinstance(instance, Mapping):
        return []
    if keyword == "required":
        names = value if isinstance(value, list) else []
    else:
        names = [n for trigger, deps in value.items() if trigger in instance for n in deps]
    return [str(name) for name in names if name not in instance]


def _declared(schema: Schema, name: str, root: Schema) -> bool:
    if name in property_order(schema, root):
        return True
    patterns = schema.get("patternProperties")
    if isinstance(patterns, Mapping):
        return any(pattern_accepts(pattern, name) for pattern in patterns)
    return False


def _make(root: Schema, path: Path, code: str, error: ValidationError) -> FieldError:
    # Problems inside a file leaf belong to the upload control, which has no sub-fields.
    part: str | None = None
    if len(path) >= 1 and is_file_schema(schema_for_path(root, path[:-1])):
        part, path = str(path[-1]), path[:-1]
    target = schema_for_path(root, path)
    target = target if isinstance(target, Mapping) else {}
    if code in ("additionalProperties", "unevaluatedProperties") and part is None:
        german, english = f"Unbekanntes Feld „{path[-1]}“.", f"Unknown field “{path[-1]}”."
    else:
        german, english = _message(code, error, target, part)
        if code == "required" and part is None and path:
            german, english = _with_reason(german, english, root, path, error.instance)
    return FieldError(path=path, pointer=json_pointer(path), code=code, message=german, message_en=english)


def _with_reason(german: str, english: str, root: Schema, path: Path, instance: Any) -> tuple[str, str]:
    """A field required only by an ``if``/``then`` says which answer made it required: "optional"
    in the citizen's mind until then, a bare "Pflichtfeld" would read as a contradiction."""
    parent = schema_for_path(root, path[:-1])
    if not isinstance(parent, Mapping) or not isinstance(instance, Mapping):
        return german, english
    name = path[-1]
    if name in (parent.get("required") or ()):
        return german, english
    for condition_schema, consequence in conditionals(parent, root):
        if name not in (consequence.get("required") or ()):
            continue
        condition = parse_condition(condition_schema, parent, root)
        if condition is None or not condition.holds(instance):
            continue
        tested = property_schema(parent, str(condition.field_path[-1]), root)
        answer = value_label(tested if isinstance(tested, Mapping) else {}, instance[condition.field_path[-1]])
        question = condition.field_label
        return (
            f"{german.removesuffix('.')} – das ist nötig, weil Sie bei „{question}“ „{answer}“ angegeben haben.",
            f"{english.removesuffix('.')} – it is needed because you answered “{answer}” to “{question}”.",
        )
    return german, english


def _message(code: str, error: ValidationError, target: Schema, file_part: str | None) -> tuple[str, str]:
    if is_file_schema(target):
        return _file_message(code, target, file_part)
    rule = error.schema if isinstance(error.schema, Mapping) else {}
    value = error.validator_value
    if code == "required":
        return _required_message(target)
    if code == "type":
        return _type_message(value)
    if code == "enum":
        return (
            "Bitte wählen Sie einen der angebotenen Werte.",
            "Please choose one of the offered values.",
        )
    if code == "const":
        if value is True:
            return "Bitte bestätigen Sie diese Angabe.", "Please confirm this statement."
        return "Hier ist nur der vorgegebene Wert zulässig.", "Only the prescribed value is allowed here."
    if code in ("minLength", "maxLength"):
        return _length_message(code, rule)
    if code == "pattern" or code == "format":
        return _format_message(code, rule)
    if code in _NUMBER_MESSAGES:
        german, english = _NUMBER_MESSAGES[code]
        return german.format(_de_number(value)), english.format(value)
    if code in ("minItems", "maxItems"):
        return _items_message(code, int(value), target)
    if code == "uniqueItems":
        return "Jeder Eintrag darf nur einmal vorkommen.", "Each entry may appear only once."
    if code in ("oneOf", "anyOf"):
        return (
            "Bitte wählen Sie genau eine der Möglichkeiten.",
            "Please choose exactly one of the alternatives.",
        )
    if code in ("not", "false"):
        return "Diese Angabe ist hier nicht zulässig.", "This entry is not allowed here."
    return "Diese Angabe ist ungültig.", "This entry is invalid."


def _required_message(target: Schema) -> tuple[str, str]:
    if target.get("const") is True:
        return "Bitte bestätigen Sie diese Angabe.", "Please confirm this statement."
    if "enum" in target:
        return "Bitte wählen Sie eine Möglichkeit aus.", "Please choose one of the options."
    items = target.get("items")
    if schema_type(target) == "array" and isinstance(items, Mapping) and "enum" in items:
        return (
            "Bitte wählen Sie mindestens eine Möglichkeit aus.",
            "Please choose at least one option.",
        )
    return "Dieses Feld ist ein Pflichtfeld.", "This field is required."


def _type_message(expected: Any) -> tuple[str, str]:
    kinds = expected if isinstance(expected, list) else [expected]
    kind = next((k for k in kinds if k != "null"), "string")
    return _TYPE_MESSAGES.get(kind, _TYPE_MESSAGES["string"])


_TYPE_MESSAGES: Mapping[str, tuple[str, str]] = {
    "integer": ("Bitte geben Sie eine ganze Zahl ein.", "Please enter a whole number."),
    "number": ("Bitte geben Sie eine Zahl ein.", "Please enter a number."),
    "boolean": ("Bitte antworten Sie mit „Ja“ oder „Nein“.", "Please answer yes or no."),
    "string": ("Bitte geben Sie einen Text ein.", "Please enter text."),
    "object": (
        "Die Angaben zu diesem Abschnitt haben nicht die erwartete Form.",
        "The data for this section does not have the expected structure (an object).",
    ),
    "array": ("Hier wird eine Liste von Angaben erwartet.", "A list of entries is expected here."),
}

_NUMBER_MESSAGES: Mapping[str, tuple[str, str]] = {
    "minimum": ("Der Wert muss mindestens {} betragen.", "The value must be at least {}."),
    "maximum": ("Der Wert darf höchstens {} betragen.", "The value must be at most {}."),
    "exclusiveMinimum": ("Der Wert muss größer als {} sein.", "The value must be greater than {}."),
    "exclusiveMaximum": ("Der Wert muss kleiner als {} sein.", "The value must be less than {}."),
    "multipleOf": ("Der Wert muss ein Vielfaches von {} sein.", "The value must be a multiple of {}."),
}


def _length_message(code: str, rule: Schema) -> tuple[str, str]:
    minimum, maximum = rule.get("minLength"), rule.get("maxLength")
    if minimum is not None and minimum == maximum:
        return (
            f"Bitte geben Sie genau {minimum} Zeichen ein.",
            f"Please enter exactly {minimum} {_plural(minimum, 'character')}.",
        )
    if code == "minLength":
        if minimum == 1:
            return "Dieses Feld darf nicht leer sein.", "This field must not be empty."
        return (
            f"Bitte geben Sie mindestens {minimum} Zeichen ein.",
            f"Please enter at least {minimum} {_plural(minimum, 'character')}.",
        )
    return (
        f"Bitte geben Sie höchstens {maximum} Zeichen ein.",
        f"Please enter at most {maximum} {_plural(maximum, 'character')}.",
    )


def _format_message(code: str, rule: Schema) -> tuple[str, str]:
    kind = rule.get("format")
    if kind == "date":
        if code == "format":
            return (
                "Dieses Datum gibt es nicht. Bitte prüfen Sie Tag und Monat.",
                "This date does not exist. Please check the day and the month.",
            )
        return (
            "Das Datum muss im Format TT.MM.JJJJ angegeben werden, z. B. 31.01.2025.",
            "The date must be given as DD.MM.YYYY, e.g. 31.01.2025 (YYYY-MM-DD in the API).",
        )
    pattern = rule.get("pattern")
    if pattern == SINGLE_LINE_TEXT_PATTERN:
        return _SINGLE_LINE_MESSAGE
    if pattern == MULTI_LINE_TEXT_PATTERN:
        return _CONTROL_CHARACTER_MESSAGE
    if kind == "email":
        return (
            "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@example.de.",
            "Please enter a valid e-mail address, e.g. name@example.org.",
        )
    return "Die Eingabe hat nicht das erwartete Format.", "The input does not have the expected format."


_CONTROL_CHARACTER_MESSAGE = (
    "Der Text enthält unzulässige Steuerzeichen. Bitte geben Sie ihn erneut ein.",
    "The text contains control characters that are not allowed. Please enter it again.",
)
_SINGLE_LINE_MESSAGE = (
    "Bitte geben Sie den Text in einer Zeile ein, ohne Zeilenumbrüche und Steuerzeichen.",
    "Please enter the text on one line, without line breaks or control characters.",
)


def _items_message(code: str, count: int, target: Schema) -> tuple[str, str]:
    items = target.get("items")
    is_choice = isinstance(items, Mapping) and "enum" in items
    at = "mindestens" if code == "minItems" else "höchstens"
    at_en = "at least" if code == "minItems" else "at most"
    if is_choice:
        what = "eine Möglichkeit" if count == 1 else f"{count} Möglichkeiten"
        return (
            f"Bitte wählen Sie {at} {what} aus.",
            f"Please choose {at_en} {count} {_plural(count, 'option')}.",
        )
    what = "einen Eintrag" if count == 1 else f"{count} Einträge"
    return (
        f"Bitte geben Sie {at} {what} an.",
        f"Please add {at_en} {count} {_plural(count, 'entry', 'entries')}.",
    )


def _file_message(code: str, target: Schema, part: str | None) -> tuple[str, str]:
    accepted = _accepted_labels(target)
    if part is None and code == "required":
        return "Bitte laden Sie eine Datei hoch.", "Please upload a file."
    if part == "content" and code == "maxLength":
        limit = format_bytes(int(target.get("x-max-bytes", 0)))
        return (
            f"Die Datei ist zu groß. Erlaubt sind höchstens {limit}.",
            f"The file is too large. The limit is {limit.replace(',', '.')}.",
        )
    if part in ("content", "content_type") and code in ("pattern", "enum"):
        return (
            f"Dieser Dateityp ist nicht erlaubt. Erlaubt sind: {accepted}.",
            f"This file type is not allowed. Allowed: {accepted}.",
        )
    if part == "filename" and code in ("pattern", "maxLength", "minLength"):
        return (
            "Der Dateiname ist ungültig: höchstens 255 Zeichen, ohne Verzeichnisangaben und Steuerzeichen.",
            "The file name is invalid: at most 255 characters, no directories or control characters.",
        )
    return (
        "Die Datei wurde nicht vollständig übermittelt. Bitte laden Sie sie erneut hoch.",
        "The file was not transmitted completely. Please upload it again.",
    )


def _accepted_labels(target: Schema) -> str:
    content_type = target.get("properties", {}).get("content_type", {})
    return accepted_labels(content_type.get("enum", []) if isinstance(content_type, Mapping) else [])


def accepted_labels(types: Sequence[str]) -> str:
    """The accepted file types as people name them ("PDF, PNG, JPEG"), for the hint and the error alike."""
    return ", ".join(FILE_TYPES[t].label if t in FILE_TYPES else str(t) for t in types)


def _plural(count: Any, singular: str, plural: str | None = None) -> str:
    return singular if count == 1 else (plural or singular + "s")


def _de_number(value: Any) -> str:
    return str(value).replace(".", ",") if isinstance(value, float) else str(value)


def _order_key(root: Schema, path: Path) -> tuple[tuple[int, str], ...]:
    key: list[tuple[int, str]] = []
    current: Any = resolve(root, root)
    for part in path:
        schema = current if isinstance(current, Mapping) else {}
        if isinstance(part, int):
            key.append((part, ""))
            current = item_schema(schema, part, root)
        else:
            order = property_order(schema, root)
            key.append((order.index(part) if part in order else len(order), part))
            current = property_schema(schema, part, root)
    return tuple(key)


# --------------------------------------------------------------------------- lint


def check_form_schema(schema: Any) -> list[str]:
    """Lint a form definition; an empty list means it follows docs/forms.md.

    Checks: valid against the 2020-12 metaschema (regexes included), root and step shape,
    every object closed, every string bounded, every ``format`` backed by a ``pattern``,
    patterns that read alike in Python's ``re`` and ECMA-262 (``END_OF_TEXT``, not ``$``; no
    ``.``, ``\\d``, ``\\w``, ``\\b`` or lone ``\\s``) and refuse NUL, file leaves complete, enum
    labels matching, conditions referring to real fields, relative date limits (whole numbers of
    days, the earliest not after the latest, on date fields only, where the form model reads them).
    Messages start with the JSON pointer of the offending subschema.
    """
    if not isinstance(schema, Mapping):
        return ["/: a form schema must be a JSON object"]
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = [
        f"{json_pointer(tuple(e.absolute_path)) or '/'}: metaschema: {e.message}"
        for e in sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path)))
    ]
    problems += [f"{pointer or '/'}: {keyword} {ref!r} points outside the form; only references within it (#/…) are allowed"
                 for pointer, keyword, ref in _outside_references(schema)]
    if not problems:
        # Input is matched by jsonschema-rs (never Python's re, see _regex), which must read every pattern.
        problems += [f"{pointer}: pattern {pattern!r} cannot be compiled by the validator (jsonschema-rs)"
                     for pointer, pattern in _uncompilable_patterns(schema)]
        problems += [f"{pointer or '/'}: patternProperties are not supported; a form has named fields only"
                     for pointer, _ in _keyword_uses(schema, (), "patternProperties")]
    if problems:
        # The structural checks below assume a well-formed schema.
        return problems
    linter = _Linter(schema)
    linter.check_root()
    linter.check_unread_relative_dates()
    if not linter.problems:
        # The form model must be buildable too: a schema it cannot render would fail for every citizen.
        try:
            FormSpec.from_schema(schema)
        except Exception as exc:  # noqa: BLE001 - whatever breaks the form must refuse it, not fail later
            linter.report("", f"the form cannot be built: {type(exc).__name__}: {exc}")
    return linter.problems


def _places_read(root: Schema) -> set[str]:
    """The pointers of the subschemas the form model reads as fields and groups, where they are written.

    From the root along ``properties`` (also those of ``allOf`` parts) and ``items``, following
    each local ``$ref`` to its target: what ``FormSpec`` and ``validate`` walk. A keyword anywhere
    else (``if``/``then``, ``not``, ``anyOf``, an unused definition) is read by neither.
    """
    read: set[str] = set()
    seen: set[tuple[str, bool]] = set()
    stack: list[tuple[str, Any, bool]] = [("", root, True)]
    while stack:
        pointer, node, own = stack.pop()
        if not isinstance(node, Mapping) or (pointer, own) in seen:
            continue
        seen.add((pointer, own))
        if own:
            read.add(pointer)  # an allOf part (own=False) lends its properties, not its keywords
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            try:
                stack.append((ref[1:], resolve_pointer(root, ref[1:]), own))
            except KeyError:
                pass  # reported by the check
        properties = node.get("properties")
        for name, subschema in (properties.items() if isinstance(properties, Mapping) else ()):
            stack.append((f"{pointer}/properties/{json_pointer((name,))[1:]}", subschema, True))
        parts = node.get("allOf")
        for index, part in enumerate(parts if isinstance(parts, list) else ()):
            stack.append((f"{pointer}/allOf/{index}", part, False))
        if isinstance(node.get("items"), Mapping):
            stack.append((f"{pointer}/items", node["items"], True))
    return read


def _outside_references(schema: Any) -> Iterator[tuple[str, str, str]]:
    """(pointer, keyword, target) of every reference anywhere in the schema that is not to a part of it."""
    for keyword in ("$ref", "$dynamicRef"):
        for pointer, ref in _keyword_uses(schema, (), keyword):
            if isinstance(ref, str) and not ref.startswith("#"):
                yield pointer, keyword, ref


# Keywords whose values map names (of fields, definitions) to subschemas: a key there is no keyword.
_NAME_MAPS = ("properties", "$defs", "definitions", "dependentSchemas", "patternProperties")


def _keyword_uses(node: Any, path: tuple[Any, ...], keyword: str) -> Iterator[tuple[str, Any]]:
    """(pointer of the subschema, value) for every use of ``keyword`` anywhere in the schema."""
    if isinstance(node, Mapping):
        if keyword in node and not (path and path[-1] in _NAME_MAPS):
            yield json_pointer(path), node[keyword]
        for key, value in node.items():
            if key not in ("const", "enum", "default", "examples"):  # data, not schemas
                yield from _keyword_uses(value, (*path, key), keyword)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _keyword_uses(value, (*path, index), keyword)


def _uncompilable_patterns(schema: Any) -> Iterator[tuple[str, str]]:
    """(pointer, pattern) of each ``pattern`` that ``_regex`` cannot compile, so no input could match."""
    for pointer, pattern in _keyword_uses(schema, (), "pattern"):
        if not isinstance(pattern, str):
            continue  # the metaschema check reports it
        try:
            pattern_search(pattern, "")
        except PatternError:
            yield f"{pointer}/pattern", pattern


#: Bounds for repeatable groups and checkbox groups: more entries than these cannot be filled in
#: (or shown) on one form page. The FIM import and the demo forms stay well below them.
MAX_ITEMS_LIMIT = 200
MIN_ITEMS_LIMIT = 50


def _is_choice(schema: Schema, kind: str | None) -> bool:
    return isinstance(schema.get("enum"), list) or kind == "boolean"


def _is_free_text(schema: Schema, kind: str | None) -> bool:
    return kind == "string" and "enum" not in schema and "const" not in schema


# What each widget needs of its field (docs/forms.md): the renderer and the POST reader rely on it.
_WIDGETS: Mapping[str, tuple[str, Callable[[Schema, str | None, Schema], bool]]] = {
    "text": ("a string without enum", lambda s, k, r: _is_free_text(s, k)),
    "textarea": ("a string without enum", lambda s, k, r: _is_free_text(s, k)),
    "tel": ("a string without enum", lambda s, k, r: _is_free_text(s, k)),
    "email": ("a string without enum", lambda s, k, r: _is_free_text(s, k)),
    "date": ("a string with format date", lambda s, k, r: _is_free_text(s, k) and s.get("format") == "date"),
    "number": ("an integer or number without enum", lambda s, k, r: k in ("integer", "number") and "enum" not in s),
    "radio": ("an enum or a boolean", lambda s, k, r: _is_choice(s, k)),
    "select": ("an enum or a boolean", lambda s, k, r: _is_choice(s, k)),
    "checkbox": ("a boolean", lambda s, k, r: k == "boolean"),
    "checkboxes": ("an array whose items have an enum",
                   lambda s, k, r: k == "array" and isinstance(items := resolve(s.get("items"), r), Mapping)
                   and isinstance(items.get("enum"), list)),
    "file": ("the file object of docs/forms.md", lambda s, k, r: False),  # a file leaf never gets here
}


class _Linter:
    def __init__(self, root: Schema) -> None:
        self.root = root
        self.problems: list[str] = []
        self._visited_refs: set[str] = set()
        self._ref_path: list[str] = []  # the references being checked, outermost first

    def report(self, pointer: str, text: str) -> None:
        self.problems.append(f"{pointer or '/'}: {text}")

    def check_root(self) -> None:
        root = self.root
        if root.get("$schema") != DRAFT_2020_12:
            self.report("", f"$schema must be {DRAFT_2020_12}")
        if root.get("type") != "object":
            self.report("", "the root must have type object")
        if not root.get("title"):
            self.report("", "the form needs a title")
        steps = root.get("properties")
        if not isinstance(steps, Mapping) or not steps:
            self.report("", "the form needs at least one step in properties")
            steps = {}
        required = root.get("required")
        if not isinstance(required, list) or set(required) != set(steps):
            self.report("", "required must list every step")
        for key, step in steps.items():
            pointer = json_pointer(("properties", key))
            try:
                resolved = resolve(step, root)
            except SchemaReferenceError as exc:
                self.report(pointer, str(exc))
                continue
            if not isinstance(resolved, Mapping) or resolved.get("type") != "object":
                self.report(pointer, "a step must be an object")
                continue
            if not resolved.get("title"):
                self.report(pointer, "a step needs a title")
        self.check(root, "")

    def check(self, raw: Any, pointer: str) -> None:
        if not (isinstance(raw, Mapping) and isinstance(raw.get("$ref"), str)):
            self.check_schema(raw, pointer)
            return
        ref = raw["$ref"]
        if ref in self._ref_path:
            # A form nesting itself would be endless: the form model could not be built.
            cycle = " -> ".join([*self._ref_path[self._ref_path.index(ref):], ref])
            self.report(pointer, f"$ref {ref!r} refers back to itself ({cycle}); a form cannot nest without end")
            return
        try:
            schema = resolve(raw, self.root)
        except SchemaReferenceError as exc:
            self.report(pointer, str(exc))
            return
        if ref in self._visited_refs:
            return  # a shared definition is checked once, not once per use
        self._visited_refs.add(ref)
        self._ref_path.append(ref)
        try:
            self.check_schema(schema, pointer)
        finally:
            self._ref_path.pop()

    def check_schema(self, schema: Any, pointer: str) -> None:
        if not isinstance(schema, Mapping):
            return  # boolean schemas need no limits
        kind = schema_type(schema)
        self.check_relative_date(schema, kind, pointer)
        if is_file_schema(schema):
            self.check_file(schema, pointer)
            return
        self.check_widget(schema, kind, pointer)
        if kind == "object":
            self.check_object(schema, pointer)
        elif kind == "array":
            self.check_array(schema, pointer)
        elif kind is None:
            self.report(pointer, "no type (and no enum/const) given")
        else:
            self.check_leaf(schema, kind, pointer)

    def check_widget(self, schema: Schema, kind: str | None, pointer: str) -> None:
        widget = schema.get("x-widget")
        if widget is None:
            return
        if not isinstance(widget, str) or widget not in _WIDGETS:
            self.report(pointer, f"unknown x-widget {widget!r}; known are {', '.join(sorted(_WIDGETS))}")
            return
        needs, fits = _WIDGETS[widget]
        if not fits(schema, kind, self.root):
            self.report(pointer, f"x-widget {widget!r} needs {needs}")

    def check_relative_date(self, schema: Schema, kind: str | None, pointer: str) -> None:
        used = [keyword for keyword in RELATIVE_DATE_KEYWORDS if keyword in schema]
        if not used:
            return
        names = " and ".join(used)
        if kind != "string" or schema.get("format") != "date" or "enum" in schema or "const" in schema:
            self.report(pointer, f"{names} only applies to a date field (a string with format date)")
            return
        days: dict[str, int] = {}
        for keyword in used:
            value = schema[keyword]
            if isinstance(value, bool) or not isinstance(value, int):
                self.report(pointer, f"{keyword} must be a whole number of days (negative: before the day of "
                                     f"submission), not {value!r}")
            elif relative_days(value) is None:
                self.report(pointer, f"{keyword} {value} reaches further than {RELATIVE_DAYS_LIMIT} days "
                                     "(about a hundred years) from the day of submission")
            else:
                days[keyword] = value
        low, high = days.get(DATE_MIN_DAYS_AHEAD), days.get(DATE_MAX_DAYS_AHEAD)
        if low is not None and high is not None and low > high:
            self.report(pointer, f"{DATE_MIN_DAYS_AHEAD} ({low}) is greater than {DATE_MAX_DAYS_AHEAD} ({high}), "
                                 "so no date can ever be valid")

    def check_unread_relative_dates(self) -> None:
        """A relative limit where neither the form model nor ``validate`` reads it would be silently ignored."""
        read: set[str] | None = None
        for keyword in RELATIVE_DATE_KEYWORDS:
            for pointer, _value in _keyword_uses(self.root, (), keyword):
                read = _places_read(self.root) if read is None else read
                if pointer not in read:
                    self.report(pointer, f"{keyword} is read only on a date field's own schema (in properties or "
                                         "items), not inside if/then/else, not, anyOf, oneOf or an unused definition")

    def check_object(self, schema: Schema, pointer: str) -> None:
        if schema.get("additionalProperties") is not False and schema.get("unevaluatedProperties") is not False:
            self.report(pointer, "object is not closed (additionalProperties: false missing)")
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        for name, subschema in properties.items():
            self.check(subschema, f"{pointer}/properties/{json_pointer((name,))[1:]}")
        all_of = schema.get("allOf")
        for index, part in enumerate(all_of if isinstance(all_of, list) else []):
            part_properties = part.get("properties") if isinstance(part, Mapping) else None
            for name, subschema in (part_properties or {}).items():
                self.check(subschema, f"{pointer}/allOf/{index}/properties/{json_pointer((name,))[1:]}")
        known = set(property_order(schema, self.root))
        for condition, consequence in conditionals(schema, self.root):
            self.check_condition(condition, consequence, known, pointer)

    def check_condition(self, condition: Schema, consequence: Schema, known: set[str], pointer: str) -> None:
        tested = condition.get("properties")
        tested_names = set(tested) if isinstance(tested, Mapping) else set()
        for name in sorted(tested_names - known):
            self.report(pointer, f"condition tests unknown property {name!r}")
        listed = condition.get("required")
        for name in sorted(tested_names - set(listed if isinstance(listed, list) else [])):
            # Without it, `if` holds vacuously whenever the field is left empty.
            self.report(pointer, f"condition on {name!r} must list it in if.required")
        required = consequence.get("required")
        for name in required if isinstance(required, list) else []:
            if name not in known:
                self.report(pointer, f"then requires unknown property {name!r}")
        extra = consequence.get("properties")
        for name in extra if isinstance(extra, Mapping) else {}:
            if name not in known:
                self.report(
                    pointer,
                    f"then defines property {name!r} that additionalProperties: false rejects",
                )

    def check_array(self, schema: Schema, pointer: str) -> None:
        items = schema.get("items")
        if not isinstance(items, Mapping):
            self.report(pointer, "array without an items schema")
            return
        max_items, min_items = schema.get("maxItems"), schema.get("minItems", 0)
        if not isinstance(max_items, int):
            self.report(pointer, "array without maxItems")
        elif max_items > MAX_ITEMS_LIMIT:
            self.report(pointer, f"maxItems {max_items} is more than a form can show; at most {MAX_ITEMS_LIMIT}")
        if isinstance(min_items, int) and min_items > MIN_ITEMS_LIMIT:
            self.report(pointer, f"minItems {min_items} is more than a citizen can fill in; at most {MIN_ITEMS_LIMIT}")
        if isinstance(min_items, int) and isinstance(max_items, int) and min_items > max_items:
            self.report(pointer, "minItems is greater than maxItems, so the list can never be valid")
        resolved = resolve(items, self.root)
        if isinstance(resolved, Mapping) and "enum" in resolved and schema.get("uniqueItems") is not True:
            self.report(pointer, "checkbox group without uniqueItems: true")
        self.check(items, f"{pointer}/items")

    def check_leaf(self, schema: Schema, kind: str, pointer: str) -> None:
        enum = schema.get("enum")
        labels = schema.get("x-enum-labels")
        if labels is not None and (not isinstance(enum, list) or not isinstance(labels, list) or len(labels) != len(enum)):
            self.report(pointer, "x-enum-labels must have one label per enum value")
        if kind != "string" or enum is not None or "const" in schema:
            return
        if not isinstance(schema.get("maxLength"), int):
            self.report(pointer, "string without maxLength")
        if "format" in schema and "pattern" not in schema:
            self.report(pointer, f"format {schema['format']!r} without a pattern")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            for problem in _pattern_problems(pattern):
                self.report(pointer, problem)

    def check_file(self, schema: Schema, pointer: str) -> None:
        max_bytes = schema.get("x-max-bytes")
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        content_type = properties.get("content_type")
        types = content_type.get("enum") if isinstance(content_type, Mapping) else None
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0:
            self.report(pointer, "file field needs a positive integer x-max-bytes")
            return
        if not isinstance(types, list) or not types or any(t not in FILE_TYPES for t in types):
            self.report(pointer, f"file content_type enum must list some of {sorted(FILE_TYPES)}")
            return
        expected = file_field_schema(types, max_bytes, str(schema.get("title", "")))
        if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
            self.report(pointer, "file field must be a closed object")
        if set(schema.get("required") or []) != set(expected["required"]):
            self.report(pointer, "file field must require filename, content_type and content")
        if set(properties) != set(expected["properties"]):
            self.report(pointer, "file field must have exactly filename, content_type and content")
        for name, wanted in expected["properties"].items():
            actual = properties.get(name)
            actual = actual if isinstance(actual, Mapping) else {}
            for keyword, value in wanted.items():
                if actual.get(keyword) != value:
                    self.report(
                        f"{pointer}/properties/{name}",
                        f"file field needs {keyword} = {value!r}",
                    )


# Texts no pattern may accept. A heuristic: a pattern can demand more than these contain (an
# "@", say) and still let a NUL through elsewhere, but a character class that forgot the control
# characters, the usual mistake, is caught.
_NUL_PROBES = ("\x00", "a\x00b", "0\x00", "\x00\n")


def _pattern_problems(pattern: str) -> list[str]:
    """What makes ``pattern`` unfit for a published form: engines disagreeing, or a NUL accepted."""
    problems: list[str] = []
    for construct in _engine_dependent(pattern):
        if construct == "$":
            problems.append("pattern uses $, which Python's re also matches before a final line break; end it with (?![\\s\\S])")
        else:
            problems.append(
                f"pattern uses {construct}, which Python's re and ECMA-262 read differently; list the characters instead"
            )
    try:
        accepts_nul = any(pattern_search(pattern, probe) for probe in _NUL_PROBES)
    except PatternError:
        return problems  # reported for every pattern by check_form_schema
    if accepts_nul:
        problems.append("pattern accepts a NUL character, which the database cannot store; exclude control characters")
    return problems


def _engine_dependent(pattern: str) -> list[str]:
    """The constructs in ``pattern`` that Python's ``re`` and ECMA-262 read differently, once each.

    ``$`` (outside a class), ``.`` (outside a class), ``\\d``, ``\\w``, ``\\b`` and ``\\s`` (but
    ``[\\s\\S]``, any character in both, is fine).
    """
    found: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escape = pattern[index : index + 2]
            if escape[1:] in ("d", "D", "w", "W", "b", "B", "s", "S") and not _is_any_character(pattern, index):
                found.append(escape)
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith("^", index + 1):
                index += 1
        elif char in "$.":
            found.append(char)
        index += 1
    return list(dict.fromkeys(found))


def _is_any_character(pattern: str, index: int) -> bool:
    """True if the escape at ``index`` is part of the class ``[\\s\\S]`` (or ``[\\S\\s]``)."""
    return any(pattern.startswith(whole, start) for whole in (r"[\s\S]", r"[\S\s]") for start in (index - 1, index - 3))
