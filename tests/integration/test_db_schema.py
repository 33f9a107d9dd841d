"""A database made by an older innsight (create_all adds tables, never columns) is refused at
start with the missing ``table.column`` names, instead of failing later on the first query."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hub.db import SchemaMismatchError, create_engine, init_db

pytestmark = pytest.mark.integration


async def _init(url: str) -> None:
    engine = create_engine(url)
    try:
        await init_db(engine)
    finally:
        await engine.dispose()


def test_an_older_database_is_refused_with_the_missing_columns(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    with sqlite3.connect(db) as conn:  # ocr_results as an earlier version made it
        conn.execute(
            "CREATE TABLE ocr_results (id INTEGER PRIMARY KEY, image_id INTEGER, "
            "guest_id INTEGER, document_type VARCHAR(32), text TEXT, fields JSON)"
        )
    with pytest.raises(SchemaMismatchError) as caught:
        asyncio.run(_init(f"sqlite+aiosqlite:///{db}"))
    message = str(caught.value)
    assert "ocr_results.personal_fields" in message
    assert "ocr_results.document_type" not in message
    assert "back up the database" in message


def test_a_current_database_starts_twice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    asyncio.run(_init(url))
    asyncio.run(_init(url))  # no SchemaMismatchError on an up-to-date schema
