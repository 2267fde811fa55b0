"""FIT-Connect-style export: metadata valid under the official schema, correct SHA-512 hashes, data valid
under the form's schema, JWE for a destination's key, `rathaus export-submission` and the API's ZIP."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from joserfc.errors import DecodeError
from joserfc.jwk import RSAKey
from jsonschema import Draft202012Validator

from rathaus.accounts.rules import Perm
from rathaus.applications.models import Application
from rathaus.core.models import AuditEntry
from rathaus.integration import fitconnect

from .staff_api import *  # noqa: F403 - fixtures
from .staff_api import PDF, PROBLEM, bearer

pytestmark = pytest.mark.django_db

METADATA_SCHEMA = fitconnect.METADATA_SCHEMA_FILE  # the official schema, shipped unchanged (schemas/README.md)
SHARED_COPY = Path(__file__).resolve().parents[5] / "shared" / "data" / "fitconnect" / "metadata.schema.v1.0.0.json"


@pytest.fixture(scope="module")
def private_key():
    return RSAKey.generate_key(2048)


def export(reference: str, out: Path, *extra: str) -> str:
    stdout = io.StringIO()
    call_command("export_submission", reference, "--format", "fit-connect", "--out", str(out), *extra, stdout=stdout)
    return stdout.getvalue()


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_metadata_is_valid_under_the_official_fit_connect_schema(town, exempt_dog, tmp_path):
    checker = Draft202012Validator.FORMAT_CHECKER
    # The format checker really checks (rfc3986-validator, rfc3339-validator are installed), so the test can fail.
    assert not checker.conforms("kein uri", "uri") and not checker.conforms("31.01.2026", "date")
    output = export(exempt_dog.reference, tmp_path)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    schema = json.loads(METADATA_SCHEMA.read_text())
    errors = sorted(Draft202012Validator(schema, format_checker=checker).iter_errors(metadata), key=str)
    assert errors == []
    assert metadata["publicServiceType"]["identifier"] == "urn:de:fim:leika:leistung:99108002001000"
    assert metadata["replyChannel"] == {"eMail": {"address": "erika@example.org"}}
    assert metadata["additionalReferenceInfo"]["senderReference"] == exempt_dog.reference
    assert metadata["contentStructure"]["data"]["submissionSchema"]["schemaUri"].endswith(
        f"/api/v1/m/musterstadt/forms/{exempt_dog.form.key}/{exempt_dog.form.version}/schema")
    purposes = [a["purpose"] for a in metadata["contentStructure"]["attachments"]]
    assert purposes == ["form", "attachment"]
    assert "metadata.json" in output and f"{exempt_dog.reference}: 4 files written" in output
    # A broken document is refused by the same validator: the check is not a formality.
    metadata["contentStructure"]["attachments"][0]["hash"]["content"] = "ABC"
    assert list(Draft202012Validator(schema, format_checker=checker).iter_errors(metadata))


def test_the_application_date_is_the_day_in_germany_not_in_utc(town, exempt_dog, tmp_path):
    # Sent at 00:30 in Berlin on 10 March, which is still 9 March in UTC.
    Application.objects.filter(pk=exempt_dog.pk).update(
        submitted_at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    export(exempt_dog.reference, tmp_path)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["additionalReferenceInfo"]["applicationDate"] == "2026-03-10"


def test_hashes_are_the_sha512_of_the_exported_bytes(town, exempt_dog, tmp_path):
    export(exempt_dog.reference, tmp_path)
    files = read_tree(tmp_path)
    metadata = json.loads(files["metadata.json"])
    structure = metadata["contentStructure"]
    assert structure["data"]["hash"] == {"type": "sha512", "content": hashlib.sha512(files["data.json"]).hexdigest()}
    for attachment in structure["attachments"]:
        [name] = [n for n in files if n.startswith(f"attachments/{attachment['attachmentId']}.")]
        assert attachment["hash"]["content"] == hashlib.sha512(files[name]).hexdigest()
    proof = next(a for a in structure["attachments"] if a["purpose"] == "attachment")
    assert files[f"attachments/{proof['attachmentId']}.pdf"] == PDF
    assert proof["filename"] == "nachweis.pdf" and proof["mimeType"] == "application/pdf"
    # The same case gives the same attachment ids on every export (a receiver can de-duplicate).
    again = tmp_path / "again"
    export(exempt_dog.reference, again)
    assert [a["attachmentId"] for a in json.loads((again / "metadata.json").read_text())["contentStructure"]["attachments"]] \
        == [a["attachmentId"] for a in structure["attachments"]]


def test_data_is_the_submission_valid_under_the_forms_json_schema(town, exempt_dog, tmp_path):
    export(exempt_dog.reference, tmp_path)
    data = json.loads((tmp_path / "data.json").read_text())
    validator = Draft202012Validator(exempt_dog.form.schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(data)] == []
    assert data["reduction"]["proof"]["filename"] == "nachweis.pdf"
    assert "document_id" not in data["reduction"]["proof"]
    # The stored application (with a file reference instead of the file) would not be valid: the export restores it.
    assert list(validator.iter_errors(Application.objects.get(pk=exempt_dog.pk).data))


def test_encrypted_export_decrypts_with_the_private_key(town, exempt_dog, tmp_path, private_key):
    plain, sealed = tmp_path / "plain", tmp_path / "sealed"
    key_file = tmp_path / "ziel.jwk"
    key_file.write_text(json.dumps({**private_key.as_dict(private=False), "kid": "ziel-1", "use": "enc"}))
    export(exempt_dog.reference, plain)
    output = export(exempt_dog.reference, sealed, "--encrypt-for", str(key_file))
    assert "encrypted (JWE" in output
    clear, encrypted = read_tree(plain), read_tree(sealed)
    stem = {n.rsplit(".", 1)[0]: n for n in clear}
    assert sorted(encrypted) == sorted(f"{s}.jwe" for s in stem)
    metadata = json.loads(fitconnect.decrypt(encrypted["metadata.jwe"], private_key))
    hashes = {a["attachmentId"]: a["hash"]["content"] for a in metadata["contentStructure"]["attachments"]}
    for name, token in encrypted.items():
        assert token.count(b".") == 4  # compact serialisation: five parts
        header = json.loads(base64.urlsafe_b64decode(token.split(b".")[0] + b"=="))
        assert (header["alg"], header["enc"], header["kid"]) == ("RSA-OAEP-256", "A256GCM", "ziel-1")
        plaintext = fitconnect.decrypt(token, private_key)
        if name.startswith("attachments/"):
            # The hash in the (encrypted) metadata is that of the decrypted attachment.
            assert hashlib.sha512(plaintext).hexdigest() == hashes[name[len("attachments/"):-len(".jwe")]]
    assert metadata["contentStructure"]["data"]["hash"]["content"] == hashlib.sha512(clear["data.json"]).hexdigest()
    assert fitconnect.decrypt(encrypted["data.jwe"], private_key) == clear["data.json"]
    proof = next(a["attachmentId"] for a in metadata["contentStructure"]["attachments"] if a["purpose"] == "attachment")
    assert fitconnect.decrypt(encrypted[f"attachments/{proof}.jwe"], private_key) == PDF
    # Another key cannot open it.
    with pytest.raises(DecodeError):
        fitconnect.decrypt(encrypted["data.jwe"], RSAKey.generate_key(2048))


@pytest.mark.filterwarnings("ignore:Key size should be:joserfc.errors.SecurityWarning")
def test_a_pem_public_key_works_and_unusable_keys_are_refused(town, exempt_dog, tmp_path, private_key):
    pem = tmp_path / "ziel.pem"
    pem.write_bytes(private_key.as_pem(private=False))
    export(exempt_dog.reference, tmp_path / "out", "--encrypt-for", str(pem))
    assert fitconnect.decrypt((tmp_path / "out" / "data.jwe").read_bytes(), private_key)
    refused = {
        "private.pem": private_key.as_pem(private=True),
        "private.jwk": json.dumps(private_key.as_dict(private=True)).encode(),
        "short.pem": RSAKey.generate_key(1024, private=True).as_pem(private=False),
        "signing.jwk": json.dumps({**private_key.as_dict(private=False), "use": "sig"}).encode(),
        "ec.jwk": b'{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}',
        "garbage.pem": b"not a key",
    }
    for name, content in refused.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CommandError, match="unusable key"):
            export(exempt_dog.reference, tmp_path / f"out-{name}", "--encrypt-for", str(tmp_path / name))
        assert not (tmp_path / f"out-{name}").exists()


def test_unknown_reference_format_or_a_used_directory_are_errors(town, exempt_dog, tmp_path):
    with pytest.raises(CommandError, match="unknown reference MUS-2026-999999"):
        export("MUS-2026-999999", tmp_path / "a")
    with pytest.raises(CommandError, match="unknown format 'xdomea'"):
        call_command("export_submission", exempt_dog.reference, "--format", "xdomea", "--out", str(tmp_path / "b"))
    with pytest.raises(CommandError, match="unknown reference .* in municipality beispielhausen"):
        export(exempt_dog.reference, tmp_path / "c", "--municipality", "beispielhausen")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "old.txt").write_text("x")
    with pytest.raises(CommandError, match="not an empty directory"):
        export(exempt_dog.reference, tmp_path / "d")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_every_export_is_in_the_audit_log(town, exempt_dog, tmp_path):
    export(exempt_dog.reference, tmp_path)
    entry = AuditEntry.objects.get(action="integration.submission_exported")
    assert entry.municipality == town and entry.object_id == str(exempt_dog.pk)
    assert entry.actor_label == "rathaus export-submission"
    assert entry.data["channel"] == "cli" and entry.data["encrypted"] is False
    assert "data.json" in entry.data["files"]


def test_the_api_returns_the_same_files_as_a_zip(town, exempt_dog, make_token, tmp_path):
    raw = make_token([Perm.VIEW_INBOX, Perm.HANDLE_APPLICATION])
    response = Client().get(f"/api/v1/m/musterstadt/cases/{exempt_dog.reference}/fit-connect", headers=bearer(raw))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert names[:2] == ["data.json", "metadata.json"] and len(names) == 4
    metadata = json.loads(archive.read("metadata.json"))
    assert metadata["contentStructure"]["data"]["hash"]["content"] == hashlib.sha512(archive.read("data.json")).hexdigest()
    export(exempt_dog.reference, tmp_path)
    assert archive.read("data.json") == (tmp_path / "data.json").read_bytes()
    entry = AuditEntry.objects.filter(action="integration.submission_exported").order_by("id").first()
    assert entry.data["channel"] == "api" and entry.actor_label.startswith("API-Token rth_")


def test_the_api_encrypts_every_part_for_a_posted_public_key(town, exempt_dog, make_token, private_key):
    raw = make_token([Perm.VIEW_INBOX, Perm.HANDLE_APPLICATION])
    url = f"/api/v1/m/musterstadt/cases/{exempt_dog.reference}/fit-connect"
    public = private_key.as_dict(private=False)
    response = Client().post(url, {"public_key": public}, content_type="application/json", headers=bearer(raw))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist()[:2] == ["data.jwe", "metadata.jwe"]
    assert all(name.endswith(".jwe") for name in archive.namelist())
    metadata = json.loads(fitconnect.decrypt(archive.read("metadata.jwe"), private_key))
    data = fitconnect.decrypt(archive.read("data.jwe"), private_key)
    assert metadata["contentStructure"]["data"]["hash"]["content"] == hashlib.sha512(data).hexdigest()
    entry = AuditEntry.objects.filter(action="integration.submission_exported").get()
    assert entry.data["encrypted"] is True

    # A private key, or no RSA key at all, is refused with a problem naming the field; nothing is exported.
    for bad in (private_key.as_dict(private=True), {"kty": "EC", "crv": "P-256"}, "kein Schlüssel", "[" * 100_000):
        refused = Client().post(url, {"public_key": bad}, content_type="application/json", headers=bearer(raw))
        assert refused.status_code == 422 and refused["Content-Type"] == PROBLEM
        assert refused.json()["errors"][0]["pointer"] == "/public_key"
    assert AuditEntry.objects.filter(action="integration.submission_exported").count() == 1


def test_an_anonymised_application_is_not_exported(town, exempt_dog, make_token, tmp_path):
    Application.objects.filter(pk=exempt_dog.pk).update(anonymised_at=timezone.now(), data={})
    raw = make_token([Perm.HANDLE_APPLICATION])
    response = Client().get(f"/api/v1/m/musterstadt/cases/{exempt_dog.reference}/fit-connect", headers=bearer(raw))
    assert response.status_code == 409 and response["Content-Type"] == PROBLEM
    assert "anonymisiert" in response.json()["detail"]
    with pytest.raises(CommandError, match="anonymisiert"):
        export(exempt_dog.reference, tmp_path / "x")
    assert not AuditEntry.objects.filter(action="integration.submission_exported").exists()


def test_the_console_script_prints_what_it_wrote(town, exempt_dog, tmp_path, capsys):
    from rathaus.cli import main

    main(["rathaus", "export-submission", exempt_dog.reference, "--format", "fit-connect", "--out", str(tmp_path / "out"),
          "--municipality", "musterstadt"])
    lines = capsys.readouterr().out.splitlines()
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert len(written) == 4 and "metadata.json" in written and "data.json" in written
    for name in written:
        size = (tmp_path / "out" / name).stat().st_size
        assert f"{tmp_path / 'out' / name}\t{size} bytes" in lines
    assert lines[-1].endswith(f"4 files written to {tmp_path / 'out'}, unencrypted")


@pytest.mark.skipif(not SHARED_COPY.exists(), reason="the project's shared data (../shared/data/fitconnect) is not beside this checkout")
def test_the_shipped_schema_is_the_official_file_unchanged():
    assert METADATA_SCHEMA.read_bytes() == SHARED_COPY.read_bytes()


def test_metadata_that_breaks_the_schema_is_never_exported(town, exempt_dog, monkeypatch):
    original = fitconnect.service_identifier
    monkeypatch.setattr(fitconnect, "service_identifier", lambda service: "kein-urn " + original(service))
    with pytest.raises(fitconnect.ExportRefused, match="FIT-Connect-Schema"):
        fitconnect.submission_build(exempt_dog)
