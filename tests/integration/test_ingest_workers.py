"""Several ``innsight hub ingest`` workers on one PostgreSQL share the subscription (MQTT 5
``$share``): one device's messages spread over them, one worker SIGKILLed twice mid-stream,
and still every event is stored once, none lost, per-camera order by seq intact (issue 21).

CI drains ``CI_EVENTS``; ``python -m benchmarks.outbox --fault-events 20000`` runs the same
scenario (:func:`testkit.ingest_workers.run_worker_fault`) with the issue's 20,000."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from innsight.broker import MosquittoBroker
from testkit.ingest_workers import run_worker_fault
from testkit.postgres import PostgresServer, scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CI_EVENTS = 2000


@pytest.mark.timeout(180)
def test_three_workers_one_sigkilled_twice_store_every_event_once(
    tmp_path: Path, mosquitto: MosquittoBroker, postgres_server: PostgresServer
) -> None:
    with scratch_database(postgres_server, "ingest_workers") as url:
        run = run_worker_fault(
            tmp_path,
            mqtt_host=mosquitto.host,
            mqtt_port=mosquitto.port,
            database_url=url,
            events=CI_EVENTS,
        )
    check = run.check
    sys.stdout.write(f"\n[fault:ingest-workers] {check} seconds={run.seconds:.1f}\n")
    assert check.missing_seqs == 0, check  # 0 lost
    assert check.received_rows == CI_EVENTS, check  # each message applied once
    assert check.event_rows == CI_EVENTS, check  # each event once
    assert check.merged_twice == 0, check  # no message merged into its event twice
    assert check.misordered == 0, check  # per camera, order by seq gives the edge's order
    assert check.wrong_kind == 0, check
    assert check.flow_work_rows == check.anomalies, check  # flow work once per anomaly
    assert check.last_seq == CI_EVENTS, check
    assert run.kills == 2
