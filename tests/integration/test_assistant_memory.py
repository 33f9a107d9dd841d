"""Conversation memory through the real checkpointers: SQLite (the default, a file in the data
dir) and PostgreSQL (when the hub's database is PostgreSQL), with a scripted FAKE model that
answers a follow-up only from what the thread remembers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from sqlalchemy.engine import make_url

from hub.assistant.context import AskerContext
from hub.assistant.data import SqlHotelData
from hub.assistant.graph import ask
from hub.assistant.memory import ConversationMemory, postgres_conninfo, thread_id_of
from hub.auth.keys import with_secrets
from hub.auth.scopes import Role
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.settings import HubSettings
from hub.tables import Room
from testkit.fake_llm import FakeToolCallingChatModel, call, last_tool_result
from testkit.hub import hub_settings
from testkit.postgres import PostgresServer

pytestmark = pytest.mark.integration


def _model() -> FakeToolCallingChatModel:
    def step(messages: Sequence[BaseMessage]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, HumanMessage) and "room" in str(last.content):
            number = str(last.content).split("room ")[1][:3]
            return call("room_status", room_number=number)(messages)
        if isinstance(last, ToolMessage):
            _tool, result = last_tool_result(messages)
            return AIMessage(content=f"Room {result['room_number']} is {result['status']}.")
        rooms = [m for m in messages if isinstance(m, ToolMessage)]
        if not rooms:
            return AIMessage(content="Which room?")
        result = json.loads(str(rooms[-1].content))
        return AIMessage(content=f"It is on floor {result['floor']}.")

    return FakeToolCallingChatModel(steps=[step])


def _conversation(settings: HubSettings) -> list[str]:
    async def go() -> list[str]:
        engine = create_engine(settings.database_url.get_secret_value())
        bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
        memory = ConversationMemory(settings)
        try:
            await init_db(engine)
            factory = create_session_factory(engine)
            async with factory() as session:
                session.add(Room(room_number="305", room_type="twin", floor=3, status="clean"))
                await session.commit()
            data = SqlHotelData(factory)
            saver = await memory.saver()
            answers = []
            for who, question in (
                ("local:maria", "What is the status of room 305?"),
                ("local:maria", "Which floor?"),
                ("local:tuan", "Which floor?"),
            ):
                context = AskerContext(who, Role.STAFF)
                answer = await ask(
                    _model(),
                    data,
                    context,
                    question,
                    checkpointer=saver,
                    thread_id=thread_id_of(context, None),
                )
                answers.append(answer.response)
            return answers
        finally:
            await memory.aclose()
            await engine.dispose()

    return asyncio.run(go())


def test_thread_ids_separate_users_roles_and_conversations() -> None:
    maria = AskerContext("local:maria", Role.STAFF)
    assert thread_id_of(maria, None) == thread_id_of(maria, "default")
    ids = {
        thread_id_of(maria, None),
        thread_id_of(maria, "night"),
        thread_id_of(AskerContext("local:maria", Role.MANAGER), None),
        thread_id_of(AskerContext("local:tuan", Role.STAFF), None),
    }
    assert len(ids) == 4
    assert postgres_conninfo("sqlite+aiosqlite:///x.db") is None
    assert postgres_conninfo("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"


def test_sqlite_memory_remembers_per_user(tmp_path: Path) -> None:
    settings = with_secrets(hub_settings(tmp_path, None))
    assert ConversationMemory(settings).backend == "sqlite"
    answers = _conversation(settings)
    assert answers == ["Room 305 is clean.", "It is on floor 3.", "Which room?"]
    assert (tmp_path / "assistant-memory.db").is_file()


async def _admin(async_url: str, statement: str) -> None:
    dsn = make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(statement.encode())


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"assistant_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_server.async_url, f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(postgres_server.async_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        asyncio.run(
            _admin(postgres_server.async_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


@pytest.mark.postgres
def test_postgres_memory_remembers_per_user(tmp_path: Path, database_url: str) -> None:
    settings = with_secrets(hub_settings(tmp_path, None, database_url=database_url))
    assert ConversationMemory(settings).backend == "postgres"
    answers = _conversation(settings)
    assert answers == ["Room 305 is clean.", "It is on floor 3.", "Which room?"]
    assert not (tmp_path / "assistant-memory.db").exists()

    async def threads() -> int:
        conninfo = postgres_conninfo(database_url)
        assert conninfo is not None
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            cursor = await conn.execute("SELECT count(DISTINCT thread_id) FROM checkpoints")
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    assert asyncio.run(threads()) == 2
