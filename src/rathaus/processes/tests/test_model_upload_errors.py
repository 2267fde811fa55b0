"""A refused model upload, as a keyboard and screen-reader user meets it: what she chose stays chosen
(the service the model is for, "publish at once"), and every problem leads to the file field, which
says that it needs the corrected files (a browser never keeps a chosen file after sending it)."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rathaus.accounts.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, town, make_staff, login_verified):
    return login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))


def _refused(admin_client, town, service, **extra):
    from rathaus.processes.demo import demo_files

    bpmn = demo_files("hund-anmelden")[0][1].replace(b'camunda:topic="check_documents"', b'camunda:topic="no_such_step"')
    response = admin_client.post(reverse("processes:definitions", kwargs={"municipality": town.slug}), {
        "action": "upload", "service": service.pk, "files": [SimpleUploadedFile("bad.bpmn", bpmn),
                                                            SimpleUploadedFile("kaputt.dmn", b"<definitions")],
        **extra})
    assert response.status_code == 422
    return response.content.decode()


def test_a_refused_upload_keeps_the_chosen_service_and_the_publish_choice(admin_client, town, demo_processes):
    dog = demo_processes["hund-anmelden"]
    # The dog registration is not the first service in the list: sent again unchanged, the model
    # would otherwise go to another service.
    page = _refused(admin_client, town, dog, publish="1")
    select = re.search(r'<select[^>]*id="up-service"[^>]*>(.*?)</select>', page, flags=re.S).group(1)
    options = re.findall(r'<option value="(\d+)"([^>]*)>', select)
    assert options[0][0] != str(dog.pk)
    assert [value for value, attributes in options if "selected" in attributes] == [str(dog.pk)]
    assert " checked" in re.search(r'<input[^>]*id="up-publish"[^>]*>', page).group(0)
    # Without the tick it stays without.
    page = _refused(admin_client, town, dog)
    assert " checked" not in re.search(r'<input[^>]*id="up-publish"[^>]*>', page).group(0)


def test_each_problem_of_a_refused_upload_leads_to_the_file_field_which_asks_for_the_corrected_files(
        admin_client, town, demo_processes):
    page = _refused(admin_client, town, demo_processes["hund-anmelden"])
    summary = page.split('id="error-summary"', 1)[1].split("</div></div>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", summary, flags=re.S)
    assert len(items) >= 2
    for item in items:
        assert item.startswith('<a class="kern-link" href="#up-files"><span>') and item.endswith("</span></a>")
    texts = [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in items]
    assert any(re.match(r"\w+ \(bad\.bpmn, Fehler\): Automatisierungsschritt «no_such_step»", text) for text in texts), texts
    # A problem of a whole file names no element, and no dash stands in for one.
    assert any(text.startswith("(kaputt.dmn, Fehler): Kein gültiges XML") for text in texts), texts
    field = re.search(r'<input[^>]*id="up-files"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="up-files-error"' in field
    error = re.search(r'<div class="kern-error" id="up-files-error">(.*?)</div>', page, flags=re.S).group(1)
    assert " ".join(re.sub(r"<[^>]+>", "", error).split()) == (
        "Fehler: Das Modell wurde nicht gespeichert. Bitte berichtigen Sie die oben genannten Probleme und wählen Sie "
        "die Dateien erneut aus.")
