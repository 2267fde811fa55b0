"""The task page offers only what the user may do with the task; what it refuses is not on the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rathaus.accounts.models import Role
from rathaus.processes import services
from rathaus.processes.models import UserTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(submit, dog_data):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "nachweis.pdf", "content_type": "application/pdf", "content": PDF}}
    return UserTask.objects.get(application=submit("hund-anmelden", dog_data))


def _page(client, town, task) -> str:
    return client.get(reverse("processes:task_detail", kwargs={"municipality": town.slug, "pk": task.pk})).content.decode()


def test_a_case_worker_is_not_offered_to_hand_on_a_team_task_she_does_not_hold(town, task, make_staff, login_verified):
    client = login_verified(Client(), make_staff(town))
    html = _page(client, town, task)
    assert 'value="claim"' in html and 'value="complete"' in html
    assert 'value="delegate"' not in html and 'value="return"' not in html
    # What the page does not offer the service refuses too.
    with pytest.raises(services.TaskNotAllowed):
        services.task_delegate(task=task, assignee=make_staff(town, "other@musterstadt.example"),
                               user=make_staff(town, "third@musterstadt.example"))


def test_a_colleagues_task_shows_who_holds_it_and_offers_no_action(town, task, make_staff, login_verified):
    colleague = make_staff(town, "kollegin@musterstadt.example")
    colleague.first_name, colleague.last_name = "Karla", "Kollegin"
    colleague.save()
    services.task_claim(task=task, user=colleague)
    client = login_verified(Client(), make_staff(town))
    html = _page(client, town, task)
    for action in ("claim", "return", "delegate", "assign", "complete"):
        assert f'value="{action}"' not in html
    assert "Diese Aufgabe bearbeitet Karla Kollegin." in html
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Karla Kollegin is working on this task." in _page(client, town, task)


def test_the_holder_may_hand_on_return_and_complete(town, task, make_staff, login_verified):
    worker = make_staff(town)
    services.task_claim(task=task, user=worker)
    html = _page(login_verified(Client(), worker), town, task)
    for action in ("return", "delegate", "complete"):
        assert f'value="{action}"' in html
    assert 'value="claim"' not in html and 'value="assign"' not in html


def test_a_team_lead_may_assign_and_take_back_a_colleagues_task(town, task, make_staff, login_verified):
    services.task_claim(task=task, user=make_staff(town))
    lead = make_staff(town, "leitung@musterstadt.example", role=Role.TEAM_LEAD)
    html = _page(login_verified(Client(), lead), town, task)
    for action in ("return", "delegate", "assign"):
        assert f'value="{action}"' in html
    assert 'value="complete"' not in html


def _named(make_staff, town, email: str, first: str, last: str, role: str = Role.CASE_WORKER):
    user = make_staff(town, email, role=role)
    user.first_name, user.last_name = first, last
    user.save()
    return user


def test_handing_on_chooses_nobody_for_her_and_does_not_offer_herself(town, task, make_staff, login_verified):
    lead = _named(make_staff, town, "leitung@musterstadt.example", "Lea", "Leitung", Role.TEAM_LEAD)
    _named(make_staff, town, "admin@musterstadt.example", "Anja", "Admin", Role.TENANT_ADMIN)
    client = login_verified(Client(), lead)
    html = _page(client, town, task)
    select = html.split('<select class="kern-form-input__select" id="assignee" name="assignee">', 1)[1].split("</select>")[0]

    assert select.startswith('<option value="">Bitte wählen</option>')
    assert " selected" not in select
    assert "Anja Admin" in select and "Lea Leitung" not in select

    url = reverse("processes:task_detail", kwargs={"municipality": town.slug, "pk": task.pk})
    empty = client.post(url, {"action": "assign", "assignee": ""})
    assert empty.status_code == 422
    assert "Bitte wählen Sie aus, an wen die Aufgabe gehen soll." in empty.content.decode()
    task.refresh_from_db()
    assert task.assignee is None


@pytest.mark.parametrize(("param", "back", "label"), [
    ("", "/verwaltung/aufgaben/", "Zurück zu meinen Aufgaben"),
    ("?liste=team", "/verwaltung/aufgaben/team/", "Zurück zu den Aufgaben im Team"),
    ("?liste=ueberfaellig", "/verwaltung/aufgaben/ueberfaellig/", "Zurück zu den überfälligen Aufgaben"),
])
def test_the_task_page_leads_back_to_the_list_it_was_opened_from(town, task, make_staff, login_verified,
                                                                   param, back, label):
    UserTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(days=1))
    client = login_verified(Client(), make_staff(town))
    detail = reverse("processes:task_detail", kwargs={"municipality": town.slug, "pk": task.pk})
    if param:  # an open team task is not on "mine" before she claims it
        assert f'href="{detail}{param}"' in client.get(f"/m/{town.slug}{back}").content.decode()

    page = client.get(detail + param).content.decode()
    assert f'<a class="kern-link" href="/m/{town.slug}{back}">{label}</a>' in page
    # Claiming keeps the way back; completing returns to that list.
    claimed = client.post(detail + param, {"action": "claim"})
    assert claimed["Location"] == detail + param
    done = client.post(detail + param, {"action": "complete", "decision.outcome": "approve"})
    assert done["Location"] == f"/m/{town.slug}{back}"
