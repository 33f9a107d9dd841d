"""Publish the device's heartbeat (``innsight/{site}/{device}/heartbeat``) every interval.

:func:`build_heartbeat` is pure; :class:`HeartbeatService` only gathers stats, builds and
publishes (QoS 0, not retained: a stale heartbeat is worth nothing, so none is queued offline).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contracts.messages import CameraStats, Heartbeat
from contracts.topics import Channel, device_topic
from edge_agent.ports import Publisher
from edge_agent.transport.errors import PublishError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HeartbeatStats:
    """What the composition root gathers from the pipeline, outbox, index and models."""

    cameras: Mapping[str, CameraStats] = field(default_factory=dict)
    outbox_depth: int = 0
    outbox_oldest_age_s: float | None = None
    dropped_events: int = 0
    refused_events: int = 0  # outbox rows the hub refused for good (ack ``refused``)
    gallery_version: int | None = None
    models: Mapping[str, str] = field(default_factory=dict)
    providers: Sequence[str] = ()
    gpu: str | None = None
    cpu_load: float | None = None
    rss_mb: float | None = None
    version: str | None = None  # the agent's innsight release


StatsProvider = Callable[[], HeartbeatStats]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_heartbeat(device_id: str, stats: HeartbeatStats, sent_at: datetime) -> Heartbeat:
    """The heartbeat message for ``stats`` (pure)."""
    return Heartbeat(
        device_id=device_id,
        sent_at=sent_at,
        cameras=dict(stats.cameras),
        outbox_depth=stats.outbox_depth,
        outbox_oldest_age_s=stats.outbox_oldest_age_s,
        dropped_events=stats.dropped_events,
        refused_events=stats.refused_events,
        gallery_version=stats.gallery_version,
        models=dict(stats.models),
        providers=list(stats.providers),
        gpu=stats.gpu,
        cpu_load=stats.cpu_load,
        rss_mb=stats.rss_mb,
        version=stats.version,
    )


class HeartbeatService:
    def __init__(
        self,
        publisher: Publisher,
        site: str,
        device_id: str,
        stats_provider: StatsProvider,
        interval_s: float = 30.0,
        *,
        qos: int = 0,
        offline_retry_s: float = 1.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._publisher = publisher
        self._device_id = device_id
        self.topic = device_topic(site, device_id, Channel.HEARTBEAT)
        self._stats_provider = stats_provider
        self._interval_s = interval_s
        self._qos = qos
        self._offline_retry_s = offline_retry_s
        self._clock = clock
        self.sent = 0
        self.skipped = 0

    def beat(self) -> Heartbeat | None:
        """Build and publish one heartbeat; None when offline or when gathering failed."""
        if not self._publisher.connected:
            self.skipped += 1
            return None
        try:
            heartbeat = build_heartbeat(self._device_id, self._stats_provider(), self._clock())
        except Exception:  # a broken stats source must not stop the heartbeat
            logger.exception("could not gather heartbeat stats")
            self.skipped += 1
            return None
        try:
            self._publisher.publish(self.topic, heartbeat.to_json_bytes(), qos=self._qos)
        except PublishError as err:
            logger.warning("heartbeat not sent: %s", err)
            self.skipped += 1
            return None
        self.sent += 1
        return heartbeat

    def run(self, stop_event: threading.Event) -> None:
        """Beat now, then every ``interval_s`` until ``stop_event`` is set (own thread).

        While offline it tries again every ``offline_retry_s``, so the first heartbeat after a
        (re)connect does not wait a whole interval."""
        while not stop_event.is_set():
            sent = self.beat() is not None
            offline = not sent and not self._publisher.connected
            wait = min(self._interval_s, self._offline_retry_s) if offline else self._interval_s
            if stop_event.wait(wait):
                return
