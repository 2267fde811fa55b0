"""Priority points of a child at a facility under the municipality's rules.

Pure functions over frozen snapshots, so the rules can be tested without a database and a round
computes every child's points from the same snapshot it hands to the allocation core.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SIBLING = "sibling"
SINGLE_PARENT = "single_parent"
PARENTS_WORKING = "parents_working"
CATCHMENT = "catchment"
SPECIAL_NEEDS = "special_needs"
DISTANCE = "distance"


@dataclass(frozen=True, slots=True)
class RuleFacts:
    criterion: str
    points: int
    label: str
    max_km: float | None = None


@dataclass(frozen=True, slots=True)
class FacilityFacts:
    id: int
    latitude: float | None
    longitude: float | None
    catchment_districts: frozenset[int]


@dataclass(frozen=True, slots=True)
class ChildFacts:
    district_id: int | None
    home: tuple[float, float] | None  # centre of the family's district
    sibling_facility_id: int | None
    single_parent: bool
    parents_working: bool
    special_needs: bool


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine); a district centre is precise enough for bands of 1 km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def points_for(rules: Sequence[RuleFacts], child: ChildFacts, facility: FacilityFacts) -> tuple[int, list[tuple[str, int]]]:
    """The child's priority number at the facility and the rules that gave it, in rule order.

    Every met rule adds its points, except distance bands: only the best band met counts, so
    "up to 1 km: 3" and "up to 3 km: 1" give 3 points at 800 m, not 4.
    """
    total = 0
    reasons: list[tuple[str, int]] = []
    best_band: RuleFacts | None = None
    distance = None
    if child.home is not None and facility.latitude is not None and facility.longitude is not None:
        distance = distance_km(child.home, (facility.latitude, facility.longitude))
    for rule in rules:
        if rule.criterion == DISTANCE:
            if distance is not None and rule.max_km is not None and distance <= rule.max_km:
                if best_band is None or rule.points > best_band.points:
                    best_band = rule
            continue
        met = (
            (rule.criterion == SIBLING and child.sibling_facility_id == facility.id)
            or (rule.criterion == SINGLE_PARENT and child.single_parent)
            or (rule.criterion == PARENTS_WORKING and child.parents_working)
            or (rule.criterion == SPECIAL_NEEDS and child.special_needs)
            or (rule.criterion == CATCHMENT and child.district_id is not None
                and child.district_id in facility.catchment_districts)
        )
        if met:
            total += rule.points
            reasons.append((rule.label, rule.points))
    if best_band is not None:
        total += best_band.points
        reasons.append((best_band.label, best_band.points))
    return total, reasons


def points_from_order(count: int) -> list[int]:
    """Points that make a list of criteria strictly ordered: each outweighs all that follow.

    With 4 criteria: 8, 4, 2, 1 – meeting the first alone beats meeting all the others.
    """
    return [2 ** (count - 1 - i) for i in range(count)]
