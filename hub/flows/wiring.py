"""The flows' part of the hub's lifespan: notifier, hooks, and (when enabled) the Prefect
runner; one call to start, one to stop (hub/api/app.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from hub.db import SessionFactory
from hub.flows.context import FlowDeps, bind
from hub.flows.hooks import HubFlowHooks
from hub.notify.factory import build_notifier
from hub.settings import HubSettings
from hub.storage import ObjectStore
from hub.tables import utcnow

if TYPE_CHECKING:
    from hub.flows.runner import FlowRunner
    from hub.gallery import GalleryService
    from hub.ingest import MqttIngest
    from hub.ml.api import MLProvider

logger = logging.getLogger(__name__)

# How far back a starting hub re-applies attendance to stored face events (see catch_up).
ATTENDANCE_CATCH_UP = timedelta(hours=24)


@dataclass
class Flows:
    deps: FlowDeps
    hooks: HubFlowHooks
    runner: FlowRunner | None


async def start_flows(
    settings: HubSettings,
    session_factory: SessionFactory,
    store: ObjectStore,
    *,
    ingest: MqttIngest | None,
    gallery: GalleryService | None,
    ml: MLProvider | None,
) -> Flows:
    notifier = build_notifier(settings, session_factory, ingest)
    deps = FlowDeps(settings, session_factory, store, notifier, ml=ml, gallery=gallery)
    bind(deps)
    runner: FlowRunner | None = None
    if settings.flows_enabled:
        from hub.flows.runner import FlowRunner

        runner = FlowRunner(
            settings, session_factory, default_schedules=settings.flows_default_schedules
        )
        await runner.start()
    hooks = HubFlowHooks(deps, runner)
    if ingest is not None:
        ingest.set_on_events_stored(hooks.events_stored)
        ingest.set_on_dead_letter_alert(hooks.dead_letter_alert)
    logger.info(
        "flows: notifier channels %s, Prefect %s",
        ",".join(notifier.channels) or "none",
        settings.flows_executor if runner is not None else "disabled",
    )
    return Flows(deps, hooks, runner)


async def catch_up_attendance(flows: Flows) -> None:
    """Re-apply attendance to the last day's face events: a background job of the replica
    that holds the leader lease (hub/cluster/leader.py), run when it becomes leader."""
    try:
        await flows.hooks.catch_up_attendance(utcnow() - ATTENDANCE_CATCH_UP)
    except SQLAlchemyError:  # the hub still starts; the next events apply normally
        logger.exception("attendance catch-up failed")


async def stop_flows(flows: Flows) -> None:
    if flows.runner is not None:
        await flows.runner.stop()
    await flows.hooks.drain()
    bind(None)
