"""The amount a receipt was paid for, from its OCR rows (pure).

Each row is classed by its label (grand total, total, subtotal, tax, rounding, cash, change,
or a total that is not the bill: ``TOTAL QTY``, ``TOTAL DISCOUNT``); its amount is the
rightmost one after the label, or on the next row when the label stands alone. Candidates for
the total are scored by the label's strength, the lower part of the page, how many total rows
repeat the value, and the slip's arithmetic (cash - change = total; subtotal + tax + rounding
= total; a rounding row that prints the rounded total itself). A minus printed before an
amount is kept (a credit note's ``Total Payable: -10.60``). The confidence grows with that
evidence and with the margin over the runner-up; callers flag a total under ``FLAG_BELOW`` for
a human rather than trust it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from hub.vision.ocr_text import Row, amounts_in, detect_currency, fold

FLAG_BELOW = 0.6

# TOTAL as OCR reads it off faint thermal print: T as I or 1, O as U or 0, A as 4, L as I or 1
# (``TOTAI``, ``T0TAL``, ``IUIAL``, ``SUBIUIAL``)
_TOTAL = r"[t1i][o0u][t1i][a4][l1i]"
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "not_total",
        re.compile(
            r"total\s*(qty|quantity|item|items|disc|discount|saving|savings|tax|gst|sst|"
            r"excl|excluding|exclusive|point|points|weight|pcs|units)"
            r"|(qty|quantity|item|items)\s*total|total\s*\(\s*excl"
        ),
    ),
    (
        "grand",
        re.compile(
            rf"grand\s*{_TOTAL}|nett?\s*total|total\s*amount|amount\s*due|total\s*due|total\s*payable"
            r"|total\s*after|after\s*round|rounded\s*total|total\s*\(?\s*incl|total\s*sales\s*\(?\s*incl"
            r"|total\s*rounded|tong\s*cong|tong\s*thanh\s*toan|tong\s*tien\s*thanh\s*toan"
            r"|thanh\s*tien|net\s*amount\s*due|amount\s*payable|total\s*inclusive"
            r"|\bnett?\s*(amt|amount)\b|\binc\w{0,2}sive\s*(of\s*)?gst"
        ),
    ),
    (
        "subtotal",
        re.compile(rf"sub\s*-?\s*{_TOTAL}|total\s*sales|tong\s*tien\s*hang|cong\s*tien\s*hang"),
    ),
    ("rounding", re.compile(r"round|rounding|adj\b|adjustment")),
    ("change", re.compile(r"\bchange\b|\bchg\b|\bbaki\b|tien\s*thoi|tra\s*lai")),
    (
        "cash",
        re.compile(
            r"\bcash\b|tendered|\bpaid\b|total\s*paid|\bvisa\b|master\s*card|credit\s*card|tien\s*khach"
        ),
    ),
    ("tax", re.compile(r"\bgst\b|\bsst\b|\bvat\b|\btax\b|service\s*charge|thue")),
    ("total", re.compile(rf"\b{_TOTAL}\b|\bjumlah\b|tong\s*tien")),
)
_PREFIX = re.compile(r"(?i)\b(rm|myr|usd|vnd|sgd)\s?(?=\d)|\$\s?(?=\d)")
_WEIGHTS = {"grand": 3.0, "total": 2.0, "subtotal": 1.0}
REPEAT = 0.5  # each further total row that repeats a value
ROUNDED = Decimal("0.10")  # a rounding row's amount this near a total above it: the rounded total
CLOSE = 1.0  # a runner-up this near in score: the pick is a guess
_ARITHMETIC = frozenset({"cash-change", "rounded", "subtotal+tax"})


@dataclass(frozen=True)
class Labelled:
    kind: str
    value: Decimal
    row_index: int
    confidence: float


@dataclass(frozen=True)
class TotalPick:
    value: Decimal
    confidence: float
    row_index: int
    reasons: tuple[str, ...]

    @property
    def checked(self) -> bool:
        """The slip's arithmetic confirms the value (cash - change, rounding, subtotal + tax)."""
        return bool(_ARITHMETIC.intersection(self.reasons))


