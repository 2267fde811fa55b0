"""The one upload check: what every path (form, late upload, staff) refuses, and what passes."""

from __future__ import annotations

import struct
import zipfile

import pytest

from rathaus.cases.uploads import DOCX_TYPE, ODT_TYPE, UploadRefused, check_upload, sanitise_filename

from .conftest import EICAR, PDF, PNG, make_zip

ZIP_TYPES = ["application/pdf", "application/zip", DOCX_TYPE, ODT_TYPE]


def _refused(**kwargs) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        check_upload(**kwargs)
    return caught.value


def test_a_pdf_passes_with_a_safe_name_and_its_sha512():
    checked = check_upload(raw=PDF, filename="Ausweis Erika.pdf", declared_type="application/pdf")
    assert (checked.content_type, checked.filename, checked.original_filename, checked.size) == (
        "application/pdf", "Ausweis Erika.pdf", "Ausweis Erika.pdf", len(PDF))
    assert len(checked.sha512) == 128


@pytest.mark.parametrize(("raw", "name", "message"), [
    (b"MZ\x90\x00 not a pdf", "nachweis.pdf", "kein erlaubtes Format"),
    (b"just some text", "nachweis.pdf", "kein erlaubtes Format"),
    (b"", "leer.pdf", "leer"),
    (PDF + b"\x00" * (10 * 1024 * 1024), "riesig.pdf", "zu groß"),
], ids=["program-bytes", "unknown-bytes", "empty", "oversize"])
def test_wrong_magic_bytes_empty_and_oversized_files_are_refused(raw, name, message):
    assert message in _refused(raw=raw, filename=name).message_de


def test_the_field_limit_and_the_fields_types_apply_too():
    assert "zu groß" in _refused(raw=PDF + b"\x00" * 2000, filename="a.pdf", max_bytes=1000).message_de
    refused = _refused(raw=PNG, filename="bild.png", field_accept=["application/pdf"])
    assert "kein erlaubtes Format" in refused.message_de and "PNG" in refused.message_de


def test_content_must_match_the_declared_type():
    refused = _refused(raw=PDF, filename="foto.png", declared_type="image/png")
    assert refused.code == "type_mismatch" and "als PNG angegeben" in refused.message_de
    # Generic declarations say nothing about the content: the bytes decide.
    assert check_upload(raw=PDF, filename="scan", declared_type="application/octet-stream").filename == "scan.pdf"
    assert check_upload(raw=PNG, filename="x.png", declared_type="image/x-png").content_type == "image/png"


@pytest.mark.parametrize("name", ["rechnung.pdf.exe", "rechnung.pdf.EXE ", "brief.pdf.js", "x.scr"])
def test_a_name_ending_like_a_program_is_refused_even_with_harmless_bytes(name):
    refused = _refused(raw=PDF, filename=name)
    assert refused.code == "program_name" and "wie ein Programm" in refused.message_de


@pytest.mark.parametrize(("name", "stored"), [
    ("../../etc/scan.exe.png", "scan.pdf"),
    ("C:\\Users\\erika\\Ausweis.pdf", "Ausweis.pdf"),
    ("rech\u202enung\x00\n.pdf", "rechnung.pdf"),
    (".htaccess", "htaccess.pdf"),
    ("....", "dokument.pdf"),
    ("a" * 300 + ".pdf", "a" * 80 + ".pdf"),
    ("Bescheid <script>.pdf", "Bescheid_script.pdf"),
    ("Übersicht Änderung.pdf", "Übersicht Änderung.pdf"),
])
def test_file_names_lose_path_parts_control_characters_and_extra_extensions(name, stored):
    assert check_upload(raw=PDF, filename=name).filename == stored
    assert sanitise_filename(name, "image/png").endswith(".png")


@pytest.mark.parametrize(("raw", "kind"), [
    (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "gzip"),
    (b"Rar!\x1a\x07\x00" + b"\x00" * 20, "RAR"),
    (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 20, "7-Zip"),
    (b"\x00" * 257 + b"ustar\x0000" + b"\x00" * 100, "tar"),
    (make_zip({"a.txt": b"hello"}), "ZIP"),
], ids=["gzip", "rar", "7z", "tar", "zip"])
def test_archives_are_refused_by_default(raw, kind):
    refused = _refused(raw=raw, filename="unterlagen.dat")
    assert refused.code == "archive" and kind in refused.message_de


