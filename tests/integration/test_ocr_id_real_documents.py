"""Identity documents no one here made, read by the real OCR (RapidOCR + Tesseract, through
:meth:`OcrService.read_id` as ``POST /api/v1/cv/ocr/id`` runs it): three US federal specimen
cards in tests/data/ocr_real/ (public domain; sources in LICENCES.md there). Each pins a failure
mode the real-specimen benchmark (benchmarks/ocr_id_real.py) found and that is fixed:

- OCR reads ``O`` as ``0`` in the MRZ's letter-only fields (``V0ID``, ``C0D``): the lines and
  the fields come back in the field's alphabet, while the check-digit verdict stays as printed;
- the document code ``C1`` of the Permanent Resident Card keeps its digit;
- a label or a card title read as the holder's name loses to the MRZ's name;
- a holder born in 1920 on a card that expired in 1980 (``200101``) is not born in 2020;
- a card upside down is turned over, and an upright page the direction classifier wrongly
  turns over (it did so to a 272 px passport) is turned back by the recogniser's check.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest

from hub.vision.document_geometry import prepare_page
from hub.vision.ocr_id import parse_id
from hub.vision.ocr_service import (
    PAGE_OPTIONS,
    Engines,
    IdReading,
    OcrConfig,
    OcrEngines,
    OcrService,
    read_page,
)

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "data" / "ocr_real"


@pytest.fixture(scope="module")
def service() -> OcrService:
    return OcrService(OcrEngines(OcrConfig()))


def _image(name: str) -> np.ndarray:
    decoded = cv2.imdecode(np.fromfile(DATA / name, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None, name
    return np.ascontiguousarray(decoded, dtype=np.uint8)


def _read(service: OcrService, name: str) -> IdReading:
    return asyncio.run(service.read_id(_image(name)))


def test_resident_card_with_a_void_mrz(service: OcrService) -> None:
    fields = _read(service, "us-i551-resident-card-void.jpg").fields
    assert fields.mrz is not None
    assert fields.mrz.lines == (
        "C1USA0000000392SRC0000000039<<",
        "2001010F8001022SLV<<<<<<<<<<<0",
        "VOID<<VOID<<<<<<<<<<<<<<<<<<<<",  # OCR gives "V0ID": a name holds letters only
    )
    assert fields.mrz.document_code == "C1"
    # the specimen's check digits do not verify as printed: reported, not repaired
    assert not fields.mrz.valid
    assert fields.date_of_birth == date(1920, 1, 1)  # not 2020: the card expired in 1980
    assert fields.expiry_date == date(1980, 1, 2)
    assert fields.full_name == "VOID VOID"


def test_resident_card_name_comes_from_the_mrz(service: OcrService) -> None:
    fields = _read(service, "us-i551-resident-card-crittenden.jpg").fields
    assert fields.mrz is not None
    assert fields.mrz.lines[0] == "C1USA0223456791EAC9730051220<<"
    assert fields.mrz.document_code == "C1"
    assert [name for name, ok in fields.mrz.check_digits.items() if not ok] == [
        "document_number",
        "composite",
    ]  # as printed on the specimen
    # the visual zone's "NAME CRITTENDEN, LEE W." row runs into the card's title
    assert fields.full_name == "CRITTENDEN LEE W"
    assert any(warning.startswith("full_name:") for warning in fields.warnings)
    assert fields.date_of_birth == date(1949, 10, 4)
    assert fields.expiry_date == date(1994, 11, 1)


def test_employment_authorization_card_back(service: OcrService) -> None:
    fields = _read(service, "us-i766-ead-back.jpg").fields
    assert fields.mrz is not None
    assert fields.mrz.lines == (
        "IAUSA0000000033LIN1044750079<<",
        "5808175F1004027COD<<<<<<<<<<<7",  # OCR gives "C0D" for the nationality
        "SPECIMEN<<TEST<VOID<<<<<<<<<<<",
    )
    assert fields.mrz.valid
    assert fields.mrz.nationality == "COD"
    assert fields.id_number == "000000003"
    assert fields.full_name == "SPECIMEN TEST VOID"
    assert fields.date_of_birth == date(1958, 8, 17)
    assert fields.expiry_date == date(2010, 4, 2)


def test_an_upside_down_card_is_turned_over_and_read(service: OcrService) -> None:
    upright = _image("us-i551-resident-card-void.jpg")
    turned = np.ascontiguousarray(cv2.rotate(upright, cv2.ROTATE_180), dtype=np.uint8)
    reading = asyncio.run(service.read_id(turned))
    # the direction classifier turns it over and the recogniser confirms the turn
    assert "orient:180" in reading.page.steps
    assert reading.fields.mrz is not None
    assert reading.fields.mrz.lines[0] == "C1USA0000000392SRC0000000039<<"
    assert reading.fields.expiry_date == date(1980, 1, 2)


def test_a_wrong_half_turn_is_undone(service: OcrService) -> None:
    """The direction classifier turned an upright 272 px specimen passport over (its crops of
    small print were blobs of two lines): the recogniser, reading the widest lines both ways,
    undoes the turn. Here a classifier that calls every page upside down stands in for it."""
    loaded = asyncio.run(service.engines.get())
    always_turned = Engines(loaded.rapid, loaded.tesseract, direction=lambda _crops: 1.0)
    image = _image("us-i766-ead-back.jpg")
    # page preparation alone turns it over with that classifier
    assert (
        "orient:180" in prepare_page(image, PAGE_OPTIONS, upside_down=always_turned.direction).steps
    )
    page = read_page(always_turned, image, language="auto", max_side=2400)
    assert not any(step.startswith("orient:") for step in page.steps)
    fields = parse_id(page.rows, today=date(2026, 12, 7))
    assert fields.mrz is not None
    assert fields.mrz.valid
    assert fields.id_number == "000000003"
