"""The ingest against a real PostgreSQL: publish -> REST read-back, redelivery -> one row."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from contracts.ids import uuid7
from contracts.messages import Phase
from innsight.broker import MosquittoBroker
from testkit.hub import (
    BASE_TIME,
    acks_topic,
    events_page,
    hub_settings,
    make_event,
    mqtt_probe,
    running_hub,
    wait_for_acked,
    wait_for_events,
)
from testkit.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _admin_dsn(async_url: str) -> str:
    return make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(async_url: str, statement: str) -> None:
    conn = await asyncpg.connect(_admin_dsn(async_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database per test, dropped afterwards."""
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_server.async_url, f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server.async_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(
            _admin(postgres_server.async_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


def test_postgres_publish_read_back_and_redelivery(
    tmp_path: Path, mosquitto: MosquittoBroker, database_url: str
) -> None:
    settings = hub_settings(tmp_path / "hub", mosquitto, database_url=database_url)
    event_id = uuid7()
    first = make_event(1, event_id=event_id, score=0.55, snapshot_seed=1)
    better = make_event(2, event_id=event_id, phase=Phase.UPDATE, score=0.92, person_id="emp-3")
    end = make_event(3, event_id=event_id, phase=Phase.END, score=0.4)
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        edge.subscribe(acks_topic())
        edge.publish_event(first)
        wait_for_acked(edge, {1})
        items = wait_for_events(hub.http, lambda items: len(items) == 1)
        assert items[0]["event_id"] == str(event_id)
        assert items[0]["score"] == pytest.approx(0.55)

        for message in (first, better, better, end, first):
            edge.publish_event(message)
        wait_for_acked(edge, {1, 2, 3})

        items = wait_for_events(hub.http, lambda items: bool(items) and items[0]["phase"] == "end")
        assert len(items) == 1
        row = items[0]
        assert row["score"] == pytest.approx(0.92)
        assert row["person_id"] == "emp-3"
        assert row["messages"] == 3
        assert row["snapshot_key"] == f"snapshots/edge-1/{event_id}.jpg"
        assert row["ended_at"] is not None
        assert events_page(hub.http, since=BASE_TIME.isoformat())["total"] == 1
        devices = hub.http.get("/api/v1/devices").json()["items"]
        assert [(d["device_id"], d["last_seq"], d["gaps"]) for d in devices] == [("edge-1", 3, [])]
        health = hub.http.get("/api/v1/cv/health")
        assert health.status_code == 200
        assert health.json()["database"]["ok"] is True
