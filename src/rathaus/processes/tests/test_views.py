"""Staff task inbox, task detail actions, diagram data, model upload; the citizen's "why"."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rathaus.accounts.models import Role
from rathaus.applications.services import access_token_for
from rathaus.processes import services
from rathaus.processes.models import ProcessDefinition, UserTask

pytestmark = pytest.mark.django_db


def _url(name, town, **kw):
    return reverse(f"processes:{name}", kwargs={"municipality": town.slug, **kw})


@pytest.fixture
def exemption_case(submit, dog_data):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "nachweis.pdf", "content_type": "application/pdf", "content": PDF}}
    return submit("hund-anmelden", dog_data)


def test_case_worker_claims_and_completes_a_task_in_the_browser_flow(staff_client, town, exemption_case):
    task = UserTask.objects.get(application=exemption_case)
    team = staff_client.get(_url("tasks_team", town))
    assert team.status_code == 200 and task.name in team.content.decode()
    assert staff_client.get(_url("tasks_mine", town)).content.decode().count(task.name) == 0
    detail = staff_client.get(_url("task_detail", town, pk=task.pk))
    assert detail.status_code == 200 and 'name="decision.outcome"' in detail.content.decode()
    assert staff_client.post(_url("task_detail", town, pk=task.pk), {"action": "claim"}).status_code == 302
    assert task.name in staff_client.get(_url("tasks_mine", town)).content.decode()
    invalid = staff_client.post(_url("task_detail", town, pk=task.pk), {"action": "complete"})
    assert invalid.status_code == 422
    done = staff_client.post(_url("task_detail", town, pk=task.pk), {"action": "complete", "decision.outcome": "approve"})
    assert done.status_code == 302
    task.refresh_from_db()
    exemption_case.refresh_from_db()
    assert task.state == "completed" and exemption_case.status == "approved"


def test_task_inbox_costs_the_same_queries_for_more_tasks(staff_client, town, submit, dog_data):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "n.pdf", "content_type": "application/pdf", "content": PDF}}
    submit("hund-anmelden", dog_data)
    staff_client.get(_url("tasks_team", town))
    with CaptureQueriesContext(connection) as one:
        staff_client.get(_url("tasks_team", town))
    for _ in range(3):
        submit("hund-anmelden", dog_data)
    with CaptureQueriesContext(connection) as four:
        response = staff_client.get(_url("tasks_team", town))
    assert response.content.decode().count("Nachweis für die Befreiung prüfen") == 4
    assert len(four) == len(one)


def test_task_list_exports_csv_and_json(staff_client, town, exemption_case):
    rows = json.loads(staff_client.get(_url("tasks_team", town) + "?export=json").content)
    assert rows[0]["reference"] == exemption_case.reference
    csv_text = staff_client.get(_url("tasks_team", town) + "?export=csv").content.decode("utf-8-sig")
    assert csv_text.startswith("task,name,reference") and exemption_case.reference in csv_text
    assert staff_client.get(_url("tasks_overdue", town) + "?export=csv").content.decode("utf-8-sig").strip() == "task"


def test_task_list_export_gives_german_times(staff_client, town, exemption_case):
    # A task created at 23:30 UTC on 9 March was created on 10 March in Germany, and says so.
    from datetime import UTC, datetime

    from rathaus.processes.models import UserTask

    created = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    UserTask.objects.filter(application=exemption_case).update(created_at=created, due_at=created)
    [row] = json.loads(staff_client.get(_url("tasks_team", town) + "?export=json").content)
    assert row["created_at"] == row["due_at"] == "2026-03-10T00:30:00+01:00"


def test_staff_detail_shows_diagram_endpoint_and_timeline(staff_client, town, submit, dog_data):
    application = submit("hund-anmelden", dog_data)
    page = staff_client.get(reverse("applications:staff_detail", kwargs={"municipality": town.slug, "reference": application.reference}))
    html = page.content.decode()
    assert "processes/diagram.js" in html and "<script>" not in html
    assert "Automatische Entscheidung" in html
    data = staff_client.get(_url("diagram_data", town, reference=application.reference)).json()
    assert "dog_registration" in data["xml"]
    assert "decide_tax" in data["completed"] and data["status"] == "completed"


# ---------------------------------------------------------------- the case's tasks and timeline as CSV and JSON

CASE_EXPORTS = ("case_tasks_csv", "case_tasks_json", "case_timeline_csv", "case_timeline_json")


@pytest.fixture
def worker(town, make_staff):
    return make_staff(town)


@pytest.fixture
def worker_client(client, worker, login_verified):
    return login_verified(client, worker)


def test_the_case_task_list_exports_every_task_with_its_state_people_and_times(worker_client, worker, town, exemption_case):
    import csv
    import io

    from rathaus.core.exports import local_time

    task = UserTask.objects.get(application=exemption_case)
    open_row = {"task": task.pk, "name": "Nachweis für die Befreiung prüfen", "state": "open", "assignee": "",
                "role": "case_worker", "due_at": local_time(task.due_at), "created_at": local_time(task.created_at),
                "completed_at": "", "completed_by": ""}
    response = worker_client.get(_url("case_tasks_json", town, reference=exemption_case.reference))
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="aufgaben-{exemption_case.reference}.json"'
    assert response.json() == [open_row]

    services.task_claim(task=task, user=worker)
    services.task_complete(task=UserTask.objects.get(pk=task.pk), user=worker, data={"decision": {"outcome": "approve"}})
    task.refresh_from_db()
    response = worker_client.get(_url("case_tasks_csv", town, reference=exemption_case.reference))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="aufgaben-{exemption_case.reference}.csv"'
    assert response.content.startswith("\ufeff".encode())
    [row] = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert row == {**open_row, "task": str(task.pk), "state": "completed", "assignee": worker.get_username(),
                   "completed_at": local_time(task.completed_at), "completed_by": worker.get_username()}


def test_the_timeline_exports_as_on_the_page_with_its_german_texts_in_an_english_session(worker_client, worker, town,
                                                                                        exemption_case):
    import csv
    import io

    from django.conf import settings

    from rathaus.core.exports import local_time
    from rathaus.processes.models import CaseEvent

    task = UserTask.objects.get(application=exemption_case)
    services.task_claim(task=task, user=worker)
    events = list(CaseEvent.objects.filter(application=exemption_case).order_by("created_at", "id"))
    worker_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = worker_client.get(_url("case_timeline_json", town, reference=exemption_case.reference))
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="verlauf-{exemption_case.reference}.json"'
    rows = response.json()
    assert rows == [{"event": e.pk, "time": local_time(e.created_at), "automatic": e.automatic,
                     "actor": e.actor.get_username() if e.actor else "", "kind": e.kind, "element": e.element_id,
                     "text": e.text} for e in events]
    assert rows[1]["text"] == "Automatischer Schritt: Vorgang vorbereiten." and rows[1]["automatic"] is True
    assert rows[1]["actor"] == ""
    claimed = rows[-1]
    assert (claimed["kind"], claimed["automatic"], claimed["actor"]) == ("task_claimed", False, worker.get_username())
    assert claimed["text"].startswith("Aufgabe „Nachweis für die Befreiung prüfen“ übernommen von")

    response = worker_client.get(_url("case_timeline_csv", town, reference=exemption_case.reference))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="verlauf-{exemption_case.reference}.csv"'
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "event,time,automatic,actor,kind,element,text"
    assert [r["text"] for r in csv.DictReader(io.StringIO("\n".join(lines)))] == [e.text for e in events]


def test_case_exports_cannot_start_a_formula_in_a_spreadsheet(staff_client, town, exemption_case):
    from rathaus.processes.models import CaseEvent

    # A task name comes from the model, a timeline text may quote what a citizen or clerk typed.
    UserTask.objects.filter(application=exemption_case).update(name='=HYPERLINK("http://evil.example";"Klick")')
    CaseEvent.objects.filter(application=exemption_case, kind="process_started").update(text="@SUMME(A1)")
    tasks = staff_client.get(_url("case_tasks_csv", town, reference=exemption_case.reference)).content.decode("utf-8-sig")
    assert '\'=HYPERLINK(""http://evil.example"";""Klick"")' in tasks and ',=HYPERLINK' not in tasks
    timeline = staff_client.get(_url("case_timeline_csv", town, reference=exemption_case.reference)).content.decode("utf-8-sig")
    assert ",'@SUMME(A1)" in timeline and ",@SUMME" not in timeline
    # JSON is data, not a spreadsheet: the text stays as it is.
    rows = staff_client.get(_url("case_timeline_json", town, reference=exemption_case.reference)).json()
    assert rows[0]["text"] == "@SUMME(A1)"


def test_case_exports_are_refused_to_whom_the_case_page_is_refused(client, town, other_town, exemption_case, make_staff,
                                                                   make_user, login_verified):
    from urllib.parse import urlencode

    from django.test import Client

    ours = reverse("applications:staff_detail", kwargs={"municipality": town.slug, "reference": exemption_case.reference})
    stranger = login_verified(Client(), make_staff(other_town, "x@beispielhausen.example"))
    citizen = Client()
    citizen.force_login(make_user("buergerin@example.org"))
    without_second_factor = Client()
    without_second_factor.force_login(make_staff(town, "ohne-2fa@musterstadt.example"))
    for who, visitor, status in (("staff of another town", stranger, 404), ("a citizen", citizen, 404),
                                 ("anonymous", Client(), 302), ("staff without the second factor", without_second_factor, 302)):
        assert visitor.get(ours).status_code == status, who  # the case page itself
        for name in CASE_EXPORTS:
            export = _url(name, town, reference=exemption_case.reference)
            response = visitor.get(export)
            assert response.status_code == status, (who, name)
            body = response.content.decode()
            assert "Befreiung prüfen" not in body and "Vorgang vorbereiten" not in body, (who, name)
            if status == 302:
                # Sent where the case page sends them (the login or the second factor), and back to the file after.
                target = visitor.get(ours)["Location"].split("?", 1)[0]
                assert response["Location"] == f"{target}?{urlencode({'next': export})}", (who, name)
    # Another town's staff asking under their own town's address find no such case there.
    for name in CASE_EXPORTS:
        assert stranger.get(_url(name, other_town, reference=exemption_case.reference)).status_code == 404, name


def test_citizen_status_page_explains_the_automatic_decision(client, town, submit, dog_data):
    application = submit("hund-anmelden", dog_data)
    token = access_token_for(application)
    page = client.get(reverse("applications:status", kwargs={"municipality": town.slug, "reference": application.reference,
                                                             "token": token}))
    html = page.content.decode()
    assert "Warum so entschieden wurde" in html
    assert "Erster Hund: Regelsteuersatz" in html
    assert "Hundesteuerbescheid" in html
    document = application.documents.get(document_type="decision")
    download = reverse("cases:citizen_download", kwargs={"municipality": town.slug, "reference": application.reference,
                                                         "token": token, "document_id": document.pk})
    pdf = client.get(download)
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    wrong = client.get(download.replace(token, "x" * 32))
    assert wrong.status_code == 404


def test_tenant_admin_uploads_a_model_and_bad_models_are_rejected_with_named_problems(client, town, demo_services,
                                                                                     make_staff, login_verified):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from rathaus.processes.demo import demo_files

    admin = login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))
    service = demo_services["hund-anmelden"]
    files = [SimpleUploadedFile(n, c) for n, c in demo_files("hund-anmelden")]
    ok = admin.post(_url("definitions", town), {"action": "upload", "service": service.pk, "publish": "1", "files": files})
    assert ok.status_code == 302
    assert ProcessDefinition.objects.get(service=service).state == "published"
    bad = SimpleUploadedFile("bad.bpmn", demo_files("hund-anmelden")[0][1].replace(b'camunda:topic="check_documents"', b'camunda:topic="no_such_step"'))
    response = admin.post(_url("definitions", town), {"action": "upload", "service": service.pk, "files": [bad]})
    assert response.status_code == 422
    assert "check_documents" in response.content.decode()
    assert ProcessDefinition.objects.filter(service=service).count() == 1


def test_a_decision_table_saved_as_xml_is_uploaded_and_stored_as_a_decision_table(client, town, demo_services,
                                                                                   make_staff, login_verified):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from rathaus.processes.demo import demo_files

    admin = login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))
    service = demo_services["halteverbot-umzug"]
    (_, bpmn), (_, dmn) = demo_files("halteverbot-umzug")
    files = [SimpleUploadedFile("street_space.bpmn", bpmn), SimpleUploadedFile("street_fee.xml", dmn)]
    response = admin.post(_url("definitions", town), {"action": "upload", "service": service.pk, "publish": "1",
                                                      "files": files})
    assert response.status_code == 302, response.content.decode()
    definition = ProcessDefinition.objects.get(service=service)
    assert definition.state == "published"
    assert [(f["name"], f["kind"]) for f in definition.files] == [("street_space.bpmn", "bpmn"), ("street_fee.xml", "dmn")]


def test_a_model_upload_refuses_oversized_and_non_utf8_files_and_bad_ids_plainly(client, town, demo_services,
                                                                               make_staff, login_verified):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from rathaus.processes.demo import demo_files
    from rathaus_domain.processes.xmlutil import MAX_XML_BYTES

    admin = login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))
    service = demo_services["hund-anmelden"]
    bpmn = demo_files("hund-anmelden")[0][1]
    huge = SimpleUploadedFile("riesig.bpmn", bpmn + b" " * MAX_XML_BYTES)
    response = admin.post(_url("definitions", town), {"action": "upload", "service": service.pk, "files": [huge]})
    assert response.status_code == 422 and "Die Datei ist größer als 10 MB." in response.content.decode()
    latin1 = bpmn.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-15"').decode("utf-8").encode("iso-8859-15")
    response = admin.post(_url("definitions", town), {"action": "upload", "service": service.pk,
                                                      "files": [SimpleUploadedFile("latin1.bpmn", latin1)]})
    assert response.status_code == 422 and "nicht in UTF-8 gespeichert" in response.content.decode()
    assert not ProcessDefinition.objects.filter(service=service).exists()
    # Ids that are not numbers are simply not found, not a server error.
    assert admin.post(_url("definitions", town), {"action": "upload", "service": "abc", "files": [
        SimpleUploadedFile("ok.bpmn", bpmn)]}).status_code == 404
    assert admin.post(_url("definitions", town), {"action": "publish", "definition": "1 OR 1=1"}).status_code == 404
    # An eleventh file is not silently left out: the upload is refused and says why.
    eleven = [SimpleUploadedFile(f"teil{i}.bpmn", bpmn) for i in range(11)]
    response = admin.post(_url("definitions", town), {"action": "upload", "service": service.pk, "files": eleven})
    assert response.status_code == 422
    assert "Ein Modell besteht aus höchstens 10 Dateien; gewählt waren 11." in response.content.decode()
    assert not ProcessDefinition.objects.filter(service=service).exists()


def test_case_worker_may_not_upload_models(staff_client, town):
    assert staff_client.get(_url("definitions", town)).status_code == 404


def test_team_view_shows_only_tasks_of_roles_the_user_holds(client, town, make_staff, login_verified, exemption_case):
    task = UserTask.objects.get(application=exemption_case)
    UserTask.objects.filter(pk=task.pk).update(role=Role.TEAM_LEAD)
    worker_page = login_verified(client, make_staff(town)).get(_url("tasks_team", town)).content.decode()
    assert task.name not in worker_page
    lead = make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    lead_page = login_verified(client, lead).get(_url("tasks_team", town)).content.decode()
    assert task.name in lead_page


def test_overdue_view_shows_the_overdue_tasks_of_ones_roles_and_ones_own(client, town, make_staff, login_verified,
                                                                          exemption_case):
    from datetime import timedelta

    from django.utils import timezone

    task = UserTask.objects.get(application=exemption_case)
    UserTask.objects.filter(pk=task.pk).update(role=Role.TEAM_LEAD, due_at=timezone.now() - timedelta(days=2))
    worker = make_staff(town)
    worker_client = login_verified(client, worker)

    def overdue_refs(c):
        return c.get(_url("tasks_overdue", town) + "?export=json").json()

    assert overdue_refs(worker_client) == []  # a lead's task, not hers
    UserTask.objects.filter(pk=task.pk).update(assignee=worker)  # assigned to her before her role changed
    assert [row["reference"] for row in overdue_refs(worker_client)] == [exemption_case.reference]
    lead = make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    assert [row["reference"] for row in overdue_refs(login_verified(client, lead))] == [exemption_case.reference]


def test_task_page_links_the_proof_and_the_result_is_in_the_timeline(staff_client, town, exemption_case):
    task = UserTask.objects.get(application=exemption_case)
    page = staff_client.get(_url("task_detail", town, pk=task.pk)).content.decode()
    proof = exemption_case.documents.get(form_field="reduction/proof")
    link = reverse("cases:staff_download", kwargs={"municipality": town.slug, "reference": exemption_case.reference,
                                                   "document_id": proof.pk})
    assert "nachweis.pdf" in page and link in page
    assert b"".join(staff_client.get(link).streaming_content).startswith(b"%PDF")
    staff_client.post(_url("task_detail", town, pk=task.pk), {"action": "claim"})
    staff_client.post(_url("task_detail", town, pk=task.pk), {"action": "complete", "decision.outcome": "reject",
                                                              "decision.note": "Ausweis abgelaufen."})
    detail = staff_client.get(reverse("applications:staff_detail", kwargs={
        "municipality": town.slug, "reference": exemption_case.reference})).content.decode()
    assert "Befreiung ablehnen (normaler Steuersatz)" in detail and "Ausweis abgelaufen." in detail


def test_task_lists_are_in_the_navigation_and_translated(staff_client, town):
    page = staff_client.get(reverse("applications:inbox", kwargs={"municipality": town.slug})).content.decode()
    assert _url("tasks_mine", town) in page
    staff_client.cookies["django_language"] = "en"
    assert "<h1" in (english := staff_client.get(_url("tasks_mine", town)).content.decode())
    assert "My tasks" in english


def test_task_form_fields_keep_their_order_after_storage(staff_client, town, exemption_case):
    # PostgreSQL's jsonb sorts object keys; the outcome must still come before the note.
    task = UserTask.objects.get(application=exemption_case)
    task.refresh_from_db()
    assert list(task.form_schema["properties"]["decision"]["properties"]) == ["outcome", "note"]
    page = staff_client.get(_url("task_detail", town, pk=task.pk)).content.decode()
    assert page.index('name="decision.outcome"') < page.index('name="decision.note"')


def test_a_rule_without_annotation_is_explained_by_its_number_and_tests_not_its_id():
    from datetime import UTC, datetime

    from rathaus.processes.services import _event_line
    from rathaus_domain.processes.dmn import decide, load_dmn
    from rathaus_domain.processes.engine import ProcessEvent
    from rathaus_domain.processes.tests.support import fixture_bytes

    table = load_dmn(fixture_bytes("hit_policies.dmn"), file="hit_policies.dmn")  # rules without annotations
    result = decide(table, "unique", {"amount": 7})
    event = ProcessEvent(kind="decision", at=datetime(2026, 12, 7, tzinfo=UTC), element_id="decide", element_name="Größe",
                         task_id=None, details=result.to_dict())
    text, public, _data = _event_line(event, model=None)
    assert public
    assert text == "Automatische Entscheidung „Unique (default)“: Regel 1 (Betrag: < 10)."
    assert "unique_rule1" not in text


def test_versions_follow_draft_published_retired_and_a_retired_one_can_be_brought_back(
        client, town, demo_processes, make_staff, login_verified):
    from rathaus.core.models import AuditEntry

    admin = login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))
    service = demo_processes["hund-anmelden"]
    first = ProcessDefinition.objects.get(service=service, state="published")
    draft = services.process_definition_create(
        municipality=town, service=service, files=[(f["name"], f["content"].encode()) for f in first.files])

    def states():
        return dict(ProcessDefinition.objects.filter(service=service).values_list("version", "state"))

    def audited(action):
        return AuditEntry.objects.filter(municipality=town, action=action).count()

    # A draft was never in service: it cannot be taken out of it (the page offers no such button).
    page = admin.post(_url("definitions", town), {"action": "retire", "definition": draft.pk}, follow=True)
    assert "Version 2 ist nicht veröffentlicht" in page.content.decode()
    assert states() == {1: "published", 2: "draft"} and audited("process.definition_retired") == 0

    admin.post(_url("definitions", town), {"action": "publish", "definition": draft.pk})
    published = audited("process.definition_published")
    admin.post(_url("definitions", town), {"action": "publish", "definition": draft.pk})  # a double click
    assert states() == {1: "retired", 2: "published"} and audited("process.definition_published") == published

    page = admin.get(_url("definitions", town)).content.decode()
    assert "Wieder veröffentlichen" in page  # version 1, to go back to it
    admin.post(_url("definitions", town), {"action": "retire", "definition": first.pk})
    assert states() == {1: "retired", 2: "published"} and audited("process.definition_retired") == 0
    admin.post(_url("definitions", town), {"action": "publish", "definition": first.pk})
    assert states() == {1: "published", 2: "retired"}
    admin.post(_url("definitions", town), {"action": "retire", "definition": first.pk})
    assert states() == {1: "retired", 2: "retired"} and audited("process.definition_retired") == 1
