"""Invoice fields from OCR rows (pure): number, date, vendor, item lines, subtotal, tax, total and
currency, each with a confidence; Vietnamese (``1.250.000 ₫``) and English (``1,250.00``) formats.

Confidence of a field = the OCR confidence of the row it came from, scaled down when the value
was found by a fallback heuristic, and up (towards the OCR confidence) when the arithmetic of
the invoice agrees with it (quantity x unit price = amount, items = subtotal, subtotal + tax =
total)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from hub.vision.ocr_text import (
    Row,
    amounts_in,
    find_labels,
    fold,
    label_values,
    looks_vietnamese,
    nfc,
    parse_date,
)
from hub.vision.receipt_date import pick_date
from hub.vision.receipt_number import pick_invoice_number
from hub.vision.receipt_tax import pick_tax
from hub.vision.receipt_total import FLAG_BELOW, pick_currency, pick_total
from hub.vision.receipt_vendor import pick_vendor

HEURISTIC = 0.8  # confidence factor of a value found without its label
UNCHECKED = 0.9  # an amount the invoice's arithmetic does not confirm
MISMATCH = 0.5  # an amount the invoice's arithmetic contradicts
REVIEWED = ("vendor", "invoice_number", "invoice_date", "tax", "total")
"""Fields flagged for a human (a warning) when their confidence is under ``FLAG_BELOW``."""

NUMBER_LABELS = {
    "invoice_number": (
        "so hoa don",
        "so hd",
        "hoa don so",
        "invoice no",
        "invoice number",
        "invoice #",
        "invoice num",
        "receipt no",
        "bill no",
    )
}
DATE_LABELS = {
    "invoice_date": (
        "ngay hoa don",
        "ngay lap",
        "ngay xuat",
        "ngay",
        "invoice date",
        "date of issue",
        "issue date",
        "date",
    )
}
VENDOR_LABELS = {
    "vendor": (
        "don vi ban hang",
        "don vi ban",
        "nguoi ban",
        "ben ban",
        "seller",
        "vendor",
        "supplier",
        "sold by",
    )
}
TOTAL_LABELS: dict[str, tuple[str, ...]] = {
    "subtotal": (
        "cong tien hang",
        "tong tien hang",
        "thanh tien truoc thue",
        "tien truoc thue",
        "subtotal",
        "sub total",
        "sub-total",
        "net amount",
    ),
    "tax": (
        "thue gtgt",
        "tien thue gtgt",
        "tien thue",
        "thue vat",
        "thue",
        "vat",
        "tax",
        "sales tax",
    ),
    "total": (
        "tong cong tien thanh toan",
        "tong tien thanh toan",
        "tong thanh toan",
        "tong cong",
        "tong tien",
        "grand total",
        "total amount",
        "total due",
        "amount due",
        "total",
    ),
}
_DESCRIPTION_HEADERS = (
    "mo ta",
    "ten hang",
    "dien giai",
    "noi dung",
    "description",
    "item",
    "dich vu",
)
_QUANTITY_HEADERS = ("sl", "so luong", "qty", "quantity", "s.l")
_INVOICE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-/.]*[A-Za-z0-9]|[A-Za-z0-9]")


@dataclass(frozen=True)
class InvoiceItem:
    description: str
    quantity: Decimal | None
    unit_price: Decimal | None
    amount: Decimal | None
    confidence: float


@dataclass
class InvoiceFields:
    language: str
    invoice_number: str | None = None
    invoice_date: date | None = None
    vendor: str | None = None
    items: list[InvoiceItem] = field(default_factory=list)
    subtotal: Decimal | None = None
    tax: Decimal | None = None
    total: Decimal | None = None
    currency: str | None = None
    confidence: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _round(value: float) -> float:
    return round(max(0.0, min(1.0, value)), 3)


def _is_header(row: Row) -> bool:
    folded = fold(row.text)
    words = re.findall(r"[a-z.]+", folded)
    joined = " ".join(words)
    has_desc = any(
        re.search(rf"(?<![a-z]){re.escape(h)}(?![a-z])", joined) for h in _DESCRIPTION_HEADERS
    )
    has_qty = any(
        re.search(rf"(?<![a-z]){re.escape(h)}(?![a-z])", joined) for h in _QUANTITY_HEADERS
    )
    return has_desc and has_qty


def _parse_item(row: Row, currency: str | None, *, numbered: bool) -> InvoiceItem | None:
    text = nfc(row.text)
    numbers = amounts_in(text, currency)
    if len(numbers) < 2:
        return None
    # the numbers at the end of the line: [quantity,] [unit price,] amount
    tail = numbers[-3:] if len(numbers) >= 3 else numbers[-2:]
    rest = text[tail[-1][1] :]
    if re.search(r"[^\W\d_]{2,}", fold(rest).replace("vnd", "").replace("usd", "")):
        return None  # words after the last number: not an item line
    description = text[: tail[0][0]].strip(" .:-|")
    if numbered:
        description = re.sub(r"^\d{1,3}[.)]?\s+", "", description)
    if not re.search(r"[^\W\d_]", description):
        return None
    values = [value for _, _, value in tail]
    quantity: Decimal | None
    unit_price: Decimal | None
    if len(values) == 3:
        quantity, unit_price, amount = values
    else:
        quantity, amount = values
        unit_price = None
    factor = UNCHECKED
    if quantity is not None and unit_price is not None:
        factor = 1.0 if quantity * unit_price == amount else MISMATCH
    elif quantity is not None and quantity != 0:
        unit_price = amount / quantity if (amount % quantity) == 0 else None
    return InvoiceItem(
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
        confidence=_round(row.confidence * factor),
    )


def _total_of(row: Row, currency: str | None) -> tuple[str, Decimal] | None:
    """``(subtotal | tax | total, amount)`` when a cell of the row starts with such a label
    and an amount follows it (the last one: ``Tax (10%): 66.80`` is 66.80)."""
    for index, cell in enumerate(row.cells):
        hits = find_labels(cell.text, TOTAL_LABELS)
        if not hits or fold(cell.text)[: hits[0].start].strip(" .:-|*"):
            continue
        rest = " ".join([cell.text[hits[0].end :], *(c.text for c in row.cells[index + 1 :])])
        amounts = amounts_in(rest, currency)
        if amounts:
            return hits[0].name, amounts[-1][2]
    return None


def _first_code(value: str) -> str | None:
    match = _INVOICE_NUMBER.search(value)
    return match.group(0) if match else None


def parse_invoice(rows: Sequence[Row], *, today: date | None = None) -> InvoiceFields:
    """The invoice's fields from its OCR rows (top to bottom). ``today``: dates after it are
    misreadings (none refused when not given)."""
    texts = [row.text for row in rows]
    # accents alone are not Vietnamese (a French receipt's would default the currency to VND)
    language = "vi" if looks_vietnamese(texts) else "en"
    currency = pick_currency(texts)
    result = InvoiceFields(language=language)
    if currency is None and language == "vi":
        currency, currency_conf = "VND", HEURISTIC
    else:
        currency_conf = 0.95 if currency else 0.0
    result.currency = currency
    if currency:
        result.confidence["currency"] = currency_conf

    header_index: int | None = None
    totals: dict[str, tuple[Decimal, float]] = {}
    for index, row in enumerate(rows):
        text = row.text
        if result.invoice_number is None:
            value = label_values(text, NUMBER_LABELS).get("invoice_number")
            code = _first_code(value) if value else None
            if code:
                result.invoice_number = code
                result.confidence["invoice_number"] = _round(row.confidence)
        if result.invoice_date is None:
            value = label_values(text, DATE_LABELS).get("invoice_date")
            found = parse_date(value) if value else None
            if found:
                result.invoice_date = found
                result.confidence["invoice_date"] = _round(row.confidence)
        if result.vendor is None:
            value = label_values(text, VENDOR_LABELS).get("vendor")
            if value:
                result.vendor = value
                result.confidence["vendor"] = _round(row.confidence)
        if header_index is None and _is_header(row):
            header_index = index
            continue
        total = _total_of(row, currency)
        if total is not None:
            totals[total[0]] = (total[1], row.confidence)

    if result.invoice_date is None:  # an unlabelled date near the top
        for row in rows[: max(1, len(rows) // 2)]:
            found = parse_date(row.text)
            if found:
                result.invoice_date = found
                result.confidence["invoice_date"] = _round(row.confidence * HEURISTIC)
                break
    if result.vendor is None:  # no "Seller:" label: the name at the top of the page
        vendor = pick_vendor(rows)
        if vendor is not None:
            result.vendor = vendor.value
            result.confidence["vendor"] = vendor.confidence

    _collect_items(rows, header_index, currency, result)
    picked = pick_total(rows, currency)
    if picked is not None:
        totals["total"] = (picked.value, rows[picked.row_index].confidence)
    _apply_totals(totals, result)
    if picked is not None and result.total == picked.value and "total" in result.confidence:
        # the pick's confidence weighs the competing candidates; a contradiction of the items
        # or the subtotal (a warning from _apply_totals) caps it unless the slip's own
        # arithmetic (cash - change, rounding) confirms it
        contradicted = not picked.checked and any(
            "the total says" in warning for warning in result.warnings
        )
        conf = result.confidence["total"]
        result.confidence["total"] = (
            min(conf, picked.confidence) if contradicted else picked.confidence
        )
    _apply_receipt_date(rows, currency, today, result)
    _apply_receipt_number(rows, result)
    _apply_receipt_tax(rows, currency, result)
    for name in REVIEWED:
        if name in result.confidence and result.confidence[name] < FLAG_BELOW:
            result.warnings.append(
                f"{name}: low confidence ({result.confidence[name]:.2f}), check it by hand"
            )
    return result


def _apply_receipt_number(rows: Sequence[Row], result: InvoiceFields) -> None:
    """The receipt-aware number (``INV#``, ``Bill No``, ``Doc No``, OCR slips in the code
    mended) replaces the first-labelled one when they differ; agreeing, the higher confidence
    stands."""
    picked = pick_invoice_number(rows)
    if picked is not None:
        _prefer(result, "invoice_number", picked.value, picked.confidence)


def _prefer(result: InvoiceFields, name: str, value: object, confidence: float) -> None:
    """A receipt picker's value replaces the first-found one when they differ; agreeing, the
    higher confidence stands."""
    if getattr(result, name) == value:
        result.confidence[name] = max(result.confidence.get(name, 0.0), confidence)
    else:
        setattr(result, name, value)
        result.confidence[name] = confidence


def _apply_receipt_tax(rows: Sequence[Row], currency: str | None, result: InvoiceFields) -> None:
    """The tax checked by the page's arithmetic (rate x base, base + tax = total, a tax
    summary table) replaces the first-labelled one; when it finds none, the first-labelled
    one goes too (``TAX INVOICE NO 8``, ``TAX REG ID 000709361664``: no tax amount). The
    total's own checks are left alone: the tax only ever follows them."""
    picked = pick_tax(rows, currency, result.total)
    if picked is None:
        result.tax = None
        result.confidence.pop("tax", None)
        return
    verified = (  # _apply_totals found subtotal + tax = total
        result.tax == picked.value
        and result.subtotal is not None
        and result.total is not None
        and result.subtotal + picked.value == result.total
    )
    conf = max(picked.confidence, result.confidence.get("tax", 0.0)) if verified else None
    result.tax = picked.value
    result.confidence["tax"] = conf if conf is not None else picked.confidence


