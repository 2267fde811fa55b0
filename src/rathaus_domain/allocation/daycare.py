"""Daycare (KiTa) places: child-proposing deferred acceptance with lottery tie-breaks.

The model
---------
A facility offers places per *capacity key*: a group (``"U3"``) or a group and start month
(``"U3@2025-08"``). A child competes for the places of exactly one key per facility, found by
:func:`capacity_key`: the month-specific key if the facility lists it, otherwise the plain group.
A facility ranks the children that wish it by their priority number for it (higher first), then
by lottery number (lower first), then by input position (only if two lottery numbers are equal).
Missing lottery numbers are drawn from ``numpy.random.Generator(PCG64(seed))``, one per child in
input order, so a recorded seed and the same input reproduce every number.

The algorithm
-------------
Child-proposing deferred acceptance (Gale–Shapley), run in synchronous rounds on numpy arrays:
every child without a held place proposes to its next wish at once, and each place keeps the
best ``capacity`` children among those it held and the new proposals. The outcome does not depend
on the order of proposals, so it equals the sequential textbook algorithm: the child-optimal
stable matching, which is strategy-proof for children when the number of wishes is not capped.
With a cap (say five wishes) listing true preferences is no longer always best: a family may do
better leaving out a popular facility it has little chance at, and the help text should say so.
"""

from __future__ import annotations

import gc
import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain, repeat
from operator import attrgetter, methodcaller
from os import PathLike
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

MONTH_SEPARATOR = "@"
_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Composite int64 sort keys must stay below this; beyond it we fall back to np.lexsort.
_KEY_LIMIT = 2**62
_NO_CUTOFF = np.iinfo(np.int64).max
_values = methodcaller("values")
# dict.values unbound is the fastest way over many dicts; typed loosely for Mapping columns.
_dict_values: Callable[[Any], Iterable[Any]] = dict.values


