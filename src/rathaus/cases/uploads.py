"""Upload safety: the one check every upload path runs before a byte is stored.

Form submissions (web and API), late uploads by the citizen and staff uploads all call
:func:`check_upload`. It refuses, with a German and an English message: empty and oversized
files; content whose magic bytes are not an allowed type (by configuration and by the form
field), or disagree with the type the client declared; archives and programs (always), and
ZIP-based formats (ZIP, DOCX, ODT …) unless configured, which are then inspected from their
central directory (entry count, uncompressed size, compression ratio, nesting) without
extracting anything; file names ending in a program's extension; and whatever a configured
scanner (ClamAV) flags or cannot scan (fail closed). What passes gets a safe file name that ends
in the extension of what the bytes are.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from rathaus_domain.forms.model import format_bytes

from .scanners.base import ScannerUnavailable
from .scanners.service import scan_bytes

ZIP_TYPE = "application/zip"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT_TYPE = "application/vnd.oasis.opendocument.text"
ODS_TYPE = "application/vnd.oasis.opendocument.spreadsheet"


@dataclass(frozen=True)
class KnownType:
    extension: str
    label: str
    zip_based: bool = False


#: Every type an upload may be, if configuration (and the form field) allow it.
KNOWN_TYPES = {
    "application/pdf": KnownType("pdf", "PDF"),
    "image/png": KnownType("png", "PNG"),
    "image/jpeg": KnownType("jpg", "JPEG"),
    ZIP_TYPE: KnownType("zip", "ZIP", zip_based=True),
    DOCX_TYPE: KnownType("docx", "Word (DOCX)", zip_based=True),
    XLSX_TYPE: KnownType("xlsx", "Excel (XLSX)", zip_based=True),
    ODT_TYPE: KnownType("odt", "OpenDocument-Text (ODT)", zip_based=True),
    ODS_TYPE: KnownType("ods", "OpenDocument-Tabelle (ODS)", zip_based=True),
}
DEFAULT_ALLOWED_TYPES = ("application/pdf", "image/png", "image/jpeg")
# Names browsers and systems use for the same types.
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png",
           "application/x-pdf": "application/pdf", "application/x-zip-compressed": ZIP_TYPE,
           "application/x-zip": ZIP_TYPE}

# Archives and programs by their first bytes: refused whatever the configuration allows.
REFUSED_MAGIC = (
    (b"\x1f\x8b", "gzip"), (b"Rar!\x1a\x07", "RAR"), (b"7z\xbc\xaf\x27\x1c", "7-Zip"), (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"MSCF", "CAB"), (b"MZ", "Windows-Programm"),
    (b"\x7fELF", "Linux-Programm"), (b"\xca\xfe\xba\xbe", "Programm"), (b"\xcf\xfa\xed\xfe", "Programm"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE-Container (altes Office-Format, MSI)"),
)
# A file name ending like this is refused even when its bytes are harmless: it is how malware hides.
PROGRAM_EXTENSIONS = frozenset(
    "exe com bat cmd scr pif msi msp msc dll cpl js jse vbs vbe wsf wsh hta ps1 psm1 psd1 jar sh bash app apk "
    "lnk reg scf inf iso img vhd vhdx dmg deb rpm run bin elf ocx sys gadget appx msix".split())
NESTED_ARCHIVE_EXTENSIONS = frozenset(
    "zip gz tgz rar 7z bz2 xz zst tar cab jar war apk iso docx xlsx pptx odt ods odp".split())
FILENAME_STEM_MAX = 80
_UNSAFE_CHARS = re.compile(r"[^\w\- ()]+", re.UNICODE)


class UploadRefused(Exception):
    """The file fails a check; nothing was stored."""

    def __init__(self, message_de: str, message_en: str, code: str = "refused"):
        super().__init__(message_en)
        self.message_de, self.message_en, self.code = str(message_de), message_en, code


@dataclass(frozen=True)
class CheckedUpload:
    raw: bytes
    content_type: str
    filename: str
    original_filename: str
    size: int
    sha512: str


def max_bytes_default() -> int:
    return int(getattr(settings, "RATHAUS_UPLOAD_MAX_BYTES", 10 * 1024 * 1024))


def configured_types() -> list[str]:
    """The types uploads may have on this instance (RATHAUS_UPLOAD_ALLOWED_TYPES), known ones only."""
    types = [ALIASES.get(t.strip().lower(), t.strip().lower())
             for t in getattr(settings, "RATHAUS_UPLOAD_ALLOWED_TYPES", DEFAULT_ALLOWED_TYPES)]
    return [t for t in dict.fromkeys(types) if t in KNOWN_TYPES]


def allowed_types(field_accept: Iterable[str] | None = None) -> list[str]:
    """Configured types, narrowed to what the form field accepts (if it says)."""
    types = configured_types()
    if field_accept:
        accept = {ALIASES.get(t, t) for t in field_accept}
        types = [t for t in types if t in accept]
    return types


def types_label(types: Iterable[str]) -> str:
    return ", ".join(KNOWN_TYPES[t].label for t in types if t in KNOWN_TYPES)


def accept_attribute(types: Iterable[str]) -> str:
    """For <input type=file accept="…">: the types and their extensions."""
    types = list(types)
    return ",".join([*types, *(f".{KNOWN_TYPES[t].extension}" for t in types)])


def _format_refused(reason_de: str, reason_en: str, types: list[str], code: str = "format") -> UploadRefused:
    return UploadRefused(
        _("Diese Datei hat kein erlaubtes Format: %(reason)s Erlaubt sind: %(types)s.") % {
            "reason": reason_de, "types": types_label(types)},
        f"This file type is not allowed: {reason_en} Allowed: {', '.join(KNOWN_TYPES[t].label for t in types)}.",
        code)


def sniff(raw: bytes) -> str | None:
    """The known type the bytes are, by their magic bytes (ZIP containers by their first entries)."""
    if raw.startswith(b"%PDF-"):
        return "application/pdf"
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if raw.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        # OpenDocument: the first entry is "mimetype", stored uncompressed (ODF 1.2 part 3, 3.3).
        if raw[30:38] == b"mimetype":
            if raw[38:].startswith(ODT_TYPE.encode()):
                return ODT_TYPE
            if raw[38:].startswith(ODS_TYPE.encode()):
                return ODS_TYPE
        try:
            names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return ZIP_TYPE  # a broken ZIP is still a ZIP; the archive check refuses it
        if "[Content_Types].xml" in names:
            if any(n.startswith("word/") for n in names):
                return DOCX_TYPE
            if any(n.startswith("xl/") for n in names):
                return XLSX_TYPE
        return ZIP_TYPE
    return None


def _refused_magic(raw: bytes) -> str | None:
    for magic, label in REFUSED_MAGIC:
        if raw.startswith(magic):
            return label
    if raw[257:262] == b"ustar":
        return "tar"
    return None


def clean_original_filename(filename: str) -> str:
    """The name as sent, without path parts and invisible or control characters (kept as data only)."""
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[\\/]", name)[-1]
    # Cc: control characters (NUL, newline …); Cf: format characters such as U+202E, which
    # shows "exe.pdf" for a name that really ends in ".exe".
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    return name.strip()[:255]


def sanitise_filename(filename: str, content_type: str) -> str:
    """A short, safe name: the first part of the name before any dot, plus the real type's extension."""
    name = clean_original_filename(filename).lstrip(". ")
    stem = name.split(".", 1)[0]
    stem = _UNSAFE_CHARS.sub("_", stem).strip(" _-")
    stem = re.sub(r"[ _]{2,}", "_", stem)[:FILENAME_STEM_MAX].strip(" _-")
    return f"{stem or 'dokument'}.{KNOWN_TYPES[content_type].extension}"


