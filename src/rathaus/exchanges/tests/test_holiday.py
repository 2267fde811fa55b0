"""Holiday programme: registration, the seeded lottery, move-up on cancellation, participant lists."""

import csv
import hashlib
import io

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from rathaus.exchanges import services
from rathaus.exchanges.models import (
    HolidayPlacement,
    HolidayWaitlistEntry,
    ModerationStatus,
    PlacementStatus,
    ProgrammeStatus,
    RegistrationStatus,
)
from rathaus.exchanges.tests.conftest import close_registration
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
                                                      django_capture_on_commit_callbacks, draw_holiday):
    with django_capture_on_commit_callbacks(execute=True):
        done = draw_holiday(programme, team_lead)
    assert done.status == ProgrammeStatus.ALLOCATED
    assert len(confirmed(activities["kanu"])) == 1
    assert len(confirmed(activities["zirkus"])) == 2
    assert len(waiting(activities["kanu"])) == 2
    assert len(mail.outbox) == 3
    assert f"Startwert der Verlosung: {done.seed}" in mail.outbox[0].body
    # Anyone can re-run the draw from the stored input and seed and gets the same places.
    snapshot = done.snapshot
    again = holiday_core.allocate_holiday(
        [holiday_core.Activity(a["id"], a["capacity"], a["min_age"], a["max_age"], tuple(a["dates"])) for a in snapshot["activities"]],
        [holiday_core.HolidayChild(c["id"], c["age"], tuple(c["wishes"]), c["max_activities"]) for c in snapshot["children"]],
        snapshot["seed"])
    assert again.assignments == done.result["assignments"]


def test_lottery_runs_once(programme, team_lead, three_children, draw_holiday):
    done = draw_holiday(programme, team_lead)
    with pytest.raises(services.ExchangeError):
        services.holiday_programme_allocate(programme=programme, actor=team_lead)
    with pytest.raises(services.ExchangeError):
        services.holiday_draw_prepare(programme=programme, actor=team_lead)
    assert HolidayPlacement.objects.count() == 3
    programme.refresh_from_db()
    assert programme.seed == done.seed


def test_cancellation_moves_the_first_waiting_child_up_and_tells_the_family(
        programme, team_lead, three_children, activities, django_capture_on_commit_callbacks, draw_holiday):
    draw_holiday(programme, team_lead)
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


def test_only_the_family_or_staff_may_cancel(programme, team_lead, three_children, activities, other_citizen, draw_holiday):
    draw_holiday(programme, team_lead)
    placement = HolidayPlacement.objects.filter(status=PlacementStatus.CONFIRMED).first()
    with pytest.raises(PermissionDenied):
        services.holiday_placement_cancel(placement=placement, actor=other_citizen)
    placement.refresh_from_db()
    assert placement.status == PlacementStatus.CONFIRMED


def test_withdrawing_cancels_all_places_and_leaves_waiting_lists(programme, team_lead, three_children, activities, draw_holiday):
    draw_holiday(programme, team_lead)
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


def test_family_cancels_in_the_portal(client, programme, team_lead, three_children, activities, draw_holiday):
    draw_holiday(programme, team_lead)
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


