"""hub/edge_versions.py: an edge whose heartbeats speak another contract version is flagged
(a gauge per device, one warning per device and version) until a heartbeat passes again."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import CollectorRegistry

from contracts.messages import SCHEMA_VERSION
from hub.edge_versions import INCOMPATIBLE_METRIC, EdgeContractWatch, peek_schema


def _heartbeat(schema: object) -> bytes:
    return json.dumps(
        {"schema": schema, "device_id": "edge-1", "sent_at": "2026-12-07T01:00:00Z"}
    ).encode()


def _gauge(registry: CollectorRegistry, device: str, schema: int) -> float | None:
    return registry.get_sample_value(
        INCOMPATIBLE_METRIC, {"device_id": device, "schema": str(schema)}
    )


def test_peek_schema_reads_only_integer_versions() -> None:
    assert peek_schema(_heartbeat(2)) == 2
    assert peek_schema(_heartbeat("2")) is None
    assert peek_schema(b"not json") is None
    assert peek_schema(b"[1, 2]") is None
    assert peek_schema(b"{" * 10_000) is None  # over the depth limit: not parsed


def test_a_newer_edge_is_flagged_once_and_cleared_when_it_speaks_ours(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    watch = EdgeContractWatch(registry)
    with caplog.at_level(logging.WARNING, logger="hub.edge_versions"):
        assert watch.refused("edge-1", _heartbeat(SCHEMA_VERSION + 1)) == SCHEMA_VERSION + 1
        assert watch.refused("edge-1", _heartbeat(SCHEMA_VERSION + 1)) == SCHEMA_VERSION + 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"edge edge-1 speaks contract schema {SCHEMA_VERSION + 1}, this hub speaks "
        f"{SCHEMA_VERSION}: its messages are refused until the hub is upgraded"
    ]
    assert watch.incompatible == {"edge-1": SCHEMA_VERSION + 1}
    assert _gauge(registry, "edge-1", SCHEMA_VERSION + 1) == 1.0

    watch.accepted("edge-1")
    assert watch.incompatible == {}
    assert _gauge(registry, "edge-1", SCHEMA_VERSION + 1) is None


def test_an_older_edge_is_told_to_upgrade_and_other_faults_are_not_versions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    watch = EdgeContractWatch(registry)
    with caplog.at_level(logging.WARNING, logger="hub.edge_versions"):
        assert watch.refused("edge-2", _heartbeat(0)) == 0
    assert "until the edge is upgraded" in caplog.text
    # the right version with another fault, or no version at all: not flagged
    assert watch.refused("edge-3", _heartbeat(SCHEMA_VERSION)) is None
    assert watch.refused("edge-3", b"{}") is None
    assert watch.incompatible == {"edge-2": 0}
    # a version change moves the gauge's label
    watch.refused("edge-2", _heartbeat(7))
    assert _gauge(registry, "edge-2", 0) is None
    assert _gauge(registry, "edge-2", 7) == 1.0


def test_every_edge_heartbeat_carries_the_agents_release() -> None:
    from datetime import UTC, datetime
    from importlib import metadata

    from contracts.messages import Heartbeat
    from edge_agent.services import host_stats
    from edge_agent.services.heartbeat import HeartbeatStats, build_heartbeat

    assert host_stats.agent_version() == metadata.version("innsight")
    stats = HeartbeatStats(version=host_stats.agent_version())
    beat = build_heartbeat("edge-1", stats, datetime(2026, 12, 7, tzinfo=UTC))
    wire = json.loads(beat.to_json_bytes())
    assert wire["version"] == metadata.version("innsight")
    assert wire["schema"] == SCHEMA_VERSION
    assert Heartbeat.model_validate_json(beat.to_json_bytes()) == beat
    # an older edge's heartbeat, without the field, is still read
    del wire["version"]
    assert Heartbeat.model_validate(wire).version is None
