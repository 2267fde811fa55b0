"""Hardened XML parsing for uploaded BPMN/DMN files (no DTDs, no entities, no network)."""

from __future__ import annotations

from lxml import etree

from .errors import BilingualError

__all__ = ["MAX_XML_BYTES", "XmlError", "local_name", "namespace", "parse_xml"]

MAX_XML_BYTES = 10 * 1024 * 1024
#: How deeply elements may nest: libxml2's limit without its "huge tree" option.
MAX_DEPTH = 256


class XmlError(BilingualError, ValueError):
    """A file is not well-formed or uses forbidden XML features."""

    def __init__(self, message_de: str, message_en: str, *, line: int | None = None) -> None:
        super().__init__(message_de, message_en)
        self.line = line


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse ``data`` and return the root element; DOCTYPEs and entities are refused."""
    if not isinstance(data, bytes | bytearray):
        raise XmlError("Datei muss als Bytes übergeben werden", "file content must be bytes")
    if len(data) > MAX_XML_BYTES:
        raise XmlError(
            f"Datei zu groß (höchstens {MAX_XML_BYTES // (1024 * 1024)} MB)",
            f"file too large (at most {MAX_XML_BYTES // (1024 * 1024)} MB)",
        )
    if not bytes(data).strip():
        raise XmlError("Die Datei ist leer", "the file is empty")
    try:
        root = etree.fromstring(bytes(data), parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        if "Excessive depth" in str(exc.msg):
            # libxml2's own words advise an option the designer cannot set (and we refuse on purpose).
            raise XmlError(
                f"Die Datei ist zu tief verschachtelt (höchstens {MAX_DEPTH} Ebenen)",
                f"the file is nested too deeply (at most {MAX_DEPTH} levels)",
                line=line,
            ) from None
        raise XmlError(f"Kein gültiges XML: {exc.msg}", f"not well-formed XML: {exc.msg}", line=line) from None
    # A DOCTYPE is never needed for BPMN/DMN and is how entity expansion attacks start.
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlError("DOCTYPE-Deklarationen sind nicht erlaubt", "DOCTYPE declarations are not allowed")
    return root


def local_name(element: etree._Element) -> str:
    """The tag name without namespace ('' for comments and processing instructions)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace(element: etree._Element) -> str:
    """The namespace URI of an element ('' if none)."""
    tag = element.tag
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    return ""