def _ringgit_rows(texts: Sequence[str]) -> int:
    return sum(1 for text in texts if re.search(r"(?i)\bRM\s?\d|\(RM\)|\bRM\b", text))


def detect_receipt_currency(texts: Sequence[str]) -> str | None:
    """``MYR`` when amounts carry an ``RM`` prefix (Malaysian slips), else None."""
    return "MYR" if _ringgit_rows(texts) >= 1 else None


def pick_currency(texts: Sequence[str]) -> str | None:
    """The page's currency: a named one (``detect_currency``: ₫, $, VND...) unless more rows
    show ``RM`` than show it (a stray ``$`` read from a speck on a ringgit slip)."""
    named = detect_currency(texts)
    ringgit = _ringgit_rows(texts)
    if named is None or not ringgit:
        return named or ("MYR" if ringgit else None)
    named_rows = sum(1 for text in texts if detect_currency([text]) == named)
    return "MYR" if ringgit > named_rows else named


def _clean(text: str) -> str:
    """Currency prefixes split off their number (``RM64.15`` -> ``RM 64.15``), so the amount
    pattern sees a number boundary."""
    return _PREFIX.sub(lambda m: m.group(0).rstrip() + " ", text)


def classify(text: str) -> tuple[str, int] | None:
    """``(kind, end of the label)`` of a row's label: the leftmost one, a "not the bill"
    total winning outright; None when the row has no label."""
    folded = fold(text).lower()
    matches: list[tuple[int, int, str, int]] = []
    for order, (kind, pattern) in enumerate(_KINDS):
        match = pattern.search(folded)
        if match is None:
            continue
        if kind == "not_total":
            return kind, match.end()
        matches.append((match.start(), order, kind, match.end()))
    if not matches:
        return None
    _, _, kind, end = min(matches)
    return kind, end


def signed_amounts(text: str, currency: str | None) -> list[Decimal]:
    """The amounts in ``text``, negative where a minus sign is printed right before the
    number (``Total Payable: -10.60`` on a credit note); a minus after it (``0.24-``, a
    discount) or set apart (``Total - 5.00``) leaves it as it is."""
    out = []
    for start, _, value in amounts_in(text, currency):
        before = text[max(0, start - 2) : start]
        negative = before.endswith("-") and (len(before) < 2 or before[0] in " \t:(")
        out.append(-value if negative else value)
    return out


def _amount_after(text: str, start: int, currency: str | None) -> Decimal | None:
    found = signed_amounts(_clean(text[start:]), currency)
    return found[-1] if found else None


def _amount_only(text: str) -> bool:
    """A row that is an amount and little else (``RM 18.40``), as printed under a label that
    stands alone; not a table header's next row (``FISH OIL 2X150'S``)."""
    letters = re.sub(r"(?i)\b(rm|myr|usd|vnd|sgd|sr|zr)\b", "", fold(text))
    return sum(c.isalpha() for c in letters) <= 3


def labelled_amounts(rows: Sequence[Row], currency: str | None) -> list[Labelled]:
    """Every labelled amount on the page, top to bottom."""
    out: list[Labelled] = []
    for index, row in enumerate(rows):
        text = row.text
        kind = classify(text)
        if kind is None:
            continue
        value = _amount_after(text, kind[1], currency)
        confidence = row.confidence
        if (
            value is None
            and index + 1 < len(rows)
            and classify(rows[index + 1].text) is None
            and _amount_only(rows[index + 1].text)
        ):
            value = _amount_after(rows[index + 1].text, 0, currency)
            confidence = min(confidence, rows[index + 1].confidence) * 0.95
        if value is not None:
            out.append(Labelled(kind[0], value, index, confidence))
    return out


