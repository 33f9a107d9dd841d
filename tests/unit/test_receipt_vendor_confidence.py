"""The vendor's confidence from its evidence (hub/vision/receipt_vendor.py, pure): only a clean,
legal-suffixed name first on the page stays at 0.9 or above; a trade-only name, a name-like row
above it, an ``Owned By`` row, a mended OCR slip each lower it, and parse_invoice flags a low one
for a human. Row text is made up here, shaped like the failure modes of the real set's dev,
held-out and fresh parts; no dataset transcript is copied."""

from __future__ import annotations

from dataclasses import replace

from hub.vision.ocr_invoice import parse_invoice
from hub.vision.ocr_text import Row
from hub.vision.receipt_total import FLAG_BELOW
from hub.vision.receipt_vendor import VendorEvidence, mend, pick_vendor, vendor_confidence
from models.ocr import OcrLine, TextBox

SURE = 0.9  # what the benchmark's calibration counts as a confident field


def _rows(*lines: str | tuple[str, float]) -> list[Row]:
    """One single-cell row per entry; a tuple gives the row its own OCR confidence."""
    rows = []
    for index, line in enumerate(lines):
        text, confidence = (line, 0.98) if isinstance(line, str) else line
        box = TextBox(40, 40 * index, 400, 40 * index + 30)
        rows.append(Row((OcrLine(text, box, confidence, "rapidocr"),)))
    return rows


def test_each_piece_of_weak_evidence_takes_a_clean_company_name_below_sure() -> None:
    clean = VendorEvidence(ocr=0.98, suffix="legal")
    assert vendor_confidence(clean) >= SURE
    weaker = (
        replace(clean, suffix="trade"),
        replace(clean, rival_above=True),
        replace(clean, owner_above=True),
        replace(clean, mended=True),
        replace(clean, rows=3),
        replace(clean, noise=0.8),
        replace(clean, close_rival=True),
    )
    for evidence in weaker:
        assert vendor_confidence(evidence) < SURE, evidence
    assert vendor_confidence(replace(clean, owner_above=True)) < FLAG_BELOW
    assert vendor_confidence(replace(clean, suffix="none", close_rival=True)) < FLAG_BELOW
    assert 0.0 <= vendor_confidence(replace(clean, ocr=0.0)) <= vendor_confidence(clean) <= 1.0


def test_a_company_under_an_owned_by_row_is_flagged_for_a_human() -> None:
    rows = _rows(
        "BINTANGHOBBYSHOP",
        "NO. 12, JALAN MERAK 3",
        "Tel: +603-5555 0101",
        "Owned By :",
        "BINTANG NIAGA SDN BHD (1234567-K)",
        ("TOTAL", 0.98),
    )
    picked = pick_vendor(rows)
    assert picked is not None
    assert picked.value == "BINTANG NIAGA SDN BHD"
    assert picked.confidence < FLAG_BELOW
    fields = parse_invoice(rows)
    assert fields.confidence["vendor"] == picked.confidence
    assert any(warning.startswith("vendor: low confidence") for warning in fields.warnings)


def test_a_brand_above_the_company_makes_it_less_sure_but_ocr_noise_above_does_not() -> None:
    alone = pick_vendor(_rows("KEMBOJA TRADERS SDN BHD", "LOT 9, JALAN BUNGA"))
    branded = pick_vendor(_rows("Kemboja Mart", "KEMBOJA TRADERS SDN BHD", "LOT 9, JALAN BUNGA"))
    specks = pick_vendor(
        _rows(("sigmatu", 0.95), ("Rxxt}", 0.7), "KEMBOJA TRADERS SDN BHD", "LOT 9, JALAN BUNGA")
    )
    assert alone is not None
    assert branded is not None
    assert specks is not None
    assert alone.value == branded.value == specks.value == "KEMBOJA TRADERS SDN BHD"
    assert alone.confidence >= SURE
    assert FLAG_BELOW <= branded.confidence < SURE
    assert specks.confidence >= SURE


def test_a_trade_only_name_is_not_sure_and_a_misread_suffix_is_mended_but_marked() -> None:
    trade = pick_vendor(_rows("RESTORAN SRI MELATI", "NO 5, JALAN 3"))
    assert trade is not None
    assert FLAG_BELOW <= trade.confidence < SURE
    assert mend("77 QUICK MART S/8") == ("77 QUICK MART S/B", True)
    assert mend("77 QUICK MART 5/8") == ("77 QUICK MART S/B", True)
    assert mend("KEDAI 5/8 JAYA S/B") == ("KEDAI 5/8 JAYA S/B", False)
    assert mend("77 QUICK MART S/B") == ("77 QUICK MART S/B", False)
    assert mend("UNIT 5/8A") == ("UNIT 5/8A", False)
    mended = pick_vendor(_rows("77 QUICK MART S/8 (512345-X)", "LOT P.T. 2811, JALAN ANGSA"))
    assert mended is not None
    assert mended.value == "77 QUICK MART S/B"
    assert FLAG_BELOW <= mended.confidence < SURE


def test_an_address_close_behind_a_plain_name_is_no_rival() -> None:
    plain = pick_vendor(_rows("MELATIBOOKSHOP", "NO. 5, JALAN 3", "40170 SHAH ALAM"))
    rival = pick_vendor(_rows("MELATIBOOKSHOP", "SERI MELUR PERDANA"))
    assert plain is not None
    assert rival is not None
    assert FLAG_BELOW <= plain.confidence < SURE
    assert rival.confidence < FLAG_BELOW
