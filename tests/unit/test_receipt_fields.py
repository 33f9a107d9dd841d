"""Receipt total and date picking (pure), on text lines from real receipts: the SROIE scans
(https://github.com/zzzDavid/ICDAR-2019-SROIE, receipt ids named per test, all from the dev part
of benchmarks/ocr_real_sets.yaml), as the hub's OCR or the set's transcripts read them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hub.vision.ocr_invoice import parse_invoice
from hub.vision.ocr_text import Row
from hub.vision.receipt_date import page_prefers_dmy, parse_receipt_dates, pick_date
from hub.vision.receipt_total import FLAG_BELOW, classify, pick_total
from models.ocr import OcrLine, TextBox


def _rows(*lines: str | tuple[str, ...], confidence: float = 0.97) -> list[Row]:
    """One row per entry; a tuple is a row of cells left to right."""
    rows = []
    for index, line in enumerate(lines):
        cells = (line,) if isinstance(line, str) else line
        rows.append(
            Row(
                tuple(
                    OcrLine(
                        text,
                        TextBox(40 + 300 * i, 40 * index, 300 + 300 * i, 40 * index + 30),
                        confidence,
                        "rapidocr",
                    )
                    for i, text in enumerate(cells)
                )
            )
        )
    return rows


def test_date_glued_to_the_time_is_read() -> None:  # SROIE 143, hub OCR output
    assert [hit.value for hit in parse_receipt_dates("Date | :05-03-201819:02:50")] == [
        date(2018, 3, 5)
    ]


def test_receipt_date_forms() -> None:  # SROIE labels and lines: 135, 415, 571, 042
    assert parse_receipt_dates("05-JAN-2017")[0].value == date(2017, 1, 5)
    assert parse_receipt_dates("10 MAR 2018 12:01")[0].value == date(2018, 3, 10)
    assert parse_receipt_dates("24/01/18")[0].value == date(2018, 1, 24)
    assert parse_receipt_dates("2018/02/22")[0].value == date(2018, 2, 22)
    assert parse_receipt_dates("ngày 15 tháng 11 năm 2026")[0].value == date(2026, 11, 15)
    assert parse_receipt_dates("RM 64.13 2.80") == []


def test_day_month_order_follows_the_page() -> None:
    assert page_prefers_dmy(["DATE: 25/12/2018"], None)
    assert not page_prefers_dmy(["Date 12/25/2018"], None)
    assert not page_prefers_dmy(["no dates"], "USD")
    assert parse_receipt_dates("05/03/2018", prefer_dmy=False)[0].value == date(2018, 5, 3)


def test_future_dates_are_misreadings() -> None:
    assert parse_receipt_dates("05/03/2081", today=date(2026, 1, 1)) == []


def test_labelled_date_beats_print_date_and_ambiguity_lowers_confidence() -> None:
    rows = _rows("PRINT DATE: 11/08/2017", "DATE : 10/08/2017 03:26:21PM")  # SROIE 134
    picked = pick_date(rows)
    assert picked is not None
    assert picked.value == date(2017, 8, 10)
    assert picked.confidence < 0.9  # D/M taken from the locale, and two dates disagree


def test_not_the_bill_totals() -> None:  # SROIE 143, 571
    assert classify("Total QTY: 4") == ("not_total", 9)
    assert classify("TOTAL (EXCLUDING GST):")[0] == "not_total"  # type: ignore[index]
    assert classify("TOTAL (INCLUSIVE OF GST):")[0] == "grand"  # type: ignore[index]


def test_rounded_total_confirmed_by_cash_and_change() -> None:  # SROIE 042 transcript
    rows = _rows(
        ("TOTAL SALES(INCL GST 6%)", "RM 64.13"),
        ("ROUNDING ADJUSTMENT :", "RM 0.02"),
        ("TOTAL", "RM 64.15"),
        ("CASH", "RM 100.00"),
        ("CHANGE", "RM 35.85"),
        ("TOTAL DISCOUNT", "RM 0.00"),
    )
    picked = pick_total(rows, "MYR")
    assert picked is not None
    assert picked.value == Decimal("64.15")
    assert {"rounded", "cash-change"} <= set(picked.reasons)
    assert picked.confidence >= 0.9


def test_total_under_a_rounding_label_found_by_cash_minus_change() -> None:  # SROIE 415
    rows = _rows(
        "TOTAL SALES (INCLUSIVE GST) RM 14.38",
        "ROUNDING ADJUSTMENT RM 0.02",
        "ROUNDING RM 14.40",
        "CASH RM 20.00",
        "CHANGE RM 5.60",
    )
    picked = pick_total(rows, "MYR")
    assert picked is not None
    assert picked.value == Decimal("14.40")


def test_payable_beats_a_repeated_part_total() -> None:  # SROIE 328 transcript
    rows = _rows(
        ("TOTAL 0% SUPPLIES:", "7.61"),
        ("TOTAL 6% SUPPLIES (EXCL. GST):", "24.00"),
        ("GST:", "1.44"),
        ("TOTAL 6% SUPPLIES (INC. GST):", "25.44"),
        ("TOTAL 0% SUPPLIES:", "7.61"),
        ("TOTAL PAYABLE:", "33.05"),
    )
    picked = pick_total(rows, None)
    assert picked is not None
    assert picked.value == Decimal("33.05")


def test_label_alone_takes_the_amount_on_the_next_row() -> None:  # SROIE 614 transcript
    rows = _rows("SUBTOTAL", "RM152.00", "GST 0%", "RM0.00", "CASH", "RM152.00")
    picked = pick_total(rows, "MYR")
    assert picked is not None
    assert picked.value == Decimal("152.00")


def test_vietnamese_total_with_dot_thousands() -> None:
    rows = _rows(("Cộng tiền hàng:", "1.122.334 đ"), ("TỔNG CỘNG:", "1.234.567 đ"))
    picked = pick_total(rows, "VND")
    assert picked is not None
    assert picked.value == Decimal(1234567)


def test_an_undecided_total_is_flagged_not_trusted() -> None:
    fields = parse_invoice(_rows("TOTAL 12.00", "TOTAL 15.00", "Thank you"))
    assert fields.total is not None
    assert fields.confidence["total"] < FLAG_BELOW
    assert any(warning.startswith("total: low confidence") for warning in fields.warnings)


def test_malaysian_receipt_end_to_end() -> None:  # SROIE 030, hub OCR output shape
    fields = parse_invoice(
        _rows(
            "UNIHAKKA INTERNATIONAL SDN BHD",
            "05 Mar 2018 18:21",
            ("TOTAL AMOUNT:", "$8.20"),
            ("NETT TOTAL:", "$8.20"),
            ("CASH", "$10.00"),
            ("CHANGE", "$1.80"),
        ),
        today=date(2026, 1, 1),
    )
    assert fields.total == Decimal("8.20")
    assert fields.invoice_date == date(2018, 3, 5)
    assert fields.confidence["total"] >= 0.9
