"""hub/observability without a server: request ids, the JSON log lines, the log configuration
handed to uvicorn, the tracer switch and the database gauges rendered from a snapshot."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, generate_latest

from hub.observability import logs
from hub.observability.context import request_id_from, request_id_var
from hub.observability.db_metrics import DatabaseGauges, DeviceRow, Snapshot, families
from hub.observability.tracing import (
    OTLP_MODULE,
    TracingUnavailableError,
    tracer_of,
    tracer_provider_for,
)
from hub.settings import HubSettings


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("hub.test", logging.WARNING, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_request_ids_accept_plain_tokens_only() -> None:
    assert request_id_from("9f1c-77.a:b_c") == "9f1c-77.a:b_c"
    for bad in (None, "", "x" * 129, "a b", 'x"y', "é"):
        made = request_id_from(bad)
        assert re.fullmatch(r"[0-9a-f]{32}", made), bad


def test_a_json_line_carries_the_request_id_and_the_extras() -> None:
    handler = logs.make_handler("json")
    token = request_id_var.set("req-42")
    try:
        record = _record("stored %d events", device="edge-1", when=datetime(2026, 1, 1, tzinfo=UTC))
        record.args = (3,)
        assert handler.filter(record)
        entry = json.loads(handler.format(record))
    finally:
        request_id_var.reset(token)
    assert entry["message"] == "stored 3 events"
    assert entry["request_id"] == "req-42"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "hub.test"
    assert entry["device"] == "edge-1"
    assert entry["when"] == "2026-01-01 00:00:00+00:00"  # not JSON: written as its str
    assert entry["ts"].endswith("+00:00")
    assert "trace_id" not in entry  # no span


def _fail() -> None:
    raise ValueError("boom")


def test_a_json_line_has_the_trace_and_the_exception() -> None:
    tracer = TracerProvider().get_tracer("t")
    formatter = logs.JsonFormatter()
    with tracer.start_as_current_span("work") as span:
        record = _record("failed")
        try:
            _fail()
        except ValueError:
            record.exc_info = sys.exc_info()
        entry = json.loads(formatter.format(record))
    assert entry["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "ValueError: boom" in entry["exc_info"]
    assert entry["request_id"] is None


def test_log_formats() -> None:
    assert logs.log_format_of(" JSON ") == "json"
    assert logs.log_format_of("text") == "text"
    with pytest.raises(ValueError, match="text, json"):
        logs.log_format_of("yaml")


def test_uvicorn_logs_go_to_the_json_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    from uvicorn.config import LOGGING_CONFIG

    monkeypatch.setitem(logs._state, "format", "text")
    assert logs.uvicorn_log_config() is LOGGING_CONFIG
    monkeypatch.setitem(logs._state, "format", "json")
    monkeypatch.setitem(logs._state, "level", "DEBUG")
    config = logs.uvicorn_log_config()
    assert config["root"] == {"handlers": ["json"], "level": "DEBUG"}
    assert config["formatters"]["json"]["()"] == "hub.observability.logs.JsonFormatter"
    assert config["filters"]["request_id"]["()"] == "hub.observability.logs.RequestIdFilter"
    assert all(v == {"handlers": [], "propagate": True} for v in config["loggers"].values())


def test_tracing_is_off_unless_an_exporter_is_named(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path)
    assert settings.otel_exporter == "none"
    assert tracer_provider_for(settings) is None
    assert tracer_of(None) is None
    provider = tracer_provider_for(settings.model_copy(update={"otel_exporter": "console"}))
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "innsight-hub"
    assert tracer_of(provider) is not None
    provider.shutdown()


def test_otlp_without_its_package_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, OTLP_MODULE, None)  # import fails as when not installed
    settings = HubSettings(data_dir=tmp_path, otel_exporter="otlp")
    with pytest.raises(TracingUnavailableError, match="opentelemetry-exporter-otlp-proto-http"):
        tracer_provider_for(settings)


def test_gauges_render_a_snapshot() -> None:
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    snapshot = Snapshot(
        devices=(
            DeviceRow(
                "edge-1",
                "online",
                now - timedelta(seconds=5),
                {
                    "outbox_depth": 4,
                    "rss_mb": 2.0,
                    "cpu_load": "high",  # not a number: left out, never a failed scrape
                    "cameras": {"cam-1": {"fps": 6.0, "connected": False}, "cam-2": "junk"},
                },
            ),
            DeviceRow("edge-2", "offline", None, {}),
        ),
        flow_runs={("attendance", "completed"): 7},
        flow_work_pending=2,
        flow_work_oldest=now - timedelta(seconds=30),
    )
    registry = CollectorRegistry()
    gauges = DatabaseGauges()
    registry.register(gauges)
    assert registry.get_sample_value("innsight_flow_work_pending") == 0  # empty before refresh
    by_name = {f.name: f for f in families(snapshot, now=now)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in by_name.values()
        for s in f.samples
    }
    assert samples[("innsight_edge_up", (("device_id", "edge-1"),))] == 1.0
    assert samples[("innsight_edge_up", (("device_id", "edge-2"),))] == 0.0
    assert samples[("innsight_edge_devices", (("status", "online"),))] == 1
    assert samples[("innsight_edge_memory_rss_bytes", (("device_id", "edge-1"),))] == 2 * 2**20
    camera = (("camera_id", "cam-1"), ("device_id", "edge-1"))
    assert samples[("innsight_edge_camera_connected", camera)] == 0.0
    assert samples[("innsight_edge_camera_fps", camera)] == 6.0
    assert not by_name["innsight_edge_cpu_load"].samples
    assert samples[("innsight_flow_runs", (("flow", "attendance"), ("status", "completed")))] == 7
    assert samples[("innsight_flow_work_oldest_age_seconds", ())] == 30.0
    assert b"innsight_edge_camera_fps" in generate_latest(registry)  # named even when empty
