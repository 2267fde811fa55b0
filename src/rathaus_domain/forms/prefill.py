"""Once-only: which form fields a citizen's stored profile can fill, and with what.

A field maps to a profile key in one of two ways:

1. an annotation in the schema, ``"x-prefill": "family_name"`` (``"profile.family_name"`` is read
   the same way), which always wins;
2. its FIM data field id (``x-fim-id``, kept by the XDatenfelder import), for keys that no field
   of the form annotates. FIM reuses one field in many places (the ``Ort`` of the applicant's
   address, of the employer's address and of a signature), so only the first name and birth
   date fields count, and address parts only inside the address block of the first street field.

Profiles are plain mappings of the keys in ``PROFILE_KEYS`` to text (dates as ISO 8601); empty
values are never filled in. A value is only proposed if the field would accept it (type, length,
pattern, choices), so prefilling never produces an error message the citizen did not cause.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._regex import pattern_accepts
from ._schema import WILDCARD, Path, value_at
from .model import Field, FormSpec

PROFILE_KEYS = (
    "given_name",
    "family_name",
    "name",
    "birth_date",
    "street",
    "house_number",
    "postal_code",
    "city",
    "phone",
    "email",
)

#: FIM Baukasten data fields (XDatenfelder ids, as in the schemas in shared/data/fim) → profile key.
FIM_PROFILE_KEYS: Mapping[str, str] = {
    "F00000045": "given_name",  # Vorname (XÖV NameNatuerlichePerson.vorname)
    "F00000013": "family_name",  # Familienname (XÖV NameNatuerlichePerson.familienname)
    "F00000066": "birth_date",  # Geburtsdatum (XÖV Geburt.datum)
    "F00000053": "street",  # Straße (Xinneres Meldeanschrift.Strasse)
    "F00000016": "house_number",  # Hausnummer
    "F00000054": "postal_code",  # Postleitzahl
    "F00000035": "city",  # Ort (XÖV Anschrift.ort)
}

ADDRESS_KEYS = ("street", "house_number", "postal_code", "city")
ANNOTATION_PREFIX = "profile."


@dataclass(frozen=True)
class PrefillTarget:
    """One field the profile can fill: where it sits, its HTML name and the profile key."""

    path: Path
    name: str
    key: str


def profile_key(field: Field) -> str | None:
    """The profile key a field's ``x-prefill`` annotation names (without ``profile.``), if known."""
    annotation = field.prefill
    if not annotation:
        return None
    key = annotation.removeprefix(ANNOTATION_PREFIX)
    return key if key in PROFILE_KEYS else None


def prefill_targets(spec: FormSpec) -> list[PrefillTarget]:
    """Every field of the form the profile can fill, in form order (repeatable lists: first item)."""
    fields = list(spec.fields())
    chosen: list[tuple[Field, str]] = []
    annotated: set[str] = set()
    for field in fields:
        key = profile_key(field)
        if key is not None:
            chosen.append((field, key))
            annotated.add(key)
    chosen += _fim_targets(fields, annotated)
    order = {id(field): index for index, field in enumerate(fields)}
    chosen.sort(key=lambda pair: order[id(pair[0])])
    targets = []
    for field, key in chosen:
        # A repeatable list (FIM "Vorname" 1:n) gets the profile value as its first item.
        path = tuple(0 if part == WILDCARD else part for part in field.path)
        targets.append(PrefillTarget(path=path, name=FormSpec.html_name(path), key=key))
    return targets


def _fim_targets(fields: list[Field], annotated: set[str]) -> list[tuple[Field, str]]:
    found: dict[str, Field] = {}
    for field in fields:
        key = FIM_PROFILE_KEYS.get(field.fim_id or "")
        if key is None or key in annotated or field.widget == "file":
            continue
        if key in ADDRESS_KEYS:
            continue
        found.setdefault(key, field)
    street = next((f for f in fields if FIM_PROFILE_KEYS.get(f.fim_id or "") == "street"), None)
    if street is not None and "street" not in annotated:
        # The block: the street's group and its parent (Straßenangaben and Ort are siblings in FIM).
        block = street.path[: max(len(street.path) - 2, 1)]
        for field in fields:
            key = FIM_PROFILE_KEYS.get(field.fim_id or "")
            if key in ADDRESS_KEYS and key not in annotated and field.path[: len(block)] == block:
                found.setdefault(key, field)
    return [(field, key) for key, field in found.items()]