def _apply_receipt_date(
    rows: Sequence[Row], currency: str | None, today: date | None, result: InvoiceFields
) -> None:
    """The receipt-aware date (D/M vs M/D per page, two-digit years, ``05-JAN-2017``) replaces
    the first-found one when they differ; agreeing, the higher confidence stands."""
    picked = pick_date(rows, currency=currency, today=today)
    if picked is None:
        if today is not None and result.invoice_date is not None and result.invoice_date > today:
            result.invoice_date = None
            result.confidence.pop("invoice_date", None)
        return
    _prefer(result, "invoice_date", picked.value, picked.confidence)


def _collect_items(
    rows: Sequence[Row], header_index: int | None, currency: str | None, result: InvoiceFields
) -> None:
    numbered = header_index is not None and fold(rows[header_index].text).startswith(
        ("stt", "no", "#")
    )
    start = header_index + 1 if header_index is not None else 0
    for row in rows[start:]:
        if header_index is not None and _total_of(row, currency) is not None:
            break  # the totals end the table
        parsed = _parse_item(row, currency, numbered=numbered)
        if parsed is None:
            continue
        if header_index is None and parsed.confidence < row.confidence:
            continue  # without a table header only self-consistent lines count as items
        result.items.append(parsed)
    if result.items:
        result.confidence["items"] = min(item.confidence for item in result.items)


