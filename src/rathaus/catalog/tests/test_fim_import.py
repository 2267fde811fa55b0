"""Both real FIM schemas import into working service forms: rendered, submitted, validated."""

import json
from html import escape
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from rathaus.applications.models import Application
from rathaus.catalog.models import Service
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.tests.schema_data import instance

pytestmark = pytest.mark.django_db

FIM_DIR = Path(__file__).resolve().parents[1] / "demo_data"
FILES = {"waffenbesitzkarte": "S00000036_waffenbesitzkarte_xdf1.xml", "blaue-karte-eu": "S00000121_blaue_karte_eu_xdf2.xml"}


@pytest.fixture(params=sorted(FILES))
def fim_service(request, town):
    out = StringIO()
    call_command("import_fim", str(FIM_DIR / FILES[request.param]), municipality=town.slug, slug=request.param,
                 leika="99089013000000", stdout=out)
    assert f"/m/{town.slug}/leistungen/{request.param}/" in out.getvalue()
    return Service.objects.get(municipality=town, slug=request.param)


def _post(client, town, service, data):
    return client.post(f"/api/v1/m/{town.slug}/applications", json.dumps({"service": service.pk, "data": data}),
                       content_type="application/json")


def test_imported_form_accepts_valid_and_rejects_invalid_submissions(client, town, fim_service):
    schema = fim_service.form.schema
    assert fim_service.form.source == "fim" and fim_service.form.fim_id.startswith("S00000")
    for full in (False, True):
        response = _post(client, town, fim_service, instance(schema, full=full))
        assert response.status_code == 201, response.content
    first_step = next(iter(schema["properties"]))
    bad = instance(schema)
    bad[first_step]["kein_fim_feld"] = "x"
    response = _post(client, town, fim_service, bad)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"].startswith(f"/data/{first_step}")
    assert Application.objects.filter(service=fim_service).count() == 2


def test_every_step_of_an_imported_form_renders(client, town, fim_service):
    spec = FormSpec.from_schema(fim_service.form.schema)
    start = client.post(f"/m/{town.slug}/leistungen/{fim_service.slug}/antrag/")
    base = start["Location"].rsplit("/schritt/", 1)[0]
    for index, step in enumerate(spec.steps, 1):
        page = client.get(f"{base}/schritt/{index}/")
        assert page.status_code == 200
        assert f">{escape(step.title)}</h1>" in page.content.decode()


def test_reimport_of_an_unchanged_schema_keeps_the_form_version(town, fim_service):
    call_command("import_fim", str(FIM_DIR / FILES[fim_service.slug]), municipality=town.slug, slug=fim_service.slug, stdout=StringIO())
    fim_service.refresh_from_db()
    assert fim_service.form.version == 1


def test_import_fim_explains_bad_input(town, tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<nicht-fim/>")
    with pytest.raises(CommandError, match="broken.xml"):
        call_command("import_fim", str(broken), municipality=town.slug, stdout=StringIO())
    with pytest.raises(CommandError, match="unknown municipality"):
        call_command("import_fim", str(broken), municipality="gibt-es-nicht", stdout=StringIO())


@pytest.mark.parametrize(("options", "argument"), [
    ({"slug": "Blaue Karte", "leika": "99089013000000"}, "--slug"),
    ({"slug": "blaue-karte", "leika": "abc"}, "--leika"),
])
def test_import_fim_refuses_a_bad_slug_or_leika_key_and_stores_nothing(client, town, options, argument):
    from rathaus.forms.models import FormDefinition

    with pytest.raises(CommandError, match=f"^{argument}: .+ / .+") as refused:
        call_command("import_fim", str(FIM_DIR / FILES["blaue-karte-eu"]), municipality=town.slug, stdout=StringIO(),
                     **options)
    assert "Traceback" not in str(refused.value)
    assert not Service.objects.exists()
    assert not FormDefinition.objects.exists()
    # The catalogue stays usable.
    assert client.get(f"/m/{town.slug}/").status_code == 200
