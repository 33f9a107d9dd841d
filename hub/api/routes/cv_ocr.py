"""/api/v1/cv/ocr: invoices and identity documents read by OCR (issue 5).

Access: ``cv:write`` for every OCR route (a reading is stored, and identity documents are
personal data), rate limited per caller like enrolment. Results are stored in ``ocr_results``
with the OCR text and the identity fields encrypted at rest; ``DELETE`` removes one.
Images go through :mod:`hub.vision.decode` (4xx with the reason for anything unusable); the OCR
runs in a worker thread, its engines load on first use, and a missing engine answers 503 with
the reason. Nothing personal is logged.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, Security
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.auth import Authorize, CvWriter, Principal
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.routes.metrics import cv_metrics_of
from hub.api.uploads import decode_upload
from hub.auth.scopes import Scope
from hub.settings import HubSettings
from hub.tables import OcrResult
from hub.vision.ocr_id import IdFields, seed_type
from hub.vision.ocr_invoice import InvoiceFields
from hub.vision.ocr_service import (
    OcrConfig,
    OcrEngines,
    OcrFailedError,
    OcrService,
    OcrUnavailableError,
    PageText,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])

OcrUser = Annotated[Principal, Security(Authorize(rate_limit="ocr"), scopes=[Scope.CV_WRITE])]


def build_ocr_service(settings: HubSettings) -> OcrService:
    """The app's OCR service, kept as ``app.state.ocr``; nothing loads here."""
    config = OcrConfig(
        engine=settings.ocr_engine,  # type: ignore[arg-type]  # validated by its pattern
        tesseract_cmd=settings.ocr_tesseract_cmd,
        tesseract_langs=settings.ocr_tesseract_langs,
        max_side=settings.ocr_max_side,
        threads=settings.ocr_threads,
        timezone=settings.timezone,
    )
    return OcrService(OcrEngines(config))


def get_ocr(request: Request) -> OcrService:
    """``app.state.ocr``, made by ``create_app`` (its engines load on the first reading)."""
    service: OcrService = request.app.state.ocr
    return service


Ocr = Annotated[OcrService, Depends(get_ocr)]


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------


SEED_INVOICE_EXAMPLES: list[JsonValue] = [
    {"image": "base64_encoded_invoice_image", "language": "vi"},  # 004_51257e8afc5aac28.txt
    {"image": "base64_encoded_image"},  # 000_3e23a4a0d17304c3.txt
]
SEED_ID_EXAMPLES: list[JsonValue] = [
    {  # 004_51257e8afc5aac28.txt, POST /api/v1/cv/ocr/id
        "image": "base64_encoded_id_image",
        "document_type": "id_card",
        "country": "VN",
    },
    {  # 000_3e23a4a0d17304c3.txt ("id_card|passport|driver_license": one of them)
        "image": "base64_encoded_image",
        "document_type": "id_card|passport|driver_license",
    },
]
DocumentType = Literal["id_card", "passport", "driver_license"]


class OcrRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": SEED_INVOICE_EXAMPLES})

    image: str = Field(
        min_length=1, description="Base64 JPEG or PNG of the page (a data: URL prefix is accepted)."
    )
    language: Literal["auto", "vi", "en"] = Field(
        default="auto", description="vi: read with the Vietnamese engine too; auto: detect."
    )
    include_text: bool = Field(default=False, description="Return the OCR lines as well.")


class IdRequest(OcrRequest):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": SEED_ID_EXAMPLES})

    document_type: DocumentType | None = Field(
        default=None,
        description="What the document is: stands in when the text does not say, allows a "
        "Vietnamese card's bare number, and a disagreement is a warning.",
    )
    country: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2,3}$",
        description="Issuing country, ISO 3166 alpha-2 or alpha-3 (VN, VNM); checked against "
        "the MRZ.",
    )


class OcrTextLine(BaseModel):
    text: str
    box: list[int] = Field(
        description="[x0, y0, x1, y1] in pixels of the page as read (scaled down to "
        "ocr_max_side, levelled when askew)"
    )
    confidence: float
    engine: str


