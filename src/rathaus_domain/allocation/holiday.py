"""Holiday programme (Ferienbörse): a published, reproducible lottery over ranked wishes.

Random serial dictatorship in rounds, in snake order. A seeded random permutation gives every
child a lottery position. In each round every child that can still receive something takes its
best remaining wish that has a free place, fits its age and does not share a day with an
activity it already has. Round 1 runs in lottery order, round 2 in reverse lottery order, round
3 in lottery order again, and so on: the child drawn first picks first in round 1 but last in
round 2, so an early lottery position is not an advantage in every round. Rounds repeat until
every child has its maximum or has run out of wishes. (Every child still choosing in round r
holds r - 1 places, so "fewer places first" would change nothing within a round; the snake
order is what spreads the advantage of the draw.)

A child that finds a wished activity full joins its waiting list. Waiting lists put children
with fewer places from the draw first (a child that got nothing comes before one that got an
activity), then go by lottery position. When a participant cancels, :func:`move_up` gives the
place to the first child on the waiting list who can take it, possibly by giving up activities
it ranked lower, and the places given up move up in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from rathaus_domain.allocation.daycare import AllocationInputError


@dataclass(frozen=True, slots=True)
class Activity:
    """An activity with its places, the ages it admits (inclusive) and the days it occupies."""

    id: str
    capacity: int
    min_age: int
    max_age: int
    dates: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class HolidayChild:
    """A child with ranked wishes (activity ids, best first) and a maximum number of activities."""

    id: str
    age: int
    wishes: tuple[str, ...]
    max_activities: int = 1


@dataclass(frozen=True)
class HolidayResult:
    """The allocation: activities per child (in the order received), waiting lists per activity
    (child ids, fewer places from the draw first, then by lottery position) and every child's
    lottery position (0 = drawn first)."""

    seed: int
    assignments: dict[str, list[str]]
    waiting_lists: dict[str, list[str]]
    lottery_positions: dict[str, int]
    activities: dict[str, Activity] = field(repr=False, compare=False)
    children: dict[str, HolidayChild] = field(repr=False, compare=False)

    def participants(self, activity_id: str) -> list[str]:
        """Child ids holding a place in the activity, by lottery position."""
        ids = [c for c, acts in self.assignments.items() if activity_id in acts]
        return sorted(ids, key=self.lottery_positions.__getitem__)

    def free_places(self) -> dict[str, int]:
        """Places still free per activity."""
        taken = dict.fromkeys(self.activities, 0)
        for acts in self.assignments.values():
            for a in acts:
                taken[a] += 1
        return {a: act.capacity - taken[a] for a, act in self.activities.items()}


@dataclass(frozen=True, slots=True)
class MoveUp:
    """The result after a cancellation and the moves it caused, as (child, activity) pairs:
    first the child that took the cancelled place, then those that took places given up."""

    result: HolidayResult
    moves: list[tuple[str, str]]

    @property
    def moved_up(self) -> str | None:
        """The child that took the cancelled place, if any."""
        return self.moves[0][0] if self.moves else None


def _check(activities: Sequence[Activity], children: Sequence[HolidayChild]) -> None:
    seen: set[str] = set()
    for i, a in enumerate(activities):
        if a.id in seen:
            raise AllocationInputError(f"activities[{i}].id", f"duplicate id {a.id!r}")
        if a.capacity < 0:
            raise AllocationInputError(f"activities[{i}].capacity", "must not be negative")
        seen.add(a.id)
    seen = set()
    for i, c in enumerate(children):
        if c.id in seen:
            raise AllocationInputError(f"children[{i}].id", f"duplicate id {c.id!r}")
        if c.max_activities < 0:
            raise AllocationInputError(f"children[{i}].max_activities", "must not be negative")
        seen.add(c.id)


def allocate_holiday(activities: Sequence[Activity], children: Sequence[HolidayChild], seed: int) -> HolidayResult:
    """Allocate activities by random serial dictatorship in snake-order rounds (see the module
    docstring).

    Wishes for unknown activities, outside the child's age range or repeated are skipped. The
    lottery is ``numpy.random.Generator(PCG64(seed)).permutation`` over the children in input
    order, so the same input and seed give the same result.
    """
    _check(activities, children)
    acts = {a.id: a for a in activities}
    free = {a.id: a.capacity for a in activities}
    days = {a.id: frozenset(a.dates) for a in activities}
    order = np.random.Generator(np.random.PCG64(seed)).permutation(len(children)).tolist()
    position = [0] * len(children)
    for pos, i in enumerate(order):
        position[i] = pos

    got: list[list[str]] = [[] for _ in children]
    busy: list[set[date]] = [set() for _ in children]
    ptr = [0] * len(children)
    waiting: dict[str, set[int]] = {a.id: set() for a in activities}
    active = [i for i, c in enumerate(children) if c.max_activities > 0 and c.wishes]
    forward = True
    while active:
        active.sort(key=position.__getitem__, reverse=not forward)
        forward = not forward
        still: list[int] = []
        for i in active:
            child = children[i]
            # Skipped wishes never become possible later in the run (places only fill up and a
            # child's days only grow), so each wish is looked at once.
            while ptr[i] < len(child.wishes):
                aid = child.wishes[ptr[i]]
                ptr[i] += 1
                act = acts.get(aid)
                if act is None or aid in got[i] or not act.min_age <= child.age <= act.max_age:
                    continue
                if days[aid] & busy[i]:
                    continue
                if free[aid] == 0:
                    waiting[aid].add(i)
                    continue
                free[aid] -= 1
                got[i].append(aid)
                busy[i] |= days[aid]
                break
            if len(got[i]) < child.max_activities and ptr[i] < len(child.wishes):
                still.append(i)
        active = still

    return HolidayResult(
        seed=seed,
        assignments={c.id: got[i] for i, c in enumerate(children)},
        waiting_lists={aid: [children[i].id for i in sorted(w, key=lambda i: (len(got[i]), position[i]))]
                       for aid, w in waiting.items()},
        lottery_positions={c.id: position[i] for i, c in enumerate(children)},
        activities=acts,
        children={c.id: c for c in children},
    )


def move_up(result: HolidayResult, cancelled_child: str, activity: str) -> MoveUp:
    """Cancel ``cancelled_child``'s place in ``activity`` and fill it from the waiting list.

    The place goes to the first child on the waiting list (in its published order) who can take it:
    one whose other activities do not share a day with it and who is below its maximum, where
    the child may give up activities it ranked *lower* than this one to make room (overlapping
    ones, then its lowest-ranked one if it is at its maximum). Places given up are filled the
    same way in turn. Children who cannot take the place stay on the list. The cancelling child
    does not join the waiting list.
    """
    held = result.assignments.get(cancelled_child)
    if held is None or activity not in held:
        raise AllocationInputError("cancelled_child", f"child {cancelled_child!r} holds no place in {activity!r}")
    assignments = {c: list(acts) for c, acts in result.assignments.items()}
    waiting = {a: list(w) for a, w in result.waiting_lists.items()}
    assignments[cancelled_child].remove(activity)
    moves: list[tuple[str, str]] = []
    freed = [activity]
    while freed:
        aid = freed.pop(0)
        for cid in waiting.get(aid, []):
            give_up = _make_room(result, assignments.setdefault(cid, []), cid, aid)
            if give_up is None:
                continue
            waiting[aid].remove(cid)
            for old in give_up:
                assignments[cid].remove(old)
            assignments[cid].append(aid)
            moves.append((cid, aid))
            freed.extend(give_up)
            break
    new = HolidayResult(
        seed=result.seed,
        assignments=assignments,
        waiting_lists=waiting,
        lottery_positions=result.lottery_positions,
        activities=result.activities,
        children=result.children,
    )
    return MoveUp(result=new, moves=moves)


def _make_room(result: HolidayResult, held: list[str], cid: str, aid: str) -> list[str] | None:
    """Activities ``cid`` must give up to take ``aid``, or ``None`` if it cannot take it or would
    lose an activity it ranks higher."""
    child, act = result.children.get(cid), result.activities.get(aid)
    if child is None or act is None or aid in held or not act.min_age <= child.age <= act.max_age:
        return None
    rank = {a: r for r, a in reversed(list(enumerate(child.wishes)))}
    wanted = rank.get(aid, len(child.wishes))
    # A place the child holds without having wished it (placed by staff) is never given up.
    kept = {a: rank.get(a, -1) for a in held}
    days = frozenset(act.dates)
    clash = [a for a in held if a in result.activities and days & frozenset(result.activities[a].dates)]
    if any(kept[a] < wanted for a in clash):
        return None
    rest = sorted((a for a in held if a not in clash), key=kept.__getitem__)
    if len(rest) + 1 <= child.max_activities:
        return clash
    if child.max_activities == 0 or kept[rest[-1]] < wanted:
        return None
    return [*clash, rest[-1]]
