"""Consent to face processing and the privacy notices (issue 17 item 3).

- ``/api/v1/privacy/notices``: the versioned notice texts (vi, en), one as JSON or as a PDF for
  signature (``hotel:read``: every staff member may read what they are asked to sign).
- ``/api/v1/privacy/consents``: record (``consent:write``: HR / managers), read
  (``hotel:pii``: the DPO and managers) and withdraw (``consent:write``) a person's consent.
  Withdrawal deletes the person's templates and crops (the edges drop them at the next gallery
  sync) and moves them to PIN / badge check-in. Every action is in the hash-chained audit log.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, Security
from pydantic import BaseModel, ConfigDict, Field

from contracts.ids import ID_PATTERN
from hub.api.auth import authorize
from hub.api.deps import Runtime
from hub.api.errors import field_error
from hub.api.params import UtcDateTime
from hub.auth.principal import Principal
from hub.auth.scopes import Scope
from hub.privacy.consent import (
    ConsentError,
    ConsentInput,
    ConsentNotFoundError,
    ConsentService,
)
from hub.privacy.consent_store import ConsentMethod, Purpose
from hub.privacy.notices_library import (
    VERSION_PATTERN,
    Notice,
    NoticeNotFoundError,
    get_notice,
    list_notices,
)
from hub.tables import ConsentRecord

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])

NoticeReader = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_READ])]
ConsentReader = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_PII])]
ConsentWriter = Annotated[Principal, Security(authorize, scopes=[Scope.CONSENT_WRITE])]
EmployeeId = Annotated[str, Path(pattern=ID_PATTERN)]
Version = Annotated[str, Path(pattern=VERSION_PATTERN, max_length=32)]
Language = Annotated[str, Path(pattern="^(vi|en)$")]


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


class NoticeSummary(BaseModel):
    version: str
    language: str
    title: str
    sha256: str = Field(description="SHA-256 of the text (UTF-8): what a consent refers to.")


class NoticeOut(NoticeSummary):
    text: str = Field(description="Markdown.")


class NoticesResponse(BaseModel):
    items: list[NoticeSummary]


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: Annotated[str, Field(pattern=ID_PATTERN)] = Field(
        description="The person (the employee may be created later, at enrolment)."
    )
    purpose: Purpose
    notice_version: Annotated[str, Field(pattern=VERSION_PATTERN, max_length=32)] = Field(
        description="The notice shown (GET /api/v1/privacy/notices), e.g. face-v1."
    )
    notice_language: Annotated[str, Field(pattern="^(vi|en)$")]
    method: ConsentMethod = Field(description="signed_paper | electronic | verbal_recorded")
    given_at: UtcDateTime | None = Field(
        default=None,
        description="When the person gave it (ISO 8601; without an offset it is UTC; "
        "default: now).",
    )


class ConsentOut(BaseModel):
    consent_id: int
    employee_id: str
    purpose: str
    notice_version: str
    notice_language: str
    method: str
    given_at: datetime
    recorded_by: str
    recorded_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None

    @classmethod
    def of(cls, row: ConsentRecord) -> ConsentOut:
        return cls(
            consent_id=int(row.id or 0),
            employee_id=row.employee_id,
            purpose=row.purpose,
            notice_version=row.notice_version,
            notice_language=row.notice_language,
            method=row.method,
            given_at=row.given_at,
            recorded_by=row.recorded_by,
            recorded_at=row.recorded_at,
            withdrawn_at=row.withdrawn_at,
            withdrawn_by=row.withdrawn_by,
        )


class ConsentsResponse(BaseModel):
    items: list[ConsentOut]


class PersonConsents(BaseModel):
    employee_id: str
    employee_known: bool = Field(description="Whether the employee exists on the hub yet.")
    active: bool = Field(description="At least one consent not withdrawn: enrolment allowed.")
    non_biometric_checkin: bool = Field(
        description="Checks in by PIN / badge only (face consent withdrawn)."
    )
    consents: list[ConsentOut] = Field(description="The history, oldest first.")


class WithdrawRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Purpose | None = Field(default=None, description="Default: every purpose.")


class WithdrawResponse(BaseModel):
    employee_id: str
    withdrawn: list[ConsentOut]
    remaining_consents: int
    embeddings_deleted: int
    face_crops_deleted: int
    gallery_version: int | None = Field(
        description="The gallery without the person (edges drop her at their next sync)."
    )
    non_biometric_checkin: bool


# ---------------------------------------------------------------------------------------------
# Notices
# ---------------------------------------------------------------------------------------------


def _summary(notice: Notice) -> NoticeSummary:
    return NoticeSummary(
        version=notice.version, language=notice.language, title=notice.title, sha256=notice.sha256
    )


def _notice(version: str, language: str) -> Notice:
    try:
        return get_notice(version, language)
    except NoticeNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error("version", str(err))) from err


@router.get("/notices", response_model=NoticesResponse)
async def notices(_caller: NoticeReader) -> NoticesResponse:
    """Every notice version and language."""
    return NoticesResponse(items=[_summary(n) for n in list_notices()])


@router.get("/notices/{version}/{language}", response_model=NoticeOut)
async def notice(_caller: NoticeReader, version: Version, language: Language) -> NoticeOut:
    """One notice's text (Markdown)."""
    found = _notice(version, language)
    return NoticeOut(**_summary(found).model_dump(), text=found.text)


