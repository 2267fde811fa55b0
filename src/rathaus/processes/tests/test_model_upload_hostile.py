"""The staff upload of process models with broken or hostile files: a specific German error, and no
version stored (not even a draft)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rathaus.accounts.models import Role
from rathaus.processes.demo import DEMO_DIR
from rathaus.processes.models import ProcessDefinition

pytestmark = pytest.mark.django_db

SERVICE = "halteverbot-umzug"


def _upload(client, town, service, files: list[tuple[str, bytes]]):
    url = reverse("processes:definitions", kwargs={"municipality": town.slug})
    return client.post(url, {"action": "upload", "service": service.pk, "publish": "1",
                             "files": [SimpleUploadedFile(name, data) for name, data in files]})


def _street_calling_a_process_that_calls_itself() -> bytes:
    """The street model whose approval is a call activity to a process that then calls itself."""
    text = (DEMO_DIR / "street_space.bpmn").read_text()
    text = text.replace('<bpmn:userTask id="approve"', '<bpmn:callActivity id="approve" calledElement="review"', 1)
    text = text.replace("</bpmn:userTask>", "</bpmn:callActivity>", 1)
    review = ('<bpmn:process id="review" isExecutable="true"><bpmn:startEvent id="r_start"/>'
              '<bpmn:sequenceFlow id="r_f1" sourceRef="r_start" targetRef="r_again"/>'
              '<bpmn:callActivity id="r_again" name="Nochmals prüfen" calledElement="review"/>'
              '<bpmn:sequenceFlow id="r_f2" sourceRef="r_again" targetRef="r_end"/><bpmn:endEvent id="r_end"/>'
              "</bpmn:process>")
    return text.replace("</bpmn:process>", "</bpmn:process>" + review, 1).encode()


@pytest.mark.parametrize(
    ("bpmn", "expected"),
    [
        pytest.param(b"", "Die Datei ist leer", id="empty"),
        # Stored and published, its first case would call «review» again and again and hold the worker.
        pytest.param(_street_calling_a_process_that_calls_itself(),
                     "Aufrufaktivität «Nochmals prüfen» ruft «review» auf, und damit ruft sich der Prozess selbst "
                     "wieder auf (review → review); rekursive Aufrufe werden nicht unterstützt", id="recursive-call"),
        pytest.param((DEMO_DIR / "street_space.bpmn").read_bytes().replace(
            b'camunda:candidateGroups="case_worker"', b'camunda:candidateGroups="case_worker" camunda:dueDate="P14X"', 1),
            "Fälligkeit: «P14X» ist kein gültiger Wert nach ISO 8601", id="due-date-typo"),
    ],
)
def test_a_broken_model_is_refused_with_a_specific_german_error_and_nothing_stored(
        client, town, demo_services, make_staff, login_verified, bpmn, expected):
    admin = login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))
    service = demo_services[SERVICE]
    response = _upload(admin, town, service, [("street_space.bpmn", bpmn),
                                              ("street_fee.dmn", (DEMO_DIR / "street_fee.dmn").read_bytes())])
    assert response.status_code == 422
    assert expected in response.content.decode()
    assert not ProcessDefinition.objects.filter(service=service).exists()
