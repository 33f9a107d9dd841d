"""The attendance board's routes: the day's board, corrections (audited) and the payroll CSV.
PIN and badge entries go to ``POST /api/v1/prefect/events/attendance`` (``method``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Security
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.auth import Principal, authorize
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.auth.scopes import Scope
from hub.console import attendance
from hub.console.errors import FieldRefusedError
from hub.tables import utcnow

router = APIRouter(prefix="/console/api/attendance", tags=["console"])

# names of employees are personal: the board needs hotel:pii besides hotel:read
BoardReader = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_READ, Scope.HOTEL_PII])]
Corrector = Annotated[
    Principal, Security(authorize, scopes=[Scope.HOTEL_READ, Scope.HOTEL_PII, Scope.HOTEL_WRITE])
]
MAX_EXPORT_DAYS = 62


class BoardRowOut(BaseModel):
    employee_id: str
    name: str
    department: str | None
    shift: str | None
    state: str = Field(description="in | late | out | absent | scheduled | off")
    attendance_log_id: int | None
    check_in_at: datetime | None
    check_out_at: datetime | None
    method: str | None
    status: str | None
    corrected: bool


class BoardOut(BaseModel):
    date: date
    timezone: str
    items: list[BoardRowOut]


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: Annotated[str, Field(min_length=1, max_length=64), StorableText]
    work_date: date
    status: Annotated[str, Field(pattern="^(present|late|absent)$")]
    check_in_at: datetime | None = None
    check_out_at: datetime | None = None
    reason: Annotated[str, Field(min_length=3, max_length=500), StorableText]


class CorrectionOut(BaseModel):
    id: int
    attendance_log_id: int
    employee_id: str
    work_date: date
    status: str
    previous_status: str | None
    check_in_at: datetime | None
    check_out_at: datetime | None
    reason: str
    corrected_by: str
    created_at: datetime


def _zone(runtime: Runtime) -> ZoneInfo:
    return ZoneInfo(runtime.settings.timezone)


def _aware(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A time without an offset is the hotel's local time (what the board shows)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


@router.get("", response_model=BoardOut)
async def attendance_board(
    session: Session,
    runtime: Runtime,
    _reader: BoardReader,
    day: Annotated[date | None, Query(alias="date", description="default: today (hotel)")] = None,
) -> BoardOut:
    """Every active employee's state on the day: in, late, out, absent, scheduled or off."""
    zone = _zone(runtime)
    now = utcnow()
    day = day or now.astimezone(zone).date()
    rows = await attendance.board(
        session, day, zone, now, runtime.settings.attendance_grace_minutes
    )
    return BoardOut(
        date=day,
        timezone=runtime.settings.timezone,
        items=[BoardRowOut.model_validate(asdict(r)) for r in rows],
    )


@router.post("/corrections", response_model=CorrectionOut, status_code=201)
async def correct_attendance(
    body: CorrectionIn, session: Session, runtime: Runtime, principal: Corrector
) -> CorrectionOut:
    """Sets an employee's status (and times; without an offset: the hotel's local time) for a
    day, with the reason; audited."""
    zone = _zone(runtime)
    try:
        row = await attendance.correct(
            session,
            employee_id=body.employee_id,
            day=body.work_date,
            status=body.status,
            check_in_at=_aware(body.check_in_at, zone),
            check_out_at=_aware(body.check_out_at, zone),
            reason=body.reason.strip(),
            actor=principal.actor,
            tz=zone,
        )
    except attendance.EmployeeNotFoundError:
        raise HTTPException(
            404, detail=field_error("employee_id", f"no employee {body.employee_id!r}")
        ) from None
    except FieldRefusedError as err:
        raise HTTPException(422, detail=field_error(err.field, err.reason)) from err
    return CorrectionOut.model_validate(row, from_attributes=True)


@router.get("/export.csv", response_class=Response)
async def payroll_export(
    session: Session,
    runtime: Runtime,
    _reader: BoardReader,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
) -> Response:
    """Payroll CSV (UTF-8 with BOM for spreadsheets), ``from``..``to`` inclusive (≤ 62 days)."""
    if end < start:
        raise HTTPException(422, detail=field_error("to", "before 'from'"))
    if end - start > timedelta(days=MAX_EXPORT_DAYS):
        raise HTTPException(422, detail=field_error("to", f"at most {MAX_EXPORT_DAYS} days"))
    text = await attendance.payroll_csv(session, start, end, _zone(runtime))
    return Response(
        ("\ufeff" + text).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="attendance-{start}-{end}.csv"'},
    )
