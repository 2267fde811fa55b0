"""Holiday programme: registration, the seeded lottery, move-up on cancellation, participant lists."""

import csv
import io

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from rathaus.exchanges import services
from rathaus.exchanges.models import (
    HolidayPlacement,
    HolidayWaitlistEntry,
    PlacementStatus,
    ProgrammeStatus,
    RegistrationStatus,
)
from rathaus_domain.allocation import holiday as holiday_core

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_children(make_user, register_holiday, activities):
    """Three children who all want the canoe trip (1 place) first, then the circus (2 places)."""
    return [register_holiday(make_user(f"familie{i}@example.org"), name, [activities["kanu"], activities["zirkus"]])
            for i, name in enumerate(["Lena", "Max", "Noah"])]


def confirmed(activity):
    return set(HolidayPlacement.objects.filter(activity=activity, status=PlacementStatus.CONFIRMED)
               .values_list("registration_id", flat=True))


def waiting(activity):
    return list(HolidayWaitlistEntry.objects.filter(activity=activity).order_by("position")
                .values_list("registration_id", flat=True))


def test_registration_checks_age_and_wish_count(register_holiday, citizen, activities):
    with pytest.raises(ValidationError) as excinfo:
        register_holiday(citizen, "Tim", [activities["kanu"]], age=4)
    assert "6 bis 12 Jahre" in str(excinfo.value)
    with pytest.raises(ValidationError):
        register_holiday(citizen, "Tim", [activities["kanu"]], max_activities=5)


def test_lottery_stores_seed_places_and_waiting_lists(programme, team_lead, three_children, activities,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        done = services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=2024)
    assert (done.status, done.seed) == (ProgrammeStatus.ALLOCATED, 2024)
    assert len(confirmed(activities["kanu"])) == 1
    assert len(confirmed(activities["zirkus"])) == 2
    assert len(waiting(activities["kanu"])) == 2
    assert len(mail.outbox) == 3
    assert "Startwert der Verlosung: 2024" in mail.outbox[0].body
    # Anyone can re-run the draw from the stored input and seed and gets the same places.
    snapshot = done.snapshot
    again = holiday_core.allocate_holiday(
        [holiday_core.Activity(a["id"], a["capacity"], a["min_age"], a["max_age"], tuple(a["dates"])) for a in snapshot["activities"]],
        [holiday_core.HolidayChild(c["id"], c["age"], tuple(c["wishes"]), c["max_activities"]) for c in snapshot["children"]],
        snapshot["seed"])
    assert again.assignments == done.result["assignments"]


def test_lottery_runs_once(programme, team_lead, three_children):
    services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=1)
    with pytest.raises(services.ExchangeError):
        services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=2)
    assert HolidayPlacement.objects.count() == 3


def test_cancellation_moves_the_first_waiting_child_up_and_tells_the_family(
        programme, team_lead, three_children, activities, django_capture_on_commit_callbacks):
    services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=5)
    kanu = activities["kanu"]
    (holder_id,) = confirmed(kanu)
    first_waiting = waiting(kanu)[0]
    holder = next(r for r in three_children if r.pk == holder_id)
    placement = HolidayPlacement.objects.get(registration=holder, activity=kanu)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        moved = services.holiday_placement_cancel(placement=placement, actor=holder.parent)
    assert [(p.registration_id, p.activity_id) for p in moved] == [(first_waiting, kanu.pk)]
    assert confirmed(kanu) == {first_waiting}
    # With one activity at most, the child gives up the circus it ranked lower.
    released = HolidayPlacement.objects.get(registration_id=first_waiting, activity=activities["zirkus"])
    assert released.status == PlacementStatus.RELEASED
    assert waiting(kanu) == [r.pk for r in three_children if r.pk not in (holder_id, first_waiting)]
    assert len(mail.outbox) == 1
    notice = mail.outbox[0]
    assert notice.subject == "Nachgerückt: Kanutour"
    assert notice.to == [next(r for r in three_children if r.pk == first_waiting).parent.email]
    assert "Zirkusworkshop" in notice.body


def test_only_the_family_or_staff_may_cancel(programme, team_lead, three_children, activities, other_citizen):
    services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=5)
    placement = HolidayPlacement.objects.filter(status=PlacementStatus.CONFIRMED).first()
    with pytest.raises(PermissionDenied):
        services.holiday_placement_cancel(placement=placement, actor=other_citizen)
    placement.refresh_from_db()
    assert placement.status == PlacementStatus.CONFIRMED


def test_withdrawing_cancels_all_places_and_leaves_waiting_lists(programme, team_lead, three_children, activities):
    services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=5)
    waiting_child = next(r for r in three_children if r.pk in waiting(activities["kanu"]))
    kanu_before = confirmed(activities["kanu"])
    services.holiday_registration_withdraw(registration=waiting_child, actor=waiting_child.parent)
    waiting_child.refresh_from_db()
    assert waiting_child.status == RegistrationStatus.WITHDRAWN
    assert not HolidayPlacement.objects.filter(registration=waiting_child, status=PlacementStatus.CONFIRMED).exists()
    assert waiting_child.pk not in waiting(activities["kanu"])
    # Nobody waits for the circus, so its freed place stays free; the canoe trip is untouched.
    assert len(confirmed(activities["zirkus"])) == 1
    assert confirmed(activities["kanu"]) == kanu_before


