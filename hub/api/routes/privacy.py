"""Subject rights (issue 17 item 5): a person's data exported as a ZIP, and erased with a report
of what was removed where. Both need ``privacy:admin`` (the admin and the ``dpo`` role); both
leave an audit row (actor, action, the subject's id, counts: never data). Thin: the logic is
hub/privacy."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, Security
from pydantic import BaseModel, Field

from hub.api.auth import authorize
from hub.api.deps import HubRuntime, Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.auth.principal import Principal
from hub.auth.scopes import Scope
from hub.crypto import cipher_for
from hub.privacy.erasure import erase_subject
from hub.privacy.export import Detector, build_export, sealed_crop_opener
from hub.privacy.subjects import Subject, SubjectError, find_subject, record
from hub.tables import utcnow
from models.faces import FaceBox, Image, ModelUnavailableError

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])

PrivacyAdmin = Annotated[Principal, Security(authorize, scopes=[Scope.PRIVACY_ADMIN])]
SubjectId = Annotated[
    str,
    Path(min_length=1, max_length=64, description="an employee_id, or a guest's guest_ref"),
    StorableText,
]
Kind = Annotated[
    Literal["employee", "guest"] | None,
    Query(description="which kind of person the id names, when it could be both"),
]
EXPORT_ACTION = "privacy.export"


class ErasureReportOut(BaseModel):
    subject: dict[str, str] = Field(description="kind and id of the erased person")
    deleted: dict[str, int] = Field(description="rows deleted per table")
    pseudonymised: dict[str, int] = Field(
        description="rows kept with the person replaced (pseudonym or cleared fields)"
    )
    kept: dict[str, dict[str, Any]] = Field(description="rows kept on purpose, and why")
    objects: dict[str, int] = Field(description="object-store keys deleted and failed")
    edges: dict[str, Any] = Field(description="the gallery version the edges will sync")


async def _subject(session: Session, subject_id: str, kind: str | None) -> Subject:
    try:
        return await find_subject(session, subject_id, kind)
    except SubjectError as err:
        raise HTTPException(err.status, detail=field_error(err.field, err.reason)) from err


async def _detector(runtime: HubRuntime) -> Detector | None:
    """The hub's face detector, or None (then snapshots are blurred all but the subject)."""
    try:
        analyzer = await runtime.faces.get()
    except ModelUnavailableError:
        return None

    def detect(image: Image) -> list[FaceBox]:
        return [face.box for face in analyzer.detect(image)]

    return detect


@router.get(
    "/subjects/{subject_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the ZIP"}},
)
async def export_subject(
    subject_id: SubjectId,
    runtime: Runtime,
    session: Session,
    caller: PrivacyAdmin,
    kind: Kind = None,
) -> Response:
    """Everything the hub holds about one person as a ZIP (JSON + images, manifest.json):
    the person's row, face events with their snapshots (other people's faces blurred),
    recognitions, attendance, enrolment crops, consent history; for a guest bookings, orders,
    OCR readings, lost items."""
    subject = await _subject(session, subject_id, kind)
    data, manifest = await build_export(
        session,
        runtime.store,
        subject,
        detect=await _detector(runtime),
        open_crop=sealed_crop_opener(cipher_for(runtime.engine.dialect)),
        actor=caller.actor,
        now=utcnow(),
    )
    counts = {name: section["records"] for name, section in manifest["sections"].items()}
    await session.rollback()  # end the read: the audit row is written in a fresh transaction
    async with runtime.session_factory() as own:
        record(
            own,
            caller.actor,
            EXPORT_ACTION,
            subject,
            {"records": counts, "files": len(manifest["files"])},
        )
        await own.commit()
    safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", subject.subject_id)  # a header: ASCII only
    filename = f"subject-{subject.kind.value}-{safe_id}.zip"
    return Response(
        content=data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.delete("/subjects/{subject_id}", response_model=ErasureReportOut)
async def erase(
    subject_id: SubjectId,
    runtime: Runtime,
    session: Session,
    caller: PrivacyAdmin,
    kind: Kind = None,
    attendance: Annotated[
        Literal["retention", "delete"],
        Query(
            description="retention: attendance younger than retention_attendance_days is kept "
            "(working-time records); delete: all of it goes"
        ),
    ] = "retention",
) -> ErasureReportOut:
    """Erase one person: templates and crops (the edges drop them at the next gallery sync),
    face events pseudonymised with their snapshots deleted, recognitions deleted, attendance
    per the retention rules, guest PII cleared; answers what was removed where."""
    subject = await _subject(session, subject_id, kind)
    await session.rollback()  # the erasure writes in transactions of its own
    report = await erase_subject(
        runtime.session_factory,
        runtime.store,
        runtime.gallery,
        subject,
        actor=caller.actor,
        attendance_days=runtime.settings.retention_attendance_days,
        attendance=attendance,
    )
    return ErasureReportOut(**report.as_dict())
