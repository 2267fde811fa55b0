from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rathaus_domain.allocation import daycare
from rathaus_domain.allocation.daycare import (
    DUMP_EXTRAS,
    AllocationInputError,
    Child,
    Facility,
    allocate,
    allocate_json,
    capacity_key,
    dump_json,
    explain,
    follow_up,
    follow_up_children,
    input_json,
    load_json,
)
from rathaus_domain.allocation.tests import reference

GROUPS = ("U3", "Ü3")
# Generating an instance costs hypothesis ~100 draws; these budgets keep the suite near 10 s.
FAST = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Strategies built once: hypothesis validates every new strategy object, which is slow.
CAPACITY = st.integers(0, 3)
MONTH_CAPACITY = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 2))
GROUP = st.sampled_from(GROUPS)
PRIORITY = st.sampled_from([None, 0, 1, 2, 2.5])  # None: no priority given for that wish
LOTTERY = st.sampled_from([None, None, 0.1, 0.5, 0.5, 0.9])  # repeated numbers on purpose
MONTH = st.sampled_from([None, None, "2025-08", "2025-09"])


@st.composite
def instances(
    draw: st.DrawFn, max_children: int = 12, max_facilities: int = 4, months: bool = True
) -> tuple[list[Facility], list[Child], int]:
    """Small instances with many ties: few priority values, repeated lottery numbers, unknown
    and repeated wishes, capacities of 0, and start months with their own places."""
    n_fac = draw(st.integers(1, max_facilities))
    facilities = []
    for i in range(n_fac):
        caps = draw(st.tuples(CAPACITY, CAPACITY, MONTH_CAPACITY, MONTH_CAPACITY))
        capacity = {GROUPS[0]: caps[0], GROUPS[1]: caps[1]}
        for g, extra in zip(GROUPS, caps[2:], strict=True):
            if months and extra is not None:
                capacity[f"{g}@2025-08"] = extra
        facilities.append(Facility(f"k{i}", capacity))
    wishes_of = st.lists(st.sampled_from([f.id for f in facilities] + ["unknown"]), max_size=5)
    child = st.tuples(GROUP, wishes_of, LOTTERY, MONTH if months else st.none())
    rows = draw(st.lists(child, max_size=max_children))
    # Ids in an order unrelated to input order, so "in id order" and input order differ.
    ids = draw(st.permutations([f"c{j:02d}" for j in range(len(rows))]))
    children = []
    for cid, (group, wishes, lottery, month) in zip(ids, rows, strict=True):
        points = draw(st.lists(PRIORITY, min_size=len(wishes), max_size=len(wishes)))
        priority = {f: p for f, p in zip(wishes, points, strict=True) if p is not None}
        children.append(Child(cid, group, tuple(wishes), priority, lottery, month))
    return facilities, children, draw(st.integers(0, 2**32))


def slot_counts(facilities: list[Facility], children: list[Child], assignments: dict[str, str]):
    counts: dict[tuple[str, str], int] = {}
    for c in children:
        if c.id in assignments:
            slot = reference.slot_for(facilities, c, assignments[c.id])
            assert slot is not None
            counts[slot] = counts.get(slot, 0) + 1
    return counts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_result_is_the_stable_child_optimal_matching_within_capacity(instance):
    facilities, children, seed = instance
    result = allocate(facilities, children, seed)
    # Child-optimal: the sequential textbook algorithm gives the same matching.
    assert result.assignments == reference.deferred_acceptance(facilities, children, result.lottery)
    # Stable and non-wasteful: no child prefers a facility with a free place for it, or one
    # that admitted a child it ranks lower.
    assert reference.blocking_pairs(facilities, children, result) == []
    caps = reference.capacities(facilities)
    for slot, count in slot_counts(facilities, children, result.assignments).items():
        assert count <= caps[slot]
    by_id = {c.id: c for c in children}
    for cid, fid in result.assignments.items():
        assert fid in by_id[cid].wishes
    assert sorted(result.unassigned) == result.unassigned
    assert set(result.unassigned) | set(result.assignments) == set(by_id)
    assert not set(result.unassigned) & set(result.assignments)


