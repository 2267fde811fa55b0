"""The task page offers only what the user may do with the task; what it refuses is not on the page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

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
