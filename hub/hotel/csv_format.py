"""Reading a messy CSV export (pure): UTF-8 with or without BOM, comma or semicolon, ``NULL``
and empty cells as missing, and the file's date format detected from its values.

Date formats: ``iso`` (YYYY-MM-DD), ``mdy`` (M/D/YYYY) and ``dmy`` (D/M/YYYY). A file whose
slashed dates all have day and month up to 12 cannot tell M/D from D/M: it is ambiguous and the
caller names the format (``--date-format`` / ``date_format``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Literal

DateFormat = Literal["iso", "mdy", "dmy"]
DATE_FORMATS: tuple[str, ...] = ("iso", "mdy", "dmy")
MISSING = frozenset({"", "NULL", "null"})
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASHED = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
MAX_FIELD = 10_000


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (encoding, header, date format)."""


@dataclass(frozen=True, slots=True)
class CsvTable:
    delimiter: str
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)


def decode(data: bytes) -> str:
    """UTF-8 text without its BOM; 422-worthy error naming the byte offset otherwise."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CsvFormatError(
            f"the file is not UTF-8 (byte {err.start}): export it as UTF-8"
        ) from None
    if "\x00" in text:
        raise CsvFormatError("the file contains NUL characters: it is not a text CSV")
    return text


def sniff_delimiter(header_line: str) -> str:
    """``;`` when the header has more semicolons than commas, else ``,``."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


def read_table(text: str) -> CsvTable:
    """The header (trimmed) and the data rows with their line numbers; blank lines skipped."""
    first = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first)
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise CsvFormatError("the file is empty: it needs a header line") from None
    except csv.Error as err:
        raise CsvFormatError(f"line 1: {err}") from None
    if not any(header):
        raise CsvFormatError("line 1: the header names no columns")
    duplicates = sorted({name for name in header if header.count(name) > 1 and name})
    if duplicates:
        raise CsvFormatError(f"line 1: duplicate columns {', '.join(duplicates)}")
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            rows.append((reader.line_num, cells))
    except csv.Error as err:
        raise CsvFormatError(f"line {reader.line_num}: {err}") from None
    return CsvTable(delimiter, header, rows)


def cell(value: str | None) -> str | None:
    """A cell's value, ``None`` when missing (empty or NULL)."""
    if value is None:
        return None
    value = value.strip()
    return None if value in MISSING else value


def _slashed_parts(values: Iterable[str]) -> Iterator[tuple[int, int]]:
    for value in values:
        match = _SLASHED.match(value)
        if match:
            yield int(match.group(1)), int(match.group(2))


def detect_date_format(values: Iterable[str], given: str | None = None) -> DateFormat:
    """The file's date format from its (non-missing) date cells, or ``given`` when named.
    Raises :class:`CsvFormatError` when the values mix formats or cannot tell M/D from D/M."""
    if given is not None:
        if given not in DATE_FORMATS:
            raise CsvFormatError(f"date_format: one of {', '.join(DATE_FORMATS)}")
        return given  # type: ignore[return-value]
    values = [v for v in values if v]
    iso = sum(1 for v in values if _ISO.match(v))
    slashed = list(_slashed_parts(values))
    if iso and slashed:
        raise CsvFormatError("the file mixes YYYY-MM-DD and slashed dates: use one format")
    if not slashed:
        return "iso"
    first_over = any(a > 12 for a, _b in slashed)
    second_over = any(b > 12 for _a, b in slashed)
    if first_over and second_over:
        raise CsvFormatError("slashed dates are neither all M/D/YYYY nor all D/M/YYYY")
    if first_over:
        return "dmy"
    if second_over:
        return "mdy"
    raise CsvFormatError(
        "the dates are ambiguous (every day and month is 12 or less): name the format with "
        "--date-format / date_format = mdy or dmy"
    )


def parse_date(value: str, fmt: DateFormat) -> date:
    """One date cell in the file's format; ValueError with the reason otherwise."""
    if fmt == "iso":
        match = _ISO.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a YYYY-MM-DD date")
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _SLASHED.match(value)
        if not match:
            shape = "M/D/YYYY" if fmt == "mdy" else "D/M/YYYY"
            raise ValueError(f"{value!r} is not a {shape} date")
        a, b, year = (int(g) for g in match.groups())
        month, day = (a, b) if fmt == "mdy" else (b, a)
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar date") from None


def write_rejected(header: list[str], rejected: list[tuple[int, list[str], str]]) -> str:
    """The rejected rows as CSV: ``line``, ``reason``, then the row's own cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["line", "reason", *header])
    for line, cells, reason in rejected:
        writer.writerow([line, reason, *cells])
    return out.getvalue()
