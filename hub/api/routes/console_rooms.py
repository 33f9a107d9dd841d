"""/console/api/rooms: the Rooms board (issue 18 item 4).

- ``GET /board`` (``hotel:read``): every room by floor with its board status
  (hub/hotel/room_board.py) and its last inspection's summary.
- ``GET /inspections/{analysis_id}`` (``cv:read``): one inspection with its per-region
  findings and checklist.
- ``GET /inspections/{analysis_id}/photo`` (``cv:read``): the inspection photo (JPEG).

Photos are submitted through ``POST /api/v1/cv/room/analyze`` (``rooms:inspect``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from hub.api.auth import CvReader, scoped
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.auth.scopes import Scope
from hub.hotel.room_board import BOARD_STATUSES, board, inspection
from hub.storage import StorageError
from hub.tables import RoomAnalysisLog

router = APIRouter(prefix="/console/api/rooms", tags=["console"])

AnalysisId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class InspectionSummary(BaseModel):
    analysis_id: int
    ready_for_guest: bool | None
    overall_status: str | None = Field(description="clean | dirty | unverified")
    cleanliness_score: float | None
    tags: list[str]
    analysed_at: datetime
    analyzed_by: str | None
    has_photo: bool


class BoardRoomOut(BaseModel):
    room_number: str
    floor: int
    room_type: str
    status: str = Field(description="the room's status in the hub")
    board_status: str = Field(description=" | ".join(BOARD_STATUSES))
    updated_at: datetime
    last_inspection: InspectionSummary | None


class FloorOut(BaseModel):
    floor: int
    rooms: list[BoardRoomOut]


class BoardOut(BaseModel):
    floors: list[FloorOut]
    counts: dict[str, int] = Field(description="rooms per board status (every status named)")


def _summary(row: RoomAnalysisLog) -> InspectionSummary:
    overall = row.findings.get("overall_status")
    return InspectionSummary(
        analysis_id=int(row.id or 0),
        ready_for_guest=row.ready_for_guest,
        overall_status=overall if isinstance(overall, str) else None,
        cleanliness_score=row.score,
        tags=list(row.tags),
        analysed_at=row.analysed_at,
        analyzed_by=row.analyzed_by,
        has_photo=row.photo_key is not None,
    )


@router.get("/board", response_model=BoardOut, dependencies=[scoped(Scope.HOTEL_READ)])
async def rooms_board(
    session: Session, floor: Annotated[int | None, Query(ge=-10, le=500)] = None
) -> BoardOut:
    """Every room (of ``floor``) with its board status and last inspection, by floor."""
    rooms = await board(session, floor)
    floors: dict[int, list[BoardRoomOut]] = {}
    counts = dict.fromkeys(BOARD_STATUSES, 0)
    for room in rooms:
        counts[room.board_status] += 1
        floors.setdefault(room.floor, []).append(
            BoardRoomOut(
                room_number=room.room_number,
                floor=room.floor,
                room_type=room.room_type,
                status=room.status,
                board_status=room.board_status,
                updated_at=room.updated_at,
                last_inspection=_summary(room.last_inspection) if room.last_inspection else None,
            )
        )
    return BoardOut(
        floors=[FloorOut(floor=f, rooms=r) for f, r in sorted(floors.items())], counts=counts
    )


class InspectionOut(InspectionSummary):
    room_number: str | None
    regions: list[dict[str, Any]] = Field(
        description="per region: name, kind, changed, changed_fraction, max_changed_fraction, "
        "tag, changed_box (x, y, w, h as fractions of the photo) ..."
    )
    checklist: list[dict[str, Any]]
    notes: list[str]
    estimated_cleaning_minutes: int | None
    photo_url: str | None


async def _inspection(session: Session, analysis_id: int) -> RoomAnalysisLog:
    row = await inspection(session, analysis_id)
    if row is None:
        raise HTTPException(
            status_code=404, detail=field_error("analysis_id", f"no inspection {analysis_id}")
        )
    return row


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@router.get("/inspections/{analysis_id}", response_model=InspectionOut)
async def room_inspection(
    session: Session, _caller: CvReader, analysis_id: AnalysisId
) -> InspectionOut:
    """One inspection: its summary, per-region findings, checklist and notes."""
    row = await _inspection(session, analysis_id)
    findings = row.findings
    minutes = findings.get("estimated_cleaning_minutes")
    notes = findings.get("notes")
    return InspectionOut(
        **_summary(row).model_dump(),
        room_number=row.room_number,
        regions=_dicts(findings.get("regions")),
        checklist=_dicts(findings.get("checklist")),
        notes=[str(n) for n in notes] if isinstance(notes, list) else [],
        estimated_cleaning_minutes=int(minutes) if isinstance(minutes, int | float) else None,
        photo_url=f"{router.prefix}/inspections/{analysis_id}/photo" if row.photo_key else None,
    )


@router.get(
    "/inspections/{analysis_id}/photo",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def room_inspection_photo(
    runtime: Runtime, session: Session, _caller: CvReader, analysis_id: AnalysisId
) -> Response:
    """The inspection's photo (JPEG); 404 when none was kept (quick analyses) or it expired."""
    row = await _inspection(session, analysis_id)
    if row.photo_key is None:
        raise HTTPException(status_code=404, detail=field_error("analysis_id", "no photo was kept"))
    try:
        data = await asyncio.to_thread(runtime.store.get, row.photo_key)
    except StorageError as err:
        raise HTTPException(
            status_code=404, detail=field_error("analysis_id", "the photo is gone")
        ) from err
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "private"})
