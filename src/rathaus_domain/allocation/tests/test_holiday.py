from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rathaus_domain.allocation.daycare import AllocationInputError
from rathaus_domain.allocation.holiday import (
    Activity,
    HolidayChild,
    allocate_holiday,
    move_up,
)
from rathaus_domain.allocation.tests import reference

DAY = date(2025, 7, 28)
SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AGE = st.integers(5, 12)
SPAN = st.tuples(st.integers(0, 5), st.integers(1, 2))  # first day offset, length in days


@st.composite
def programmes(draw: st.DrawFn) -> tuple[list[Activity], list[HolidayChild], int]:
    activities = []
    for i in range(draw(st.integers(1, 5))):
        low, high = sorted(draw(st.tuples(AGE, AGE)))
        start, length = draw(SPAN)
        days = tuple(DAY + timedelta(days=start + k) for k in range(length))
        activities.append(Activity(f"a{i}", draw(st.integers(0, 3)), low, high, days))
    wish = st.sampled_from([a.id for a in activities] + ["gone"])
    rows = draw(st.lists(st.tuples(AGE, st.lists(wish, max_size=5), st.integers(0, 3)), max_size=12))
    children = [HolidayChild(f"h{j}", age, tuple(w), m) for j, (age, w, m) in enumerate(rows)]
    return activities, children, draw(st.integers(0, 2**32))


@SETTINGS
@given(programmes())
def test_rounds_respect_capacity_age_dates_and_maximum(programme):
    activities, children, seed = programme
    result = allocate_holiday(activities, children, seed)
    acts = {a.id: a for a in activities}
    for a in activities:
        assert len(result.participants(a.id)) <= a.capacity
        assert result.free_places()[a.id] == a.capacity - len(result.participants(a.id))
    for c in children:
        got = result.assignments[c.id]
        assert len(got) <= c.max_activities
        assert len(set(got)) == len(got)
        days = [d for a in got for d in acts[a].dates]
        assert len(days) == len(set(days)), "two activities on the same day"
        for a in got:
            assert a in c.wishes
            assert acts[a].min_age <= c.age <= acts[a].max_age
        if len(got) < c.max_activities:
            # Non-wasteful: every other wish it could still take is full.
            for a in c.wishes:
                act = acts.get(a)
                if act is None or a in got or not act.min_age <= c.age <= act.max_age:
                    continue
                if set(act.dates) & set(days):
                    continue
                assert result.free_places()[a] == 0


@SETTINGS
@given(programmes())
def test_rounds_equal_the_plain_description_and_reproduce_from_the_seed(programme):
    activities, children, seed = programme
    result = allocate_holiday(activities, children, seed)
    order = np.random.Generator(np.random.PCG64(seed)).permutation(len(children)).tolist()
    assert [result.lottery_positions[children[i].id] for i in order] == list(range(len(children)))
    got, waiting = reference.holiday_rounds(activities, children, result.lottery_positions)
    assert result.assignments == got
    assert result.waiting_lists == waiting
    assert allocate_holiday(activities, children, seed) == result


@SETTINGS
@given(programmes(), st.data())
def test_move_up_fills_the_cancelled_place_and_keeps_every_rule(programme, data):
    activities, children, seed = programme
    result = allocate_holiday(activities, children, seed)
    holders = [(c, a) for c, acts in result.assignments.items() for a in acts]
    if not holders:
        return
    child, activity = data.draw(st.sampled_from(holders))
    moved = move_up(result, child, activity)
    after = moved.result
    acts = {a.id: a for a in activities}
    assert activity not in after.assignments[child]
    for c in children:
        got = after.assignments[c.id]
        assert len(got) <= c.max_activities
        days = [d for a in got for d in acts[a].dates]
        assert len(days) == len(set(days))
    for a in activities:
        assert len(after.participants(a.id)) <= a.capacity
    waiting = result.waiting_lists[activity]
    if moved.moved_up is None:
        assert after.free_places()[activity] == result.free_places()[activity] + 1
        assert all(cid in after.waiting_lists[activity] for cid in waiting)
    else:
        assert moved.moves[0] == (moved.moved_up, activity)
        assert moved.moved_up in waiting
        assert moved.moved_up not in after.waiting_lists[activity]
        # Everyone before it on the list could not take the place.
        assert all(cid in after.waiting_lists[activity] for cid in waiting[: waiting.index(moved.moved_up)])


