"""OCR through the hub's HTTP API with the real engines (RapidOCR's PP-OCR ONNX models and
Tesseract ``vie``) on documents rendered by testkit/documents.py: exact invoice fields in
Vietnamese and English, a CCCD card, passports whose MRZ verifies or carries a wrong check
digit, refusals with reasons, scopes, encryption at rest and deletion."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from hub.auth.scopes import Scope
from hub.vision.ocr_service import OcrConfig, estimate_skew, load_engines, read_page
from testkit.documents import (
    ENGLISH_INVOICE,
    VIETNAMESE_ID,
    VIETNAMESE_INVOICE,
    Invoice,
    b64,
    jpeg_bytes,
    passport,
    photograph,
    png_bytes,
    render_id_card,
    render_invoice,
    render_passport,
)
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers

pytestmark = pytest.mark.integration

INVOICE = "/api/v1/cv/ocr/invoice"
ID = "/api/v1/cv/ocr/id"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("ocr-hub"), None)
    with running_hub(settings, start_ingest=False) as running:
        yield running


def _post(hub: RunningHub, path: str, image: bytes, **extra: Any) -> dict[str, Any]:
    response = hub.http.post(path, json={"image": b64(image), **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _number(value: Any) -> float:
    return float(value)


def _expected_invoice(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_number": invoice.invoice_number,
        "date": invoice.invoice_date.isoformat(),
        "vendor": invoice.vendor,
        "currency": invoice.currency,
        "subtotal": _number(invoice.subtotal),
        "tax_amount": _number(invoice.tax),
        "total_amount": _number(invoice.total),
        "items": [
            {
                "description": item.description,
                "quantity": _number(item.quantity),
                "unit_price": _number(item.unit_price),
                "amount": _number(item.amount),
            }
            for item in invoice.items
        ],
    }


def _invoice_fields(body: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "invoice_number",
        "date",
        "vendor",
        "currency",
        "subtotal",
        "tax_amount",
        "total_amount",
    )
    fields = {key: body[key] for key in keys}
    fields["items"] = [
        {key: item[key] for key in ("description", "quantity", "unit_price", "amount")}
        for item in body["items"]
    ]
    return fields


@pytest.mark.parametrize(
    ("invoice", "engine", "encode"),
    [
        pytest.param(VIETNAMESE_INVOICE, "rapidocr+tesseract", png_bytes, id="vietnamese-png"),
        pytest.param(
            ENGLISH_INVOICE, "rapidocr", lambda page: jpeg_bytes(page, 85), id="english-jpeg"
        ),
    ],
)
def test_invoice_fields_are_exact(
    hub: RunningHub, invoice: Invoice, engine: str, encode: Callable[[PILImage.Image], bytes]
) -> None:
    body = _post(hub, INVOICE, encode(render_invoice(invoice)), include_text=True)
    assert _invoice_fields(body) == _expected_invoice(invoice)
    assert body["document_type"] == "invoice"
    assert body["language"] == invoice.lang
    assert body["engine"] == engine
    assert body["warnings"] == []  # items add up to the subtotal, subtotal + tax = total
    for name in (
        "invoice_number",
        "date",
        "vendor",
        "items",
        "subtotal",
        "tax_amount",
        "total_amount",
    ):
        assert 0.5 < body["field_confidence"][name] <= 1.0, name
    assert body["confidence"] == pytest.approx(
        sum(body["field_confidence"].values()) / len(body["field_confidence"]), abs=1e-3
    )
    assert body["ocr_time_ms"] > 0
    assert invoice.invoice_number in body["raw_text"]
    assert body["result_id"] >= 1
    assert any(invoice.vendor == line["text"] for line in body["text"])


def test_a_photographed_vietnamese_invoice_reads_exactly(hub: RunningHub) -> None:
    page = photograph(render_invoice(VIETNAMESE_INVOICE), angle=2.0, scale=0.8, quality=80)
    body = _post(hub, INVOICE, page)
    assert _invoice_fields(body) == _expected_invoice(VIETNAMESE_INVOICE)


def test_a_photographed_card_reads_name_number_and_dates(hub: RunningHub) -> None:
    card = VIETNAMESE_ID
    body = _post(hub, ID, photograph(render_id_card(card), angle=1.5, scale=0.8, quality=80))
    assert (body["id_number"], body["full_name"]) == (card.id_number, card.full_name)
    assert body["date_of_birth"] == card.date_of_birth.isoformat()
    assert body["expiry_date"] == card.expiry_date.isoformat()
    assert body["address"] == card.address


@pytest.fixture(scope="module")
def cccd_reading(hub: RunningHub) -> dict[str, Any]:
    return _post(hub, ID, png_bytes(render_id_card(VIETNAMESE_ID)))


def test_cccd_card_reads_name_number_and_dates(cccd_reading: dict[str, Any]) -> None:
    card, body = VIETNAMESE_ID, cccd_reading
    assert body["document_type"] == "id_card"
    assert body["detected_type"] == "cccd"
    assert body["id_number"] == card.id_number
    assert body["full_name"] == card.full_name
    assert body["date_of_birth"] == card.date_of_birth.isoformat()
    assert body["expiry_date"] == card.expiry_date.isoformat()
    assert body["gender"] == "Male"
    assert body["nationality"] == card.nationality
    assert body["address"] == card.address
    assert body["place_of_origin"] == card.place_of_origin
    assert body["mrz"] is None
    for name in ("id_number", "full_name", "date_of_birth", "expiry_date"):
        assert 0.5 < body["field_confidence"][name] <= 1.0, name


def test_passport_mrz_verifies(hub: RunningHub) -> None:
    document = passport()
    body = _post(hub, ID, png_bytes(render_passport(document)))
    assert body["document_type"] == "passport"
    assert body["mrz"]["lines"] == list(document.mrz_lines)
    assert body["mrz"]["valid"] is True
    assert body["mrz"]["format"] == "TD3"
    assert all(body["mrz"]["check_digits"].values())
    assert body["id_number"] == document.document_number
    assert body["full_name"] == f"{document.surname} {document.given_names}"
    assert body["date_of_birth"] == document.date_of_birth.isoformat()
    assert body["expiry_date"] == document.expiry_date.isoformat()
    assert body["issue_date"] == document.issue_date.isoformat()
    assert body["nationality"] == "VNM"
    assert body["gender"] == "Male"
    assert body["warnings"] == []
    assert body["text"] is None  # OCR lines only when asked for


def test_passport_with_a_wrong_check_digit_is_flagged(hub: RunningHub) -> None:
    corrupt = "document_number"  # tests/unit/test_mrz.py covers every check digit
    document = passport(corrupt=corrupt)
    body = _post(hub, ID, png_bytes(render_passport(document)))
    mrz = body["mrz"]
    assert mrz["lines"] == list(document.mrz_lines)  # read as printed, not "repaired"
    assert mrz["valid"] is False
    assert [name for name, ok in mrz["check_digits"].items() if not ok] == [corrupt]
    assert any(corrupt in warning for warning in body["warnings"])
    assert body["id_number"] == document.document_number  # the visual zone's reading


# ---------------------------------------------------------------------------------------------
# Storage: personal fields encrypted at rest, readable through the API, deletable
# ---------------------------------------------------------------------------------------------


def _database_bytes(hub: RunningHub) -> bytes:
    return b"".join(path.read_bytes() for path in Path(hub.settings.data_dir).glob("hub.db*"))


def test_results_are_stored_encrypted_readable_and_deletable(
    hub: RunningHub, cccd_reading: dict[str, Any]
) -> None:
    card = VIETNAMESE_ID
    result_id = cccd_reading["result_id"]

    stored = hub.http.get(f"/api/v1/cv/ocr/results/{result_id}")
    assert stored.status_code == 200, stored.text
    assert stored.headers["cache-control"] == "no-store"
    fields = stored.json()["fields"]
    assert fields["full_name"] == card.full_name
    assert fields["id_number"] == card.id_number
    assert fields["document_type"] == "cccd"

    db = Path(hub.settings.data_dir) / "hub.db"
    with closing(sqlite3.connect(db)) as raw:
        text, personal, plain = raw.execute(
            "SELECT text, personal_fields, fields FROM ocr_results WHERE id = ?", (result_id,)
        ).fetchone()
    assert text.startswith("gAAAA")
    assert personal.startswith("gAAAA")  # Fernet tokens
    assert card.id_number not in plain
    assert "NGUY" not in plain
    on_disk = _database_bytes(hub)
    for secret in (card.id_number, card.full_name, card.address, "079201"):
        assert secret.encode() not in on_disk

    deleted = hub.http.delete(f"/api/v1/cv/ocr/results/{result_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "result_id": result_id}
    gone = hub.http.get(f"/api/v1/cv/ocr/results/{result_id}")
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["field"] == "result_id"
    assert hub.http.delete(f"/api/v1/cv/ocr/results/{result_id}").status_code == 404


# ---------------------------------------------------------------------------------------------
# Access and refusals
# ---------------------------------------------------------------------------------------------


def _seed_count(hub: RunningHub, sample: str) -> float:
    text = hub.anonymous.get("/metrics").text
    lines = [line for line in text.splitlines() if line.startswith(sample + " ")]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


def test_document_type_and_country_are_honoured(hub: RunningHub) -> None:
    """The caller's document_type and country are checked against what is read (a mismatch
    is a warning, never a silent override) and counted under the seed's metric names."""
    page = png_bytes(render_passport(passport()))
    ids_before = _seed_count(hub, 'cv_ocr_total{type="id"}')
    passports_before = _seed_count(hub, 'cv_ocr_requests_total{document_type="passport"}')
    body = _post(hub, ID, page, document_type="passport", country="VN")
    assert body["document_type"] == "passport"
    assert body["country"] == "VN"
    assert body["warnings"] == []
    wrong = _post(hub, ID, page, document_type="id_card", country="FRA")
    assert wrong["document_type"] == "passport"  # what was read
    assert any("asked id_card" in w for w in wrong["warnings"]), wrong["warnings"]
    assert any("country: asked FRA" in w for w in wrong["warnings"]), wrong["warnings"]
    assert _seed_count(hub, 'cv_ocr_total{type="id"}') == ids_before + 2
    assert _seed_count(hub, 'cv_ocr_requests_total{document_type="passport"}') == (
        passports_before + 2
    )
    # a card whose title was cut off: the text does not say what it is, the caller does
    card = render_id_card(VIETNAMESE_ID)
    untitled = card.crop((0, 145, card.width, card.height))
    plain = _post(hub, ID, png_bytes(untitled))
    assert plain["document_type"] is None
    told = _post(hub, ID, png_bytes(untitled), document_type="id_card", country="VN")
    assert told["document_type"] == "id_card"
    assert told["id_number"] == VIETNAMESE_ID.id_number


