"""ICAO 9303 MRZ parsing and check digits (hub/vision/mrz.py), on the specimen lines printed in
ICAO Doc 9303 (parts 4 and 5) and on the test passports of testkit/documents.py."""

from __future__ import annotations

from datetime import date

import pytest

from hub.vision.mrz import MrzError, check_digit, find_mrz, normalise_line, parse_mrz
from testkit.documents import check_digit as independent_check_digit
from testkit.documents import passport

TODAY = date(2026, 11, 23)

# ICAO Doc 9303 part 4, appendix A: the specimen passport of "Utopia"
TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
# ICAO Doc 9303 part 5, appendix A: the specimen TD1 identity card
TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)


@pytest.mark.parametrize(
    ("value", "digit"),
    [
        ("L898902C3", "6"),
        ("740812", "2"),
        ("120415", "9"),
        ("ZE184226B<<<<<", "1"),
        ("D23145890", "7"),
    ],
)
def test_check_digits_of_the_icao_specimens(value: str, digit: str) -> None:
    assert check_digit(value) == digit
    assert independent_check_digit(value) == digit


def test_td3_specimen_parses_and_verifies() -> None:
    result = parse_mrz(TD3, today=TODAY)
    assert result.format == "TD3"
    assert result.valid
    assert result.check_digits == {
        "document_number": True,
        "date_of_birth": True,
        "expiry_date": True,
        "personal_number": True,
        "composite": True,
    }
    assert result.document_code == "P"
    assert result.issuing_state == "UTO"
    assert result.document_number == "L898902C3"
    assert (result.surname, result.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert result.full_name == "ERIKSSON ANNA MARIA"
    assert result.nationality == "UTO"
    assert result.date_of_birth == date(1974, 8, 12)
    assert result.sex == "F"
    assert result.expiry_date == date(2012, 4, 15)
    assert result.optional_data == "ZE184226B"


def test_td1_specimen_parses_and_verifies() -> None:
    result = parse_mrz(TD1, today=TODAY)
    assert result.format == "TD1"
    assert result.valid, result.check_digits
    assert result.document_code == "I"
    assert result.document_number == "D23145890"
    assert result.date_of_birth == date(1974, 8, 12)
    assert result.expiry_date == date(2012, 4, 15)
    assert result.full_name == "ERIKSSON ANNA MARIA"
    assert result.nationality == "UTO"


@pytest.mark.parametrize(
    ("position", "field"),
    [(9, "document_number"), (19, "date_of_birth"), (27, "expiry_date"), (42, "personal_number")],
)
def test_a_wrong_check_digit_is_flagged(position: int, field: str) -> None:
    line2 = TD3[1]
    wrong = str((int(line2[position]) + 3) % 10)
    result = parse_mrz((TD3[0], line2[:position] + wrong + line2[position + 1 :]), today=TODAY)
    assert not result.valid
    assert result.check_digits[field] is False
    assert result.check_digits["composite"] is False  # the composite covers every check digit


def test_a_changed_data_digit_fails_its_check_and_the_composite() -> None:
    line2 = TD3[1].replace("7408122", "7408132")  # birth date 74-08-13 with 74-08-12's digit
    result = parse_mrz((TD3[0], line2), today=TODAY)
    assert result.check_digits["date_of_birth"] is False
    assert result.check_digits["composite"] is False
    assert result.check_digits["document_number"] is True


def test_wrong_composite_alone() -> None:
    result = parse_mrz((TD3[0], TD3[1][:-1] + "5"), today=TODAY)
    assert not result.valid
    assert [name for name, ok in result.check_digits.items() if not ok] == ["composite"]


def test_test_documents_generator_agrees_with_the_parser() -> None:
    good = passport()
    assert parse_mrz(good.mrz_lines, today=TODAY).valid
    bad = passport(corrupt="expiry_date")
    result = parse_mrz(bad.mrz_lines, today=TODAY)
    assert result.check_digits["expiry_date"] is False
    assert result.check_digits["document_number"] is True


def test_ocr_letter_o_in_a_date_reads_as_zero_without_hiding_errors() -> None:
    line2 = TD3[1].replace("7408122", "74O8122")
    result = parse_mrz((TD3[0], line2), today=TODAY)
    assert result.date_of_birth == date(1974, 8, 12)
    assert result.check_digits["date_of_birth"] is True


def test_find_mrz_in_ocr_lines() -> None:
    texts = [
        "PASSPORT",
        "Surname ERIKSSON",
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<",  # OCR lost three trailing fillers
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ]
    lines = find_mrz(texts)
    assert lines == list(TD3)


def test_find_mrz_td1_with_spaces() -> None:
    texts = ["IDENTITY CARD", *(" ".join([line[:10], line[10:]]) for line in TD1)]
    assert find_mrz(texts) == list(TD1)


def test_no_mrz_in_ordinary_text() -> None:
    assert find_mrz(["INVOICE", "Total 1,250.00", "Date 2026-11-03"]) is None


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(MrzError, match="not a TD3"):
        parse_mrz(["P<UTO", "L898902C3"])


def test_normalise_line() -> None:
    assert normalise_line("p<uto erik\u00abanna") == "P<UTOERIK<<ANNA"


def test_two_digit_years() -> None:
    line2 = TD3[1][:13] + "300101" + check_digit("300101") + TD3[1][20:]
    result = parse_mrz((TD3[0], line2), today=TODAY)
    assert result.date_of_birth == date(1930, 1, 1)  # a birth date is never in the future
    assert result.expiry_date == date(2012, 4, 15)


# Failure modes of the real-specimen benchmark (benchmarks/ocr_id_real.py, dev part), as OCR
# returned the lines.


def test_digits_read_in_letter_fields_become_letters_in_fields_and_lines() -> None:
    # ICAO's specimen as RapidOCR read it: "UT0" twice
    read = ("P<UT0ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", TD3[1].replace("UTO", "UT0"))
    result = parse_mrz(read, today=TODAY)
    assert result.lines == TD3
    assert (result.issuing_state, result.nationality) == ("UTO", "UTO")
    assert result.valid


def test_letters_read_in_digit_fields_become_digits() -> None:
    line2 = TD3[1].replace("7408122", "74O8I22")  # a date and its check digit
    result = parse_mrz((TD3[0], line2), today=TODAY)
    assert result.lines == TD3
    assert result.valid
    assert result.corrected == ()


@pytest.mark.parametrize(
    ("read", "printed"),
    [
        # a Portuguese residence card: "Z" read as "2"; a French one: "O" read as "0"
        ("IRPRT1234A25679<<<<<<<<<<<<<<<", "IRPRT1234AZ5679<<<<<<<<<<<<<<<"),
        ("IRFRAK682T8YL00<1105040043<<<<", "IRFRAK682T8YLO0<1105040043<<<<"),
    ],
)
def test_a_look_alike_in_the_document_number_is_settled_by_two_check_digits(
    read: str, printed: str
) -> None:
    line2 = {"PRT": "7404076F0912220BRA<<<<<<<<<<<4", "FRA": "7906123F1401073SEN<<<<<<<<<<<6"}
    line3 = {"PRT": "GARCAO<DE<MAGALHAES<<INES<<<<<", "FRA": "MARTIN<<CHRISTELLE<HELENE<LAUR"}
    state = read[2:5]
    result = parse_mrz((read, line2[state], line3[state]), today=TODAY)
    assert result.valid
    assert result.lines[0] == printed
    assert result.document_number == printed[5:14]
    assert result.corrected == ("document_number",)


def test_a_check_digit_printed_wrong_is_not_settled() -> None:
    # the composite was computed over the wrong digit: it verifies, so nothing is swapped
    body = "L8989O2C3" + "6" + TD3[1][10:43]
    composite = check_digit(body[0:10] + body[13:20] + body[21:43])
    result = parse_mrz((TD3[0], body + composite), today=TODAY)
    assert result.check_digits["document_number"] is False
    assert result.check_digits["composite"] is True
    assert result.document_number == "L8989O2C3"
    assert result.corrected == ()


def test_a_document_code_digit_is_kept() -> None:
    # the US Permanent Resident Card's document code is "C1"
    lines = (
        "C1USA0223456791EAC9730051220<<",
        "4910040M9411014CAN<<<<<<<<<<<0",
        "CRITTENDEN<<LEE<W<<<<<<<<<<<<<",
    )
    assert find_mrz(lines) == list(lines)
    result = parse_mrz(lines, today=TODAY)
    assert result.document_code == "C1"
    assert result.lines == lines


def test_td1_whose_document_code_reads_as_a_digit_is_found() -> None:
    # a Spanish identity card: OCR read the leading "I" as "1"
    texts = [
        "99999999R",
        "1DESPBAA000589599999999R<<<<<<",
        "8001014F2501017ESP<<<<<<<<<<<7",
        "ESPANOLA<ESPANOLA<<CARMEN<<<<<",
    ]
    lines = find_mrz(texts)
    assert lines is not None
    result = parse_mrz(lines, today=TODAY)
    assert result.lines[0] == "IDESPBAA000589599999999R<<<<<<"
    assert result.document_number == "BAA000589"
    assert result.valid


def test_accented_letters_in_an_mrz_are_folded() -> None:
    # a Spanish specimen prints "ESPAÑOLA" in its MRZ
    texts = [
        "IDESPAAA1000014<00000023T<<<<<",
        "7212018F1101236ESP<<<<<<<<<<<8",
        "ESPAÑOLA<ESPAÑOLA<CARMEN<<<<<<",
    ]
    lines = find_mrz(texts)
    assert lines is not None
    assert lines[2] == "ESPANOLA<ESPANOLA<CARMEN<<<<<<"
    assert normalise_line("Ñ<é") == "N<E"


def test_a_lone_second_passport_line_is_found_when_its_checks_verify() -> None:
    # OCR missed the first line of a Qatari specimen
    line2 = "00000000<0QAT7103070M110725012345458902<<<78"
    lines = find_mrz(["Name", "ALI HAMAD ABDULLAH AL-KAABI", line2])
    assert lines == ["<" * 44, line2]
    result = parse_mrz(lines, today=TODAY)
    assert result.valid
    assert (result.document_number, result.nationality) == ("00000000", "QAT")
    assert result.date_of_birth == date(1971, 3, 7)
    assert result.full_name == ""


def test_a_lone_line_whose_checks_fail_is_not_an_mrz() -> None:
    line2 = "00000000<1QAT7103070M110725012345458902<<<78"  # number check digit wrong
    assert find_mrz(["Name", line2]) is None


def test_a_birth_date_is_never_after_the_expiry() -> None:
    # an Icelandic specimen: born 12.12.1912, the passport expired in 2011
    line2 = "A2040611<0ISL1212123F1106297121212<1239<<<66"
    line1 = "PAISLAEVARSDOTTIR<<THURIDUR<OESP".ljust(44, "<")
    result = parse_mrz((line1, line2), today=TODAY)
    assert result.valid
    assert result.date_of_birth == date(1912, 12, 12)
    assert result.expiry_date == date(2011, 6, 29)
