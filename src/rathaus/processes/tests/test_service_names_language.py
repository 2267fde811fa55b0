"""On the English process pages, the German names of services and models are marked as German
(WCAG 3.1.2), as the task names already are: a screen reader then reads them with German rules."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from rathaus.accounts.models import Role

pytestmark = pytest.mark.django_db


def _url(name, town, **kw):
    return reverse(f"processes:{name}", kwargs={"municipality": town.slug, **kw})


def test_service_names_in_the_english_task_list_and_task_page_are_marked_as_german(staff_client, town, open_task):
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    service = open_task.application.service.name
    inbox = staff_client.get(_url("tasks_team", town)).content.decode()
    assert f'<td class="kern-table__cell" lang="de">{service}</td>' in inbox
    task = staff_client.get(_url("task_detail", town, pk=open_task.pk)).content.decode()
    assert f'<p class="kern-preline"><span lang="de">{service}</span> · ' in task


def test_service_and_model_names_on_the_english_models_page_are_marked_as_german(client, town, demo_processes,
                                                                                  make_staff, login_verified):
    admin = login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = admin.get(_url("definitions", town)).content.decode()
    rows = re.findall(r'<tr class="kern-table__row">(.*?)</tr>', page.split("<tbody", 1)[1], flags=re.S)
    assert rows
    for row in rows:
        service, model = re.findall(r'<td class="kern-table__cell"( lang="de")?>[^<]', row)[:2]
        assert service == model == ' lang="de"', row
        assert '<span class="kern-sr-only"> (<span lang="de">' in row  # the button names the model too
    # The warnings list the services concerned (the test town gives no bank account).
    warning = page.split('id="keine-bankverbindung"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r"<li( lang=\"de\")?>", warning) and set(re.findall(r"<li( lang=\"de\")?>", warning)) == {' lang="de"'}
