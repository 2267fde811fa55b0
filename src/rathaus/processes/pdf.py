"""Decision letters (Bescheide) as PDF.

Uses the PDF core font instead of the vendored DejaVu TTF: parsing the TTF costs about 0.3 s per
document with fpdf2, which would dominate an automatic decision. The core font covers Latin-1
(German umlauts and ß); the few characters outside it are spelt out.
"""

from __future__ import annotations

from fpdf import FPDF

_REPLACE = str.maketrans({"€": "EUR", "„": '"', "“": '"', "”": '"', "‚": "'", "‘": "'", "’": "'", "–": "-", "—": "-",
                          "…": "...", "•": "-"})


def latin1(text: str) -> str:
    return str(text).translate(_REPLACE).encode("latin-1", "replace").decode("latin-1")


class LetterPdf(FPDF):
    def __init__(self, title: str, town: str) -> None:
        super().__init__(format="A4")
        self.doc_title, self.town = latin1(title), latin1(town)
        self.set_auto_page_break(True, margin=18)
        self.set_title(self.doc_title)
        self.set_author(self.town)
        self.set_creator("Rathaus")
        self.set_lang("de-DE")

    def header(self) -> None:
        self.set_font("Helvetica", "B", 10)
        self.cell(0, 6, self.town, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, f"{self.doc_title} - Seite {self.page_no()}/{{nb}}", align="C")

    def line_block(self, text: str, size: int = 11, style: str = "", height: float = 6) -> None:
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, height, latin1(text), new_x="LMARGIN", new_y="NEXT")

    def fact(self, label: str, value: str) -> None:
        self.set_font("Helvetica", "B", 11)
        self.cell(50, 7, latin1(label))
        self.set_font("Helvetica", "", 11)
        self.multi_cell(0, 7, latin1(value), new_x="LMARGIN", new_y="NEXT")


def decision_letter_pdf(*, title: str, town: str, facts: list[tuple[str, str]], body: str, amount_line: str = "") -> bytes:
    """A one-page decision letter: title, facts (reference, service, date, recipient), text, legal remedy."""
    pdf = LetterPdf(title, town)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.line_block(title, 16, "B", 8)
    for label, value in facts:
        pdf.fact(label, value)
    pdf.ln(4)
    pdf.line_block(body)
    if amount_line:
        pdf.ln(2)
        pdf.line_block(amount_line)
    pdf.ln(4)
    pdf.line_block("Dieser Bescheid wurde automatisch erstellt und ist ohne Unterschrift gültig. Rechtsbehelfsbelehrung: "
                   "Gegen diesen Bescheid kann innerhalb eines Monats nach Bekanntgabe Widerspruch erhoben werden.", 9, "", 5)
    return bytes(pdf.output())