class AllocationInputError(ValueError):
    """Invalid allocation input; ``path`` names the offending place, e.g. ``children[3].wishes[1]``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True, slots=True)
class Facility:
    """A daycare facility and its places per capacity key (``"U3"`` or ``"U3@2025-08"``)."""

    id: str
    capacity: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Child:
    """A child applying for a place.

    ``wishes`` are facility ids, best first. ``priority`` maps a facility id to the priority
    number that facility gives the child under the municipality's statute (higher = ranked
    higher; missing = 0). ``lottery`` fixes the child's lottery number (lower wins a tie);
    ``None`` draws it from the seed.

    Three fields carry what earlier rounds decided (see :func:`follow_up_children`):
    ``declined`` are facilities whose offers the family declined (skipped among the wishes);
    ``holds`` is a facility whose place the child keeps for sure, an open or accepted offer (it
    outranks every other child there, and the child competes only for wishes ranked above it);
    ``accepted`` says the family accepted ``holds``, so the child competes for nothing else.
    """

    id: str
    group: str
    wishes: tuple[str, ...]
    priority: Mapping[str, float] = field(default_factory=dict)
    lottery: float | None = None
    start_month: str | None = None
    declined: frozenset[str] = frozenset()
    holds: str | None = None
    accepted: bool = False


@dataclass(frozen=True, slots=True)
class DaycareProblem:
    """A validated input file: the seed, the facilities and the children."""

    seed: int
    facilities: tuple[Facility, ...]
    children: tuple[Child, ...]


@dataclass(frozen=True)
class DaycareResult:
    """The outcome of an allocation round.

    ``waiting_lists[f]`` holds, in facility ``f``'s priority order, the children who wished ``f``
    (with places for their group) and did not get it although they would have preferred it to
    what they got: exactly the children ``f`` turned away. ``cutoffs[(f, key)]`` is the
    ``(priority, lottery)`` of the last child admitted to the places of ``key`` at ``f`` when all
    of them are taken, and ``None`` while places remain. ``declined`` records, per child, the
    facilities whose offers the family declined in earlier rounds (see :func:`follow_up`).
    """

    seed: int
    assignments: dict[str, str]
    unassigned: list[str]
    waiting_lists: dict[str, list[str]]
    cutoffs: dict[tuple[str, str], tuple[float, float] | None]
    lottery: dict[str, float]
    rounds: int = 0
    declined: dict[str, frozenset[str]] = field(default_factory=dict)


Outcome = Literal["admitted", "not_considered", "rejected", "no_places", "unknown_facility", "declined", "duplicate"]


@dataclass(frozen=True, slots=True)
class WishExplanation:
    """Why one wish of a child did or did not lead to a place; safe to show to the family.

    It names priority classes only, never other children or their lottery numbers.
    """

    rank: int
    facility_id: str
    capacity_key: str | None
    places: int
    outcome: Outcome
    child_priority: float | None
    cutoff_priority: float | None
    text_de: str
    text_en: str

    @property
    def admitted(self) -> bool:
        """Whether the child was offered a place at this wish."""
        return self.outcome == "admitted"

    def text(self, language: str = "de") -> str:
        """The explanation in German (``"de"``) or English (``"en"``)."""
        return self.text_en if language == "en" else self.text_de


def capacity_key(capacity: Mapping[str, int], group: str, start_month: str | None) -> str | None:
    """Return the capacity key whose places a child of ``group`` starting in ``start_month``
    competes for, or ``None`` if the facility has no places for it.

    A month-specific key (``"U3@2025-08"``) that the facility lists wins over the plain group,
    even with 0 places: listing it says "this is what we have for that month".
    """
    if start_month is not None:
        key = f"{group}{MONTH_SEPARATOR}{start_month}"
        if key in capacity:
            return key if capacity[key] > 0 else None
    return group if capacity.get(group, 0) > 0 else None


# --------------------------------------------------------------------------------------------
# Array form of an instance


@dataclass(slots=True)
class _Columns:
    """Children as columns, so JSON dicts and dataclasses feed the same fast builder."""

    ids: list[str]
    groups: list[str]
    months: list[str | None] | None
    wishes: list[Sequence[str]]
    priorities: list[Mapping[str, float]]
    lotteries: list[float | None] | None
    # Facility id whose place is guaranteed to the child (follow-up rounds), per child.
    guaranteed: list[str | None] | None = None
    # Facilities whose offers the family declined, per child (only children with any).
    declined: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_children(cls, children: Sequence[Child]) -> _Columns:
        def column(name: str) -> list[Any]:
            return list(map(attrgetter(name), children))

        months, lotteries = column("start_month"), column("lottery")
        cols = cls(
            ids=column("id"),
            groups=column("group"),
            months=_unless_all_none(months),
            wishes=column("wishes"),
            priorities=column("priority"),
            lotteries=_unless_all_none(lotteries),
        )
        declined, holds, accepted = column("declined"), column("holds"), column("accepted")
        if any(declined) or any(accepted) or holds.count(None) != len(holds):
            for i, (h, a) in enumerate(zip(holds, accepted, strict=True)):
                if a and h is None:
                    raise AllocationInputError(f"children[{i}].accepted", "needs the place it accepted in 'holds'")
            cols.apply_earlier_rounds(declined, holds, accepted)
        return cols

    def apply_earlier_rounds(self, declined: list[Any], holds: list[str | None], accepted: list[bool]) -> None:
        """Turn each child's wishes into those it competes with after earlier rounds (see
        :class:`Child`): declined facilities leave, a held place becomes the last wish."""
        self.wishes = list(map(_competing_wishes, self.wishes, declined, holds, accepted))
        self.guaranteed = _unless_all_none(holds)
        self.declined = {cid: frozenset(d) for cid, d in zip(self.ids, declined, strict=True) if d}


def _competing_wishes(wishes: Sequence[str], declined: Collection[str], holds: str | None, accepted: bool) -> Sequence[str]:
    own = tuple(f for f in wishes if f not in declined) if declined else wishes
    if holds is None:
        return own
    if accepted:
        return (holds,)
    own = tuple(own)
    return (*own[: own.index(holds)], holds) if holds in own else (*own, holds)


def _unless_all_none(values: list[Any]) -> list[Any] | None:
    # None columns let the common case (no start months, drawn lotteries) skip their work.
    return None if values.count(None) == len(values) else values


@dataclass(slots=True)
class _Instance:
    seed: int
    ids: list[str]
    fac_ids: list[str]
    slot_fac: IntArray  # facility of each slot (facility x capacity key)
    slot_key: list[str]
    cap: IntArray  # capacity per slot, plus a sentinel slot of capacity 0 at the end
    starts: IntArray  # first valid edge of each child; a child's edges are its usable wishes
    n_valid: IntArray
    e_slot: IntArray
    e_fac: IntArray
    e_child: IntArray
    e_prio: FloatArray
    e_prank: IntArray  # 0 = highest priority
    e_key: IntArray  # slot-major sort key: smaller = preferred by the slot
    n_prio: int
    lottery: FloatArray
    tb: IntArray  # tie-break rank per child: position in (lottery, input position) order


@dataclass(slots=True)
class _Solution:
    held_slot: IntArray  # slot per child, the sentinel len(slot_key) when unassigned
    held_key: IntArray
    ptr: IntArray  # index of the held (or next) wish among the child's edges
    rounds: int


def _prepare(
    facilities: Sequence[Facility],
    cols: _Columns,
    seed: int,
    *,
    validate: Callable[[], None] | None = None,
) -> _Instance:
    """Turn facilities and child columns into flat numpy arrays of usable (child, slot) edges.

    Wishes for unknown facilities are skipped like wishes for which the facility has no places;
    without ``validate``, so are repeated ones. The file format passes its precise validator:
    whenever a bulk check here finds something odd (an unknown or repeated wish, a priority
    that is not a number or names a facility not wished), it runs, raises the exact error for
    anything invalid and notes the unknown facilities it lets pass.
    """
    n = len(cols.ids)
    fac_ids = [f.id for f in facilities]
    fac_index = {fid: i for i, fid in enumerate(fac_ids)}
    if len(fac_index) != len(fac_ids):
        i = _first_duplicate(fac_ids)
        raise AllocationInputError(f"facilities[{i}].id", f"duplicate id {fac_ids[i]!r}")
    if len(set(cols.ids)) != n:
        i = _first_duplicate(cols.ids)
        raise AllocationInputError(f"children[{i}].id", f"duplicate id {cols.ids[i]!r}")

    # Distinct (group, start month) pairs; the slot table maps facility x pair -> slot.
    pair_list: list[tuple[str, str | None]] | list[str]
    if cols.months is None:
        pair_list = cols.groups
        pairs: dict[tuple[str, str | None], int] = {(g, None): i for i, g in enumerate(dict.fromkeys(pair_list))}
        by_name: dict[Any, int] = {g: i for (g, _), i in pairs.items()}
    else:
        pair_list = list(zip(cols.groups, cols.months, strict=True))
        pairs = {p: i for i, p in enumerate(dict.fromkeys(pair_list))}
        by_name = pairs
    child_k = np.array(list(map(by_name.__getitem__, pair_list)), dtype=np.int64)

    slot_of: dict[tuple[int, str], int] = {}
    slot_fac: list[int] = []
    slot_key: list[str] = []
    caps: list[int] = []
    for fi, fac in enumerate(facilities):
        for key, places in fac.capacity.items():
            if places > 0:
                slot_of[fi, key] = len(slot_key)
                slot_fac.append(fi)
                slot_key.append(key)
                caps.append(int(places))
    n_slots = len(slot_key)
    # The extra last row catches fac == -1 (unknown facility) by numpy's negative indexing.
    table = np.full((len(facilities) + 1, max(len(pairs), 1)), -1, dtype=np.int64)
    for fi, fac in enumerate(facilities):
        for (group, month), k in pairs.items():
            key_ = capacity_key(fac.capacity, group, month)
            if key_ is not None:
                table[fi, k] = slot_of[fi, key_]

    lens = np.fromiter(map(len, cols.wishes), np.int64, n)
    n_edges = int(lens.sum())
    flat = list(chain.from_iterable(cols.wishes))
    try:
        fac_e = np.array(list(map(fac_index.__getitem__, flat)), dtype=np.int64)
    except (KeyError, TypeError):  # unknown facilities: rare, so pay for the default only then
        if validate is not None:
            validate()
        fac_e = np.array([fac_index.get(f, -1) if type(f) is str else -1 for f in flat], np.int64)
    child_e = np.repeat(np.arange(n, dtype=np.int64), lens)
    first_e = np.cumsum(lens) - lens
    rank_e = np.arange(n_edges, dtype=np.int64) - first_e[child_e]
    dup = _repeated_wishes(fac_e, child_e, rank_e, lens)
    if validate is not None and dup.any():
        validate()
    slot_e = table[fac_e, child_k[child_e]] if n_edges else np.zeros(0, np.int64)
    slot_e[dup] = -1

    prio_e = _edge_priorities(cols, flat, fac_index.keys(), validate)
    bad = ~np.isfinite(prio_e)
    if bad.any():
        if validate is not None:
            validate()
        raise AllocationInputError(f"children[{child_e[np.flatnonzero(bad)[0]]}].priority", "must hold finite numbers")

    sel = np.flatnonzero(slot_e >= 0)
    e_slot, e_child, e_fac, e_prio = slot_e[sel], child_e[sel], fac_e[sel], prio_e[sel]
    n_valid = np.bincount(e_child, minlength=n).astype(np.int64)
    starts = np.cumsum(n_valid) - n_valid

    fixed = np.zeros(len(sel), dtype=bool)
    if cols.guaranteed is not None:
        g_fac = np.fromiter((fac_index.get(g, -3) if g is not None else -3 for g in cols.guaranteed), np.int64, n)
        fixed = e_fac == g_fac[e_child]

    lottery = np.random.Generator(np.random.PCG64(seed)).random(n)
    if cols.lotteries is not None:
        if None in cols.lotteries:
            given = [i for i, x in enumerate(cols.lotteries) if x is not None]
            lottery[given] = [cols.lotteries[i] for i in given]
        else:
            lottery = np.array(cols.lotteries, dtype=np.float64)
        if not np.isfinite(lottery).all():
            if validate is not None:
                validate()
            i = int(np.flatnonzero(~np.isfinite(lottery))[0])
            raise AllocationInputError(f"children[{i}].lottery", "must be a finite number")
    # Equal lottery numbers fall back to input order; only then is a stable sort needed.
    by_lottery = np.argsort(lottery)
    if n > 1 and (lottery[by_lottery[1:]] == lottery[by_lottery[:-1]]).any():
        by_lottery = np.argsort(lottery, kind="stable")
    tb = np.empty(n, dtype=np.int64)
    tb[by_lottery] = np.arange(n, dtype=np.int64)

    e_prank, n_prio = _priority_ranks(e_prio)
    levels = 2 if fixed.any() else 1
    nonfixed = (~fixed).astype(np.int64)
    if max(n_slots, 1) * levels * n_prio * max(n, 1) < _KEY_LIMIT:
        e_key = ((e_slot * levels + nonfixed * (levels - 1)) * n_prio + e_prank) * n + tb[e_child]
    else:
        e_key = np.empty(len(sel), dtype=np.int64)
        e_key[np.lexsort((tb[e_child], e_prank, nonfixed, e_slot))] = np.arange(len(sel))

    return _Instance(
        seed=seed,
        ids=cols.ids,
        fac_ids=fac_ids,
        slot_fac=np.asarray(slot_fac, dtype=np.int64),
        slot_key=slot_key,
        cap=np.asarray([*caps, 0], dtype=np.int64),
        starts=starts,
        n_valid=n_valid,
        e_slot=e_slot,
        e_fac=e_fac,
        e_child=e_child,
        e_prio=e_prio,
        e_prank=e_prank,
        e_key=e_key,
        n_prio=n_prio,
        lottery=lottery,
        tb=tb,
    )


def _edge_priorities(
    cols: _Columns,
    flat: list[Any],
    known: Collection[str],
    validate: Callable[[], None] | None,
) -> FloatArray:
    """The priority number of every wish (0 where none is given)."""
    priorities, n_edges = cols.priorities, len(flat)
    try:
        # Services and files usually list priorities for exactly the wishes, in wish order;
        # then the values line up with the wishes and need no lookup per wish.
        if list(chain.from_iterable(priorities)) == flat:
            try:
                values: list[Any] = list(chain.from_iterable(map(_dict_values, priorities)))
            except TypeError:  # mappings other than dict (dataclass input): slower, same result
                values = list(chain.from_iterable(map(_values, priorities)))
            if validate is not None and not set(map(type, values)) <= {int, float}:
                validate()
            return np.array(values, dtype=np.float64).reshape(n_edges)
    except (TypeError, AttributeError):  # a priority that is not a mapping
        if validate is not None:
            validate()
    # NaN marks "no priority given", so that the priorities found can be counted.
    nan = math.nan
    try:
        found = [p.get(f, nan) for p, ws in zip(priorities, cols.wishes, strict=True) for f in ws]
    except (AttributeError, TypeError):
        if validate is not None:
            validate()
        raise
    if validate is not None and not set(map(type, found)) <= {int, float}:
        validate()
    prio = np.array(found, dtype=np.float64).reshape(n_edges)
    missing = np.isnan(prio)
    if n_edges - int(missing.sum()) != sum(map(len, priorities)):
        # Priorities for facilities not wished (allowed) or NaN values (not): check them all.
        if validate is not None and not (
            set(map(type, priorities)) <= {dict}
            and set(chain.from_iterable(priorities)) <= set(known)
            and set(map(type, chain.from_iterable(map(_values, priorities)))) <= {int, float}
        ):
            validate()
        for i, p in enumerate(priorities):
            if not all(map(math.isfinite, p.values())):
                if validate is not None:
                    validate()
                raise AllocationInputError(f"children[{i}].priority", "must hold finite numbers")
    prio[missing] = 0.0
    return prio


def _first_duplicate(values: Sequence[str]) -> int:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            return i
        seen.add(v)
    return -1


def _repeated_wishes(fac_e: IntArray, child_e: IntArray, rank_e: IntArray, lens: IntArray) -> Any:
    """Mask of wishes naming a facility the same child already named earlier."""
    dup = np.zeros(len(fac_e), dtype=bool)
    if len(fac_e) == 0:
        return dup
    n, width = len(lens), int(lens.max())
    known = fac_e >= 0
    if width < 2:
        return dup
    if n * width == len(fac_e):
        # Every child has the same number of wishes: the edges already form the matrix.
        mat = fac_e.reshape(n, width).copy()
        mat[~known.reshape(n, width)] = -2 - np.nonzero(~known.reshape(n, width))[1]
        mat.sort(axis=1)
        rows = np.flatnonzero((mat[:, 1:] == mat[:, :-1]).any(axis=1))
    elif n * width <= 8 * len(fac_e) + 1024:
        # Rows of a small matrix, sorted per row: cheap when wish lists have similar lengths.
        mat = np.broadcast_to(-2 - np.arange(width, dtype=np.int64), (n, width)).copy()
        mat[child_e[known], rank_e[known]] = fac_e[known]
        mat.sort(axis=1)
        rows = np.flatnonzero((mat[:, 1:] == mat[:, :-1]).any(axis=1))
    else:
        pair = np.sort(child_e[known] * (int(fac_e.max()) + 1) + fac_e[known])
        same = np.flatnonzero(pair[1:] == pair[:-1])
        rows = np.unique(pair[same] // (int(fac_e.max()) + 1))
    if len(rows):
        starts = np.cumsum(lens) - lens
        for r in rows.tolist():
            seen: set[int] = set()
            for e in range(int(starts[r]), int(starts[r] + lens[r])):
                f = int(fac_e[e])
                if f >= 0 and f in seen:
                    dup[e] = True
                seen.add(f)
    return dup


def _priority_ranks(prio: FloatArray) -> tuple[IntArray, int]:
    """Dense ranks of priority numbers, 0 for the highest, and how many ranks there are."""
    if len(prio) == 0:
        return np.zeros(0, dtype=np.int64), 1
    top, bottom = float(prio.max()), float(prio.min())
    # Whole points in a modest range (the usual statute) need no sort.
    if top - bottom < 2**20 and np.array_equal(prio, np.floor(prio)):
        return (top - prio).astype(np.int64), int(top - bottom) + 1
    values, inverse = np.unique(prio, return_inverse=True)
    return (len(values) - 1 - inverse).astype(np.int64), len(values)


def _solve(inst: _Instance) -> _Solution:
    """Deferred acceptance in synchronous proposal rounds.

    Every slot remembers the key of its worst holder once it is full. Cut-offs only ever get
    stricter, so a proposal worse than that key is rejected at once and the child moves on to
    its next wish within the same round; only slots that receive more acceptable proposals than
    they have free places re-rank their holders.
    """
    n = len(inst.ids)
    sentinel = len(inst.slot_key)
    cap = inst.cap
    ptr = np.zeros(n, dtype=np.int64)
    held_slot = np.full(n, sentinel, dtype=np.int64)
    held_key = np.zeros(n, dtype=np.int64)
    count = np.zeros(sentinel + 1, dtype=np.int64)
    worst_held = np.full(sentinel + 1, -1, dtype=np.int64)
    # Proposals with a key above worst[slot] are rejected; the sentinel slot rejects everyone.
    worst = np.full(sentinel + 1, _NO_CUTOFF, dtype=np.int64)
    worst[sentinel] = -1
    proposers = np.flatnonzero(inst.n_valid > 0)
    rounds = 0
    while len(proposers):
        rounds += 1
        edge = inst.starts[proposers] + ptr[proposers]
        p_key, p_slot = inst.e_key[edge], inst.e_slot[edge]
        bad = np.flatnonzero(p_key > worst[p_slot])
        while len(bad):
            q = proposers[bad]
            ptr[q] += 1
            live = ptr[q] < inst.n_valid[q]
            p_slot[bad[~live]] = sentinel
            bad = bad[live]
            edge = inst.starts[q[live]] + ptr[q[live]]
            p_key[bad], p_slot[bad] = inst.e_key[edge], inst.e_slot[edge]
            bad = bad[p_key[bad] > worst[p_slot[bad]]]
        alive = p_slot != sentinel
        proposers, p_key, p_slot = proposers[alive], p_key[alive], p_slot[alive]
        if not len(proposers):
            break

        # Slots with room for all their new proposals take them without re-ranking anyone.
        new_count = np.bincount(p_slot, minlength=sentinel + 1)
        over = count + new_count > cap
        direct = ~over[p_slot]
        held_slot[proposers[direct]] = p_slot[direct]
        held_key[proposers[direct]] = p_key[direct]
        np.maximum.at(worst_held, p_slot[direct], p_key[direct])
        count += np.where(over, 0, new_count)

        rejected = np.zeros(0, dtype=np.int64)
        if not direct.all():
            contested = ~direct
            holders = np.flatnonzero(over[held_slot])
            cand = np.concatenate((holders, proposers[contested]))
            c_key = np.concatenate((held_key[holders], p_key[contested]))
            c_slot = np.concatenate((held_slot[holders], p_slot[contested]))
            # Keys are slot-major: after sorting, each slot's candidates are contiguous, best first.
            order = np.argsort(c_key)
            cand, c_key, c_slot = cand[order], c_key[order], c_slot[order]
            m = len(cand)
            group_first = np.flatnonzero(np.concatenate(([True], c_slot[1:] != c_slot[:-1])))
            group_end = np.append(group_first[1:], m)
            rank = np.arange(m) - np.repeat(group_first, group_end - group_first)
            keep = rank < cap[c_slot]
            kept = cand[keep]
            held_slot[kept], held_key[kept] = c_slot[keep], c_key[keep]
            over_slots = c_slot[group_first]
            count[over_slots] = cap[over_slots]
            worst_held[over_slots] = c_key[group_first + cap[over_slots] - 1]
            rejected = cand[~keep]
            held_slot[rejected] = sentinel
            ptr[rejected] += 1
        worst = np.where(count >= cap, worst_held, _NO_CUTOFF)
        worst[sentinel] = -1
        proposers = rejected[ptr[rejected] < inst.n_valid[rejected]]
    return _Solution(held_slot=held_slot, held_key=held_key, ptr=ptr, rounds=rounds)


def _assignments(inst: _Instance, sol: _Solution) -> tuple[dict[str, str], list[str]]:
    ids, fac_ids, n_slots = inst.ids, inst.fac_ids, len(inst.slot_key)
    assigned = np.flatnonzero(sol.held_slot < n_slots)
    held_edge = inst.starts[assigned] + sol.ptr[assigned]
    # Plain lists and map() beat object arrays for turning indices back into ids.
    assignments = dict(
        zip(
            map(ids.__getitem__, assigned.tolist()),
            map(fac_ids.__getitem__, inst.e_fac[held_edge].tolist()),
            strict=True,
        )
    )
    unassigned = sorted(map(ids.__getitem__, np.flatnonzero(sol.held_slot == n_slots).tolist()))
    return assignments, unassigned


def _waiting_lists(inst: _Instance, sol: _Solution) -> dict[str, list[str]]:
    ids, fac_ids = inst.ids, inst.fac_ids
    n, n_fac = len(ids), len(fac_ids)
    # Edges before a child's held wish (all of them if unassigned) were proposed and rejected.
    local = np.arange(len(inst.e_child), dtype=np.int64) - inst.starts[inst.e_child]
    rej = np.flatnonzero(local < sol.ptr[inst.e_child])
    r_fac, r_child = inst.e_fac[rej], inst.e_child[rej]
    if max(n_fac, 1) * inst.n_prio * max(n, 1) < _KEY_LIMIT:
        order = np.argsort((r_fac * inst.n_prio + inst.e_prank[rej]) * n + inst.tb[r_child])
    else:
        order = np.lexsort((inst.tb[r_child], inst.e_prank[rej], r_fac))
    waiting = list(map(ids.__getitem__, r_child[order].tolist()))
    bounds = np.cumsum(np.bincount(r_fac, minlength=n_fac)).tolist()
    return {fid: waiting[lo:hi] for fid, lo, hi in zip(fac_ids, [0, *bounds], bounds, strict=False)}


def _cutoffs(inst: _Instance, sol: _Solution) -> dict[tuple[str, str], tuple[float, float] | None]:
    n_slots = len(inst.slot_key)
    assigned = np.flatnonzero(sol.held_slot < n_slots)
    # The worst holder of a full slot sets its cut-off; keys are slot-major, so it is the last.
    held_counts = np.bincount(sol.held_slot[assigned], minlength=n_slots)[:n_slots]
    full = np.flatnonzero(held_counts >= inst.cap[:n_slots])
    by_key = assigned[np.argsort(sol.held_key[assigned])]
    worst = by_key[(np.cumsum(held_counts) - 1)[full]]
    worst_edge = inst.starts[worst] + sol.ptr[worst]
    values = zip(inst.e_prio[worst_edge].tolist(), inst.lottery[worst].tolist(), strict=True)
    of_slot = dict(zip(full.tolist(), values, strict=True))
    return {
        (inst.fac_ids[fi], key): of_slot.get(s)
        for s, (fi, key) in enumerate(zip(inst.slot_fac.tolist(), inst.slot_key, strict=True))
    }


def _result(inst: _Instance, sol: _Solution, declined: dict[str, frozenset[str]] | None = None) -> DaycareResult:
    assignments, unassigned = _assignments(inst, sol)
    return DaycareResult(
        seed=inst.seed,
        assignments=assignments,
        unassigned=unassigned,
        waiting_lists=_waiting_lists(inst, sol),
        cutoffs=_cutoffs(inst, sol),
        lottery=dict(zip(inst.ids, inst.lottery.tolist(), strict=True)),
        rounds=sol.rounds,
        declined=declined or {},
    )


# --------------------------------------------------------------------------------------------
# Public allocation API


def allocate(facilities: Sequence[Facility], children: Sequence[Child], seed: int) -> DaycareResult:
    """Allocate daycare places by child-proposing deferred acceptance.

    Wishes naming unknown facilities, facilities without places for the child's group (and
    start month), or a facility already named are skipped. Ties in priority are broken by
    lottery numbers, drawn from ``seed`` where a child has none. The result is the child-optimal
    stable matching: no family can get a wish it prefers by reporting other wishes.

    Children with ``declined``, ``holds`` or ``accepted`` (see :class:`Child`) carry the
    decisions of earlier rounds; this is how :func:`follow_up` runs, so a stored follow-up round
    is re-run from its input alone.

    Raises :class:`AllocationInputError` for repeated ids, non-finite numbers, or held places
    that no longer fit the capacities.
    """
    cols = _Columns.from_children(children)
    inst = _prepare(facilities, cols, seed)
    result = _result(inst, _solve(inst), declined=cols.declined)
    _check_held(cols, result.assignments)
    return result


def _check_held(cols: _Columns, assignments: Mapping[str, str]) -> None:
    """A held place outranks everyone, so only shrunken capacities can push its holder out."""
    if cols.guaranteed is None:
        return
    for i, (cid, held) in enumerate(zip(cols.ids, cols.guaranteed, strict=True)):
        if held is not None and cid not in assignments:
            raise AllocationInputError(f"children[{i}].holds", f"the place held by child {cid!r} no longer fits the capacities")


def follow_up_children(
    previous: DaycareResult,
    declined: Collection[str],
    accepted: Collection[str],
    children: Sequence[Child],
) -> list[Child]:
    """The children of a follow-up round, each carrying what earlier rounds decided.

    Semantics:

    * ``accepted`` children keep their place (``holds`` and ``accepted``): it is fixed and they
      compete for nothing else.
    * ``declined`` children lose their offer and compete again with their other wishes; the
      declined facility goes into ``declined`` for this and later follow-up rounds.
    * Children with an offer in neither set (no answer yet) hold that offer as a guaranteed
      place but still compete for the wishes they ranked above it; if they get a better one,
      their old place goes to others in the same round.
    * Everyone else in ``children`` (unplaced or newly registered) competes with all wishes.
    * Lottery numbers of ``previous`` are kept, so waiting lists stay in the same order; children
      not in ``previous`` keep ``lottery=None`` and draw from the new round's seed.

    Children of ``previous`` missing from ``children`` have withdrawn; their places are free.
    Raises :class:`AllocationInputError` if the answers do not fit ``previous``.
    """
    declined_set, accepted_set = set(declined), set(accepted)
    for name, answered in (("declined", declined_set), ("accepted", accepted_set)):
        stray = sorted(answered - previous.assignments.keys())
        if stray:
            raise AllocationInputError(name, f"child {stray[0]!r} had no offer in the previous round")
    if both := sorted(declined_set & accepted_set):
        raise AllocationInputError("accepted", f"child {both[0]!r} both accepted and declined")
    if missing := sorted(accepted_set - {c.id for c in children}):
        raise AllocationInputError("accepted", f"child {missing[0]!r} is not among the children")

    out: list[Child] = []
    for c in children:
        offer = previous.assignments.get(c.id)
        excluded = previous.declined.get(c.id, frozenset()) | c.declined
        if c.id in declined_set and offer is not None:
            excluded |= {offer}
            offer = None
        out.append(
            replace(
                c,
                declined=frozenset(excluded),
                holds=offer,
                accepted=c.id in accepted_set,
                lottery=previous.lottery.get(c.id, c.lottery),
            )
        )
    return out


def follow_up(
    previous: DaycareResult,
    declined: Collection[str],
    accepted: Collection[str],
    facilities: Sequence[Facility],
    children: Sequence[Child],
    seed: int,
) -> DaycareResult:
    """Run a follow-up round after families answered the offers of ``previous``.

    The same as ``allocate(facilities, follow_up_children(previous, declined, accepted,
    children), seed)``; see :func:`follow_up_children` for what happens to whom. Raises
    :class:`AllocationInputError` if the answers do not fit ``previous`` or if accepted places
    and open offers no longer fit the capacities.
    """
    return allocate(facilities, follow_up_children(previous, declined, accepted, children), seed)


# --------------------------------------------------------------------------------------------
# Explanations for families


def _number(value: float, language: str) -> str:
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:g}"
    return text.replace(".", ",") if language == "de" else text


def _places(count: int, language: str) -> str:
    if language == "de":
        return "1 Platz" if count == 1 else f"{count} Plätze"
    return "1 place" if count == 1 else f"{count} places"


def explain(
    result: DaycareResult,
    children: Iterable[Child],
    facilities: Iterable[Facility],
    child_id: str,
) -> list[WishExplanation]:
    """Explain, wish by wish, the result for one child in German and English.

    Each explanation gives the places available to the child's group, whether the child got the
    place, and for a full facility the priority class of the last child admitted ("12 Plätze;
    der letzte Platz ging an Prioritätsstufe 2; Ihr Kind hatte Stufe 1"). Higher classes come
    first. Other children's ids, data and lottery numbers are never revealed.
    """
    child = next((c for c in children if c.id == child_id), None)
    if child is None:
        raise AllocationInputError("child_id", f"unknown child {child_id!r}")
    by_id = {f.id: f for f in facilities}
    got = result.assignments.get(child_id)
    got_rank = child.wishes.index(got) if got in child.wishes else len(child.wishes)
    declined = result.declined.get(child_id, frozenset())
    out: list[WishExplanation] = []
    seen: set[str] = set()
    for rank, fid in enumerate(child.wishes, start=1):
        fac = by_id.get(fid)
        key = capacity_key(fac.capacity, child.group, child.start_month) if fac else None
        places = int(fac.capacity.get(key, 0)) if fac and key else 0
        prio = float(child.priority.get(fid, 0))
        cutoff = result.cutoffs.get((fid, key)) if key else None
        outcome: Outcome
        if fid in seen:
            outcome = "duplicate"
        elif fac is None:
            outcome = "unknown_facility"
        elif fid in declined:
            outcome = "declined"
        elif key is None:
            outcome = "no_places"
        elif fid == got:
            outcome = "admitted"
        elif rank - 1 > got_rank:
            outcome = "not_considered"
        else:
            outcome = "rejected"
        seen.add(fid)
        de, en = _texts(outcome, places, prio, cutoff[0] if cutoff else None, child.group)
        out.append(
            WishExplanation(
                rank=rank,
                facility_id=fid,
                capacity_key=key,
                places=places,
                outcome=outcome,
                child_priority=prio if key else None,
                cutoff_priority=cutoff[0] if cutoff else None,
                text_de=f"Wunsch {rank} ({fid}): {de}",
                text_en=f"Wish {rank} ({fid}): {en}",
            )
        )
    return out


def _texts(outcome: Outcome, places: int, prio: float, cutoff: float | None, group: str) -> tuple[str, str]:
    p_de, p_en = _number(prio, "de"), _number(prio, "en")
    pl_de, pl_en = _places(places, "de"), _places(places, "en")
    if outcome == "duplicate":
        return ("doppelt angegeben; zählt nur einmal.", "listed twice; counts once.")
    if outcome == "unknown_facility":
        return ("diese Einrichtung ist nicht bekannt.", "this facility is not known.")
    if outcome == "declined":
        return ("Sie haben das Angebot dieser Einrichtung abgelehnt.", "you declined this offer.")
    if outcome == "no_places":
        return (
            f"keine Plätze für die Gruppe {group} zu Ihrem Wunschtermin.",
            f"no places for group {group} at your desired start.",
        )
    if outcome == "admitted":
        return (
            f"{pl_de}; Ihr Kind hat hier einen Platz erhalten (Prioritätsstufe {p_de}).",
            f"{pl_en}; your child was offered a place here (priority class {p_en}).",
        )
    if outcome == "not_considered":
        return (
            f"{pl_de}; nicht mehr berücksichtigt, weil Ihr Kind einen Platz bei einem höheren Wunsch erhalten hat.",
            f"{pl_en}; not needed because your child got a place at a higher wish.",
        )
    if cutoff is None:
        return (
            f"{pl_de}; kein Platz für Ihr Kind (Prioritätsstufe {p_de}).",
            f"{pl_en}; no place for your child (priority class {p_en}).",
        )
    c_de, c_en = _number(cutoff, "de"), _number(cutoff, "en")
    if cutoff > prio:
        return (
            f"{pl_de}; der letzte Platz ging an Prioritätsstufe {c_de}; Ihr Kind hatte Stufe "
            f"{p_de} (höhere Stufen haben Vorrang).",
            f"{pl_en}; the last place went to priority class {c_en}; your child was in class {p_en} (higher classes come first).",
        )
    if cutoff == prio:
        return (
            f"{pl_de}; der letzte Platz ging an Prioritätsstufe {c_de}, die Stufe Ihres Kindes; "
            "innerhalb der Stufe hat das Los entschieden.",
            f"{pl_en}; the last place went to priority class {c_en}, your child's class; within the class the lottery decided.",
        )
    return (
        f"{pl_de}; alle Plätze waren durch bereits angenommene Zusagen belegt (Ihr Kind hatte Stufe {p_de}).",
        f"{pl_en}; all places were taken by offers accepted in an earlier round (your child was in class {p_en}).",
    )


# --------------------------------------------------------------------------------------------
# File format (``rathaus allocate daycare``)

_TOP_KEYS = frozenset({"seed", "facilities", "children"})
_FACILITY_KEYS = frozenset({"id", "capacity"})
_BASIC_KEYS = ("id", "group", "wishes", "priority", "lottery", "start_month")
# What earlier rounds decided (see Child); only stored follow-up rounds carry them.
_ROUND_KEYS = ("declined", "holds", "accepted")
_CHILD_KEYS = frozenset((*_BASIC_KEYS, *_ROUND_KEYS))
_EMPTY: dict[str, float] = {}


class _Missing:
    """Marks a key absent from a child object (JSON null is ``None``)."""


_MISSING = _Missing()
DUMP_EXTRAS = frozenset({"waiting_lists", "cutoffs", "lottery", "seed", "rounds", "declined"})


@dataclass(frozen=True, slots=True)
class InputWarning:
    """Something in an input file that was skipped rather than refused; ``path`` names its first
    occurrence, e.g. ``children[0].wishes[1]``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


Warn = Callable[[InputWarning], None]


@dataclass(slots=True)
class _Skipped:
    """References to facilities that are not in the file, collected by the validator."""

    first: dict[str, str] = field(default_factory=dict)  # facility id -> path of its first use
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (facility id, kind) -> uses

    def add(self, facility: str, path: str, kind: str) -> None:
        self.first.setdefault(facility, path)
        self.counts[facility, kind] = self.counts.get((facility, kind), 0) + 1

    def clear(self) -> None:
        self.first.clear()
        self.counts.clear()

    def warnings(self) -> list[InputWarning]:
        """One warning per facility, in the order of first use."""
        out = []
        for fid, path in self.first.items():
            wishes, priorities = self.counts.get((fid, "wish"), 0), self.counts.get((fid, "priority"), 0)
            parts = [f"{wishes} wish" + ("es" if wishes != 1 else "")] if wishes else []
            if priorities:
                parts.append(f"{priorities} priorit" + ("ies" if priorities != 1 else "y"))
            out.append(InputWarning(path, f"facility {fid!r} is not in the file; {' and '.join(parts)} skipped"))
        return out


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _read_top(data: object) -> tuple[int, list[Facility], list[Any]]:
    if not isinstance(data, dict):
        raise AllocationInputError("$", "must be an object")
    if unknown := sorted(set(data) - _TOP_KEYS):
        raise AllocationInputError(unknown[0], "unknown key")
    seed = data.get("seed")
    if type(seed) is not int or seed < 0:
        raise AllocationInputError("seed", "must be a non-negative integer")
    raw_facilities, children = data.get("facilities"), data.get("children")
    if not isinstance(raw_facilities, list):
        raise AllocationInputError("facilities", "must be a list")
    if not isinstance(children, list):
        raise AllocationInputError("children", "must be a list")
    facilities: list[Facility] = []
    for i, f in enumerate(raw_facilities):
        path = f"facilities[{i}]"
        if not isinstance(f, dict):
            raise AllocationInputError(path, "must be an object")
        if unknown := sorted(set(f) - _FACILITY_KEYS):
            raise AllocationInputError(f"{path}.{unknown[0]}", "unknown key")
        if type(f.get("id")) is not str or not f["id"]:
            raise AllocationInputError(f"{path}.id", "must be a non-empty string")
        capacity = f.get("capacity")
        if not isinstance(capacity, dict):
            raise AllocationInputError(f"{path}.capacity", "must be an object")
        for key, places in capacity.items():
            group, sep, month = key.partition(MONTH_SEPARATOR)
            if not group or (sep and not _MONTH_RE.match(month)):
                raise AllocationInputError(f"{path}.capacity.{key}", "key must be a group or 'group@YYYY-MM'")
            if type(places) is not int or places < 0:
                raise AllocationInputError(f"{path}.capacity.{key}", "must be a non-negative integer")
        facilities.append(Facility(id=f["id"], capacity=capacity))
    return seed, facilities, children


def _check_child(i: int, c: object, fac_ids: Collection[str], skipped: _Skipped) -> None:
    """Validate one child precisely; the authority behind all bulk checks of the file format.

    Wishes and priorities for facilities that are not in the file are skipped, as
    :func:`allocate` skips them, and recorded in ``skipped`` so the caller can warn.
    """
    path = f"children[{i}]"
    if not isinstance(c, dict):
        raise AllocationInputError(path, "must be an object")
    if unknown := sorted(set(c) - _CHILD_KEYS):
        raise AllocationInputError(f"{path}.{unknown[0]}", "unknown key")
    for name in ("id", "group"):
        if type(c.get(name)) is not str or not c[name]:
            raise AllocationInputError(f"{path}.{name}", "must be a non-empty string")
    if MONTH_SEPARATOR in c["group"]:
        raise AllocationInputError(f"{path}.group", f"must not contain {MONTH_SEPARATOR!r}")
    wishes = c.get("wishes")
    if type(wishes) is not list:
        raise AllocationInputError(f"{path}.wishes", "must be a list of facility ids")
    for j, w in enumerate(wishes):
        if type(w) is not str:
            raise AllocationInputError(f"{path}.wishes[{j}]", "must be a string")
        if w in wishes[:j]:
            raise AllocationInputError(f"{path}.wishes[{j}]", f"facility {w!r} is listed twice")
        if w not in fac_ids:
            skipped.add(w, f"{path}.wishes[{j}]", "wish")
    priority = c.get("priority", _EMPTY)
    if type(priority) is not dict:
        raise AllocationInputError(f"{path}.priority", "must be an object")
    for fid, value in priority.items():
        if not _is_number(value):
            raise AllocationInputError(f"{path}.priority.{fid}", "must be a finite number")
        if fid not in fac_ids:
            skipped.add(fid, f"{path}.priority.{fid}", "priority")
    lottery = c.get("lottery")
    if lottery is not None and not _is_number(lottery):
        raise AllocationInputError(f"{path}.lottery", "must be a finite number or null")
    month = c.get("start_month")
    if month is not None and (type(month) is not str or not _MONTH_RE.match(month)):
        raise AllocationInputError(f"{path}.start_month", "must be 'YYYY-MM' or null")
    declined = c.get("declined", [])
    if type(declined) is not list:
        raise AllocationInputError(f"{path}.declined", "must be a list of facility ids")
    for j, d in enumerate(declined):
        if type(d) is not str:
            raise AllocationInputError(f"{path}.declined[{j}]", "must be a string")
    holds = c.get("holds")
    if holds is not None:
        if type(holds) is not str:
            raise AllocationInputError(f"{path}.holds", "must be a facility id or null")
        # Unlike a wish, a held place cannot be skipped: it was promised to the family.
        if holds not in fac_ids:
            raise AllocationInputError(f"{path}.holds", f"unknown facility {holds!r}")
    accepted = c.get("accepted", False)
    if type(accepted) is not bool:
        raise AllocationInputError(f"{path}.accepted", "must be true or false")
    if accepted and holds is None:
        raise AllocationInputError(f"{path}.accepted", "needs the place it accepted in 'holds'")


def _all_strings(values: Iterable[Any]) -> bool:
    try:
        "".join(values)  # one C loop that fails on the first non-string
    except TypeError:
        return False
    return True


RoundColumns = tuple[list[frozenset[str]], list[str | None], list[bool]]


@dataclass(slots=True)
class _FileChildren:
    """The children of a file: columns with the wishes as given, the decisions of earlier
    rounds (``None`` when the file has none), the precise validator and what it skipped."""

    cols: _Columns
    rounds: RoundColumns | None
    validate: Callable[[], None]
    skipped: _Skipped

    def competing(self) -> _Columns:
        """The columns the allocation works on: wishes after the decisions of earlier rounds."""
        if self.rounds is None:
            return self.cols
        cols = replace(self.cols)
        cols.apply_earlier_rounds(*self.rounds)
        return cols

    def warn(self, warn: Warn | None) -> None:
        if warn is not None:
            for warning in self.skipped.warnings():
                warn(warning)


def _columns(children: list[Any], fac_ids: Collection[str]) -> _FileChildren:
    """Children of the file as columns, checked in bulk, and the precise validator.

    The bulk checks run at C speed over whole columns; when one fails, the per-child validator
    runs to name the exact path (or to note the facilities it skips). Wishes and priorities are
    checked while ``_prepare`` reads them, which hands the same validator over.
    """
    fac_set = frozenset(fac_ids)
    skipped = _Skipped()

    def validate() -> None:
        skipped.clear()  # it may run twice; each run finds the same
        for i, c in enumerate(children):
            _check_child(i, c, fac_set, skipped)

    n = len(children)
    ids: list[Any] = []
    groups: list[Any] = []
    wishes: list[Any] = []
    priorities: list[Any] = []
    lotteries: list[Any] = []
    months: list[Any] = []
    try:
        ids, groups, wishes, priorities, lotteries, months = (
            list(map(dict.get, children, repeat(name), repeat(_MISSING))) for name in _BASIC_KEYS
        )
        ok = True
    except TypeError:  # dict.get on something that is not an object
        ok = False
    if ok and n:
        # Every key is one of the six columns exactly when the key counts add up.
        present = 3 * n + sum(n - col.count(_MISSING) for col in (priorities, lotteries, months))
        group_set = set(groups)
        ok = (
            sum(map(len, children)) == present
            and _all_strings(ids)
            and "" not in ids
            and _all_strings(group_set)
            and "" not in group_set
            and not any(MONTH_SEPARATOR in g for g in group_set)
            and set(map(type, wishes)) == {list}
            and set(map(type, lotteries)) <= {type(None), int, float, _Missing}
            and set(map(type, months)) <= {type(None), str, _Missing}
            and all(_MONTH_RE.match(m) for m in set(months) if type(m) is str)
        )
    rounds: RoundColumns | None = None
    if not ok:
        validate()
        # Valid now; other keys than the six can only be decisions of earlier rounds.
        if sum(map(len, children)) != 3 * n + sum(n - col.count(_MISSING) for col in (priorities, lotteries, months)):
            declined, holds, accepted = (list(map(dict.get, children, repeat(name))) for name in _ROUND_KEYS)
            rounds = (
                [frozenset(d) if d else frozenset() for d in declined],
                holds,
                [a is True for a in accepted],
            )
    if _MISSING in priorities:
        priorities = [_EMPTY if p is _MISSING else p for p in priorities]
    lotteries = [None if x is _MISSING else x for x in lotteries] if _MISSING in lotteries else lotteries
    months = [None if m is _MISSING else m for m in months] if _MISSING in months else months
    cols = _Columns(
        ids=ids,
        groups=groups,
        months=_unless_all_none(months),
        wishes=wishes,
        priorities=priorities,
        lotteries=_unless_all_none(lotteries),
    )
    return _FileChildren(cols=cols, rounds=rounds, validate=validate, skipped=skipped)


def load_json(data: object, *, warn: Warn | None = None) -> DaycareProblem:
    """Validate a parsed input file and return it as dataclasses.

    Format: ``{"seed": 1, "facilities": [{"id": "k1", "capacity": {"U3": 10, "Ü3@2025-08": 4}}],
    "children": [{"id": "c1", "group": "U3", "wishes": ["k1"], "priority": {"k1": 2},
    "lottery": 0.31, "start_month": "2025-08"}]}``; ``priority``, ``lottery`` and
    ``start_month`` are optional, and so are ``declined``, ``holds`` and ``accepted``, the
    decisions of earlier rounds (see :class:`Child`). Wishes and priorities naming facilities
    that are not in the file are skipped, with one :class:`InputWarning` per such facility passed
    to ``warn``. Unknown keys, repeated wishes or ids, non-finite numbers and the like raise
    :class:`AllocationInputError` naming the JSON path, e.g. ``children[3].wishes[1]: facility
    'k1' is listed twice``.
    """
    seed, facilities, children = _read_top(data)
    fc = _columns(children, [f.id for f in facilities])
    _prepare(facilities, fc.competing(), seed, validate=fc.validate)  # checks wishes and priorities
    fc.warn(warn)
    cols = fc.cols
    n = len(cols.ids)
    months = cols.months or [None] * n
    lotteries = cols.lotteries or [None] * n
    declined, holds, accepted = fc.rounds or ([frozenset()] * n, [None] * n, [False] * n)
    return DaycareProblem(
        seed=seed,
        facilities=tuple(facilities),
        children=tuple(
            Child(
                id=cid,
                group=group,
                wishes=tuple(w),
                priority=p,
                lottery=None if lot is None else float(lot),
                start_month=m,
                declined=d,
                holds=h,
                accepted=a,
            )
            for cid, group, w, p, lot, m, d, h, a in zip(
                cols.ids, cols.groups, cols.wishes, cols.priorities, lotteries, months, declined, holds, accepted,
                strict=True,
            )
        ),
    )


def input_json(seed: int, facilities: Iterable[Facility], children: Iterable[Child]) -> dict[str, Any]:
    """The input file for these facilities and children, the inverse of :func:`load_json`.

    Optional keys appear only when they carry something, so a main round's file stays as plain
    as the documented example; a follow-up round's file adds the kept lottery numbers and the
    decisions of earlier rounds, and re-running it gives the same result.
    """
    out: list[dict[str, Any]] = []
    for c in children:
        row: dict[str, Any] = {"id": c.id, "group": c.group, "wishes": list(c.wishes), "priority": dict(c.priority)}
        if c.lottery is not None:
            row["lottery"] = c.lottery
        if c.start_month is not None:
            row["start_month"] = c.start_month
        if c.declined:
            row["declined"] = sorted(c.declined)
        if c.holds is not None:
            row["holds"] = c.holds
        if c.accepted:
            row["accepted"] = True
        out.append(row)
    return {"seed": seed, "facilities": [{"id": f.id, "capacity": dict(f.capacity)} for f in facilities], "children": out}


def dump_json(result: DaycareResult, include: Collection[str] = ()) -> dict[str, Any]:
    """The output document: ``{"assignments": {...}, "unassigned": [...]}``.

    ``include`` adds any of ``waiting_lists``, ``cutoffs`` (a list of ``{"facility",
    "capacity_key", "priority", "lottery"}``; null values while places remain), ``lottery``,
    ``seed``, ``rounds`` and ``declined`` (facility ids per child, sorted).
    """
    if unknown := sorted(set(include) - DUMP_EXTRAS):
        raise AllocationInputError("include", f"unknown output part {unknown[0]!r}")
    out: dict[str, Any] = {"assignments": result.assignments, "unassigned": result.unassigned}
    if "waiting_lists" in include:
        out["waiting_lists"] = result.waiting_lists
    if "cutoffs" in include:
        out["cutoffs"] = [
            {
                "facility": fid,
                "capacity_key": key,
                "priority": cut[0] if cut else None,
                "lottery": cut[1] if cut else None,
            }
            for (fid, key), cut in result.cutoffs.items()
        ]
    for name in ("lottery", "seed", "rounds"):
        if name in include:
            out[name] = getattr(result, name)
    if "declined" in include:
        out["declined"] = {cid: sorted(fids) for cid, fids in result.declined.items()}
    return out


def allocate_json(data: object, include: Collection[str] = (), *, warn: Warn | None = None) -> dict[str, Any]:
    """Validate a parsed input document, allocate, and return the output document
    (see :func:`dump_json` for ``include``, :func:`load_json` for ``warn``)."""
    if unknown := sorted(set(include) - DUMP_EXTRAS):
        raise AllocationInputError("include", f"unknown output part {unknown[0]!r}")
    seed, facilities, children = _read_top(data)
    fc = _columns(children, [f.id for f in facilities])
    cols = fc.competing()
    inst = _prepare(facilities, cols, seed, validate=fc.validate)
    fc.warn(warn)
    sol = _solve(inst)
    if include:
        result = _result(inst, sol, declined=cols.declined)
        _check_held(cols, result.assignments)
        return dump_json(result, include)
    # The plain output needs no waiting lists or cut-offs: skip computing them.
    assignments, unassigned = _assignments(inst, sol)
    _check_held(cols, assignments)
    return {"assignments": assignments, "unassigned": unassigned}


def allocate_file(
    input_path: str | PathLike[str],
    output_path: str | PathLike[str],
    include: Collection[str] = (),
    *,
    warn: Warn | None = None,
) -> dict[str, Any]:
    """Read an input file, allocate, and write the output file (UTF-8 JSON); return the output.

    This is the core of ``rathaus allocate daycare --input FILE --output FILE``. It never builds
    a dataclass per child, which keeps 150,000 children within about two seconds. ``warn``
    receives an :class:`InputWarning` per facility the file names but does not define.
    """
    # A parsed file is a few million objects that all stay alive: cyclic garbage collection
    # would traverse them again and again without ever freeing one, so pause it meanwhile.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with open(input_path, encoding="utf-8") as fh:
            data = json.load(fh)
        out = allocate_json(data, include, warn=warn)
        text = json.dumps(out, ensure_ascii=False)
    finally:
        if was_enabled:
            gc.enable()
    with open(output_path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return out
