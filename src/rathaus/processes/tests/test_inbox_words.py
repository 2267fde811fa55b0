"""The task lists and the task page say in words what an empty list or an empty field means."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _empty_row(page: str) -> str:
    body = page.split('<tbody class="kern-table__body">', 1)[1].split("</tbody>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", "", body).split())


def test_an_empty_list_of_ones_own_tasks_leads_to_the_teams_tasks(staff_client, town, open_task):
    page = staff_client.get(reverse("processes:tasks_mine", kwargs={"municipality": town.slug})).content.decode()
    assert _empty_row(page) == "Keine offenen Aufgaben. Neue Aufgaben übernehmen Sie im Team: Aufgaben im Team"
    team = reverse("processes:tasks_team", kwargs={"municipality": town.slug})
    body = page.split('<tbody class="kern-table__body">', 1)[1]
    assert f'<a class="kern-link" href="{team}">Aufgaben im Team</a>' in body


def test_a_filter_that_matches_no_task_says_so_and_not_that_there_are_none(staff_client, town, open_task):
    page = staff_client.get(reverse("processes:tasks_team", kwargs={"municipality": town.slug}),
                            {"q": "gibt es nicht"}).content.decode()
    assert _empty_row(page) == "Keine offenen Aufgaben passen zu Ihrem Filter."
    # Without a filter the team's task is listed.
    page = staff_client.get(reverse("processes:tasks_team", kwargs={"municipality": town.slug})).content.decode()
    assert "Nachweis für die Befreiung prüfen" in _empty_row(page)


def test_a_task_without_a_deadline_says_so_instead_of_an_empty_field(staff_client, town, open_task):
    from rathaus.processes.models import UserTask

    UserTask.objects.filter(pk=open_task.pk).update(due_at=None)
    page = staff_client.get(reverse("processes:task_detail", kwargs={"municipality": town.slug, "pk": open_task.pk}))
    due = re.search(r"<dt>Fällig</dt><dd>(.*?)</dd>", page.content.decode(), flags=re.S).group(1)
    assert due == "keine Frist"
    row = staff_client.get(reverse("processes:tasks_team", kwargs={"municipality": town.slug})).content.decode()
    cells = re.findall(r'<td class="kern-table__cell">(.*?)</td>', row.split("<tbody", 1)[1], flags=re.S)
    assert cells[-1] == "keine Frist"
