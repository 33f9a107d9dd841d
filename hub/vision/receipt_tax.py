"""The tax a receipt charges (GST, SST, VAT, thuế GTGT), from its OCR rows (pure).

Two kinds of candidate: a row labelled with the tax (``GST 6% : 1.07``, ``TOTAL GST : 0.42``,
``GST @6% INCLUDED IN TOTAL RM 1.22``, ``Thuế GTGT (10%): 125.000``; not a total that merely
includes it, ``TOTAL INCL. GST 21.50``, nor a registration number or a taxable base), and the
tax column of a tax summary table (``SR = 6% | 20.19 | 1.21``: the rows summed, a ``TOTAL`` row
taking over). The arithmetic checks a candidate: base x rate = tax on its own row or the page,
base + tax = a total on the page, total x rate / (100 + rate) = tax for a tax-inclusive total.
The confidence grows with the checks passed and with the two kinds agreeing; a lone unchecked
candidate stays under ``FLAG_BELOW``, for a human to confirm."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from hub.vision.ocr_text import Row, fold
from hub.vision.receipt_total import signed_amounts

_TAX_WORD = re.compile(r"(?<![a-z])(gst|sst|vat|tax|thue\s*gtgt|tien\s*thue|thue)(?![a-z])")
_NOT_TAX = re.compile(
    r"(?<![a-z])(reg|id|1d|no\.?\s*:|number|invoice|code|summary|taxable|excl|exclusive|"
    r"excluding|relief|claims?|price|charges?|serv|service|ma\s*so|mst|rate)(?![a-z])"
)
_TOTAL_WORD = re.compile(r"(?<![a-z])(total|amt|amount|sales|jumlah|bill|tong|thanh\s*toan)")
_INCLUDES = re.compile(r"(?<![a-z])(includes|included)(?![a-z])")
_INCL = re.compile(r"(?<![a-z])(incl|inc|inclusive|including|bao\s*gom)(?![a-z])")
_SUMMARY = re.compile(r"summary|(tax|gst)\s*\(?(rm|myr|\$)|tax\s*code|gst\s*rate")
_ITEM_HEADER = re.compile(r"(?<![a-z])(desc|description|qty|item|price|u/p)(?![a-z])")
_TABLE_CODES = re.compile(r"^(?:[a-z]{1,3}|total|gst|tax|zrl|@|[a-z]@)$")
_RATE = re.compile(r"(\d{1,2}(?:[.,]\d{1,2})?)\s*%")
_LEADING_DOT = re.compile(r"(?<![\d.,])\.(\d{2})(?!\d)")
TOLERANCE = Decimal("0.02")
SUMMARY_ROWS = 5  # rows of a summary table read below its header

BASE = 0.6  # a candidate no arithmetic checks
CHECK = 0.2  # each check passed
AGREE = 0.15  # a labelled row and the summary table give the same amount


@dataclass(frozen=True)
class TaxPick:
    value: Decimal
    confidence: float
    row_index: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Candidate:
    value: Decimal
    row_index: int
    confidence: float
    source: str  # "label" | "summary"
    base: Decimal | None  # the taxed amount on the same row (a summary row)
    rate: Decimal | None
    in_total: bool = False  # on a row that names a total including the tax: kept only when
    # the inclusive arithmetic confirms it (``(BILL INCLUSIVE OF 6% GST: RM2.21)``)


def _clean(text: str) -> str:
    """``.82`` -> ``0.82``, currency prefixes off their numbers, rates removed."""
    text = _LEADING_DOT.sub(r"0.\1", text)
    text = re.sub(r"(?i)\b(rm|myr|usd|sgd)\s?(?=\d)|\$\s?(?=\d)", " ", text)
    return _RATE.sub(" ", text)


def _rate(text: str) -> Decimal | None:
    match = _RATE.search(text)
    return Decimal(match.group(1).replace(",", ".")) if match else None


def _amounts(text: str, currency: str | None) -> list[Decimal]:
    """Signed: a credit note's tax is negative (``GST: -0.84``)."""
    return signed_amounts(_clean(text), currency)


def _labelled(row: Row, index: int, currency: str | None) -> _Candidate | None:
    text = row.text
    folded = fold(text).lower()
    match = _TAX_WORD.search(folded)
    if match is None or _NOT_TAX.search(folded):
        return None
    in_total = bool(
        _TOTAL_WORD.search(folded) and _INCL.search(folded) and not _INCLUDES.search(folded)
    )
    found = _amounts(text[match.end() :], currency) or _amounts(text[: match.start()], currency)
    if not found:
        return None
    return _Candidate(found[-1], index, row.confidence, "label", None, _rate(text), in_total)