@FAST
@given(instances())
def test_waiting_lists_hold_exactly_the_children_a_facility_turned_away(instance):
    facilities, children, seed = instance
    result = allocate(facilities, children, seed)
    rank = reference.facility_rank(children, result.lottery)
    for fac in facilities:
        expected = []
        for c in children:
            wished = [f for f, _ in reference.acceptable(facilities, c)]
            if fac.id in wished and result.assignments.get(c.id) != fac.id:
                got = result.assignments.get(c.id)
                if got is None or wished.index(fac.id) < wished.index(got):
                    expected.append(c.id)
        expected.sort(key=lambda cid: rank[cid, fac.id])
        assert result.waiting_lists[fac.id] == expected


@FAST
@given(instances())
def test_cutoffs_name_the_last_admitted_child_of_full_places(instance):
    facilities, children, seed = instance
    result = allocate(facilities, children, seed)
    rank = reference.facility_rank(children, result.lottery)
    counts = slot_counts(facilities, children, result.assignments)
    by_id = {c.id: c for c in children}
    expected = {}
    for (fid, key), cap in reference.capacities(facilities).items():
        if cap <= 0:
            continue
        holders = [
            cid
            for cid, f in result.assignments.items()
            if f == fid and reference.slot_for(facilities, by_id[cid], fid) == (fid, key)
        ]
        if counts.get((fid, key), 0) < cap:
            expected[fid, key] = None
        else:
            last = max(holders, key=lambda cid: rank[cid, fid])
            expected[fid, key] = (float(by_id[last].priority.get(fid, 0)), result.lottery[last])
    assert result.cutoffs == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_same_seed_same_result_and_lottery_drawn_from_pcg64(instance):
    facilities, children, seed = instance
    first, second = allocate(facilities, children, seed), allocate(facilities, children, seed)
    assert first == second
    drawn = np.random.Generator(np.random.PCG64(seed)).random(len(children)).tolist()
    assert first.lottery == {c.id: (c.lottery if c.lottery is not None else x) for c, x in zip(children, drawn, strict=True)}
    assert first.seed == seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_children=7, max_facilities=3, months=False), st.data())
def test_no_child_gains_by_reporting_other_wishes(instance, data):
    facilities, children, seed = instance
    if not children:
        return
    liar = data.draw(st.integers(0, len(children) - 1))
    truth = children[liar]
    true_list = [f for f, _ in reference.acceptable(facilities, truth)]

    def utility(fid: str | None) -> int:
        # Position in the true list; unplaced is next; a facility not truly wished is worst.
        if fid is None:
            return len(true_list)
        return true_list.index(fid) if fid in true_list else len(true_list) + 1

    honest = utility(allocate(facilities, children, seed).assignments.get(truth.id))
    ids = [f.id for f in facilities]
    for size in range(len(ids) + 1):
        for report in itertools.permutations(ids, size):
            lied = [*children[:liar], replace(truth, wishes=report), *children[liar + 1 :]]
            got = allocate(facilities, lied, seed).assignments.get(truth.id)
            assert utility(got) >= honest, (report, got)


def test_lexsort_fallback_for_huge_keys_gives_the_same_result(monkeypatch):
    facilities, children, seed = _random_instance(400, 12, seed=3)
    expected = allocate(facilities, children, seed)
    monkeypatch.setattr(daycare, "_KEY_LIMIT", 0)
    assert allocate(facilities, children, seed) == expected


