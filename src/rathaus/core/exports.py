"""CSV for spreadsheets: every export writes through here, so no cell can run as a formula.

A spreadsheet program treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some
programs, a leading tab or carriage return) as a formula, so a citizen who calls herself
``=HYPERLINK("http://evil.example";"Klick")`` would put a live link or worse into a clerk's
spreadsheet (CSV injection, OWASP). A leading single quote makes the program show the text as
it is. Numbers are not text and stay as they are: only strings are changed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
