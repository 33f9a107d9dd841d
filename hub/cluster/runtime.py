"""The API replica's share of the hub's lifespan: follow the shared versions, hold (or wait
for) the leader lease. One call to start, one to stop (hub/api/app.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hub.cluster.leader import LEADER_LEASE, Job, Leadership
from hub.cluster.lease import Lease
from hub.cluster.state_versions import GALLERY, IMAGE_INDEX_PREFIX, image_index_name
from hub.cluster.watcher import VersionWatcher, listen_dsn
from hub.db import SessionFactory
from hub.settings import HubSettings

logger = logging.getLogger(__name__)


class ReloadsGallery(Protocol):
    async def refresh(self) -> int: ...


class ReloadsImageIndexes(Protocol):
    def set_on_change(self, callback: Callable[[str], Awaitable[None]] | None) -> None: ...

    def forget_category(self, category: str) -> int: ...


class RunsDueFlows(Protocol):
    executes: Callable[[], bool]


@dataclass
class Cluster:
    watcher: VersionWatcher
    leadership: Leadership


async def start_cluster(
    settings: HubSettings,
    sessions: SessionFactory,
    *,
    faces: ReloadsGallery | None,
    images: ReloadsImageIndexes | None,
    runner: RunsDueFlows | None,
    leader_jobs: Sequence[tuple[str, Job]] = (),
) -> Cluster:
    """Start following the versions and try the leader lease (running ``leader_jobs`` before
    returning when this replica becomes leader now)."""
    watcher = VersionWatcher(
        sessions,
        poll_s=settings.cluster_poll_s,
        listen_dsn=listen_dsn(settings.database_url.get_secret_value()),
    )
    if faces is not None:
        gallery = faces

        async def reload_gallery(_name: str, version: int) -> None:
            reloaded = await gallery.refresh()
            logger.info("gallery state %d: %d face gallery(ies) reloaded", version, reloaded)

        watcher.on_change(reload_gallery, prefix=GALLERY)
    if images is not None:
        indexes = images

        async def forget_index(name: str, version: int) -> None:
            category = name.removeprefix(IMAGE_INDEX_PREFIX)
            if indexes.forget_category(category):
                logger.info("image index %s changed elsewhere (%d): reloads", category, version)

        async def announce(category: str) -> None:
            await watcher.bump(image_index_name(category))

        watcher.on_change(forget_index, prefix=IMAGE_INDEX_PREFIX)
        images.set_on_change(announce)
    await watcher.start()
    leadership = Leadership(Lease(sessions, LEADER_LEASE, ttl_s=settings.leader_lease_s))
    for name, job in leader_jobs:
        leadership.add_job(name, job)
    if runner is not None:
        runner.executes = leadership.is_leader
    await leadership.start()
    return Cluster(watcher, leadership)


async def stop_cluster(cluster: Cluster) -> None:
    await cluster.leadership.stop()
    await cluster.watcher.stop()
