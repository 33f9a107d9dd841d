"""hub.device_registry on a real SQLite hub database: tokens are hashed, rotated, revoked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlmodel import select

from hub.db import SessionFactory, create_engine, create_session_factory, init_db
from hub.device_registry import (
    DeviceAlreadyEnrolledError,
    DeviceRevokedError,
    UnknownDeviceError,
    hash_token,
    list_devices,
    register_device,
    revoke_device,
    rotate_device_token,
    verify_device_token,
)
from hub.tables import Device

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T = TypeVar("T")


def _run(db: Path, work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            await init_db(engine)
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_register_verify_rotate_revoke(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"

    async def scenario(factory: SessionFactory) -> None:
        async with factory() as session:
            token = await register_device(session, "edge-01", "hotel-a", ["lobby", "bar"])
            await session.commit()
        async with factory() as session:
            assert await verify_device_token(session, token) == "edge-01"
            assert await verify_device_token(session, token + "x") is None
            assert await verify_device_token(session, "") is None
            stored = (await session.exec(select(Device))).one()
            assert stored.token_hash == hash_token(token)
            assert token not in (stored.token_hash or "")
            assert stored.cameras == ["lobby", "bar"]
            with pytest.raises(DeviceAlreadyEnrolledError):
                await register_device(session, "edge-01", "hotel-a", [])

        async with factory() as session:
            rotated = await rotate_device_token(session, "edge-01")
            await session.commit()
        async with factory() as session:
            assert await verify_device_token(session, token) is None
            assert await verify_device_token(session, rotated) == "edge-01"
            await revoke_device(session, "edge-01")
            await session.commit()
        async with factory() as session:
            assert await verify_device_token(session, rotated) is None
            with pytest.raises(DeviceRevokedError):
                await rotate_device_token(session, "edge-01")
            (record,) = await list_devices(session)
            assert record.revoked
            assert record.enrolled
            assert record.cameras == ("lobby", "bar")

        # a revoked device may be enrolled again, with a new token
        async with factory() as session:
            again = await register_device(session, "edge-01", "hotel-a", ["lobby"])
            await session.commit()
        async with factory() as session:
            assert await verify_device_token(session, again) == "edge-01"
            assert await verify_device_token(session, rotated) is None

    _run(db, scenario)


def test_uncommitted_changes_do_not_count(tmp_path: Path) -> None:
    async def scenario(factory: SessionFactory) -> None:
        async with factory() as session:
            token = await register_device(session, "edge-01", "hotel-a", ["lobby"])
            await session.rollback()
        async with factory() as session:
            assert await verify_device_token(session, token) is None
            assert await list_devices(session) == []

    _run(tmp_path / "hub.db", scenario)


def test_a_device_only_heard_from_can_be_enrolled_but_not_rotated(tmp_path: Path) -> None:
    async def scenario(factory: SessionFactory) -> None:
        async with factory() as session:
            session.add(Device(device_id="edge-09", site="hotel-a", status="online"))
            await session.commit()
        async with factory() as session:
            with pytest.raises(UnknownDeviceError):
                await rotate_device_token(session, "edge-09")
            with pytest.raises(UnknownDeviceError):
                await revoke_device(session, "edge-09")
            token = await register_device(session, "edge-09", "hotel-a", ["door"])
            await session.commit()
        async with factory() as session:
            assert await verify_device_token(session, token) == "edge-09"
            (record,) = await list_devices(session, "hotel-a")
            assert record.status == "online"  # the ingest's columns are kept
            assert await list_devices(session, "other-site") == []

    _run(tmp_path / "hub.db", scenario)
