"""CSV downloads that a spreadsheet cannot turn into formulas (CSV injection).

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets: a document titled ``=HYPERLINK("https://…")``
would become a live link (or worse, a DDE call) in whoever opens the audit export. Following
OWASP's CSV injection guidance, such a cell gets a leading single quote (the spreadsheet shows the
text, the quote marks it as text) and every cell is quoted. Every CSV the portal writes goes
through :func:`csv_dict_writer` (tests/tenants/test_csv_export.py refuses ``csv.writer`` elsewhere).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeDictWriter(csv.DictWriter):  # type: ignore[type-arg]
    """csv.DictWriter that neutralises formula-looking cells and quotes every cell."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({k: csv_safe_cell(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for row in rowdicts:
            self.writerow(row)


def csv_dict_writer(buf: TextIO, fieldnames: list[str] | tuple[str, ...]) -> SafeDictWriter:
    return SafeDictWriter(buf, fieldnames=list(fieldnames), quoting=csv.QUOTE_ALL)
