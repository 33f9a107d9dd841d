"""An edge that speaks another contract version, through a real Mosquitto into the hub: its
heartbeats are refused (dead-lettered as before), the hub logs a warning naming the side to
upgrade and sets ``innsight_edge_incompatible_contract`` for the device on /metrics; a heartbeat
in the hub's version clears it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.messages import SCHEMA_VERSION, Heartbeat
from innsight.broker import MosquittoBroker
from testkit.hub import DEVICE, SITE, hub_settings, mqtt_probe, running_hub, wait_until

pytestmark = pytest.mark.integration

TOPIC = f"innsight/{SITE}/{DEVICE}/heartbeat"
NEWER = SCHEMA_VERSION + 1
SAMPLE = f'innsight_edge_incompatible_contract{{device_id="{DEVICE}",schema="{NEWER}"}} 1.0'


def test_an_incompatible_edge_is_reported_until_it_speaks_our_version(
    tmp_path: Path, mosquitto: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    settings = hub_settings(tmp_path / "hub", mosquitto)
    newer = {"schema": NEWER, "device_id": DEVICE, "sent_at": datetime.now(UTC).isoformat()}
    with (
        caplog.at_level(logging.WARNING, logger="hub.edge_versions"),
        running_hub(settings) as hub,
        mqtt_probe(mosquitto, "edge-probe") as edge,
    ):
        edge.publish(TOPIC, json.dumps(newer).encode())
        wait_until(
            lambda: SAMPLE in hub.http.get("/metrics").text or None,
            what="the incompatible-contract gauge",
        )
        assert hub.app.state.hub.ingest.contracts.incompatible == {DEVICE: NEWER}
        health = hub.http.get("/api/v1/cv/health").json()
        assert health["status"] == "degraded"
        assert health["ingest"]["incompatible_edges"] == {DEVICE: NEWER}
        warnings = [r.getMessage() for r in caplog.records if r.name == "hub.edge_versions"]
        assert warnings == [
            f"edge {DEVICE} speaks contract schema {NEWER}, this hub speaks {SCHEMA_VERSION}: "
            "its messages are refused until the hub is upgraded"
        ]
        dead = hub.http.get("/api/v1/dead-letters").json()["items"]
        assert [d["topic"] for d in dead] == [TOPIC]  # still refused, never silently lost

        current = Heartbeat(device_id=DEVICE, sent_at=datetime.now(UTC), version="0.1.0")
        edge.publish(TOPIC, current.to_json_bytes())
        wait_until(
            lambda: (
                "innsight_edge_incompatible_contract{" not in hub.http.get("/metrics").text or None
            ),
            what="the gauge to clear",
        )
        assert hub.app.state.hub.ingest.contracts.incompatible == {}
        assert hub.http.get("/api/v1/cv/health").json()["ingest"]["incompatible_edges"] == {}
        # the edge's release travels in every heartbeat and shows in the device listing
        listed = wait_until(
            lambda: (
                [
                    d
                    for d in hub.http.get("/api/v1/devices").json()["items"]
                    if d["device_id"] == DEVICE and d["last_heartbeat"]
                ]
                or None
            ),
            what="the heartbeat in the device listing",
        )
        assert listed[0]["last_heartbeat"]["version"] == "0.1.0"
