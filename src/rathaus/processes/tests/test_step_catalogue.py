"""The step catalogue on the process-model page: every registered step, plugins included."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from rathaus.accounts.models import Role
from rathaus.processes.steps.registry import StepParam, step_catalogue, steps

pytestmark = pytest.mark.django_db


@pytest.fixture
def plugin_step(monkeypatch):
    """A step a plugin registers, gone again after the test (the registry is process-wide)."""
    monkeypatch.setattr(steps, "_steps", dict(steps._steps))
    steps.add("stadtwerke_melden", lambda ctx: {"reported": True},
              description="Stadtwerke über den Zählerwechsel informieren",
              description_en="Tell the public utility about the meter change",
              params=[StepParam("meter", "Zählernummer aus den Antragsdaten", "meter number from the application",
                                default="unbekannt")],
              results=[StepParam("reported", "ja, sobald die Meldung im Postausgang liegt", "true once it is queued")])
    return "stadtwerke_melden"


def _page(client, town) -> str:
    response = client.get(reverse("processes:definitions", kwargs={"municipality": town.slug}))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_catalogue_lists_every_registered_step_with_a_plugin_step_and_its_parameters(
        client, town, make_staff, login_verified, plugin_step):
    page = _page(login_verified(client, make_staff(town, role=Role.TENANT_ADMIN)), town)
    section = page[page.index('id="steps-title"'):]
    for step in step_catalogue():
        assert f'id="step-{step.name}"' in section
        assert step.description in section
    assert "Stadtwerke über den Zählerwechsel informieren" in section
    assert "<code>meter</code>" in section and "Zählernummer aus den Antragsdaten (ohne Angabe: «unbekannt»)" in section
    assert "<code>reported</code>" in section and "ja, sobald die Meldung im Postausgang liegt" in section
    # The standard steps' own parameters, e.g. set_status's e-mail switch.
    start = section.index('id="step-set_status"')
    status = section[start:section.index("<h3", start)]
    assert "<code>email</code>" in status and "(ohne Angabe: «ja»)" in status


def test_the_catalogue_is_in_english_for_an_english_page_and_plugins_without_english_show_german(
        client, town, make_staff, login_verified, plugin_step):
    steps.add("nur_deutsch", lambda ctx: None, description="Nur auf Deutsch beschrieben",
              params=[StepParam("x", "ein Wert")])
    admin = login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))
    admin.cookies["django_language"] = "en"
    page = _page(admin, town)
    assert "Available automation steps" in page
    assert "Tell the public utility about the meter change" in page
    assert "meter number from the application (if not given: «unbekannt»)" in page
    assert "Nur auf Deutsch beschrieben" in page and "ein Wert" in page
    # Headings go h1 → h2 → h3 → h4, never skipping a level.
    levels = [int(part[0]) for part in page.split("<h")[1:] if part[:1].isdigit()]
    assert all(after - before <= 1 for before, after in zip(levels, levels[1:], strict=False))


def test_a_case_worker_does_not_see_the_catalogue(staff_client, town, plugin_step):
    response = staff_client.get(reverse("processes:definitions", kwargs={"municipality": town.slug}))
    assert response.status_code == 404
    assert b"stadtwerke_melden" not in response.content
