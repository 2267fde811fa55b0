"""PDF documents for citizens: the receipt with a summary of everything submitted."""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders
from django.utils import timezone
from fpdf import FPDF

from rathaus_domain.forms.model import FormSpec

from .models import Application


def _font_path(name: str) -> str | None:
    found = finders.find(f"vendor/fonts/{name}")
    return str(found) if found and Path(found).exists() else None


class _Pdf(FPDF):
    def __init__(self, title: str, town: str) -> None:
        super().__init__(format="A4")
        self.doc_title, self.town = title, town
        regular, bold = _font_path("DejaVuSans.ttf"), _font_path("DejaVuSans-Bold.ttf")
        if regular and bold:
            self.add_font("Body", "", regular)
            self.add_font("Body", "B", bold)
            self.family = "Body"
        else:  # pragma: no cover - the font is vendored; core fonts only cover Latin-1
            self.family = "Helvetica"
        self.set_auto_page_break(True, margin=18)
        self.set_title(title)
        self.set_author(town)
        self.set_creator("Rathaus")
        self.set_lang("de-DE")

    def header(self) -> None:
        self.set_font(self.family, "B", 10)
        self.cell(0, 6, self.town, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 8)
        self.cell(0, 6, f"{self.doc_title} · Seite {self.page_no()}/{{nb}}", align="C")

    def safe(self, text: str) -> str:
        if self.family == "Helvetica":
            return text.encode("latin-1", "replace").decode("latin-1")
        return text


def receipt_pdf(application: Application) -> bytes:
    """Eingangsbestätigung: reference, date, service, status and every submitted value."""
    spec = FormSpec.from_schema(application.form.schema)
    pdf = _Pdf(f"Eingangsbestätigung {application.reference}", application.municipality.name)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 16)
    pdf.multi_cell(0, 8, pdf.safe("Eingangsbestätigung"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 11)
    submitted = timezone.localtime(application.submitted_at).strftime("%d.%m.%Y, %H:%M Uhr")
    facts = [
        ("Vorgangsnummer", application.reference),
        ("Leistung", application.service.name),
        ("Eingegangen am", submitted),
        ("Eingangskanal", str(application.get_channel_display())),
        ("Status", str(application.get_status_display())),
        ("Zuständig", application.service.office),
    ]
    for label, value in facts:
        pdf.set_font(pdf.family, "B", 11)
        pdf.cell(50, 7, pdf.safe(label))
        pdf.set_font(pdf.family, "", 11)
        pdf.multi_cell(0, 7, pdf.safe(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for step_title, rows in spec.summary(application.data):
        pdf.set_font(pdf.family, "B", 13)
        pdf.multi_cell(0, 8, pdf.safe(step_title), new_x="LMARGIN", new_y="NEXT")
        for label, value in rows:
            pdf.set_font(pdf.family, "B", 10)
            pdf.multi_cell(0, 6, pdf.safe(label), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(pdf.family, "", 10)
            pdf.multi_cell(0, 6, pdf.safe(value or "–"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.set_font(pdf.family, "", 9)
    pdf.multi_cell(0, 5, pdf.safe("Diese Bestätigung wurde automatisch erstellt und ist ohne Unterschrift gültig. "
                                  "Den Stand Ihres Antrags sehen Sie mit dem Link aus Ihrer Bestätigungsseite."),
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