class InvoiceItemOut(BaseModel):
    description: str
    quantity: float | None
    unit_price: float | None
    amount: float | None
    confidence: float


class OcrCommon(BaseModel):
    success: bool = True
    confidence: float = Field(description="The mean of the per-field confidences, 0..1.")
    ocr_time_ms: float
    result_id: int
    language: str
    engine: str
    field_confidence: dict[str, float] = Field(description="Per field, 0..1.")
    warnings: list[str]
    text: list[OcrTextLine] | None = None


class InvoiceResponse(OcrCommon):
    invoice_number: str | None
    invoice_date: date | None = Field(serialization_alias="date")
    vendor: str | None
    total_amount: float | None
    currency: str | None
    items: list[InvoiceItemOut]
    tax_amount: float | None
    raw_text: str = Field(description="The page's text, row by row.")
    document_type: Literal["invoice"] = "invoice"
    subtotal: float | None


class MrzOut(BaseModel):
    format: str = Field(description="TD3 (passport) | TD1 (ID card)")
    lines: list[str]
    valid: bool
    check_digits: dict[str, bool]


class IdResponse(OcrCommon):
    document_type: str | None = Field(
        description="id_card | passport | driver_license: what was read, else what was asked"
    )
    id_number: str | None
    full_name: str | None
    date_of_birth: date | None
    gender: str | None = Field(description="Male | Female")
    nationality: str | None
    address: str | None
    issue_date: date | None
    expiry_date: date | None
    detected_type: str | None = Field(
        description="cccd | cmnd | passport | id_card | driver_license | None (from the text)"
    )
    country: str | None
    place_of_origin: str | None
    mrz: MrzOut | None


class StoredOcrResult(BaseModel):
    result_id: int
    document_type: str
    language: str | None
    engine: str
    confidence: float | None
    processing_time_ms: float | None
    created_at: datetime
    fields: dict[str, Any]


class DeletedOcrResult(BaseModel):
    success: bool
    result_id: int


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _count(request: Request, document_type: str, outcome: str, kind: str | None = None) -> None:
    """``innsight_cv_ocr_requests{document_type, outcome}``, and the seed's
    ``cv_ocr_total{type}`` and ``cv_ocr_requests_total{document_type}``."""
    metrics = cv_metrics_of(request)
    metrics.ocr_requests.labels(document_type=document_type, outcome=outcome).inc()
    metrics.ocr_total.labels(type=kind or document_type).inc()
    metrics.ocr_requests_total.labels(document_type=document_type).inc()


GENDERS = {"M": "Male", "F": "Female"}
INVOICE_NAMES = {"invoice_date": "date", "tax": "tax_amount", "total": "total_amount"}
"""The parser's field names -> the API's (the seed's), for ``field_confidence``."""


def _unavailable(err: OcrUnavailableError) -> HTTPException:
    return HTTPException(status_code=503, detail=f"OCR unavailable: {err}")


def _failed(err: OcrFailedError) -> HTTPException:
    return HTTPException(status_code=422, detail=field_error("image", f"OCR failed: {err}"))


def _no_text(page: PageText) -> None:
    if not page.lines:
        raise HTTPException(
            status_code=422, detail=field_error("image", "no text was found in the image")
        )


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _overall(confidence: dict[str, float]) -> float:
    return round(sum(confidence.values()) / len(confidence), 3) if confidence else 0.0


def _text_lines(page: PageText) -> list[OcrTextLine]:
    return [
        OcrTextLine(
            text=line.text,
            box=line.box.as_list(),
            confidence=round(line.confidence, 3),
            engine=line.engine,
        )
        for line in page.lines
    ]


def _page_text(page: PageText) -> str:
    return "\n".join(row.text for row in page.rows)


async def _store(session: AsyncSession, row: OcrResult) -> int:
    session.add(row)
    await session.commit()
    await session.refresh(row)
    assert row.id is not None  # noqa: S101 - set by the insert
    return row.id


