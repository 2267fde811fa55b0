from __future__ import annotations

import gc
import json
import math

import pytest

from rathaus_domain.allocation.daycare import (
    AllocationInputError,
    Child,
    Facility,
    InputWarning,
    allocate,
    allocate_file,
    allocate_json,
    dump_json,
    load_json,
)

ISSUE_EXAMPLE = {
    "seed": 1,
    "facilities": [{"id": "k1", "capacity": {"U3": 10, "Ü3": 20}}],
    "children": [{"id": "c1", "group": "U3", "wishes": ["k1", "k2"], "priority": {"k1": 2, "k2": 0}}],
}


def valid() -> dict:
    return {
        "seed": 3,
        "facilities": [
            {"id": "k1", "capacity": {"U3": 1, "Ü3@2025-08": 1}},
            {"id": "k2", "capacity": {"U3": 2}},
        ],
        "children": [
            {"id": "a", "group": "U3", "wishes": ["k1", "k2"], "priority": {"k1": 1}},
            {"id": "b", "group": "U3", "wishes": ["k1"], "priority": {"k1": 2, "k2": 5}},
            {"id": "c", "group": "Ü3", "wishes": ["k1"], "lottery": 0.25, "start_month": "2025-08"},
            {"id": "d", "group": "U3", "wishes": [], "lottery": None, "start_month": None},
        ],
    }


def test_issue_example_file_gives_the_documented_output(tmp_path):
    src, dst = tmp_path / "in.json", tmp_path / "out.json"
    src.write_text(json.dumps(ISSUE_EXAMPLE, ensure_ascii=False), encoding="utf-8")
    warnings: list[InputWarning] = []
    out = allocate_file(src, dst, warn=warnings.append)
    assert out == {"assignments": {"c1": "k1"}, "unassigned": []}
    assert json.loads(dst.read_text(encoding="utf-8")) == {"assignments": {"c1": "k1"}, "unassigned": []}
    assert [str(w) for w in warnings] == [
        "children[0].wishes[1]: facility 'k2' is not in the file; 1 wish and 1 priority skipped"
    ]


def test_facilities_not_in_the_file_are_skipped_like_allocate_skips_them():
    data = valid()
    data["children"][0]["wishes"] = ["k9", "k1", "k2"]
    data["children"][1]["priority"] = {"k1": 2, "k7": 4}
    data["children"][3]["wishes"] = ["k9"]
    warnings: list[InputWarning] = []
    out = allocate_json(data, include=["waiting_lists"], warn=warnings.append)
    assert [str(w) for w in warnings] == [
        "children[0].wishes[0]: facility 'k9' is not in the file; 2 wishes skipped",
        "children[1].priority.k7: facility 'k7' is not in the file; 1 priority skipped",
    ]
    problem = load_json(data)
    assert problem.children[0].wishes == ("k9", "k1", "k2")  # kept as given; allocate() skips it
    assert out == dump_json(allocate(problem.facilities, problem.children, problem.seed), ["waiting_lists"])
    assert out["assignments"] == {"a": "k2", "b": "k1", "c": "k1"}
    assert "k9" not in out["waiting_lists"]


def test_a_clean_file_gives_no_warnings():
    warnings: list[InputWarning] = []
    allocate_json(valid(), warn=warnings.append)
    load_json(valid(), warn=warnings.append)
    assert warnings == []


def test_file_and_dataclass_paths_agree():
    data = valid()
    problem = load_json(data)
    assert problem.children[2] == Child("c", "Ü3", ("k1",), {}, 0.25, "2025-08")
    assert problem.facilities[0] == Facility("k1", {"U3": 1, "Ü3@2025-08": 1})
    result = allocate(problem.facilities, problem.children, problem.seed)
    assert allocate_json(data) == dump_json(result)
    assert result.assignments == {"a": "k2", "b": "k1", "c": "k1"}
    assert result.unassigned == ["d"]


def test_extra_output_parts_on_request():
    data = valid()
    out = allocate_json(data, include=["waiting_lists", "cutoffs", "seed", "lottery", "rounds"])
    assert out["waiting_lists"] == {"k1": ["a"], "k2": []}
    assert out["cutoffs"] == [
        {"facility": "k1", "capacity_key": "U3", "priority": 2.0, "lottery": out["lottery"]["b"]},
        {"facility": "k1", "capacity_key": "Ü3@2025-08", "priority": 0.0, "lottery": 0.25},
        {"facility": "k2", "capacity_key": "U3", "priority": None, "lottery": None},
    ]
    assert out["seed"] == 3
    assert out["rounds"] == 2
    json.dumps(out)  # serialisable as is
    with pytest.raises(AllocationInputError, match="unknown output part 'everything'"):
        allocate_json(data, include=["everything"])


def _error(mutate) -> str:
    data = valid()
    mutate(data)
    with pytest.raises(AllocationInputError) as err:
        allocate_json(data)
    with pytest.raises(AllocationInputError) as again:
        load_json(data)
    assert str(again.value) == str(err.value)
    return str(err.value)


