"""Command line (check-process, decide, import-process, verify-audit) and the audit hash chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rathaus.core.audit import audit_record, audit_verify
from rathaus.core.models import AuditEntry
from rathaus.processes.demo import DEMO_DIR
from rathaus.processes.models import ProcessDefinition, ProcessInstance

MIWG = Path(__file__).resolve().parents[5] / "shared" / "data" / "bpmn-miwg"


def _run(*args) -> tuple[int, str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command(*args, stdout=out, stderr=out)
        return 0, out.getvalue()
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()


def test_check_process_accepts_the_demo_models():
    code, out = _run("check_process", str(DEMO_DIR / "street_space.bpmn"), str(DEMO_DIR / "street_fee.dmn"))
    assert code == 0 and "OK" in out


def test_check_process_names_the_element_and_explains_in_german_and_english(tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes((DEMO_DIR / "dog_registration.bpmn").read_bytes().replace(b'camunda:topic="issue_decision"',
                                                                               b'camunda:topic="unknown_step"'))
    code, out = _run("check_process", str(bad), str(DEMO_DIR / "dog_tax.dmn"))
    assert code == 1
    assert "issue_decision" in out and "unknown_step" in out


def test_check_process_accepts_the_dog_tax_model_and_refuses_a_tax_letter_without_its_start(tmp_path):
    code, out = _run("check_process", str(DEMO_DIR / "dog_registration.bpmn"), str(DEMO_DIR / "dog_tax.dmn"))
    assert code == 0 and "OK" in out
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes((DEMO_DIR / "dog_registration.bpmn").read_bytes().replace(
        b'<camunda:inputParameter name="tax_from">${tax_from}</camunda:inputParameter>', b"").replace(
        b'name="payment_months">1<', b'name="payment_months">einen<'))
    code, out = _run("check_process", str(bad), str(DEMO_DIR / "dog_tax.dmn"))
    assert code == 1
    assert "issue_decision: error: Parameter «tax» braucht «tax_from»\n    (parameter «tax» needs «tax_from»)" in out
    assert "Parameter «payment_months»: «einen» ist keine ganze Zahl von Monaten (1 bis 12)" in out


@pytest.mark.skipif(not MIWG.exists(), reason="bpmn-miwg data not available")
def test_every_miwg_model_gets_ok_or_named_problems_never_a_traceback():
    files = sorted(MIWG.rglob("*.bpmn"))
    assert files
    for file in files:
        code, out = _run("check_process", str(file))
        assert code in (0, 1), file
        assert "Traceback" not in out
        assert out.strip().splitlines()[-1].startswith(("OK", f"{out.count(': error:')} Fehler")), (file, out[-300:])


def test_check_process_refuses_an_element_id_longer_than_the_database_keeps(tmp_path):
    from rathaus.processes.models import CaseEvent, ProcessDefinition, Timer, UserTask
    from rathaus_domain.processes.checks import MAX_ID_LENGTH

    # The lint's limit is the size of the columns that keep ids, lanes and process names.
    columns = [(UserTask, "element_id"), (UserTask, "lane"), (Timer, "element_id"), (CaseEvent, "element_id"),
               (ProcessDefinition, "name"), (ProcessDefinition, "process_id")]
    assert {model._meta.get_field(field).max_length for model, field in columns} == {MAX_ID_LENGTH}
    long_id = "genehmigen_" + "x" * MAX_ID_LENGTH
    bad = tmp_path / "street_space.bpmn"
    text = (DEMO_DIR / "street_space.bpmn").read_text()
    bad.write_text(text.replace('"approve"', f'"{long_id}"'))
    code, out = _run("check_process", str(bad), str(DEMO_DIR / "street_fee.dmn"))
    assert code == 1
    assert f"street_space.bpmn: {long_id}: error: Die ID ist 211 Zeichen lang, erlaubt sind höchstens 200" in out


def test_decide_prints_the_result_with_the_matched_rule(capsys):
    code, out = _run("decide", str(DEMO_DIR / "dog_tax.dmn"), "--decision", "dog_tax", "--input",
                     json.dumps({"reduction": {"exemption": "keine"}, "exemption_review": "pending",
                                 "dog": {"breed": "mischling", "other_dogs": 2}}))
    result = json.loads(out)
    assert code == 0
    assert result["output"] == {"fee": 120, "needs_review": False, "reason": "Weiterer Hund"}
    assert result["matched_rules"][0]["annotation"] == "Zweiter und jeder weitere Hund"


def test_decide_reads_input_from_a_file_and_names_one_it_cannot_read(tmp_path):
    table = str(DEMO_DIR / "dog_tax.dmn")
    given = tmp_path / "input.json"
    given.write_bytes("\ufeff".encode() + json.dumps({"reduction": {"exemption": "keine"}, "exemption_review": "pending",
                                                      "dog": {"breed": "mischling", "other_dogs": 0}}).encode())
    code, out = _run("decide", table, "--decision", "dog_tax", "--input", f"@{given}")
    assert code == 0 and json.loads(out)["output"]["fee"] == 90
    missing = tmp_path / "missing.json"
    with pytest.raises(CommandError, match=f"^Datei nicht gefunden / file not found: {missing}$"):
        _run("decide", table, "--decision", "dog_tax", "--input", f"@{missing}")
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{"dog": {"breed": "Schäferhund"}}'.encode("latin-1"))
    with pytest.raises(CommandError, match="nicht in UTF-8 gespeichert / not UTF-8 encoded"):
        _run("decide", table, "--decision", "dog_tax", "--input", f"@{latin1}")
    with pytest.raises(CommandError, match=f"^Datei nicht gefunden / file not found: {tmp_path / 'missing.dmn'}$"):
        _run("decide", str(tmp_path / "missing.dmn"), "--decision", "dog_tax", "--input", "{}")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_decide_refuses_numbers_that_are_not_finite(number):
    # Python's json reads them, but no rule can compare them and the printed result would not be JSON.
    with pytest.raises(CommandError, match=f"^--input ist kein JSON / is not JSON: {number} ist"):
        _run("decide", str(DEMO_DIR / "dog_tax.dmn"), "--decision", "dog_tax", "--input",
             f'{{"dog": {{"breed": "mischling", "other_dogs": {number}}}}}')


def test_decide_refuses_input_nested_deeper_than_json_can_read():
    # Python's json gives up with a RecursionError at about a thousand levels.
    with pytest.raises(CommandError, match="^--input ist zu tief verschachtelt / is nested too deeply$"):
        _run("decide", str(DEMO_DIR / "dog_tax.dmn"), "--decision", "dog_tax", "--input", "[" * 100_000 + "]" * 100_000)


@pytest.mark.django_db
def test_import_process_names_a_missing_file_town_or_service(town, demo_services, tmp_path):
    before = ProcessDefinition.objects.count()
    fee = str(DEMO_DIR / "street_fee.dmn")
    with pytest.raises(CommandError, match=f"^Datei nicht gefunden / file not found: {tmp_path / 'street.bpmn'}$"):
        _run("import_process", str(tmp_path / "street.bpmn"), fee, "--municipality", town.slug,
             "--service", "halteverbot-umzug")
    with pytest.raises(CommandError, match="^Kommune nicht gefunden / unknown municipality: nirgendwo$"):
        _run("import_process", fee, "--municipality", "nirgendwo", "--service", "halteverbot-umzug")
    with pytest.raises(CommandError, match="^Leistung nicht gefunden / unknown service: gibt-es-nicht$"):
        _run("import_process", fee, "--municipality", town.slug, "--service", "gibt-es-nicht")
    assert ProcessDefinition.objects.count() == before


@pytest.mark.django_db
def test_check_and_import_name_a_directory_or_an_oversized_file_without_reading_it(town, demo_services, tmp_path):
    from rathaus_domain.processes.xmlutil import MAX_XML_BYTES

    with pytest.raises(CommandError, match=f"^Das ist ein Verzeichnis, keine Datei / is a directory, not a file: {tmp_path}$"):
        _run("check_process", str(tmp_path))
    huge = tmp_path / "aufnahme.bpmn"
    with huge.open("wb") as file:
        file.truncate(MAX_XML_BYTES + 1)  # sparse: nothing is written, and nothing must be read
    with pytest.raises(CommandError, match=f"^Datei größer als 10 MB / file larger than 10 MB: {huge}$"):
        _run("check_process", str(huge))
    with pytest.raises(CommandError, match="^Datei größer als 10 MB"):
        _run("import_process", str(huge), "--municipality", town.slug, "--service", "halteverbot-umzug")
    assert not ProcessDefinition.objects.filter(service__slug="halteverbot-umzug").exists()


def test_check_process_prints_one_line_per_problem_even_for_a_multi_line_expression(tmp_path):
    model = tmp_path / "street_space.bpmn"
    model.write_text((DEMO_DIR / "street_space.bpmn").read_text().replace(
        '<camunda:inputParameter name="pay_before">${add_days(place.date, -3)}</camunda:inputParameter>',
        '<camunda:inputParameter name="pay_before">=add_days(\n  place.date,\n  -3 +\n)</camunda:inputParameter>', 1))
    code, out = _run("check_process", str(model), str(DEMO_DIR / "street_fee.dmn"))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("street_space.bpmn: request_payment: error: Parameter «pay_before»: ")
    assert lines[1].startswith("    (parameter «pay_before»: ") and lines[2] == "1 Fehler / error(s)"


def _street_with_second_process(tmp_path) -> Path:
    # A second pool that nothing calls: which of the two would a case start?
    model = tmp_path / "street_space.bpmn"
    model.write_text((DEMO_DIR / "street_space.bpmn").read_text().replace(
        "</bpmn:process>", '</bpmn:process><bpmn:process id="sketch" isExecutable="true"><bpmn:startEvent id="s2"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="s2" targetRef="e2"/><bpmn:endEvent id="e2"/></bpmn:process>', 1))
    return model


@pytest.mark.django_db
def test_check_process_names_two_processes_to_start_as_the_import_refuses_them(town, demo_services, tmp_path):
    files = [str(_street_with_second_process(tmp_path)), str(DEMO_DIR / "street_fee.dmn")]
    expected = ("street_space.bpmn: sketch: error: Mehrere ausführbare Prozesse werden von keiner Aufrufaktivität "
                "aufgerufen («street_space», «sketch»); gestartet werden kann aber nur einer.")
    code, out = _run("check_process", *files)
    assert code == 1 and out.startswith(expected), out
    code, out = _run("import_process", *files, "--municipality", town.slug, "--service", "halteverbot-umzug", "--publish")
    assert code == 1 and out.startswith(expected), out
    assert not ProcessDefinition.objects.filter(service__slug="halteverbot-umzug").exists()


@pytest.mark.django_db
def test_import_process_refuses_a_process_that_calls_itself_and_stores_nothing(town, demo_services, tmp_path):
    # Stored, its first case would call the process again and again and never let the worker go.
    model = tmp_path / "street_space.bpmn"
    model.write_text((DEMO_DIR / "street_space.bpmn").read_text().replace(
        '<bpmn:userTask id="approve"', '<bpmn:callActivity id="approve" calledElement="street_space"', 1).replace(
        "</bpmn:userTask>", "</bpmn:callActivity>", 1))
    code, out = _run("import_process", str(model), str(DEMO_DIR / "street_fee.dmn"), "--municipality", town.slug,
                     "--service", "halteverbot-umzug", "--publish")
    assert code == 1
    assert ("street_space.bpmn: approve: error: Aufrufaktivität «Halteverbot genehmigen» ruft «street_space» auf, und "
            "damit ruft sich der Prozess selbst wieder auf (street_space → street_space)") in out
    assert not ProcessDefinition.objects.filter(service__slug="halteverbot-umzug").exists()


@pytest.mark.django_db
def test_import_process_shows_the_warnings_it_stores_with_the_version(town, demo_services, tmp_path):
    model = tmp_path / "street_space.bpmn"
    model.write_text((DEMO_DIR / "street_space.bpmn").read_text().replace(
        "</bpmn:process>", '</bpmn:process><bpmn:process id="sketch" isExecutable="false" />', 1))
    code, out = _run("import_process", str(model), str(DEMO_DIR / "street_fee.dmn"), "--municipality", town.slug,
                     "--service", "halteverbot-umzug")
    definition = ProcessDefinition.objects.filter(service__slug="halteverbot-umzug").latest("version")
    assert code == 0 and [p["element_id"] for p in definition.problems] == ["sketch"]
    assert out.splitlines()[0] == ("street_space.bpmn: sketch: warning: Prozess sketch ist nicht als ausführbar markiert "
                                   "und wird ignoriert (process sketch is not marked executable and is ignored)")
    assert out.splitlines()[-1] == f"{definition.name} v{definition.version} (draft)"


@pytest.mark.django_db
def test_import_process_versions_and_running_cases_stay_on_their_version(town, demo_services, submit, dog_data):
    files = [str(DEMO_DIR / "street_space.bpmn"), str(DEMO_DIR / "street_fee.dmn")]
    code, _ = _run("import_process", *files, "--municipality", town.slug, "--service", "halteverbot-umzug", "--publish")
    assert code == 0
    from .conftest import _person, move_day

    data = {"applicant": _person(), "place": {"street": "Hauptstraße", "house_number": "1", "length_m": 20, "side": "house",
                                              "date": move_day().isoformat(), "from_time": "07:00", "to_time": "18:00"},
            "vehicles": {"items": [{"kind": "van"}]}, "declaration": {"truthful": True, "privacy": True}}
    first = submit("halteverbot-umzug", data)
    v_first = ProcessInstance.objects.get(application=first).definition
    code, _ = _run("import_process", *files, "--municipality", town.slug, "--service", "halteverbot-umzug", "--publish")
    assert code == 0
    versions = list(ProcessDefinition.objects.filter(service__slug="halteverbot-umzug").values_list("version", "state"))
    assert sorted(versions)[-2:] == [(v_first.version, "retired"), (v_first.version + 1, "published")]
    assert ProcessInstance.objects.get(application=first).definition == v_first


@pytest.mark.django_db
def test_models_saved_as_xml_are_checked_and_imported_as_what_they_are(town, demo_services, submit, street_data, tmp_path):
    # Modelling tools offer .xml as well; the root element, not the extension, tells BPMN from DMN.
    for name in ("street_space", "street_fee"):
        (tmp_path / f"{name}.xml").write_bytes(next(DEMO_DIR.glob(f"{name}.*")).read_bytes())
    files = [str(tmp_path / "street_space.xml"), str(tmp_path / "street_fee.xml")]
    code, out = _run("check_process", *files)
    assert code == 0 and "OK" in out, out
    code, out = _run("import_process", *files, "--municipality", town.slug, "--service", "halteverbot-umzug", "--publish")
    assert code == 0, out
    definition = ProcessDefinition.objects.get(service__slug="halteverbot-umzug", state="published")
    assert [(f["name"], f["kind"]) for f in definition.files] == [("street_space.xml", "bpmn"), ("street_fee.xml", "dmn")]
    application = submit("halteverbot-umzug", street_data)
    instance = ProcessInstance.objects.get(application=application)
    assert (instance.definition, instance.status, instance.error) == (definition, "waiting", "")


@pytest.mark.django_db
def test_verify_audit_finds_a_changed_entry(town, other_town):
    for i in range(3):
        audit_record(action="test.write", municipality=town, summary=f"entry {i}")
        audit_record(action="test.write", municipality=other_town, summary=f"other {i}")
    assert audit_verify() == []
    assert _run("verify_audit")[0] == 0
    middle = AuditEntry.objects.filter(municipality=town).order_by("id")[1]
    AuditEntry.objects.filter(pk=middle.pk).update(summary="forged")
    findings = audit_verify()
    assert findings == [{"chain": f"m:{town.pk}", "entry_id": middle.pk, "problem": "content does not match its hash (entry changed)"}]
    code, out = _run("verify_audit")
    assert code == 1 and str(middle.pk) in out


@pytest.mark.django_db
def test_verify_audit_finds_a_deleted_entry(town):
    for i in range(3):
        audit_record(action="test.write", municipality=town, summary=f"entry {i}")
    entries = list(AuditEntry.objects.filter(municipality=town).order_by("id"))
    AuditEntry.objects.filter(pk=entries[1].pk)._raw_delete(AuditEntry.objects.db)
    assert audit_verify()[0]["entry_id"] == entries[2].pk


@pytest.mark.django_db
def test_a_redacted_entry_keeps_the_chain_intact_and_a_changed_data_field_is_still_found(town):
    from rathaus.core.audit import audit_redact

    entries = [audit_record(action="test.decision", municipality=town, summary=f"Eintrag {i}",
                            data={"inputs": {"Straße": "Lindenallee 7"}}) for i in range(3)]
    redacted = audit_redact(municipality=town, entries=AuditEntry.objects.filter(pk=entries[1].pk),
                            reason="MUS-1, Aufbewahrungsfrist abgelaufen", actor_label="retention-job")
    assert redacted == 1
    middle = AuditEntry.objects.get(pk=entries[1].pk)
    assert (middle.summary, middle.data, middle.hash) == ("(gelöscht nach Ablauf der Aufbewahrungsfrist)", {},
                                                          entries[1].hash)
    record = AuditEntry.objects.get(action="audit.redacted")
    assert record.data == {"entries": [entries[1].pk]} and record.actor_label == "retention-job"
    assert audit_verify() == []
    # Redacting again changes nothing and records nothing.
    assert audit_redact(municipality=town, entries=AuditEntry.objects.filter(pk=entries[1].pk), reason="x") == 0
    assert AuditEntry.objects.filter(action="audit.redacted").count() == 1
    # The data of an entry not redacted is covered by its digest: a change is found.
    AuditEntry.objects.filter(pk=entries[2].pk).update(data={"inputs": {"Straße": "Gefälscht"}})
    assert audit_verify() == [{"chain": f"m:{town.pk}", "entry_id": entries[2].pk,
                               "problem": "content does not match its hash (entry changed)"}]


def test_entries_without_a_content_digest_are_hashed_as_before_it_existed():
    # Entries written before content digests (and a submission's, written in one statement) keep
    # their hash over summary and data: the value the code computed before digests existed.
    from datetime import UTC, datetime

    from rathaus.core.audit import entry_hash

    entry = AuditEntry(municipality_id=7, actor_id=None, actor_label="rathaus", action="application.submitted",
                       object_type="applications.application", object_id="42", summary="MUS-2026-000042 Hund anmelden",
                       data={"channel": "online", 1: "x"}, ip_address="2001:DB8::1",
                       created_at=datetime(2026, 12, 7, 9, 0, 0, 123456, tzinfo=UTC), prev_hash="ab" * 32)
    assert entry_hash(entry) == "b309485820fc524b63728af458537b7eeb724410950a580f531da1ca1e9d7fcd"
    entry.content_digest = "cd" * 32
    assert entry_hash(entry) != "b309485820fc524b63728af458537b7eeb724410950a580f531da1ca1e9d7fcd"


@pytest.mark.django_db
def test_content_erased_without_a_redaction_entry_is_found(town, other_town):
    from django.utils import timezone

    entries = [audit_record(action="test.write", municipality=town, summary=f"Eintrag {i}") for i in range(2)]
    audit_record(action="test.write", municipality=other_town, summary="anderswo")
    AuditEntry.objects.filter(pk=entries[0].pk).update(summary="", data={}, redacted_at=timezone.now())
    assert audit_verify() == [{"chain": f"m:{town.pk}", "entry_id": entries[0].pk,
                               "problem": "content erased without a redaction entry (entry changed)"}]


@pytest.mark.django_db
def test_another_towns_entries_cannot_be_redacted(town, other_town):
    from rathaus.core.audit import audit_redact

    theirs = audit_record(action="test.decision", municipality=other_town, summary="Lindenallee 7")
    assert audit_redact(municipality=town, entries=AuditEntry.objects.filter(pk=theirs.pk), reason="x") == 0
    assert AuditEntry.objects.get(pk=theirs.pk).summary == "Lindenallee 7"
    assert not AuditEntry.objects.filter(action="audit.redacted").exists()


@pytest.mark.django_db
def test_chain_survives_the_database_round_trip_of_odd_values(town):
    audit_record(action="test.write", municipality=town, ip_address="2001:DB8::1", data={1: "int key", "b": [1.5, None]})
    audit_record(action="test.write", municipality=None, summary="global chain")
    assert audit_verify() == []


@pytest.mark.django_db
def test_today_in_a_process_is_the_day_in_germany_not_in_utc(town, demo_services, dog_data, tmp_path):
    # A process asks for today() (an age limit, a deadline, a date in a letter): at 00:30 in Berlin
    # on 10 March that is 10 March, although UTC still says 9 March.
    from datetime import UTC, datetime

    from rathaus.applications.models import StatusChange
    from rathaus.applications.services import application_submit
    from rathaus.processes.services import process_start

    bpmn = (DEMO_DIR / "dog_registration.bpmn").read_text()
    # The dog was taken in in November: on 10 March the letter asks for the tax of December.
    script, text = ('<bpmn:script>exemption_review = "pending"\n',
                    "Ihr Hund ist angemeldet. Hundesteuer: {fee} € im Jahr ({reason}) ab dem {tax_from}. {review_note} "
                    "Bitte überweisen Sie {amount_due} € {payment_period}{payment_account} mit dem "
                    "Verwendungszweck {payment_reference}. Der Bescheid liegt bei.")
    assert script in bpmn and text in bpmn
    bpmn = bpmn.replace(script, script + "received_on = str(today())\n").replace(text, "Eingegangen am {received_on}.")
    (tmp_path / "dog.bpmn").write_text(bpmn)
    code, out = _run("import_process", str(tmp_path / "dog.bpmn"), str(DEMO_DIR / "dog_tax.dmn"),
                     "--municipality", town.slug, "--service", "hund-anmelden", "--publish")
    assert code == 0, out
    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    process_start(application=application, now=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    approved = StatusChange.objects.get(application=application, status="approved")
    assert approved.public_text == "Eingegangen am 10.03.2026."