def profile_values(spec: FormSpec, profile: Mapping[str, Any]) -> dict[str, tuple[Path, str]]:
    """HTML name → (data path, value) for each target field the profile has an acceptable value for."""
    fields = {FormSpec.html_name(tuple(0 if p == WILDCARD else p for p in f.path)): f for f in spec.fields()}
    values: dict[str, tuple[Path, str]] = {}
    for target in prefill_targets(spec):
        value = _profile_value(profile, target.key)
        field = fields.get(target.name)
        if value and field is not None and accepts(field, value):
            values[target.name] = (target.path, value)
    return values


def _profile_value(profile: Mapping[str, Any], key: str) -> str:
    if key == "name":
        return " ".join(str(profile.get(k) or "").strip() for k in ("given_name", "family_name")).strip()
    value = profile.get(key)
    return str(value).strip() if value not in (None, "") else ""


def accepts(field: Field, value: str) -> bool:
    """Whether a text value meets the field's own limits (so a prefill never shows an error)."""
    if field.type != "string" or field.widget in ("file", "checkboxes", "checkbox"):
        return False
    constraints = field.constraints
    if field.choices and value not in {choice for choice, _label in field.choices}:
        return False
    max_length = constraints.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        return False
    min_length = constraints.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        return False
    pattern = constraints.get("pattern")
    if isinstance(pattern, str) and not pattern_accepts(pattern, value):  # never Python's re: it backtracks without limit
        return False
    return True


def apply_prefill(data: Mapping[str, Any], spec: FormSpec, profile: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``data`` with empty profile-mapped fields filled in, and the names filled.

    A value already present (typed in, or from a resumed draft) is never overwritten.
    """
    result = copy.deepcopy(dict(data))
    filled = []
    for name, (path, value) in profile_values(spec, profile).items():
        found, current = value_at(result, path)
        if found and current not in (None, ""):
            continue
        if _put(result, path, value):
            filled.append(name)
    return result, filled


def prefilled_names(data: Mapping[str, Any], spec: FormSpec, profile: Mapping[str, Any]) -> set[str]:
    """Names of the fields whose current value is the profile's: what the form marks as taken over."""
    names = set()
    for name, (path, value) in profile_values(spec, profile).items():
        found, current = value_at(data, path)
        if found and current == value:
            names.add(name)
    return names


def profile_changes(data: Mapping[str, Any], spec: FormSpec, profile: Mapping[str, Any],
                    keys: Iterable[str] = PROFILE_KEYS) -> dict[str, str]:
    """Profile key → submitted value, where the submission differs from the stored profile.

    What the citizen may choose to save back to her profile after submitting. Only the first
    field per key counts; ``name`` (a full name in one field) is not split back into parts.
    """
    wanted = set(keys) - {"name"}
    changes: dict[str, str] = {}
    seen: set[str] = set()
    for target in prefill_targets(spec):
        if target.key not in wanted or target.key in seen:
            continue
        seen.add(target.key)
        found, value = value_at(data, target.path)
        if not found or not isinstance(value, str) or not value.strip():
            continue
        if value.strip() != _profile_value(profile, target.key):
            changes[target.key] = value.strip()
    return changes


def _put(data: dict[str, Any], path: Path, value: Any) -> bool:
    """Set ``value`` at ``path``, creating objects and list items on the way; False if blocked."""
    current: Any = data
    for index, part in enumerate(path):
        last = index == len(path) - 1
        following: Any = value if last else ([] if isinstance(path[index + 1], int) else {})
        if isinstance(part, int):
            if not isinstance(current, list) or part > len(current):
                return False
            if part == len(current):
                current.append(following)
            elif last:
                current[part] = value
            elif current[part] in (None, ""):
                current[part] = following
        else:
            if not isinstance(current, dict):
                return False
            if last or part not in current or current[part] in (None, ""):
                current[part] = following
        if not last:
            current = current[part]
    return True
