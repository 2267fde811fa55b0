"""Daycare exchange: priority points, registrations, rounds, offers, follow-up rounds, staff pages."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from rathaus.accounts.models import Role
from rathaus.exchanges import priority, services
from rathaus.exchanges.models import (
    AllocationOutcome,
    AllocationRound,
    PlaceOffer,
    PlaceOfferStatus,
    RegistrationStatus,
    RoundStatus,
    WaitingListEntry,
)

pytestmark = pytest.mark.django_db


def test_distance_bands_count_only_the_best_band():
    rules = [priority.RuleFacts("distance", 3, "distance:1"), priority.RuleFacts("distance", 1, "distance:3"),
             priority.RuleFacts("single_parent", 2, "single_parent")]
    rules = [priority.RuleFacts(r.criterion, r.points, r.label, 1.0 if r.points == 3 else 3.0 if r.points == 1 else None)
             for r in rules]
    facility = priority.FacilityFacts(id=1, latitude=50.0, longitude=10.0, catchment_districts=frozenset())
    near = priority.ChildFacts(district_id=None, home=(50.005, 10.0), sibling_facility_id=None, single_parent=True,
                               parents_working=False, special_needs=False)
    assert priority.points_for(rules, near, facility) == (5, [("single_parent", 2), ("distance:1", 3)])
    far = priority.ChildFacts(district_id=None, home=(50.02, 10.0), sibling_facility_id=None, single_parent=False,
                              parents_working=False, special_needs=False)
    assert priority.points_for(rules, far, facility) == (1, [("distance:3", 1)])


def test_points_from_order_make_each_criterion_outweigh_all_later_ones():
    points = priority.points_from_order(4)
    assert points == [8, 4, 2, 1]
    assert all(p > sum(points[i + 1:]) for i, p in enumerate(points))


def test_group_kind_follows_age_at_start(start_month):
    from rathaus.exchanges.tests.conftest import birth_for

    assert services.group_kind_for(birth_for(1, start_month), start_month) == "U3"
    assert services.group_kind_for(birth_for(4, start_month), start_month) == "Ü3"
    assert services.group_kind_for(birth_for(7, start_month), start_month) == "Hort"


def test_registration_rejects_more_wishes_than_allowed(register_child, citizen, daycare, municipality):
    from rathaus.exchanges.models import ExchangeSettings

    ExchangeSettings.objects.filter(municipality=municipality).update(daycare_max_wishes=2)
    with pytest.raises(ValidationError) as excinfo:
        register_child(citizen, "Anna", ["sonne", "regen", "wald"])
    assert "höchstens 2" in str(excinfo.value)


def test_registration_rejects_care_hours_the_facility_does_not_offer(register_child, citizen):
    with pytest.raises(ValidationError) as excinfo:
        register_child(citizen, "Anna", ["sonne"], care_hours=50)
    assert "50 Wochenstunden" in str(excinfo.value)


def test_max_wishes_is_not_a_cap_when_it_covers_every_facility(municipality, daycare):
    assert services.max_wishes_for(municipality) == (3, False)


@pytest.fixture
def two_families(citizen, other_citizen, register_child, daycare):
    """Anna lives in Nord (catchment of Sonnenschein, 3 points there); Ben has a sibling there (4 points)."""
    anna = register_child(citizen, "Anna", ["sonne", "regen"], district=daycare["districts"]["north"])
    ben = register_child(other_citizen, "Ben", ["sonne", "wald"], sibling_facility=daycare["facilities"]["sonne"])
    return anna, ben


def run_round(municipality, actor, *, follow_up=False, seed=7, capture=None):
    allocation_round = services.round_create(municipality=municipality, actor=actor, follow_up=follow_up, seed=seed,
                                             offer_deadline=timezone.localdate() + timedelta(days=14))
    if capture is not None:
        with capture(execute=True):
            return services.round_run(allocation_round=allocation_round, actor=actor)
    return services.round_run(allocation_round=allocation_round, actor=actor)


def live_offer(registration):
    return PlaceOffer.objects.get(registration=registration, status__in=["open", "accepted"])


def test_round_persists_offers_outcomes_and_waiting_lists(municipality, team_lead, two_families, daycare,
                                                          django_capture_on_commit_callbacks):
    anna, ben = two_families
    done = run_round(municipality, team_lead, capture=django_capture_on_commit_callbacks)
    assert done.status == RoundStatus.COMPLETED
    assert done.snapshot["children"][0]["priority"] == {"sonne": 3, "regen": 0}
    assert live_offer(ben).facility.code == "sonne"
    assert live_offer(anna).facility.code == "regen"
    assert list(WaitingListEntry.objects.filter(round=done).values_list("facility__code", "registration_id", "position")) == [
        ("sonne", anna.pk, 1)]
    explanation = AllocationOutcome.objects.get(round=done, registration=anna).explanations
    assert explanation[0]["outcome"] == "rejected"
    assert explanation[0]["text_de"] == ("Wunsch 1 (Kita Sonnenschein): 1 Platz; der letzte Platz ging an Prioritätsstufe 4; "
                                         "Ihr Kind hatte Stufe 3 (höhere Stufen haben Vorrang).")
    assert explanation[1]["outcome"] == "admitted"
    assert {m.to[0] for m in mail.outbox} == {"eltern@example.org", "nachbar@example.org"}
    assert done.stats["assigned"] == 2
    assert done.stats["first_wish"] == 1


def test_a_round_runs_only_once(municipality, team_lead, two_families):
    done = run_round(municipality, team_lead)
    with pytest.raises(services.ExchangeError):
        services.round_run(allocation_round=done, actor=team_lead)
    assert PlaceOffer.objects.count() == 2


def test_a_case_worker_may_not_run_rounds(municipality, case_worker, two_families):
    with pytest.raises(PermissionDenied):
        services.round_create(municipality=municipality, actor=case_worker, follow_up=False,
                              offer_deadline=timezone.localdate() + timedelta(days=3))
    assert not AllocationRound.objects.exists()


def test_parents_accept_or_decline_only_their_own_open_offers(municipality, team_lead, two_families, other_citizen, citizen):
    anna, ben = two_families
    run_round(municipality, team_lead)
    offer = live_offer(anna)
    with pytest.raises(PermissionDenied):
        services.place_offer_accept(offer=offer, actor=other_citizen)
    services.place_offer_accept(offer=offer, actor=citizen)
    offer.refresh_from_db()
    anna.refresh_from_db()
    assert (offer.status, anna.status) == (PlaceOfferStatus.ACCEPTED, RegistrationStatus.PLACED)
    with pytest.raises(services.ExchangeError):
        services.place_offer_decline(offer=offer, actor=citizen)


def test_an_offer_past_its_deadline_cannot_be_answered(municipality, team_lead, two_families, citizen):
    anna, _ben = two_families
    run_round(municipality, team_lead)
    PlaceOffer.objects.filter(registration=anna).update(deadline=timezone.localdate() - timedelta(days=1))
    with pytest.raises(services.ExchangeError):
        services.place_offer_accept(offer=live_offer(anna), actor=citizen)
    assert services.place_offers_expire(municipality=municipality) == 1


def test_the_worker_expires_an_unanswered_offer_and_its_place_goes_to_the_follow_up(
        client, municipality, team_lead, two_families, other_citizen):
    from rathaus.core.scheduling import enqueue_due_jobs

    anna, ben = two_families
    run_round(municipality, team_lead)
    PlaceOffer.objects.filter(registration=ben).update(deadline=timezone.localdate() - timedelta(days=1))
    assert "exchanges.place_offers_expire" in enqueue_due_jobs()  # what the worker's scheduler does
    ben_offer = PlaceOffer.objects.get(registration=ben)
    assert ben_offer.status == PlaceOfferStatus.EXPIRED
    assert live_offer(anna).status == PlaceOfferStatus.OPEN  # still within its deadline
    client.force_login(other_citizen)
    html = page(client, "daycare_registration", municipality, pk=ben.pk).content.decode()
    assert "Kita Sonnenschein (Runde 1): Frist abgelaufen" in html
    assert "Platz annehmen" not in html
    run_round(municipality, team_lead, follow_up=True, seed=99)
    assert live_offer(anna).facility.code == "sonne"  # the expired place moved up to her
    assert live_offer(ben).facility.code == "wald"


def test_follow_up_round_gives_a_declined_place_to_the_waiting_list(municipality, team_lead, two_families,
                                                                    other_citizen, django_capture_on_commit_callbacks):
    anna, ben = two_families
    first = run_round(municipality, team_lead)
    regen_offer = live_offer(anna)
    services.place_offer_decline(offer=live_offer(ben), actor=other_citizen)
    mail.outbox.clear()
    second = run_round(municipality, team_lead, follow_up=True, seed=99, capture=django_capture_on_commit_callbacks)
    assert second.previous == first
    assert live_offer(anna).facility.code == "sonne"  # moved up to her first wish
    regen_offer.refresh_from_db()
    assert regen_offer.status == PlaceOfferStatus.SUPERSEDED
    assert live_offer(ben).facility.code == "wald"
    ben_explained = AllocationOutcome.objects.get(round=second, registration=ben).explanations
    assert ben_explained[0]["outcome"] == "declined"
    assert len(mail.outbox) == 2
    # Lottery numbers stay, so waiting lists keep their order across rounds.
    assert second.result["lottery"][str(anna.pk)] == first.result["lottery"][str(anna.pk)]


def test_follow_up_round_keeps_accepted_places(municipality, team_lead, two_families, citizen, other_citizen):
    anna, ben = two_families
    run_round(municipality, team_lead)
    services.place_offer_accept(offer=live_offer(anna), actor=citizen)
    services.place_offer_decline(offer=live_offer(ben), actor=other_citizen)
    second = run_round(municipality, team_lead, follow_up=True)
    assert live_offer(anna).facility.code == "regen"
    assert live_offer(anna).status == PlaceOfferStatus.ACCEPTED
    assert second.result["assignments"][str(anna.pk)] == "regen"
    assert not AllocationOutcome.objects.filter(round=second, registration=anna).exists()


def test_withdrawal_frees_the_place_for_the_follow_up(municipality, team_lead, two_families, other_citizen):
    anna, ben = two_families
    run_round(municipality, team_lead)
    services.registration_withdraw(registration=ben, actor=other_citizen)
    run_round(municipality, team_lead, follow_up=True)
    assert live_offer(anna).facility.code == "sonne"
    assert not PlaceOffer.objects.filter(registration=ben, status__in=["open", "accepted"]).exists()


FULL_OUTPUT = "waiting_lists,cutoffs,lottery,seed,rounds,declined"


def recompute(tmp_path, document: dict) -> dict:
    """What an outsider gets from the downloaded input file with the documented command."""
    from django.core.management import call_command

    source, target = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    call_command("allocate", "daycare", "--input", str(source), "--output", str(target), "--include", FULL_OUTPUT)
    return json.loads(target.read_text(encoding="utf-8"))


def test_a_round_is_reproducible_from_its_input_file(municipality, team_lead, two_families, tmp_path):
    done = run_round(municipality, team_lead, seed=12345)
    assert recompute(tmp_path, done.snapshot) == done.result


def test_a_follow_up_round_is_reproducible_from_its_downloaded_input(municipality, team_lead, staff_client,
                                                                      register_child, make_user, citizen,
                                                                      other_citizen, two_families, tmp_path):
    anna, ben = two_families
    cleo = register_child(make_user("cleo@example.org"), "Cleo", ["regen", "sonne"])
    first = run_round(municipality, team_lead)
    offers = {r.child_first_name: live_offer(r) for r in (anna, ben, cleo)}
    assert {name: o.facility.code for name, o in offers.items()} == {"Anna": "regen", "Ben": "sonne", "Cleo": "regen"}
    services.place_offer_decline(offer=offers["Ben"], actor=other_citizen)   # Sonnenschein frees up
    services.place_offer_accept(offer=offers["Cleo"], actor=cleo.parent)      # kept, competes no more
    late = register_child(make_user("dora@example.org"), "Dora", ["sonne", "wald"])  # new: fresh lottery number
    second = run_round(municipality, team_lead, follow_up=True, seed=99)
    # Anna (no answer yet) moves up to Sonnenschein; Ben competes without it.
    assert live_offer(anna).facility.code == "sonne"
    assert live_offer(ben).facility.code == "wald"

    kwargs = {"municipality": municipality.slug, "pk": second.pk}
    document = json.loads(staff_client.get(reverse("exchanges:staff_round_input", kwargs=kwargs)).content)
    stored = json.loads(staff_client.get(reverse("exchanges:staff_round_output", kwargs=kwargs)).content)
    children = {c["id"]: c for c in document["children"]}
    assert children[str(ben.pk)]["declined"] == ["sonne"]
    assert (children[str(cleo.pk)]["holds"], children[str(cleo.pk)]["accepted"]) == ("regen", True)
    assert children[str(anna.pk)]["holds"] == "regen"
    assert children[str(anna.pk)]["lottery"] == first.result["lottery"][str(anna.pk)]
    assert "lottery" not in children[str(late.pk)]  # drawn from the round's seed
    assert stored == second.result
    assert recompute(tmp_path, document) == stored


# ---------------------------------------------------------------------------- views


def page(client, name, municipality, **kwargs):
    return client.get(reverse(f"exchanges:{name}", kwargs={"municipality": municipality.slug, **kwargs}))


def test_parent_registers_a_child_through_the_form(client, municipality, citizen, daycare, start_month):
    from rathaus.exchanges.tests.conftest import birth_for

    client.force_login(citizen)
    url = reverse("exchanges:daycare_register", kwargs={"municipality": municipality.slug})
    form = client.get(url)
    html = form.content.decode()
    assert form.status_code == 200
    assert "Ehrlich sortieren ist die beste Strategie" in html
    assert "begrenzt" not in html.split("wishes-hint")[1].split("</p>")[0]
    response = client.post(url, {
        "child_first_name": "Mia", "child_last_name": "Muster", "birth_date": birth_for(1, start_month).isoformat(),
        "desired_start": start_month.isoformat(), "care_hours": "35", "district": daycare["districts"]["south"].pk,
        "wish_1": daycare["facilities"]["regen"].pk, "wish_2": daycare["facilities"]["wald"].pk, "single_parent": "on"})
    assert response.status_code == 302
    registration = citizen.daycare_registrations.get()
    assert [w.facility.code for w in registration.wishes.all()] == ["regen", "wald"]
    assert (registration.group_kind, registration.single_parent) == ("U3", True)


def test_wish_cap_is_explained_when_wishes_are_capped(client, municipality, citizen, daycare):
    from rathaus.exchanges.models import ExchangeSettings

    ExchangeSettings.objects.filter(municipality=municipality).update(daycare_max_wishes=2)
    client.force_login(citizen)
    html = page(client, "daycare_register", municipality).content.decode()
    assert "Die Zahl der Wünsche ist begrenzt" in html
    assert 'name="wish_2"' in html
    assert 'name="wish_3"' not in html


def test_parent_sees_the_explanation_but_nothing_about_other_families(client, municipality, team_lead, two_families, citizen):
    anna, _ben = two_families
    run_round(municipality, team_lead)
    client.force_login(citizen)
    html = page(client, "daycare_registration", municipality, pk=anna.pk).content.decode()
    assert "der letzte Platz ging an Prioritätsstufe 4; Ihr Kind hatte Stufe 3" in html
    assert "Wohnort im Einzugsgebiet der Einrichtung (+2)" in html
    assert "Ben" not in html
    assert "nachbar@example.org" not in html
    assert "Kita Sonnenschein: Platz 1 der Warteliste" in html


def test_parent_answers_an_offer_in_the_portal(client, municipality, team_lead, two_families, citizen):
    anna, _ben = two_families
    run_round(municipality, team_lead)
    client.force_login(citizen)
    offer = live_offer(anna)
    url = reverse("exchanges:daycare_offer_answer", kwargs={"municipality": municipality.slug, "pk": offer.pk})
    assert client.post(url, {"answer": "accept"}).status_code == 302
    offer.refresh_from_db()
    assert offer.status == PlaceOfferStatus.ACCEPTED


def test_another_parent_cannot_see_or_answer_an_offer(client, municipality, team_lead, two_families, other_citizen):
    anna, _ben = two_families
    run_round(municipality, team_lead)
    client.force_login(other_citizen)
    assert page(client, "daycare_registration", municipality, pk=anna.pk).status_code == 404
    url = reverse("exchanges:daycare_offer_answer", kwargs={"municipality": municipality.slug, "pk": live_offer(anna).pk})
    assert client.post(url, {"answer": "decline"}).status_code == 404
    assert live_offer(anna).status == PlaceOfferStatus.OPEN


def test_staff_round_page_shows_chart_table_and_exports(staff_client, municipality, team_lead, two_families):
    done = run_round(municipality, team_lead)
    response = page(staff_client, "staff_round", municipality, pk=done.pk)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<svg' in html
    assert 'role="img"' in html
    assert "100 % (1/1)" in html
    assert "<caption>Auslastung als Tabelle</caption>" in html
    assert '<th scope="row">Kita Sonnenschein</th>' in html
    rows = list(csv.DictReader(io.StringIO(page(staff_client, "staff_round_export", municipality, pk=done.pk, fmt="csv")
                                           .content.decode("utf-8-sig"))))
    assert {(r["child_name"], r["facility"]) for r in rows} == {("Anna Kind", "regen"), ("Ben Kind", "sonne")}
    document = json.loads(page(staff_client, "staff_round_export", municipality, pk=done.pk, fmt="json").content)
    assert document["seed"] == 7
    assert document["waiting_lists"]["sonne"] == [str(two_families[0].pk)]
    snapshot = json.loads(page(staff_client, "staff_round_input", municipality, pk=done.pk).content)
    assert snapshot == done.snapshot


def test_staff_round_page_charts_children_and_offers_by_outcome(staff_client, municipality, team_lead, two_families):
    done = run_round(municipality, team_lead)
    assert (done.stats["children"], done.stats["assigned"], done.stats["first_wish"], done.stats["unassigned"]) == (2, 2, 1, 0)
    html = page(staff_client, "staff_round", municipality, pk=done.pk).content.decode()
    assert html.count('role="img"') == 3  # places per facility, children by outcome, offers by status
    assert '<title id="chart-outcomes-title">Kinder nach Ergebnis</title>' in html
    assert ">Platz beim ersten Wunsch</text>" in html
    assert ">50 % (1/2)</text>" in html
    assert ">ohne Platz</text>" in html
    assert ">0 % (0/2)</text>" in html
    assert '<title id="chart-offers-title">Angebote nach Stand</title>' in html
    assert ">offen – bitte antworten</text>" in html
    assert ">100 % (2/2)</text>" in html
    # The list the charts draw stays on the page for screen readers and copying.
    assert "<li>2 Kinder nahmen teil</li>" in html
    assert "<li>Angebote „offen – bitte antworten“: 2</li>" in html


def test_staff_prepare_and_run_a_round_through_the_pages(staff_client, municipality, two_families):
    url = reverse("exchanges:staff_rounds", kwargs={"municipality": municipality.slug})
    deadline = (timezone.localdate() + timedelta(days=10)).isoformat()
    response = staff_client.post(url, {"follow_up": "0", "offer_deadline": deadline, "seed": "42"})
    assert response.status_code == 302
    prepared = AllocationRound.objects.get()
    assert (prepared.seed, prepared.status) == (42, RoundStatus.PREPARED)
    staff_client.post(reverse("exchanges:staff_round", kwargs={"municipality": municipality.slug, "pk": prepared.pk}))
    prepared.refresh_from_db()
    assert prepared.status == RoundStatus.COMPLETED


def test_case_worker_sees_rounds_but_cannot_run_them(client, staff_login, case_worker, municipality, team_lead, two_families):
    prepared = services.round_create(municipality=municipality, actor=team_lead, follow_up=False,
                                     offer_deadline=timezone.localdate() + timedelta(days=5))
    staff_login(client, case_worker)
    url = reverse("exchanges:staff_round", kwargs={"municipality": municipality.slug, "pk": prepared.pk})
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 404
    prepared.refresh_from_db()
    assert prepared.status == RoundStatus.PREPARED


STAFF_PAGES = [
    ("staff_dashboard", {}), ("staff_providers", {}), ("staff_offers", {}), ("staff_facilities", {}),
    ("staff_rules", {}), ("staff_registrations", {}), ("staff_rounds", {}), ("staff_programmes", {}),
    ("staff_categories", {}), ("staff_facility_create", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), STAFF_PAGES)
def test_staff_pages_render_for_staff(staff_client, municipality, daycare, name, kwargs):
    assert page(staff_client, name, municipality, **kwargs).status_code == 200


@pytest.mark.parametrize(("name", "kwargs"), STAFF_PAGES)
def test_staff_pages_are_hidden_from_citizens_and_other_towns(client, staff_login, make_staff, other_municipality,
                                                               citizen, municipality, name, kwargs):
    client.force_login(citizen)
    assert page(client, name, municipality, **kwargs).status_code == 404
    staff_login(client, make_staff(other_municipality, Role.TENANT_ADMIN, "admin@andersdorf.example"))
    assert page(client, name, municipality, **kwargs).status_code == 404


@pytest.mark.parametrize(("name", "kwargs"), STAFF_PAGES)
def test_staff_pages_send_anonymous_visitors_to_the_login(client, municipality, name, kwargs):
    response = page(client, name, municipality, **kwargs)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_staff_edit_priority_rules_without_code(staff_client, municipality, daycare):
    from rathaus.exchanges.models import PriorityRule

    rules = list(PriorityRule.objects.filter(municipality=municipality))
    data = {"action": "save", "rules-TOTAL_FORMS": "4", "rules-INITIAL_FORMS": "3", "rules-MIN_NUM_FORMS": "0",
            "rules-MAX_NUM_FORMS": "30"}
    for i, rule in enumerate(rules):
        data.update({f"rules-{i}-id": rule.pk, f"rules-{i}-position": str(i), f"rules-{i}-criterion": rule.criterion,
                     f"rules-{i}-points": str(rule.points), f"rules-{i}-is_active": "on",
                     f"rules-{i}-max_km": "1,5" if rule.criterion == "distance" else ""})
    data.update({"rules-0-points": "10", "rules-3-criterion": "single_parent", "rules-3-points": "3",
                 "rules-3-position": "3", "rules-3-is_active": "on"})
    response = staff_client.post(reverse("exchanges:staff_rules", kwargs={"municipality": municipality.slug}), data)
    assert response.status_code == 302
    saved = {(r.criterion, r.points, r.max_km and str(r.max_km)) for r in PriorityRule.objects.filter(municipality=municipality)}
    assert saved == {("sibling", 10, None), ("catchment", 2, None), ("distance", 1, "1.5"), ("single_parent", 3, None)}


def test_staff_set_points_from_order(staff_client, municipality, daycare):
    from rathaus.exchanges.models import PriorityRule

    staff_client.post(reverse("exchanges:staff_rules", kwargs={"municipality": municipality.slug}), {"action": "order"})
    assert list(PriorityRule.objects.filter(municipality=municipality).values_list("points", flat=True)) == [4, 2, 1]


def test_staff_edit_facility_groups_and_places(staff_client, municipality, daycare, start_month):
    facility = daycare["facilities"]["wald"]
    group = facility.groups.get()
    url = reverse("exchanges:staff_facility", kwargs={"municipality": municipality.slug, "pk": facility.pk})
    assert staff_client.get(url).status_code == 200
    data = {"action": "capacities", "cap-TOTAL_FORMS": "2", "cap-INITIAL_FORMS": "1", "cap-MIN_NUM_FORMS": "0",
            "cap-MAX_NUM_FORMS": "200", "cap-0-group": group.pk, "cap-0-start_month": start_month.isoformat(),
            "cap-0-places": "7"}
    assert staff_client.post(url, data).status_code == 302
    assert list(group.capacities.values_list("places", flat=True)) == [7]


# ---------------------------------------------------------------------------- an open offer pins what it was made for


def edit_post_data(registration, **changes):
    data = {"child_first_name": registration.child_first_name, "child_last_name": registration.child_last_name,
            "birth_date": registration.birth_date.isoformat(), "desired_start": registration.desired_start.isoformat(),
            "care_hours": str(registration.care_hours), "district": registration.district_id or "",
            "sibling_facility": registration.sibling_facility_id or ""}
    for wish in registration.wishes.all():
        data[f"wish_{wish.rank}"] = wish.facility_id
    data.update(changes)
    return data


def test_family_cannot_move_the_start_month_while_an_offer_is_open(client, municipality, team_lead, two_families,
                                                                    citizen, start_month):
    from rathaus.exchanges.tests.conftest import next_month

    anna, _ben = two_families
    run_round(municipality, team_lead)
    client.force_login(citizen)
    url = reverse("exchanges:daycare_registration_edit", kwargs={"municipality": municipality.slug, "pk": anna.pk})
    response = client.post(url, edit_post_data(anna, desired_start=next_month(3).isoformat()))
    assert response.status_code == 422
    assert "Solange Ihr Platzangebot offen ist, kann der gewünschte Beginn nicht geändert werden." in response.content.decode()
    anna.refresh_from_db()
    assert anna.desired_start == start_month
    # Nothing blocks the follow-up round: the held place still fits.
    second = run_round(municipality, team_lead, follow_up=True, seed=99)
    assert second.status == RoundStatus.COMPLETED
    assert live_offer(anna).facility.code == "regen"


def test_family_cannot_change_the_birth_date_or_drop_the_offered_facility_while_the_offer_is_open(
        client, municipality, team_lead, two_families, citizen, daycare):
    anna, _ben = two_families
    run_round(municipality, team_lead)
    assert live_offer(anna).facility.code == "regen"
    client.force_login(citizen)
    url = reverse("exchanges:daycare_registration_edit", kwargs={"municipality": municipality.slug, "pk": anna.pk})
    response = client.post(url, edit_post_data(anna, birth_date=(anna.birth_date - timedelta(days=40)).isoformat(),
                                               wish_2=daycare["facilities"]["wald"].pk))
    html = response.content.decode()
    assert response.status_code == 422
    assert "Solange Ihr Platzangebot offen ist, kann das Geburtsdatum nicht geändert werden." in html
    assert "„Kita Regenbogen“ hat Ihnen einen Platz angeboten" in html
    anna.refresh_from_db()
    assert [w.facility.code for w in anna.wishes.all()] == ["sonne", "regen"]


def test_family_may_change_other_facts_while_an_offer_is_open_and_everything_after_declining(
        client, municipality, team_lead, two_families, citizen, daycare):
    from rathaus.exchanges.tests.conftest import next_month

    anna, _ben = two_families
    run_round(municipality, team_lead)
    client.force_login(citizen)
    url = reverse("exchanges:daycare_registration_edit", kwargs={"municipality": municipality.slug, "pk": anna.pk})
    assert client.post(url, edit_post_data(anna, single_parent="on")).status_code == 302
    anna.refresh_from_db()
    assert anna.single_parent is True
    services.place_offer_decline(offer=live_offer(anna), actor=citizen)
    assert client.post(url, edit_post_data(anna, desired_start=next_month(3).isoformat())).status_code == 302
    anna.refresh_from_db()
    assert anna.desired_start == next_month(3)


def test_staff_discard_a_prepared_round_that_cannot_run(staff_client, municipality, team_lead, two_families, citizen,
                                                        daycare):
    from rathaus.core.models import AuditEntry
    from rathaus.exchanges.models import GroupCapacity

    anna, _ben = two_families
    run_round(municipality, team_lead)
    # Staff remove the places of the held offer, so the follow-up round cannot run.
    GroupCapacity.objects.filter(group__facility=daycare["facilities"]["regen"]).delete()
    stuck = services.round_create(municipality=municipality, actor=team_lead, follow_up=True, seed=5,
                                  offer_deadline=timezone.localdate() + timedelta(days=14))
    with pytest.raises(services.ExchangeError):
        services.round_run(allocation_round=stuck, actor=team_lead)
    round_url = reverse("exchanges:staff_round", kwargs={"municipality": municipality.slug, "pk": stuck.pk})
    assert "Runde verwerfen" in staff_client.get(round_url).content.decode()
    assert staff_client.post(round_url, {"action": "discard"}).status_code == 302
    stuck.refresh_from_db()
    assert stuck.status == RoundStatus.DISCARDED
    assert AuditEntry.objects.filter(action="exchanges.round_discarded", municipality=municipality).count() == 1
    assert "verworfen" in staff_client.get(round_url).content.decode()
    # A new round can be prepared again.
    rounds_url = reverse("exchanges:staff_rounds", kwargs={"municipality": municipality.slug})
    deadline = (timezone.localdate() + timedelta(days=10)).isoformat()
    assert staff_client.post(rounds_url, {"follow_up": "0", "offer_deadline": deadline, "seed": "8"}).status_code == 302
    assert AllocationRound.objects.filter(status=RoundStatus.PREPARED).count() == 1


def test_a_discarded_round_cannot_be_run_and_says_so(municipality, team_lead, two_families):
    discarded = services.round_create(municipality=municipality, actor=team_lead, follow_up=False, seed=5,
                                      offer_deadline=timezone.localdate() + timedelta(days=14))
    services.round_discard(allocation_round=discarded, actor=team_lead)
    with pytest.raises(services.ExchangeError, match="verworfen") as exc:
        services.round_run(allocation_round=discarded, actor=team_lead)
    assert "schon durchgeführt" not in str(exc.value)
    discarded.refresh_from_db()
    assert discarded.status == RoundStatus.DISCARDED
    assert not PlaceOffer.objects.filter(round=discarded).exists()


def test_only_a_prepared_round_can_be_discarded_and_only_by_who_may_run_rounds(
        client, staff_login, case_worker, municipality, team_lead, two_families):
    done = run_round(municipality, team_lead)
    with pytest.raises(services.ExchangeError):
        services.round_discard(allocation_round=done, actor=team_lead)
    done.refresh_from_db()
    assert done.status == RoundStatus.COMPLETED
    prepared = services.round_create(municipality=municipality, actor=team_lead, follow_up=True,
                                     offer_deadline=timezone.localdate() + timedelta(days=5))
    staff_login(client, case_worker)
    url = reverse("exchanges:staff_round", kwargs={"municipality": municipality.slug, "pk": prepared.pk})
    assert client.post(url, {"action": "discard"}).status_code == 404
    prepared.refresh_from_db()
    assert prepared.status == RoundStatus.PREPARED


# ---------------------------------------------------------------------------- answers racing a round


def test_an_offer_accepted_while_the_round_computes_is_never_superseded(municipality, team_lead, two_families, citizen,
                                                                        other_citizen, monkeypatch):
    """The guarded update itself: the offer turns accepted after the round read it as open (what a
    concurrent accept did on PostgreSQL before the round locked the offers); the round refuses to
    supersede it and stores nothing. (The change is made in the round's own transaction here, so
    the rollback takes it back too; the PostgreSQL test below covers a real second connection.)"""
    from rathaus_domain.allocation import daycare as daycare_core

    anna, ben = two_families
    run_round(municipality, team_lead)
    regen = live_offer(anna)
    services.place_offer_decline(offer=live_offer(ben), actor=other_citizen)  # frees Sonnenschein for Anna
    follow_up = services.round_create(municipality=municipality, actor=team_lead, follow_up=True, seed=3,
                                      offer_deadline=timezone.localdate() + timedelta(days=14))
    real_allocate = daycare_core.allocate

    def accepted_meanwhile(*args, **kwargs):
        PlaceOffer.objects.filter(pk=regen.pk).update(status=PlaceOfferStatus.ACCEPTED)
        return real_allocate(*args, **kwargs)

    monkeypatch.setattr(daycare_core, "allocate", accepted_meanwhile)
    with pytest.raises(services.ExchangeError, match="Während der Runde hat eine Familie"):
        services.round_run(allocation_round=follow_up, actor=team_lead)
    regen.refresh_from_db()
    follow_up.refresh_from_db()
    assert regen.status != PlaceOfferStatus.SUPERSEDED
    assert follow_up.status == RoundStatus.PREPARED
    assert PlaceOffer.objects.filter(round=follow_up).count() == 0
    assert AllocationOutcome.objects.filter(round=follow_up).count() == 0


def test_an_offer_of_a_withdrawn_registration_cannot_be_accepted(municipality, team_lead, two_families, citizen):
    anna, _ben = two_families
    run_round(municipality, team_lead)
    offer = live_offer(anna)
    # What a withdrawal committed while the round was still creating this offer leaves behind.
    type(anna).objects.filter(pk=anna.pk).update(status=RegistrationStatus.WITHDRAWN)
    with pytest.raises(services.ExchangeError, match="nicht mehr aktiv"):
        services.place_offer_accept(offer=offer, actor=citizen)
    anna.refresh_from_db()
    offer.refresh_from_db()
    assert (anna.status, offer.status) == (RegistrationStatus.WITHDRAWN, PlaceOfferStatus.OPEN)


@pytest.mark.django_db(transaction=True)
def test_an_answer_waits_for_a_running_round_and_then_finds_the_offer_replaced(municipality, team_lead, two_families,
                                                                               citizen, other_citizen, monkeypatch):
    """A family accepts while the round computes (after it read the open offers): the answer waits
    for the round and then finds its offer replaced; the round never supersedes an accepted place."""
    import threading

    from django.db import connection, connections

    from rathaus_domain.allocation import daycare as daycare_core

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    anna, ben = two_families
    run_round(municipality, team_lead)
    regen = live_offer(anna)
    services.place_offer_decline(offer=live_offer(ben), actor=other_citizen)  # frees Sonnenschein for Anna
    follow_up = services.round_create(municipality=municipality, actor=team_lead, follow_up=True, seed=3,
                                      offer_deadline=timezone.localdate() + timedelta(days=14))
    read, proceed, results = threading.Event(), threading.Event(), {}
    real_allocate = daycare_core.allocate

    def paused_allocate(*args, **kwargs):
        read.set()
        proceed.wait(10)
        return real_allocate(*args, **kwargs)

    monkeypatch.setattr(daycare_core, "allocate", paused_allocate)

    def outcome(key: str, work, done: str) -> threading.Thread:
        """A thread that records `done` under `key` when `work` succeeds, else the refusal's text."""
        def target():
            try:
                work()
                results[key] = done
            except services.ExchangeError as exc:
                results[key] = str(exc)
            finally:
                connections.close_all()

        return threading.Thread(target=target)

    running = outcome("round", lambda: services.round_run(allocation_round=follow_up, actor=team_lead), "done")
    answering = outcome("answer", lambda: services.place_offer_accept(offer=regen, actor=citizen), "accepted")
    running.start()
    try:
        assert read.wait(10), "the round did not get to the allocation"
        answering.start()
        answering.join(0.5)
        waited = answering.is_alive()
    finally:
        proceed.set()
        running.join(10)
        if answering.ident is not None:
            answering.join(10)
    assert waited  # the answer waits for the round instead of changing the offer under its feet
    assert results == {"round": "done",
                       "answer": "Auf dieses Angebot kann nicht mehr geantwortet werden (Frist abgelaufen oder schon beantwortet)."}
    regen.refresh_from_db()
    anna.refresh_from_db()
    assert (regen.status, anna.status) == (PlaceOfferStatus.SUPERSEDED, RegistrationStatus.ACTIVE)
    assert live_offer(anna).facility.code == "sonne"


