"""Pure helpers shared by the OCR parsers: rows of text segments, accent folding, label
search, dates and money amounts in Vietnamese and English formats."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from models.ocr import OcrLine, TextBox


@dataclass(frozen=True, slots=True)
class Row:
    """Segments on one visual line, left to right."""

    cells: tuple[OcrLine, ...]

    @property
    def text(self) -> str:
        return " ".join(cell.text for cell in self.cells)

    @property
    def confidence(self) -> float:
        return min(cell.confidence for cell in self.cells)

    @property
    def box(self) -> TextBox:
        return TextBox(
            min(c.box.x0 for c in self.cells),
            min(c.box.y0 for c in self.cells),
            max(c.box.x1 for c in self.cells),
            max(c.box.y1 for c in self.cells),
        )


def group_rows(lines: Sequence[OcrLine]) -> list[Row]:
    """Segments whose vertical centres fall inside each other's extent form one row."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: item.box.cy):
        if rows:
            last = rows[-1]
            top = sum(c.box.y0 for c in last) / len(last)
            bottom = sum(c.box.y1 for c in last) / len(last)
            centre = (top + bottom) / 2
            half = max(2.0, (bottom - top) / 2)
            if abs(line.box.cy - centre) <= max(half, line.box.height / 2) * 0.7:
                last.append(line)
                continue
        rows.append([line])
    return [Row(tuple(sorted(row, key=lambda c: c.box.x0))) for row in rows]


# ---------------------------------------------------------------------------------------------
# Accent folding (one output character per input character, so indexes stay aligned)
# ---------------------------------------------------------------------------------------------

_SPECIAL_FOLD = {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L"}


def _fold_char(char: str) -> str:
    special = _SPECIAL_FOLD.get(char)
    if special is not None:
        return special
    base = unicodedata.normalize("NFD", char)[0]
    return base if len(base) == 1 else char


def fold(text: str) -> str:
    """``'Tổng cộng'`` -> ``'tong cong'``: lower case without diacritics, same length."""
    normalised = unicodedata.normalize("NFC", text)
    return "".join(_fold_char(char) for char in normalised).lower()


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


_VIETNAMESE_MARKED = set(
    "ăâđêôơưĂÂĐÊÔƠƯ"
    "áàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    "ÁÀẢÃẠẮẰẲẴẶẤẦẨẪẬÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ"
)


def vietnamese_marks(text: str) -> int:
    """How many characters carry Vietnamese letters or tone marks."""
    return sum(1 for char in nfc(text) if char in _VIETNAMESE_MARKED)


# Marked letters Vietnamese shares with French, Spanish, Portuguese, Hungarian, Czech, Icelandic...
_SHARED_MARKED = set("áàâãéèêíìóòôõúùýÁÀÂÃÉÈÊÍÌÓÒÔÕÚÙÝ")
# ...and those only Vietnamese writes (ă đ ơ ư, dot below, hook above, stacked tones, ĩ ũ ỹ)
_VIETNAMESE_ONLY = _VIETNAMESE_MARKED - _SHARED_MARKED
# One Vietnamese syllable once folded: onset, one to three vowels, coda. "Prénoms", "MÁR",
# "délivrance" cannot be one; "ngày", "thành", "hòa" are.
_VIETNAMESE_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}(?:ng|nh|ch|[cmnpt])?"
)
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class MarkEvidence:
    """Marked letters on a page, sorted by what they say about its language."""

    vietnamese: int  # Vietnamese-only letters, and shared ones in words shaped like a syllable
    other: int  # shared marked letters in words no Vietnamese syllable can be


def mark_evidence(texts: Sequence[str]) -> MarkEvidence:
    """Count the marked letters of ``texts`` for and against Vietnamese. ``é`` in
    ``Nationalité`` or ``Á`` in ``MÁR`` speaks against it (French, Hungarian); ``à`` in
    ``Thành`` or ``ơ`` anywhere speaks for it."""
    vietnamese = other = 0
    for text in texts:
        for word in _WORD.findall(nfc(text)):
            only = sum(1 for char in word if char in _VIETNAMESE_ONLY)
            shared = sum(1 for char in word if char in _SHARED_MARKED)
            vietnamese += only
            if _VIETNAMESE_SYLLABLE.fullmatch(fold(word)):
                vietnamese += shared
            else:
                other += shared
    return MarkEvidence(vietnamese, other)


