"""The Rooms board of the staff console (issue 18 item 4): every room with its board status and
its last inspection, by floor.

Board statuses, from the room's status in the hub and its last inspection (hub/vision/
room_service.py logs one per photo):

- ``occupied``: the room's status is occupied.
- ``out_of_order``: out_of_order or maintenance.
- ``dirty``: cleaning, and no inspection since the room became so.
- ``cleaning``: cleaning, and the last inspection since then found work left (not ready).
- ``inspected``: available, and its last inspection since then found it ready.
- ``ready``: available without such an inspection (set ready by hand or by the PMS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.tables import Room, RoomAnalysisLog

BOARD_STATUSES = ("dirty", "cleaning", "inspected", "ready", "occupied", "out_of_order")
# an analysis and the status change it causes are written in one transaction (same clock)
_SAME_MOMENT = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class BoardRoom:
    room_number: str
    floor: int
    room_type: str
    status: str  # the hub's
    board_status: str
    updated_at: datetime
    last_inspection: RoomAnalysisLog | None


def board_status(status: str, updated_at: datetime, last: RoomAnalysisLog | None) -> str:
    """The board status of a room (see the module's docstring)."""
    if status == "occupied":
        return "occupied"
    if status in ("out_of_order", "maintenance"):
        return "out_of_order"
    fresh = last is not None and last.analysed_at >= updated_at - _SAME_MOMENT
    if status == "cleaning":
        return "cleaning" if fresh else "dirty"
    if fresh and last is not None and last.ready_for_guest:
        return "inspected"
    return "ready"


async def latest_inspections(
    session: AsyncSession, room_ids: Sequence[int]
) -> dict[int, RoomAnalysisLog]:
    """The last inspection of each room (by id)."""
    if not room_ids:
        return {}
    newest = (
        select(RoomAnalysisLog.room_id, func.max(RoomAnalysisLog.id).label("last_id"))
        .where(col(RoomAnalysisLog.room_id).in_(list(room_ids)))
        .group_by(col(RoomAnalysisLog.room_id))
        .subquery()
    )
    rows = await session.exec(
        select(RoomAnalysisLog).join(newest, col(RoomAnalysisLog.id) == newest.c.last_id)
    )
    return {int(r.room_id): r for r in rows.all() if r.room_id is not None}


async def board(session: AsyncSession, floor: int | None = None) -> list[BoardRoom]:
    """Every room (of ``floor``), ordered by floor then room number."""
    query = select(Room)
    if floor is not None:
        query = query.where(Room.floor == floor)
    rooms = list((await session.exec(query.order_by(col(Room.floor), col(Room.room_number)))).all())
    last = await latest_inspections(session, [int(r.id) for r in rooms if r.id is not None])
    out = []
    for room in rooms:
        inspection = last.get(int(room.id or 0))
        out.append(
            BoardRoom(
                room_number=room.room_number,
                floor=room.floor,
                room_type=room.room_type,
                status=room.status,
                board_status=board_status(room.status, room.updated_at, inspection),
                updated_at=room.updated_at,
                last_inspection=inspection,
            )
        )
    return out


async def inspection(session: AsyncSession, analysis_id: int) -> RoomAnalysisLog | None:
    return await session.get(RoomAnalysisLog, analysis_id)
