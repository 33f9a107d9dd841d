"""The date of a receipt from its OCR rows (pure): every date form found on real slips
(``25/12/2018``, ``05-03-18``, ``05 MAR 2018``, ``05-JAN-2017``, ``2018/02/22``, ``Nov 3, 2026``,
``ngày 15 tháng 11 năm 2026``), day/month order decided per page (a first number above 12 means
D/M/Y, a second one above 12 means M/D/Y; else the locale's order), dates in the future or
before 2000 refused, and a confidence that drops when the order was guessed, the date was not
labelled, or the page holds other dates that disagree."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from hub.vision.ocr_text import Row, fold

EARLIEST = date(2000, 1, 1)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_SEP = r"\s?[/.\-]\s?"
# the year may run into the time with no space (``05-03-201819:02:50``: OCR dropped it)
_NUMERIC = re.compile(
    rf"(?<![\d/.\-])(\d{{1,2}}){_SEP}(\d{{1,2}}){_SEP}"
    r"(\d{4}(?=\d{1,2}:\d\d)|\d{4}(?![\d/])|\d{2}(?![\d/]))"
)
_ISO = re.compile(rf"(?<![\d/.\-])(\d{{4}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})(?!\d)")
_D_MON_Y = re.compile(
    r"(?<!\d)(\d{1,2})\s?[\-/.\s]?\s?([a-z]{3,9})\.?,?\s?[\-/.\s]?\s?(\d{4}|\d{2})(?!\d)"
)
_MON_D_Y = re.compile(r"\b([a-z]{3,9})\.?\s(\d{1,2}),?\s(\d{4})(?!\d)")
_VI_LONG = re.compile(r"ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")
_DATE_LABEL = re.compile(r"\b(date|dated|ngay|tarikh|invoice date|issue date)\b")
_PRINT_LABEL = re.compile(r"\b(print|printed|expiry|exp|valid|due)\b")

AMBIGUOUS = 0.85  # day/month order taken from the locale
UNLABELLED = 0.9  # no "date" label on the row
DISAGREE = 0.7  # another date on the page differs


@dataclass(frozen=True)
class DateHit:
    value: date
    start: int
    ambiguous: bool  # D/M order not decided by the numbers themselves


@dataclass(frozen=True)
class DatePick:
    value: date
    confidence: float
    row_index: int


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if len(text) == 2 else year


def _make(year: int, month: int, day: int, today: date | None) -> date | None:
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    if found < EARLIEST or (today is not None and found > today):
        return None
    return found


def parse_receipt_dates(
    text: str, *, prefer_dmy: bool = True, today: date | None = None
) -> list[DateHit]:
    """Every date in ``text``, left to right. ``prefer_dmy``: the order of an ambiguous
    ``05/03/2018``; ``today``: later dates are refused (a misread year)."""
    folded = fold(text).lower()
    hits: list[DateHit] = []
    taken: list[tuple[int, int]] = []

    def add(match: re.Match[str], found: date | None, *, ambiguous: bool = False) -> None:
        span = match.span()
        if found is None or any(span[0] < end and start < span[1] for start, end in taken):
            return
        taken.append(span)
        hits.append(DateHit(found, span[0], ambiguous))

    for match in _VI_LONG.finditer(folded):
        add(match, _make(int(match[3]), int(match[2]), int(match[1]), today))
    for match in _ISO.finditer(folded):
        add(match, _make(int(match[1]), int(match[2]), int(match[3]), today))
    for match in _NUMERIC.finditer(folded):
        first, second, year = int(match[1]), int(match[2]), _year(match[3])
        if first > 12 >= second:
            add(match, _make(year, second, first, today))
        elif second > 12 >= first:
            add(match, _make(year, first, second, today))
        else:
            dmy = _make(year, second, first, today)
            mdy = _make(year, first, second, today)
            preferred, other = (dmy, mdy) if prefer_dmy else (mdy, dmy)
            add(match, preferred or other, ambiguous=first != second)
    for match in _D_MON_Y.finditer(folded):
        month = _MONTHS.get(match[2])
        if month:
            add(match, _make(_year(match[3]), month, int(match[1]), today))
    for match in _MON_D_Y.finditer(folded):
        month = _MONTHS.get(match[1])
        if month:
            add(match, _make(int(match[3]), month, int(match[2]), today))
    return sorted(hits, key=lambda hit: hit.start)


def page_prefers_dmy(texts: Sequence[str], currency: str | None) -> bool:
    """D/M/Y unless the page's own unambiguous dates say M/D/Y, or it is a US-dollar slip
    with no evidence either way. Only numbers that can be a day and a month vote: amounts
    such as ``2.45 .15`` look like dates to the pattern but are none."""
    votes = 0
    for text in texts:
        for match in _NUMERIC.finditer(fold(text).lower()):
            first, second = int(match[1]), int(match[2])
            if max(first, second) > 31 or min(first, second) == 0:
                continue  # no date: amounts (``2.45 .15``), codes
            if first > 12 >= second:
                votes += 1
            elif second > 12 >= first:
                votes -= 1
    if votes:
        return votes > 0
    return currency != "USD"


def pick_date(
    rows: Sequence[Row], *, currency: str | None = None, today: date | None = None
) -> DatePick | None:
    """The receipt's date: the first date on a row labelled "date" (not "print date"), else
    the first date on the page; its confidence from the row's OCR confidence, scaled down
    when guessed (see the module doc)."""
    texts = [row.text for row in rows]
    prefer_dmy = page_prefers_dmy(texts, currency)
    found: list[tuple[int, DateHit, bool]] = []
    for index, row in enumerate(rows):
        folded = fold(row.text).lower()
        labelled = bool(_DATE_LABEL.search(folded)) and not _PRINT_LABEL.search(folded)
        for hit in parse_receipt_dates(row.text, prefer_dmy=prefer_dmy, today=today):
            found.append((index, hit, labelled))
    if not found:
        return None
    labelled_hits = [item for item in found if item[2]]
    index, hit, labelled = (labelled_hits or found)[0]
    confidence = rows[index].confidence
    if hit.ambiguous:
        confidence *= AMBIGUOUS
    if not labelled:
        confidence *= UNLABELLED
    if any(other.value != hit.value for _, other, _ in found):
        confidence *= DISAGREE
    return DatePick(hit.value, round(max(0.0, min(1.0, confidence)), 3), index)
