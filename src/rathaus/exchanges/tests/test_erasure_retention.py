"""Erasure requests and the retention job remove the child's data from registrations no longer needed."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from rathaus.accounts.services import data_request_complete, erasure_request
from rathaus.core.models import AuditEntry
from rathaus.exchanges import services
from rathaus.exchanges.models import (
    ChildRegistration,
    HolidayActivity,
    HolidayProgramme,
    HolidayRegistration,
    RegistrationStatus,
)

pytestmark = pytest.mark.django_db

PERSONAL_FIELDS = ("child_first_name", "child_last_name", "birth_date", "parent_id", "emergency_phone", "notes",
                   "single_parent", "parents_working", "special_needs", "sibling_facility_id", "anonymised_at")


def snapshot(registration) -> tuple:
    registration.refresh_from_db()
    return tuple(getattr(registration, name, None) for name in PERSONAL_FIELDS)


def complete(request, team_lead, capture):
    mail.outbox.clear()
    with capture(execute=True):
        data_request_complete(request=request, actor=team_lead, application_ids=[])
    [answer] = [m for m in mail.outbox if request.reference in m.subject]
    request.refresh_from_db()
    return answer


def move_programme_to(programme: HolidayProgramme, last_day: date) -> None:
    """Let the programme and every activity of it end on `last_day`."""
    HolidayProgramme.objects.filter(pk=programme.pk).update(starts_on=last_day - timedelta(days=10), ends_on=last_day,
                                                            registration_until=last_day - timedelta(days=20))
    HolidayActivity.objects.filter(programme=programme).update(start_date=last_day, end_date=last_day)


def ended_at(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(12, 0)))


def test_registrations_still_in_the_allocation_are_kept_unchanged_and_named_in_the_answer(
        municipality, citizen, team_lead, register_child, register_holiday, activities,
        django_capture_on_commit_callbacks):
    waiting = register_child(citizen, "Mia", ["sonne"])
    placed = register_child(citizen, "Ben", ["regen"])
    ChildRegistration.objects.filter(pk=placed.pk).update(status=RegistrationStatus.PLACED)
    holiday = register_holiday(citizen, "Mia", [activities["wald"]])
    before = [snapshot(r) for r in (waiting, placed, holiday)]
    with django_capture_on_commit_callbacks(execute=True):
        [request] = erasure_request(user=citizen, reason="Bitte löschen.")

    answer = complete(request, team_lead, django_capture_on_commit_callbacks)

    assert [snapshot(r) for r in (waiting, placed, holiday)] == before
    assert request.result["exchanges"]["anonymised"] == []
    assert [(e["reference"], e["reason"]) for e in request.result["exchanges"]["kept"]] == [
        (waiting.reference, "open"), (placed.reference, "placed"), (holiday.reference, "open")]
    assert ("Anmeldungen in Börsen, die noch nicht gelöscht sind, weil die Vergabe oder das Ferienprogramm noch läuft: "
            f"Kita-Anmeldung {waiting.reference}, Ferienprogramm „Sommerferien“ ({holiday.reference})") in answer.body
    assert ("Kita-Anmeldungen mit angenommenem Platz; sie bleiben als Grundlage der Platzvergabe und werden nach "
            f"Ablauf der Aufbewahrungsfrist gelöscht: Kita-Anmeldung {placed.reference}") in answer.body


def test_a_registration_of_a_holiday_programme_that_is_over_is_anonymised_with_its_phone_and_notes(
        municipality, citizen, team_lead, register_holiday, programme, activities,
        django_capture_on_commit_callbacks):
    holiday = register_holiday(citizen, "Mia", [activities["wald"]])
    HolidayRegistration.objects.filter(pk=holiday.pk).update(notes="Nussallergie")
    move_programme_to(programme, timezone.localdate() - timedelta(days=1))
    birth_year = holiday.birth_date.year
    with django_capture_on_commit_callbacks(execute=True):
        [request] = erasure_request(user=citizen, reason="Bitte löschen.")

    complete(request, team_lead, django_capture_on_commit_callbacks)

    holiday.refresh_from_db()
    assert (holiday.child_first_name, holiday.child_last_name, holiday.birth_date, holiday.emergency_phone,
            holiday.notes, holiday.parent_id, holiday.status) == (
        "(gelöscht)", "", date(birth_year, 1, 1), "", "", None, RegistrationStatus.ACTIVE)
    assert [e["reference"] for e in request.result["exchanges"]["anonymised"]] == [holiday.reference]


def test_the_same_parents_registrations_in_another_town_are_untouched(
        municipality, other_municipality, citizen, team_lead, register_child, start_month,
        django_capture_on_commit_callbacks):
    here = register_child(citizen, "Mia", ["sonne"])
    services.registration_withdraw(registration=here, actor=citizen)
    there = ChildRegistration.objects.create(
        municipality=other_municipality, parent=citizen, child_first_name="Mia", child_last_name="Kind",
        birth_date=here.birth_date, desired_start=start_month, care_hours=35, group_kind="U3",
        status=RegistrationStatus.WITHDRAWN)
    before = snapshot(there)
    with django_capture_on_commit_callbacks(execute=True):
        requests = erasure_request(user=citizen, reason="Bitte löschen.")
    [request] = [r for r in requests if r.municipality_id == municipality.pk]

    complete(request, team_lead, django_capture_on_commit_callbacks)

    assert snapshot(here)[:4] == ("(gelöscht)", "", here.birth_date.replace(month=1, day=1), None)
    assert snapshot(there) == before
    assert [e["reference"] for e in request.result["exchanges"]["anonymised"]] == [here.reference]


def test_the_audit_entries_of_an_erasure_hold_no_personal_data(
        municipality, citizen, team_lead, register_child, register_holiday, activities,
        django_capture_on_commit_callbacks):
    daycare = register_child(citizen, "Mia", ["sonne"])
    holiday = register_holiday(citizen, "Lotta", [activities["wald"]])
    HolidayRegistration.objects.filter(pk=holiday.pk).update(notes="Nussallergie")
    first_new = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    services.registration_withdraw(registration=daycare, actor=citizen)
    services.holiday_registration_withdraw(registration=holiday, actor=citizen)
    with django_capture_on_commit_callbacks(execute=True):
        [request] = erasure_request(user=citizen, reason="Bitte löschen.")

    complete(request, team_lead, django_capture_on_commit_callbacks)

    entries = list(AuditEntry.objects.filter(pk__gt=first_new).order_by("pk"))
    anonymised = [e for e in entries if e.action == "exchanges.registration_anonymised"]
    assert [(e.summary, e.data) for e in anonymised] == [
        (f"{daycare.reference}: erasure request {request.reference}",
         {"fields": ["birth_date", "child_first_name", "child_last_name", "parent", "parents_working",
                     "sibling_facility", "single_parent", "special_needs"],
          "reason": f"erasure request {request.reference}"}),
        (f"{holiday.reference}: erasure request {request.reference}",
         {"fields": ["birth_date", "child_first_name", "child_last_name", "emergency_phone", "notes", "parent"],
          "reason": f"erasure request {request.reference}"}),
    ]
    personal = ("Mia", "Lotta", "Kind", "Ferienkind", "0151", "Nussallergie", citizen.email, citizen.last_name,
                daycare.birth_date.isoformat(), holiday.birth_date.isoformat())
    texts = [f"{e.summary} {e.data}" for e in entries]
    assert [(text, word) for text in texts for word in personal if word in text] == []


def test_the_staff_page_of_a_completed_request_lists_the_registrations_with_their_outcome(
        municipality, citizen, team_lead, staff_client, register_child, register_holiday, activities,
        django_capture_on_commit_callbacks):
    withdrawn = register_child(citizen, "Mia", ["sonne"])
    services.registration_withdraw(registration=withdrawn, actor=citizen)
    holiday = register_holiday(citizen, "Mia", [activities["wald"]])
    with django_capture_on_commit_callbacks(execute=True):
        [request] = erasure_request(user=citizen, reason="Bitte löschen.")
    url = reverse("dataprotection:detail", kwargs={"municipality": municipality.slug, "pk": request.pk})
    page = staff_client.get(url).content.decode()
    assert f"Kita {withdrawn.reference}: Mia Kind (zurückgezogen) – wird beim Erledigen anonymisiert" in page
    assert (f"Sommerferien {holiday.reference}: Mia Ferienkind (nimmt an der Vergabe teil) – bleibt, weil das "
            "Ferienprogramm noch nicht vorbei ist") in page

    complete(request, team_lead, django_capture_on_commit_callbacks)

    page = staff_client.get(url).content.decode()
    assert f"Kita-Anmeldung {withdrawn.reference} (zurückgezogen) – anonymisiert" in page
    assert (f"Ferienprogramm „Sommerferien“ ({holiday.reference}) (nimmt an der Vergabe teil) – behalten: Vergabe "
            "oder Ferienprogramm läuft noch") in page
    # The outcome names registrations by reference only: the kept child's name is not repeated there.
    assert "Mia" not in page


def test_the_citizen_sees_on_her_data_page_which_registrations_were_erased_and_which_kept(
        municipality, citizen, citizen_client, team_lead, register_child, register_holiday, activities,
        django_capture_on_commit_callbacks):
    withdrawn = register_child(citizen, "Mia", ["sonne"])
    services.registration_withdraw(registration=withdrawn, actor=citizen)
    holiday = register_holiday(citizen, "Mia", [activities["wald"]])
    with django_capture_on_commit_callbacks(execute=True):
        [request] = erasure_request(user=citizen, reason="Bitte löschen.")
    complete(request, team_lead, django_capture_on_commit_callbacks)

    page = citizen_client.get(reverse("accounts:my_data")).content.decode()

    assert (f"Anmeldungen in Börsen gelöscht: {withdrawn.reference}. "
            f"Anmeldungen in Börsen behalten: {holiday.reference} (Vergabe läuft noch).") in page


def test_the_retention_job_anonymises_registrations_ended_before_last_year_and_keeps_the_rest(
        citizen, register_child, register_holiday, programme, activities):
    today = timezone.localdate()
    due_withdrawn = register_child(citizen, "Alt", ["sonne"])
    recent_withdrawn = register_child(citizen, "Neu", ["sonne"])
    old_active = register_child(citizen, "Wartet", ["sonne"])
    for registration in (due_withdrawn, recent_withdrawn):
        services.registration_withdraw(registration=registration, actor=citizen)
    # Ended in the year before last: due. Ended last year: kept until the end of this year.
    ChildRegistration.objects.filter(pk=due_withdrawn.pk).update(updated_at=ended_at(date(today.year - 2, 12, 31)))
    ChildRegistration.objects.filter(pk=recent_withdrawn.pk).update(updated_at=ended_at(date(today.year - 1, 1, 1)))
    ChildRegistration.objects.filter(pk=old_active.pk).update(updated_at=ended_at(date(today.year - 3, 6, 1)))
    holiday = register_holiday(citizen, "Ferien", [activities["wald"]])
    before = {r.pk: snapshot(r) for r in (recent_withdrawn, old_active)}
    upcoming_holiday = snapshot(holiday)

    assert services.registrations_apply_retention() == {"anonymised": 1, "failed": 0}

    assert snapshot(due_withdrawn)[:4] == ("(gelöscht)", "", due_withdrawn.birth_date.replace(month=1, day=1), None)
    assert {r.pk: snapshot(r) for r in (recent_withdrawn, old_active)} == before
    assert snapshot(holiday) == upcoming_holiday
    [entry] = AuditEntry.objects.filter(action="exchanges.registration_anonymised")
    assert (entry.summary, entry.actor_label, entry.data["reason"]) == (
        f"{due_withdrawn.reference}: retention 1 year(s)", "retention-job", "retention 1 year(s)")

    # A programme that ended in the year before last is due too, withdrawn or not.
    move_programme_to(programme, date(today.year - 2, 8, 31))
    assert services.registrations_apply_retention() == {"anonymised": 1, "failed": 0}
    assert snapshot(holiday)[:4] == ("(gelöscht)", "", holiday.birth_date.replace(month=1, day=1), None)
    assert services.registrations_apply_retention() == {"anonymised": 0, "failed": 0}


def test_a_holiday_programme_that_ended_last_year_is_not_yet_due(citizen, register_holiday, programme, activities):
    holiday = register_holiday(citizen, "Ferien", [activities["wald"]])
    move_programme_to(programme, date(timezone.localdate().year - 1, 12, 31))
    before = snapshot(holiday)

    assert services.registrations_apply_retention() == {"anonymised": 0, "failed": 0}
    assert snapshot(holiday) == before


def test_a_placed_daycare_registration_is_due_once_the_place_began_before_last_year(
        citizen, register_child, settings):
    placed = register_child(citizen, "Ben", ["regen"])
    year = timezone.localdate().year
    ChildRegistration.objects.filter(pk=placed.pk).update(
        status=RegistrationStatus.PLACED, updated_at=ended_at(date(year - 3, 5, 1)), desired_start=date(year - 1, 8, 1))
    assert services.registrations_apply_retention() == {"anonymised": 0, "failed": 0}

    settings.RATHAUS_EXCHANGE_RETENTION_YEARS = 0
    assert services.registrations_apply_retention() == {"anonymised": 1, "failed": 0}
    assert snapshot(placed)[0] == "(gelöscht)"


def test_the_retention_job_is_scheduled_daily(settings):
    assert settings.RATHAUS_PERIODIC_TASKS["exchanges.retention"] == ("rathaus.exchanges.tasks.apply_retention", 86400)


def test_the_retention_command_reports_the_anonymised_registrations(citizen, register_child):
    withdrawn = register_child(citizen, "Alt", ["sonne"])
    services.registration_withdraw(registration=withdrawn, actor=citizen)
    ChildRegistration.objects.filter(pk=withdrawn.pk).update(
        updated_at=ended_at(date(timezone.localdate().year - 2, 6, 1)))
    out = StringIO()

    call_command("retention", stdout=out)

    assert "anonymised 1 exchange registrations" in out.getvalue().splitlines()
    assert snapshot(withdrawn)[0] == "(gelöscht)"
