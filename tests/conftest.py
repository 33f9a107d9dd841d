"""Fixtures shared by every test layer: real Mosquitto and PostgreSQL on free ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from innsight.broker import MosquittoBroker, mosquitto_binary
from tests.support.postgres import PostgresServer, postgres_bin_dir

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


def load_golden(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((GOLDEN / name).read_text())
    return data


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A fresh Mosquitto on a free loopback port (function scope: fault tests kill it)."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    broker = MosquittoBroker(workdir=tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    server = PostgresServer()
    server.start()
    yield server
    server.stop()