@router.get("/notices/{version}/{language}/pdf", response_class=Response)
async def notice_as_pdf(
    _caller: NoticeReader,
    version: Version,
    language: Language,
    employee_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Response:
    """The notice as an A4 PDF for signature (``employee_id`` pre-filled when given)."""
    found = _notice(version, language)
    # matplotlib is imported here, not at start: most hubs never render a notice PDF
    from hub.privacy.notices_pdf import notice_pdf

    data = await asyncio.to_thread(notice_pdf, found, employee_id=employee_id)
    return Response(
        content=data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{version}.{language}.pdf"'},
    )


# ---------------------------------------------------------------------------------------------
# Consents
# ---------------------------------------------------------------------------------------------


def _service(runtime: Runtime) -> ConsentService:
    return ConsentService(runtime.session_factory, runtime.gallery)


@router.post("/consents", response_model=ConsentOut, status_code=201)
async def record_consent(
    runtime: Runtime, principal: ConsentWriter, request: ConsentCreate
) -> ConsentOut:
    """Record a person's consent (needed before any face enrolment); ``recorded_by`` is the
    caller. A new consent also puts the person back on face check-in."""
    data = ConsentInput(
        employee_id=request.employee_id,
        purpose=request.purpose,
        notice_version=request.notice_version,
        notice_language=request.notice_language,
        method=request.method,
        given_at=request.given_at or datetime.now(UTC),
    )
    try:
        row = await _service(runtime).record(data, actor=principal.actor)
    except ConsentError as err:
        raise HTTPException(status_code=422, detail=field_error(err.field, err.reason)) from err
    return ConsentOut.of(row)


@router.get("/consents", response_model=ConsentsResponse)
async def consents(
    runtime: Runtime,
    _caller: ConsentReader,
    response: Response,
    active: Annotated[bool, Query(description="Only consents not withdrawn.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ConsentsResponse:
    """Consent records, newest first."""
    rows = await _service(runtime).listing(active_only=active, limit=limit)
    response.headers["Cache-Control"] = "no-store"
    return ConsentsResponse(items=[ConsentOut.of(r) for r in rows])


@router.get("/consents/{employee_id}", response_model=PersonConsents)
async def person_consents(
    runtime: Runtime, _caller: ConsentReader, response: Response, employee_id: EmployeeId
) -> PersonConsents:
    """One person's consent history and check-in mode (404 when nothing is recorded)."""
    state = await _service(runtime).state(employee_id)
    if not state.consents and not state.employee_known:
        raise HTTPException(
            status_code=404,
            detail=field_error("employee_id", f"nothing is recorded for {employee_id!r}"),
        )
    response.headers["Cache-Control"] = "no-store"
    return PersonConsents(
        employee_id=employee_id,
        employee_known=state.employee_known,
        active=state.active,
        non_biometric_checkin=state.non_biometric_checkin,
        consents=[ConsentOut.of(c) for c in state.consents],
    )


@router.post("/consents/{employee_id}/withdraw", response_model=WithdrawResponse)
async def withdraw_consent(
    runtime: Runtime,
    principal: ConsentWriter,
    employee_id: EmployeeId,
    request: WithdrawRequest | None = None,
) -> WithdrawResponse:
    """Withdraw the consent (of one purpose, else all). With none left: the person's templates
    and crops are deleted on the hub, a gallery without them is published (every edge drops
    them at its next sync), and the person checks in by PIN / badge from now on."""
    purpose = request.purpose if request is not None else None
    try:
        result = await _service(runtime).withdraw(
            employee_id, actor=principal.actor, purpose=purpose
        )
    except ConsentNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error(err.field, err.reason)) from err
    removal = result.removal
    return WithdrawResponse(
        employee_id=employee_id,
        withdrawn=[ConsentOut.of(c) for c in result.withdrawn],
        remaining_consents=result.remaining,
        embeddings_deleted=removal.faces_deleted if removal is not None else 0,
        face_crops_deleted=removal.crops_deleted if removal is not None else 0,
        gallery_version=(
            removal.gallery.version if removal is not None and removal.gallery else None
        ),
        non_biometric_checkin=result.non_biometric_checkin,
    )
