"""Decision letters (Bescheide) as PDF.

Set in the PDF core font Helvetica: nothing to embed, so a letter stays about 2 KB in the case
file instead of the 25-35 KB an embedded DejaVu subset adds. The core font covers Latin-1
(German umlauts and ß); other characters are spelt out or replaced (`TextPdf.safe`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rathaus.applications.pdf import TextPdf

if TYPE_CHECKING:
    from rathaus.catalog.models import Service
    from rathaus.tenants.models import Municipality


class _LetterPdf(TextPdf):
    """A letter names its issuing authority with its postal address (§ 37 (3) VwVfG) under the town's name."""

    def __init__(self, title: str, town: str, *, address: str) -> None:
        super().__init__(title, town, unicode=False)
        self.address = self.safe(address)

    def header(self) -> None:
        self.set_font(self.family, "B", 10)
        self.cell(0, 6, self.town, new_x="LMARGIN", new_y="NEXT")
        if self.address and self.page_no() == 1:
            self.set_font(self.family, "", 9)
            self.lines(self.address, 4.5)
        self.ln(2)


def decision_letter_pdf(*, title: str, municipality: Municipality, facts: list[tuple[str, str]], body: str,
                        amount_line: str = "", service: Service | None = None) -> bytes:
    """A one-page decision letter: sender, title, facts (reference, service, date, recipient), text, legal remedy.

    The remedy instruction (`Municipality.remedy_instruction`) names the remedy, where to lodge it
    with the address, the time limit and the form: the service's own remedy if it has one, else the
    town's (also without `service`).
    """
    pdf = _LetterPdf(title, municipality.name, address=municipality.address.strip())
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
    pdf.block("Dieser Bescheid wurde automatisch erstellt und ist ohne Unterschrift gültig.", 9, "", 5)
    pdf.ln(2)
    pdf.block(municipality.remedy_instruction(service.remedy if service is not None else ""), 9, "", 5)
    return pdf.render()
