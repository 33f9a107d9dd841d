"""Follow the named versions of :mod:`hub.cluster.state_versions` and call back on a change.

Every ``poll_s`` the watcher reads the versions (one small query); on PostgreSQL it also
LISTENs on :data:`~hub.cluster.state_versions.CHANNEL` with its own asyncpg connection, and a
notification wakes it at once (the poll stays as the fallback while that connection is down).
A replica that bumps a version itself calls :meth:`VersionWatcher.note_local`, so its own
change does not make it reload what it already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url

from hub.cluster.state_versions import CHANNEL, bump, read
from hub.db import SessionFactory

logger = logging.getLogger(__name__)

OnChange = Callable[[str, int], Awaitable[None]]
LISTEN_RETRY_S = 5.0


def listen_dsn(database_url: str) -> str | None:
    """The asyncpg DSN of a ``postgresql+asyncpg`` URL; ``None`` for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class _Subscription:
    prefix: str
    callback: OnChange


class VersionWatcher:
    """Calls ``callback(name, version)`` for each version that changed elsewhere."""

    def __init__(
        self, sessions: SessionFactory, *, poll_s: float = 1.0, listen_dsn: str | None = None
    ) -> None:
        if poll_s <= 0:
            raise ValueError("poll_s must be > 0")
        self._sessions = sessions
        self._poll_s = poll_s
        self._dsn = listen_dsn
        self._subscriptions: list[_Subscription] = []
        self._seen: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None  # an asyncpg connection while LISTENing
        self._next_listen = 0.0
        self._check_lock = asyncio.Lock()
        self.notifications = 0

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    def seen(self) -> dict[str, int]:
        return dict(self._seen)

    def on_change(self, callback: OnChange, *, prefix: str = "") -> None:
        """Call ``callback`` for the changed versions whose name starts with ``prefix``."""
        self._subscriptions.append(_Subscription(prefix, callback))

    def note_local(self, name: str, version: int) -> None:
        """This replica bumped ``name`` to ``version`` and holds that state already: no callback
        for it, unless versions in between (another replica's) were not seen yet."""
        if self._seen.get(name, 0) == version - 1:
            self._seen[name] = version

    async def bump(self, name: str) -> int:
        """Bump ``name`` for a change this replica made and holds already (the others
        reload); checks wait meanwhile, so this replica never reloads its own change."""
        async with self._check_lock:
            version = await bump(self._sessions, name)
            self.note_local(name, version)
        return version

    async def start(self) -> None:
        """Take the current versions as seen (nothing is called back for them) and start."""
        if self._task is not None:
            return
        self._seen = await read(self._sessions)
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="state-version-watcher")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._unlisten()

    async def check(self) -> list[str]:
        """Read the versions now and call back for the changed ones; their names."""
        async with self._check_lock:
            current = await read(self._sessions)
            changed = [name for name, v in sorted(current.items()) if self._seen.get(name) != v]
            for name in changed:
                self._seen[name] = current[name]
            for name in changed:
                for sub in self._subscriptions:
                    if name.startswith(sub.prefix):
                        try:
                            await sub.callback(name, current[name])
                        except Exception:  # one reload failing must not stop the others
                            logger.exception("reloading %s after a version change failed", name)
            return changed

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            if self._dsn is not None and not self.listening:
                await self._listen()
            try:
                await self.check()
            except Exception as err:  # noqa: BLE001 - the database may be away; poll again
                logger.warning("reading state versions failed: %s", type(err).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def _listen(self) -> None:
        if time.monotonic() < self._next_listen or self._dsn is None:
            return
        self._next_listen = time.monotonic() + LISTEN_RETRY_S
        await self._unlisten()
        try:
            import asyncpg  # type: ignore[import-untyped]

            conn = await asyncpg.connect(self._dsn, timeout=10)
            await conn.add_listener(CHANNEL, self._notified)
        except Exception as err:  # noqa: BLE001 - polling goes on; LISTEN is retried
            logger.warning("LISTEN %s failed (%s); polling only", CHANNEL, type(err).__name__)
            return
        self._listener = conn
        logger.info("following state versions (LISTEN %s, poll %.1f s)", CHANNEL, self._poll_s)

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    def _notified(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self.notifications += 1
        self._wake.set()
