"""CSV for spreadsheet apps: UTF-8 with a BOM, one header row, CRLF line ends, and no cell
that a spreadsheet would run as a formula.

A cell whose first character is ``= + - @`` or a tab/CR/LF is prefixed with a
single quote (OWASP "CSV injection"): spreadsheets then show it as text. The
quote is visible in the cell, which is the accepted price for safety.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
_FORMULA_STARTS = frozenset("=+-@\t\r\n")


def neutralise(cell: str) -> str:
    if cell and cell[0] in _FORMULA_STARTS:
        return "'" + cell
    return cell


class CsvBuffer:
    """Accumulates CSV lines; ``take`` hands out what was written so far (for streaming)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        # The csv module's default dialect ends lines with CRLF (RFC 4180).
        self._writer = csv.writer(self._buffer)

    def start(self, header: Sequence[str]) -> None:
        self._buffer.write(BOM)
        self.write(header)

    def write(self, cells: Iterable[str]) -> None:
        starts = _FORMULA_STARTS  # neutralise() inlined: this runs for every cell
        self._writer.writerow([("'" + c) if c and c[0] in starts else c for c in cells])

    def size(self) -> int:
        return self._buffer.tell()

    def take(self) -> bytes:
        data = self._buffer.getvalue().encode("utf-8")
        self._buffer.seek(0)
        self._buffer.truncate()
        return data
