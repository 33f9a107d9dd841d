"""A confirmed ``trigger_workflow`` action starts the flow run through the hub's flow runner
(when flows are enabled) instead of only writing a row; a workflow the runner does not know is
a failed action with the runner's reason, not a crash. The starter here is a recording fake of
``FlowRunner.trigger`` (the real runner is exercised in tests/integration/test_prefect_api.py);
the action store, its argument checks and its audit rows are real, on SQLite."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlmodel import select

from hub.assistant.actions import ActionStore, FlowHotelActions, action_specs
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.tables import AssistantAction, AuditLog

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class _Run:
    flow_run_id: str
    state_name: str


class RecordingStarter:
    """Fake of FlowRunner.trigger: records the call, refuses names it does not know."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def trigger(self, name: str, parameters: dict[str, Any] | None = None) -> _Run:
        if name not in self.known:
            raise LookupError(f"unknown workflow {name!r}; known: {', '.join(sorted(self.known))}")
        self.calls.append((name, dict(parameters or {})))
        return _Run(flow_run_id=f"run-{len(self.calls)}", state_name="Scheduled")


async def _scenario(db: Path) -> tuple[list[AssistantAction], list[AuditLog], RecordingStarter]:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    bind_pii_cipher(engine, PiiCipher.from_secret(SecretStr(Fernet.generate_key().decode())))
    try:
        await init_db(engine)
        sessions = create_session_factory(engine)
        store = ActionStore(sessions, ttl_s=60)
        starter = RecordingStarter({"daily_report"})
        port = FlowHotelActions(sessions, starter)
        specs = action_specs(sessions)
        ok = await store.propose(
            tool="trigger_workflow",
            args={"workflow": "daily_report", "parameters": {"day": "2026-11-22"}},
            summary="run the daily report",
            requested_by="user:manager",
        )
        bad = await store.propose(
            tool="trigger_workflow",
            args={"workflow": "make_coffee", "parameters": {}},
            summary="run make_coffee",
            requested_by="user:manager",
        )
        for pending in (ok, bad):
            await store.decide(
                pending.id, actor="user:manager", approve=True, specs=specs, port=port
            )
        async with sessions() as session:
            actions = list((await session.exec(select(AssistantAction))).all())
            audit = list((await session.exec(select(AuditLog))).all())
        return actions, audit, starter
    finally:
        await engine.dispose()


def test_a_confirmed_workflow_action_starts_the_run(tmp_path: Path) -> None:
    actions, audit, starter = asyncio.run(_scenario(tmp_path / "hub.db"))
    assert starter.calls == [("daily_report", {"day": "2026-11-22"})]
    by_workflow = {a.summary: a for a in actions}
    started = by_workflow["run the daily report"]
    assert started.status == "executed"
    assert started.result is not None
    assert started.result["flow_run_id"] == "run-1"
    assert started.result["requested_by"] == "user:manager"
    refused = by_workflow["run make_coffee"]
    assert refused.status == "failed"
    assert refused.result is not None
    assert refused.result["error"].startswith("workflow: one of")  # refused before any run
    assert {row.action for row in audit} >= {"assistant.propose", "assistant.confirm"}
