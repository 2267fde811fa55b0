"""Decision letters (Bescheide) as PDF.

Set in the PDF core font Helvetica: nothing to embed, so a letter stays about 2 KB in the case
file instead of the 25-35 KB an embedded DejaVu subset adds. The core font covers Latin-1
(German umlauts and ß); other characters are spelt out or replaced (`TextPdf.safe`).
"""

from __future__ import annotations

from rathaus.applications.pdf import TextPdf


def decision_letter_pdf(*, title: str, town: str, facts: list[tuple[str, str]], body: str, amount_line: str = "") -> bytes:
    """A one-page decision letter: title, facts (reference, service, date, recipient), text, legal remedy."""
    pdf = TextPdf(title, town, unicode=False)
    pdf.add_page()
    pdf.block(title, 16, "B", 8)
    for label, value in facts:
        pdf.fact(label, value)
    pdf.ln(4)
    pdf.block(body)
    if amount_line:
        pdf.ln(2)
        pdf.block(amount_line)
    pdf.ln(4)
    pdf.block("Dieser Bescheid wurde automatisch erstellt und ist ohne Unterschrift gültig. Rechtsbehelfsbelehrung: "
              "Gegen diesen Bescheid kann innerhalb eines Monats nach Bekanntgabe Widerspruch erhoben werden.", 9, "", 5)
    return pdf.render()
