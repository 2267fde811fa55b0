"""Texts in process models: plain placeholders only, bounded sizes, never attribute access."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rathaus_domain.processes.texts import MAX_TEXT, MAX_VALUE, render_text, template_problems


def test_placeholders_are_filled_from_the_process_data() -> None:
    text = render_text("Die Hundesteuer beträgt {fee} € ({reason}) für {case_ref}.",
                       {"fee": Decimal("120"), "reason": "erster Hund", "case_ref": "MUS-2026-000001"})
    assert text == "Die Hundesteuer beträgt 120 € (erster Hund) für MUS-2026-000001."


def test_amounts_with_cents_use_a_decimal_comma_and_booleans_read_as_words() -> None:
    assert render_text("{fee} € – bezahlt: {paid}", {"fee": 60.5, "paid": True}) == "60,50 € – bezahlt: ja"


def test_attribute_and_index_access_is_not_evaluated() -> None:
    values = {"case_ref": "MUS-1", "data": {"secret": "x"}}
    for template in ("{case_ref.__class__.__mro__}", "{case_ref.__class__}", "{data[secret]}", "{case_ref!r}"):
        assert render_text(template, values) == template


def test_a_placeholder_may_name_a_field_by_its_path_through_dictionaries_only() -> None:
    values = {"vehicle": {"plate": "MU-AB 123"}, "place": {"date": "2026-12-20"}, "case_ref": "MUS-1"}
    assert render_text("{vehicle.plate} am {place.date}", values) == "MU-AB 123 am 20.12.2026"
    assert render_text("{vehicle.colour} {case_ref.upper}", values) == "{vehicle.colour} {case_ref.upper}"


def test_dates_read_as_germans_write_them() -> None:
    from datetime import date

    assert render_text("{a} {b} {c}", {"a": "2026-03-10", "b": date(2026, 3, 10), "c": "2026-03-10T08:00"}) == (
        "10.03.2026 10.03.2026 2026-03-10T08:00")


def test_format_specs_cannot_build_huge_strings() -> None:
    assert render_text("{fee:>200000000}", {"fee": 5}) == "{fee:>200000000}"


def test_values_and_results_are_cut_to_a_bounded_length() -> None:
    assert len(render_text("{x}", {"x": "a" * 10**6})) == MAX_VALUE
    assert len(render_text("{x}" * 100, {"x": "a" * 10**6})) == MAX_TEXT


def test_unknown_names_and_non_scalar_values_stay_visible() -> None:
    assert render_text("{missing} {items}", {"items": [1, 2]}) == "{missing} {items}"


def test_double_braces_are_literal_braces() -> None:
    assert render_text("{{fee}} = {fee}", {"fee": 3}) == "{fee} = 3"


def test_template_check_names_each_bad_placeholder() -> None:
    problems = template_problems("{ok} {field.path} {bad.__attr} {x:>9} {0}")
    assert len(problems) == 3
    assert all("Platzhalter" in de and "placeholder" in en for de, en in problems)
    assert template_problems("Gebühr {fee} €, {{wörtlich}}") == []


@given(st.text(max_size=200), st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.text(max_size=50)))
def test_rendering_never_raises_and_stays_bounded(template: str, values: dict[str, str]) -> None:
    assert len(render_text(template, values)) <= MAX_TEXT


def test_an_empty_value_leaves_no_double_space_where_its_optional_sentence_would_stand():
    template = "Hundesteuer: 90 € im Jahr. {note} Der Bescheid liegt bei. {closing}"
    assert render_text(template, {"note": "", "closing": ""}) == "Hundesteuer: 90 € im Jahr. Der Bescheid liegt bei."
    assert render_text(template, {"note": "Hinweis: kein Ausweis.", "closing": "Gruß"}) == (
        "Hundesteuer: 90 € im Jahr. Hinweis: kein Ausweis. Der Bescheid liegt bei. Gruß")
    assert render_text("{a}{b}x", {"a": "", "b": ""}) == "x"
    assert render_text("x {a}", {"a": "\x00"}) == "x"  # a NUL in a value is no marker
    # The space between two words stays.
    assert render_text("Guten Tag {title}{name},", {"title": "", "name": "Müller"}) == "Guten Tag Müller,"
    assert render_text("Betrag {prefix}100 €", {"prefix": ""}) == "Betrag 100 €"
    assert render_text("Zeile {a}\n{b} Zeile 2 ({c})", {"a": "", "b": "", "c": ""}) == "Zeile\nZeile 2 ()"
    assert render_text("a {n} {m} b", {"n": "", "m": ""}) == "a b"