def test_repeated_wishes_in_long_ragged_lists_are_skipped():
    facilities = [Facility(f"k{i}", {"U3": 1}) for i in range(3)]
    long_list = tuple(f"x{i}" for i in range(3000)) + ("k0", "k0", "k1")
    children = [Child("a", "U3", long_list), *(Child(f"b{i}", "U3", ("k2",)) for i in range(3))]
    result = allocate(facilities, children, 1)
    assert result.assignments["a"] == "k0"
    assert result.waiting_lists["k0"] == []
    winner = next(c for c, f in result.assignments.items() if f == "k2")
    assert sorted([winner, *result.waiting_lists["k2"]]) == ["b0", "b1", "b2"]


def _random_instance(n: int, n_fac: int, seed: int) -> tuple[list[Facility], list[Child], int]:
    rng = np.random.default_rng(seed)
    facilities = [Facility(f"k{i}", {"U3": int(rng.integers(0, 6)), "Ü3": int(rng.integers(0, 12))}) for i in range(n_fac)]
    weights = rng.lognormal(0, 1, n_fac)
    weights /= weights.sum()
    children = []
    for j in range(n):
        wishes = [f"k{i}" for i in dict.fromkeys(rng.choice(n_fac, 5, p=weights).tolist())]
        children.append(
            Child(
                f"c{j}",
                GROUPS[int(rng.integers(0, 2))],
                tuple(wishes),
                {f: int(rng.integers(0, 4)) for f in wishes},
            )
        )
    return facilities, children, seed


def test_medium_instance_matches_reference_and_is_stable():
    facilities, children, seed = _random_instance(3000, 40, seed=11)
    result = allocate(facilities, children, seed)
    assert result.assignments == reference.deferred_acceptance(facilities, children, result.lottery)
    assert reference.blocking_pairs(facilities, children, result) == []
    assert result.unassigned  # the instance is oversubscribed
    assert result.rounds > 1


# -- rules in examples ----------------------------------------------------------------------


def test_higher_priority_wins_and_lottery_breaks_ties():
    facilities = [Facility("k1", {"U3": 1}), Facility("k2", {"U3": 2})]
    children = [
        Child("a", "U3", ("k1", "k2"), {"k1": 1}, lottery=0.1),
        Child("b", "U3", ("k1", "k2"), {"k1": 2}, lottery=0.9),
        Child("c", "U3", ("k2",), lottery=0.3),
        Child("d", "U3", ("k2",), lottery=0.2),
    ]
    result = allocate(facilities, children, seed=7)
    assert result.assignments == {"a": "k2", "b": "k1", "d": "k2"}
    assert result.unassigned == ["c"]
    assert result.waiting_lists == {"k1": ["a"], "k2": ["c"]}
    assert result.cutoffs == {("k1", "U3"): (2.0, 0.9), ("k2", "U3"): (0.0, 0.2)}


def test_equal_lottery_numbers_fall_back_to_input_order():
    facilities = [Facility("k1", {"U3": 1})]
    children = [Child("z", "U3", ("k1",), lottery=0.5), Child("a", "U3", ("k1",), lottery=0.5)]
    assert allocate(facilities, children, 1).assignments == {"z": "k1"}


def test_wishes_without_places_for_the_group_or_unknown_are_skipped():
    facilities = [Facility("k1", {"Ü3": 5, "U3": 0}), Facility("k2", {"U3": 1})]
    child = Child("a", "U3", ("nowhere", "k1", "k2"))
    result = allocate(facilities, [child], 1)
    assert result.assignments == {"a": "k2"}
    assert result.waiting_lists == {"k1": [], "k2": []}
    assert result.cutoffs == {("k1", "Ü3"): None, ("k2", "U3"): (0.0, result.lottery["a"])}