def _summary(rows: Sequence[Row], currency: str | None) -> list[_Candidate]:
    """The tax column of a tax summary table: its rate rows, or its TOTAL row when there is
    one."""
    out: list[_Candidate] = []
    for index, row in enumerate(rows):
        header = fold(row.text).lower()
        if not _SUMMARY.search(header) or _ITEM_HEADER.search(header):
            continue  # not a tax summary, or the item table's header (``... TAXCODE``)
        lines: list[_Candidate] = []
        for below in range(index + 1, min(len(rows), index + 1 + SUMMARY_ROWS)):
            text = rows[below].text
            folded = fold(_clean(text)).lower()
            words = re.findall(r"[a-z@]+", folded)
            values = _amounts(text, currency)
            if len(values) < 2 or not all(_TABLE_CODES.match(w) for w in words):
                if lines:
                    break
                continue
            tax, base = values[-1], values[-2]
            if len(values) >= 3 and _close(values[-3] + values[-2], values[-1]):
                tax, base = values[-2], values[-3]  # a last column of base + tax
            candidate = _Candidate(tax, below, rows[below].confidence, "summary", base, _rate(text))
            if "total" in words:
                lines = [candidate]
                break
            lines.append(candidate)
        if len(lines) == 1:
            out.append(lines[0])
        elif lines:
            out.append(
                _Candidate(
                    sum((c.value for c in lines), Decimal(0)),
                    lines[0].row_index,
                    min(c.confidence for c in lines),
                    "summary",
                    sum((c.base for c in lines if c.base is not None), Decimal(0)),
                    None,
                )
            )
    return out


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= TOLERANCE


def _checks(
    candidate: _Candidate, page_rate: Decimal | None, bases: set[Decimal], totals: set[Decimal]
) -> list[str]:
    value = candidate.value
    rate = candidate.rate if candidate.rate is not None else page_rate
    reasons = []
    if value == 0:
        return ["zero-rate"] if rate == 0 else []
    own = {candidate.base} if candidate.base is not None else set()
    if rate and any(_close(b * rate / 100, value) for b in own | bases):
        reasons.append("base*rate")
    if any(_close(b + value, t) for b in own | bases for t in totals if b != t):
        reasons.append("base+tax=total")
    if rate and any(_close(t * rate / (100 + rate), value) for t in totals):
        reasons.append("inclusive-rate")
    return reasons


def pick_tax(
    rows: Sequence[Row], currency: str | None, total: Decimal | None = None
) -> TaxPick | None:
    """The receipt's tax amount (see the module doc), or None when the page shows none."""
    candidates = [
        found
        for index, row in enumerate(rows)
        if (found := _labelled(row, index, currency)) is not None
    ]
    candidates += _summary(rows, currency)
    if total is not None:  # the tax is a part of the total
        candidates = [c for c in candidates if abs(c.value) * 2 < abs(total) or c.value == 0]
    if not candidates:
        return None
    rates = [
        r for row in rows if _TAX_WORD.search(fold(row.text).lower()) for r in [_rate(row.text)]
    ]
    known = [r for r in rates if r is not None]
    page_rate = max(set(known), key=known.count) if known else None
    bases: set[Decimal] = set()
    totals: set[Decimal] = {total} if total is not None else set()
    for row in rows:
        folded = fold(row.text).lower()
        values = _amounts(row.text, currency)
        if not values:
            continue
        if re.search(
            r"excl|exclusive|excluding|sub\s*-?\s*total|goods|truoc\s*thue|cong\s*tien\s*hang"
            r"|tong\s*tien\s*hang",
            folded,
        ):
            bases.add(values[-1])
        elif _TOTAL_WORD.search(folded):
            totals.add(values[-1])
    scored: dict[Decimal, tuple[float, _Candidate, list[str]]] = {}
    for candidate in candidates:
        reasons = _checks(candidate, page_rate, bases, totals)
        if candidate.in_total and "inclusive-rate" not in reasons:
            continue
        score = len(reasons) + (0.5 if candidate.source == "summary" else 0.0)
        if candidate.value in scored:
            old_score, old, old_reasons = scored[candidate.value]
            other_row = old.row_index != candidate.row_index  # a second reading, not the same
            if other_row:
                reasons = [*reasons, "agree"]
            merged = sorted(set(old_reasons) | set(reasons))
            scored[candidate.value] = (max(old_score, score) + other_row, old, merged)
        else:
            scored[candidate.value] = (score, candidate, reasons)
    if not scored:
        return None
    value, (_, best, reasons) = max(
        scored.items(), key=lambda item: (item[1][0], -item[1][1].row_index)
    )
    checks = len([r for r in reasons if r != "agree"])
    factor = BASE + CHECK * min(2, checks) + (AGREE if "agree" in reasons else 0.0)
    if len(scored) > 1:
        factor -= 0.1
    return TaxPick(
        value,
        round(max(0.0, min(1.0, best.confidence * factor)), 3),
        best.row_index,
        tuple(reasons),
    )
