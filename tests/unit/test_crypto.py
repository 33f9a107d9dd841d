"""Encryption at rest for personal fields: the cipher, blind indexes and ``EncryptedString``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, insert, select, text

from hub.crypto import (
    EncryptedString,
    PiiCipher,
    PiiDecryptError,
    PiiKeyError,
    bind_pii_cipher,
)

KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()
EMAIL = "guest.one@example.com"

metadata = MetaData()
guests = Table(
    "guests_test",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", EncryptedString(), nullable=True),
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_round_trip_is_randomised_and_hides_the_value() -> None:
    cipher = PiiCipher([KEY_NEW])
    first, second = cipher.encrypt(EMAIL), cipher.encrypt(EMAIL)
    assert first != second
    assert EMAIL not in first
    assert cipher.decrypt(first) == cipher.decrypt(second) == EMAIL
    assert KEY_NEW not in repr(cipher)


def test_rotation_reads_old_values_and_writes_with_the_newest_key() -> None:
    old = PiiCipher([KEY_OLD]).encrypt(EMAIL)
    both = PiiCipher([KEY_NEW, KEY_OLD])
    assert both.decrypt(old) == EMAIL
    rotated = both.rotate(old)
    assert PiiCipher([KEY_NEW]).decrypt(rotated) == EMAIL
    with pytest.raises(PiiDecryptError):
        PiiCipher([KEY_NEW]).decrypt(old)
    assert PiiCipher.from_secret(SecretStr(f"{KEY_NEW},{KEY_OLD}")).decrypt(old) == EMAIL


def test_bad_keys_and_damaged_values_are_errors_without_the_value() -> None:
    with pytest.raises(PiiKeyError):
        PiiCipher([])
    with pytest.raises(PiiKeyError, match="malformed"):
        PiiCipher(["not-a-fernet-key"])
    with pytest.raises(PiiKeyError):
        PiiCipher.from_secret(None)
    with pytest.raises(PiiDecryptError) as caught:
        PiiCipher([KEY_NEW]).decrypt("gAAAAAgarbage")
    assert "garbage" not in str(caught.value)


def test_blind_index_is_keyed_deterministic_and_normalised() -> None:
    cipher = PiiCipher([KEY_NEW])
    index = cipher.blind_index(EMAIL)
    assert len(index) == 64
    assert index == cipher.blind_index("  Guest.One@Example.COM ")
    assert index != cipher.blind_index("guest.two@example.com")
    assert index != PiiCipher([KEY_OLD]).blind_index(EMAIL)
    assert EMAIL not in index


def test_encrypted_column_stores_ciphertext_and_reads_plaintext(engine: Engine) -> None:
    cipher = PiiCipher([KEY_NEW])
    bind_pii_cipher(engine, cipher)
    with engine.begin() as conn:
        conn.execute(insert(guests), [{"id": 1, "email": EMAIL}, {"id": 2, "email": None}])
    with engine.connect() as conn:
        raw = dict(conn.execute(text("SELECT id, email FROM guests_test")).all())
        assert raw[2] is None
        assert EMAIL not in raw[1]
        assert cipher.decrypt(raw[1]) == EMAIL
        back = dict(conn.execute(select(guests.c.id, guests.c.email)).all())
        assert back == {1: EMAIL, 2: None}
        assert conn.execute(select(guests.c.id).where(guests.c.email.is_(None))).scalar() == 2


def test_encrypted_column_cannot_be_compared(engine: Engine) -> None:
    bind_pii_cipher(engine, PiiCipher([KEY_NEW]))
    for compare in (
        lambda: guests.c.email == EMAIL,
        lambda: guests.c.email.in_([EMAIL]),
        lambda: guests.c.email.like("%@example.com"),
        lambda: guests.c.email == EMAIL,
    ):
        with pytest.raises(TypeError, match="blind"):
            compare()


def test_an_engine_without_a_cipher_refuses_to_write_personal_fields() -> None:
    # hide_parameters: SQLAlchemy otherwise quotes the (plaintext) parameters in the error
    engine = create_engine("sqlite://", hide_parameters=True)
    metadata.create_all(engine)
    try:
        with (
            pytest.raises(Exception, match="no PII cipher is bound") as caught,
            engine.begin() as conn,
        ):
            conn.execute(insert(guests), [{"id": 1, "email": EMAIL}])
        assert EMAIL not in str(caught.value)
    finally:
        engine.dispose()