def test_unknown_document_type_is_422(hub: RunningHub) -> None:
    response = hub.http.post(ID, json={"image": "x", "document_type": "library_card"})
    assert response.status_code == 422
    assert "document_type" in response.text


def test_ocr_needs_cv_write(hub: RunningHub) -> None:
    payload = {"image": b64(png_bytes(render_invoice(ENGLISH_INVOICE)))}
    assert hub.anonymous.post(INVOICE, json=payload).status_code == 401
    reader = scoped_headers(hub.settings, Scope.CV_READ)
    for path in (INVOICE, ID):
        response = hub.anonymous.post(path, json=payload, headers=reader)
        assert response.status_code == 403
        assert "cv:write" in response.json()["detail"]
    assert hub.anonymous.get("/api/v1/cv/ocr/results/1", headers=reader).status_code == 403


def _png_b64(image: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


PDF = base64.b64encode(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n").decode()
FORTY_MB = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(40 * 1024 * 1024)).decode()

BAD_INPUTS = [
    pytest.param({"image": "!!not base64!!"}, 422, "image", "base64", id="not-base64"),
    pytest.param(
        {"image": base64.b64encode(b"just some text").decode()},
        415,
        "image",
        "not a JPEG or PNG",
        id="not-an-image",
    ),
    pytest.param({"image": PDF}, 415, "image", "PDF", id="pdf"),
    pytest.param(
        {"image": _png_b64(np.zeros((1, 1, 3), np.uint8))}, 422, "image", "too small", id="1x1"
    ),
    pytest.param({"image": FORTY_MB}, 413, "image", "larger than", id="40-mb"),
    pytest.param(
        {"image": _png_b64(np.full((6000, 8000), 255, np.uint8))},
        413,
        "image",
        "pixel limit",
        id="48-megapixels",
    ),
    pytest.param(
        {"image": _png_b64(np.full((400, 600, 3), 255, np.uint8))},
        422,
        "image",
        "no text",
        id="blank-page",
    ),
    pytest.param({"image": ""}, 422, "image", "at least 1", id="empty"),
    pytest.param({}, 422, "image", "required", id="missing"),
    pytest.param({"image": PDF, "language": "fr"}, 422, "language", "'auto'", id="bad-language"),
    pytest.param({"image": PDF, "extra": 1}, 422, "extra", "not permitted", id="extra-field"),
]


@pytest.mark.parametrize("path", [INVOICE, ID])
@pytest.mark.parametrize(("body", "status", "field", "reason"), BAD_INPUTS)
def test_bad_input_is_4xx_with_a_reason(
    hub: RunningHub, path: str, body: dict[str, Any], status: int, field: str, reason: str
) -> None:
    response = hub.http.post(path, json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["detail"]
    assert any(
        e["field"] == field and reason.lower() in e["reason"].lower() for e in payload["errors"]
    ), payload


def test_unknown_result_id_is_4xx(hub: RunningHub) -> None:
    assert hub.http.get("/api/v1/cv/ocr/results/999999").status_code == 404
    assert hub.http.get("/api/v1/cv/ocr/results/0").status_code == 422
    assert hub.http.delete("/api/v1/cv/ocr/results/abc").status_code == 422


def test_missing_tesseract_is_503_with_the_reason(tmp_path: Path) -> None:
    settings = hub_settings(tmp_path / "hub", None, ocr_tesseract_cmd="/nonexistent/tesseract")
    with running_hub(settings, start_ingest=False) as hub:
        payload = {"image": b64(png_bytes(render_invoice(ENGLISH_INVOICE)))}
        response = hub.http.post(INVOICE, json=payload)
        assert response.status_code == 503
        assert "tesseract" in response.json()["detail"]
        assert "/nonexistent/tesseract" in response.json()["detail"]
        # bad input is still refused for what it is, before any engine is needed
        assert hub.http.post(ID, json={"image": PDF}).status_code == 415


def test_rapidocr_alone_needs_no_tesseract(tmp_path: Path) -> None:
    settings = hub_settings(
        tmp_path / "hub",
        None,
        ocr_engine="rapidocr",
        ocr_tesseract_cmd="/nonexistent/tesseract",
    )
    with running_hub(settings, start_ingest=False) as hub:
        body = _post(hub, INVOICE, png_bytes(render_invoice(ENGLISH_INVOICE)))
        assert body["engine"] == "rapidocr"
        assert body["total_amount"] == _number(ENGLISH_INVOICE.total)


def test_tesseract_alone_reads_a_vietnamese_card() -> None:
    engines = load_engines(OcrConfig(engine="tesseract"))
    assert engines.rapid is None
    rgb = np.asarray(render_id_card(VIETNAMESE_ID).convert("RGB"), dtype=np.uint8)
    page = read_page(engines, np.ascontiguousarray(rgb[:, :, ::-1]), language="auto", max_side=2400)
    assert page.engine == "tesseract"
    assert page.language == "vi"
    texts = [row.text for row in page.rows]
    assert "CĂN CƯỚC CÔNG DÂN" in texts
    assert "12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội" in texts


@pytest.mark.parametrize("angle", [0.0, 1.5, -3.0])
def test_page_skew_is_measured(angle: float) -> None:
    turned = (
        render_invoice(ENGLISH_INVOICE)
        .convert("RGB")
        .rotate(angle, expand=True, fillcolor=(255, 255, 255))
    )
    rgb = np.asarray(turned, dtype=np.uint8)
    assert estimate_skew(np.ascontiguousarray(rgb[:, :, ::-1])) == pytest.approx(-angle, abs=0.3)