def test_each_round_hands_out_one_place_per_child_in_lottery_order():
    one_day = (DAY,)
    activities = [
        Activity("popular", 1, 6, 12, one_day),
        Activity("swim", 1, 6, 12, (DAY + timedelta(days=1),)),
        Activity("craft", 2, 6, 12, (DAY + timedelta(days=2),)),
    ]
    children = [
        HolidayChild("x", 9, ("popular", "craft"), 2),
        HolidayChild("y", 9, ("popular", "swim", "craft"), 2),
    ]
    for seed in range(10):
        result = allocate_holiday(activities, children, seed)
        winner = "x" if result.lottery_positions["x"] < result.lottery_positions["y"] else "y"
        if winner == "x":
            assert result.assignments == {"x": ["popular", "craft"], "y": ["swim", "craft"]}
            assert result.waiting_lists == {"popular": ["y"], "swim": [], "craft": []}
        else:
            assert result.assignments == {"x": ["craft"], "y": ["popular", "swim"]}
            assert result.waiting_lists == {"popular": ["x"], "swim": [], "craft": []}


def _seed_drawing(order: list[str], activities, children) -> int:
    """A seed whose lottery draws the children in the given order."""
    for seed in range(1000):
        pos = allocate_holiday(activities, children, seed).lottery_positions
        if sorted(pos, key=pos.__getitem__) == order:
            return seed
    raise AssertionError("no such seed")


def test_move_up_swaps_a_lower_ranked_activity_and_cascades():
    a = Activity("a", 1, 6, 12, (DAY,))
    b = Activity("b", 1, 6, 12, (DAY,))  # same day as a
    c = Activity("c", 1, 6, 12, (DAY + timedelta(days=1),))
    children = [
        HolidayChild("first", 8, ("a", "c"), 1),
        HolidayChild("second", 8, ("a", "b"), 1),
        HolidayChild("third", 8, ("b",), 1),
        HolidayChild("fourth", 8, ("c", "a"), 1),
    ]
    seed = _seed_drawing(["first", "second", "third", "fourth"], [a, b, c], children)
    result = allocate_holiday([a, b, c], children, seed)
    assert result.assignments == {"first": ["a"], "second": ["b"], "third": [], "fourth": ["c"]}
    assert result.waiting_lists == {"a": ["second"], "b": ["third"], "c": []}
    moved = move_up(result, "first", "a")
    # second ranks a above b, so it swaps; the place in b then goes to third.
    assert moved.moves == [("second", "a"), ("third", "b")]
    assert moved.moved_up == "second"
    assert moved.result.assignments == {"first": [], "second": ["a"], "third": ["b"], "fourth": ["c"]}
    assert moved.result.waiting_lists == {"a": [], "b": [], "c": []}


def test_move_up_skips_a_child_that_would_lose_a_better_activity():
    b = Activity("b", 1, 6, 12, (DAY,))
    a = Activity("a", 1, 6, 12, (DAY,))  # same day as b
    z = Activity("z", 1, 6, 12, (DAY + timedelta(days=1),))
    children = [
        HolidayChild("p1", 8, ("b",)),
        HolidayChild("p2", 8, ("a",)),
        HolidayChild("k", 8, ("b", "a", "z")),
    ]
    seed = _seed_drawing(["p1", "p2", "k"], [b, a, z], children)
    result = allocate_holiday([b, a, z], children, seed)
    assert result.assignments == {"p1": ["b"], "p2": ["a"], "k": ["z"]}
    assert result.waiting_lists == {"b": ["k"], "a": ["k"], "z": []}
    first = move_up(result, "p1", "b")
    assert first.moves == [("k", "b")]  # k gives up z, its last wish
    assert first.result.assignments["k"] == ["b"]
    second = move_up(first.result, "p2", "a")
    assert second.moved_up is None  # a would cost k its first wish b
    assert second.result.waiting_lists["a"] == ["k"]
    assert second.result.free_places() == {"b": 0, "a": 1, "z": 1}