def test_saving_priority_rules_with_a_rule_deleted_meanwhile_shows_a_message_instead_of_failing(
        staff_client, municipality, daycare):
    from rathaus.exchanges.models import PriorityRule

    rules = list(PriorityRule.objects.filter(municipality=municipality))
    data = {"action": "save", "rules-TOTAL_FORMS": "3", "rules-INITIAL_FORMS": "3", "rules-MIN_NUM_FORMS": "0",
            "rules-MAX_NUM_FORMS": "30"}
    for i, rule in enumerate(rules):
        data.update({f"rules-{i}-id": rule.pk, f"rules-{i}-position": str(i), f"rules-{i}-criterion": rule.criterion,
                     f"rules-{i}-points": "5", f"rules-{i}-is_active": "on",
                     f"rules-{i}-max_km": "1,5" if rule.criterion == "distance" else ""})
    rules[2].delete()  # another member of staff deletes it while this form is open
    response = staff_client.post(reverse("exchanges:staff_rules", kwargs={"municipality": municipality.slug}), data)
    assert response.status_code == 422
    assert "Eine der Regeln gibt es nicht mehr" in response.content.decode()
    assert sorted(PriorityRule.objects.filter(municipality=municipality).values_list("points", flat=True)) == [2, 4]


# ---------------------------------------------------------------------------- one registration per child


