"""Shared by the backup/restore tests: the ``innsight`` command as a process, and a hub's data
as a hotel's would be (an enrolled person, an encrypted guest, events)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
from sqlmodel import select

from hub.auth.keys import with_secrets
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import SessionFactory, create_engine, create_session_factory
from hub.settings import HubSettings
from hub.tables import Event, Guest
from innsight.demo import photos
from models.faces import Image
from testkit.consent import record_consent
from testkit.hub import RunningHub

PERSON = "EMP042"
PERSON_NAME = "Eileen Collins"
GUEST_EMAIL = "nguyen.thi.mai@example.vn"
GUEST_PASSPORT = "C0123456"


def b64_jpeg(image: Image) -> str:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


def innsight_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``innsight --log-level warning ARGS`` as a process: none of our INNSIGHT_* settings,
    only ``env``'s."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("INNSIGHT_") and k != "DATABASE_URL"
    }
    return subprocess.run(
        [sys.executable, "-m", "innsight", "--log-level", "warning", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def enrol(hub: RunningHub) -> None:
    record_consent(hub.http, PERSON)
    response = hub.http.post(
        "/api/v1/cv/face/enroll",
        json={
            "employee_id": PERSON,
            "name": PERSON_NAME,
            "images": [b64_jpeg(photos.astronaut_portrait())],
        },
    )
    assert response.status_code == 200, response.text


def recognise(hub: RunningHub) -> dict[str, Any]:
    """POST /api/v1/cv/face/recognize with another photo of... the same portrait."""
    response = hub.http.post(
        "/api/v1/cv/face/recognize", json={"image": b64_jpeg(photos.astronaut_portrait())}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@asynccontextmanager
async def _sessions(settings: HubSettings) -> AsyncIterator[SessionFactory]:
    """Sessions on the hub's database in the caller's event loop (asyncpg connections belong
    to one loop: the running hub's are not usable from the test's)."""
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(with_secrets(settings).pii_key))
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def add_guest_and_events(settings: HubSettings) -> int:
    """An encrypted guest and three face events; the guest's id."""
    async with _sessions(settings) as sessions:
        return await _add(sessions)


async def _add(sessions: SessionFactory) -> int:
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    async with sessions() as session:
        guest = Guest(
            full_name="Nguyễn Thị Mai",
            email=GUEST_EMAIL,
            id_document_number=GUEST_PASSPORT,
            nationality="VN",
        )
        session.add(guest)
        for i in range(3):
            session.add(
                Event(
                    event_id=uuid.UUID(int=0xE0 + i),
                    device_id="edge-lobby",
                    seq=10 + i,
                    last_seq=10 + i,
                    camera_id="cam-lobby",
                    kind="face",
                    phase="end",
                    started_at=start + timedelta(minutes=i),
                    person_id=PERSON if i < 2 else None,
                    score=0.95,
                    payload={"track": i},
                    received_at=start + timedelta(minutes=i, seconds=1),
                    updated_at=start + timedelta(minutes=i, seconds=2),
                )
            )
        await session.commit()
        await session.refresh(guest)
        assert guest.id is not None
        return guest.id


async def guest_pii(settings: HubSettings, guest_id: int) -> tuple[str | None, str | None]:
    """The guest's email and document number as the hub decrypts them."""
    async with _sessions(settings) as sessions, sessions() as session:
        guest: Guest = (await session.exec(select(Guest).where(Guest.id == guest_id))).one()
        return guest.email, guest.id_document_number
