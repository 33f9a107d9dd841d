"""Guests' and employees' personal fields and OCR text are ciphertext in the database file and
plaintext through the hub's engine (DESIGN §7). Real SQLite, the hub's own tables and engine."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlmodel import select

from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.tables import Employee, Guest, OcrResult

pytestmark = pytest.mark.integration

EMAIL, PHONE, DOC = "nguyen.van.a@example.vn", "+84 912 345 678", "B1234567"


def test_personal_fields_are_encrypted_at_rest(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"

    async def scenario() -> tuple[str | None, str | None, str]:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        bind_pii_cipher(engine, PiiCipher.from_secret(SecretStr(Fernet.generate_key().decode())))
        await init_db(engine)
        sessions = create_session_factory(engine)
        async with sessions() as session:
            guest = Guest(
                full_name="Nguyễn Văn A", email=EMAIL, phone=PHONE, id_document_number=DOC
            )
            session.add(guest)
            session.add(Employee(employee_id="emp-1", name="Trần Thị B", email="b@hotel.vn"))
            await session.flush()
            session.add(
                OcrResult(
                    guest_id=guest.id,
                    document_type="passport",
                    text=f"P<VNM {DOC}",
                    engine="rapidocr",
                )
            )
            await session.commit()
        async with sessions() as session:
            read = (await session.exec(select(Guest))).one()
            ocr = (await session.exec(select(OcrResult))).one()
        await engine.dispose()
        return read.email, read.phone, ocr.text

    email, phone, text = asyncio.run(scenario())
    assert (email, phone) == (EMAIL, PHONE)
    assert DOC in text

    with closing(sqlite3.connect(db)) as raw:
        rows = raw.execute("SELECT email, phone, id_document_number FROM guests").fetchall()
        ocr_raw = raw.execute("SELECT text FROM ocr_results").fetchone()[0]
        emp_raw = raw.execute("SELECT email FROM employees").fetchone()[0]
    stored = [*rows[0], ocr_raw, emp_raw]
    assert all(value.startswith("gAAAA") for value in stored)  # Fernet tokens
    on_disk = db.read_bytes()
    for secret in (EMAIL, PHONE, DOC, "b@hotel.vn"):
        assert secret.encode() not in on_disk
