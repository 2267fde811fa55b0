"""PDF documents for citizens: the receipt, and `TextPdf`, the text-document base decision letters share.

fpdf2 parses a TrueType font on every `add_font` (about 40 ms for DejaVu Sans), subsets it with
fontTools on every `output` (about 30 ms per font) and measures a `multi_cell` line once per
character. A receipt paid about 0.3 s for that, more than the rest of a case. Here each font
file is parsed once per process. Every document first picks a fixed base repertoire (ASCII,
Latin-1, Latin Extended-A, typographic punctuation) in a fixed order, so documents written in
the usual scripts embed the very same subset, which is built once and then reused; other text
adds its glyphs after the base and gets its own entry in a small LRU. Lines are wrapped here
from word widths and drawn with `cell`. fpdf2 is pinned; `_Producer` mirrors its TTF embedding.
"""

from __future__ import annotations

import copy
import logging
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from django.contrib.staticfiles import finders
from django.utils import timezone
from fontTools import subset as ftsubset
from fontTools import ttLib
from fpdf import FPDF
from fpdf.enums import TextEmphasis
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import CIDSystemInfo, OutputProducer, PDFFont, PDFFontStream, _tt_font_widths
from fpdf.syntax import Name, PDFArray, PDFContentStream

from rathaus_domain.forms.model import FormSpec

from .models import Application, Representation

logger = logging.getLogger(__name__)
_BASE_CHARS = (*range(0x20, 0x7F), *map(ord, "ÄÖÜäöüß€–„“§·"))
_SUBSETS_PER_FONT = 64
# The tables fpdf2 drops when it embeds a TrueType font (fpdf/output.py, _add_fonts).
_DROP_TABLES = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC", "EBDT", "EBLC", "EBSC",
                "SVG ", "CPAL", "COLR", "fvar"]


@lru_cache(maxsize=8)
def _font_path(name: str) -> str | None:
    found = finders.find(f"vendor/fonts/{name}")
    return str(found) if found and Path(found).exists() else None


@dataclass(frozen=True)
class _Embedding:
    """The font objects of one subset, ready to write (streams already deflated)."""

    program: bytes
    program_length: int
    cid_to_gid: bytes
    widths: str
    to_unicode: str


class _DocumentFont(TTFFont):
    """A document's view of a shared font: its own subset map, the parsed tables of the shared one."""

    __slots__ = ("shared",)