def pick_total(rows: Sequence[Row], currency: str | None) -> TotalPick | None:
    """The receipt's total (see the module doc), or None when no candidate exists."""
    found = labelled_amounts(rows, currency)
    if not found:
        return None
    height = max(1, len(rows) - 1)
    by_kind: dict[str, list[Decimal]] = {}
    for item in found:
        by_kind.setdefault(item.kind, []).append(item.value)
    cash, change = by_kind.get("cash", []), by_kind.get("change", [])
    paid = {c - g for c in cash for g in change if c - g > 0}
    subtotal = by_kind.get("subtotal", [])
    taxes = by_kind.get("tax", [])
    summed = {s + t for s in subtotal for t in taxes if t}
    # a rounding turns an amount above it into the total below it (sign unknown: OCR drops "-")
    rounded: set[tuple[Decimal, int]] = set()
    printed: list[Labelled] = []  # a rounding row that shows the rounded total itself
    for adj in (item for item in found if item.kind == "rounding" and item.value):
        bases = [b for b in found if b.row_index < adj.row_index and b.kind in _WEIGHTS]
        if adj.value >= 1 and any(0 < abs(b.value - adj.value) <= ROUNDED for b in bases):
            printed.append(adj)
            rounded.add((adj.value, adj.row_index - 1))
            continue
        for base in bases:
            rounded |= {(base.value + sign * adj.value, adj.row_index) for sign in (1, -1)}
    scored: dict[Decimal, tuple[float, int, float, list[str]]] = {}
    for item in found:
        if item.kind not in _WEIGHTS or item.value == 0:
            continue
        weight = _WEIGHTS[item.kind] + item.row_index / height
        if item.value in scored:
            score, row_index, confidence, reasons = scored[item.value]
            score = max(score, weight) + REPEAT
            confidence = max(confidence, item.confidence)
        else:
            score, row_index, confidence, reasons = weight, item.row_index, item.confidence, []
        scored[item.value] = (score, row_index, confidence, [*reasons, item.kind])
    for item in printed:  # ``Rounding RM 18.40`` under ``Total RM 18.37``
        if item.value not in scored:
            weight = _WEIGHTS["total"] + item.row_index / height
            scored[item.value] = (weight, item.row_index, item.confidence, ["total"])
    labelled_values = {item.value for item in found}
    for value in paid - set(scored):  # a total under no total label (``ROUNDING 14.40``)
        support = 1.0 if value in labelled_values else 0.0
        scored[value] = (1.0 + support, found[-1].row_index, 0.9 * found[-1].confidence, [])
    if not scored:
        return None
    for value, (score, row_index, confidence, reasons) in list(scored.items()):
        if value in paid:
            score, reasons = score + 2.0, [*reasons, "cash-change"]
        if value in summed:
            score, reasons = score + 1.5, [*reasons, "subtotal+tax"]
        if any(value == v and row_index > at for v, at in rounded):
            score, reasons = score + 1.5, [*reasons, "rounded"]
        if value in cash and value not in paid:
            score, reasons = score + 0.5, [*reasons, "cash-exact"]
        scored[value] = (score, row_index, confidence, reasons)
    ranked = sorted(scored.items(), key=lambda item: (-item[1][0], -item[0]))
    value, (score, row_index, confidence, reasons) = ranked[0]
    margin = score - ranked[1][1][0] if len(ranked) > 1 else score
    checks = len(_ARITHMETIC.intersection(reasons))
    if "grand" in reasons:
        factor = 0.8
    elif "total" in reasons:
        factor = 0.7
    else:  # no total label: cash - change, or a subtotal
        factor = 0.6 if value in labelled_values else 0.5
    factor += 0.2 * checks
    if margin < CLOSE:
        factor *= 0.75
    return TotalPick(
        value, round(max(0.0, min(1.0, confidence * factor)), 3), row_index, tuple(reasons)
    )