def test_start_month_places_are_separate_from_the_group_places():
    facility = Facility("k1", {"U3": 1, "U3@2025-08": 1, "U3@2025-09": 0})
    assert capacity_key(facility.capacity, "U3", "2025-08") == "U3@2025-08"
    assert capacity_key(facility.capacity, "U3", "2025-10") == "U3"
    assert capacity_key(facility.capacity, "U3", None) == "U3"
    assert capacity_key(facility.capacity, "U3", "2025-09") is None  # listed with 0 places
    assert capacity_key(facility.capacity, "Ü3", None) is None
    children = [
        Child("aug1", "U3", ("k1",), {"k1": 3}, start_month="2025-08"),
        Child("aug2", "U3", ("k1",), {"k1": 2}, start_month="2025-08"),
        Child("oct", "U3", ("k1",), {"k1": 0}, start_month="2025-10"),
        Child("sep", "U3", ("k1",), {"k1": 9}, start_month="2025-09"),
    ]
    result = allocate([facility], children, 1)
    assert result.assignments == {"aug1": "k1", "oct": "k1"}
    assert result.unassigned == ["aug2", "sep"]


def test_duplicate_child_ids_are_rejected():
    with pytest.raises(AllocationInputError, match=r"children\[1\]\.id: duplicate id 'a'"):
        allocate([], [Child("a", "U3", ()), Child("a", "U3", ())], 1)


def test_non_finite_priority_is_rejected():
    with pytest.raises(AllocationInputError, match=r"children\[0\]\.priority"):
        allocate([Facility("k1", {"U3": 1})], [Child("a", "U3", ("k1",), {"k1": float("nan")})], 1)


def test_empty_instance():
    result = allocate([], [], 5)
    assert (result.assignments, result.unassigned, result.waiting_lists, result.cutoffs) == (
        {},
        [],
        {},
        {},
    )


# -- explanations ---------------------------------------------------------------------------


def test_explanations_give_places_cutoff_class_and_own_class_only():
    facilities = [
        Facility("k1", {"U3": 2}),
        Facility("k2", {"U3": 1}),
        Facility("k3", {"Ü3": 4}),
        Facility("k4", {"U3": 3}),
        Facility("k5", {"U3": 1}),
    ]
    children = [
        Child("mine", "U3", ("k1", "k2", "k3", "k9", "k4", "k5", "k4"), {"k1": 1, "k2": 2}, 0.5),
        Child("other1", "U3", ("k1",), {"k1": 2}, 0.7),
        Child("other2", "U3", ("k1",), {"k1": 3}, 0.8),
        Child("other3", "U3", ("k2",), {"k2": 2}, 0.1),
    ]
    result = allocate(facilities, children, 1)
    assert result.assignments["mine"] == "k4"
    texts = [e.text_de for e in explain(result, children, facilities, "mine")]
    assert texts == [
        "Wunsch 1 (k1): 2 Plätze; der letzte Platz ging an Prioritätsstufe 2; Ihr Kind hatte "
        "Stufe 1 (höhere Stufen haben Vorrang).",
        "Wunsch 2 (k2): 1 Platz; der letzte Platz ging an Prioritätsstufe 2, die Stufe Ihres "
        "Kindes; innerhalb der Stufe hat das Los entschieden.",
        "Wunsch 3 (k3): keine Plätze für die Gruppe U3 zu Ihrem Wunschtermin.",
        "Wunsch 4 (k9): diese Einrichtung ist nicht bekannt.",
        "Wunsch 5 (k4): 3 Plätze; Ihr Kind hat hier einen Platz erhalten (Prioritätsstufe 0).",
        "Wunsch 6 (k5): 1 Platz; nicht mehr berücksichtigt, weil Ihr Kind einen Platz bei einem höheren Wunsch erhalten hat.",
        "Wunsch 7 (k4): doppelt angegeben; zählt nur einmal.",
    ]
    english = explain(result, children, facilities, "mine")
    assert english[0].text("en") == (
        "Wish 1 (k1): 2 places; the last place went to priority class 2; your child was in class 1 (higher classes come first)."
    )
    assert [e.outcome for e in english] == [
        "rejected",
        "rejected",
        "no_places",
        "unknown_facility",
        "admitted",
        "not_considered",
        "duplicate",
    ]
    assert [e.admitted for e in english] == [False, False, False, False, True, False, False]
    assert (english[0].places, english[0].child_priority, english[0].cutoff_priority) == (2, 1, 2)
    everything = " ".join(e.text_de + e.text_en for e in english)
    for secret in ("other1", "other2", "other3", "0.7", "0.8", "0.1"):
        assert secret not in everything


