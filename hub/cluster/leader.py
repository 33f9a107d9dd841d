"""The replica that holds the ``leader`` lease runs the deployment's background jobs.

Every replica tries the lease every ``ttl_s / 3`` seconds; the holder renews it. A replica is
leader while its last successful acquire or renewal is younger than ``ttl_s`` minus one period
(it stops counting itself leader before the row could expire and be taken over). Each time a
replica becomes leader it runs the jobs registered with :meth:`Leadership.add_job` once (the
attendance catch-up: whatever the old leader left undone); periodic work checks
:meth:`Leadership.is_leader` (the Prefect runner's local executor). A replica that stops
releases the lease, so another takes over at its next try instead of after the expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from hub.cluster.lease import Lease

logger = logging.getLogger(__name__)

LEADER_LEASE = "leader"
Job = Callable[[], Awaitable[object]]


class Leadership:
    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self._period_s = lease.ttl_s / 3
        self._valid_until = 0.0  # monotonic
        self._jobs: list[tuple[str, Job]] = []
        self.jobs_run: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._jobs_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def holder(self) -> str:
        return self.lease.holder

    def is_leader(self) -> bool:
        return time.monotonic() < self._valid_until

    def add_job(self, name: str, job: Job) -> None:
        """Run ``job`` each time this replica becomes leader."""
        self._jobs.append((name, job))
        self.jobs_run.setdefault(name, 0)

    async def start(self) -> None:
        """One try now (a replica that becomes leader runs its jobs before this returns, so a
        hub alone starts as it did before replicas), then keep trying in the background."""
        if self._task is not None:
            return
        self._stopping.clear()
        if await self._try():
            await self._run_jobs()
        self._task = asyncio.create_task(self._loop(), name="leader-lease")

    async def stop(self) -> None:
        self._stopping.set()
        for task in (self._task, self._jobs_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._jobs_task = None
        if self.is_leader():
            self._valid_until = 0.0
            with contextlib.suppress(Exception):
                await self.lease.release()
                logger.info("leader lease released (%s)", self.holder)

    async def _try(self) -> bool:
        """Acquire or renew; whether this replica just became leader."""
        was = self.is_leader()
        started = time.monotonic()
        try:
            held = await self.lease.acquire()
        except Exception as err:  # noqa: BLE001 - the database may be away; try again later
            logger.warning("leader lease not reachable: %s", type(err).__name__)
            return False
        if held:
            self._valid_until = started + self.lease.ttl_s - self._period_s
        elif was:
            self._valid_until = 0.0
            logger.warning("leader lease lost to another replica (%s)", self.holder)
        if held and not was:
            logger.info("this replica is the leader (%s)", self.holder)
        return held and not was

    async def _run_jobs(self) -> None:
        for name, job in self._jobs:
            if not self.is_leader():
                return
            try:
                await job()
            except Exception:  # the next leader runs it again
                logger.exception("leader job %s failed", name)
            else:
                self.jobs_run[name] = self.jobs_run.get(name, 0) + 1

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._period_s)
            if self._stopping.is_set():
                return
            if await self._try() and (self._jobs_task is None or self._jobs_task.done()):
                self._jobs_task = asyncio.create_task(self._run_jobs(), name="leader-jobs")
