"""The Prefect surface against the seed document (000 "Prefect Service"), read from the document
itself, through the real hub with Prefect's local mode (one harness per test session).

Every Prefect endpoint heading is a case: the seed's example request is sent as written (the
``{...}`` of the booking event filled with real guest and room data; the ids it names exist:
EMP001, EMP005, room 201), the answer must be 2xx, carry every documented response field under
the seed's name and JSON type, and show that each request field was honoured (stored, run,
filtered, limited). Headings without an example are exercised with a sensible request. The
seeds' integration pattern 1 (an attendance event with only employee_id, timestamp and action)
is a case too. ``GET /logs/query``: the seed shows a JSON body; the hub reads the same fields as
query parameters (docs/api.md).
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlmodel import select

from hub.auth.keys import with_secrets
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.settings import HubSettings
from testkit import prefect as prefect_support  # before anything imports Prefect
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers, wait_until
from testkit.prefect import prefect_harness
from testkit.seeds import SeedEndpoint, missing_fields, seed_endpoints

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.usefixtures("prefect_harness"),
    # Prefect's client leaves sockets to the local-mode server for the garbage collector
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]
__all__ = ["prefect_harness", "prefect_support"]

P = "/api/v1/prefect"
ENDPOINTS = seed_endpoints("prefect")
FINAL = {"completed", "failed", "cancelled", "crashed"}
# bookings by check-in date, for the seed's sync of 2025-01-01..2025-01-17
SYNC_BOOKINGS = {
    "BK-DEC": date(2024, 12, 31),
    "BK-JAN05": date(2025, 1, 5),
    "BK-JAN17": date(2025, 1, 17),
    "BK-JAN20": date(2025, 1, 20),
}
# the guest of room 201 and of a lost item (lost_found_return)
WAITING_GUEST_EMAIL = "waiting@hotel.test"


async def _seed(settings: HubSettings) -> dict[str, int]:
    from hub.tables import (
        Booking,
        Employee,
        Guest,
        LostItem,
        Room,
        ServiceLog,
        ShiftSchedule,
        utcnow,
    )

    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    try:
        await init_db(engine)
        async with create_session_factory(engine)() as session:
            session.add_all(
                [
                    Employee(employee_id="EMP001", name="Lan Tran", department="front_desk"),
                    Employee(employee_id="EMP005", name="Hoa Le", department="housekeeping"),
                ]
            )
            await session.flush()
            session.add(ShiftSchedule(employee_id="EMP001", start_time="08:00", end_time="16:00"))
            dirty = Room(room_number="201", room_type="suite", floor=2, status="cleaning")
            free = Room(room_number="202", room_type="suite", floor=2, status="available")
            other = Room(room_number="203", room_type="double", floor=2, status="occupied")
            guest = Guest(full_name="Mai Pham", email=WAITING_GUEST_EMAIL)
            session.add_all([dirty, free, other, guest])
            await session.flush()
            assert dirty.id is not None
            assert other.id is not None
            assert guest.id is not None
            today = utcnow().date()
            session.add(  # waiting for room 201 today: the room-ready hook has a guest to tell
                Booking(
                    booking_ref="BK-WAIT",
                    guest_id=guest.id,
                    room_id=dirty.id,
                    check_in_date=today,
                    check_out_date=today + timedelta(days=2),
                    status="reserved",
                )
            )
            session.add(  # staying in 203: where a found item is brought back
                Booking(
                    booking_ref="BK-STAY",
                    guest_id=guest.id,
                    room_id=other.id,
                    check_in_date=today - timedelta(days=1),
                    check_out_date=today + timedelta(days=1),
                    status="checked_in",
                )
            )
            for ref, check_in in SYNC_BOOKINGS.items():
                session.add(
                    Booking(
                        booking_ref=ref,
                        guest_id=guest.id,
                        room_id=other.id,
                        check_in_date=check_in,
                        check_out_date=check_in + timedelta(days=1),
                        status="checked_out",
                        rate_per_night=Decimal(100),
                        total_amount=Decimal(100),
                    )
                )
            item = LostItem(description="black umbrella", guest_id=guest.id)
            session.add(item)
            for service, level, at in (
                ("cv", "ERROR", datetime(2025, 1, 17, 9, 0, tzinfo=UTC)),
                ("cv", "ERROR", datetime(2025, 1, 17, 10, 0, tzinfo=UTC)),
                ("cv", "INFO", datetime(2025, 1, 17, 10, 30, tzinfo=UTC)),
                ("ml", "ERROR", datetime(2025, 1, 17, 11, 0, tzinfo=UTC)),
                ("cv", "ERROR", datetime(2025, 1, 18, 9, 0, tzinfo=UTC)),  # after end_time
            ):
                session.add(ServiceLog(ts=at, service=service, level=level, message="seeded"))
            await session.commit()
            assert item.id is not None
            return {"lost_item_id": item.id}
    finally:
        await engine.dispose()


async def _rows(settings: HubSettings, model: Any) -> list[Any]:
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    try:
        async with create_session_factory(engine)() as session:
            return list((await session.exec(select(model))).all())
    finally:
        await engine.dispose()


def rows(settings: HubSettings, model: Any) -> list[Any]:
    return asyncio.run(_rows(settings, model))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Iterator[Any]:
    settings: HubSettings = with_secrets(
        hub_settings(
            tmp_path_factory.mktemp("prefect-contract"),
            None,
            flows_enabled=True,
            flows_poll_interval_s=0.5,
            flows_default_schedules=False,
            timezone="UTC",
            # the seed's logs are of 2025-01-17: inside retention, so the seed's `retention`
            # pipeline (case_etl) leaves them for the logs/query case
            retention_log_days=3650,
            retention_audit_days=3650,
        )
    )
    ids = asyncio.run(_seed(settings))
    with running_hub(settings) as running:
        runner = running.app.state.hub.flow_runner
        wait_until(lambda: runner.ready or None, what="Prefect deployments", timeout_s=90)
        yield running, ids
    gc.collect()


@pytest.fixture(scope="module")
def hub(seeded: tuple[RunningHub, dict[str, int]]) -> RunningHub:
    return seeded[0]


Send = Callable[..., Any]


@pytest.fixture(scope="module")
def send(hub: RunningHub) -> Send:
    headers = scoped_headers(hub.settings, "flows:run")

    def call(
        method: str,
        path: str,
        body: Any = None,
        status: int | tuple[int, ...] = (200, 201, 202),
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = hub.anonymous.request(method, path, json=body, params=params, headers=headers)
        expected = (status,) if isinstance(status, int) else status
        assert response.status_code in expected, (path, response.status_code, response.text)
        return response.json()

    return call


def _example(endpoint: SeedEndpoint) -> dict[str, Any]:
    example = endpoint.request
    assert isinstance(example, dict), endpoint.key
    return example


def _documented(endpoint: SeedEndpoint, answer: Any) -> None:
    for response in endpoint.responses:
        assert missing_fields(response.body, answer) == [], (endpoint.key, response.label)


def _wait(send: Send, run_id: str, timeout_s: float = 90) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = send("GET", f"{P}/workflows/status/{run_id}")
        done = body["status"] in FINAL and (body["result"] is not None or body["error"])
        return body if done else None

    return wait_until(probe, what=f"flow run {run_id}", timeout_s=timeout_s)


def _later(hours: int = 6) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


def _same_time(a: str, b: str) -> bool:
    return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(
        b.replace("Z", "+00:00")
    )


# -- cases -------------------------------------------------------------------------------------


def case_trigger(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    seed = _example(endpoint)
    answer = send("POST", endpoint.path, seed, status=202)
    _documented(endpoint, answer)
    assert answer["flow_run_id"].startswith("fr_")
    assert answer["workflow_name"] == "daily_report_generation"
    assert answer["status"] == "scheduled"
    assert _same_time(answer["scheduled_start"], seed["scheduled_time"])
    assert answer["estimate_source"] == "default"  # no finished run of it yet
    # the seed's time is past: the run starts at once, for the date and sections it names
    done = _wait(send, answer["flow_run_id"])
    assert done["status"] == "completed", done
    result = done["result"]
    assert result["figures"]["day"] == seed["parameters"]["date"]
    assert result["report_types"] == seed["parameters"]["report_types"]
    assert "rooms_occupied" in result["figures"]
    assert "revenue" in result["figures"]
    assert "tasks_open" in result["figures"]
    assert "present" not in result["figures"]  # attendance was not asked for
    page = hub.app.state.hub.store.get(result["html"]).decode()
    assert "Housekeeping" in page
    assert "Attendance" not in page
    # a future scheduled_time: scheduled until then; the estimate now comes from history
    later = dict(seed, scheduled_time=_later())
    future = send("POST", endpoint.path, later, status=202)
    assert future["status"] == "scheduled"
    assert _same_time(future["scheduled_start"], later["scheduled_time"])
    assert future["estimate_source"] == "history"
    assert future["estimated_duration_minutes"] > 0
    again = send("GET", f"{P}/workflows/status/{future['flow_run_id']}")
    assert again["status"] == "scheduled"
    send("POST", f"{P}/workflows/cancel/{future['flow_run_id']}")


def case_status(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    run = send(
        "POST",
        f"{P}/workflows/trigger",
        {"workflow_name": "daily_report_generation", "parameters": {"report_types": ["revenue"]}},
        status=202,
    )
    path = endpoint.path.replace("{flow_run_id}", run["flow_run_id"])
    answer = send("GET", path)
    assert answer["flow_run_id"] == run["flow_run_id"]
    assert answer["workflow_name"] == "daily_report_generation"
    done = _wait(send, run["flow_run_id"])
    assert done["status"] == "completed"
    assert done["result"]["report_types"] == ["revenue"]
    assert done["end_time"] is not None
    send("GET", endpoint.path.replace("{flow_run_id}", "fr_abc123"), status=404)


def case_cancel(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    run = send(
        "POST",
        f"{P}/workflows/trigger",
        {
            "workflow_name": "ml_model_retrain",
            "parameters": {"model_name": "pricing_model"},
            "scheduled_time": _later(),
        },
        status=202,
    )
    assert run["status"] == "scheduled"
    path = endpoint.path.replace("{flow_run_id}", run["flow_run_id"])
    answer = send("POST", path)
    assert answer["status"] == "cancelled"
    assert send("GET", f"{P}/workflows/status/{run['flow_run_id']}")["status"] == "cancelled"
    send("POST", path, status=409)


def case_attendance(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    from hub.tables import AttendanceLog

    seed = _example(endpoint)
    answer = send("POST", endpoint.path, seed)
    assert answer["employee_id"] == "EMP001"
    assert answer["action"] == "check_in"
    assert _same_time(answer["check_in_at"], seed["timestamp"])
    assert answer["status"] == "late"  # the shift starts at 08:00, 5 minutes' grace
    assert answer["minutes_late"] == 30
    (log,) = [r for r in rows(hub.settings, AttendanceLog) if r.employee_id == "EMP001"]
    assert log.camera_id == seed["location"]
    assert log.confidence == seed["confidence"]
    assert log.method == "face"
    assert log.work_date == date(2025, 1, 17)
    # the integration pattern 1 body: employee_id, timestamp, action only
    out = {"employee_id": "EMP001", "timestamp": "2025-01-17T17:05:00Z", "action": "check_out"}
    closed = send("POST", endpoint.path, out)
    assert _same_time(closed["check_out_at"], out["timestamp"])
    (log,) = [r for r in rows(hub.settings, AttendanceLog) if r.employee_id == "EMP001"]
    assert log.check_out_at == datetime(2025, 1, 17, 17, 5, tzinfo=UTC)
    assert log.camera_id == seed["location"]  # the check-in's place is kept


def case_pattern_1(hub: RunningHub, send: Send) -> None:
    from hub.tables import AttendanceLog

    body = {"employee_id": "EMP005", "timestamp": "2025-01-17T06:58:00Z", "action": "check_in"}
    answer = send("POST", f"{P}/events/attendance", body)
    assert answer["status"] == "present"
    assert answer["method"] == "manual"
    (log,) = [r for r in rows(hub.settings, AttendanceLog) if r.employee_id == "EMP005"]
    assert log.check_in_at == datetime(2025, 1, 17, 6, 58, tzinfo=UTC)
    assert log.check_out_at is None


def case_booking(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    from hub.tables import Booking, Guest, Room

    seed = _example(endpoint)
    filled = dict(
        seed,
        guest_data={"guest_id": "GUEST001", "name": "Nguyen Van A", "email": "a@hotel.test"},
        room_data={
            "room_number": "202",
            "room_type": "suite",
            "check_in_date": "2025-01-17",
            "check_out_date": "2025-01-19",
            "rate_per_night": 150.0,
        },
    )
    answer = send("POST", endpoint.path, filled)
    assert answer["created"] is True
    assert answer["status"] == "reserved"
    assert answer["room_number"] == "202"
    (booking,) = [b for b in rows(hub.settings, Booking) if b.booking_ref == "BOOK001"]
    assert (booking.check_in_date, booking.check_out_date) == (date(2025, 1, 17), date(2025, 1, 19))
    assert booking.total_amount == Decimal("300.00")
    guest = next(g for g in rows(hub.settings, Guest) if g.id == booking.guest_id)
    assert guest.full_name == "Nguyen Van A"
    assert guest.email == "a@hotel.test"
    assert getattr(guest, "guest_ref", "GUEST001") == "GUEST001"
    # the seed exactly as written ({...} as {}): the PMS re-sends it, nothing changes
    again = send("POST", endpoint.path, seed)
    assert (again["created"], again["status"]) == (False, "reserved")
    assert len([b for b in rows(hub.settings, Booking) if b.booking_ref == "BOOK001"]) == 1
    # the other event types move it, and its room
    checked_in = send("POST", endpoint.path, {"booking_id": "BOOK001", "event_type": "checked_in"})
    assert (checked_in["status"], checked_in["room_status"]) == ("checked_in", "occupied")
    modified = send(
        "POST",
        endpoint.path,
        {
            "booking_id": "BOOK001",
            "event_type": "modified",
            "room_data": {"check_out_date": "2025-01-20"},
        },
    )
    assert modified["status"] == "checked_in"
    (booking,) = [b for b in rows(hub.settings, Booking) if b.booking_ref == "BOOK001"]
    assert booking.check_out_date == date(2025, 1, 20)
    out = send("POST", endpoint.path, {"booking_id": "BOOK001", "event_type": "checked_out"})
    assert (out["status"], out["room_status"]) == ("checked_out", "cleaning")
    room = next(r for r in rows(hub.settings, Room) if r.room_number == "202")
    assert room.status == "cleaning"
    send("POST", endpoint.path, {"booking_id": "BOOK001", "event_type": "cancelled"}, status=409)


def case_room_status(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    from hub.tables import AuditLog, Room

    seed = _example(endpoint)
    answer = send("POST", endpoint.path, seed)
    assert (answer["old_status"], answer["new_status"]) == ("dirty", "clean")
    assert answer["status"] == "available"
    assert answer["updated_by"] == "EMP005"
    assert answer["guest_notified"] is True  # BK-WAIT waits for room 201 today
    room = next(r for r in rows(hub.settings, Room) if r.room_number == "201")
    assert room.status == "available"
    (audit,) = [a for a in rows(hub.settings, AuditLog) if a.target == "room:201"]
    assert audit.detail["updated_by"] == "EMP005"
    assert _same_time(audit.detail["timestamp"], seed["timestamp"])
    # the same report again: the room is no longer dirty
    stale = send("POST", endpoint.path, seed, status=409)
    reason = stale["errors"][0]["reason"]
    assert stale["errors"][0]["field"] == "old_status"
    assert "dirty" in reason
    assert "available" in reason


def case_sync(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    answer = send("POST", endpoint.path, _example(endpoint), status=202)
    assert answer["pipeline_id"] == answer["flow_run_id"]
    done = _wait(send, answer["pipeline_id"])
    assert done["status"] == "completed", done
    result = done["result"]
    assert (result["source"], result["target"], result["data_type"]) == (
        "pms",
        "warehouse",
        "bookings",
    )
    data = hub.app.state.hub.store.get(result["object_key"]).decode()
    synced = {json.loads(line)["booking_id"] for line in data.splitlines()}
    # check-in dates 2025-01-01..2025-01-17, both ends included
    assert synced - {"BOOK001"} == {"BK-JAN05", "BK-JAN17"}  # BOOK001: when case_booking ran
    assert result["records"] == len(synced)
    assert "Mai Pham" not in data  # no personal data in the warehouse


def case_etl(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    answer = send("POST", endpoint.path.replace("{pipeline_name}", "retention"), status=202)
    assert answer["pipeline"] == "retention"
    done = _wait(send, answer["pipeline_id"])
    assert done["status"] == "completed"
    assert done["result"]["deleted"] == 0
    send("POST", endpoint.path.replace("{pipeline_name}", "nope"), status=404)


def case_pipeline_status(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    started = send("POST", f"{P}/pipeline/etl/daily_report", status=202)
    _wait(send, started["pipeline_id"])
    answer = send("GET", endpoint.path.replace("{pipeline_id}", started["pipeline_id"]))
    assert answer["pipeline"] == "daily_report"
    assert answer["status"] == "completed"
    assert answer["result"]["figures"]["rooms_total"] == 3


def case_logs_ingest(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    seed = _example(endpoint)
    answer = send("POST", endpoint.path, seed)
    assert answer["stored"] == 1
    found = send(
        "GET",
        f"{P}/logs/query",
        params={
            "service": "cv",
            "level": "info",
            "start_time": "2025-01-17T08:29:00Z",
            "end_time": "2025-01-17T08:31:00Z",
        },
    )
    (item,) = found["items"]
    assert item["message"] == seed["logs"][0]["message"]
    assert item["level"] == "info"
    assert item["metadata"] == {}
    assert _same_time(item["timestamp"], seed["logs"][0]["timestamp"])


def case_logs_query(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    seed = _example(endpoint)
    counts = {"cv": 2, "ml": 1, "llm": 0, "all": 3}  # errors of 2025-01-17 (_seed)
    for service in seed["service"].split("|"):
        params = dict(seed, service=service)
        answer = send("GET", endpoint.path, params=params)
        assert answer["count"] == counts[service], (service, answer)
        for item in answer["items"]:
            assert item["level"] == "error"
            assert service in ("all", item["service"])
            assert "2025-01-17T00:00:00" <= item["timestamp"] <= "2025-01-17T23:59:59"
    limited = send("GET", endpoint.path, params=dict(seed, service="all", limit=1))
    assert limited["count"] == 1


def case_schedule_create(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    seed = _example(endpoint)
    answer = send("POST", endpoint.path, seed, status=201)
    assert answer["name"] == seed["name"]
    assert answer["workflow"] == "ml_model_retrain"
    assert answer["cron"] == seed["cron"]
    assert answer["parameters"] == seed["parameters"]
    listed = send("GET", f"{P}/schedule/list")["items"]
    assert answer["schedule_id"] in {s["schedule_id"] for s in listed}
    send("POST", endpoint.path, seed, status=409)  # the name is taken


def case_schedule_list(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    made = send(
        "POST",
        f"{P}/schedule/create",
        {
            "name": "morning_report",
            "workflow": "daily_report_generation",
            "cron": "0 7 * * *",
            "parameters": {"report_types": ["occupancy"]},
        },
        status=201,
    )
    listed = send("GET", endpoint.path)["items"]
    (mine,) = [s for s in listed if s["schedule_id"] == made["schedule_id"]]
    assert mine["name"] == "morning_report"
    assert mine["parameters"] == {"report_types": ["occupancy"]}


def case_schedule_delete(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    made = send(
        "POST",
        f"{P}/schedule/create",
        {"name": "doomed", "workflow": "retention_purge", "cron": "0 4 * * *"},
        status=201,
    )
    path = endpoint.path.replace("{schedule_id}", made["schedule_id"])
    assert send("DELETE", path)["name"] == "doomed"
    listed = send("GET", f"{P}/schedule/list")["items"]
    assert made["schedule_id"] not in {s["schedule_id"] for s in listed}
    send("DELETE", path, status=404)


def case_health(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    anonymous = hub.anonymous.get(endpoint.path)
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "healthy"}
    answer = send("GET", endpoint.path)
    assert answer["status"] == "healthy"
    assert answer["checks"]["prefect_api"]["status"] == "ok"
    assert answer["checks"]["database"]["status"] == "ok"


CASES: dict[tuple[str, str], Callable[[RunningHub, Send, SeedEndpoint], None]] = {
    ("POST", f"{P}/workflows/trigger"): case_trigger,
    ("GET", f"{P}/workflows/status/{{flow_run_id}}"): case_status,
    ("POST", f"{P}/workflows/cancel/{{flow_run_id}}"): case_cancel,
    ("POST", f"{P}/events/attendance"): case_attendance,
    ("POST", f"{P}/events/booking"): case_booking,
    ("POST", f"{P}/events/room_status"): case_room_status,
    ("POST", f"{P}/pipeline/sync"): case_sync,
    ("POST", f"{P}/pipeline/etl/{{pipeline_name}}"): case_etl,
    ("GET", f"{P}/pipeline/status/{{pipeline_id}}"): case_pipeline_status,
    ("POST", f"{P}/logs/ingest"): case_logs_ingest,
    ("GET", f"{P}/logs/query"): case_logs_query,
    ("POST", f"{P}/schedule/create"): case_schedule_create,
    ("GET", f"{P}/schedule/list"): case_schedule_list,
    ("DELETE", f"{P}/schedule/{{schedule_id}}"): case_schedule_delete,
    ("GET", f"{P}/health"): case_health,
}


def test_every_prefect_heading_of_the_seed_is_read() -> None:
    assert len(ENDPOINTS) == 15
    assert {(e.method, e.path) for e in ENDPOINTS} == set(CASES)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.key for e in ENDPOINTS])
def test_seed_endpoint(hub: RunningHub, send: Send, endpoint: SeedEndpoint) -> None:
    case = CASES.get((endpoint.method, endpoint.path))
    if case is None:
        pytest.fail(f"no contract case for {endpoint.key}")
    case(hub, send, endpoint)


def test_integration_pattern_1_attendance(hub: RunningHub, send: Send) -> None:
    case_pattern_1(hub, send)


def test_the_seeds_workflow_names_run(
    seeded: tuple[RunningHub, dict[str, int]], send: Send
) -> None:
    from hub.tables import HousekeepingTask, LostItem

    hub, ids = seeded
    run = send(
        "POST",
        f"{P}/workflows/trigger",
        {
            "workflow_name": "lost_found_return",
            "parameters": {"lost_item_id": ids["lost_item_id"], "location": "lobby"},
        },
        status=202,
    )
    done = _wait(send, run["flow_run_id"])
    assert done["status"] == "completed", done
    assert done["result"]["room_number"] == "203"  # where the guest is staying
    item = next(i for i in rows(hub.settings, LostItem) if i.id == ids["lost_item_id"])
    assert (item.status, item.found_location) == ("found", "lobby")
    (task,) = [t for t in rows(hub.settings, HousekeepingTask) if t.category == "lost_found_return"]
    assert task.room_number == "203"
    names = {w["name"] for w in send("GET", f"{P}/workflows")["items"]}
    assert {"daily_report_generation", "ml_model_retrain", "lost_found_return"} <= names
    bad = send(
        "POST",
        f"{P}/workflows/trigger",
        {"workflow_name": "ml_model_retrain", "parameters": {"model_name": "coffee_model"}},
        status=422,
    )
    assert bad["errors"][0]["field"] == "parameters"


def test_openapi_examples_are_the_seeds() -> None:
    from hub.api.app import create_app

    settings = HubSettings(
        jwt_secret=SecretStr("contract-" * 6),
        pii_key=SecretStr(Fernet.generate_key().decode()),
        mqtt_enabled=False,
    )
    spec = create_app(settings, start_ingest=False).openapi()
    schemas = spec["components"]["schemas"]
    checked = 0
    for endpoint in ENDPOINTS:
        if endpoint.request is None:
            continue
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        if endpoint.method == "GET":  # the seed's GET body: our query parameters
            examples = {
                p["name"]: p["schema"].get("examples") or p.get("examples")
                for p in operation["parameters"]
            }
            for name, value in endpoint.request.items():
                shown = examples[name]
                assert shown is not None, (endpoint.key, name)
                assert "|".join(map(str, shown)) == str(value), (endpoint.key, name, shown)
        else:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            schema = schemas[ref.rsplit("/", 1)[1]]
            assert schema["examples"][0] == endpoint.request, endpoint.key
        checked += 1
    assert checked == 8
