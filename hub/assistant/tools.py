"""Read-only tools over hotel data (an injected :class:`HotelData`), each with the roles that
may use it; :func:`tools_for` gives the LangChain tools of one caller's role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from hub.assistant.actions import ActionArgsError, ActionSpec, ActionStore
from hub.assistant.context import AskerContext
from hub.assistant.data import HotelData
from hub.auth.scopes import Role

if TYPE_CHECKING:  # langchain loads on first use (tests/unit/test_lazy_imports.py)
    from langchain_core.tools import BaseTool

ALL_ROLES = frozenset(Role)
SUPERVISORS = frozenset({Role.ADMIN, Role.MANAGER})
FORECAST_TARGETS = ("occupancy", "price", "demand")
READY_STATUS = "available"  # a room clean and ready for a guest


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    roles: frozenset[Role]
    coroutine: Callable[..., Awaitable[Any]]


# The database tables each tool reads (an answer's ``sources``); the mutating tools only write a
# pending proposal (assistant_actions) until the user confirms it.
TOOL_TABLES: dict[str, tuple[str, ...]] = {
    "room_status": ("rooms",),
    "room_ready": ("rooms",),
    "find_bookings": ("bookings", "rooms"),
    "housekeeping_items": ("rooms",),
    "open_housekeeping_tasks": ("housekeeping_tasks",),
    "forecasts": ("ml_predictions",),
    "recent_anomalies": ("anomaly_detections",),
    "recent_face_events": ("events",),
    "employee_attendance": ("attendance_logs",),
    "recent_workflows": ("workflow_logs",),
    "create_housekeeping_task": ("assistant_actions",),
    "trigger_workflow": ("assistant_actions",),
    "send_staff_message": ("assistant_actions",),
    "send_guest_email": ("assistant_actions",),
}


def _day(value: str | None) -> date | None:
    return None if not value else date.fromisoformat(value)


def tool_specs(data: HotelData) -> list[ToolSpec]:
    async def room_status(room_number: str) -> dict[str, Any]:
        room = await data.room_status(room_number.strip())
        return room if room is not None else {"room_number": room_number, "found": False}

    async def room_ready(room_number: str) -> dict[str, Any]:
        room = await data.room_status(room_number.strip())
        if room is None:
            return {"room_number": room_number, "found": False}
        return room | {"room_ready": room["status"] == READY_STATUS}

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

    async def open_housekeeping_tasks(room_number: str | None = None) -> dict[str, Any]:
        return {"tasks": await data.open_housekeeping_tasks(room_number)}

    async def forecasts(
        target: str = "occupancy", start_date: str | None = None, days: int = 7
    ) -> dict[str, Any]:
        if target not in FORECAST_TARGETS:
            return {"error": f"target must be one of {', '.join(FORECAST_TARGETS)}"}
        try:
            start = _day(start_date) or date.today()
        except ValueError:
            return {"error": "start_date must be YYYY-MM-DD"}
        return {"predictions": await data.predictions(target, start, min(max(days, 1), 31))}

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

    async def recent_workflows(limit: int = 10) -> dict[str, Any]:
        return {"workflows": await data.recent_workflows(max(1, limit))}

    return [
        ToolSpec(
            "room_status",
            "Current status, type and floor of one room, by room number (e.g. '201').",
            ALL_ROLES,
            room_status,
        ),
        ToolSpec(
            "room_ready",
            "Whether one room is clean and ready for a guest (status 'available'), by number.",
            ALL_ROLES,
            room_ready,
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
            "open_housekeeping_tasks",
            "Open or assigned housekeeping tasks, optionally for one room number.",
            ALL_ROLES,
            open_housekeeping_tasks,
        ),
        ToolSpec(
            "forecasts",
            "Model forecasts from start_date (YYYY-MM-DD, default today) for `days` days; "
            "target: " + " | ".join(FORECAST_TARGETS) + " (price = recommended room prices).",
            ALL_ROLES,
            forecasts,
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
        ToolSpec(
            "recent_workflows",
            "The most recent workflow runs (name, status, when it finished, result summary).",
            SUPERVISORS,
            recent_workflows,
        ),
    ]


def tools_for(
    data: HotelData, context: AskerContext, proposer: ActionProposer | None = None
) -> list[BaseTool]:
    """The tools the caller's role may use; the others are never bound to the model. With a
    ``proposer``, the mutating tools of the role are added (they only propose, see actions.py)."""
    from langchain_core.tools import StructuredTool

    tools: list[BaseTool] = [
        StructuredTool.from_function(
            coroutine=spec.coroutine, name=spec.name, description=spec.description
        )
        for spec in tool_specs(data)
        if context.role in spec.roles
    ]
    if proposer is not None:
        tools.extend(proposer.tools(context))
    return tools


PENDING = "awaiting_confirmation"


class ActionProposer:
    """Makes the mutating tools of a role: each checks its arguments and stores a pending
    action (it never runs it), answering the model that the user must confirm."""

    def __init__(self, specs: list[ActionSpec], store: ActionStore) -> None:
        self.specs = specs
        self._store = store

    def tools(self, context: AskerContext) -> list[BaseTool]:
        return [self._tool(spec, context) for spec in self.specs if context.role in spec.roles]

    async def propose(
        self, spec: ActionSpec, context: AskerContext, args: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            clean, summary = await spec.check(args)
        except ActionArgsError as err:
            return {"error": str(err)}
        pending = await self._store.propose(
            tool=spec.name, args=clean, summary=summary, requested_by=context.actor
        )
        return {
            "status": PENDING,
            "action_id": pending.id,
            "tool": pending.tool,
            "args": pending.args,
            "summary": pending.summary,
            "expires_at": pending.expires_at.isoformat(),
            "note": "Not done yet: tell the user to confirm or reject this action.",
        }

    def _tool(self, spec: ActionSpec, context: AskerContext) -> BaseTool:
        async def run(**kwargs: Any) -> dict[str, Any]:
            return await self.propose(spec, context, kwargs)

        from langchain_core.tools import StructuredTool

        return StructuredTool.from_function(
            coroutine=run,
            name=spec.name,
            description=spec.description,
            args_schema=spec.args_schema,
        )