def _extensions(filename: str) -> list[str]:
    name = clean_original_filename(filename).lower()
    return [part.strip() for part in name.split(".")[1:]]


def check_archive(raw: bytes) -> None:
    """Refuse ZIP containers that are broken, encrypted, nested, overlapping or unpack too large.

    Only the central directory is read: nothing is decompressed.
    """
    max_entries = int(getattr(settings, "RATHAUS_ARCHIVE_MAX_ENTRIES", 1000))
    max_total = int(getattr(settings, "RATHAUS_ARCHIVE_MAX_UNCOMPRESSED_BYTES", 100 * 1024 * 1024))
    max_ratio = float(getattr(settings, "RATHAUS_ARCHIVE_MAX_RATIO", 100))
    try:
        infos = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise UploadRefused(_("Die Datei ist beschädigt und lässt sich nicht öffnen."), "the file is damaged",
                            "archive_damaged") from None
    if len(infos) > max_entries:
        raise UploadRefused(_("Die Datei enthält zu viele Einzeldateien (%(n)d, erlaubt sind %(max)d).") % {
            "n": len(infos), "max": max_entries}, f"too many entries ({len(infos)}, at most {max_entries})", "archive_entries")
    total = sum(info.file_size for info in infos)
    compressed = sum(info.compress_size for info in infos)
    offsets = [info.header_offset for info in infos]
    bomb = (total > max_total or total > max_ratio * max(len(raw), 1)
            or any(info.file_size > max_ratio * max(info.compress_size, 1) and info.file_size > 1024 * 1024 for info in infos)
            # Entries sharing their data (overlapping local headers) are how non-recursive zip bombs grow.
            or len(set(offsets)) != len(offsets) or compressed > len(raw))
    if bomb:
        raise UploadRefused(
            _("Die Datei würde entpackt unverhältnismäßig groß (%(mb).0f MB). Solche Dateien nehmen wir nicht an.") % {
                "mb": total / 1e6}, f"the file would unpack to {total} bytes (zip bomb)", "archive_bomb")
    if any(info.flag_bits & 0x1 for info in infos):
        raise UploadRefused(_("Die Datei ist verschlüsselt und kann nicht geprüft werden."), "the archive is encrypted",
                            "archive_encrypted")
    for info in infos:
        extension = info.filename.rsplit(".", 1)[-1].lower() if "." in info.filename else ""
        if extension in NESTED_ARCHIVE_EXTENSIONS or extension in PROGRAM_EXTENSIONS:
            raise UploadRefused(_("Die Datei enthält weitere Archive oder Programme. Solche Dateien nehmen wir nicht an."),
                                "the archive contains further archives or programs", "archive_nested")


