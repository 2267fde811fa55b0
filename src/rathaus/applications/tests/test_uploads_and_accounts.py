"""File uploads in forms, and citizens who apply with an account."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rathaus.applications.models import Application
from rathaus.applications.tests.test_web_flow import STEP_VALUES
from rathaus.cases.models import Document, DocumentVersion

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _to_step(client, town, upto: int) -> str:
    base = client.post(f"/m/{town.slug}/leistungen/hund-anmelden/antrag/")["Location"].rsplit("/schritt/", 1)[0]
    for index in range(1, upto):
        assert client.post(f"{base}/schritt/{index}/", STEP_VALUES[index]).status_code == 302
    return base


def test_exemption_needs_a_proof_and_accepts_a_png(client, town, demo_services):
    base = _to_step(client, town, 3)
    missing = client.post(f"{base}/schritt/3/", {"reduction.exemption": "blindenfuehrhund"})
    assert missing.status_code == 422
    assert 'href="#f-reduction-proof"' in missing.content.decode()
    upload = SimpleUploadedFile("ausweis.png", PNG, content_type="image/png")
    ok = client.post(f"{base}/schritt/3/", {"reduction.exemption": "blindenfuehrhund", "reduction.proof": upload})
    assert ok.status_code == 302
    # The uploaded file stays when the step is sent again without a new file.
    again = client.get(f"{base}/schritt/3/").content.decode()
    assert "ausweis.png" in again
    assert client.post(f"{base}/schritt/3/", {"reduction.exemption": "blindenfuehrhund"}).status_code == 302
    assert client.post(f"{base}/schritt/4/", STEP_VALUES[4]).status_code == 302
    client.post(f"{base}/pruefen/")
    application = Application.objects.get()
    document = Document.objects.get(application=application, form_field="reduction/proof")
    version = document.versions.get()
    assert (version.original_filename, version.filename, version.content_type, version.size) == (
        "ausweis.png", "ausweis.png", "image/png", len(PNG))
    assert (document.document_type, document.source, document.confidentiality) == ("proof", "citizen_online", "public")
    assert application.data["reduction"]["proof"]["document_id"] == document.pk
    assert "content" not in application.data["reduction"]["proof"]


def _label(html: str, target: str) -> str:
    match = re.search(rf'<label class="kern-label" for="{target}">(.*?)</label>', html, re.S)
    assert match, html
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_the_proof_says_when_it_is_needed_not_optional_and_the_error_names_the_reason(client, town, demo_services):
    base = _to_step(client, town, 3)
    page = client.get(f"{base}/schritt/3/").content.decode()
    assert _label(page, "f-reduction-proof") == "Nachweis für die Ermäßigung – nur bei Ermäßigung oder Befreiung nötig"

    missing = client.post(f"{base}/schritt/3/", {"reduction.exemption": "assistenzhund"}).content.decode()
    assert ("Bitte laden Sie eine Datei hoch – das ist nötig, weil Sie bei „Beantragen Sie eine Ermäßigung oder "
            "Befreiung?“ „Assistenzhund“ angegeben haben.") in missing
    assert client.post(f"{base}/schritt/3/", {"reduction.exemption": "keine"}).status_code == 302


def test_the_upload_hint_lists_the_file_types_as_a_sentence_does(client, town, demo_services):
    page = client.get(f"{_to_step(client, town, 3)}/schritt/3/").content.decode()
    assert "Erlaubte Dateitypen: PDF, PNG, JPEG, höchstens 5,0 MB" in page


@pytest.mark.parametrize(("name", "content", "message"), [
    ("ausweis.pdf", b"MZ\x90\x00 not a pdf", "kein erlaubtes Format"),
    ("ausweis.pdf.exe", b"MZ\x90\x00", "kein erlaubtes Format"),
    ("gross.png", PNG + b"\x00" * (5 * 1024 * 1024), "zu groß"),
], ids=["wrong-magic-bytes", "double-extension", "oversize"])
def test_uploads_that_fail_a_check_are_refused_and_not_stored(client, town, demo_services, name, content, message):
    base = _to_step(client, town, 3)
    response = client.post(f"{base}/schritt/3/", {"reduction.exemption": "rettungshund",
                                                  "reduction.proof": SimpleUploadedFile(name, content)})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert Document.objects.count() == 0 and DocumentVersion.objects.count() == 0


def test_a_file_too_large_is_refused_with_the_size_the_hint_names(client, town, demo_services):
    base = _to_step(client, town, 3)
    assert "höchstens 5,0 MB" in client.get(f"{base}/schritt/3/").content.decode()
    too_large = SimpleUploadedFile("gross.png", PNG + b"\x00" * (5 * 1024 * 1024), content_type="image/png")
    response = client.post(f"{base}/schritt/3/", {"reduction.exemption": "rettungshund", "reduction.proof": too_large})
    assert response.status_code == 422
    assert "Die Datei ist zu groß. Erlaubt sind höchstens 5,0 MB." in response.content.decode()


def test_citizen_with_account_finds_the_application_under_my_applications(client, town, demo_services, make_user):
    user = make_user("berta@example.org")
    client.force_login(user)
    base = _to_step(client, town, 5)
    client.post(f"{base}/pruefen/")
    application = Application.objects.get()
    assert application.applicant == user
    page = client.get("/meine-antraege/").content.decode()
    assert application.reference in page
    own = client.get(f"/m/{town.slug}/meine-antraege/{application.reference}/")
    assert own.status_code == 200 and "Eingegangen" in own.content.decode()
    client.force_login(make_user("fremd@example.org"))
    assert client.get(f"/m/{town.slug}/meine-antraege/{application.reference}/").status_code == 404


@pytest.fixture
def proof_service(town):
    """A form whose proof is asked for only when the citizen claims a reduction, and a list of attachments."""
    from rathaus.catalog import demo_forms as f
    from rathaus.catalog.services import form_definition_create, service_upsert
    from rathaus_domain.forms.validation import file_field_schema

    scan = file_field_schema(["application/pdf", "image/png"], f.MB, "Scan")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": "Nachweise",
        "additionalProperties": False, "required": ["antrag", "anlagen"],
        "properties": {
            "antrag": f.obj("Antrag", {
                "claim": f.choice("Beantragen Sie eine Ermäßigung?", [("ja", "Ja"), ("nein", "Nein")], widget="radio"),
                "proof": file_field_schema(["application/pdf", "image/png"], f.MB, "Nachweis"),
            }, ["claim"], **{"if": {"properties": {"claim": {"const": "ja"}}, "required": ["claim"]},
                             "then": {"required": ["proof"]}}),
            "anlagen": f.obj("Anlagen", {
                "docs": {"type": "array", "title": "Anlagen", "maxItems": 5,
                         "items": f.obj("Anlage", {"title": f.text("Bezeichnung"), "scan": scan}, ["title", "scan"])},
            }, []),
        },
    }
    form = form_definition_create(municipality=town, key="nachweise", title="Nachweise", schema=schema)
    return service_upsert(municipality=town, slug="nachweise", form=form, leika_key="99000000000000", name="Nachweise",
                          summary="", office="Bürgerbüro", processing_days=5)


def _start_proof(client, town) -> str:
    return client.post(f"/m/{town.slug}/leistungen/nachweise/antrag/")["Location"].rsplit("/schritt/", 1)[0]


def test_a_file_for_a_field_hidden_by_the_answers_is_not_submitted(client, town, proof_service):
    base = _start_proof(client, town)
    upload = SimpleUploadedFile("nachweis.png", PNG, content_type="image/png")
    assert client.post(f"{base}/schritt/1/", {"antrag.claim": "ja", "antrag.proof": upload}).status_code == 302
    # She changes her mind: no reduction. The proof uploaded before must not go with the application.
    assert client.post(f"{base}/schritt/1/", {"antrag.claim": "nein"}).status_code == 302
    assert "nachweis.png" not in client.get(f"{base}/pruefen/").content.decode()
    # A file sent along with "nein" (the field is hidden) is ignored as well.
    other = SimpleUploadedFile("anderer.png", PNG, content_type="image/png")
    assert client.post(f"{base}/schritt/1/", {"antrag.claim": "nein", "antrag.proof": other}).status_code == 302
    assert client.post(f"{base}/schritt/2/", {}).status_code == 302
    assert client.post(f"{base}/pruefen/").status_code == 302
    application = Application.objects.get()
    assert application.data["antrag"] == {"claim": "nein"}
    assert not Document.objects.filter(application=application, form_field="antrag/proof").exists()


def test_files_in_list_entries_survive_later_posts_of_the_step(client, town, proof_service):
    base = _start_proof(client, town)
    assert client.post(f"{base}/schritt/1/", {"antrag.claim": "nein"}).status_code == 302
    scan = SimpleUploadedFile("lageplan.png", PNG, content_type="image/png")
    # Adding a second entry sends the step once more; the first entry's file stays.
    added = client.post(f"{base}/schritt/2/", {"anlagen.docs.0.title": "Lageplan", "anlagen.docs.0.scan": scan,
                                               "_add": "anlagen.docs"})
    assert added.status_code == 302
    # The title is cleared by mistake: the entry (and its file) stays, and the citizen is asked for the title.
    cleared = client.post(f"{base}/schritt/2/", {"anlagen.docs.0.title": "", "anlagen.docs.1.title": ""})
    assert cleared.status_code == 422
    assert "lageplan.png" in cleared.content.decode()
    assert client.post(f"{base}/schritt/2/", {"anlagen.docs.0.title": "Lageplan"}).status_code == 302
    assert client.post(f"{base}/pruefen/").status_code == 302
    application = Application.objects.get()
    assert application.data["anlagen"]["docs"][0]["title"] == "Lageplan"
    document = Document.objects.get(application=application, form_field="anlagen/docs/0/scan")
    assert document.versions.get().filename == "lageplan.png"