class _SharedFont:
    """One TrueType file, parsed once per process, and the subsets embedded from it so far."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.template = TTFFont(_NoFonts(), path, "template", "")
        self._empty, self._base = SubsetMap(self.template), SubsetMap(self.template)
        for codepoint in _BASE_CHARS:
            if codepoint in self.template.glyph_ids:
                self._base.pick_glyph(self._base.get_glyph(unicode=codepoint))
        self._subsets: OrderedDict[tuple, _Embedding] = OrderedDict()
        self._lock = threading.Lock()

    def for_document(self, pdf: FPDF, fontkey: str, style: str, *, base: bool = True) -> _DocumentFont:
        font = _DocumentFont.__new__(_DocumentFont)
        for slot in TTFFont.__slots__:
            if hasattr(self.template, slot):
                setattr(font, slot, getattr(self.template, slot))
        font.shared = self
        font.i = len(pdf.fonts) + 1
        font.fontkey = fontkey
        font.emphasis = TextEmphasis.coerce(style)
        font.missing_glyphs = []
        # A copy of a prepared map; with the base, its characters have the same ids in every document.
        start = self._base if base else self._empty
        subset = font.subset = SubsetMap.__new__(SubsetMap)
        subset.font, subset._next, subset._reserved = font, start._next, list(start._reserved)
        subset._char_id_per_glyph = dict(start._char_id_per_glyph)
        return font

    def embedding(self, font: _DocumentFont) -> _Embedding:
        key = tuple((glyph.glyph_name, glyph.unicode, cid) for glyph, cid in font.subset.items())
        with self._lock:
            found = self._subsets.get(key)
            if found is not None:
                self._subsets.move_to_end(key)
                return found
        made = self._embed(font)
        with self._lock:
            self._subsets[key] = made
            while len(self._subsets) > _SUBSETS_PER_FONT:
                self._subsets.popitem(last=False)
        return made

    def _embed(self, font: _DocumentFont) -> _Embedding:
        # Subsetting works in place, so it gets a fresh copy of the file, never the shared tables.
        ttfont = ttLib.TTFont(self.path, recalcTimestamp=False, fontNumber=0, lazy=True)
        options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True)
        options.drop_tables += _DROP_TABLES
        subsetter = ftsubset.Subsetter(options)
        subsetter.populate(glyphs=font.subset.get_all_glyph_names())
        subsetter.subset(ttfont)
        cid_to_gid = bytearray(256 * 256 * 2)
        for glyph, cid in font.subset.items():
            gid = ttfont.getGlyphID(glyph.glyph_name)
            cid_to_gid[cid * 2], cid_to_gid[cid * 2 + 1] = gid >> 8, gid & 0xFF
        output = BytesIO()
        ttfont.save(output)
        ttfont.close()
        program = output.getvalue()
        chars = [f"<{cid:04X}> <{''.join(_utf16_hex(code) for code in glyph.unicode)}>\n"
                 for glyph, cid in font.subset.items() if glyph.unicode]
        to_unicode = (
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo\n"
            "<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n/CMapName /Adobe-Identity-UCS def\n"
            "/CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            f"{len(chars)} beginbfchar\n{''.join(chars)}endbfchar\nendcmap\n"
            "CMapName currentdict /CMap defineresource pop\nend\nend"
        )
        return _Embedding(program=zlib.compress(program), program_length=len(program),
                          cid_to_gid=zlib.compress(bytes(cid_to_gid)), widths=_tt_font_widths(font), to_unicode=to_unicode)


class _NoFonts:
    fonts: dict = {}


def _utf16_hex(code: int) -> str:
    if code > 0xFFFF:
        return f"{0xD800 | (code - 0x10000) >> 10:04X}{0xDC00 | (code & 0x3FF):04X}"
    return f"{code:04X}"


_shared_lock = threading.Lock()
_shared: dict[str, _SharedFont] = {}


def _shared_font(path: str) -> _SharedFont:
    with _shared_lock:
        font = _shared.get(path)
        if font is None:
            font = _shared[path] = _SharedFont(path)
    return font


def _deflated(stream: PDFContentStream, data: bytes) -> PDFContentStream:
    stream._contents, stream.filter, stream.length = data, Name("FlateDecode"), len(data)
    return stream


class _Producer(OutputProducer):
    """fpdf2's output, with shared fonts embedded from their cached subsets (same objects as fpdf2 writes)."""

    def _add_fonts(self):
        fonts = self.fpdf.fonts
        shared = sorted((f for f in fonts.values() if isinstance(f, _DocumentFont)), key=lambda f: f.i)
        self.fpdf.fonts = {key: f for key, f in fonts.items() if not isinstance(f, _DocumentFont)}
        try:
            objects = super()._add_fonts()
        finally:
            self.fpdf.fonts = fonts
        for font in shared:
            objects[font.i] = self._add_shared_font(font)
        return objects

    def _add_shared_font(self, font: _DocumentFont) -> PDFFont:
        if font.missing_glyphs:
            logger.warning("font %s has no glyphs for %s", font.name, "".join(map(chr, font.missing_glyphs[:20])))
        embedding = font.shared.embedding(font)
        fontname = f"MPDFAA+{font.name}"
        composite = PDFFont(subtype="Type0", base_font=fontname, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        cid_font = PDFFont(subtype="CIDFontType2", base_font=fontname, d_w=font.desc.missing_width, w=embedding.widths)
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])
        to_unicode = PDFContentStream(embedding.to_unicode)
        self._add_pdf_obj(to_unicode, "fonts")
        composite.to_unicode = to_unicode
        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info
        descriptor = copy.copy(font.desc)
        descriptor.font_name = Name(fontname)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor
        cid_to_gid = _deflated(PDFContentStream(b""), embedding.cid_to_gid)
        self._add_pdf_obj(cid_to_gid, "fonts")
        cid_font.c_i_d_to_g_i_d_map = cid_to_gid
        program = _deflated(PDFFontStream(b""), embedding.program)
        program.length1 = embedding.program_length
        self._add_pdf_obj(program, "fonts")
        descriptor.font_file2 = program
        # fpdf2 does the same after embedding: these caches hold the document's subset map.
        font.subset.pick.cache_clear()
        font.subset.get_glyph.cache_clear()
        return composite


