"""Plain, obviously-correct reference implementations the fast cores are checked against."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from rathaus_domain.allocation.daycare import Child, DaycareResult, Facility
from rathaus_domain.allocation.holiday import Activity, HolidayChild

Slot = tuple[str, str]


def slot_for(facilities: Sequence[Facility], child: Child, fid: str) -> Slot | None:
    """The places a child competes for at a facility, written out from the documented rule."""
    fac = next((f for f in facilities if f.id == fid), None)
    if fac is None:
        return None
    if child.start_month is not None:
        month_key = f"{child.group}@{child.start_month}"
        if month_key in fac.capacity:
            return (fid, month_key) if fac.capacity[month_key] > 0 else None
    if fac.capacity.get(child.group, 0) > 0:
        return (fid, child.group)
    return None


def acceptable(facilities: Sequence[Facility], child: Child) -> list[tuple[str, Slot]]:
    """The child's wishes that lead to places, best first, each facility once."""
    out: list[tuple[str, Slot]] = []
    for fid in child.wishes:
        slot = slot_for(facilities, child, fid)
        if slot is not None and all(f != fid for f, _ in out):
            out.append((fid, slot))
    return out


def facility_rank(children: Sequence[Child], lottery: dict[str, float]) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(child, facility) -> sort key; smaller is preferred by the facility."""
    ranks = {}
    for i, c in enumerate(children):
        for fid in c.wishes:
            ranks[c.id, fid] = (-float(c.priority.get(fid, 0)), lottery[c.id], i)
    return ranks


def capacities(facilities: Sequence[Facility]) -> dict[Slot, int]:
    return {(f.id, k): v for f in facilities for k, v in f.capacity.items()}


def deferred_acceptance(facilities: Sequence[Facility], children: Sequence[Child], lottery: dict[str, float]) -> dict[str, str]:
    """Sequential child-proposing deferred acceptance: one free child proposes at a time."""
    caps = capacities(facilities)
    rank = facility_rank(children, lottery)
    prefs = {c.id: acceptable(facilities, c) for c in children}
    nxt = dict.fromkeys(prefs, 0)
    held: dict[Slot, list[str]] = {}
    match: dict[str, str] = {}
    free = deque(c.id for c in children)
    while free:
        cid = free.popleft()
        if nxt[cid] >= len(prefs[cid]):
            continue
        fid, slot = prefs[cid][nxt[cid]]
        nxt[cid] += 1
        holders = held.setdefault(slot, [])
        holders.append(cid)
        holders.sort(key=lambda c: rank[c, fid])
        match[cid] = fid
        if len(holders) > caps[slot]:
            out = holders.pop()
            del match[out]
            free.append(out)
    return match


def blocking_pairs(facilities: Sequence[Facility], children: Sequence[Child], result: DaycareResult) -> list[tuple[str, str]]:
    """Pairs (child, facility) where the child prefers the facility to its place and the
    facility has a free place for it or admitted someone it ranks lower."""
    caps = capacities(facilities)
    rank = facility_rank(children, result.lottery)
    by_slot: dict[Slot, list[str]] = {}
    child_by_id = {c.id: c for c in children}
    for cid, fid in result.assignments.items():
        slot = slot_for(facilities, child_by_id[cid], fid)
        assert slot is not None, f"{cid} placed at {fid} without places for its group"
        by_slot.setdefault(slot, []).append(cid)
    pairs = []
    for c in children:
        for fid, slot in acceptable(facilities, c):
            if result.assignments.get(c.id) == fid:
                break  # only wishes better than the place count
            holders = by_slot.get(slot, [])
            if len(holders) < caps[slot] or any(rank[h, fid] > rank[c.id, fid] for h in holders):
                pairs.append((c.id, fid))
    return pairs


def holiday_rounds(
    activities: Sequence[Activity], children: Sequence[HolidayChild], positions: dict[str, int]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The holiday rounds as described, rescanning every wish list from the top each round:
    odd rounds in lottery order, even rounds in reverse; waiting lists put children with fewer
    places first, then go by lottery position."""
    acts = {a.id: a for a in activities}
    free = {a.id: a.capacity for a in activities}
    got: dict[str, list[str]] = {c.id: [] for c in children}
    waiting: dict[str, set[str]] = {a.id: set() for a in activities}
    round_number = 0
    while True:
        round_number += 1
        order = sorted(children, key=lambda c: positions[c.id], reverse=round_number % 2 == 0)
        took = False
        for c in order:
            if len(got[c.id]) >= c.max_activities:
                continue
            days = {d for a in got[c.id] for d in acts[a].dates}
            for aid in c.wishes:
                act = acts.get(aid)
                if act is None or aid in got[c.id] or not act.min_age <= c.age <= act.max_age:
                    continue
                if days & set(act.dates):
                    continue
                if free[aid] == 0:
                    waiting[aid].add(c.id)
                    continue
                free[aid] -= 1
                got[c.id].append(aid)
                took = True
                break
        if not took:
            break
    return got, {a: sorted(w, key=lambda c: (len(got[c]), positions[c])) for a, w in waiting.items()}
