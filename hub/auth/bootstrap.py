"""First start: a hub with no administrator says which command creates one.

Until an enabled ``admin`` user exists, the hub logs :func:`setup_hint` once at start and every
401 it answers carries the same hint. The check is repeated on each refusal while no admin
exists, so an administrator made by ``innsight hub init`` in another process is seen without a
restart; once one is seen, the gate stays open (no more queries).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth.store import enabled_admin_exists
from hub.settings import HubSettings

logger = logging.getLogger(__name__)

INIT_COMMAND = "innsight hub init"


def _default_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir}/hub.db"


def init_command(settings: HubSettings) -> str:
    """The exact command that creates the first administrator of this hub."""
    command = f"{INIT_COMMAND} --data-dir {settings.data_dir.resolve()}"
    if settings.database_url.get_secret_value() != _default_database_url(settings.data_dir):
        command = f"INNSIGHT_DATABASE_URL=<this hub's database URL> {command}"
    return command


def setup_hint(settings: HubSettings) -> str:
    return (
        "no administrator exists yet: on the hub machine run "
        f"`{init_command(settings)}` to create one, then sign in"
    )


class AdminGate:
    """Whether the hub still lacks an enabled administrator (cached once one is found)."""

    def __init__(self, hint: str) -> None:
        self.hint = hint
        self._admin_seen = False

    async def missing(self, session: AsyncSession) -> bool:
        if self._admin_seen:
            return False
        self._admin_seen = await enabled_admin_exists(session)
        return not self._admin_seen

    async def hint_for(self, session: AsyncSession) -> str | None:
        """The setup hint while no administrator exists, else ``None``."""
        return self.hint if await self.missing(session) else None

    async def log_at_start(self, session: AsyncSession) -> None:
        """Log the hint once (at start) when no administrator exists."""
        if await self.missing(session):
            logger.warning("%s", self.hint)
