import io
import time

from pypdf import PdfReader

from rathaus.applications.pdf import TextPdf, _font_path, _shared_font
from rathaus.processes.pdf import decision_letter_pdf


def _text(raw: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(raw)).pages)


def _document(name: str, body: str = "") -> bytes:
    pdf = TextPdf("Eingangsbestätigung MUS-2026-000001", "Musterstadt")
    pdf.add_page()
    pdf.block("Eingangsbestätigung", 16, "B", 8)
    pdf.fact("Name", name)
    pdf.block(body or "Ihr Antrag ist eingegangen.", 10)
    return pdf.render()


def test_a_word_longer_than_the_line_is_split_and_long_text_stays_fast():
    word = "Donaudampfschifffahrtsgesellschaft" * 60
    start = time.perf_counter()
    raw = _document("Erika Musterfrau", body=word)
    assert time.perf_counter() - start < 5
    assert word in _text(raw).replace("\n", "")


def test_text_in_the_usual_scripts_embeds_the_same_subset_every_time():
    regular = _shared_font(_font_path("DejaVuSans.ttf"))
    first = _document("Erika Musterfrau")
    entries = len(regular._subsets)
    second = _document("Jürgen Weiß-Öztürk, 12345")
    assert len(regular._subsets) == entries
    assert "Jürgen Weiß-Öztürk, 12345" in _text(second) and "Erika Musterfrau" in _text(first)


def test_other_scripts_get_their_own_subset_and_come_out_right():
    raw = _document("Łukasz Ελένη Жанна")
    assert "Łukasz Ελένη Жанна" in _text(raw)


def test_page_breaks_keep_every_line_and_number_the_pages():
    pdf = TextPdf("Bescheid", "Musterstadt")
    pdf.add_page()
    for number in range(80):
        pdf.block(f"Zeile {number}")
    text = _text(pdf.render())
    assert "Zeile 0" in text and "Zeile 79" in text and "Seite 2/2" in text


def test_decision_letter_in_the_core_font_spells_out_what_latin1_lacks():
    from rathaus.tenants.models import Municipality

    raw = decision_letter_pdf(title="Hundesteuerbescheid", municipality=Municipality(name="Musterstadt"),
                              body="Die Steuer beträgt 120 € – jährlich.",
                              facts=[("Empfänger/in", "Łukasz Müller")], amount_line="Betrag: 120 €")
    text = _text(raw)
    assert "Die Steuer beträgt 120 EUR - jährlich." in text
    assert "?ukasz Müller" in text
    assert len(raw) < 5000


def test_documents_written_with_fpdf2s_output_keep_every_glyph_for_the_next_document():
    # fpdf2's own producer subsets fonts in place; a document output that way once stripped the
    # shared font, and the next document with other letters failed (a participant list did).
    for text in ("aaa bbb", "Zirkus Kunterbunt: Zelte und Kanus"):
        pdf = TextPdf("Liste", "Musterstadt")
        pdf.add_page()
        pdf.block(text, 10, "B")  # bold: the font without a shared base repertoire
        assert text in _text(bytes(pdf.output()))
