"""/api/v1/prefect against Prefect's local mode (one harness per test session): workflow runs
whose states come from Prefect, cancellation, schedules, pipelines, logs, events, health, and
the 4xx answers (unknown workflow, bad parameters, bad cron, a finished run cancelled)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.auth.keys import with_secrets
from hub.settings import HubSettings
from tests.support import prefect as prefect_support  # before anything imports Prefect
from tests.support.hub import RunningHub, hub_settings, running_hub, scoped_headers, wait_until
from tests.support.prefect import prefect_harness, seed_hotel

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
        done = body["state"] in {"completed", "failed", "cancelled", "crashed"}
        return body if done and (body["result"] is not None or body["error"]) else None

    return wait_until(probe, what=f"flow run {run_id}", timeout_s=timeout_s)


def test_one_harness_per_session(hub: RunningHub) -> None:
    assert prefect_support.starts == 1


def test_health_reports_prefect(hub: RunningHub) -> None:
    body = hub.anonymous.get(f"{P}/health").json()
    assert body["status"] == "ok", body
    assert body["prefect"]["deployments"] >= 10
    assert body["prefect"]["executor"] == "local"


def test_routes_need_the_flows_scope(hub: RunningHub) -> None:
    assert hub.anonymous.post(f"{P}/workflows/trigger", json={}).status_code == 401
    viewer = scoped_headers(hub.settings, "cv:read")
    response = hub.anonymous.get(f"{P}/schedule/list", headers=viewer)
    assert response.status_code == 403
    assert "flows:run" in response.json()["detail"]


def test_trigger_runs_the_flow_and_status_comes_from_prefect(hub: RunningHub) -> None:
    day = datetime.now(UTC).date().isoformat()
    response = hub.http.post(
        f"{P}/workflows/trigger", json={"workflow": "daily_report", "parameters": {"day": day}}
    )
    assert response.status_code == 202, response.text
    run_id = response.json()["flow_run_id"]
    body = _wait_final(hub, run_id)
    assert body["state"] == "completed", body
    assert body["workflow"] == "daily_report"
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
    response = hub.http.post(f"{P}/workflows/trigger", json={"workflow": "make_coffee"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "workflow"
    assert "unknown workflow" in response.json()["errors"][0]["reason"]
    response = hub.http.post(
        f"{P}/workflows/trigger",
        json={"workflow": "lost_and_found", "parameters": {"lost_item_id": "not a number"}},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parameters"
    assert hub.http.get(f"{P}/workflows/status/not-a-uuid").status_code == 404
    missing = "00000000-0000-4000-8000-000000000000"
    assert hub.http.get(f"{P}/workflows/status/{missing}").status_code == 404


def test_scheduled_run_can_be_cancelled_once(hub: RunningHub) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = hub.http.post(
        f"{P}/workflows/trigger", json={"workflow": "retention_purge", "scheduled_time": later}
    )
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["state"] == "scheduled"
    status = hub.http.get(f"{P}/workflows/status/{run['flow_run_id']}").json()
    assert status["state"] == "scheduled"
    cancelled = hub.http.post(f"{P}/workflows/cancel/{run['flow_run_id']}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    again = hub.http.post(f"{P}/workflows/cancel/{run['flow_run_id']}")
    assert again.status_code == 409
    assert "already finished" in again.json()["errors"][0]["reason"]


def test_schedules_create_list_delete(hub: RunningHub) -> None:
    bad = hub.http.post(
        f"{P}/schedule/create", json={"workflow": "daily_report", "cron": "61 25 * * *"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cron"
    unknown = hub.http.post(f"{P}/schedule/create", json={"workflow": "nope", "cron": "0 3 * * *"})
    assert unknown.status_code == 404
    created = hub.http.post(
        f"{P}/schedule/create",
        json={"workflow": "daily_pricing", "cron": "0 3 * * *", "timezone": "Asia/Ho_Chi_Minh"},
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["cron"] == "0 3 * * *"
    assert schedule["timezone"] == "Asia/Ho_Chi_Minh"
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
    assert status["state"] == "completed"
    assert status["result"]["deleted"] == 0


def test_logs_ingest_and_query(hub: RunningHub) -> None:
    now = datetime.now(UTC)
    records = [
        {"service": "pms-sync", "level": "ERROR", "message": "timeout", "ts": now.isoformat()},
        {"service": "pms-sync", "level": "INFO", "message": "ok"},
        {"service": "other", "level": "ERROR", "message": "x"},
    ]
    response = hub.http.post(f"{P}/logs/ingest", json={"records": records})
    assert response.status_code == 200
    assert response.json()["stored"] == 3
    items = hub.http.get(
        f"{P}/logs/query", params={"service": "pms-sync", "level": "ERROR"}
    ).json()["items"]
    assert [i["message"] for i in items] == ["timeout"]
    since = (now + timedelta(hours=1)).isoformat()
    assert hub.http.get(f"{P}/logs/query", params={"since": since}).json()["items"] == []
    bad = hub.http.get(f"{P}/logs/query", params={"since": since, "until": now.isoformat()})
    assert bad.status_code == 422
    assert hub.http.post(f"{P}/logs/ingest", json={"records": []}).status_code == 422


def test_booking_events(hub: RunningHub) -> None:
    missing = hub.http.post(
        f"{P}/events/booking", json={"booking_ref": "NOPE", "action": "check_in"}
    )
    assert missing.status_code == 404
    wrong = hub.http.post(
        f"{P}/events/booking", json={"booking_ref": "BK-WAIT", "action": "check_out"}
    )
    assert wrong.status_code == 409
    assert "reserved" in wrong.json()["errors"][0]["reason"]


def test_manual_attendance_event(hub: RunningHub, tmp_path: Path) -> None:
    unknown = hub.http.post(
        f"{P}/events/attendance",
        json={"employee_id": "ghost", "seen_at": datetime.now(UTC).isoformat()},
    )
    assert unknown.status_code == 404
    seen = datetime.now(UTC).replace(hour=5, minute=55, second=0, microsecond=0)
    response = hub.http.post(
        f"{P}/events/attendance",
        json={"employee_id": "hk-1", "seen_at": seen.isoformat(), "method": "badge"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "present"
    assert body["method"] == "badge"
    assert body["minutes_late"] == 0
    assert body["check_out_at"] is None


def test_pipeline_sync_publishes_a_gallery_version(hub: RunningHub) -> None:
    response = hub.http.post(f"{P}/pipeline/sync")
    assert response.status_code == 202, response.text
    body = _wait_final(hub, response.json()["pipeline_id"])
    assert body["state"] == "completed", body
    assert body["result"]["version"] >= 1
    store = hub.app.state.hub.store
    assert store.exists(f"galleries/{body['result']['version']}.json")


def test_a_failing_flow_reports_failed_with_its_reason(hub: RunningHub) -> None:
    # no booking history and no trained model: the optimiser refuses, the run fails and says why
    response = hub.http.post(
        f"{P}/workflows/trigger", json={"workflow": "daily_pricing", "parameters": {"days": 3}}
    )
    assert response.status_code == 202, response.text
    body = _wait_final(hub, response.json()["flow_run_id"], timeout_s=90)
    assert body["state"] == "failed", body
    assert body["error"]
    assert body["result"] is None
