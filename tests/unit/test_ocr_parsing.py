"""OCR text handling without any engine: numbers, dates, labels, rows, the RapidOCR/Tesseract
merge rule, and invoice/ID field parsing from OCR segments."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest

from hub.vision.ocr_id import parse_id
from hub.vision.ocr_invoice import parse_invoice
from hub.vision.ocr_service import (
    Engines,
    OcrConfig,
    OcrEngines,
    OcrUnavailableError,
    merge_segment,
    page_language,
    wants_tesseract,
)
from hub.vision.ocr_text import (
    detect_currency,
    fold,
    group_rows,
    label_values,
    parse_amount,
    parse_date,
)
from models.ocr import OcrEngineUnavailableError, OcrLine, TextBox
from testkit.documents import check_digit as cd


def seg(text: str, x: int, y: int, *, conf: float = 0.95, w: int | None = None) -> OcrLine:
    width = w if w is not None else 14 * len(text)
    return OcrLine(text, TextBox(x, y, x + width, y + 28), conf, "test")


@pytest.mark.parametrize(
    ("text", "currency", "value"),
    [
        ("1.250.000", "VND", Decimal(1250000)),
        ("1.250.000 ₫", None, Decimal(1250000)),
        ("1.250.000đ", None, Decimal(1250000)),
        ("45.000 VND", None, Decimal(45000)),
        ("1.250", "VND", Decimal(1250)),
        ("1,250.00", "USD", Decimal("1250.00")),
        ("$1,250.00", None, Decimal("1250.00")),
        ("12.50", "USD", Decimal("12.50")),
        ("12,50", "EUR", Decimal("12.50")),
        ("1.250,00", "EUR", Decimal("1250.00")),
        ("1,250", "USD", Decimal(1250)),
        ("1.250", "USD", Decimal("1.250")),
        ("734.80", None, Decimal("734.80")),
        ("7", None, Decimal(7)),
    ],
)
def test_amounts(text: str, currency: str | None, value: Decimal) -> None:
    assert parse_amount(text, currency) == value


@pytest.mark.parametrize("text", ["abc", "1.2.3", "HD-2026", "", "12.34.5"])
def test_not_amounts(text: str) -> None:
    assert parse_amount(text, "VND") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Ngày: 15/11/2026", date(2026, 11, 15)),
        ("Date: 2026-11-03", date(2026, 11, 3)),
        ("Date: 03 Nov 2026", date(2026, 11, 3)),
        ("Date: November 3, 2026", date(2026, 11, 3)),
        ("Ngày 05 tháng 02 năm 2026", date(2026, 2, 5)),
        ("15.03.1990", date(1990, 3, 15)),
    ],
)
def test_dates(text: str, value: date) -> None:
    assert parse_date(text) == value


def test_impossible_dates_are_not_dates() -> None:
    assert parse_date("31/02/2026") is None
    assert parse_date("no date here") is None


def test_fold_keeps_length_and_drops_marks() -> None:
    text = "Tổng cộng Đơn giá NGUYỄN"
    assert fold(text) == "tong cong don gia nguyen"
    assert len(fold(text)) == len(text)


def test_currency_detection() -> None:
    assert detect_currency(["Tổng cộng: 3.558.500 ₫"]) == "VND"
    assert detect_currency(["Tổng cộng: 3.558.500 đ"]) == "VND"
    assert detect_currency(["Total (USD): 734.80"]) == "USD"
    assert detect_currency(["123 Đường Lê Lợi"]) is None  # đ starting a word is not a currency


def test_two_labels_on_one_line() -> None:
    values = label_values(
        "Giới tính / Sex: Nam _ Quốc tịch / Nationality: Việt Nam",
        {"gender": ("gioi tinh / sex",), "nationality": ("quoc tich / nationality",)},
    )
    assert values == {"gender": "Nam", "nationality": "Việt Nam"}


def test_rows_group_segments_on_one_line() -> None:
    rows = group_rows(
        [seg("3.235.000 đ", 1000, 552), seg("Cộng tiền hàng:", 600, 549), seg("Next", 60, 600)]
    )
    assert [row.text for row in rows] == ["Cộng tiền hàng: 3.235.000 đ", "Next"]


# ---------------------------------------------------------------------------------------------
# Merge rule
# ---------------------------------------------------------------------------------------------


def test_merge_takes_tesseract_diacritics_when_letters_agree() -> None:
    rapid = seg("Ba sáng t chn", 0, 0, conf=0.99)
    tess = seg("Bữa sáng tự chọn", 0, 0, conf=0.9)
    merged = merge_segment(rapid, tess)
    assert merged.text == "Bữa sáng tự chọn"
    assert merged.box == rapid.box


def test_merge_keeps_rapidocr_digits() -> None:
    rapid = seg("C030059887VNM9003152M3106202079090001234<<56", 0, 0)
    tess = seg("C030059887VNM9663152M3196202679096661234<<56", 0, 0)
    assert merge_segment(rapid, tess).text == rapid.text


def test_merge_keeps_rapidocr_when_tesseract_reads_something_else() -> None:
    assert merge_segment(seg("Qty", 0, 0), seg("sự", 0, 0)).text == "Qty"
    assert merge_segment(seg("Ho / Surname", 0, 0), seg("Họ/ Sumame", 0, 0)).text == "Ho / Surname"
    assert merge_segment(seg("3", 0, 0), None).text == "3"


def test_merge_recovers_the_dong_sign() -> None:
    assert merge_segment(seg("3.235.000", 0, 0), seg("3.235.000 đ", 0, 0)).text == "3.235.000 đ"


def test_merge_refuses_a_slash_read_as_a_letter() -> None:
    rapid = seg("Nơi thưng trú / Place of residence:", 0, 0)
    tess = seg("Nơi thường trú Ụ Place of residence:", 0, 0)
    assert merge_segment(rapid, tess).text == rapid.text


def test_a_stray_mark_between_labels_is_no_value() -> None:
    labels = {"address": ("noi thuong tru", "place of residence")}
    assert label_values("Nơi thường trú Ụ Place of residence:", labels) == {"address": ""}
    assert label_values("Nơi thường trú: 12 Lý Thường Kiệt", labels) == {
        "address": "12 Lý Thường Kiệt"
    }


def test_mrz_lines_are_not_sent_to_tesseract() -> None:
    assert not wants_tesseract(seg("P<VNMNGUYEN<<VAN<AN<<<<<<<<<<<<<<<<<<<<<<<<<", 0, 0))
    assert wants_tesseract(seg("Cng tiên hàng:", 0, 0))


def test_page_language() -> None:
    assert page_language([seg("Ngày: 15/11/2026", 0, 0), seg("Thành tiên", 0, 40)]) == "vi"
    assert page_language([seg("Invoice No: INV-1", 0, 0), seg("Total", 0, 40)]) == "en"


# ---------------------------------------------------------------------------------------------
# Invoices
# ---------------------------------------------------------------------------------------------


def _page(rows: list[list[tuple[str, int]]]) -> list[OcrLine]:
    """Segments from ``[[(text, x), ...], ...]``, one inner list per line, 45 px apart."""
    return [seg(text, x, 50 + 45 * index) for index, row in enumerate(rows) for text, x in row]


VI_INVOICE = _page(
    [
        [("Công ty TNHH Dịch vụ Khách sạn Hoa Sen", 60)],
        [("Địa chỉ: 123 Đường Lê Lợi, Quận 1, TP. Hồ Chí Minh", 60)],
        [("HÓA ĐƠN GIÁ TRỊ GIA TĂNG", 400)],
        [("Số hóa đơn: HD-2026-00123", 60)],
        [("Ngày: 15/11/2026", 60)],
        [
            ("STT", 60),
            ("Tên hàng hóa, dịch vụ", 120),
            ("SL", 640),
            ("Đơn giá", 760),
            ("Thành tiền", 980),
        ],
        [
            ("1", 60),
            ("Phòng đôi hướng biển", 120),
            ("2", 680),
            ("1.250.000", 800),
            ("2.500.000", 1000),
        ],
        [("2", 60), ("Bữa sáng tự chọn", 120), ("4", 680), ("150.000", 800), ("600.000", 1000)],
        [("Cộng tiền hàng:", 600), ("3.100.000 đ", 1000)],
        [("Thuế GTGT (10%):", 600), ("310.000 đ", 1000)],
        [("Tổng cộng:", 600), ("3.410.000 đ", 1000)],
        [("Mã số thuế: 0301234567", 60)],
    ]
)


def test_vietnamese_invoice_fields() -> None:
    fields = parse_invoice(group_rows(VI_INVOICE))
    assert fields.language == "vi"
    assert fields.invoice_number == "HD-2026-00123"
    assert fields.invoice_date == date(2026, 11, 15)
    assert fields.vendor == "Công ty TNHH Dịch vụ Khách sạn Hoa Sen"
    assert [(i.description, i.quantity, i.unit_price, i.amount) for i in fields.items] == [
        ("Phòng đôi hướng biển", Decimal(2), Decimal(1250000), Decimal(2500000)),
        ("Bữa sáng tự chọn", Decimal(4), Decimal(150000), Decimal(600000)),
    ]
    assert (fields.subtotal, fields.tax, fields.total) == (
        Decimal(3100000),
        Decimal(310000),
        Decimal(3410000),
    )
    assert fields.currency == "VND"
    assert fields.warnings == []
    for name in ("invoice_number", "invoice_date", "vendor", "items", "subtotal", "tax", "total"):
        assert 0.5 < fields.confidence[name] <= 1.0, name


def test_english_invoice_with_a_contradicting_total() -> None:
    page = _page(
        [
            [("Seaside Linen Supplies Co., Ltd", 60)],
            [("INVOICE", 500)],
            [("Invoice No: INV-2026-0042", 60)],
            [("Date: 03 Nov 2026", 60)],
            [("Description", 60), ("Qty", 640), ("Unit price", 800), ("Amount", 1050)],
            [("Bath towels", 60), ("20", 660), ("12.50", 870), ("250.00", 1090)],
            [("Pillow cases", 60), ("40", 660), ("4.75", 880), ("190.00", 1090)],
            [("Subtotal:", 600), ("440.00", 1090)],
            [("Tax (10%):", 600), ("44.00", 1100)],
            [("Total (USD):", 600), ("$1,484.00", 1060)],
        ]
    )
    fields = parse_invoice(group_rows(page))
    assert fields.currency == "USD"
    assert fields.invoice_date == date(2026, 11, 3)
    assert [(i.quantity, i.unit_price, i.amount) for i in fields.items] == [
        (Decimal(20), Decimal("12.50"), Decimal("250.00")),
        (Decimal(40), Decimal("4.75"), Decimal("190.00")),
    ]
    assert fields.subtotal == Decimal("440.00")
    assert fields.tax == Decimal("44.00")
    assert fields.total == Decimal("1484.00")
    assert fields.confidence["subtotal"] > fields.confidence["total"]  # 440 + 44 != 1484
    assert any("total" in warning for warning in fields.warnings)


def test_item_with_wrong_arithmetic_gets_low_confidence() -> None:
    page = _page(
        [
            [("Description", 60), ("Qty", 640), ("Unit price", 800), ("Amount", 1050)],
            [("Soap", 60), ("3", 660), ("2.00", 870), ("7.00", 1090)],
        ]
    )
    (item,) = parse_invoice(group_rows(page)).items
    assert item.confidence < 0.6


# ---------------------------------------------------------------------------------------------
# Identity documents
# ---------------------------------------------------------------------------------------------


def test_cccd_fields() -> None:
    page = _page(
        [
            [("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 250)],
            [("CĂN CƯỚC CÔNG DÂN", 360)],
            [("Số / No.: 079201001234", 320)],
            [("Họ và tên / Full name:", 320)],
            [("NGUYỄN VĂN AN", 320)],
            [("Ngày sinh / Date of birth: 15/03/1990", 320)],
            [("Giới tính / Sex: Nam", 320), ("Quốc tịch / Nationality: Việt Nam", 640)],
            [("Quê quán / Place of origin: Hà Nội", 320)],
            [("Nơi thường trú / Place of residence:", 320)],
            [("12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội", 320)],
            [("Có giá trị đến / Date of expiry: 15/03/2030", 40)],
        ]
    )
    fields = parse_id(group_rows(page), today=date(2026, 11, 23))
    assert fields.document_type == "cccd"
    assert fields.id_number == "079201001234"
    assert fields.full_name == "NGUYỄN VĂN AN"
    assert fields.date_of_birth == date(1990, 3, 15)
    assert fields.gender == "M"
    assert fields.nationality == "Việt Nam"
    assert fields.place_of_origin == "Hà Nội"
    assert fields.address == "12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội"
    assert fields.expiry_date == date(2030, 3, 15)
    assert fields.mrz is None


def test_passport_prefers_verified_mrz_and_reports_a_failed_check() -> None:
    body = "B1234567<" + "0" + "VNM850721" + cd("850721") + "F300101" + cd("300101") + "<" * 15
    line2 = body + cd(body[0:10] + body[13:20] + body[21:43])  # document number's digit is 3
    page = _page(
        [
            [("PASSPORT", 60)],
            [("Passport No.", 340)],
            [("B1234567", 340)],
            [("P<VNMTRAN<<THI<HOA<<<<<<<<<<<<<<<<<<<<<<<<<<", 170)],
            [(line2, 170)],
        ]
    )
    fields = parse_id(group_rows(page), today=date(2026, 11, 23))
    assert fields.document_type == "passport"
    assert fields.mrz is not None
    assert fields.mrz.check_digits == {
        "document_number": False,
        "date_of_birth": True,
        "expiry_date": True,
        "personal_number": True,
        "composite": True,
    }
    assert not fields.mrz.valid
    assert fields.id_number == "B1234567"  # the visual zone's, the MRZ's failed its check
    assert fields.full_name == "TRAN THI HOA"
    assert fields.gender == "F"
    assert fields.date_of_birth == date(1985, 7, 21)
    assert any("document_number" in warning for warning in fields.warnings)


# ---------------------------------------------------------------------------------------------
# Engine loading
# ---------------------------------------------------------------------------------------------


def test_engines_load_once_and_remember_why_they_could_not() -> None:
    calls: list[OcrConfig] = []

    def factory(config: OcrConfig) -> Engines:
        calls.append(config)
        raise OcrEngineUnavailableError("tesseract lacks the language data vie")

    engines = OcrEngines(OcrConfig(), factory)

    async def twice() -> list[str]:
        reasons = []
        for _ in range(2):
            with pytest.raises(OcrUnavailableError) as caught:
                await engines.get()
            reasons.append(str(caught.value))
        return reasons

    assert asyncio.run(twice()) == ["tesseract lacks the language data vie"] * 2
    assert len(calls) == 1
    assert not engines.loaded
    assert engines.error == "tesseract lacks the language data vie"
