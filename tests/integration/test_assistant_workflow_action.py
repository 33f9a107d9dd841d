"""Confirmed assistant actions reach the hub: ``trigger_workflow`` starts the flow run through
the hub's flow runner (when flows are enabled) and ``send_staff_message`` is published on the
staff apps' MQTT topic through the hub's real Notifier, instead of only writing rows. The
starter is a recording fake of ``FlowRunner.trigger`` and the publisher a recording fake of the
ingest's MQTT publish (both real ones are exercised in test_prefect_api.py and
test_notify.py); the action store, its argument checks, the notifier and the audit and
notification rows are real, on SQLite."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlmodel import select

from hub.assistant.actions import ActionStore, HubHotelActions, action_specs
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.notify.dispatch import Notifier
from hub.notify.mqtt import MqttTopicChannel
from hub.tables import AssistantAction, AuditLog, NotificationLog, StaffMessage

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


class RecordingPublisher:
    """Fake of the ingest's MQTT publish: records topic and payload."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        assert (qos, retain) == (1, False)
        self.published.append((topic, payload))


async def _scenario(db: Path) -> tuple[list[AssistantAction], list[AuditLog], RecordingStarter]:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    bind_pii_cipher(engine, PiiCipher.from_secret(SecretStr(Fernet.generate_key().decode())))
    try:
        await init_db(engine)
        sessions = create_session_factory(engine)
        store = ActionStore(sessions, ttl_s=60)
        starter = RecordingStarter({"daily_report"})
        port = HubHotelActions(sessions, starter=starter)
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


async def _staff_message(
    db: Path,
) -> tuple[AssistantAction, StaffMessage, list[NotificationLog], RecordingPublisher]:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    bind_pii_cipher(engine, PiiCipher.from_secret(SecretStr(Fernet.generate_key().decode())))
    try:
        await init_db(engine)
        sessions = create_session_factory(engine)
        publisher = RecordingPublisher()
        notifier = Notifier({"mqtt": MqttTopicChannel(publisher, "hotel-a")}, sessions)
        store = ActionStore(sessions, ttl_s=60)
        pending = await store.propose(
            tool="send_staff_message",
            args={"recipient": "housekeeping", "subject": "Phòng 201", "body": "Thêm 2 khăn tắm"},
            summary="message housekeeping",
            requested_by="user:reception",
        )
        action = await store.decide(
            pending.id,
            actor="user:reception",
            approve=True,
            specs=action_specs(sessions),
            port=HubHotelActions(sessions, staff=notifier),
        )
        async with sessions() as session:
            message = (await session.exec(select(StaffMessage))).one()
            logs = list((await session.exec(select(NotificationLog))).all())
        return action, message, logs, publisher
    finally:
        await engine.dispose()


def test_a_confirmed_staff_message_is_published_on_the_staff_topic(tmp_path: Path) -> None:
    action, message, logs, publisher = asyncio.run(_staff_message(tmp_path / "hub.db"))
    assert action.status == "executed"
    assert action.result is not None
    assert action.result["status"] == "sent"
    assert message.status == "sent"
    [(topic, payload)] = publisher.published
    assert topic == "innsight/hotel-a/staff/housekeeping/notifications"
    body = json.loads(payload)
    assert body == {"kind": "staff_message", "subject": "Phòng 201", "body": "Thêm 2 khăn tắm"}
    assert [(n.kind, n.channel, n.recipient, n.ok) for n in logs] == [
        ("staff_message", "mqtt", "housekeeping", True)
    ]
