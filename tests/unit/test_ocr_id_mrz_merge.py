"""How hub/vision/ocr_id.py merges the MRZ with the visual zone, on OCR rows as the real
specimens of benchmarks/ocr_id_real.py (dev part) gave them: the name, the birth date's
century, a passport whose first MRZ line was not read."""

from __future__ import annotations

from datetime import date

from hub.vision.ocr_id import parse_id
from hub.vision.ocr_text import Row, group_rows
from models.ocr import OcrLine, TextBox
from testkit.documents import passport

TODAY = date(2026, 12, 7)
UTOPIA = (
    "P<UT0ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",  # "UT0" as RapidOCR read it
    "L898902C36UT07408122F1204159ZE184226B<<<<<10",
)


def _rows(lines: list[list[str]]) -> list[Row]:
    """One inner list per printed line, its segments left to right, 45 px apart."""
    segments = [
        OcrLine(
            text,
            TextBox(60 + 400 * i, 50 + 45 * y, 60 + 400 * i + 14 * len(text), 78 + 45 * y),
            0.95,
            "test",
        )
        for y, line in enumerate(lines)
        for i, text in enumerate(line)
    ]
    return group_rows(segments)


def test_a_label_read_as_the_name_loses_to_the_mrz() -> None:
    # ICAO's Utopia specimen: the bilingual labels sit on the rows above their values
    rows = _rows(
        [
            ["Surname/ Nom"],
            ["ERIKSSON"],
            ["Given names/ Prénoms"],
            ["ANNA MARIA"],
            [UTOPIA[0]],
            [UTOPIA[1]],
        ]
    )
    fields = parse_id(rows, today=TODAY)
    assert fields.mrz is not None
    assert fields.mrz.valid
    assert fields.full_name == "ERIKSSON ANNA MARIA"
    assert fields.nationality == "UTO"
    assert any(warning.startswith("full_name:") for warning in fields.warnings)


def test_a_visual_name_that_is_the_mrz_name_keeps_its_diacritics() -> None:
    document = passport()  # NGUYEN<<VAN<AN
    rows = _rows(
        [["Họ và tên / Full name: NGUYỄN VĂN AN"], *([line] for line in document.mrz_lines)]
    )
    fields = parse_id(rows, today=TODAY)
    assert fields.mrz is not None
    assert fields.mrz.valid
    assert fields.full_name == "NGUYỄN VĂN AN"
    assert not any(warning.startswith("full_name:") for warning in fields.warnings)


def test_a_birth_year_printed_with_four_digits_settles_the_century() -> None:
    # a Czech specimen: born 01.01.1911, "110101" in the MRZ alone reads as 2011
    rows = _rows(
        [
            ["04 DAT Nzt/D CI", "05 RODNÉ CISLD / PIRSONAL No."],  # labels OCR garbled
            ["01.01.1911", "110101/111"],
            ["04.07.2012"],
            ["P<CZESPECIMEN<<VZ0R".ljust(44, "<")],
            ["99003853<1CZE1101018M1207046110101111<<<<<94"],
        ]
    )
    fields = parse_id(rows, today=TODAY)
    assert fields.mrz is not None
    assert fields.mrz.valid
    assert fields.date_of_birth == date(1911, 1, 1)
    assert fields.full_name == "SPECIMEN VZOR"


def test_a_printed_date_in_the_future_does_not_move_the_birth_date() -> None:
    rows = _rows(
        [
            ["01.01.2111"],  # a misread, or not a birth date
            ["P<CZESPECIMEN<<VZOR".ljust(44, "<")],
            ["99003853<1CZE1101018M1207046110101111<<<<<94"],
        ]
    )
    assert parse_id(rows, today=TODAY).date_of_birth == date(2011, 1, 1)


def test_a_passport_whose_first_mrz_line_was_not_read() -> None:
    rows = _rows(
        [
            ["Type", "Country code"],
            ["P", "QAT"],
            ["Name"],
            ["ALIHAMAD ABDULLAHAL-KAABI"],
            ["00000000<0QAT7103070M110725012345458902<<<78"],
        ]
    )
    fields = parse_id(rows, today=TODAY)
    assert fields.mrz is not None
    assert fields.mrz.valid
    assert fields.id_number == "00000000"
    assert fields.date_of_birth == date(1971, 3, 7)
    assert fields.expiry_date == date(2011, 7, 25)
    assert fields.full_name == "ALIHAMAD ABDULLAHAL-KAABI"  # the visual zone's: no MRZ name
    assert any("only the second line" in warning for warning in fields.warnings)


def test_a_settled_look_alike_in_the_number_is_said() -> None:
    # a Portuguese residence card whose "1234AZ567" OCR read as "1234A2567"
    rows = _rows(
        [
            ["TITULO DE RESIDENCIA", "1234AZ567"],
            ["IRPRT1234A25679<<<<<<<<<<<<<<<"],
            ["7404076F0912220BRA<<<<<<<<<<<4"],
            ["GARCAO<DE<MAGALHAES<<INES<<<<<"],
        ]
    )
    fields = parse_id(rows, today=TODAY)
    assert fields.id_number == "1234AZ567"
    assert any(warning.startswith("id_number: a look-alike") for warning in fields.warnings)