def _invoice_fields(fields: InvoiceFields) -> dict[str, Any]:
    return {
        "invoice_number": fields.invoice_number,
        "invoice_date": fields.invoice_date.isoformat() if fields.invoice_date else None,
        "vendor": fields.vendor,
        "items": [
            {
                "description": item.description,
                "quantity": _number(item.quantity),
                "unit_price": _number(item.unit_price),
                "amount": _number(item.amount),
                "confidence": item.confidence,
            }
            for item in fields.items
        ],
        "subtotal": _number(fields.subtotal),
        "tax": _number(fields.tax),
        "total": _number(fields.total),
        "currency": fields.currency,
    }


def _id_personal(fields: IdFields) -> dict[str, Any]:
    def iso(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id_number": fields.id_number,
        "full_name": fields.full_name,
        "date_of_birth": iso(fields.date_of_birth),
        "gender": fields.gender,
        "nationality": fields.nationality,
        "place_of_origin": fields.place_of_origin,
        "address": fields.address,
        "issue_date": iso(fields.issue_date),
        "expiry_date": iso(fields.expiry_date),
        "mrz_lines": list(fields.mrz.lines) if fields.mrz else None,
    }


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------


@router.post("/ocr/invoice", response_model=InvoiceResponse)
async def ocr_invoice(
    request: Request,
    runtime: Runtime,
    session: Session,
    principal: OcrUser,
    ocr: Ocr,
    body: OcrRequest,
) -> InvoiceResponse:
    image = await decode_upload(body.image, max_bytes=runtime.settings.max_upload_bytes)
    try:
        reading = await ocr.read_invoice(image, language=body.language)
    except OcrUnavailableError as err:
        _count(request, "invoice", "unavailable")
        raise _unavailable(err) from err
    except OcrFailedError as err:
        _count(request, "invoice", "failed")
        raise _failed(err) from err
    _no_text(reading.page)
    fields = reading.fields
    overall = _overall(fields.confidence)
    stored = _invoice_fields(fields)
    result_id = await _store(
        session,
        OcrResult(
            document_type="invoice",
            text=_page_text(reading.page),
            fields={**stored, "confidence": fields.confidence, "warnings": fields.warnings},
            language=reading.page.language,
            confidence=overall,
            engine=reading.page.engine,
            processing_time_ms=round(reading.elapsed_ms, 1),
            created_by=principal.actor,
        ),
    )
    _count(request, "invoice", "success")
    logger.info(
        "OCR invoice %s: %d items, %s, %.0f ms",
        result_id,
        len(fields.items),
        reading.page.engine,
        reading.elapsed_ms,
    )
    return InvoiceResponse(
        confidence=overall,
        ocr_time_ms=round(reading.elapsed_ms, 1),
        result_id=result_id,
        language=reading.page.language,
        engine=reading.page.engine,
        field_confidence={INVOICE_NAMES.get(k, k): v for k, v in fields.confidence.items()},
        warnings=fields.warnings,
        text=_text_lines(reading.page) if body.include_text else None,
        invoice_number=fields.invoice_number,
        invoice_date=fields.invoice_date,
        vendor=fields.vendor,
        total_amount=stored["total"],
        currency=fields.currency,
        items=[InvoiceItemOut(**item) for item in stored["items"]],
        tax_amount=stored["tax"],
        raw_text=_page_text(reading.page),
        subtotal=stored["subtotal"],
    )