class TextPdf(FPDF):
    """An A4 text document with the town in the header and "title · page n/N" in the footer.

    With ``unicode=True`` the text is set in the vendored DejaVu Sans (any script it covers);
    otherwise in the PDF core font Helvetica, which covers Latin-1 only (see `safe`).
    """

    def __init__(self, title: str, town: str, *, unicode: bool = True) -> None:
        super().__init__(format="A4")
        self.family = "Helvetica"
        regular, bold = _font_path("DejaVuSans.ttf"), _font_path("DejaVuSans-Bold.ttf")
        if unicode and regular and bold:
            self.fonts["body"] = _shared_font(regular).for_document(self, "body", "")
            # Bold text is mostly the template's own (titles, labels): its glyphs vary little without a base.
            self.fonts["bodyB"] = _shared_font(bold).for_document(self, "bodyB", "B", base=False)
            self.family = "Body"
        self.doc_title, self.town = self.safe(title), self.safe(town)
        self.set_auto_page_break(True, margin=18)
        self.set_title(self.doc_title)
        self.set_author(self.town)
        self.set_creator("Rathaus")
        self.set_lang("de-DE")
        self.alias_nb_pages()

    def header(self) -> None:
        self.set_font(self.family, "B", 10)
        self.cell(0, 6, self.town, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 8)
        self.cell(0, 6, f"{self.doc_title} · Seite {self.page_no()}/{{nb}}", align="C")

    def safe(self, text: str) -> str:
        """The text as the current font family can set it (core fonts: Latin-1, a few characters spelt out)."""
        if self.family == "Helvetica":
            return latin1(text)
        return str(text)

    def block(self, text: str, size: float = 11, style: str = "", height: float = 6) -> None:
        """A paragraph over the full width (like `multi_cell(0, …)`)."""
        self.set_font(self.family, style, size)
        self.lines(self.safe(text), height)

    def fact(self, label: str, value: str, *, size: float = 11, height: float = 7) -> None:
        """A bold label in a 50 mm column and its value beside it, wrapped within the rest of the line."""
        self.set_font(self.family, "B", size)
        self.cell(50, height, self.safe(label))
        self.set_font(self.family, "", size)
        self.lines(self.safe(value), height)

    def lines(self, text: str, height: float) -> None:
        """Draw `text` from the current position to the right margin, wrapped at spaces, then go to the next line."""
        x = self.x
        for line in self.wrap(text, self.w - self.r_margin - x - 2 * self.c_margin):
            self.x = x
            self.cell(0, height, line, new_x="LMARGIN", new_y="NEXT")

    def wrap(self, text: str, width: float) -> list[str]:
        """Greedy word wrap by the current font's widths; a word wider than the line is split."""
        font, size, k = self.current_font, self.font_size_pt, self.k

        def measure(piece: str) -> float:
            return float(font.get_text_width(piece, size, None)[1]) / k

        space = measure(" ")
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line, line_width = "", 0.0
            for word in paragraph.split(" "):
                word_width = measure(word)
                if line and line_width + space + word_width <= width:
                    line, line_width = f"{line} {word}", line_width + space + word_width
                    continue
                if line:
                    lines.append(line)
                if word_width > width:  # one pass over the characters, so long input stays linear
                    piece, piece_width = "", 0.0
                    for char in word:
                        char_width = measure(char)
                        if piece and piece_width + char_width > width:
                            lines.append(piece)
                            piece, piece_width = "", 0.0
                        piece, piece_width = piece + char, piece_width + char_width
                    word, word_width = piece, piece_width
                line, line_width = word, word_width
            lines.append(line)
        return lines

    def output(self, *args, output_producer_class=_Producer, **kwargs):
        # fpdf2's own producer subsets a font's parsed tables in place: on the fonts shared between
        # documents that would strip glyphs from every later document of the process.
        return super().output(*args, output_producer_class=output_producer_class, **kwargs)

    def render(self) -> bytes:
        """The finished document."""
        return bytes(self.output())


_LATIN1 = str.maketrans({"€": "EUR", "„": '"', "“": '"', "”": '"', "‚": "'", "‘": "'", "’": "'", "–": "-", "—": "-",
                         "…": "...", "•": "-"})


def latin1(text: str) -> str:
    """Text for the PDF core fonts: Latin-1, typographic characters spelt out, anything else '?'."""
    return str(text).translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def receipt_pdf(application: Application) -> bytes:
    """Eingangsbestätigung: reference, date of receipt, service, channel and every submitted value.

    It states the receipt, not the current status: it is made when first fetched, which may be
    after the process has decided, and stays the same from then on.
    """
    spec = FormSpec.from_schema(application.form.schema)
    pdf = TextPdf(f"Eingangsbestätigung {application.reference}", application.municipality.name)
    pdf.add_page()
    pdf.block("Eingangsbestätigung", 16, "B", 8)
    submitted = timezone.localtime(application.submitted_at).strftime("%d.%m.%Y, %H:%M Uhr")
    facts = [
        ("Vorgangsnummer", application.reference),
        ("Leistung", application.service.name),
        ("Eingegangen am", submitted),
        ("Eingangskanal", str(application.get_channel_display())),
        ("Zuständig", application.service.office),
    ]
    for label, value in facts:
        pdf.fact(label, value)
    pdf.ln(3)
    representation = Representation.objects.filter(application=application).first()
    if representation is not None:
        pdf.block("Vertretung", 13, "B", 8)
        rows = [("Art der Vertretung", str(representation.get_kind_display())),
                ("Gestellt von", representation.representative_name or "–"), ("Für", representation.principal_name)]
        if representation.principal_birth_date:
            rows.append(("Geburtsdatum", representation.principal_birth_date.strftime("%d.%m.%Y")))
        if representation.principal_register_number:
            rows.append(("Registernummer", representation.principal_register_number))
        if representation.principal_address:
            rows.append(("Anschrift", representation.principal_address))
        for label, value in rows:
            pdf.fact(label, value)
        pdf.ln(3)
    for step_title, rows in spec.summary(application.data):
        pdf.block(step_title, 13, "B", 8)
        for label, value in rows:
            pdf.block(label, 10, "B", 6)
            pdf.block(value or "–", 10, "", 6)
        pdf.ln(2)
    pdf.block("Diese Bestätigung wurde automatisch erstellt und ist ohne Unterschrift gültig. "
              "Den Stand Ihres Antrags sehen Sie mit dem Link aus Ihrer Bestätigungsseite.", 9, "", 5)
    return pdf.render()
