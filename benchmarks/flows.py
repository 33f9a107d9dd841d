"""Flows benchmark: Prefect flow-run overhead, face event -> attendance row latency, and the
seed-shaped attendance event through the API.

    .venv/bin/python -m benchmarks.flows [--runs 10] [--events 30]

- flow-run overhead: ``POST /api/v1/prefect/workflows/trigger`` of a light flow
  (``retention_purge`` on an empty store) -> the run's state read back as completed through
  ``/workflows/status`` (polled every 20 ms); also Prefect's own start -> end time of the run.
  Prefect in local mode (``prefect_test_harness``: a local API server on SQLite), the hub's local
  executor, real HTTP on loopback.
- event -> attendance row: a recognised, live face event published QoS 1 to a real Mosquitto on
  loopback -> hub ingest (batch delay 50 ms) -> attendance in the ingest path -> the
  ``attendance_logs`` row visible in the hub's SQLite file (polled every 5 ms), one event at a
  time, a different employee each time.
- ``POST /api/v1/prefect/events/attendance`` with the seed's body (employee_id, timestamp,
  action check_in, location, confidence) -> 200 with the day's row, one request at a time, a
  different employee each time (the day before the MQTT events, so each creates its row).

Prints medians and p95 with the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from testkit import prefect as prefect_support  # sets PREFECT_HOME before Prefect loads
from testkit.machine import describe_machine

P = "/api/v1/prefect"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def _seed_employees(settings: object, count: int) -> None:
    from hub.crypto import PiiCipher, bind_pii_cipher
    from hub.db import create_engine, create_session_factory, init_db
    from hub.settings import HubSettings
    from hub.tables import Employee

    assert isinstance(settings, HubSettings)
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    try:
        await init_db(engine)
        async with create_session_factory(engine)() as session:
            session.add_all(
                Employee(employee_id=f"bench-{i:03d}", name=f"Bench {i}") for i in range(count)
            )
            await session.commit()
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    from contracts.ids import uuid7
    from contracts.messages import (
        BBox,
        EventEnvelope,
        EventKind,
        FacePayload,
        LivenessVerdict,
        Phase,
    )
    from hub.auth.keys import with_secrets
    from innsight.broker import MosquittoBroker
    from testkit.hub import (
        acks_topic,
        hub_settings,
        mqtt_probe,
        running_hub,
        wait_for_acked,
        wait_until,
    )

    print(describe_machine())
    print(f"command: {shlex.join([sys.executable, '-m', 'benchmarks.flows', *sys.argv[1:]])}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        print(f"Prefect local mode (test harness) started in {time.perf_counter() - started:.1f} s")
        broker = MosquittoBroker(workdir=Path(tmp) / "mosquitto")
        broker.start()
        try:
            settings = with_secrets(
                hub_settings(
                    Path(tmp) / "hub",
                    broker,
                    flows_enabled=True,
                    flows_poll_interval_s=5.0,
                    flows_default_schedules=False,
                    ingest_max_batch_delay_s=0.05,
                )
            )
            asyncio.run(_seed_employees(settings, args.events))
            with running_hub(settings) as hub:
                runner = hub.app.state.hub.flow_runner
                wait_until(lambda: runner.ready or None, what="deployments", timeout_s=120)

                totals: list[float] = []
                in_prefect: list[float] = []
                for i in range(args.runs + 1):
                    t0 = time.perf_counter()
                    run = hub.http.post(
                        f"{P}/workflows/trigger", json={"workflow_name": "retention_purge"}
                    ).json()
                    while True:
                        body = hub.http.get(f"{P}/workflows/status/{run['flow_run_id']}").json()
                        if body["status"] in {"completed", "failed", "crashed"} and (
                            body["result"] is not None or body["error"]
                        ):
                            break
                        time.sleep(0.02)
                    elapsed = time.perf_counter() - t0
                    assert body["status"] == "completed", body
                    if i == 0:
                        print(f"first run (warm-up, not counted): {elapsed * 1000:.0f} ms")
                        continue
                    totals.append(elapsed)
                    start = datetime.fromisoformat(body["start_time"])
                    end = datetime.fromisoformat(body["end_time"])
                    in_prefect.append((end - start).total_seconds())

                yesterday = datetime.now(UTC) - timedelta(days=1)
                api_ms: list[float] = []
                for i in range(args.events):
                    seed_body = {
                        "employee_id": f"bench-{i:03d}",
                        "timestamp": yesterday.isoformat(),
                        "action": "check_in",
                        "location": "cam_lobby_01",
                        "confidence": 0.98,
                    }
                    t0 = time.perf_counter()
                    response = hub.http.post(f"{P}/events/attendance", json=seed_body)
                    api_ms.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.text

                db_path = settings.database_url.get_secret_value().split("///", 1)[1]
                latencies: list[float] = []
                with mqtt_probe(broker, "bench-edge") as edge, sqlite3.connect(db_path) as db:
                    edge.subscribe(acks_topic())
                    for i in range(args.events):
                        employee = f"bench-{i:03d}"
                        envelope = EventEnvelope(
                            device_id="edge-1",
                            seq=i + 1,
                            event_id=uuid7(),
                            phase=Phase.NEW,
                            camera_id="entrance",
                            kind=EventKind.FACE,
                            started_at=datetime.now(UTC),
                            payload=FacePayload(
                                person_id=employee,
                                score=0.96,
                                liveness=LivenessVerdict.LIVE,
                                bbox=BBox(x=1, y=1, w=64, h=64),
                                track_id=i,
                                model_id="dlib-resnet-v1",
                            ),
                        )
                        t0 = time.perf_counter()
                        edge.publish_event(envelope)
                        while (
                            db.execute(
                                "SELECT 1 FROM attendance_logs WHERE employee_id = ?", (employee,)
                            ).fetchone()
                            is None
                        ):
                            if time.perf_counter() - t0 > 30:
                                raise AssertionError(f"no attendance row for {employee}")
                            time.sleep(0.005)
                        latencies.append(time.perf_counter() - t0)
                        wait_for_acked(edge, {i + 1})
        finally:
            broker.kill()

    ms = [v * 1000 for v in totals]
    prefect_ms = [v * 1000 for v in in_prefect]
    event_ms = [v * 1000 for v in latencies]
    print(f"load average (1/5/15 min): {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"harness starts in this process: {prefect_support.starts or 1}")
    print(
        f"flow-run overhead, trigger -> completed via the API ({len(ms)} runs): "
        f"median {statistics.median(ms):.0f} ms, p95 {p95(ms):.0f} ms"
    )
    print(
        f"  of which Prefect's own run (start -> end): median "
        f"{statistics.median(prefect_ms):.0f} ms, p95 {p95(prefect_ms):.0f} ms"
    )
    print(
        f"event -> attendance row ({len(event_ms)} events): median "
        f"{statistics.median(event_ms):.0f} ms, p95 {p95(event_ms):.0f} ms"
    )
    print(
        f"POST /events/attendance, seed body -> 200 ({len(api_ms)} requests): median "
        f"{statistics.median(api_ms):.0f} ms, p95 {p95(api_ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
