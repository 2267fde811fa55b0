"""CSV for spreadsheets: every export writes through here, so no cell can run as a formula.

A spreadsheet program treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some
programs, a leading tab or carriage return) as a formula, so a citizen who calls herself
``=HYPERLINK("http://evil.example";"Klick")`` would put a live link or worse into a clerk's
spreadsheet (CSV injection, OWASP). A leading single quote makes the program show the text as
it is. Numbers are not text and stay as they are: only strings are changed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def local_time(value: datetime | None) -> str:
    """A point in time for a staff export: German time with its offset, to the second ("" if none).

    Staff open these lists in a spreadsheet and read the date; UTC would put what happened
    before 1 or 2 a.m. on the previous day.
    """
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def csv_cell(value: Any) -> Any:
    """The value made safe for a spreadsheet cell: text that could start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeDictWriter(csv.DictWriter):
    """`csv.DictWriter` whose every cell passes through :func:`csv_cell` (header included)."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({key: csv_cell(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        # csv.DictWriter.writerows does not go through writerow, so each row is passed on here.
        for rowdict in rowdicts:
            self.writerow(rowdict)


def csv_response(rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str], filename: str, *,
                 bom: bool = True) -> HttpResponse:
    """A CSV download; the BOM lets spreadsheet programs on Windows read UTF-8 umlauts correctly."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    if bom:
        response.write("\ufeff")
    writer = SafeDictWriter(response, fieldnames=list(fieldnames), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_response(document: Any, filename: str) -> HttpResponse:
    """A JSON download (readable indentation, dates as text)."""
    response = HttpResponse(json.dumps(document, ensure_ascii=False, indent=2, default=str),
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def list_download(request, filename: str, rows: Callable[[], list[dict[str, Any]]],
                  empty_header: str) -> HttpResponse | None:
    """The page's list as a download when a GET asks for it (``?export=csv|json``), else None (show the page).

    `rows` is called only for a download; give it the page's own query, so the file holds what
    the page lists, with its filters and permissions.
    """
    fmt = request.GET.get("export")
    if request.method != "GET" or fmt not in ("csv", "json"):
        return None
    return list_export(rows(), fmt, filename, empty_header)


def list_export(rows: list[dict[str, Any]], fmt: str, filename: str, empty_header: str) -> HttpResponse:
    """A staff list as `fmt` ("csv" or "json"); the columns are the rows' keys. The CSV starts with a
    BOM, as every CSV download here: staff open these lists in Excel, which needs it for umlauts."""
    if fmt == "json":
        return json_response(rows, f"{filename}.json")
    return csv_response(rows, list(rows[0]) if rows else [empty_header], f"{filename}.csv")