def looks_vietnamese(texts: Sequence[str], *, min_marks: int = 3) -> bool:
    """At least ``min_marks`` marked letters speak for Vietnamese, and more of them than
    against it (a French or Hungarian page's accents alone never make it Vietnamese)."""
    evidence = mark_evidence(texts)
    return evidence.vietnamese >= min_marks and evidence.vietnamese > evidence.other


def alnum_skeleton(text: str) -> str:
    """Folded letters and digits only: what two engines should agree on."""
    return "".join(char for char in fold(text) if char.isalnum())


def is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(char in it for char in short)


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelHit:
    name: str
    start: int
    end: int  # index after the label and any ':' that follows it


def find_labels(text: str, labels: Mapping[str, Sequence[str]]) -> list[LabelHit]:
    """Occurrences of the labels (folded, whole words) in ``text``, in order, not overlapping.

    ``labels`` maps a field name to its spellings (folded, e.g. ``"ngay sinh"``); the
    bilingual form ``"ngay sinh / date of birth"`` is matched as one label when present."""
    folded = fold(text)
    hits: list[LabelHit] = []
    for name, spellings in labels.items():
        for spelling in sorted(spellings, key=len, reverse=True):
            pattern = (
                r"(?<![a-z0-9])" + re.escape(spelling).replace(r"\ ", r"\s*") + r"(?![a-z0-9])"
            )
            for match in re.finditer(pattern, folded):
                end = match.end()
                tail = re.match(r"\s*[:.]?\s*", folded[end:])
                end += tail.end() if tail else 0
                hits.append(LabelHit(name, match.start(), end))
    hits.sort(key=lambda hit: (hit.start, -(hit.end - hit.start)))
    chosen: list[LabelHit] = []
    for hit in hits:
        if chosen and hit.start < chosen[-1].end:
            continue
        chosen.append(hit)
    return chosen


MIN_VALUE_CHARS = 2


