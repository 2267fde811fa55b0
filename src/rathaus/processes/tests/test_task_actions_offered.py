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


SITUATIONS = ["unassigned", "hers", "a colleague's", "completed"]
PEOPLE = [Role.CASE_WORKER, Role.TEAM_LEAD, Role.TENANT_ADMIN, "another town"]


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("who", PEOPLE)
def test_what_the_page_offers_is_exactly_what_the_services_then_do(town, task, make_staff, situation, who):
    from django.db import transaction

    from rathaus.tenants.models import Municipality

    if who == "another town":
        other = Municipality.objects.create(name="Nachbarort", slug="nachbarort", ags="09999998")
        user = make_staff(other, "fremd@nachbarort.example")
    else:
        user = make_staff(town, "ich@musterstadt.example", role=who)
    colleague = make_staff(town, "kollegin@musterstadt.example")
    helper = make_staff(town, "helfer@musterstadt.example")
    if situation == "hers":
        UserTask.objects.filter(pk=task.pk).update(assignee=user)
    elif situation == "a colleague's":
        UserTask.objects.filter(pk=task.pk).update(assignee=colleague)
    elif situation == "completed":
        UserTask.objects.filter(pk=task.pk).update(state="completed")
    task.refresh_from_db()
    rights = services.task_rights(task=task, user=user)

    attempts = {
        "claim": lambda: services.task_claim(task=task, user=user),
        "give_back": lambda: services.task_return(task=task, user=user),
        "delegate": lambda: services.task_delegate(task=task, assignee=helper, user=user),
        "assign": lambda: services.task_assign(task=task, assignee=helper, user=user),
        "complete": lambda: services.task_complete(task=task, user=user, data={"decision": {"outcome": "approve"}}),
    }
    if situation == "hers":
        # Not offered, and a second click on "Übernehmen" changes nothing (asserted below).
        assert not rights.claim
        del attempts["claim"]
    for action, attempt in attempts.items():
        reason = None
        try:
            with transaction.atomic():
                attempt()
                transaction.set_rollback(True)  # each attempt on the task as it was
        except services.TaskNotAllowed as exc:
            reason = exc.reason
        assert (reason is None) == getattr(rights, action), (action, who, situation, reason)
        assert reason is None or reason in services.TASK_REFUSALS


def test_taking_a_task_again_records_nothing_and_handing_it_to_whoever_has_it_is_refused_in_words(
        town, task, make_staff, login_verified):
    from rathaus.processes.models import CaseEvent

    worker = _named(make_staff, town, "bea@musterstadt.example", "Bea", "Bearbeiterin")
    lead = make_staff(town, "leitung@musterstadt.example", role=Role.TEAM_LEAD)
    services.task_claim(task=task, user=worker)
    services.task_claim(task=task, user=worker)  # a second click
    assert CaseEvent.objects.filter(application=task.application, kind="task_claimed").count() == 1

    client = login_verified(Client(), worker)
    url = reverse("processes:task_detail", kwargs={"municipality": town.slug, "pk": task.pk})
    # Handing it on to herself (a crafted request: the page does not list her).
    page = client.post(url, {"action": "delegate", "assignee": worker.pk}, follow=True).content.decode()
    assert "An sich selbst abgeben geht nicht" in page
    lead_client = login_verified(Client(), lead)
    page = lead_client.post(url, {"action": "assign", "assignee": worker.pk}, follow=True).content.decode()
    assert "Die Aufgabe ist bereits bei dieser Person." in page
    assert not CaseEvent.objects.filter(application=task.application, kind__in=["task_delegated", "task_assigned"]).exists()

    services.task_return(task=task, user=worker)
    page = lead_client.post(url, {"action": "return"}, follow=True).content.decode()
    assert "Die Aufgabe liegt bereits beim Team." in page
    assert CaseEvent.objects.filter(application=task.application, kind="task_returned").count() == 1
    lead_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = lead_client.post(url, {"action": "return"}, follow=True).content.decode()
    assert "The task is already with the team." in page
