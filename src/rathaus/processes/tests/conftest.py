import base64
import copy
from datetime import date, timedelta

import pytest

PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF").decode()


@pytest.fixture
def demo_processes(town, demo_services):
    from rathaus.processes.demo import attach_demo_processes

    attach_demo_processes(town, demo_services)
    return demo_services


def move_day() -> date:
    """A moving day the street-space form accepts: it must be at least 14 days ahead (x-date-min-days-ahead)."""
    from django.utils import timezone

    return timezone.localdate() + timedelta(days=30)


def _person(street="Hauptstraße", number="12"):
    return {"given_name": "Erika", "family_name": "Mustermann",
            "address": {"street": street, "house_number": number, "postal_code": "99999", "city": "Musterstadt"},
            "email": "erika@example.org"}


@pytest.fixture
def dog_data():
    return {
        "owner": {**_person(), "birth_date": "1980-01-31"},
        "dog": {"name": "Bello", "breed": "labrador", "birth_date": "2024-05-01", "sex": "maennlich",
                "chip_number": "276098106123456", "kept_since": "2026-11-01", "other_dogs": 0},
        "reduction": {"exemption": "keine"},
        "declaration": {"truthful": True, "privacy": True},
    }


@pytest.fixture
def parking_data():
    return {
        "applicant": _person("Hauptstraße", "12"),
        "vehicle": {"plate": "MU-AB 123", "holder": "self",
                    "registration": {"filename": "schein.pdf", "content_type": "application/pdf", "content": PDF}},
        "zone": {"zone": "A", "start": "2026-12-01"},
        "declaration": {"truthful": True, "privacy": True},
    }


@pytest.fixture
def street_data():
    return {
        "applicant": _person(),
        "place": {"street": "Hauptstraße", "house_number": "12", "length_m": 15, "side": "house",
                  "date": move_day().isoformat(), "from_time": "07:00", "to_time": "18:00"},
        "vehicles": {"items": [{"kind": "van"}]},
        "declaration": {"truthful": True, "privacy": True},
    }


@pytest.fixture
def submit(town, demo_processes, django_capture_on_commit_callbacks):
    """Submit through the real service; the process start job runs on commit (immediate backend)."""
    from rathaus.applications.services import application_submit

    def run(slug, data):
        with django_capture_on_commit_callbacks(execute=True):
            result = application_submit(municipality=town, service=demo_processes[slug], data=data)
        result.application.refresh_from_db()
        return result.application

    return run


@pytest.fixture
def open_task(submit, dog_data):
    """A dog registration with an exemption, whose proof a case worker must check: its open task."""
    from rathaus.processes.models import UserTask

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "n.pdf", "content_type": "application/pdf", "content": PDF}}
    return UserTask.objects.get(application=submit("hund-anmelden", dog_data))


@pytest.fixture
def request_proof(submit, dog_data):
    """``request_proof(case_worker)``: a dog registration with an exemption whose proof the case worker
    found insufficient; the process waits for a new one ("Nachweis abwarten", 14- and 28-day timers)."""
    from rathaus.processes.models import UserTask
    from rathaus.processes.services import task_complete

    def run(case_worker):
        data = copy.deepcopy(dog_data)
        data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
        application = submit("hund-anmelden", data)
        task_complete(task=UserTask.objects.get(application=application, element_id="review"), user=case_worker,
                      data={"decision": {"outcome": "request_documents", "note": "Der Ausweis ist abgelaufen."}})
        application.refresh_from_db()
        return application

    return run


@pytest.fixture
def mail_server_down(monkeypatch):
    """Every e-mail fails as if the mail server refused connections, until the returned set is cleared."""
    from django.core.mail import EmailMessage

    real_send = EmailMessage.send

    def send(message, *args, **kwargs):
        if "down" in state:
            raise ConnectionRefusedError("mail server down")
        return real_send(message, *args, **kwargs)

    state = {"down"}
    monkeypatch.setattr(EmailMessage, "send", send)
    return state