def test_move_up_with_nobody_waiting_leaves_a_free_place():
    a = Activity("a", 2, 6, 12, (DAY,))
    result = allocate_holiday([a], [HolidayChild("k", 7, ("a",))], 1)
    moved = move_up(result, "k", "a")
    assert moved.moved_up is None
    assert moved.result.free_places() == {"a": 2}
    with pytest.raises(AllocationInputError, match="holds no place"):
        move_up(moved.result, "k", "a")


def test_invalid_programmes_are_rejected():
    a = Activity("a", 1, 6, 12, (DAY,))
    with pytest.raises(AllocationInputError, match=r"activities\[1\]\.id: duplicate id 'a'"):
        allocate_holiday([a, a], [], 1)
    with pytest.raises(AllocationInputError, match=r"children\[0\]\.max_activities"):
        allocate_holiday([a], [HolidayChild("k", 7, ("a",), -1)], 1)


def test_move_up_never_gives_up_a_place_the_child_did_not_wish():
    a = Activity("a", 1, 6, 12, (DAY,))
    staff = Activity("staff", 1, 6, 12, (DAY,))  # same day, placed by staff outside the wishes
    result = allocate_holiday([a, staff], [HolidayChild("p", 8, ("a",)), HolidayChild("k", 8, ("a",))], 0)
    holder = result.participants("a")[0]
    waiting = "k" if holder == "p" else "p"
    edited = replace(result, assignments={holder: ["a"], waiting: ["staff"]})
    moved = move_up(edited, holder, "a")
    assert moved.moved_up is None
    assert moved.result.assignments[waiting] == ["staff"]


def test_rounds_snake_so_the_child_drawn_last_picks_first_in_round_two():
    x = Activity("x", 1, 6, 12, (DAY,))
    y = Activity("y", 1, 6, 12, (DAY + timedelta(days=1),))
    w = Activity("w", 1, 6, 12, (DAY + timedelta(days=2),))  # both want it in round 2
    children = [HolidayChild("anna", 8, ("x", "w"), 2), HolidayChild("ben", 8, ("y", "w"), 2)]
    for order in (["anna", "ben"], ["ben", "anna"]):
        first, last = order
        result = allocate_holiday([x, y, w], children, _seed_drawing(order, [x, y, w], children))
        # In a fixed lottery order the first-drawn child would take w as well.
        assert "w" in result.assignments[last]
        assert "w" not in result.assignments[first]
        assert result.waiting_lists["w"] == [first]


def test_rounds_alternate_direction_in_round_three_again():
    acts = [Activity(name, 1, 6, 12, (DAY + timedelta(days=k),)) for k, name in enumerate("abcde")]
    children = [HolidayChild("p", 8, ("a", "c", "e"), 3), HolidayChild("q", 8, ("b", "d", "e"), 3)]
    result = allocate_holiday(acts, children, _seed_drawing(["p", "q"], acts, children))
    # Round 1 forward: p a, q b. Round 2 backward: q d, p c. Round 3 forward: p e, q waits.
    assert result.assignments == {"p": ["a", "c", "e"], "q": ["b", "d"]}
    assert result.waiting_lists["e"] == ["q"]


def test_waiting_lists_put_children_without_a_place_first():
    full = Activity("full", 1, 6, 12, (DAY,))
    other = Activity("other", 1, 6, 12, (DAY + timedelta(days=1),))
    children = [
        HolidayChild("holder", 8, ("full",)),
        HolidayChild("early", 8, ("full", "other")),
        HolidayChild("late", 8, ("full", "other")),
    ]
    seed = _seed_drawing(["holder", "early", "late"], [full, other], children)
    result = allocate_holiday([full, other], children, seed)
    assert result.assignments == {"holder": ["full"], "early": ["other"], "late": []}
    # "late" was drawn after "early" but got nothing, so it comes first.
    assert result.waiting_lists == {"full": ["late", "early"], "other": ["late"]}
    moved = move_up(result, "holder", "full")
    assert moved.moves == [("late", "full")]
    assert moved.result.assignments == {"holder": [], "early": ["other"], "late": ["full"]}