def test_explain_unknown_child_raises():
    with pytest.raises(AllocationInputError, match="unknown child 'x'"):
        explain(allocate([], [], 1), [], [], "x")


# -- follow-up rounds -----------------------------------------------------------------------


def _follow_up_case() -> tuple[list[Facility], list[Child]]:
    facilities = [Facility("k1", {"U3": 1}), Facility("k2", {"U3": 1}), Facility("k3", {"U3": 1})]
    children = [
        Child("a", "U3", ("k1", "k2"), {"k1": 3}, 0.1),
        Child("b", "U3", ("k1", "k2"), {"k1": 2, "k2": 2}, 0.2),
        Child("c", "U3", ("k2", "k1", "k3"), {"k2": 1}, 0.3),
        Child("d", "U3", ("k1", "k3"), {}, 0.4),
    ]
    return facilities, children


def test_follow_up_reoffers_declined_places_and_keeps_accepted_ones():
    facilities, children = _follow_up_case()
    first = allocate(facilities, children, 1)
    assert first.assignments == {"a": "k1", "b": "k2", "c": "k3"}
    assert first.unassigned == ["d"]
    # a declines k1; b accepts k2; c does not answer and keeps k3 as a fallback.
    second = follow_up(first, {"a"}, {"b"}, facilities, children, seed=99)
    assert second.assignments == {"b": "k2", "c": "k1", "d": "k3"}
    assert second.unassigned == ["a"]
    assert second.declined == {"a": frozenset({"k1"})}
    assert second.lottery == first.lottery  # waiting lists keep their order
    # a's explanation mentions the declined offer.
    texts = [e.outcome for e in explain(second, children, facilities, "a")]
    assert texts == ["declined", "rejected"]


def test_pending_offer_is_a_safe_fallback():
    facilities, children = _follow_up_case()
    first = allocate(facilities, children, 1)
    second = follow_up(first, set(), {"a", "b"}, facilities, children, seed=99)
    assert second.assignments == {"a": "k1", "b": "k2", "c": "k3"}
    assert second.waiting_lists["k1"] == ["c", "d"]


def test_follow_up_admits_new_children_with_a_fresh_lottery():
    facilities, children = _follow_up_case()
    first = allocate(facilities, children, 1)
    late = Child("e", "U3", ("k1",), {"k1": 9})
    second = follow_up(first, {"a"}, {"b", "c"}, facilities, [*children, late], seed=5)
    assert second.assignments["e"] == "k1"
    assert second.lottery["e"] == np.random.Generator(np.random.PCG64(5)).random(5)[4]


def test_follow_up_rejects_answers_that_do_not_fit():
    facilities, children = _follow_up_case()
    first = allocate(facilities, children, 1)
    with pytest.raises(AllocationInputError, match="'d' had no offer"):
        follow_up(first, {"d"}, set(), facilities, children, 1)
    with pytest.raises(AllocationInputError, match="both accepted and declined"):
        follow_up(first, {"a"}, {"a"}, facilities, children, 1)
    shrunk = [Facility("k1", {"U3": 0}), *facilities[1:]]
    with pytest.raises(AllocationInputError, match="held by child .a. no longer fits"):
        follow_up(first, set(), {"a"}, shrunk, children, 1)