def _apply_totals(totals: dict[str, tuple[Decimal, float]], result: InvoiceFields) -> None:
    items_sum = (
        sum((item.amount for item in result.items if item.amount is not None), Decimal(0))
        if result.items and all(item.amount is not None for item in result.items)
        else None
    )
    subtotal = totals.get("subtotal")
    tax = totals.get("tax")
    total = totals.get("total")
    if subtotal:
        result.subtotal = subtotal[0]
        agrees = items_sum is not None and items_sum == subtotal[0]
        if items_sum is not None and not agrees:
            result.warnings.append(f"items add up to {items_sum}, the subtotal says {subtotal[0]}")
        factor = 1.0 if agrees else (MISMATCH if items_sum is not None else UNCHECKED)
        result.confidence["subtotal"] = _round(subtotal[1] * factor)
    elif items_sum is not None and total is not None and tax is None and items_sum == total[0]:
        result.subtotal = items_sum
        result.confidence["subtotal"] = _round(total[1] * HEURISTIC)
    if tax:
        result.tax = tax[0]
    if total:
        result.total = total[0]
    if result.total is not None:
        base = result.subtotal if result.subtotal is not None else items_sum
        expected = base + (result.tax or Decimal(0)) if base is not None else None
        agrees = expected is not None and expected == result.total
        if expected is not None and not agrees:
            result.warnings.append(f"subtotal + tax = {expected}, the total says {result.total}")
        assert total is not None  # noqa: S101 - result.total came from it
        factor = 1.0 if agrees else (MISMATCH if expected is not None else UNCHECKED)
        result.confidence["total"] = _round(total[1] * factor)
        if tax:
            result.confidence["tax"] = _round(tax[1] * (1.0 if agrees else UNCHECKED))
    elif tax:
        result.confidence["tax"] = _round(tax[1] * UNCHECKED)