def test_a_child_cannot_be_registered_twice_for_the_daycare_exchange(register_child, citizen, other_citizen,
                                                                     start_month):
    from rathaus.exchanges.models import ChildRegistration

    anna = register_child(citizen, "Anna", ["sonne"])
    for parent, first_name in ((citizen, "anna"), (other_citizen, "  ANNA ")):
        with pytest.raises(ValidationError, match="schon angemeldet"):
            register_child(parent, first_name, ["regen"], child_last_name=" kind")
    assert ChildRegistration.objects.count() == 1
    register_child(citizen, "Anne", ["regen"])  # a sibling with the same birthday is another child
    services.registration_withdraw(registration=anna, actor=citizen)
    register_child(citizen, "Anna", ["regen"])  # withdrawn: she may register anew
    assert ChildRegistration.objects.exclude(status=RegistrationStatus.WITHDRAWN).count() == 2


def test_the_registration_form_explains_a_duplicate(client, municipality, citizen, register_child, daycare):
    anna = register_child(citizen, "Anna", ["sonne"])
    client.force_login(citizen)
    url = reverse("exchanges:daycare_register", kwargs={"municipality": municipality.slug})
    data = edit_post_data(anna, child_first_name="Anna ")
    response = client.post(url, data)
    assert response.status_code == 422
    assert "Dieses Kind ist für die Kita-Vergabe schon angemeldet." in response.content.decode()
    assert citizen.daycare_registrations.count() == 1


