"""Observability against one running hub (real Mosquitto, SQLite): the Grafana dashboards name
only metrics the hub's /metrics exports, the metric names follow one convention, request ids
are echoed and reach the log lines, OpenTelemetry spans of a request (in-memory exporter), and
the edge-fleet gauges follow a real heartbeat."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from contracts.messages import CameraStats, Heartbeat
from hub.observability.logs import JsonFormatter, RequestIdFilter
from innsight.broker import MosquittoBroker, mosquitto_binary
from testkit.hub import DEVICE, SITE, RunningHub, hub_settings, mqtt_probe, running_hub, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted(GRAFANA.glob("*.json"))
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}
# names the seed's CV service fixes (004 "Prometheus Metrics"): kept beside innsight_cv_*
SEED_ALIASES = re.compile(r"^cv_")
_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    root = tmp_path_factory.mktemp("observability")
    broker = MosquittoBroker(workdir=root / "mosquitto")
    broker.start()
    try:
        with running_hub(hub_settings(root / "hub", broker)) as running:
            running.app.state.test_broker = broker
            yield running
    finally:
        broker.kill()


def _exported(hub: RunningHub) -> dict[str, str]:
    """Every series name /metrics can carry -> its family's type (from the exposition)."""
    response = hub.anonymous.get("/metrics")
    assert response.status_code == 200, response.text
    names: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            names[family.name + suffix] = family.type
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges, grouping clauses,
    strings, numbers, functions and keywords removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        word = match.group(0)
        if rest.startswith("(") or word.lower() in _PROMQL_WORDS:
            continue  # a function, an aggregation or a keyword
        if match.start() > 0 and text[match.start() - 1] in "0123456789.":
            continue  # the exponent of a number (1e3)
        names.add(word)
    return names


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel.get("title", "?"), target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        found = re.fullmatch(r"label_values\((\w+)\s*,\s*\w+\)", str(text or ""))
        if variable.get("type") == "query":
            assert found, f"variable {variable['name']}: not label_values(metric, label)"
            yield f"variable {variable['name']}", found.group(1)