class TestZipContainersAllowedByConfiguration:
    @pytest.fixture(autouse=True)
    def _allow_zip(self, settings):
        settings.RATHAUS_UPLOAD_ALLOWED_TYPES = ZIP_TYPES

    def test_a_small_zip_passes(self):
        checked = check_upload(raw=make_zip({"a.pdf": PDF, "b.txt": b"notiz"}), filename="unterlagen.zip")
        assert (checked.content_type, checked.filename) == ("application/zip", "unterlagen.zip")

    def test_docx_and_odt_are_recognised_by_their_content(self):
        docx = make_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
        assert check_upload(raw=docx, filename="brief.zip").content_type == DOCX_TYPE
        assert check_upload(raw=docx, filename="brief.zip").filename == "brief.docx"
        odt = make_zip({"mimetype": ODT_TYPE.encode(), "content.xml": b"<office:document-content/>"}, first_stored="mimetype")
        assert check_upload(raw=odt, filename="brief.odt").content_type == ODT_TYPE

    def test_a_zip_bomb_is_refused_without_unpacking_it(self, settings):
        # 20 MB of zeros pack into about 20 KB: the ratio gives it away.
        bomb = make_zip({"null.bin": b"\x00" * (20 * 1024 * 1024)})
        assert len(bomb) < 100_000
        refused = _refused(raw=bomb, filename="bomb.zip")
        assert refused.code == "archive_bomb" and "unverhältnismäßig groß" in refused.message_de
        # And by the total: a moderate ratio, but more than the configured limit.
        settings.RATHAUS_ARCHIVE_MAX_UNCOMPRESSED_BYTES = 1000
        assert _refused(raw=make_zip({"a.txt": bytes(range(256)) * 8}), filename="a.zip").code == "archive_bomb"

    def test_a_bomb_that_lies_in_a_docx_is_refused_too(self):
        docx = make_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b" " * (30 * 1024 * 1024)})
        assert _refused(raw=docx, filename="brief.docx").code == "archive_bomb"

    def test_overlapping_entries_are_refused(self):
        # A non-recursive zip bomb: central directory entries that all point at the same data.
        raw = bytearray(make_zip({"a.txt": b"a" * 100, "b.txt": b"b" * 100}))
        directory = raw.rfind(b"PK\x01\x02")
        struct.pack_into("<L", raw, directory + 42, 0)
        assert _refused(raw=bytes(raw), filename="x.zip").code == "archive_bomb"

    def test_too_many_entries_nested_archives_and_encryption_are_refused(self, settings):
        assert _refused(raw=make_zip({"inner.zip": make_zip({"a": b"a"})}), filename="x.zip").code == "archive_nested"
        assert _refused(raw=make_zip({"setup.exe": b"MZ"}), filename="x.zip").code == "archive_nested"
        raw = bytearray(make_zip({"geheim.txt": b"x" * 10}))
        for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = raw.find(signature)
            struct.pack_into("<H", raw, at + flag_at, 1)
        assert _refused(raw=bytes(raw), filename="x.zip").code == "archive_encrypted"
        settings.RATHAUS_ARCHIVE_MAX_ENTRIES = 3
        assert _refused(raw=make_zip({f"{i}.txt": b"x" for i in range(4)}), filename="x.zip").code == "archive_entries"

    def test_a_damaged_zip_is_refused(self):
        assert _refused(raw=b"PK\x03\x04" + b"\x00" * 40, filename="x.zip").code == "archive_damaged"

    def test_gzip_stays_refused_even_when_zip_is_allowed(self):
        assert _refused(raw=b"\x1f\x8b\x08\x00" + b"\x00" * 20, filename="x.gz").code == "archive"


class TestClamAV:
    def test_eicar_is_refused_and_a_clean_file_passes(self, fake_clamd):
        refused = _refused(raw=PDF + EICAR, filename="nachweis.pdf")
        assert refused.code == "malware" and "Schadsoftware (Win.Test.EICAR_HDB-1)" in refused.message_de
        assert check_upload(raw=PDF, filename="nachweis.pdf").content_type == "application/pdf"
        # clamd got the whole file through INSTREAM, in order.
        assert fake_clamd.scanned == [PDF + EICAR, PDF]

    def test_large_files_go_in_several_chunks(self, fake_clamd):
        raw = PDF + bytes(range(256)) * 1024  # more than one 64 KiB chunk
        check_upload(raw=raw, filename="gross.pdf")
        assert fake_clamd.scanned == [raw]

    def test_over_a_unix_socket(self, fake_clamd_socket):
        assert _refused(raw=PDF + EICAR, filename="a.pdf").code == "malware"
        assert check_upload(raw=PDF, filename="a.pdf").size == len(PDF)

    def test_a_scanner_that_is_down_refuses_every_file(self, clamd_down):
        refused = _refused(raw=PDF, filename="nachweis.pdf")
        assert refused.code == "scanner_unavailable"
        assert "nicht auf Schadsoftware geprüft" in refused.message_de and "später" in refused.message_de

    def test_a_misconfigured_scanner_fails_closed(self, settings):
        settings.RATHAUS_UPLOAD_SCANNERS = ["clamav"]
        settings.CLAMAV_URL = ""
        assert _refused(raw=PDF, filename="a.pdf").code == "scanner_unavailable"
        settings.RATHAUS_UPLOAD_SCANNERS = ["no-such-scanner"]
        assert _refused(raw=PDF, filename="a.pdf").code == "scanner_unavailable"

    def test_without_a_configured_scanner_nothing_is_scanned(self, settings):
        settings.RATHAUS_UPLOAD_SCANNERS = []
        assert check_upload(raw=PDF + EICAR, filename="a.pdf").content_type == "application/pdf"


def test_zip_module_is_only_asked_for_the_directory():
    # The check reads sizes from the central directory; it never opens an entry.
    raw = make_zip({"a.txt": b"a" * 1000})
    calls = []
    original = zipfile.ZipFile.open

    def spy(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    zipfile.ZipFile.open = spy
    try:
        from django.test import override_settings

        with override_settings(RATHAUS_UPLOAD_ALLOWED_TYPES=ZIP_TYPES):
            check_upload(raw=raw, filename="a.zip")
    finally:
        zipfile.ZipFile.open = original
    assert calls == []