def check_upload(*, raw: bytes, filename: str, declared_type: str | None = None,
                 field_accept: Iterable[str] | None = None, max_bytes: int | None = None) -> CheckedUpload:
    """Check one upload; the checked bytes with a safe name and their SHA-512, or UploadRefused."""
    types = allowed_types(field_accept)
    limit = min(max_bytes or max_bytes_default(), max_bytes_default())
    if not raw:
        raise UploadRefused(_("Die Datei ist leer."), "the file is empty", "empty")
    if len(raw) > limit:
        raise UploadRefused(_("Die Datei ist zu groß. Erlaubt sind höchstens %(size)s.") % {"size": format_bytes(limit)},
                            f"the file is too large (at most {limit / (1024 * 1024):.1f} MB)", "too_large")
    sniffed = sniff(raw)
    if sniffed is None:
        program = _refused_magic(raw)
        if program:
            raise _format_refused(_("Archive und Programme (%(kind)s) nehmen wir nicht an.") % {"kind": program},
                                  f"archives and programs ({program}) are not accepted.", types, "archive")
        raise _format_refused(_("Der Inhalt ist keines der erlaubten Formate."), "the content is none of them.", types)
    if sniffed not in types:
        if KNOWN_TYPES[sniffed].zip_based:
            raise _format_refused(_("Archive und gepackte Dokumente (%(kind)s) nehmen wir nicht an.") % {
                "kind": KNOWN_TYPES[sniffed].label}, "archives are not accepted.", types, "archive")
        raise _format_refused(_("Die Datei ist ein %(kind)s.") % {"kind": KNOWN_TYPES[sniffed].label},
                              f"the file is {KNOWN_TYPES[sniffed].label}.", types)
    declared = ALIASES.get((declared_type or "").split(";")[0].strip().lower(), (declared_type or "").split(";")[0].strip().lower())
    # Only a declared type we know can contradict the bytes; generic ones (octet-stream, text/plain
    # from tools that guess nothing) say nothing, and the bytes decide.
    if declared in KNOWN_TYPES and declared != sniffed:
        raise UploadRefused(
            _("Die Datei ist als %(declared)s angegeben, ihr Inhalt ist aber %(real)s. Bitte prüfen Sie die Datei.") % {
                "declared": KNOWN_TYPES[declared].label, "real": KNOWN_TYPES[sniffed].label},
            f"the file is declared as {declared} but its content is {sniffed}", "type_mismatch")
    extensions = _extensions(filename)
    if extensions and extensions[-1] in PROGRAM_EXTENSIONS:
        raise _format_refused(_("Der Dateiname endet auf „.%(ext)s“ wie ein Programm.") % {"ext": extensions[-1]},
                              f"the file name ends in .{extensions[-1]} like a program.", types, "program_name")
    if KNOWN_TYPES[sniffed].zip_based:
        check_archive(raw)
    try:
        result = scan_bytes(raw)
    except ScannerUnavailable:
        raise UploadRefused(
            _("Die Datei konnte gerade nicht auf Schadsoftware geprüft werden und wurde deshalb nicht angenommen. "
              "Bitte versuchen Sie es später noch einmal."),
            "the file could not be checked for malware right now and was not accepted; please try again later",
            "scanner_unavailable") from None
    if result.infected:
        raise UploadRefused(
            _("Die Datei enthält Schadsoftware (%(name)s) und wurde nicht angenommen.") % {"name": result.signature},
            f"the file contains malware ({result.signature}) and was not accepted", "malware")
    return CheckedUpload(raw=raw, content_type=sniffed, filename=sanitise_filename(filename, sniffed),
                         original_filename=clean_original_filename(filename) or "dokument", size=len(raw),
                         sha512=hashlib.sha512(raw).hexdigest())
