"""Conversation memory: a LangGraph checkpointer per hub, one thread per caller.

SQLite (``{data_dir}/assistant-memory.db``, langgraph-checkpoint-sqlite) by default; PostgreSQL
(langgraph-checkpoint-postgres over psycopg) when the hub's database is PostgreSQL. The thread id
is a hash of the authenticated actor, their role and the optional conversation id, so one caller
can never name (or guess) another caller's thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from hub.assistant.context import AskerContext
from hub.settings import HubSettings

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

logger = logging.getLogger(__name__)

MEMORY_FILE = "assistant-memory.db"


def thread_id_of(context: AskerContext, conversation_id: str | None) -> str:
    """A stable, opaque thread id: the same caller + role (+ the employee they act as) +
    conversation always get the same one."""
    parts = [context.actor, context.role.value, conversation_id or "default"]
    if context.user_id is not None:
        parts.append(f"as:{context.user_id}")
    key = "\x1f".join(parts)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def postgres_conninfo(database_url: str) -> str | None:
    """The psycopg connection string of a ``postgresql+asyncpg://`` URL (None for SQLite)."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ConversationMemory:
    """Opens the checkpointer on first use and closes it with :meth:`aclose`."""

    def __init__(self, settings: HubSettings) -> None:
        self._settings = settings
        self._stack: AsyncExitStack | None = None
        self._saver: BaseCheckpointSaver[str] | None = None
        self._lock = asyncio.Lock()

    @property
    def backend(self) -> str:
        url = self._settings.database_url.get_secret_value()
        return "postgres" if postgres_conninfo(url) else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return self._settings.data_dir / MEMORY_FILE

    async def saver(self) -> BaseCheckpointSaver[str]:
        async with self._lock:
            if self._saver is None:
                self._saver = await self._open()
            return self._saver

    async def _open(self) -> BaseCheckpointSaver[str]:
        stack = AsyncExitStack()
        try:
            conninfo = postgres_conninfo(self._settings.database_url.get_secret_value())
            saver: BaseCheckpointSaver[str]
            if conninfo is not None:
                from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

                postgres = await stack.enter_async_context(
                    AsyncPostgresSaver.from_conn_string(conninfo)
                )
                await postgres.setup()
                saver = postgres
            else:
                from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

                self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
                sqlite = await stack.enter_async_context(
                    AsyncSqliteSaver.from_conn_string(str(self.sqlite_path))
                )
                await sqlite.setup()
                saver = sqlite
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        logger.info("assistant memory open (%s)", self.backend)
        return saver

    async def aclose(self) -> None:
        stack, self._stack, self._saver = self._stack, None, None
        if stack is not None:
            await stack.aclose()
