"""DMN decision tables written like Camunda Modeler writes them: loading, hit policies, explanations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rathaus_domain.processes.dmn import MAX_REQUIREMENT_DEPTH, DecisionError, DmnError, DmnModel, decide, load_dmn

from .support import fixture_bytes

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"


@pytest.fixture(scope="module")
def dog_tax() -> DmnModel:
    return load_dmn(fixture_bytes("dog_tax.dmn"), file="dog_tax.dmn")


@pytest.fixture(scope="module")
def parking() -> DmnModel:
    return load_dmn(fixture_bytes("parking_zone.dmn"), file="parking_zone.dmn")


@pytest.fixture(scope="module")
def policies() -> DmnModel:
    return load_dmn(fixture_bytes("hit_policies.dmn"), file="hit_policies.dmn")


# --- dog tax (DMN 1.3, Camunda Modeler 5) ----------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "fee", "reason", "rule"),
    [
        ({"exemption": "none", "breed": "Dackel", "dogs_already_owned": 0}, 90, "Erster Hund", "DecisionRule_first"),
        ({"exemption": "none", "breed": "Pudel", "dogs_already_owned": 1}, 120, "Weiterer Hund", "DecisionRule_further"),
        ({"exemption": "none", "breed": "Pudel", "dogs_already_owned": 3}, 120, "Weiterer Hund", "DecisionRule_further"),
        ({"exemption": "none", "breed": "Bullterrier", "dogs_already_owned": 0}, 600, "Listenhund", "DecisionRule_listed"),
        (
            {"exemption": "assistance_dog", "breed": "Bullterrier", "dogs_already_owned": 2},
            0,
            "Steuerbefreiung",
            "DecisionRule_exempt",
        ),
        ({"exemption": "rescue_dog", "breed": "Dackel", "dogs_already_owned": 0}, 0, "Steuerbefreiung", "DecisionRule_exempt"),
    ],
)
def test_dog_tax_fee(dog_tax: DmnModel, inputs: dict[str, Any], fee: int, reason: str, rule: str) -> None:
    result = decide(dog_tax, "dog_tax", inputs)
    assert result.output == {"fee": fee, "reason": reason}
    assert [m.rule_id for m in result.matched_rules] == [rule]
    assert result.hit_policy == "FIRST"


def test_dog_tax_result_explains_itself(dog_tax: DmnModel) -> None:
    result = decide(dog_tax, "dog_tax", {"exemption": "none", "breed": "Bullterrier", "dogs_already_owned": 0})
    matched = result.matched_rules[0]
    assert matched.index == 2
    assert matched.annotation == "Gefährliche Hunde (Listenhunde) nach § 5 Abs. 2"
    assert matched.inputs == {"Befreiung": "none", "Rasse": "Bullterrier", "Bereits gehaltene Hunde": 0}
    assert matched.conditions["Rasse"].startswith('"Pitbull-Terrier"')
    assert matched.conditions["Befreiung"] == "-"
    assert result.inputs_used == matched.inputs
    explanation = result.to_dict()
    assert json.loads(json.dumps(explanation)) == explanation
    assert explanation["matched_rules"][0]["outputs"] == {"fee": 600, "reason": "Listenhund"}


def test_required_decision_feeds_literal_expression(dog_tax: DmnModel) -> None:
    inputs = {"exemption": "none", "breed": "Dackel", "dogs_already_owned": 1, "months_remaining": 6}
    result = decide(dog_tax, "dog_tax_first_year", inputs)
    assert result.output == {"first_year_fee": 60.0}
    assert result.value == 60.0
    assert result.inputs_used == {"fee": 120, "months_remaining": 6}
    assert [r.decision_id for r in result.required] == ["dog_tax"]
    assert result.required[0].matched_rules[0].rule_id == "DecisionRule_further"


def test_decisions_are_found_by_name_too(dog_tax: DmnModel) -> None:
    inputs = {"exemption": "none", "breed": "Dackel", "dogs_already_owned": 0}
    assert decide(dog_tax, "Hundesteuer je Hund", inputs).value == {"fee": 90, "reason": "Erster Hund"}
    with pytest.raises(DecisionError, match="dog_fee.*not found"):
        decide(dog_tax, "dog_fee", inputs)


def test_missing_input_names_the_column(dog_tax: DmnModel) -> None:
    with pytest.raises(DecisionError) as info:
        decide(dog_tax, "dog_tax", {"exemption": "none", "breed": "Dackel"})
    assert info.value.element_id == "InputClause_1dogs"
    assert "Bereits gehaltene Hunde" in info.value.message_de
    assert "dogs_already_owned" in info.value.message_en


# --- parking zones (DMN 1.2 with biodi, lists, ranges, not(), null) ---------------------------


@pytest.mark.parametrize(
    ("street", "number", "zone", "rule"),
    [
        ("Marktplatz", 3, "A", "rule_old_town"),
        ("Rathausstraße", 120, "A", "rule_old_town"),
        ("Hauptstraße", 1, "B", "rule_main_low"),
        ("Hauptstraße", 99, "B", "rule_main_low"),
        ("Hauptstraße", 100, "C", "rule_main_high"),
        ("Bahnhofstraße", 50, "B", "rule_station"),
        ("Bahnhofstraße", 51, "C", "rule_station_outer"),
        ("Bahnhofstraße", 79, "C", "rule_station_outer"),
        ("Gartenweg", 1, None, "rule_outside"),
    ],
)
def test_parking_zone(parking: DmnModel, street: str, number: int, zone: str | None, rule: str) -> None:
    result = decide(parking, "parking_zone", {"address": {"street": street, "number": number}})
    assert result.output == {"zone": zone}
    assert [m.rule_id for m in result.matched_rules] == [rule]


def test_no_matching_rule_gives_no_output(parking: DmnModel) -> None:
    result = decide(parking, "parking_zone", {"address": {"street": "Bahnhofstraße", "number": 80}})
    assert result.output is None
    assert result.matched_rules == ()
    assert result.variables() == {"zone": None, "parking_zone": None}


@pytest.mark.parametrize(
    ("street", "owner", "valid_from", "auto", "rule"),
    [
        ("Marktplatz", True, "2026-02-01", True, "rule_owner_new_tariff"),
        ("Marktplatz", True, "2025-12-31", False, "rule_otherwise"),
        ("Marktplatz", False, "2026-02-01", False, "rule_otherwise"),
        ("Gartenweg", True, "2026-02-01", False, "rule_no_zone"),
    ],
)
def test_auto_approval_uses_the_zone_decision(
    parking: DmnModel, street: str, owner: bool, valid_from: str, auto: bool, rule: str
) -> None:
    inputs = {"address": {"street": street, "number": 5}, "vehicle_owner_is_applicant": owner, "valid_from": valid_from}
    result = decide(parking, "permit_auto_approval", inputs)
    assert result.output == {"auto_approve": auto}
    assert result.matched_rules[0].rule_id == rule
    # typeRef="date" turned the ISO text into a date for the comparison.
    assert result.inputs_used["Gültig ab"].isoformat() == valid_from


# --- every hit policy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "amount", "output", "rules"),
    [
        ("unique", 5, {"size": "small"}, ["unique_rule1"]),
        ("unique", 1000, {"size": "large"}, ["unique_rule3"]),
        ("unique", -1, {"size": "small"}, ["unique_rule1"]),
        ("first", 60, {"size": "medium"}, ["first_rule2"]),
        ("priority", 60, {"size": "large"}, ["priority_rule3"]),
        ("priority", 20, {"size": "medium"}, ["priority_rule2"]),
        ("any_ok", 60, {"size": "ok"}, ["any_ok_rule1", "any_ok_rule2"]),
        ("rule_order", 60, [{"size": "medium"}, {"size": "large"}], ["rule_order_rule2", "rule_order_rule3"]),
        ("output_order", 60, [{"size": "large"}, {"size": "medium"}], ["output_order_rule3", "output_order_rule2"]),
        ("collect", 60, [{"size": "medium"}, {"size": "large"}], ["collect_rule2", "collect_rule3"]),
        ("collect", 5, [{"size": "small"}], ["collect_rule1"]),
        ("collect_sum", 60, 6, ["collect_sum_rule2", "collect_sum_rule3"]),
        ("collect_min", 60, 1, ["collect_min_rule2", "collect_min_rule3"]),
        ("collect_max", 60, 5, ["collect_max_rule2", "collect_max_rule3"]),
        ("collect_count", 60, 2, ["collect_count_rule2", "collect_count_rule3"]),
        ("collect_count", 5, 1, ["collect_count_rule1"]),
    ],
)
def test_hit_policies(policies: DmnModel, decision: str, amount: int, output: Any, rules: list[str]) -> None:
    result = decide(policies, decision, {"amount": amount})
    assert result.output == output
    assert [m.rule_id for m in result.matched_rules] == rules


def test_collect_value_unwraps_single_columns(policies: DmnModel) -> None:
    assert decide(policies, "collect", {"amount": 60}).value == ["medium", "large"]
    assert decide(policies, "collect_sum", {"amount": 60}).hit_policy == "COLLECT SUM"


def test_unique_with_two_matches_is_an_error(policies: DmnModel) -> None:
    with pytest.raises(DecisionError) as info:
        decide(policies, "unique", {"amount": 60})
    assert "unique_rule2" in info.value.message_en
    assert "unique_rule3" in info.value.message_en
    assert info.value.element_id == "DecisionTable_unique"


def test_any_with_different_outputs_is_an_error(policies: DmnModel) -> None:
    with pytest.raises(DecisionError, match="different outputs"):
        decide(policies, "any_conflict", {"amount": 60})


# --- loading errors name the element ----------------------------------------------------------


def _dmn(body: str, ns: str = DMN13) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{ns}" '
        'xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="defs" name="t" namespace="http://camunda.org/schema/1.0/dmn">'
        f"{body}</definitions>"
    ).encode()


def _table(cell: str = "&lt; 5", output: str = '"x"', policy: str = "", extra: str = "") -> str:
    return (
        f'<decision id="d" name="D"><decisionTable id="t" {policy}>'
        '<input id="i" label="A"><inputExpression id="ie" typeRef="integer"><text>a</text></inputExpression></input>'
        f'<output id="o" name="out" typeRef="string"/>{extra}'
        f'<rule id="r1"><inputEntry id="c1"><text>{cell}</text></inputEntry>'
        f'<outputEntry id="c2"><text>{output}</text></outputEntry></rule>'
        "</decisionTable></decision>"
    )


@pytest.mark.parametrize(
    ("body", "element_id", "message"),
    [
        (_table(cell="[1.."), "c1", "rule 1"),
        (_table(cell="__import__(&quot;os&quot;)"), "c1", "unknown FEEL function"),
        (_table(output="a +"), "c2", "value expected"),
        # Python's int() refuses more than 4,300 digits with a ValueError of its own.
        pytest.param(_table(cell="1" + "0" * 5000), "c1", "number too large", id="5000-digit cell"),
        pytest.param(_table(output="1" * 400 + ".5"), "c2", "number too large", id="400-digit output"),
        (_table(policy='hitPolicy="SOMETIMES"'), "t", "unknown hit policy"),
        (_table(policy='hitPolicy="FIRST" aggregation="SUM"'), "t", "aggregation"),
        (_table(policy='hitPolicy="PRIORITY"'), "t", "output values"),
        (
            '<decision id="d2" name="D2"><informationRequirement><requiredDecision href="#nowhere"/>'
            "</informationRequirement><literalExpression><text>1</text></literalExpression></decision>",
            "d2",
            "unknown decision",
        ),
        (
            '<decision id="x"><informationRequirement><requiredDecision href="#y"/></informationRequirement>'
            '<literalExpression><text>1</text></literalExpression></decision><decision id="y">'
            '<informationRequirement><requiredDecision href="#x"/></informationRequirement>'
            "<literalExpression><text>1</text></literalExpression></decision>",
            "x",
            "cyclic",
        ),
        ('<decision id="ctx"><context id="c"/></decision>', "c", "boxed contexts"),
        ('<businessKnowledgeModel id="bkm"/>', "bkm", "not supported"),
        ('<decision id="empty"/>', "empty", "neither a decision table"),
    ],
)
def test_load_errors_name_the_element(body: str, element_id: str, message: str) -> None:
    with pytest.raises(DmnError) as info:
        load_dmn(_dmn(body), file="t.dmn")
    assert info.value.element_id == element_id
    assert message in info.value.message_en
    assert info.value.file == "t.dmn"


def _chain(length: int, *, reverse: bool = False) -> bytes:
    """A file of decisions d0 ← d1 ← … each requiring the one before."""
    decisions = ['<decision id="d0"><literalExpression><text>1</text></literalExpression></decision>'] + [
        f'<decision id="d{i}"><informationRequirement><requiredDecision href="#d{i - 1}"/></informationRequirement>'
        f"<literalExpression><text>d{i - 1} + 1</text></literalExpression></decision>"
        for i in range(1, length)
    ]
    return _dmn("".join(reversed(decisions) if reverse else decisions))


@pytest.mark.parametrize("reverse", [False, True])
def test_a_chain_of_requirements_longer_than_the_limit_is_refused_when_loaded(reverse: bool) -> None:
    # 600 decisions in a row made decide() (and the check of 1,000 written last-first) a RecursionError.
    with pytest.raises(DmnError, match="chain of required decisions is too long"):
        load_dmn(_chain(600, reverse=reverse))
    assert decide(load_dmn(_chain(MAX_REQUIREMENT_DEPTH, reverse=reverse)), f"d{MAX_REQUIREMENT_DEPTH - 1}", {}).value == 100


def test_a_decision_required_along_many_paths_is_explained_once() -> None:
    # Layers of two decisions, each requiring both of the layer below: 2**15 paths to a0. The
    # explanation (the audit entry of every decision step) repeated a0 once per path.
    layers = [
        f'<decision id="{x}{i}">'
        + "".join(f'<informationRequirement><requiredDecision href="#{y}{i - 1}"/></informationRequirement>' for y in "ab")
        + f"<literalExpression><text>a{i - 1} + b{i - 1}</text></literalExpression></decision>"
        for i in range(1, 16)
        for x in "ab"
    ]
    first = '<decision id="a0"><literalExpression><text>1</text></literalExpression></decision>'
    model = load_dmn(_dmn(first + first.replace("a0", "b0") + "".join(layers)))
    result = decide(model, "a15", {})
    assert result.value == 2**15
    explained = result.to_dict()
    assert len(json.dumps(explained)) < 50_000
    full: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "output" in node:
            full.append(node["decision_id"])
        for below in node["required"] if "output" in node else []:
            walk(below)

    walk(explained)
    assert sorted(full) == sorted(f"{x}{i}" for i in range(16) for x in "ab" if f"{x}{i}" != "b15")
    # b14 needs a13 and b13, which a14 has explained before it: they are named, not repeated.
    assert explained["required"][1]["required"] == [
        {"decision_id": "a13", "decision_name": "a13", "explained_above": True},
        {"decision_id": "b13", "decision_name": "b13", "explained_above": True},
    ]


def test_not_a_dmn_file_and_dtds_are_refused() -> None:
    with pytest.raises(DmnError, match="not a DMN file"):
        load_dmn(b'<definitions xmlns="http://example.org/"/>')
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/">&b;</definitions>'
    )
    with pytest.raises(DmnError, match="DOCTYPE"):
        load_dmn(bomb)
    with pytest.raises(DmnError, match="not well-formed"):
        load_dmn(b"<definitions")


def test_all_dmn_versions_load() -> None:
    for ns in (
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        DMN13,
        "https://www.omg.org/spec/DMN/20211108/MODEL/",
        "https://www.omg.org/spec/DMN/20230324/MODEL/",
    ):
        model = load_dmn(_dmn(_table(), ns))
        assert decide(model, "d", {"a": 1}).output == {"out": "x"}


def test_merging_models_detects_duplicate_ids(dog_tax: DmnModel, parking: DmnModel) -> None:
    merged = DmnModel.merge([dog_tax, parking])
    assert {"dog_tax", "parking_zone"} <= set(merged.decisions)
    with pytest.raises(DmnError, match="more than once"):
        DmnModel.merge([dog_tax, dog_tax])


def test_input_variable_and_question_mark_in_cells() -> None:
    body = (
        '<decision id="d" name="D"><decisionTable id="t" hitPolicy="RULE ORDER">'
        '<input id="i" label="A" camunda:inputVariable="amount"><inputExpression id="ie"><text>a * 2</text></inputExpression></input>'
        '<output id="o" name="out"/>'
        '<rule id="r1"><inputEntry id="c1"><text>amount &gt; 5</text></inputEntry><outputEntry id="o1"><text>"var"</text></outputEntry></rule>'
        '<rule id="r2"><inputEntry id="c2"><text>? &gt; 5</text></inputEntry><outputEntry id="o2"><text>"q"</text></outputEntry></rule>'
        '<rule id="r3"><inputEntry id="c3"><text>&gt; limit</text></inputEntry><outputEntry id="o3"><text>amount + 1</text></outputEntry></rule>'
        "</decisionTable></decision>"
    )
    model = load_dmn(_dmn(body))
    assert decide(model, "d", {"a": 4, "limit": 1, "amount": 0}).value == ["var", "q", 1]


def test_annotation_column_and_outputs_with_expressions() -> None:
    body = (
        '<decision id="d" name="Gebühr"><decisionTable id="t">'
        '<input id="i" label="Fläche"><inputExpression id="ie" typeRef="number"><text>area</text></inputExpression></input>'
        '<output id="o" name="fee" typeRef="integer"/>'
        '<annotation name="Rechtsgrundlage"/>'
        '<rule id="r1"><inputEntry id="c1"><text>&gt; 0</text></inputEntry>'
        '<outputEntry id="o1"><text>area * 2.5</text></outputEntry>'
        "<annotationEntry><text>§ 3 Gebührensatzung</text></annotationEntry></rule>"
        "</decisionTable></decision>"
    )
    result = decide(load_dmn(_dmn(body)), "d", {"area": 4})
    assert result.output == {"fee": 10}
    assert result.matched_rules[0].annotation == "§ 3 Gebührensatzung"


def _typed(type_ref: str, cell: str) -> DmnModel:
    return load_dmn(
        _dmn(
            '<decision id="d" name="Gebühr"><decisionTable id="t" hitPolicy="FIRST">'
            f'<input id="in_count" label="Weitere Hunde"><inputExpression id="ie" typeRef="{type_ref}"><text>a</text>'
            '</inputExpression></input><output id="o" name="fee" typeRef="integer"/>'
            f'<rule id="r1"><inputEntry id="c1"><text>{cell}</text></inputEntry><outputEntry id="o1"><text>150</text></outputEntry></rule>'
            '<rule id="r2"><inputEntry id="c2"><text>-</text></inputEntry><outputEntry id="o2"><text>90</text></outputEntry></rule>'
            "</decisionTable></decision>"
        )
    )


@pytest.mark.parametrize(
    ("type_ref", "cell", "text", "fee"),
    [
        ("integer", "&gt;= 1", " 2 ", 150),
        ("long", "&gt;= 1", "-3", 90),
        ("double", "[1.5..2.5]", "2.25", 150),
        ("number", "&gt; 1", "2", 150),
        ("boolean", "true", "true", 150),
        ("boolean", "true", "False", 90),
        ("date", '&gt;= date("2026-01-01")', "2026-03-01", 150),
        ("date", '&gt;= date("2026-01-01")', "2026-03-01T10:00:00", 150),
        ("dateTime", '&lt; date and time("2026-01-01T00:00:00")', "2025-12-31T23:00:00", 150),
    ],
)
def test_a_text_input_is_read_as_its_columns_type(type_ref: str, cell: str, text: str, fee: int) -> None:
    assert decide(_typed(type_ref, cell), "d", {"a": text}).output == {"fee": fee}


@pytest.mark.parametrize(
    ("type_ref", "text", "message_en"),
    [
        ("integer", "zwei", "«zwei» is not a whole number (typeRef integer)"),
        ("integer", "2.5", "«2.5» is not a whole number (typeRef integer)"),
        ("double", "4,5", "«4,5» is not a number (typeRef double)"),
        ("double", "1e400", "«1e400» is not a number (typeRef double)"),
        ("boolean", "ja", "«ja» is neither true nor false (typeRef boolean)"),
        ("date", "01.03.2026", "«01.03.2026» is not a date (2026-03-01) (typeRef date)"),
        # Python reads these as numbers and dates; Camunda (and a reader of the form) does not.
        ("integer", "1_000", "«1_000» is not a whole number (typeRef integer)"),
        ("integer", "٣", "«٣» is not a whole number (typeRef integer)"),
        ("double", "1_5.5", "«1_5.5» is not a number (typeRef double)"),
        ("double", "١٥", "«١٥» is not a number (typeRef double)"),
        ("date", "2026-03-01 oder später", "«2026-03-01 oder später» is not a date (2026-03-01) (typeRef date)"),
    ],
)
def test_a_text_input_that_is_not_of_its_columns_type_is_an_error_naming_the_column(
    type_ref: str, text: str, message_en: str
) -> None:
    # Kept as text, it would miss every comparison and quietly pick the catch-all rule (fee 90).
    with pytest.raises(DecisionError) as info:
        decide(_typed(type_ref, "&gt; 0"), "d", {"a": text})
    assert info.value.element_id == "in_count"
    assert info.value.message_en == f"decision «Gebühr»: input «Weitere Hunde»: {message_en}"
    assert info.value.message_de.startswith(f"Entscheidung «Gebühr»: Eingabe «Weitere Hunde»: «{text}» ist ")
