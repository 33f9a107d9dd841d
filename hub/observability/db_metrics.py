"""Gauges read from the database when ``/metrics`` is scraped: the edge fleet as its heartbeats
left it in ``devices`` (``innsight_edge_*``) and the flows' backlog and runs (``innsight_flow_*``).

The route awaits :meth:`DatabaseGauges.refresh` and then renders the registry; ``collect`` only
reads the last snapshot (a Prometheus collector cannot await). Every API replica reports the
same fleet: aggregate with ``max by (device_id)`` across instances.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from hub.db import SessionFactory
from hub.tables import Device, EventFlowWork, WorkflowLog

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
# (metric, help, heartbeat field, factor)
_DEVICE_GAUGES: tuple[tuple[str, str, str, float], ...] = (
    ("innsight_edge_outbox_depth", "Events waiting in the edge's outbox.", "outbox_depth", 1.0),
    (
        "innsight_edge_outbox_oldest_age_seconds",
        "Age of the oldest event in the edge's outbox.",
        "outbox_oldest_age_s",
        1.0,
    ),
    (
        "innsight_edge_dropped_events",
        "Events the edge dropped (outbox full), its running count as last reported.",
        "dropped_events",
        1.0,
    ),
    (
        "innsight_edge_refused_events",
        "Outbox rows the edge dropped because the hub refused them, as last reported.",
        "refused_events",
        1.0,
    ),
    ("innsight_edge_cpu_load", "1-minute load average per core on the edge.", "cpu_load", 1.0),
    ("innsight_edge_memory_rss_bytes", "Resident memory of the edge agent.", "rss_mb", MIB),
    (
        "innsight_edge_gallery_version",
        "Face gallery version the edge reports holding.",
        "gallery_version",
        1.0,
    ),
)
_CAMERA_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("innsight_edge_camera_fps", "Frames per second the camera is analysed at.", "fps"),
    ("innsight_edge_camera_connected", "1 while the edge holds the camera's stream.", "connected"),
    (
        "innsight_edge_camera_dropped_frames",
        "Frames the edge dropped for this camera, as last reported.",
        "dropped_frames",
    ),
)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_id: str
    status: str
    last_seen: datetime | None
    heartbeat: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Snapshot:
    devices: tuple[DeviceRow, ...] = ()
    flow_runs: Mapping[tuple[str, str], int] = field(default_factory=dict)
    flow_work_pending: int = 0
    flow_work_oldest: datetime | None = None
    taken_at: datetime | None = None


class DatabaseGauges(Collector):
    """A Prometheus collector over the last :class:`Snapshot`."""

    def __init__(self) -> None:
        self._snapshot = Snapshot()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    async def refresh(self, sessions: SessionFactory) -> None:
        """Read a new snapshot; on a database error keep the last one (and log why)."""
        try:
            self._snapshot = await read_snapshot(sessions)
        except Exception as err:  # noqa: BLE001 - a scrape must not fail on a database outage
            logger.warning("metrics: database gauges not refreshed (%s)", type(err).__name__)

    def describe(self) -> Iterator[Metric]:
        return iter(families(Snapshot(), now=datetime.now(UTC)))

    def collect(self) -> Iterator[Metric]:
        return iter(families(self._snapshot, now=datetime.now(UTC)))


async def read_snapshot(sessions: SessionFactory) -> Snapshot:
    async with sessions() as session:
        devices = (
            await session.exec(
                select(Device.device_id, Device.status, Device.last_seen, Device.last_heartbeat)
                .where(col(Device.revoked_at).is_(None))
                .order_by(col(Device.device_id))
            )
        ).all()
        runs = (
            await session.exec(
                select(WorkflowLog.flow_name, WorkflowLog.status, func.count()).group_by(
                    col(WorkflowLog.flow_name), col(WorkflowLog.status)
                )
            )
        ).all()
        pending, oldest = (
            await session.exec(select(func.count(), func.min(col(EventFlowWork.created_at))))
        ).one()
    return Snapshot(
        devices=tuple(
            DeviceRow(device_id, status, seen, beat if isinstance(beat, dict) else {})
            for device_id, status, seen, beat in devices
        ),
        flow_runs={(str(name), str(status)): int(count) for name, status, count in runs},
        flow_work_pending=int(pending or 0),
        flow_work_oldest=_aware(oldest),
        taken_at=datetime.now(UTC),
    )


def families(snapshot: Snapshot, *, now: datetime) -> list[Metric]:
    """The gauge families of ``snapshot`` (all of them, empty ones included, so a scrape always
    names every family)."""
    up = GaugeMetricFamily("innsight_edge_up", "1 while the edge is online.", labels=["device_id"])
    seen = GaugeMetricFamily(
        "innsight_edge_last_seen_timestamp_seconds",
        "Unix time of the last message from the edge.",
        labels=["device_id"],
    )
    by_status: dict[str, int] = {}
    device_gauges = [
        (GaugeMetricFamily(name, text, labels=["device_id"]), key, factor)
        for name, text, key, factor in _DEVICE_GAUGES
    ]
    camera_gauges = [
        (GaugeMetricFamily(name, text, labels=["device_id", "camera_id"]), key)
        for name, text, key in _CAMERA_GAUGES
    ]
    for device in snapshot.devices:
        by_status[device.status] = by_status.get(device.status, 0) + 1
        up.add_metric([device.device_id], 1.0 if device.status == "online" else 0.0)
        last_seen = _aware(device.last_seen)
        if last_seen is not None:
            seen.add_metric([device.device_id], last_seen.timestamp())
        for family, key, factor in device_gauges:
            value = _number(device.heartbeat.get(key))
            if value is not None:
                family.add_metric([device.device_id], value * factor)
        cameras = device.heartbeat.get("cameras")
        for camera_id, stats in cameras.items() if isinstance(cameras, dict) else ():
            for family, key in camera_gauges:
                value = _number(stats.get(key)) if isinstance(stats, dict) else None
                if value is not None:
                    family.add_metric([device.device_id, str(camera_id)], value)
    devices = GaugeMetricFamily(
        "innsight_edge_devices", "Enrolled (not revoked) edges by status.", labels=["status"]
    )
    for status, count in sorted(by_status.items()):
        devices.add_metric([status], count)
    runs = GaugeMetricFamily(
        "innsight_flow_runs",
        "Flow runs recorded in workflow_logs, by flow and status.",
        labels=["flow", "status"],
    )
    for (flow, status), count in sorted(snapshot.flow_runs.items()):
        runs.add_metric([flow, status], count)
    pending = GaugeMetricFamily(
        "innsight_flow_work_pending",
        "Ingested events the flows (attendance, hazard alerts) have not looked at yet.",
        value=snapshot.flow_work_pending,
    )
    oldest = snapshot.flow_work_oldest
    age = GaugeMetricFamily(
        "innsight_flow_work_oldest_age_seconds",
        "Age of the oldest event waiting for the flows (0 when none waits).",
        value=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
    )
    return [
        devices,
        up,
        seen,
        *(f for f, _, _ in device_gauges),
        *(f for f, _ in camera_gauges),
        runs,
        pending,
        age,
    ]


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
