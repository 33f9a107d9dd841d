"""Which pages Tesseract re-reads: a Vietnamese page, told from French, Spanish, Hungarian or
Icelandic ones by its marked letters (their accents alone made passports "Vietnamese", and the
re-read cost them up to a second); and the step names when a half turn is undone."""

from __future__ import annotations

import pytest

from hub.vision.ocr_service import half_turned, page_language, without_half_turn
from hub.vision.ocr_text import MarkEvidence, looks_vietnamese, mark_evidence
from models.ocr import OcrLine, TextBox

# RapidOCR's own readings (it drops stacked diacritics) of the rendered Vietnamese invoice and
# CCCD card of testkit/documents.py, and of the printed labels of real specimen passports
VIETNAMESE = {
    "invoice": ["Ngày: 15/11/2026", "Thành tiên", "Đơn giá", "Tng cng", "Phòng đôi"],
    "card": ["CÔNG HÒA XÃ HÔI CHU NGHĨA VIÊT NAM", "Ho và tên / Full name", "Quê quán"],
    "passport": ["HÔ CHIU / PASSPORT", "Ch đm và tên / Given names", "Ngày sinh / Date of birth"],
}
OTHER = {
    "french": ["Given names/ Prénoms", "Nationality/ Nationalité", "Date de délivrance"],
    "french notes": [
        "Impression du motif en encre métallique spéciale. La",
        "figurant dans la zone lisible à la machine.",
        "la page des données et lisible uniquement à la loupe.",
        "3. Texte en micro-impression placé à différents endroits de",
    ],
    "german and french": ["3. Nationality/Nationalität/Nationalité", "9. Behörde/Autorité"],
    "hungarian": ["MAGYARORSZÁG", "ÚTLEVÉL", "01 MÁR/MAR 12", "ROZÁLIA IRMA"],
    "icelandic": ["VEGABRÉF", "AEVARSDÓTTIR", "ÍSLENSKT/ICELANDIC/ISLANDAISE", "29 JÚN /JUN 11"],
    "portuguese": ["TEMPORÁRIA", "SÃO PAULO", "AUTORIZAÇÃO DE RESIDÊNCIA"],
    "monaco": ["PRINCIPAUTÉ DE MONACO", "Nationalité Monégasque", "Spécimen"],
    "english": ["Invoice No: INV-1", "Total", "GRAND TOTAL RM 12.00"],
}


def _lines(texts: list[str]) -> list[OcrLine]:
    return [
        OcrLine(text, TextBox(0, 40 * i, 200, 40 * i + 30), 0.9, "rapidocr")
        for i, text in enumerate(texts)
    ]


@pytest.mark.parametrize("name", sorted(VIETNAMESE))
def test_vietnamese_pages_are_vietnamese(name: str) -> None:
    assert looks_vietnamese(VIETNAMESE[name])
    assert page_language(_lines(VIETNAMESE[name])) == "vi"


@pytest.mark.parametrize("name", sorted(OTHER))
def test_accented_latin_pages_are_not_vietnamese(name: str) -> None:
    assert not looks_vietnamese(OTHER[name])
    assert page_language(_lines(OTHER[name])) == "en"


def test_the_evidence_counts_letters_for_and_against() -> None:
    # ơ and đ only Vietnamese writes; à in a word shaped like a syllable; é in "Prénoms" not
    assert mark_evidence(["Đơn", "và", "Prénoms"]) == MarkEvidence(vietnamese=3, other=1)
    # a Vietnamese-shaped word or two on a French page does not outvote it
    assert not looks_vietnamese(["à la", "né à", "Nationalité délivrance Autorité"])
    # fewer than three marks are not enough
    assert not looks_vietnamese(["Đơn"])


def test_undoing_a_half_turn_keeps_the_net_turn() -> None:
    assert half_turned(("page", "orient:180", "deskew:2"))
    assert half_turned(("orient:270",))
    assert not half_turned(("page", "orient:90", "deskew:1"))
    assert without_half_turn(("page", "orient:180", "deskew:2")) == ("page", "deskew:2")
    assert without_half_turn(("orient:270", "deskew:-1")) == ("orient:90", "deskew:-1")


def test_an_accented_receipt_without_a_currency_is_not_read_as_vietnamese_dong() -> None:
    from hub.vision.ocr_invoice import parse_invoice
    from hub.vision.ocr_text import group_rows

    french = parse_invoice(group_rows(_lines(["Café Crème", "Thé glacé 4,50", "Total 4,50"])))
    assert french.language == "en"
    assert french.currency != "VND"
    vietnamese = parse_invoice(group_rows(_lines(VIETNAMESE["invoice"])))
    assert vietnamese.language == "vi"
    assert vietnamese.currency == "VND"
