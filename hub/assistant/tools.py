"""Read-only tools over hotel data (an injected :class:`HotelData`), each with the roles that
may use it; :func:`tools_for` gives the LangChain tools of one caller's role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from hub.assistant.context import AskerContext
from hub.assistant.data import HotelData
from hub.auth.scopes import Role

ALL_ROLES = frozenset(Role)
SUPERVISORS = frozenset({Role.ADMIN, Role.MANAGER})


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    roles: frozenset[Role]
    coroutine: Callable[..., Awaitable[Any]]


def _day(value: str | None) -> date | None:
    return None if not value else date.fromisoformat(value)


def tool_specs(data: HotelData) -> list[ToolSpec]:
    async def room_status(room_number: str) -> dict[str, Any]:
        room = await data.room_status(room_number.strip())
        return room if room is not None else {"room_number": room_number, "found": False}

    async def find_bookings(
        guest_id: int | None = None, room_number: str | None = None, on_date: str | None = None
    ) -> dict[str, Any]:
        try:
            day = _day(on_date)
        except ValueError:
            return {"error": "on_date must be YYYY-MM-DD"}
        rows = await data.bookings(guest_id=guest_id, room_number=room_number, on_date=day)
        return {"bookings": rows}

    async def housekeeping_items() -> dict[str, Any]:
        return {"rooms": await data.rooms_needing_housekeeping()}

    async def recent_anomalies(limit: int = 10) -> dict[str, Any]:
        return {"anomalies": await data.recent_anomalies(max(1, limit))}

    async def recent_face_events(limit: int = 10) -> dict[str, Any]:
        return {"events": await data.recent_face_events(max(1, limit))}

    async def employee_attendance(
        employee_id: str | None = None, day: str | None = None
    ) -> dict[str, Any]:
        try:
            parsed = _day(day) or date.today()
        except ValueError:
            return {"error": "day must be YYYY-MM-DD"}
        return {"attendance": await data.attendance(employee_id, parsed)}

    return [
        ToolSpec(
            "room_status",
            "Current status, type and floor of one room, by room number (e.g. '201').",
            ALL_ROLES,
            room_status,
        ),
        ToolSpec(
            "find_bookings",
            "Bookings filtered by guest id, room number and/or a date (YYYY-MM-DD) the stay "
            "covers. Returns references, rooms, dates and statuses (no guest contact data).",
            ALL_ROLES,
            find_bookings,
        ),
        ToolSpec(
            "housekeeping_items",
            "Rooms currently waiting for cleaning or maintenance.",
            ALL_ROLES,
            housekeeping_items,
        ),
        ToolSpec(
            "recent_anomalies",
            "The most recent security anomalies detected by cameras.",
            SUPERVISORS,
            recent_anomalies,
        ),
        ToolSpec(
            "recent_face_events",
            "The most recent face-recognition events from cameras.",
            SUPERVISORS,
            recent_face_events,
        ),
        ToolSpec(
            "employee_attendance",
            "Employee attendance on a day (YYYY-MM-DD, default today), optionally one employee.",
            SUPERVISORS,
            employee_attendance,
        ),
    ]


def tools_for(data: HotelData, context: AskerContext) -> list[BaseTool]:
    """The tools the caller's role may use; the others are never bound to the model."""
    return [
        StructuredTool.from_function(
            coroutine=spec.coroutine, name=spec.name, description=spec.description
        )
        for spec in tool_specs(data)
        if context.role in spec.roles
    ]
