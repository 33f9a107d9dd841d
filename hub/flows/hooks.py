"""How the rest of the hub hands events to the flows.

``FlowHooks`` is what other parts call: the ingest after committing a batch of events, the room
analysis after storing an analysis. :class:`HubFlowHooks` is the hub's implementation: the
per-event parts run in process (attendance, room status: DESIGN §5), the notification and
escalation parts start Prefect flows when a :class:`~hub.flows.runner.FlowRunner` is present,
and otherwise run the same steps directly (flows disabled).

Stored events reach the flows through the ``event_flow_work`` rows the ingest commits with them
(:mod:`hub.flows.event_work`): the ingest only wakes the queue and never waits for attendance or
hazard alerts, and work a crash interrupted is picked up at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from hub.flows.attendance_service import AttendanceOutcome, AttendanceService
from hub.flows.context import FlowDeps
from hub.flows.event_work import EventWorkQueue
from hub.tables import utcnow

if TYPE_CHECKING:
    from hub.flows.room import RoomUpdate
    from hub.flows.runner import FlowRunner

logger = logging.getLogger(__name__)

# In-process fallbacks (no Prefect) run a few at a time, so a burst of hazard events cannot
# starve the ingest that shares the event loop and the database.
MAX_CONCURRENT_DIRECT = 4
# How long a stopping hub waits for them before cancelling what is left (named in the log).
DRAIN_TIMEOUT_S = 5.0


class FlowHooks(Protocol):
    async def events_stored(self, events: Sequence[Mapping[str, Any]]) -> None:
        """``events``: the ``events`` rows (column dicts) a committed ingest batch changed.
        Must return at once (the ingest calls it on its commit-and-ack path)."""
        ...

    async def room_analyzed(
        self, room_number: str, ready_for_guest: bool, analysis_id: int
    ) -> None: ...


class HubFlowHooks:
    def __init__(self, deps: FlowDeps, runner: FlowRunner | None = None) -> None:
        self._deps = deps
        self._runner = runner
        self.attendance = AttendanceService(deps.settings, deps.session_factory)
        self._background: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_DIRECT)
        self.work = EventWorkQueue(deps.session_factory, self._apply_stored)

    @property
    def runner(self) -> FlowRunner | None:
        return self._runner

    @property
    def deps(self) -> FlowDeps:
        return self._deps

    async def notify_late(self, attendance_log_id: int) -> None:
        await self._start(
            "late_arrival_notification",
            {"attendance_log_id": attendance_log_id},
            self._notify_late,
        )

    async def events_stored(self, events: Sequence[Mapping[str, Any]]) -> None:
        """The ingest committed events (and their work rows): wake the queue, never wait."""
        if events:
            self.work.wake()

    async def _apply_stored(self, events: list[dict[str, Any]], hazard_ids: list[str]) -> None:
        """One page of the work queue: attendance for the faces, one escalation for the
        anomalies (already coalesced per hazard and zone)."""
        await self.apply_attendance(events)
        if hazard_ids:
            await self._start("hazard_escalation", {"event_ids": hazard_ids}, self._escalate)

    async def catch_up_attendance(self, since: datetime) -> AttendanceOutcome:
        """At start: attendance for face events stored while the previous run stopped between
        an ingest commit and its attendance step (late notifications for those included)."""
        outcome = await self.attendance.catch_up(since)
        self.work.wake()  # work rows left by a stop between a commit and the flows
        for late in outcome.late:
            await self.notify_late(late.attendance_log_id)
        self._notify_retracted(outcome)
        if outcome.applied:
            logger.warning("attendance caught up on %d stored face events", outcome.applied)
        return outcome

    async def apply_attendance(self, events: Sequence[Mapping[str, Any]]) -> AttendanceOutcome:
        outcome = await self.attendance.apply(events)
        for late in outcome.late:
            await self.notify_late(late.attendance_log_id)
        self._notify_retracted(outcome)
        return outcome

    async def dead_letter_alert(self, device_id: str, count: int) -> None:
        """The ingest's alarm (one device, many dead letters): the managers are told, in the
        background (the ingest never waits on a notification)."""
        from hub.flows.notifications import notify_dead_letter_alert

        window_s = self._deps.settings.dead_letter_alert_window_s
        self._spawn(
            notify_dead_letter_alert(self._deps, device_id, count, window_s),
            "dead_letter_alert_notification",
        )

    def _notify_retracted(self, outcome: AttendanceOutcome) -> None:
        """The manager hears of each check-in taken back (in process: one message each)."""
        from hub.flows.notifications import notify_attendance_retracted

        for retraction in outcome.retracted:
            self._spawn(
                notify_attendance_retracted(
                    self._deps,
                    retraction.employee_id,
                    retraction.work_date.isoformat(),
                    retraction.event_id,
                ),
                "attendance_retracted_notification",
            )

    async def room_analyzed(
        self, room_number: str, ready_for_guest: bool, analysis_id: int
    ) -> None:
        """Never raises for an unknown room (the caller stored its analysis already)."""
        from hub.flows.room import UnknownRoomError

        try:
            await self.apply_room(room_number, ready_for_guest, analysis_id)
        except UnknownRoomError:
            logger.warning("room analysis %s names no known room; status not updated", analysis_id)

    async def apply_room(
        self, room_number: str, ready_for_guest: bool, analysis_id: int | None
    ) -> RoomUpdate:
        from hub.flows.room import apply_room_analysis

        update = await apply_room_analysis(
            self._deps, room_number, ready_for_guest, utcnow().date()
        )
        logger.info("room analysis %s applied to room %s", analysis_id, room_number)
        if update.waiting_booking_id is not None:
            await self._start(
                "room_ready_notification",
                {"booking_id": update.waiting_booking_id},
                self._notify_room_ready,
            )
        return update

    async def apply_room_status(
        self,
        room_number: str,
        old_status: str,
        new_status: str,
        *,
        updated_by: str,
        at: datetime,
        actor: str,
    ) -> RoomUpdate:
        """A reported room status change (``/events/room_status``); a room that became ready
        starts the waiting guest's notification, as an analysis does."""
        from hub.flows.room import apply_room_status

        update = await apply_room_status(
            self._deps,
            room_number,
            old_status,
            new_status,
            updated_by=updated_by,
            at=at,
            actor=actor,
            today=utcnow().date(),
        )
        if update.waiting_booking_id is not None:
            await self._start(
                "room_ready_notification",
                {"booking_id": update.waiting_booking_id},
                self._notify_room_ready,
            )
        return update

    # -- starting the multi-step part ----------------------------------------------------------

    async def _start(
        self,
        workflow: str,
        parameters: dict[str, Any],
        direct: Any,
    ) -> None:
        """A Prefect run when the runner is ready, else the same steps in a background task."""
        runner = self._runner
        if runner is not None and runner.ready:
            try:
                await runner.trigger(workflow, parameters)
            except Exception:
                logger.exception("could not start %s in Prefect; running it in process", workflow)
            else:
                return
        self._spawn(direct(**parameters), workflow)

    def _spawn(self, work: Awaitable[Any], what: str) -> None:
        async def guarded() -> None:
            try:
                async with self._slots:
                    await work
            except asyncio.CancelledError:
                if asyncio.iscoroutine(work):
                    work.close()  # cancelled before it started: no "never awaited" warning
                raise
            except Exception:
                logger.exception("%s failed", what)

        task = asyncio.create_task(guarded(), name=f"flow-direct-{what}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait for the in-process fallbacks (shutdown, tests), at most ``timeout_s``; what is
        still running then is cancelled, and named in the log."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        await self.work.stop(timeout_s)
        while self._background:
            remaining = deadline - loop.time()
            if remaining <= 0:
                left = sorted(task.get_name() for task in self._background)
                logger.warning(
                    "cancelling %d unfinished in-process flow steps: %s",
                    len(left),
                    ", ".join(left[:10]),
                )
                for task in list(self._background):
                    task.cancel()
                await asyncio.gather(*list(self._background), return_exceptions=True)
                return
            await asyncio.wait(list(self._background), timeout=remaining)

    async def _notify_late(self, attendance_log_id: int) -> dict[str, Any]:
        from hub.flows.notifications import notify_late_arrival

        return await notify_late_arrival(self._deps, attendance_log_id)

    async def _notify_room_ready(self, booking_id: int) -> dict[str, Any]:
        from hub.flows.room import notify_room_ready

        return await notify_room_ready(self._deps, booking_id)

    async def _escalate(self, event_ids: list[str]) -> dict[str, Any]:
        from hub.flows.hazard import escalate

        return await escalate(self._deps, event_ids)