def _set(path: list, value):
    def mutate(data):
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set(["children", 1, "wishes"], ["k9", "k9"]), "children[1].wishes[1]: facility 'k9' is listed twice"),
        (_set(["children", 0, "wishes"], ["k2", "k2"]), "children[0].wishes[1]: facility 'k2' is listed twice"),
        (_set(["children", 0, "wishes"], ["k2", 7]), "children[0].wishes[1]: must be a string"),
        (_set(["children", 0, "wishes"], "k2"), "children[0].wishes: must be a list of facility ids"),
        (_set(["children", 2, "wishs"], []), "children[2].wishs: unknown key"),
        (_set(["children", 3, "id"], "a"), "children[3].id: duplicate id 'a'"),
        (_set(["children", 3, "id"], 4), "children[3].id: must be a non-empty string"),
        (_set(["children", 3, "group"], ""), "children[3].group: must be a non-empty string"),
        (_set(["children", 3, "group"], "U3@x"), "children[3].group: must not contain '@'"),
        (_set(["children", 1, "priority"], {"k1": True}), "children[1].priority.k1: must be a finite number"),
        (_set(["children", 1, "priority"], {"k1": "2"}), "children[1].priority.k1: must be a finite number"),
        (_set(["children", 1, "priority"], {"k1": math.nan}), "children[1].priority.k1: must be a finite number"),
        (_set(["children", 1, "priority"], {"k7": "1"}), "children[1].priority.k7: must be a finite number"),
        (_set(["children", 1, "holds"], "k9"), "children[1].holds: unknown facility 'k9'"),
        (_set(["children", 1, "holds"], 1), "children[1].holds: must be a facility id or null"),
        (_set(["children", 1, "accepted"], True), "children[1].accepted: needs the place it accepted in 'holds'"),
        (_set(["children", 1, "accepted"], "yes"), "children[1].accepted: must be true or false"),
        (_set(["children", 1, "declined"], "k1"), "children[1].declined: must be a list of facility ids"),
        (_set(["children", 1, "declined"], [None]), "children[1].declined[0]: must be a string"),
        (_set(["children", 0, "priority"], {"k2": math.inf}), "children[0].priority.k2: must be a finite number"),
        (_set(["children", 1, "priority"], [1]), "children[1].priority: must be an object"),
        (_set(["children", 2, "lottery"], "0.5"), "children[2].lottery: must be a finite number or null"),
        (_set(["children", 2, "lottery"], math.inf), "children[2].lottery: must be a finite number or null"),
        (_set(["children", 2, "start_month"], "2025-13"), "children[2].start_month: must be 'YYYY-MM' or null"),
        (_set(["children", 2], ["c"]), "children[2]: must be an object"),
        (_set(["facilities", 1, "id"], "k1"), "facilities[1].id: duplicate id 'k1'"),
        (_set(["facilities", 0, "capacity"], {"U3": -1}), "facilities[0].capacity.U3: must be a non-negative integer"),
        (_set(["facilities", 0, "capacity"], {"U3": 1.5}), "facilities[0].capacity.U3: must be a non-negative integer"),
        (
            _set(["facilities", 0, "capacity"], {"U3@08": 1}),
            "facilities[0].capacity.U3@08: key must be a group or 'group@YYYY-MM'",
        ),
        (_set(["facilities", 0, "size"], 3), "facilities[0].size: unknown key"),
        (_set(["seed"], -1), "seed: must be a non-negative integer"),
        (_set(["seed"], True), "seed: must be a non-negative integer"),
        (_set(["extra"], 1), "extra: unknown key"),
        (_set(["children"], {}), "children: must be a list"),
    ],
)
def test_invalid_input_names_the_json_path(mutate, message):
    assert _error(mutate) == message


def test_priorities_for_facilities_not_wished_are_allowed():
    data = valid()
    data["children"][0]["priority"] = {"k2": 1, "k1": 3}  # other order, and not only wishes
    assert allocate_json(data)["assignments"]["a"] == "k1"


def test_missing_priority_counts_as_zero_and_missing_keys_are_optional():
    data = {
        "seed": 0,
        "facilities": [{"id": "k1", "capacity": {"U3": 1}}],
        "children": [
            {"id": "x", "group": "U3", "wishes": ["k1"], "lottery": 0.9},
            {"id": "y", "group": "U3", "wishes": ["k1"], "priority": {"k1": 0}, "lottery": 0.1},
        ],
    }
    assert allocate_json(data) == {"assignments": {"y": "k1"}, "unassigned": ["x"]}


def test_top_level_must_be_an_object():
    with pytest.raises(AllocationInputError, match=r"^\$: must be an object$"):
        allocate_json([])


def test_allocate_file_restores_garbage_collection_and_writes_extras(tmp_path):
    src, dst = tmp_path / "in.json", tmp_path / "out.json"
    src.write_text(json.dumps(valid(), ensure_ascii=False), encoding="utf-8")
    assert gc.isenabled()
    out = allocate_file(src, dst, include=["waiting_lists"])
    assert gc.isenabled()
    assert json.loads(dst.read_text(encoding="utf-8")) == out
    assert out["waiting_lists"] == {"k1": ["a"], "k2": []}
    src.write_text('{"seed": 1, "facilities": [], "children": [{"id": 1}]}', encoding="utf-8")
    with pytest.raises(AllocationInputError, match=r"children\[0\]\.id"):
        allocate_file(src, dst)
    assert gc.isenabled()