def test_renaming_a_registration_into_a_duplicate_is_refused(register_child, citizen, daycare):
    from rathaus.exchanges.tests.conftest import birth_for

    anna = register_child(citizen, "Anna", ["sonne"])
    other = register_child(citizen, "Anni", ["regen"])
    data = {"child_first_name": "Anna", "child_last_name": "Kind", "birth_date": anna.birth_date,
            "desired_start": anna.desired_start, "care_hours": 35, "district": None, "sibling_facility": None,
            "single_parent": False, "parents_working": False, "special_needs": False}
    with pytest.raises(ValidationError, match="schon angemeldet"):
        services.registration_update(registration=other, actor=citizen, data=data, wishes=[daycare["facilities"]["regen"]])
    other.refresh_from_db()
    assert other.child_first_name == "Anni"
    assert birth_for(1, anna.desired_start) == anna.birth_date


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_registrations_of_one_child_store_one(register_child, citizen, other_citizen, held_open):
    import threading

    from django.db import connection, connections

    from rathaus.exchanges.models import ChildRegistration

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    results: dict[str, str] = {}

    def second():
        try:
            register_child(other_citizen, "Anna", ["regen"])
            results["second"] = "stored"
        except ValidationError as exc:
            results["second"] = exc.messages[0]
        finally:
            connections.close_all()

    with held_open(lambda: register_child(citizen, "Anna", ["sonne"]).pk):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waits for the first registration instead of checking beside it
    thread.join(10)
    assert results["second"].startswith("Dieses Kind ist für die Kita-Vergabe schon angemeldet.")
    assert ChildRegistration.objects.count() == 1
