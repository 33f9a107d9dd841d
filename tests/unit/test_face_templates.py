"""The site-keyed template transform and the template keys (issue 17 item 4), pure."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text

from edge_agent.index.sealed import SealError, open_sealed, seal
from edge_agent.index.template_transform import orthogonal_matrix, transform
from hub.crypto import EncryptedBytes, PiiCipher, PiiDecryptError, bind_pii_cipher
from hub.face_templates import (
    TemplateKey,
    TemplateKeyError,
    TemplateKeyring,
    TemplateProtector,
    is_sealed,
)

DIM = 128
CIPHER = PiiCipher([Fernet.generate_key().decode()])


def unit_rows(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, DIM))
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


def protector(
    tmp_path: Path, site: str = "hotel-a", name: str = "template.key"
) -> TemplateProtector:
    return TemplateProtector(CIPHER, TemplateKeyring(path=tmp_path / name), site=site)


def test_the_rotation_is_orthogonal_and_depends_only_on_the_key() -> None:
    q = orthogonal_matrix(b"k" * 32, DIM).astype(np.float64)
    assert np.allclose(q @ q.T, np.eye(DIM), atol=1e-5)
    assert np.array_equal(orthogonal_matrix(b"k" * 32, DIM), orthogonal_matrix(b"k" * 32, DIM))
    assert not np.allclose(orthogonal_matrix(b"j" * 32, DIM), q, atol=0.1)
    with pytest.raises(ValueError, match="32 bytes"):
        orthogonal_matrix(b"short", DIM)


def test_similarities_within_a_site_are_unchanged(tmp_path: Path) -> None:
    templates, probes = unit_rows(50, 1), unit_rows(20, 2)
    site = protector(tmp_path)
    stored = np.stack([np.frombuffer(site.protect("m", t), "<f4") for t in templates])
    rotated_probes = np.stack([site.probe("m", p) for p in probes])
    assert np.allclose(rotated_probes @ stored.T, probes @ templates.T, atol=1e-5)
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)


def test_two_sites_templates_of_the_same_face_are_unlinkable(tmp_path: Path) -> None:
    faces = unit_rows(200, 3)
    a, b = protector(tmp_path, "hotel-a", "a.key"), protector(tmp_path, "hotel-b", "b.key")
    at_a = np.stack([np.frombuffer(a.protect("m", f), "<f4") for f in faces])
    at_b = np.stack([np.frombuffer(b.protect("m", f), "<f4") for f in faces])
    same_face = np.sum(at_a * at_b, axis=1)  # one person, two hotels
    assert float(np.abs(same_face).max()) < 0.4  # random 128-d directions: std ~0.09
    # one key, two sites (or two models) still give two transforms: HKDF binds the context
    shared = TemplateKey(b"s" * 32)
    assert shared.transform_key("a", "m", DIM) != shared.transform_key("b", "m", DIM)
    assert shared.transform_key("a", "m", DIM) != shared.transform_key("a", "m2", DIM)


def test_the_key_file_is_made_once_private_and_reread_when_replaced(tmp_path: Path) -> None:
    keyring = TemplateKeyring(path=tmp_path / "template.key")
    first = keyring.current
    assert os.stat(tmp_path / "template.key").st_mode & 0o077 == 0
    assert TemplateKeyring(path=tmp_path / "template.key").current == first
    other = TemplateKeyring(path=tmp_path / "template.key")
    new = TemplateKey(b"n" * 32)
    other.write([new, first])
    assert keyring.current == new  # the running reader sees the re-keying
    assert keyring.keys == (new, first)
    assert "secret" not in repr(first)
    assert first.key_id in repr(first)


def test_a_key_given_in_the_settings_cannot_be_rotated_by_the_hub() -> None:
    key = TemplateKey(b"f" * 32)
    keyring = TemplateKeyring(fixed=SecretStr(base64.urlsafe_b64encode(key.secret).decode()))
    assert keyring.current == key
    assert not keyring.rotatable
    with pytest.raises(TemplateKeyError, match="INNSIGHT_TEMPLATE_KEY"):
        keyring.write([TemplateKey(b"g" * 32)])
    with pytest.raises(TemplateKeyError, match="32 url-safe"):
        TemplateKeyring(fixed=SecretStr("not-a-key"))


def test_sealing_for_the_object_store_and_clear_objects_from_before(tmp_path: Path) -> None:
    site = protector(tmp_path)
    jpeg = b"\xff\xd8\xff\xe0 a crop"
    sealed = site.seal(jpeg)
    assert is_sealed(sealed)
    assert jpeg not in sealed
    assert site.open(sealed) == jpeg
    assert site.open(jpeg) == jpeg  # a crop stored before issue 17
    assert not is_sealed(b'{"schema": 1}')


def test_encrypted_bytes_column_stores_no_clear_bytes() -> None:
    engine = create_engine("sqlite://")
    bind_pii_cipher(engine, CIPHER)
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("v", EncryptedBytes())
    )
    table.metadata.create_all(engine)
    value = unit_rows(1, 4)[0].tobytes()
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, v=value))
        raw = conn.execute(text("SELECT v FROM t")).scalar_one()
        assert value[:16] not in raw
        assert conn.execute(select(table.c.v)).scalar_one() == value
    bind_pii_cipher(engine, PiiCipher([Fernet.generate_key().decode()]))
    with engine.begin() as conn, pytest.raises(PiiDecryptError):
        conn.execute(select(table.c.v)).scalar_one()


def test_the_edge_seal_opens_only_with_its_own_key() -> None:
    blob = seal(b"k" * 32, b"gallery bytes")
    assert open_sealed(b"k" * 32, blob) == b"gallery bytes"
    with pytest.raises(SealError, match="another site"):
        open_sealed(b"x" * 32, blob)
    with pytest.raises(SealError, match="not a sealed"):
        open_sealed(b"k" * 32, b"{}")
    assert transform(b"k" * 32, np.zeros(4)).shape == (4,)