def test_provider_downloads_participant_lists(client, programme, team_lead, three_children, activities, provider, provider_user, draw_holiday):
    draw_holiday(programme, team_lead)
    client.force_login(provider_user)
    kwargs = {"municipality": programme.municipality.slug, "provider": provider.pk, "pk": activities["zirkus"].pk}
    response = client.get(reverse("exchanges:provider_participants", kwargs={**kwargs, "fmt": "csv"}))
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 2
    assert {r["emergency_phone"] for r in rows} == {"0151 234567"}
    assert all(r["age"] == "8" for r in rows)
    pdf = client.get(reverse("exchanges:provider_participants", kwargs={**kwargs, "fmt": "pdf"}))
    assert pdf["Content-Type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    names = {f"{r['child_first_name']} {r['child_last_name']}" for r in rows}
    assert len(names) == 2
    for name in names:
        assert name in text
    everyone = {r.child_name for r in three_children}
    (absent,) = everyone - names  # the child that did not get the circus is not on its list
    assert absent not in text
    assert "Teilnehmende: Zirkusworkshop" in text
    assert "0151 234567" in text


def test_other_providers_cannot_download_participant_lists(client, programme, team_lead, three_children, activities,
                                                           provider, make_provider, make_user, draw_holiday):
    draw_holiday(programme, team_lead)
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
    html = staff_client.get(url).content.decode()
    assert "Möglich nach dem Anmeldeschluss" in html
    assert 'value="prepare"' not in html
    close_registration(programme)
    assert 'value="prepare"' in staff_client.get(url).content.decode()
    assert staff_client.post(url, {"action": "prepare"}).status_code == 302
    programme.refresh_from_db()
    recorded = programme.seed
    assert programme.status == ProgrammeStatus.PREPARED
    html = staff_client.get(url).content.decode()
    assert programme.seed_commitment in html
    assert 'name="seed"' not in html  # nobody picks the seed at the draw
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(url, {"action": "allocate", "seed": "77"}).status_code == 302
    programme.refresh_from_db()
    assert (programme.status, programme.seed) == (ProgrammeStatus.ALLOCATED, recorded)
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
    assert "in Runde 2 in umgekehrter Reihenfolge, in Runde 3 wieder vorwärts" in html
    assert "Dort stehen Kinder ohne Platz vor Kindern, die schon einen Platz haben" in html
    assert "hält ein Zufallsgenerator einen Startwert fest, bevor verlost werden kann" in html
    assert "Kinder mit weniger Plätzen kommen in späteren Runden zuerst" not in html  # the old, empty promise
    assert "Kanutour" in html


def test_programme_page_counts_places_and_wishes_separately(client, programme, team_lead, three_children, activities, draw_holiday):
    from rathaus.exchanges import selectors

    draw_holiday(programme, team_lead)
    rows = {a.title: (a.taken, a.wish_count) for a in selectors.activities_published(
        municipality=programme.municipality, programme=programme)}
    assert rows == {"Kanutour": (1, 3), "Zirkusworkshop": (2, 3), "Waldtag": (0, 0)}


# ---------------------------------------------------------------------------- the seed is fixed before the draw


def programme_page(client, programme) -> str:
    return client.get(reverse("exchanges:holiday_programme", kwargs={"municipality": programme.municipality.slug,
                                                                     "pk": programme.pk})).content.decode()


def test_the_draw_needs_a_seed_recorded_beforehand(programme, team_lead, three_children):
    with pytest.raises(services.ExchangeError, match="zuerst vor"):
        services.holiday_programme_allocate(programme=programme, actor=team_lead)
    with pytest.raises(services.ExchangeError, match="Anmeldung läuft noch"):
        services.holiday_draw_prepare(programme=programme, actor=team_lead)
    programme.refresh_from_db()
    assert (programme.status, programme.seed, programme.seed_commitment) == (ProgrammeStatus.OPEN, None, "")
    assert not HolidayPlacement.objects.exists()


def test_recorded_seed_is_published_as_a_commitment_and_used_by_the_draw(client, programme, team_lead, three_children,
                                                                        activities):
    close_registration(programme)
    prepared = services.holiday_draw_prepare(programme=programme, actor=team_lead)
    seed, nonce, commitment = prepared.seed, prepared.seed_nonce, prepared.seed_commitment
    assert prepared.status == ProgrammeStatus.PREPARED
    assert prepared.seed_recorded_at is not None
    assert commitment == hashlib.sha256(f"{seed}:{nonce}".encode()).hexdigest()
    # Families see the commitment before the draw, but not the seed itself.
    html = programme_page(client, programme)
    assert commitment in html
    assert str(seed) not in html
    family = three_children[0]
    client.force_login(family.parent)
    family_page = client.get(reverse("exchanges:holiday_registration", kwargs={
        "municipality": programme.municipality.slug, "pk": family.pk})).content.decode()
    assert commitment in family_page
    assert str(seed) not in family_page

    done = services.holiday_programme_allocate(programme=programme, actor=team_lead)
    assert (done.seed, done.seed_nonce, done.snapshot["seed"]) == (seed, nonce, seed)
    # The places are exactly those of the lottery drawn with the recorded seed.
    again = holiday_core.allocate_holiday(
        [holiday_core.Activity(a["id"], a["capacity"], a["min_age"], a["max_age"], tuple(a["dates"]))
         for a in done.snapshot["activities"]],
        [holiday_core.HolidayChild(c["id"], c["age"], tuple(c["wishes"]), c["max_activities"])
         for c in done.snapshot["children"]], seed)
    assert again.assignments == done.result["assignments"]
    after = programme_page(client, programme)
    assert f"mit dem Startwert {seed}." in after
    assert f"„{seed}:{nonce}“" in after
    assert commitment in after


def test_the_seed_cannot_be_recorded_twice(programme, team_lead, three_children):
    close_registration(programme)
    first = services.holiday_draw_prepare(programme=programme, actor=team_lead)
    with pytest.raises(services.ExchangeError, match="schon vorbereitet"):
        services.holiday_draw_prepare(programme=programme, actor=team_lead)
    programme.refresh_from_db()
    assert (programme.seed, programme.seed_nonce) == (first.seed, first.seed_nonce)


def test_a_case_worker_cannot_record_the_seed(programme, case_worker, three_children):
    from django.core.exceptions import PermissionDenied

    close_registration(programme)
    with pytest.raises(PermissionDenied):
        services.holiday_draw_prepare(programme=programme, actor=case_worker)
    programme.refresh_from_db()
    assert programme.seed is None


def test_registration_closes_when_the_draw_is_prepared(programme, team_lead, activities, citizen, register_holiday):
    from datetime import timedelta

    close_registration(programme)
    services.holiday_draw_prepare(programme=programme, actor=team_lead)
    # Even if staff move the deadline again, the prepared draw admits nobody new.
    programme.registration_until = timezone.localdate() + timedelta(days=5)
    programme.save(update_fields=["registration_until"])
    programme.refresh_from_db()
    with pytest.raises(services.ExchangeError, match="geschlossen"):
        register_holiday(citizen, "Spät", [activities["wald"]])


def test_the_operator_admin_neither_shows_nor_edits_the_seed_before_the_draw(client, staff_login, django_user_model,
                                                                            programme, team_lead, three_children):
    close_registration(programme)
    prepared = services.holiday_draw_prepare(programme=programme, actor=team_lead)
    staff_login(client, django_user_model.objects.create_superuser("root", "root@example.org", "a-long-password-123"))
    html = client.get(f"/verwaltung/exchanges/holidayprogramme/{programme.pk}/change/").content.decode()
    assert prepared.seed_commitment in html
    assert 'name="seed"' not in html
    assert str(prepared.seed) not in html
    assert prepared.seed_nonce not in html


def test_a_child_takes_part_in_a_programme_once(register_holiday, citizen, other_citizen, activities):
    from rathaus.exchanges.models import HolidayRegistration

    mia = register_holiday(citizen, "Mia", [activities["kanu"]])
    for parent, first_name in ((citizen, "mia"), (other_citizen, " MIA  ")):
        with pytest.raises(ValidationError, match="schon angemeldet"):
            register_holiday(parent, first_name, [activities["zirkus"]])
    assert HolidayRegistration.objects.count() == 1
    register_holiday(citizen, "Mia", [activities["zirkus"]], age=9)  # another Mia, a year older
    services.holiday_registration_withdraw(registration=mia, actor=citizen)
    register_holiday(citizen, "Mia", [activities["zirkus"]])  # withdrawn: she may register anew
    assert HolidayRegistration.objects.exclude(status="withdrawn").count() == 2


# ---------------------------------------------------------------------------- fill-rate charts after the draw


def test_staff_programme_page_charts_places_and_waiting_lists_after_the_draw(staff_client, programme, team_lead,
                                                                           three_children, activities, draw_holiday):
    url = reverse("exchanges:staff_programme", kwargs={"municipality": programme.municipality.slug, "pk": programme.pk})
    assert 'role="img"' not in staff_client.get(url).content.decode()  # before the draw every bar would be empty
    activities["wald"].status = ModerationStatus.REJECTED
    activities["wald"].save(update_fields=["status"])
    draw_holiday(programme, team_lead)
    html = staff_client.get(url).content.decode()
    circus_waiting = len(waiting(activities["zirkus"]))
    assert html.count('role="img"') == 1
    assert '<title id="chart-title">Belegte Plätze je Aktivität</title>' in html
    assert '>Kanutour</text>' in html
    assert "100 % (1/1) · Warteliste: 2</text>" in html
    assert f"100 % (2/2) · Warteliste: {circus_waiting}</text>" in html
    assert '>Waldtag</text>' not in html  # a rejected activity takes part in no draw
    assert "<td>1 / 1</td><td>2</td>" in html  # the numbers stay in the table
    rows = list(csv.DictReader(io.StringIO(staff_client.get(url, {"export": "csv"}).content.decode("utf-8-sig"))))
    assert {(r["title"], r["capacity"], r["taken"], r["waiting"]) for r in rows} == {
        ("Kanutour", "1", "1", "2"), ("Zirkusworkshop", "2", "2", str(circus_waiting)), ("Waldtag", "5", "0", "0")}


def test_provider_home_charts_places_and_waiting_lists_after_the_draw(client, programme, team_lead, three_children,
                                                                    activities, provider, provider_user, draw_holiday):
    client.force_login(provider_user)
    url = reverse("exchanges:provider_home", kwargs={"municipality": programme.municipality.slug})
    assert 'role="img"' not in client.get(url).content.decode()
    draw_holiday(programme, team_lead)
    html = client.get(url).content.decode()
    assert f'aria-labelledby="chart-provider-{provider.pk}-title chart-provider-{provider.pk}-desc"' in html
    assert "100 % (1/1) · Warteliste: 2</text>" in html
    assert "0 % (0/5) · Warteliste: 0</text>" in html
    assert "<td>1 / 1</td><td>2</td>" in html
    assert '<th scope="col">Warteliste</th>' in html
