"""Gallery publish, nightly retrain and the retention purge (DESIGN §7: biometric crops and
unknown-face snapshots expire; each deletion is audited). The other data classes (events,
attendance, OCR, inspection photos, logs: hub/privacy/retention.py) expire in
:func:`purge_data_classes`, one audited step per class."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from hub.flows.context import FlowDeps
from hub.privacy import retention
from hub.privacy.employment import sweep_ended_employment
from hub.storage import StorageError
from hub.tables import AuditLog, Event, utcnow

logger = logging.getLogger(__name__)

PURGE_ACTION = "retention.purge"
PURGE_BATCH = 500


@dataclass(frozen=True, slots=True)
class Snapshot:
    event_id: str
    key: str
    person_id: str | None
    seen_at: datetime


def expired(
    snapshots: Sequence[Snapshot], now: datetime, biometric_days: int, unknown_days: int
) -> list[Snapshot]:
    """Face snapshots past their retention: of a recognised person (a biometric crop) after
    ``biometric_days``, of an unknown face after ``unknown_days``."""
    out = []
    for snap in snapshots:
        days = biometric_days if snap.person_id else unknown_days
        if now - snap.seen_at >= timedelta(days=days):
            out.append(snap)
    return out


async def purge(deps: FlowDeps, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    settings = deps.settings
    oldest = now - timedelta(
        days=min(settings.retention_biometric_days, settings.retention_unknown_face_days)
    )
    async with deps.session_factory() as session:
        rows = (
            await session.exec(
                select(Event)
                .where(
                    Event.kind == "face",
                    col(Event.snapshot_key).is_not(None),
                    col(Event.started_at) <= oldest,
                )
                .order_by(col(Event.started_at))
                .limit(PURGE_BATCH)
            )
        ).all()
        candidates = [
            Snapshot(str(r.event_id), r.snapshot_key or "", r.person_id, r.started_at) for r in rows
        ]
        doomed = expired(
            candidates, now, settings.retention_biometric_days, settings.retention_unknown_face_days
        )
        by_id = {str(r.event_id): r for r in rows}
        deleted: list[str] = []
        failed = 0
        for snap in doomed:
            try:
                await asyncio.to_thread(deps.store.delete, snap.key)
            except StorageError as err:
                failed += 1
                logger.warning("could not delete an expired snapshot: %s", err)
                continue
            row = by_id[snap.event_id]
            row.snapshot_key = None
            session.add(row)
            deleted.append(snap.event_id)
        known = sum(1 for s in doomed if s.person_id and s.event_id in deleted)
        session.add(
            AuditLog(
                actor="flow:retention_purge",
                action=PURGE_ACTION,
                target="events:snapshots",
                detail={
                    "deleted": len(deleted),
                    "biometric": known,
                    "unknown": len(deleted) - known,
                    "failed": failed,
                    "biometric_days": settings.retention_biometric_days,
                    "unknown_days": settings.retention_unknown_face_days,
                },
            )
        )
        await session.commit()
    logger.info("retention purge: %d snapshots deleted, %d failed", len(deleted), failed)
    return {
        "deleted": len(deleted),
        "biometric": known,
        "unknown": len(deleted) - known,
        "failed": failed,
    }


async def purge_data_classes(deps: FlowDeps, now: datetime | None = None) -> dict[str, Any]:
    """Every data class past its retention (hub/privacy/retention.py), each audited."""
    report = await retention.purge_data_classes(
        deps.settings, deps.session_factory, deps.store, now
    )
    if deps.gallery is not None:  # in the hub process: templates of employees who left
        report["ended_employment"] = await sweep_ended_employment(
            deps.gallery, deps.session_factory
        )
    logger.info("retention purge of %d data classes done", len(report))
    return report


class DependencyUnavailableError(RuntimeError):
    pass


async def publish_gallery(deps: FlowDeps, model_id: str, dim: int) -> dict[str, Any]:
    if deps.gallery is None:
        raise DependencyUnavailableError("the gallery service runs in the hub process only")
    announcement = await deps.gallery.publish_new_version(model_id, dim)
    return {"version": announcement.version, "sha256": announcement.sha256}


async def retrain(deps: FlowDeps, name: str) -> dict[str, Any]:
    if deps.ml is None:
        raise DependencyUnavailableError("the ML service is not configured")
    result = await deps.ml.get().retrain(name)
    return result.model_dump(mode="json")