@FAST
@given(instances(months=False), st.data())
def test_follow_up_keeps_accepted_places_and_never_worsens_open_offers(instance, data):
    facilities, children, seed = instance
    first = allocate(facilities, children, seed)
    offered = sorted(first.assignments)
    answers = data.draw(st.lists(st.sampled_from(["accept", "decline", "wait"]), min_size=len(offered), max_size=len(offered)))
    accepted = {c for c, a in zip(offered, answers, strict=True) if a == "accept"}
    declined = {c for c, a in zip(offered, answers, strict=True) if a == "decline"}
    second = follow_up(first, declined, accepted, facilities, children, seed + 1)
    for cid in accepted:
        assert second.assignments[cid] == first.assignments[cid]
    for cid in declined:
        assert second.assignments.get(cid) != first.assignments[cid]
    pending = set(offered) - accepted - declined
    for cid in pending:  # never worse than the open offer
        wishes = next(c for c in children if c.id == cid).wishes
        assert wishes.index(second.assignments[cid]) <= wishes.index(first.assignments[cid])
    caps = reference.capacities(facilities)
    for slot, count in slot_counts(facilities, children, second.assignments).items():
        assert count <= caps[slot]


@FAST
@given(instances(), st.data())
def test_a_follow_up_round_is_reproduced_from_its_input_file(instance, data):
    facilities, children, seed = instance
    # The file format refuses repeated wishes (dataclasses skip them); the rest is kept as drawn.
    children = [replace(c, wishes=tuple(dict.fromkeys(c.wishes))) for c in children]
    first = allocate(facilities, children, seed)
    offered = sorted(first.assignments)
    answers = data.draw(st.lists(st.sampled_from(["accept", "decline", "wait"]), min_size=len(offered), max_size=len(offered)))
    accepted = {c for c, a in zip(offered, answers, strict=True) if a == "accept"}
    declined = {c for c, a in zip(offered, answers, strict=True) if a == "decline"}
    late = Child("late", "U3", tuple(f.id for f in facilities[:2]), {facilities[0].id: 1})
    prepared = follow_up_children(first, declined, accepted, [*children, late])
    second = follow_up(first, declined, accepted, facilities, [*children, late], seed + 1)

    document = json.loads(json.dumps(input_json(seed + 1, facilities, prepared)))
    assert load_json(document).children == tuple(prepared)
    stored = json.loads(json.dumps(dump_json(second, DUMP_EXTRAS)))
    assert json.loads(json.dumps(allocate_json(document, include=DUMP_EXTRAS))) == stored


def test_a_follow_up_file_carries_the_decisions_of_earlier_rounds():
    facilities, children = _follow_up_case()
    first = allocate(facilities, children, 1)
    # a declines k1; b accepts k2; c does not answer and keeps k3 as a fallback.
    document = input_json(99, facilities, follow_up_children(first, {"a"}, {"b"}, children))
    assert document["children"][:3] == [
        {"id": "a", "group": "U3", "wishes": ["k1", "k2"], "priority": {"k1": 3}, "lottery": 0.1, "declined": ["k1"]},
        {"id": "b", "group": "U3", "wishes": ["k1", "k2"], "priority": {"k1": 2, "k2": 2}, "lottery": 0.2,
         "holds": "k2", "accepted": True},
        {"id": "c", "group": "U3", "wishes": ["k2", "k1", "k3"], "priority": {"k2": 1}, "lottery": 0.3, "holds": "k3"},
    ]
    assert allocate_json(document) == {"assignments": {"b": "k2", "c": "k1", "d": "k3"}, "unassigned": ["a"]}
    # Without them the same children and lottery numbers simply repeat the main round.
    plain = {**document, "children": [{k: v for k, v in c.items() if k not in ("declined", "holds", "accepted")}
                                      for c in document["children"]]}
    assert allocate_json(plain)["assignments"] == first.assignments


def test_a_main_round_file_stays_as_plain_as_the_documented_example():
    facilities, children = _follow_up_case()
    plain = [replace(c, lottery=None) for c in children]
    document = input_json(1, facilities, plain)
    assert document["children"][0] == {"id": "a", "group": "U3", "wishes": ["k1", "k2"], "priority": {"k1": 3}}
    assert allocate_json(document) == dump_json(allocate(facilities, plain, 1))