def test_the_promql_reader_finds_the_names() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_seconds_bucket{x=~"5.."}'
        "[$__rate_interval]))) / ignoring(x) b_total or vector(0) * 1e3"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_query_names_an_exported_metric(hub: RunningHub, path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    exported = _exported(hub)
    queries = list(_queries(dashboard))
    assert len(queries) >= 10, f"{path.name}: only {len(queries)} queries"
    unknown = [
        f"{title}: {name}"
        for title, expr in queries
        for name in sorted(metric_names(expr))
        if name not in exported
    ]
    assert not unknown, f"{path.name} reads metrics /metrics does not export: {unknown}"


def test_both_dashboards_and_the_provisioning_are_there() -> None:
    assert {p.name for p in DASHBOARDS} == {"hub.json", "edge-fleet.json"}
    source = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    assert [d["type"] for d in source["datasources"]] == ["prometheus"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/innsight.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"


def test_metric_names_follow_one_convention(hub: RunningHub) -> None:
    response = hub.anonymous.get("/metrics")
    families = list(text_string_to_metric_families(response.text))
    names = {f.name for f in families}
    # every counter, ML, assistant, flow, ingest, HTTP and edge family is in the one /metrics
    for prefix in (
        "innsight_http_",
        "innsight_ingest_",
        "innsight_cv_",
        "innsight_ml_",
        "innsight_llm_",
        "innsight_flow_",
        "innsight_edge_",
    ):
        assert any(n.startswith(prefix) for n in names), f"no {prefix}* family in /metrics"
    problems = []
    for family in families:
        name = family.name
        if not (name.startswith("innsight_") or SEED_ALIASES.match(name)):
            problems.append(f"{name}: neither innsight_* nor a seed name")
        if re.search(r"_(ms|millis|milliseconds|mb|mib|kb|minutes|hours)(_|$)", name):
            problems.append(f"{name}: use base units (_seconds, _bytes)")
        if (
            family.type == "histogram"
            and "latency" not in name
            and not re.search(r"_(seconds|bytes|confidence|ratio)$", name)
        ):
            problems.append(f"{name}: a histogram without its unit")
    assert not problems, "\n".join(problems)


def test_request_ids_are_echoed_generated_and_sanitised(hub: RunningHub) -> None:
    given = hub.http.get("/api/v1/devices", headers={"X-Request-ID": "lb-7f3a.2"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.2"
    first = hub.http.get("/api/v1/devices").headers["X-Request-ID"]
    second = hub.http.get("/api/v1/devices").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second
    unsafe = hub.http.get("/api/v1/devices", headers={"X-Request-ID": "a b<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])
    # errors carry it too
    refused = hub.anonymous.get("/api/v1/devices", headers={"X-Request-ID": "err-1"})
    assert refused.status_code == 401
    assert refused.headers["X-Request-ID"] == "err-1"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_log_lines_of_a_request_carry_its_id(hub: RunningHub) -> None:
    access = logging.getLogger("hub.access")
    handler = _Lines()
    access.addHandler(handler)
    access.setLevel(logging.DEBUG)
    try:
        response = hub.http.get("/api/v1/devices", headers={"X-Request-ID": "req-logs-1"})
        assert response.status_code == 200
        line = wait_until(
            lambda: next((line for line in handler.lines if "req-logs-1" in line), None),
            what="the request's log line",
        )
    finally:
        access.removeHandler(handler)
        access.setLevel(logging.NOTSET)
    entry = json.loads(line)
    assert entry["request_id"] == "req-logs-1"
    assert entry["http_route"] == "/api/v1/devices"
    assert entry["http_status"] == 200
    assert entry["level"] == "DEBUG"
    assert entry["logger"] == "hub.access"


def test_a_request_is_traced_when_a_tracer_is_set(hub: RunningHub) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert hub.app.state.tracer is None  # off by default
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    hub.app.state.tracer = provider.get_tracer("test")
    try:
        response = hub.http.get(
            "/api/v1/devices", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
        )
        missing = hub.anonymous.get("/api/v1/events/not-a-uuid")
    finally:
        hub.app.state.tracer = None
    # a server span ends after the response's last byte is sent, so the client can hold the
    # response a moment before the span is finished: wait for both rather than race them
    wanted = {"GET /api/v1/devices", "GET /api/v1/events/{event_id}"}
    spans = wait_until(
        lambda: (
            found
            if wanted <= set(found := {s.name: s for s in exporter.get_finished_spans()})
            else None
        ),
        what=f"the finished spans {sorted(wanted)}",
    )
    span = spans["GET /api/v1/devices"]
    assert span.kind is SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == parent_id
    attributes = dict(span.attributes or {})
    assert attributes["http.route"] == "/api/v1/devices"
    assert attributes["http.response.status_code"] == response.status_code == 200
    assert attributes["innsight.request_id"] == response.headers["X-Request-ID"]
    # the span is named by the route's template, not the id
    other = spans["GET /api/v1/events/{event_id}"]
    assert dict(other.attributes or {})["http.response.status_code"] == missing.status_code
    hub.http.get("/api/v1/devices")
    assert len(exporter.get_finished_spans()) == 2  # nothing once the tracer is gone


def _sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def test_fleet_gauges_follow_a_heartbeat(hub: RunningHub) -> None:
    broker: MosquittoBroker = hub.app.state.test_broker
    beat = Heartbeat(
        device_id=DEVICE,
        sent_at=datetime.now(UTC),
        cameras={"cam-lobby": CameraStats(fps=7.5, frames=900, dropped_frames=4)},
        outbox_depth=3,
        rss_mb=120.5,
        cpu_load=0.4,
    )
    with mqtt_probe(broker, "fleet-edge") as edge:
        edge.publish(f"innsight/{SITE}/{DEVICE}/heartbeat", beat.to_json_bytes())
        text = wait_until(
            lambda: (
                body
                if _sample(
                    body := hub.anonymous.get("/metrics").text,
                    "innsight_edge_camera_fps",
                    device_id=DEVICE,
                    camera_id="cam-lobby",
                )
                == 7.5
                else None
            ),
            what="the heartbeat's camera in /metrics",
        )
    assert _sample(text, "innsight_edge_outbox_depth", device_id=DEVICE) == 3
    assert _sample(text, "innsight_edge_memory_rss_bytes", device_id=DEVICE) == 120.5 * 2**20
    assert _sample(text, "innsight_edge_camera_dropped_frames", camera_id="cam-lobby") == 4
    seen = _sample(text, "innsight_edge_last_seen_timestamp_seconds", device_id=DEVICE)
    assert seen is not None
    assert abs(seen - time.time()) < 120
    assert _sample(text, "innsight_flow_work_pending") is not None
