"""Alembic's environment for the hub: the hub's SQLModel metadata, batch mode on SQLite.

The connection comes from, in order: ``config.attributes["connection"]`` (hub/schema.py hands
over the hub's own connection), ``sqlalchemy.url`` in the config (sync or async driver), or the
hub's settings read from the environment (``INNSIGHT_DATABASE_URL`` / ``DATABASE_URL`` /
``INNSIGHT_DATA_DIR``), so a plain ``alembic -c ... upgrade head`` works too.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from hub.schema import context_options
from hub.settings import HubSettings

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    return HubSettings.from_env(os.environ).database_url.get_secret_value()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **context_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        url = _url()
        context.configure(
            url=url,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **context_options(make_url(url).get_backend_name()),
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = _url()
    if make_url(url).get_dialect().is_async:
        asyncio.run(_run_async(url))
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as sync_connection:
            _run(sync_connection)
    finally:
        engine.dispose()


main()
