"""/api/v1/prefect against Prefect's local mode (one harness per test session): workflow runs
whose states come from Prefect, cancellation, schedules, pipelines, logs, events, health, and
the 4xx answers (unknown workflow, bad parameters, bad cron, a finished run cancelled)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.auth.keys import with_secrets
from hub.settings import HubSettings
from testkit import prefect as prefect_support  # before anything imports Prefect
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers, wait_until
from testkit.prefect import prefect_harness, seed_hotel

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(240),
    pytest.mark.usefixtures("prefect_harness"),
    # Prefect's client leaves sockets to the local-mode server for the garbage collector
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]
__all__ = ["prefect_harness"]

P = "/api/v1/prefect"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Iterator[RunningHub]:
    data = tmp_path_factory.mktemp("prefect-api")
    settings: HubSettings = with_secrets(
        hub_settings(
            data,
            None,
            flows_enabled=True,
            flows_poll_interval_s=0.5,
            flows_default_schedules=False,
        )
    )
    asyncio.run(seed_hotel(settings))
    with running_hub(settings) as running:
        runner = running.app.state.hub.flow_runner
        wait_until(lambda: runner.ready or None, what="Prefect deployments", timeout_s=60)
        yield running
    # collect the sockets Prefect's clients leave behind while this module's warning filter
    # applies, not during some later test
    gc.collect()


def _wait_final(hub: RunningHub, run_id: str, timeout_s: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = hub.http.get(f"{P}/workflows/status/{run_id}").json()
        done = body["status"] in {"completed", "failed", "cancelled", "crashed"}
        return body if done and (body["result"] is not None or body["error"]) else None

    return wait_until(probe, what=f"flow run {run_id}", timeout_s=timeout_s)


def test_one_harness_per_session(hub: RunningHub) -> None:
    assert prefect_support.starts == 1


def test_health_reports_prefect_and_hides_it_from_anonymous_callers(hub: RunningHub) -> None:
    anonymous = hub.anonymous.get(f"{P}/health").json()
    assert anonymous == {"status": "healthy"}  # issue 17: no internals without credentials
    body = hub.http.get(f"{P}/health").json()
    assert body["status"] == "healthy", body
    assert body["deployments"] >= 16
    assert body["executor"] == "local"
    assert {"database", "prefect_api", "deployments", "notifier"} <= set(body["checks"])
    assert body["checks"]["prefect_api"]["status"] == "ok"
    viewer = scoped_headers(hub.settings, "cv:read")
    assert hub.anonymous.get(f"{P}/health", headers=viewer).json() == {"status": "healthy"}


def test_routes_need_the_flows_scope(hub: RunningHub) -> None:
    assert hub.anonymous.post(f"{P}/workflows/trigger", json={}).status_code == 401
    viewer = scoped_headers(hub.settings, "cv:read")
    response = hub.anonymous.get(f"{P}/schedule/list", headers=viewer)
    assert response.status_code == 403
    assert "flows:run" in response.json()["detail"]


def test_trigger_runs_the_flow_and_status_comes_from_prefect(hub: RunningHub) -> None:
    day = datetime.now(UTC).date().isoformat()
    response = hub.http.post(
        f"{P}/workflows/trigger",
        json={"workflow_name": "daily_report", "parameters": {"day": day}},
    )
    assert response.status_code == 202, response.text
    run_id = response.json()["flow_run_id"]
    assert run_id.startswith("fr_")
    assert len(run_id) == 35
    body = _wait_final(hub, run_id)
    assert body["status"] == "completed", body
    assert body["workflow_name"] == "daily_report"
    figures = body["result"]["figures"]
    assert figures["rooms_total"] == 2
    assert figures["rooms_occupied"] == 1  # the booking waiting for room 101 stays tonight
    store = hub.app.state.hub.store
    html = store.get(body["result"]["html"]).decode()
    assert "Daily report" in html
    assert "occupancy.png" in html
    assert store.get(body["result"]["charts"][0]).startswith(b"\x89PNG")
    # mirrored in workflow_logs
    mirror = asyncio.run(_mirror_row(hub, run_id))
    assert mirror is not None
    assert mirror["status"] == "completed"


async def _mirror_row(hub: RunningHub, run_id: str) -> dict[str, Any] | None:
    from hub.crypto import PiiCipher, bind_pii_cipher
    from hub.db import create_engine, create_session_factory
    from hub.flows.runner import FlowRunner

    engine = create_engine(hub.settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(with_secrets(hub.settings).pii_key))
    try:
        runner = FlowRunner(hub.settings, create_session_factory(engine))
        row = await runner.mirrored(run_id)
        return None if row is None else {"status": row.status, "flow_name": row.flow_name}
    finally:
        await engine.dispose()


def test_unknown_workflow_and_bad_parameters_are_4xx(hub: RunningHub) -> None:
    response = hub.http.post(f"{P}/workflows/trigger", json={"workflow_name": "make_coffee"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "workflow_name"
    assert "unknown workflow" in response.json()["errors"][0]["reason"]
    response = hub.http.post(
        f"{P}/workflows/trigger",
        json={"workflow_name": "lost_and_found", "parameters": {"lost_item_id": "not a number"}},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parameters"
    response = hub.http.post(
        f"{P}/workflows/trigger",
        json={
            "workflow_name": "daily_report_generation",
            "parameters": {"report_types": ["occupancy", "gossip"]},
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parameters"
    old_name = hub.http.post(f"{P}/workflows/trigger", json={"workflow": "daily_report"})
    assert old_name.status_code == 422
    assert hub.http.get(f"{P}/workflows/status/fr_abc123").status_code == 404
    assert hub.http.get(f"{P}/workflows/status/not-a-uuid").status_code == 404
    missing = "00000000-0000-4000-8000-000000000000"
    assert hub.http.get(f"{P}/workflows/status/{missing}").status_code == 404


def test_scheduled_run_can_be_cancelled_once(hub: RunningHub) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = hub.http.post(
        f"{P}/workflows/trigger",
        json={"workflow_name": "retention_purge", "scheduled_time": later},
    )
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "scheduled"
    assert datetime.fromisoformat(run["scheduled_start"]) == datetime.fromisoformat(later)
    status = hub.http.get(f"{P}/workflows/status/{run['flow_run_id']}").json()
    assert status["status"] == "scheduled"
    # Prefect's own UUID names the same run
    by_uuid = hub.http.get(f"{P}/workflows/status/{run['prefect_flow_run_id']}").json()
    assert by_uuid["flow_run_id"] == run["flow_run_id"]
    cancelled = hub.http.post(f"{P}/workflows/cancel/{run['flow_run_id']}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = hub.http.post(f"{P}/workflows/cancel/{run['flow_run_id']}")
    assert again.status_code == 409
    assert "already finished" in again.json()["errors"][0]["reason"]


def test_schedules_create_list_delete(hub: RunningHub) -> None:
    bad = hub.http.post(
        f"{P}/schedule/create",
        json={"name": "bad", "workflow": "daily_report", "cron": "61 25 * * *"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cron"
    unknown = hub.http.post(
        f"{P}/schedule/create", json={"name": "x", "workflow": "nope", "cron": "0 3 * * *"}
    )
    assert unknown.status_code == 404
    body = {
        "name": "pricing_hcm",
        "workflow": "daily_pricing",
        "cron": "0 3 * * *",
        "timezone": "Asia/Ho_Chi_Minh",
    }
    created = hub.http.post(f"{P}/schedule/create", json=body)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["cron"] == "0 3 * * *"
    assert schedule["name"] == "pricing_hcm"
    assert schedule["timezone"] == "Asia/Ho_Chi_Minh"
    taken = hub.http.post(f"{P}/schedule/create", json=body)
    assert taken.status_code == 409
    assert taken.json()["errors"][0]["field"] == "name"
    listed = hub.http.get(f"{P}/schedule/list").json()["items"]
    assert schedule["schedule_id"] in {s["schedule_id"] for s in listed}
    deleted = hub.http.delete(f"{P}/schedule/{schedule['schedule_id']}")
    assert deleted.status_code == 200
    assert hub.http.delete(f"{P}/schedule/{schedule['schedule_id']}").status_code == 404
    listed = hub.http.get(f"{P}/schedule/list").json()["items"]
    assert schedule["schedule_id"] not in {s["schedule_id"] for s in listed}


def test_pipelines(hub: RunningHub) -> None:
    assert hub.http.post(f"{P}/pipeline/etl/nope").status_code == 404
    response = hub.http.post(f"{P}/pipeline/etl/retention")
    assert response.status_code == 202, response.text
    pipeline_id = response.json()["pipeline_id"]
    _wait_final(hub, pipeline_id)
    status = hub.http.get(f"{P}/pipeline/status/{pipeline_id}").json()
    assert status["pipeline"] == "retention"
    assert status["status"] == "completed"
    assert status["result"]["deleted"] == 0


def test_logs_ingest_and_query(hub: RunningHub) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    logs = [
        {"level": "error", "message": "timeout", "timestamp": now.isoformat()},
        {"level": "INFO", "message": "ok", "metadata": {"batch": 3}},
    ]
    response = hub.http.post(f"{P}/logs/ingest", json={"service": "pms-sync", "logs": logs})
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 2
    other = {"service": "other", "logs": [{"level": "error", "message": "x"}]}
    assert hub.http.post(f"{P}/logs/ingest", json=other).status_code == 200
    items = hub.http.get(
        f"{P}/logs/query", params={"service": "pms-sync", "level": "ERROR"}
    ).json()["items"]
    assert [(i["message"], i["level"]) for i in items] == [("timeout", "error")]
    both = hub.http.get(f"{P}/logs/query", params={"service": "all", "level": "error"}).json()
    assert {i["service"] for i in both["items"]} >= {"pms-sync", "other"}
    assert both["count"] == len(both["items"])
    limited = hub.http.get(f"{P}/logs/query", params={"service": "all", "limit": 1}).json()
    assert limited["count"] == 1
    later = (now + timedelta(hours=1)).isoformat()
    assert hub.http.get(f"{P}/logs/query", params={"start_time": later}).json()["items"] == []
    bad = hub.http.get(f"{P}/logs/query", params={"start_time": later, "end_time": now.isoformat()})
    assert bad.status_code == 422
    empty = hub.http.post(f"{P}/logs/ingest", json={"service": "x", "logs": []})
    assert empty.status_code == 422
    old_shape = hub.http.post(f"{P}/logs/ingest", json={"records": logs})
    assert old_shape.status_code == 422


def test_booking_events(hub: RunningHub) -> None:
    missing = hub.http.post(
        f"{P}/events/booking", json={"booking_id": "NOPE", "event_type": "checked_in"}
    )
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "booking_id"
    wrong = hub.http.post(
        f"{P}/events/booking", json={"booking_id": "BK-WAIT", "event_type": "checked_out"}
    )
    assert wrong.status_code == 409
    assert "reserved" in wrong.json()["errors"][0]["reason"]
    incomplete = hub.http.post(
        f"{P}/events/booking",
        json={"booking_id": "BK-NEW", "event_type": "new_booking", "guest_data": {"name": "A"}},
    )
    assert incomplete.status_code == 422
    assert incomplete.json()["errors"][0]["field"] == "room_data.check_in_date"


def test_attendance_events_check_in_and_out(hub: RunningHub) -> None:
    unknown = hub.http.post(
        f"{P}/events/attendance",
        json={
            "employee_id": "ghost",
            "timestamp": datetime.now(UTC).isoformat(),
            "action": "check_in",
        },
    )
    assert unknown.status_code == 404
    day = datetime.now(UTC).replace(hour=5, minute=55, second=0, microsecond=0)
    early_out = hub.http.post(
        f"{P}/events/attendance",
        json={"employee_id": "hk-1", "timestamp": day.isoformat(), "action": "check_out"},
    )
    assert early_out.status_code == 409  # nothing to close yet
    response = hub.http.post(
        f"{P}/events/attendance",
        json={"employee_id": "hk-1", "timestamp": day.isoformat(), "action": "check_in"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "present"
    assert body["method"] == "manual"
    assert body["minutes_late"] == 0
    assert body["check_out_at"] is None
    assert body["entered_by"] == "local:local-admin"  # issue 17: who entered it (token subject)
    out = day + timedelta(hours=8, minutes=5)
    closed = hub.http.post(
        f"{P}/events/attendance",
        json={
            "employee_id": "hk-1",
            "timestamp": out.isoformat(),
            "action": "check_out",
            "location": "staff-exit",
            "confidence": 0.91,
        },
    )
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert datetime.fromisoformat(body["check_out_at"]) == out
    assert datetime.fromisoformat(body["check_in_at"]) == day
    assert (body["location"], body["confidence"]) == ("staff-exit", 0.91)


def test_pipeline_sync_refuses_what_it_cannot_do(hub: RunningHub) -> None:
    for body, field in (
        ({"source": "pms", "target": "edges", "data_type": "bookings"}, "target"),
        ({"source": "pms", "target": "warehouse", "data_type": "faces"}, "data_type"),
        (
            {
                "source": "hub",
                "target": "edges",
                "data_type": "faces",
                "date_range": {"start": "2025-01-01", "end": "2025-01-02"},
            },
            "date_range",
        ),
        (
            {
                "source": "pms",
                "target": "warehouse",
                "data_type": "bookings",
                "date_range": {"start": "2025-02-01", "end": "2025-01-02"},
            },
            "date_range.start",
        ),
    ):
        response = hub.http.post(f"{P}/pipeline/sync", json=body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["errors"][0]
        assert error["field"] == field
    unsupported = hub.http.post(
        f"{P}/pipeline/sync", json={"source": "pms", "target": "edges", "data_type": "bookings"}
    )
    assert "hub -> edges: faces" in unsupported.json()["errors"][0]["reason"]
    assert hub.http.post(f"{P}/pipeline/sync", json={}).status_code == 422


def test_pipeline_sync_publishes_a_gallery_version(hub: RunningHub) -> None:
    response = hub.http.post(
        f"{P}/pipeline/sync", json={"source": "hub", "target": "edges", "data_type": "faces"}
    )
    assert response.status_code == 202, response.text
    body = _wait_final(hub, response.json()["pipeline_id"])
    assert body["status"] == "completed", body
    assert body["result"]["version"] >= 1
    store = hub.app.state.hub.store
    assert store.exists(f"galleries/{body['result']['version']}.json")


def test_a_failing_flow_reports_failed_with_its_reason(hub: RunningHub) -> None:
    # no booking history and no trained model: the optimiser refuses, the run fails and says why
    response = hub.http.post(
        f"{P}/workflows/trigger",
        json={"workflow_name": "daily_pricing", "parameters": {"days": 3}},
    )
    assert response.status_code == 202, response.text
    body = _wait_final(hub, response.json()["flow_run_id"], timeout_s=90)
    assert body["status"] == "failed", body
    assert body["error"]
    assert body["result"] is None
