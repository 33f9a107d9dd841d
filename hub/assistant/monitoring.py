"""Error-spike and rate-change detection over service logs (pure: no I/O).

Per service, the log records are counted in fixed windows. The last window is compared with the
mean of the ``baseline_windows`` windows before it under a Poisson model:

- **error spike**: P(X >= errors now | baseline error rate) < ``alpha`` and at least
  ``min_errors`` errors now;
- **rate increase**: the same test on all records of the service (a retry loop, a flood);
- **rate drop**: P(X <= records now | baseline rate) < ``alpha`` for a service that usually
  logs at least ``min_records`` per window (it went quiet: stopped or stuck).

The baseline rate gets half a pseudo-count (``(sum + 0.5) / n``), so a service that never failed
before still has a finite, small expected rate. The z-score ``(k - λ) / sqrt(λ)`` is reported
beside the p-value.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL"})
FindingKind = Literal["error_spike", "rate_increase", "rate_drop"]


@dataclass(frozen=True, slots=True)
class LogRecord:
    ts: datetime
    service: str
    level: str


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    window_s: float = 300.0
    baseline_windows: int = 12
    alpha: float = 1e-3
    min_errors: int = 5
    min_records: int = 10


@dataclass(frozen=True, slots=True)
class Finding:
    service: str
    kind: FindingKind
    observed: int
    expected: float
    p_value: float
    z_score: float
    severity: Literal["medium", "high"]


@dataclass(frozen=True, slots=True)
class ServiceWindow:
    service: str
    records: int
    errors: int
    baseline_records: float
    baseline_errors: float
    status: Literal["ok", "anomalous"] = "ok"


@dataclass(frozen=True, slots=True)
class DetectionReport:
    window_start: datetime
    window_end: datetime
    baseline_start: datetime
    services: list[ServiceWindow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    return max(0.0, 1.0 - poisson_cdf(k - 1, lam))


def poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam), summed in log space (stable for large k and lam)."""
    if k < 0:
        return 0.0
    if lam <= 0:
        return 1.0
    log_terms = [i * math.log(lam) - lam - math.lgamma(i + 1) for i in range(k + 1)]
    top = max(log_terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms))


def _upper_tail(k: int, lam: float) -> float:
    """P(X >= k), computed from the upper terms when the lower sum would round to 1."""
    if k <= lam:
        return poisson_sf(k, lam)
    # sum pmf from k upward until the terms vanish (k > lam: terms decrease)
    log_pmf = k * math.log(lam) - lam - math.lgamma(k + 1)
    total, term, i = 0.0, math.exp(log_pmf), k
    while term > 1e-300 and i < k + 10_000:
        total += term
        i += 1
        term *= lam / i
    return min(1.0, total)


def _z(k: int, lam: float) -> float:
    return (k - lam) / math.sqrt(lam) if lam > 0 else 0.0


def _severity(p: float, alpha: float) -> Literal["medium", "high"]:
    return "high" if p < alpha * 1e-3 else "medium"


def analyze(
    records: Iterable[LogRecord], *, now: datetime, config: DetectionConfig | None = None
) -> DetectionReport:
    """Compare the window ending at ``now`` with its baseline, per service."""
    cfg = config or DetectionConfig()
    width = timedelta(seconds=cfg.window_s)
    start = now - width
    baseline_start = start - width * cfg.baseline_windows
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # now, err now, base, err base
    for record in records:
        if not baseline_start <= record.ts < now:
            continue
        row = counts[record.service]
        error = record.level.upper() in ERROR_LEVELS
        if record.ts >= start:
            row[0] += 1
            row[1] += error
        else:
            row[2] += 1
            row[3] += error
    n = max(cfg.baseline_windows, 1)
    services: list[ServiceWindow] = []
    findings: list[Finding] = []
    for service in sorted(counts):
        now_all, now_err, base_all, base_err = counts[service]
        lam_all = (base_all + 0.5) / n
        lam_err = (base_err + 0.5) / n
        found = _findings(service, now_all, now_err, lam_all, lam_err, base_all / n, cfg)
        findings.extend(found)
        services.append(
            ServiceWindow(
                service,
                now_all,
                now_err,
                round(base_all / n, 3),
                round(base_err / n, 3),
                "anomalous" if found else "ok",
            )
        )
    findings.sort(key=lambda f: f.p_value)
    return DetectionReport(start, now, baseline_start, services, findings)


def _findings(
    service: str,
    now_all: int,
    now_err: int,
    lam_all: float,
    lam_err: float,
    mean_all: float,
    cfg: DetectionConfig,
) -> list[Finding]:
    found: list[Finding] = []
    p_err = _upper_tail(now_err, lam_err)
    if now_err >= cfg.min_errors and p_err < cfg.alpha:
        found.append(
            Finding(
                service,
                "error_spike",
                now_err,
                round(lam_err, 3),
                p_err,
                round(_z(now_err, lam_err), 2),
                _severity(p_err, cfg.alpha),
            )
        )
    p_up = _upper_tail(now_all, lam_all)
    if now_all >= cfg.min_records and p_up < cfg.alpha and not found:
        found.append(
            Finding(
                service,
                "rate_increase",
                now_all,
                round(lam_all, 3),
                p_up,
                round(_z(now_all, lam_all), 2),
                _severity(p_up, cfg.alpha),
            )
        )
    p_down = poisson_cdf(now_all, lam_all)
    if mean_all >= cfg.min_records and p_down < cfg.alpha:
        found.append(
            Finding(
                service,
                "rate_drop",
                now_all,
                round(lam_all, 3),
                p_down,
                round(_z(now_all, lam_all), 2),
                _severity(p_down, cfg.alpha),
            )
        )
    return found


_ACTIONS: dict[str, str] = {
    "error_spike": "look at the recent ERROR records of {service} and what changed just before "
    "(a deployment, a restart, a dependency down)",
    "rate_increase": "check {service} for a retry loop or a flood of requests",
    "rate_drop": "check that {service} is still running: it went quiet",
}


def recommended_actions(findings: Sequence[Finding]) -> list[str]:
    return [_ACTIONS[f.kind].format(service=f.service) for f in findings]


def template_summary(report: DetectionReport, window_s: float) -> tuple[str, str]:
    """A plain summary and the recommended action, without an LLM."""
    minutes = max(1, round(window_s / 60))
    if not report.findings:
        return (
            f"No anomalies in the last {minutes} min across {len(report.services)} service(s).",
            "none",
        )
    lines = []
    for f in report.findings:
        what = {
            "error_spike": "error spike",
            "rate_increase": "log-rate increase",
            "rate_drop": "log-rate drop",
        }[f.kind]
        lines.append(
            f"{f.service}: {what}, {f.observed} in the last {minutes} min vs {f.expected:g} "
            f"expected (p={f.p_value:.2g}, severity {f.severity})"
        )
    summary = f"{len(report.findings)} anomaly(ies): " + "; ".join(lines) + "."
    action = "First " + recommended_actions(report.findings[:1])[0] + "."
    return summary, action