@router.post("/ocr/id", response_model=IdResponse)
async def ocr_id(
    request: Request,
    runtime: Runtime,
    session: Session,
    principal: OcrUser,
    ocr: Ocr,
    body: IdRequest,
) -> IdResponse:
    image = await decode_upload(body.image, max_bytes=runtime.settings.max_upload_bytes)
    asked = body.document_type or "unknown"
    try:
        reading = await ocr.read_id(
            image, language=body.language, expected=body.document_type, country=body.country
        )
    except OcrUnavailableError as err:
        _count(request, asked, "unavailable", "id")
        raise _unavailable(err) from err
    except OcrFailedError as err:
        _count(request, asked, "failed", "id")
        raise _failed(err) from err
    _no_text(reading.page)
    fields = reading.fields
    overall = _overall(fields.confidence)
    mrz = (
        MrzOut(
            format=fields.mrz.format,
            lines=list(fields.mrz.lines),
            valid=fields.mrz.valid,
            check_digits=fields.mrz.check_digits,
        )
        if fields.mrz is not None
        else None
    )
    document_type = fields.document_type or "unknown"
    result_id = await _store(
        session,
        OcrResult(
            document_type=document_type,
            text=_page_text(reading.page),
            fields={  # nothing personal here: verdicts and confidences only
                "document_type": fields.document_type,
                "mrz_format": mrz.format if mrz else None,
                "mrz_valid": mrz.valid if mrz else None,
                "check_digits": mrz.check_digits if mrz else None,
                "confidence": fields.confidence,
                "warnings": fields.warnings,
            },
            personal_fields=json.dumps(_id_personal(fields), ensure_ascii=False),
            language=reading.page.language,
            confidence=overall,
            engine=reading.page.engine,
            processing_time_ms=round(reading.elapsed_ms, 1),
            created_by=principal.actor,
        ),
    )
    answered_type = seed_type(fields.document_type) or body.document_type
    _count(request, answered_type or "unknown", "success", "id")
    logger.info(
        "OCR id %s: %s, mrz %s, %s, %.0f ms",
        result_id,
        document_type,
        "valid" if mrz and mrz.valid else ("invalid" if mrz else "none"),
        reading.page.engine,
        reading.elapsed_ms,
    )
    return IdResponse(
        confidence=overall,
        ocr_time_ms=round(reading.elapsed_ms, 1),
        result_id=result_id,
        language=reading.page.language,
        engine=reading.page.engine,
        field_confidence=fields.confidence,
        warnings=fields.warnings,
        text=_text_lines(reading.page) if body.include_text else None,
        document_type=answered_type,
        id_number=fields.id_number,
        full_name=fields.full_name,
        date_of_birth=fields.date_of_birth,
        gender=GENDERS.get(fields.gender or "", fields.gender),
        nationality=fields.nationality,
        address=fields.address,
        issue_date=fields.issue_date,
        expiry_date=fields.expiry_date,
        detected_type=fields.document_type,
        country=body.country.upper() if body.country else None,
        place_of_origin=fields.place_of_origin,
        mrz=mrz,
    )


ResultId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # an INTEGER key on PostgreSQL


async def _stored(session: AsyncSession, result_id: int) -> OcrResult:
    row = await session.get(OcrResult, result_id)
    if row is None:
        raise HTTPException(
            status_code=404, detail=field_error("result_id", f"no OCR result {result_id}")
        )
    return row


@router.get("/ocr/results/{result_id}", response_model=StoredOcrResult)
async def get_ocr_result(
    session: Session, _principal: CvWriter, result_id: ResultId, response: Response
) -> StoredOcrResult:
    """One stored reading, personal fields decrypted (never cached)."""
    row = await _stored(session, result_id)
    fields = dict(row.fields)
    if row.personal_fields:
        fields.update(json.loads(row.personal_fields))
    response.headers["Cache-Control"] = "no-store"
    assert row.id is not None  # noqa: S101 - loaded from the table
    return StoredOcrResult(
        result_id=row.id,
        document_type=row.document_type,
        language=row.language,
        engine=row.engine,
        confidence=row.confidence,
        processing_time_ms=row.processing_time_ms,
        created_at=row.created_at,
        fields=fields,
    )


@router.delete("/ocr/results/{result_id}", response_model=DeletedOcrResult)
async def delete_ocr_result(
    session: Session, _principal: CvWriter, result_id: ResultId
) -> DeletedOcrResult:
    """Erase one stored reading (its text and fields)."""
    row = await _stored(session, result_id)
    await session.delete(row)
    await session.commit()
    logger.info("OCR result %s deleted", result_id)
    return DeletedOcrResult(success=True, result_id=result_id)
