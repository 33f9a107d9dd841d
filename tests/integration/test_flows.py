"""The flows' steps against a real database, object folder and SMTP server, through the
Prefect tasks' ``.fn()`` (no Prefect run needed): attendance idempotency, guest-request
routing, lost & found, hazard escalation with acknowledgement, retention purge, notifications
and their fallback addresses."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlmodel import select

from hub.auth.keys import with_secrets
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory
from hub.flows import context
from hub.flows.attendance_service import AttendanceService
from hub.flows.context import FlowDeps
from hub.flows.hooks import HubFlowHooks
from hub.flows.notifications import DeliveryFailedError
from hub.notify.factory import build_notifier
from hub.settings import HubSettings
from hub.storage import LocalFolderStore
from hub.tables import (
    AttendanceLog,
    AttendanceMark,
    AuditLog,
    Event,
    FoundItem,
    HazardAlert,
    HousekeepingTask,
    LostItem,
    NotificationLog,
    utcnow,
)
from testkit.hub import hub_settings
from testkit.prefect import (
    GUEST_EMAIL,
    HOUSEKEEPER,
    LATE_EMPLOYEE,
    SUPERVISOR_EMAIL,
    seed_hotel,
)
from testkit.smtp import SmtpSink, smtp_sink

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def definitions() -> ModuleType:
    """The Prefect tasks (imported here: testkit.prefect sets PREFECT_HOME first)."""
    import testkit.prefect  # noqa: F401

    return importlib.import_module("hub.flows.definitions")


MANAGER_EMAIL = "manager@hotel.test"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        yield sink


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpSink) -> HubSettings:
    values = with_secrets(
        hub_settings(
            tmp_path,
            None,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            attendance_notify_email=MANAGER_EMAIL,
            attendance_debounce_s=300,
            attendance_cameras=["entrance"],
        )
    )
    asyncio.run(seed_hotel(values))
    return values


@asynccontextmanager
async def bound_deps(settings: HubSettings) -> AsyncIterator[FlowDeps]:
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    sessions = create_session_factory(engine)
    deps = FlowDeps(
        settings=settings,
        session_factory=sessions,
        store=LocalFolderStore(settings.objects_dir),
        notifier=build_notifier(settings, sessions),
    )
    context.bind(deps)
    try:
        yield deps
    finally:
        context.bind(None)
        await engine.dispose()


def face_row(person: str | None, started: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "device_id": "edge-1",
        "seq": 1,
        "last_seq": 1,
        "camera_id": "entrance",
        "kind": "face",
        "phase": "new",
        "started_at": started,
        "ended_at": None,
        "person_id": person,
        "score": 0.95,
        "liveness": "live",
        "liveness_score": 0.9,
        "payload": {},
        "snapshot_key": None,
        "messages": 1,
        "received_at": started,
        "updated_at": started,
    } | extra


async def store_events(deps: FlowDeps, rows: list[dict[str, Any]]) -> None:
    async with deps.session_factory() as session:
        session.add_all(Event(**row) for row in rows)
        await session.commit()


async def all_rows(deps: FlowDeps, model: Any) -> list[Any]:
    async with deps.session_factory() as session:
        return list((await session.exec(select(model))).all())


def test_attendance_is_applied_once_per_event(settings: HubSettings) -> None:
    async def main() -> None:
        async with bound_deps(settings) as deps:
            service = AttendanceService(settings, deps.session_factory)
            today = utcnow().date()
            start = datetime(today.year, today.month, today.day, 8, 9, tzinfo=UTC)
            arrive = face_row(LATE_EMPLOYEE, start)
            stranger = face_row("not-an-employee", start)
            unknown = face_row(None, start)
            await store_events(deps, [arrive, stranger, unknown])
            first = await service.apply([arrive, stranger, unknown])
            assert first.applied == 1
            assert first.skipped == 1
            assert [(x.employee_id, x.minutes_late) for x in first.late] == [(LATE_EMPLOYEE, 9)]
            again = await service.apply([arrive])  # redelivery
            assert again.applied == 0
            assert again.late == []
            # the same appearance ends at 16:05: one more message, now the check-out
            ended = arrive | {"ended_at": start.replace(hour=16, minute=5), "phase": "end"}
            later = await service.apply([ended])
            assert later.applied == 1
            assert later.late == []
            logs = await all_rows(deps, AttendanceLog)
            assert len(logs) == 1
            assert logs[0].check_in_at == start
            assert logs[0].check_out_at == start.replace(hour=16, minute=5)
            assert logs[0].status == "late"

    asyncio.run(main())


def test_attendance_catches_up_on_events_stored_before_a_stop(settings: HubSettings) -> None:
    """The hub stopped after the ingest committed an event but before its attendance step: the
    next start applies it (once), and an event outside the window is left alone."""

    async def main() -> None:
        async with bound_deps(settings) as deps:
            service = AttendanceService(settings, deps.session_factory)
            now = utcnow()
            start = now.replace(hour=8, minute=9, second=0, microsecond=0)
            if start > now:  # early in the UTC day: use yesterday's shift
                start -= timedelta(days=1)
            missed = face_row(LATE_EMPLOYEE, start)
            old = face_row(LATE_EMPLOYEE, start - timedelta(days=3))
            await store_events(deps, [missed, old])
            first = await service.catch_up(now - timedelta(hours=24))
            assert first.applied == 1
            assert [x.employee_id for x in first.late] == [LATE_EMPLOYEE]
            again = await service.catch_up(now - timedelta(hours=24))
            assert again.applied == 0
            assert again.late == []
            logs = await all_rows(deps, AttendanceLog)
            assert [(log.employee_id, log.check_in_at) for log in logs] == [(LATE_EMPLOYEE, start)]

    asyncio.run(main())


def test_spoof_verdict_retracts_the_check_in_audited_and_told(
    settings: HubSettings, smtp: SmtpSink
) -> None:
    """A track first reported live, then found a spoof: its check-in goes (the day's record
    with it when nothing else kept it; rebuilt from the other sightings otherwise), an audit
    row says so, and the manager hears of it. Unchecked faces never count."""

    async def main() -> None:
        async with bound_deps(settings) as deps:
            hooks = HubFlowHooks(deps)
            today = utcnow().date()
            start = datetime(today.year, today.month, today.day, 7, 50, tzinfo=UTC)
            unchecked = face_row(LATE_EMPLOYEE, start, liveness="unchecked")
            photo = face_row(LATE_EMPLOYEE, start + timedelta(minutes=5))
            await store_events(deps, [unchecked, photo])
            first = await hooks.apply_attendance([unchecked, photo])
            assert first.applied == 1  # the unchecked one does not count
            (log,) = await all_rows(deps, AttendanceLog)
            assert log.check_in_at == start + timedelta(minutes=5)
            spoofed = photo | {"liveness": "spoof", "phase": "update"}
            outcome = await hooks.apply_attendance([spoofed])
            assert [(r.employee_id, r.log_removed) for r in outcome.retracted] == [
                (LATE_EMPLOYEE, True)
            ]
            assert await all_rows(deps, AttendanceLog) == []
            assert await all_rows(deps, AttendanceMark) == []
            again = await hooks.apply_attendance([spoofed])  # redelivery: nothing more
            assert again.retracted == []
            # a live sighting earlier plus a spoofed later one: the record is rebuilt
            live = face_row(LATE_EMPLOYEE, start + timedelta(minutes=1))
            fake = face_row(LATE_EMPLOYEE, start - timedelta(minutes=30))
            await store_events(deps, [live, fake])
            await hooks.apply_attendance([live, fake])
            (log,) = await all_rows(deps, AttendanceLog)
            assert log.check_in_at == start - timedelta(minutes=30)
            assert str(log.event_id) == str(fake["event_id"])
            rebuilt = await hooks.apply_attendance([fake | {"liveness": "spoof"}])
            assert [r.log_removed for r in rebuilt.retracted] == [False]
            (log,) = await all_rows(deps, AttendanceLog)
            assert log.check_in_at == start + timedelta(minutes=1)
            assert str(log.event_id) == str(live["event_id"])
            await hooks.drain()
            audits = [a for a in await all_rows(deps, AuditLog) if a.action == "attendance.retract"]
            assert [(a.actor, a.detail["event_id"]) for a in audits] == [
                ("system:liveness", str(photo["event_id"])),
                ("system:liveness", str(fake["event_id"])),
            ]

    asyncio.run(main())
    mails = smtp.wait_for(2)
    assert all(m.message["X-Innsight-Kind"] == "attendance_retracted" for m in mails)
    assert all("spoof" in m.text() for m in mails)


def test_manual_entry_records_who_entered_it(settings: HubSettings) -> None:
    async def main() -> None:
        async with bound_deps(settings) as deps:
            service = AttendanceService(settings, deps.session_factory)
            _, log = await service.apply_manual(
                HOUSEKEEPER, utcnow(), "pin", None, action="check_in", entered_by="user:desk"
            )
            assert log is not None
            (mark,) = await all_rows(deps, AttendanceMark)
            assert mark.entered_by == "user:desk"
            (row,) = [a for a in await all_rows(deps, AuditLog) if a.action == "attendance.entry"]
            assert (row.actor, row.target) == ("user:desk", f"attendance_log:{log.id}")
            assert row.detail["method"] == "pin"

    asyncio.run(main())


def test_no_attendance_cameras_no_face_attendance(settings: HubSettings) -> None:
    async def main() -> None:
        async with bound_deps(settings) as deps:
            service = AttendanceService(
                settings.model_copy(update={"attendance_cameras": []}), deps.session_factory
            )
            row = face_row(LATE_EMPLOYEE, utcnow())
            await store_events(deps, [row])
            outcome = await service.apply([row])
            assert outcome.applied == 0
            assert await all_rows(deps, AttendanceLog) == []

    asyncio.run(main())


def test_late_notification_task_emails_the_supervisor(
    settings: HubSettings, smtp: SmtpSink, definitions: ModuleType
) -> None:
    async def main() -> dict[str, Any]:
        async with bound_deps(settings) as deps:
            service = AttendanceService(settings, deps.session_factory)
            today = utcnow().date()
            row = face_row(
                LATE_EMPLOYEE, datetime(today.year, today.month, today.day, 8, 30, tzinfo=UTC)
            )
            await store_events(deps, [row])
            applied = await service.apply([row])
            outcome: dict[str, Any] = await definitions.notify_late_arrival.fn(
                applied.late[0].attendance_log_id
            )
            return outcome

    result = asyncio.run(main())
    assert result["sent"] == ["email:employee:sup-1"]
    assert result["minutes_late"] == 30
    mail = smtp.wait_for(1)[0]
    assert mail.rcpt_tos == [SUPERVISOR_EMAIL]
    assert "30" in mail.text()


def test_guest_request_is_assigned_to_the_housekeeper_on_shift(
    settings: HubSettings, smtp: SmtpSink, definitions: ModuleType
) -> None:
    async def main() -> dict[str, Any]:
        async with bound_deps(settings) as deps:
            service = AttendanceService(settings, deps.session_factory)
            await service.apply_manual(HOUSEKEEPER, utcnow() - timedelta(minutes=1), "badge", None)
            booking_id = 1
            outcome: dict[str, Any] = await definitions.route_guest_request.fn(
                "Please bring 2 extra towels to room 101", booking_id
            )
            return outcome

    result = asyncio.run(main())
    assert result["category"] == "housekeeping"
    assert result["assigned_to"] == HOUSEKEEPER
    assert result["room_number"] == "101"
    assert result["confirmation"]["sent"] == ["email:guest:1"]
    mail = smtp.wait_for(1)[0]
    assert mail.rcpt_tos == [GUEST_EMAIL]
    assert "towel" in mail.text()

    async def tasks() -> list[HousekeepingTask]:
        async with bound_deps(settings) as deps:
            return await all_rows(deps, HousekeepingTask)

    stored = asyncio.run(tasks())
    assert [(t.assigned_to, t.status, t.quantity) for t in stored] == [(HOUSEKEEPER, "assigned", 2)]


def test_request_without_staff_on_shift_stays_open(
    settings: HubSettings, definitions: ModuleType
) -> None:
    async def main() -> dict[str, Any]:
        async with bound_deps(settings):
            outcome: dict[str, Any] = await definitions.route_guest_request.fn(
                "the air conditioner is broken", None
            )
            return outcome

    result = asyncio.run(main())
    assert result["category"] == "maintenance"
    assert result["assigned_to"] is None
    assert result["confirmation"] is None


def test_lost_and_found_proposes_then_confirms_and_notifies(
    settings: HubSettings, smtp: SmtpSink, definitions: ModuleType
) -> None:
    """The flow scores the pair itself (a report without a photo: its words) and takes no
    similarity from its caller; the guest hears of it only once a person confirmed."""
    from hub.hotel.errors import HotelError

    async def main() -> tuple[dict[str, Any], dict[str, Any], LostItem]:
        async with bound_deps(settings) as deps:
            async with deps.session_factory() as session:
                item = LostItem(description="black umbrella", guest_id=1)
                found = FoundItem(
                    description="a black umbrella",
                    location="lobby",
                    found_at=utcnow(),
                    found_by="hk-1",
                    image_id=1,
                    image_key="images/lost_found/1.jpg",
                    created_by="test",
                )
                session.add_all([item, found])
                await session.commit()
                await session.refresh(item)
            assert item.id is not None
            proposed = await definitions.propose_lost_item_matches.fn(item.id)
            assert smtp.to(GUEST_EMAIL) == []
            (match,) = proposed["proposed"]
            confirmed = await definitions.confirm_lost_item_found.fn(
                item.id, match["match_id"], None
            )
            await definitions.notify_lost_item_owner.fn(item.id)
            with pytest.raises(HotelError, match="cannot become found"):
                await definitions.confirm_lost_item_found.fn(item.id, None, "bar")
            return match, confirmed, (await all_rows(deps, LostItem))[0]

    match, confirmed, item = asyncio.run(main())
    assert (match["text_similarity"], match["image_similarity"]) == (1.0, None)
    assert confirmed["status"] == "found"
    assert (item.found_location, item.found_image_key) == ("lobby", "images/lost_found/1.jpg")
    assert item.match_similarity == match["score"]
    mail = smtp.wait_for(1)[0]
    assert mail.rcpt_tos == [GUEST_EMAIL]
    assert "umbrella" in mail.text()


def test_hazard_alert_realerts_until_acknowledged(
    settings: HubSettings, smtp: SmtpSink, definitions: ModuleType
) -> None:
    from hub.flows import hazard

    async def main() -> None:
        async with bound_deps(settings) as deps:
            fire = face_row(
                None, utcnow(), kind="anomaly", payload={"type": "fire", "zone": "kitchen"}
            )
            await store_events(deps, [fire])
            first = await definitions.escalate_hazards.fn([str(fire["event_id"])])
            assert first["sent"] == 1
            again = await definitions.escalate_hazards.fn([str(fire["event_id"])])
            assert again["alerts"] == []  # one alert per event
            assert (await definitions.realert_hazards.fn())["sent"] == 0  # too soon
            later = utcnow() + timedelta(minutes=6)
            assert (await hazard.realert(deps, later))["sent"] == 1
            alert_id = first["alerts"][0]
            acked = await hazard.acknowledge(deps, alert_id, "user:boss")
            assert acked is not None
            assert acked.acknowledged_by == "user:boss"
            assert (await hazard.realert(deps, later + timedelta(minutes=10)))["sent"] == 0
            alerts = await all_rows(deps, HazardAlert)
            assert [(a.hazard, a.location, a.sends) for a in alerts] == [("fire", "kitchen", 2)]
            # a camera the edge lost is an alert too, named by the camera
            lost = face_row(
                None, utcnow(), kind="camera", camera_id="car-park", payload={"state": "lost"}
            )
            await store_events(deps, [lost])
            assert (await definitions.escalate_hazards.fn([str(lost["event_id"])]))["sent"] == 1
            alerts = await all_rows(deps, HazardAlert)
            assert [(a.hazard, a.location) for a in alerts][-1] == ("camera", "car-park")

    asyncio.run(main())
    mails = smtp.wait_for(3)
    assert all(m.rcpt_tos == [MANAGER_EMAIL] for m in mails)
    assert "kitchen" in mails[0].subject + mails[0].text()


def test_retention_purge_deletes_expired_snapshots_with_an_audit_row(
    settings: HubSettings, definitions: ModuleType
) -> None:
    async def main() -> tuple[dict[str, Any], list[AuditLog], list[Event], LocalFolderStore]:
        async with bound_deps(settings) as deps:
            store = deps.store
            assert isinstance(store, LocalFolderStore)
            now = utcnow()
            rows = [
                face_row("emp-late", now - timedelta(days=40)),  # known, expired
                face_row("emp-late", now - timedelta(days=3)),  # known, kept
                face_row(None, now - timedelta(days=10)),
                face_row(None, now - timedelta(days=1)),
            ]
            for row in rows:
                key = f"snapshots/edge-1/{row['event_id']}.jpg"
                store.put(key, b"\xff\xd8jpeg", "image/jpeg")
                row["snapshot_key"] = key
            await store_events(deps, rows)
            result = await definitions.purge_expired_snapshots.fn()
            return (
                result,
                await all_rows(deps, AuditLog),
                await all_rows(deps, Event),
                store,
            )

    result, audits, events, store = asyncio.run(main())
    assert result == {"deleted": 2, "biometric": 1, "unknown": 1, "failed": 0}
    kept = sorted(e.snapshot_key is not None for e in events)
    assert kept == [False, False, True, True]
    for event in events:
        key = f"snapshots/edge-1/{event.event_id}.jpg"
        assert store.exists(key) == (event.snapshot_key is not None)
    assert [(a.action, a.detail["deleted"]) for a in audits] == [("retention.purge", 2)]


def test_a_dead_smtp_server_fails_the_task_and_is_logged(
    tmp_path: Path, definitions: ModuleType
) -> None:
    from innsight.broker import free_port

    settings = with_secrets(
        hub_settings(tmp_path, None, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_s=2)
    )
    seeded = asyncio.run(seed_hotel(settings))

    async def main() -> list[NotificationLog]:
        async with bound_deps(settings) as deps:
            with pytest.raises(DeliveryFailedError, match="no channel delivered"):
                await definitions.notify_room_ready.fn(seeded["booking_id"])
            return await all_rows(deps, NotificationLog)

    logs = asyncio.run(main())
    assert [(n.kind, n.channel, n.ok, n.recipient) for n in logs] == [
        ("room_ready", "email", False, f"guest:{seeded['guest_id']}")
    ]
    assert "did not take" in (logs[0].error or "")


def test_daily_pricing_publishes_validates_logs_and_summarises(
    tmp_path: Path, smtp: SmtpSink, definitions: ModuleType
) -> None:
    from hub.ml.api import MLProvider
    from hub.ml.cli import _database
    from hub.ml.config import ForecastConfig, LgbmParams, MLConfig
    from hub.ml.repository import write_synthetic
    from hub.ml.service import utc_today
    from hub.ml.synthetic import SMALL_ROOM_TYPES, GeneratorConfig, generate
    from hub.tables import MLPrediction, ServiceLog

    small = LgbmParams(n_estimators=40, num_leaves=15, min_child_samples=20)
    config = MLConfig(forecast=ForecastConfig(origin_stride_days=7, lgbm=small))
    settings = with_secrets(
        hub_settings(
            tmp_path,
            None,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            attendance_notify_email=MANAGER_EMAIL,
        )
    )
    history = generate(
        GeneratorConfig(
            as_of=utc_today(), seed=5, days=400, future_days=60, room_types=SMALL_ROOM_TYPES
        )
    )

    async def main() -> tuple[dict[str, Any], list[MLPrediction], list[ServiceLog]]:
        async with _database(settings) as sessions, sessions() as session:
            await write_synthetic(session, history)
        async with bound_deps(settings) as deps:
            deps.ml = MLProvider(deps.session_factory, tmp_path / "ml", config)
            for name in ("occupancy", "pricing"):
                await deps.ml.get().retrain(name)
            summary: dict[str, Any] = await definitions.optimise_prices.fn(utc_today(), 3)
            return (
                summary,
                await all_rows(deps, MLPrediction),
                await all_rows(deps, ServiceLog),
            )

    summary, predictions, logs = asyncio.run(main())
    room_types = summary["room_types"]
    assert set(room_types) == {spec.name for spec in SMALL_ROOM_TYPES}
    for outcome in room_types.values():
        assert outcome["nights"] == 3
        assert outcome["violations"] == []
    # the plan is stored (ml_predictions, one row per room type and night)
    stored = [p for p in predictions if p.target == "price"]
    assert len(stored) == 3 * len(room_types)
    # every change is logged in service_logs
    changed = [entry for entry in logs if entry.message == "price changed"]
    assert len(changed) == summary["changes"]
    mail = smtp.wait_for(1)[0]
    assert mail.rcpt_tos == [MANAGER_EMAIL]
    assert "pricing" in mail.subject.lower()


def test_booking_events_create_move_and_refuse(settings: HubSettings) -> None:
    from hub.flows.bookings import (
        BookingEvent,
        BookingEventError,
        GuestData,
        RoomData,
        apply_booking_event,
        has_guest_ref,
    )
    from hub.tables import Booking, Guest, Room

    stay = RoomData(
        room_number="102",
        check_in_date=date(2025, 1, 17),
        check_out_date=date(2025, 1, 19),
        rate_per_night=Decimal(90),
    )
    guest = GuestData(guest_id="GUEST777", name="Tran Thi B", email="b@hotel.test")

    async def main() -> tuple[list[Any], list[Any], list[Any], list[str]]:
        refused: list[str] = []
        async with bound_deps(settings) as deps:
            sessions = deps.session_factory
            made = await apply_booking_event(
                sessions, BookingEvent("PMS-1", "new_booking", guest, stay)
            )
            assert (made.created, made.guest_created, made.status) == (True, True, "reserved")
            # a second booking of the same guest (by the hotel's guest id) reuses the guest
            second = BookingEvent(
                "PMS-2", "new_booking", GuestData(guest_id="GUEST777", name="Tran Thi B"), stay
            )
            again = await apply_booking_event(sessions, second)
            assert again.guest_created is (not has_guest_ref())
            moved = await apply_booking_event(sessions, BookingEvent("PMS-1", "checked_in"))
            assert (moved.status, moved.room_status) == ("checked_in", "occupied")
            for event in (
                BookingEvent("PMS-9", "checked_in"),
                BookingEvent("PMS-1", "cancelled"),
                BookingEvent(
                    "PMS-3",
                    "new_booking",
                    guest,
                    RoomData(
                        room_number="999",
                        check_in_date=date(2025, 1, 1),
                        check_out_date=date(2025, 1, 2),
                    ),
                ),
                BookingEvent(
                    "PMS-4",
                    "new_booking",
                    guest,
                    RoomData(
                        room_number="102",
                        room_type="suite",
                        check_in_date=date(2025, 1, 1),
                        check_out_date=date(2025, 1, 2),
                    ),
                ),
                BookingEvent("PMS-5", "new_booking", GuestData(), stay),
                BookingEvent(
                    "PMS-6",
                    "new_booking",
                    guest,
                    RoomData(check_in_date=date(2025, 1, 3), check_out_date=date(2025, 1, 2)),
                ),
            ):
                with pytest.raises(BookingEventError) as err:
                    await apply_booking_event(sessions, event)
                refused.append(f"{err.value.status} {err.value.field}")
            return (
                await all_rows(deps, Booking),
                await all_rows(deps, Guest),
                await all_rows(deps, Room),
                refused,
            )

    bookings, guests, rooms, refused = asyncio.run(main())
    assert refused == [
        "404 booking_id",
        "409 event_type",
        "404 room_data.room_number",
        "409 room_data.room_type",
        "422 guest_data.name",
        "422 room_data.check_out_date",
    ]
    created = {b.booking_ref: b for b in bookings if b.booking_ref.startswith("PMS-")}
    assert set(created) == {"PMS-1", "PMS-2"}  # nothing half-made by the refused events
    assert created["PMS-1"].total_amount == Decimal("180.00")
    assert created["PMS-1"].status == "checked_in"
    assert next(r for r in rooms if r.room_number == "102").status == "occupied"
    named = [g for g in guests if g.full_name == "Tran Thi B"]
    assert len(named) == (1 if any(hasattr(g, "guest_ref") for g in guests) else 2)


def test_warehouse_export_is_limited_to_the_range_and_has_no_personal_data(
    settings: HubSettings, definitions: ModuleType
) -> None:
    async def main() -> tuple[dict[str, Any], bytes, dict[str, Any]]:
        async with bound_deps(settings) as deps:
            today = utcnow().date()
            bookings = await definitions.export_to_warehouse.fn("bookings", today, today)
            guests = await definitions.export_to_warehouse.fn("guests", None, None)
            data = deps.store.get(guests["object_key"])
            return bookings, data, guests

    bookings, guest_data, guests = asyncio.run(main())
    assert bookings["records"] == 1  # BK-WAIT arrives today (seed_hotel)
    assert bookings["range_field"] == "check_in_date"
    assert guests["records"] == 1
    assert guests["date_range"] is None
    assert b"Mai Pham" not in guest_data
    assert GUEST_EMAIL.encode() not in guest_data
