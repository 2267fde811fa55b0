"""A granted erasure request removes the child's data from the exchanges and the answer says what was erased."""

from __future__ import annotations

import pytest
from django.core import mail

from rathaus.accounts.models import RequestState
from rathaus.accounts.services import data_request_complete, erasure_request
from rathaus.exchanges import services
from rathaus.exchanges.models import ChildRegistration, HolidayRegistration

pytestmark = pytest.mark.django_db


def test_a_granted_erasure_request_removes_the_childs_data_from_the_exchanges(
        municipality, citizen, team_lead, register_child, register_holiday, activities,
        django_capture_on_commit_callbacks):
    daycare = register_child(citizen, "Mia", ["sonne"])
    holiday = register_holiday(citizen, "Mia", [activities["wald"]])
    # The family withdraws both (all the exchange lets her do), then asks for erasure.
    services.registration_withdraw(registration=daycare, actor=citizen)
    services.holiday_registration_withdraw(registration=holiday, actor=citizen)
    with django_capture_on_commit_callbacks(execute=True):
        [request] = erasure_request(user=citizen, reason="Wir sind weggezogen.")
    assert request.municipality_id == municipality.pk  # the exchange data is why this town was asked
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        data_request_complete(request=request, actor=team_lead, application_ids=[])

    request.refresh_from_db()
    assert request.state == RequestState.DONE
    # The answer names both registrations as erased ...
    [answer] = [m for m in mail.outbox if request.reference in m.subject]
    assert (f"Anmeldungen in Börsen gelöscht (anonymisiert): Kita-Anmeldung {daycare.reference}, "
            f"Ferienprogramm „Sommerferien“ ({holiday.reference})") in answer.body
    assert "Es waren keine Daten mehr zu löschen." not in answer.body
    # ... and neither the child's name nor the day of birth is stored in the exchanges any more.
    kept = [(r.child_first_name, r.birth_date) for r in ChildRegistration.objects.filter(parent=citizen)]
    kept += [(r.child_first_name, r.birth_date) for r in HolidayRegistration.objects.filter(parent=citizen)]
    assert kept == []
    daycare.refresh_from_db()
    holiday.refresh_from_db()
    assert (daycare.child_first_name, daycare.child_last_name, daycare.birth_date, daycare.parent_id) == (
        "(gelöscht)", "", daycare.birth_date.replace(month=1, day=1), None)
    assert (holiday.child_first_name, holiday.child_last_name, holiday.emergency_phone, holiday.parent_id) == (
        "(gelöscht)", "", "", None)