def test_family_cancels_in_the_portal(client, programme, team_lead, three_children, activities):
    services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=5)
    placement = HolidayPlacement.objects.get(activity=activities["kanu"], status=PlacementStatus.CONFIRMED)
    client.force_login(placement.registration.parent)
    detail = reverse("exchanges:holiday_registration", kwargs={"municipality": programme.municipality.slug,
                                                               "pk": placement.registration_id})
    assert "Platz absagen" in client.get(detail).content.decode()
    url = reverse("exchanges:holiday_placement_cancel", kwargs={"municipality": programme.municipality.slug, "pk": placement.pk})
    assert client.post(url).status_code == 302
    placement.refresh_from_db()
    assert placement.status == PlacementStatus.CANCELLED


def test_family_registers_through_the_form(client, programme, activities, citizen):
    from rathaus.exchanges.tests.conftest import birth_for

    client.force_login(citizen)
    url = reverse("exchanges:holiday_register", kwargs={"municipality": programme.municipality.slug, "pk": programme.pk})
    assert client.get(url).status_code == 200
    response = client.post(url, {"child_first_name": "Ida", "child_last_name": "Muster",
                                 "birth_date": birth_for(9, programme.starts_on).isoformat(), "max_activities": "2",
                                 "emergency_phone": "0170 1234567", "wish_1": activities["wald"].pk,
                                 "wish_2": activities["kanu"].pk})
    assert response.status_code == 302
    registration = citizen.holiday_registrations.get()
    assert [w.activity.title for w in registration.wishes.all()] == ["Waldtag", "Kanutour"]


def test_provider_downloads_participant_lists(client, programme, team_lead, three_children, activities, provider, provider_user):
    services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=5)
    client.force_login(provider_user)
    kwargs = {"municipality": programme.municipality.slug, "provider": provider.pk, "pk": activities["zirkus"].pk}
    response = client.get(reverse("exchanges:provider_participants", kwargs={**kwargs, "fmt": "csv"}))
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 2
    assert {r["emergency_phone"] for r in rows} == {"0151 234567"}
    assert all(r["age"] == "8" for r in rows)
    pdf = client.get(reverse("exchanges:provider_participants", kwargs={**kwargs, "fmt": "pdf"}))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_other_providers_cannot_download_participant_lists(client, programme, team_lead, three_children, activities,
                                                           provider, make_provider, make_user):
    services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=5)
    stranger = make_user("fremd@example.org")
    other = make_provider(programme.municipality, "Anderer Verein", stranger)
    client.force_login(stranger)
    for provider_id in (provider.pk, other.pk):
        url = reverse("exchanges:provider_participants", kwargs={
            "municipality": programme.municipality.slug, "provider": provider_id, "pk": activities["zirkus"].pk, "fmt": "csv"})
        assert client.get(url).status_code == 404


def test_staff_allocate_and_cancel_through_the_pages(staff_client, programme, three_children, activities,
                                                     django_capture_on_commit_callbacks):
    url = reverse("exchanges:staff_programme", kwargs={"municipality": programme.municipality.slug, "pk": programme.pk})
    assert staff_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(url, {"action": "allocate", "seed": "77"}).status_code == 302
    programme.refresh_from_db()
    assert programme.seed == 77
    activity_url = reverse("exchanges:staff_activity", kwargs={"municipality": programme.municipality.slug,
                                                               "pk": activities["kanu"].pk})
    placement = HolidayPlacement.objects.get(activity=activities["kanu"], status=PlacementStatus.CONFIRMED)
    html = staff_client.get(activity_url).content.decode()
    assert placement.registration.child_name in html
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(activity_url, {"action": "cancel", "placement": placement.pk})
    placement.refresh_from_db()
    assert placement.status == PlacementStatus.CANCELLED
    assert len(confirmed(activities["kanu"])) == 1
    pdf = staff_client.get(reverse("exchanges:staff_participants", kwargs={
        "municipality": programme.municipality.slug, "pk": activities["kanu"].pk, "fmt": "pdf"}))
    assert pdf.status_code == 200


def test_public_programme_page_explains_the_lottery(client, programme, activities):
    html = client.get(reverse("exchanges:holiday_programme", kwargs={"municipality": programme.municipality.slug,
                                                                     "pk": programme.pk})).content.decode()
    assert "So wird verlost" in html
    assert "Kanutour" in html


def test_programme_page_counts_places_and_wishes_separately(client, programme, team_lead, three_children, activities):
    from rathaus.exchanges import selectors

    services.holiday_programme_allocate(programme=programme, actor=team_lead, seed=5)
    rows = {a.title: (a.taken, a.wish_count) for a in selectors.activities_published(
        municipality=programme.municipality, programme=programme)}
    assert rows == {"Kanutour": (1, 3), "Zirkusworkshop": (2, 3), "Waldtag": (0, 0)}
