"""Monitoring issues and their alerts: the detector's findings as the API reports them
(``type``, ``service``, ``severity``, ``description``, ``recommended_action``) and one alert per
analysis that found any, sent on every configured staff channel (MQTT topic of the ``manager``
role, the signed webhook, e-mail to ``attendance_notify_email``). Alert text carries services,
counts and p-values only (log messages are never forwarded: they may name people)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from hub.assistant.monitoring import DetectionReport, Finding, recommended_actions
from hub.notify.base import Notification, NotifyError

logger = logging.getLogger(__name__)

ALERT_ROLE = "manager"
ALERT_KIND = "monitoring_alert"
_WHAT = {
    "error_spike": "errors",
    "rate_increase": "log records (a rise)",
    "rate_drop": "log records (a drop)",
}


class AlertChannels(Protocol):
    """Sends a notification (``hub.notify.dispatch.Notifier`` is one)."""

    def has(self, channel: str) -> bool: ...

    async def send(
        self, channel: str, address: str, note: Notification, *, recipient: str
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class Issue:
    type: str
    service: str
    severity: str
    description: str
    recommended_action: str


def issues_of(report: DetectionReport, window_s: float) -> list[Issue]:
    minutes = max(1, round(window_s / 60))
    actions = recommended_actions(report.findings)
    return [_issue(f, minutes, action) for f, action in zip(report.findings, actions, strict=True)]


def _issue(finding: Finding, minutes: int, action: str) -> Issue:
    change = (
        f", {finding.observed / finding.expected - 1:+.0%} against the baseline"
        if finding.expected > 0
        else ""
    )
    description = (
        f"{finding.observed} {_WHAT[finding.kind]} in the last {minutes} min where "
        f"{finding.expected:g} were expected{change} (Poisson p={finding.p_value:.2g}, "
        f"z={finding.z_score:g})"
    )
    return Issue(
        finding.kind,
        finding.service,
        finding.severity,
        description,
        action[:1].upper() + action[1:],
    )


def alert_targets(channels: AlertChannels, email: str | None) -> list[tuple[str, str, str]]:
    """(channel, address, recipient label) of every configured channel."""
    targets: list[tuple[str, str, str]] = []
    if channels.has("mqtt"):
        targets.append(("mqtt", ALERT_ROLE, f"role:{ALERT_ROLE}"))
    if channels.has("webhook"):
        targets.append(("webhook", ALERT_ROLE, f"role:{ALERT_ROLE}"))
    if email and channels.has("email"):
        targets.append(("email", email, f"role:{ALERT_ROLE}"))
    return targets


async def send_alert(
    channels: AlertChannels,
    issues: list[Issue],
    summary: str,
    *,
    email: str | None,
) -> tuple[list[str], list[str]]:
    """Send one alert about ``issues`` on every configured channel; (channels that took it,
    channels that failed)."""
    services = sorted({i.service for i in issues})
    note = Notification(
        kind=ALERT_KIND,
        subject=f"[innsight] {len(issues)} anomaly(ies) in {', '.join(services)}",
        body=summary + "\n\n" + "\n".join(f"- {i.service}: {i.description}" for i in issues),
    )
    sent: list[str] = []
    failed: list[str] = []
    for channel, address, recipient in alert_targets(channels, email):
        try:
            await channels.send(channel, address, note, recipient=recipient)
        except (NotifyError, ValueError) as err:
            logger.warning("monitoring alert on %s failed (%s)", channel, type(err).__name__)
            failed.append(channel)
            continue
        sent.append(channel)
    return sent, failed
