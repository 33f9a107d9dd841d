"""Fixtures shared by every test layer: real Mosquitto and PostgreSQL on free ports."""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from innsight.broker import MosquittoBroker, mosquitto_binary
from testkit.postgres import PostgresServer, postgres_bin_dir

GOLDEN = Path(__file__).parent / "fixtures" / "golden"

# In CI (scripts/test.sh sets INNSIGHT_TESTS_NO_SKIP=1) a skipped test is a failure: every
# service and model the suite needs is installed there, so a skip would hide a broken install.
# Only tests marked `gpu` (hardware) or `llm_server` (an opt-in model server) may skip; a
# `skipif` elsewhere counts as a failure too (tests/unit/test_no_skip_rule.py pins this).
NO_SKIP_ENV = "INNSIGHT_TESTS_NO_SKIP"
SKIP_ALLOWED_MARKERS = frozenset({"gpu", "llm_server"})


# Hypothesis compares the process-wide `random` state before and after drawing a test's inputs
# and suspects the strategy when it moved. Other threads of a worker move it: a hub under test
# (LangGraph's uuid6 checkpoint ids) and, for the rest of the session once a Prefect test ran,
# Prefect's event-loop thread, whose events websocket draws each keepalive ping from it
# (websockets: random.getrandbits, every 20 s). A draw straddling a ping failed CI as "flaky"
# (stop 26). Our strategies draw only through Hypothesis. Added here rather than in
# pyproject.toml, whose hash keys CI's cached venv.
HYPOTHESIS_RANDOM_FROM_OTHER_THREADS = (
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", HYPOTHESIS_RANDOM_FROM_OTHER_THREADS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if (
        report.skipped
        and os.environ.get(NO_SKIP_ENV) == "1"
        and not hasattr(report, "wasxfail")
        and not SKIP_ALLOWED_MARKERS.intersection(m.name for m in item.iter_markers())
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped while {NO_SKIP_ENV}=1 (CI must run every test): {reason}"


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
