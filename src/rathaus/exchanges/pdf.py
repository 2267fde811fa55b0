"""Participant lists of holiday activities as PDF, on the same page layout as the receipts."""

from __future__ import annotations

from django.utils import timezone

from rathaus.applications.pdf import TextPdf

from .models import HolidayActivity


def participants_pdf(activity: HolidayActivity, placements) -> bytes:
    """A printable list for the provider: who comes, how to reach the family, what to look out for."""
    programme = activity.programme
    pdf = TextPdf(f"Teilnehmende {activity.title}", activity.municipality.name)
    pdf.add_page(orientation="L")
    pdf.set_font(pdf.family, "B", 15)
    pdf.multi_cell(0, 8, pdf.safe(f"Teilnehmende: {activity.title}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 10)
    when = f"{activity.start_date:%d.%m.%Y} – {activity.end_date:%d.%m.%Y}"
    if activity.start_time:
        when += f", {activity.start_time:%H:%M}" + (f"–{activity.end_time:%H:%M}" if activity.end_time else "") + " Uhr"
    lines = [f"{programme.name} · {when} · {activity.place_name}",
             f"Anbieter: {activity.provider.name} · Plätze: {len(placements)} von {activity.capacity} belegt",
             f"Stand: {timezone.localtime():%d.%m.%Y %H:%M}"]
    for line in lines:
        pdf.multi_cell(0, 6, pdf.safe(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    widths = (8, 52, 14, 58, 42, 103)
    headers = ("#", "Kind", "Alter", "Sorgeberechtigte Person (E-Mail)", "Notfall-Telefon", "Hinweise")
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=6, first_row_as_headings=True) as table:
        row = table.row()
        for header in headers:
            row.cell(pdf.safe(header))
        for index, placement in enumerate(placements, start=1):
            registration = placement.registration
            row = table.row()
            for value in (str(index), registration.child_name, str(registration.age_on(programme.starts_on)),
                          f"{registration.parent_name} ({registration.parent_email})" if registration.parent_id else "–",
                          registration.emergency_phone, registration.notes or "–"):
                row.cell(pdf.safe(value))
    pdf.ln(4)
    pdf.set_font(pdf.family, "", 8)
    pdf.multi_cell(0, 4, pdf.safe("Vertraulich: Diese Liste enthält personenbezogene Daten. Nur für die Durchführung der "
                                  "Aktivität verwenden und danach vernichten."), new_x="LMARGIN", new_y="NEXT")
    return pdf.render()