def label_values(text: str, labels: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``{field: value}`` for each label in the line: the text up to the next label."""
    hits = find_labels(text, labels)
    values: dict[str, str] = {}
    for index, hit in enumerate(hits):
        end = hits[index + 1].start if index + 1 < len(hits) else len(text)
        value = clean_value(text[hit.end : end])
        if sum(char.isalnum() for char in value) < MIN_VALUE_CHARS:
            value = ""  # a stray mark between two labels, not a value
        if not values.get(hit.name):
            values[hit.name] = value
    return values


def clean_value(value: str) -> str:
    """Strip separators OCR leaves around values (``/``, ``|``, ``_``, ``:``)."""
    return value.strip().strip("/|_:;,-\u2013\u2014").strip()


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_DMY = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?!\d)")
_D_MON_Y = re.compile(r"(?<!\d)(\d{1,2})\s+([a-z]{3})[a-z]*\.?,?\s+(\d{4})(?!\d)")
_MON_D_Y = re.compile(r"\b([a-z]{3})[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4})(?!\d)")
_VI_LONG = re.compile(r"ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """The first date in ``text``: dd/mm/yyyy (Vietnamese order), yyyy-mm-dd,
    ``3 Nov 2026``, ``Nov 3, 2026``, ``ngày 15 tháng 11 năm 2026``."""
    folded = fold(text)
    candidates: list[tuple[int, date]] = []
    for match in _VI_LONG.finditer(folded):
        found = _make_date(int(match[3]), int(match[2]), int(match[1]))
        if found:
            candidates.append((match.start(), found))
    for match in _YMD.finditer(folded):
        found = _make_date(int(match[1]), int(match[2]), int(match[3]))
        if found:
            candidates.append((match.start(), found))
    for match in _DMY.finditer(folded):
        found = _make_date(int(match[3]), int(match[2]), int(match[1]))
        if found:
            candidates.append((match.start(), found))
    for match in _D_MON_Y.finditer(folded):
        month = _MONTHS.get(match[2])
        found = _make_date(int(match[3]), month, int(match[1])) if month else None
        if found:
            candidates.append((match.start(), found))
    for match in _MON_D_Y.finditer(folded):
        month = _MONTHS.get(match[1])
        found = _make_date(int(match[3]), month, int(match[2])) if month else None
        if found:
            candidates.append((match.start(), found))
    if not candidates:
        return None
    return min(candidates, key=lambda item: item[0])[1]


# ---------------------------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------------------------

_CURRENCY_MARKERS: tuple[tuple[str, str], ...] = (
    ("₫", "VND"),
    ("vnd", "VND"),
    ("vnđ", "VND"),
    ("dong", "VND"),
    ("usd", "USD"),
    ("us$", "USD"),
    ("$", "USD"),
    ("eur", "EUR"),
    ("€", "EUR"),
)
_AMOUNT = re.compile(
    r"(?<![\w.,])(?:\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?![\d.,]?\d)"
)
_VND_SUFFIX = re.compile(r"\d\s*[đ₫](?!\w)", re.IGNORECASE)


def detect_currency(texts: Sequence[str]) -> str | None:
    """The currency a document names: a symbol or code (₫, đ after a number, VND; $, USD; €)."""
    votes: dict[str, int] = {}
    for text in texts:
        lowered = nfc(text).lower()
        for marker, code in _CURRENCY_MARKERS:
            if marker in lowered:
                votes[code] = votes.get(code, 0) + 1
        if _VND_SUFFIX.search(lowered):
            votes["VND"] = votes.get("VND", 0) + 1
    if not votes:
        return None
    return max(votes.items(), key=lambda item: item[1])[0]


def parse_amount(text: str, currency: str | None = None) -> Decimal | None:
    """``'1.250.000 ₫'`` -> 1250000, ``'1,250.00'`` -> 1250.00, ``'12,50'`` -> 12.50.

    A lone separator followed by three digits (``'1.250'``) is a thousands separator for VND
    (and when the currency is unknown) and a decimal point otherwise."""
    candidate = nfc(text).strip()
    candidate = re.sub(r"(?i)(vnđ|vnd|usd|us\$|eur|[₫$€]|(?<=\d)\s*[đd]\b)", " ", candidate)
    candidate = candidate.strip().rstrip(".,:;").strip()
    if not re.fullmatch(r"-?\d[\d.,\s]*", candidate):
        return None
    negative = candidate.startswith("-")
    digits = candidate.lstrip("-").replace(" ", "")
    dots, commas = digits.count("."), digits.count(",")
    if dots and commas:
        decimal_sep = "." if digits.rfind(".") > digits.rfind(",") else ","
        thousands = "," if decimal_sep == "." else "."
        integer, _, fraction = digits.rpartition(decimal_sep)
        integer = integer.replace(thousands, "")
        number = f"{integer}.{fraction}"
    elif dots or commas:
        sep = "." if dots else ","
        parts = digits.split(sep)
        if len(parts) > 2:
            if not all(len(part) == 3 for part in parts[1:]):
                return None
            number = "".join(parts)
        elif len(parts[1]) == 3 and (currency in (None, "VND") or sep == ","):
            number = "".join(parts)
        elif len(parts[1]) in (1, 2) or (len(parts[1]) == 3 and currency not in (None, "VND")):
            number = f"{parts[0]}.{parts[1]}"
        else:
            return None
    else:
        number = digits
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    return -value if negative else value


def amounts_in(text: str, currency: str | None = None) -> list[tuple[int, int, Decimal]]:
    """``(start, end, value)`` of each number in ``text``, left to right."""
    found = []
    for match in _AMOUNT.finditer(nfc(text)):
        value = parse_amount(match.group(0), currency)
        if value is not None:
            found.append((match.start(), match.end(), value))
    return found
