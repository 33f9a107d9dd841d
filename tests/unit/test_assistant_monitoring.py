"""Error-spike and rate-change detection: Poisson tails against scipy-free reference values,
and the detector on synthetic logs (a spike, a flood, a silent service, steady noise)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from hub.assistant.monitoring import (
    DetectionConfig,
    LogRecord,
    analyze,
    poisson_cdf,
    poisson_sf,
    template_summary,
)

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
CFG = DetectionConfig(window_s=300, baseline_windows=12)


def _logs(
    service: str, per_window: list[int], level: str = "INFO", seed: int = 0
) -> list[LogRecord]:
    """``per_window[i]`` records in window i (the last item is the current window)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    start = NOW - timedelta(seconds=300 * len(per_window))
    out = []
    for index, count in enumerate(per_window):
        for _ in range(count):
            offset = rng.uniform(0, 299.9)
            out.append(LogRecord(start + timedelta(seconds=300 * index + offset), service, level))
    return out


def test_poisson_tails_match_closed_forms() -> None:
    assert poisson_cdf(0, 2.0) == pytest.approx(math.exp(-2.0))
    assert poisson_cdf(2, 1.0) == pytest.approx(math.exp(-1.0) * 2.5)
    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(1, 3.0) == pytest.approx(1 - math.exp(-3.0))
    assert poisson_sf(5, 1.0) == pytest.approx(
        1 - math.exp(-1.0) * (1 + 1 + 1 / 2 + 1 / 6 + 1 / 24)
    )


def test_an_error_spike_is_found_and_steady_errors_are_not() -> None:
    steady = _logs("payments", [50] * 13) + _logs("payments", [1] * 13, "ERROR", seed=1)
    spike = _logs("ingest", [40] * 13) + _logs("ingest", [0] * 12 + [30], "ERROR", seed=2)
    report = analyze(steady + spike, now=NOW, config=CFG)
    assert [(f.service, f.kind) for f in report.findings] == [("ingest", "error_spike")]
    finding = report.findings[0]
    assert finding.observed == 30
    assert finding.expected == pytest.approx(0.5 / 12, abs=1e-3)
    assert finding.severity == "high"
    assert finding.z_score > 10
    states = {s.service: s.status for s in report.services}
    assert states == {"ingest": "anomalous", "payments": "ok"}


def test_a_flood_and_a_silent_service_are_rate_changes() -> None:
    flood = _logs("api", [100] * 12 + [400])
    silent = _logs("flows", [60] * 12 + [0], seed=3)
    noise = _logs("edge", [20, 25, 18, 22, 30, 19, 21, 24, 17, 23, 20, 26, 28], seed=4)
    report = analyze(flood + silent + noise, now=NOW, config=CFG)
    kinds = {(f.service, f.kind) for f in report.findings}
    assert kinds == {("api", "rate_increase"), ("flows", "rate_drop")}


def test_records_outside_the_windows_are_ignored_and_summary_reads() -> None:
    old = [LogRecord(NOW - timedelta(days=2), "api", "ERROR")] * 100
    future = [LogRecord(NOW + timedelta(seconds=1), "api", "ERROR")] * 100
    report = analyze(old + future, now=NOW, config=CFG)
    assert report.findings == []
    assert report.services == []
    summary, action = template_summary(report, 300)
    assert summary == "No anomalies in the last 5 min across 0 service(s)."
    assert action == "none"
    spike = _logs("ingest", [0] * 12 + [30], "ERROR")
    summary, action = template_summary(analyze(spike, now=NOW, config=CFG), 300)
    assert summary.startswith("1 anomaly(ies): ingest: error spike, 30 in the last 5 min")
    assert "ERROR records of ingest" in action
