"""The assistant's HTTP surface over a real hub and database, with a scripted FAKE chat model
(or FAKE Ollama/OpenAI servers where the real clients' wire is the point): message generation,
proposed actions and their confirmation, per-user memory, SSE streaming, monitoring, task
execution, and the OpenAI-compatible provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth.keys import with_secrets
from hub.auth.local import issue_local_token
from hub.auth.scopes import Scope
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.settings import HubSettings
from hub.tables import AuditLog, Booking, Guest, HousekeepingTask, Room, ServiceLog
from innsight.broker import free_port
from testkit.fake_llm import (
    FakeOllamaServer,
    FakeOpenAIServer,
    FakeReachableAssistant,
    FakeToolCallingChatModel,
    Reply,
    call,
    last_tool_result,
    say,
)
from testkit.hub import RunningHub, bearer, hub_settings, running_hub

pytestmark = pytest.mark.integration

LLM = "/api/v1/llm"
MODEL = "qwen2.5:7b-instruct"
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# The hotel database
# ---------------------------------------------------------------------------------------------


def _db(settings: HubSettings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(settings.database_url.get_secret_value())
        bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
        try:
            await init_db(engine)
            async with create_session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _seed(session: AsyncSession) -> None:
    r201 = Room(room_number="201", room_type="double", floor=2, status="cleaning")
    r202 = Room(room_number="202", room_type="suite", floor=2, status="available")
    alice = Guest(full_name="Nguyễn Thị Ánh", email="anh@example.com", nationality="VN")
    bob = Guest(full_name="Bob <b>Smith</b>", email="bob@example.com", nationality="GB")
    session.add_all([r201, r202, alice, bob])
    await session.flush()
    assert r201.id is not None
    assert r202.id is not None
    assert alice.id is not None
    assert bob.id is not None
    today = date.today()
    session.add_all(
        [
            Booking(
                booking_ref="BK-1",
                guest_id=alice.id,
                room_id=r201.id,
                check_in_date=today,
                check_out_date=today + timedelta(days=2),
                status="checked_in",
            ),
            Booking(
                booking_ref="BK-2",
                guest_id=bob.id,
                room_id=r202.id,
                check_in_date=today + timedelta(days=1),
                check_out_date=today + timedelta(days=4),
                status="reserved",
            ),
        ]
    )
    await session.commit()


@pytest.fixture
def seeded(tmp_path: Path) -> HubSettings:
    settings = with_secrets(
        hub_settings(tmp_path, None, llm_base_url=f"http://127.0.0.1:{free_port()}")
    )
    _db(settings, _seed)
    return settings


@pytest.fixture
def hub(seeded: HubSettings) -> Iterator[RunningHub]:
    """A hub whose LLM is down (nothing listens on llm_base_url)."""
    with running_hub(seeded, start_ingest=False) as running:
        yield running


def _client(hub: RunningHub, subject: str, *scopes: str) -> httpx.Client:
    token = issue_local_token(hub.settings, scopes or [Scope.LLM_USE], subject=subject)
    return httpx.Client(base_url=hub.http.base_url, timeout=30.0, headers=bearer(token))


def _use_fake_model(hub: RunningHub, model: FakeToolCallingChatModel) -> None:
    hub.app.state.assistant = FakeReachableAssistant(hub.settings, model)


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


def test_generation_fills_templates_from_the_booking(hub: RunningHub) -> None:
    email = hub.http.post(
        f"{LLM}/generate/email",
        json={
            "template_type": "email",
            "booking_id": "BK-1",
            "variables": {"topic": "Nâng hạng phòng", "message": "Phòng đã nâng hạng."},
        },
    )
    assert email.status_code == 200, email.text
    body = email.json()
    assert body["language"] == "vi"  # the guest is Vietnamese
    assert body["generated_by"] == "template"
    assert body["subject"] == "Nâng hạng phòng"
    assert body["body"].startswith("Kính gửi quý khách Nguyễn Thị Ánh,")
    assert "<p>Kính gửi quý khách Nguyễn Thị Ánh,</p>" in body["html_body"]

    checkin = hub.http.post(
        f"{LLM}/generate/checkin-instructions", json={"booking_id": "BK-2", "polish": True}
    ).json()
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert checkin["language"] == "en"
    assert checkin["subject"] == f"Check-in instructions for {tomorrow}"
    assert "- Booking reference: BK-2" in checkin["body"]
    assert "- Room: 202" in checkin["body"]
    assert checkin["generated_by"] == "template"  # polish asked, but the LLM is down
    assert "Bob &lt;b&gt;Smith&lt;/b&gt;" in checkin["html_body"]
    assert "<b>" not in checkin["html_body"]

    ready = hub.http.post(
        f"{LLM}/generate/notification",
        json={"template_type": "room_ready", "room_number": "201", "language": "en"},
    ).json()
    assert ready["subject"] == "Your room 201 is ready"
    assert "Dear Nguyễn Thị Ánh," in ready["body"]

    apology = hub.http.post(
        f"{LLM}/generate/apology",
        json={
            "variables": {"guest_name": "Mr Lee", "issue": "the noise last night"},
            "language": "en",
        },
    ).json()
    assert "We sincerely apologise for the following: the noise last night." in apology["body"]


def test_generation_bad_input_is_4xx_with_reason(hub: RunningHub) -> None:
    unknown = hub.http.post(
        f"{LLM}/generate/email",
        json={"template_type": "email", "booking_id": "NOPE", "variables": {"topic": "x"}},
    )
    assert unknown.status_code == 404
    assert unknown.json()["errors"] == [{"field": "booking_id", "reason": "no booking 'NOPE'"}]
    missing = hub.http.post(
        f"{LLM}/generate/notification",
        json={"template_type": "late_arrival", "variables": {"shift_start": "8"}},
    )
    assert missing.status_code == 422
    fields = [e["field"] for e in missing.json()["errors"]]
    assert fields == ["variables.employee_name", "variables.arrived_at", "variables.minutes_late"]
    kind = hub.http.post(f"{LLM}/generate/notification", json={"template_type": "party"})
    assert kind.status_code == 422
    assert kind.json()["errors"][0]["field"] == "template_type"
    lang = hub.http.post(
        f"{LLM}/generate/apology",
        json={"variables": {"guest_name": "A", "issue": "x"}, "language": "fr"},
    )
    assert lang.status_code == 422
    stray = hub.http.post(
        f"{LLM}/generate/checkin-instructions",
        json={"booking_id": "BK-1", "variables": {"check_in_hour": "25:00"}},
    )
    assert stray.status_code == 422
    assert stray.json()["errors"][0]["field"] == "variables.check_in_hour"
    # text the database cannot store, and times it cannot compare, are 422s naming the field
    nul = hub.http.post(
        f"{LLM}/generate/email", json={"booking_id": "BK\u0000", "variables": {"topic": "x"}}
    )
    assert nul.status_code == 422
    assert nul.json()["errors"][0]["field"] == "booking_id"
    surrogate = hub.http.post(
        f"{LLM}/generate/notification",
        content=b'{"template_type": "room_ready", "variables": {"guest_name": "\\ud800"}}',
        headers={"content-type": "application/json"},
    )
    assert surrogate.status_code == 422
    assert surrogate.json()["errors"][0]["field"] == "variables"
    ancient = hub.http.post(
        f"{LLM}/monitoring/analyze", json={"until": "0001-01-01T00:00:00+23:59"}
    )
    assert ancient.status_code == 422


def test_polish_uses_the_llm_when_it_answers(hub: RunningHub) -> None:
    def rewrite(messages: Sequence[BaseMessage]) -> AIMessage:
        original = str(messages[-1].content)
        return AIMessage(content=original.replace("Dear", "Dearest") + "\n\n\nWarmly.")

    model = FakeToolCallingChatModel(steps=[rewrite])
    _use_fake_model(hub, model)
    reply = hub.http.post(
        f"{LLM}/generate/notification",
        json={
            "template_type": "lost_item_found",
            "language": "en",
            "polish": True,
            "variables": {"guest_name": "Ann", "item": "umbrella", "found_at": "the bar"},
        },
    ).json()
    assert reply["generated_by"] == "llm"
    assert reply["body"].startswith("Dearest Ann,")
    assert reply["body"].endswith("\n\nWarmly.")
    assert reply["html_body"].endswith("<p>Warmly.</p>\n</body>\n</html>\n")
    assert reply["subject"] == "We found your lost item: umbrella"
    assert "umbrella" in str(model.seen[0][-1].content)


# ---------------------------------------------------------------------------------------------
# Proposed actions and their confirmation
# ---------------------------------------------------------------------------------------------


def _tasks(settings: HubSettings) -> list[HousekeepingTask]:
    async def read(session: AsyncSession) -> list[HousekeepingTask]:
        return list((await session.exec(select(HousekeepingTask))).all())

    return _db(settings, read)


def _audit(settings: HubSettings) -> list[AuditLog]:
    async def read(session: AsyncSession) -> list[AuditLog]:
        query = select(AuditLog).where(col(AuditLog.action).startswith("assistant."))
        return list((await session.exec(query.order_by(col(AuditLog.id)))).all())

    return _db(settings, read)


def _confirming_model() -> FakeToolCallingChatModel:
    def relay(messages: Sequence[BaseMessage]) -> AIMessage:
        _tool, result = last_tool_result(messages)
        return AIMessage(content=f"Please confirm: {result['summary']}")

    propose = call(
        "create_housekeeping_task",
        room_number="201",
        description="bring 2 extra towels",
        priority="normal",
    )
    return FakeToolCallingChatModel(steps=[propose, relay])


def test_a_mutating_tool_only_runs_after_the_same_user_confirms(hub: RunningHub) -> None:
    _use_fake_model(hub, _confirming_model())
    with _client(hub, "maria") as maria, _client(hub, "tuan") as tuan:
        reply = maria.post(f"{LLM}/assistant/query", json={"message": "2 towels to room 201"})
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert answer["response"] == (
            "Please confirm: Create a normal-priority housekeeping task for room 201: "
            "bring 2 extra towels"
        )
        [pending] = answer["pending_actions"]
        assert pending["tool"] == "create_housekeeping_task"
        assert pending["args"] == {
            "room_number": "201",
            "description": "bring 2 extra towels",
            "priority": "normal",
        }
        assert _tasks(hub.settings) == []  # proposed, not done

        action = {"action_id": pending["action_id"], "approve": True}
        stolen = tuan.post(f"{LLM}/assistant/confirm", json=action)
        assert stolen.status_code == 404
        assert _tasks(hub.settings) == []

        done = maria.post(f"{LLM}/assistant/confirm", json=action)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "executed"
        assert done.json()["requested_by"] == "local:maria"
        assert done.json()["decided_by"] == "local:maria"
        [task] = _tasks(hub.settings)
        assert task.room_number == "201"
        assert task.description == "bring 2 extra towels"
        assert done.json()["result"]["task_id"] == task.id

        again = maria.post(f"{LLM}/assistant/confirm", json=action)
        assert again.status_code == 409
        assert "already executed" in again.json()["detail"]
        unknown = maria.post(
            f"{LLM}/assistant/confirm", json={"action_id": "ab12", "approve": True}
        )
        assert unknown.status_code == 404

        # a rejected proposal never runs
        _use_fake_model(hub, _confirming_model())
        second = maria.post(f"{LLM}/assistant/query", json={"message": "towels again"}).json()
        rejected_id = second["pending_actions"][0]["action_id"]
        rejected = maria.post(
            f"{LLM}/assistant/confirm", json={"action_id": rejected_id, "approve": False}
        )
        assert rejected.json()["status"] == "rejected"
        assert len(_tasks(hub.settings)) == 1
    audit = [(a.action, a.actor, a.detail.get("confirmed_by")) for a in _audit(hub.settings)]
    assert audit == [
        ("assistant.propose", "local:maria", None),
        ("assistant.confirm", "local:maria", "local:maria"),
        ("assistant.propose", "local:maria", None),
        ("assistant.reject", "local:maria", "local:maria"),
    ]


def test_expired_actions_cannot_be_confirmed(hub: RunningHub) -> None:
    from hub.assistant.actions import (
        ActionConflictError,
        ActionStore,
        SqlHotelActions,
        action_specs,
    )

    async def run(session: AsyncSession) -> str:
        del session
        engine = create_engine(hub.settings.database_url.get_secret_value())
        bind_pii_cipher(engine, PiiCipher.from_secret(hub.settings.pii_key))
        try:
            factory = create_session_factory(engine)
            clock = [datetime(2026, 1, 1, tzinfo=UTC)]
            store = ActionStore(factory, ttl_s=60, clock=lambda: clock[0])
            pending = await store.propose(
                tool="send_staff_message",
                args={"recipient": "housekeeping", "subject": "s", "body": "b"},
                summary="Send",
                requested_by="local:maria",
            )
            clock[0] += timedelta(seconds=61)
            with pytest.raises(ActionConflictError, match="expired"):
                await store.decide(
                    pending.id,
                    actor="local:maria",
                    approve=True,
                    specs=action_specs(factory),
                    port=SqlHotelActions(factory),
                )
            return pending.id
        finally:
            await engine.dispose()

    action_id = _db(hub.settings, run)
    reply = hub.http.post(
        f"{LLM}/assistant/confirm", json={"action_id": action_id, "approve": True}
    )
    assert reply.status_code == 404  # and not someone else's to confirm


def test_staff_cannot_trigger_workflows_but_managers_can_propose_them(hub: RunningHub) -> None:
    def relay(messages: Sequence[BaseMessage]) -> AIMessage:
        tool, result = last_tool_result(messages)
        return AIMessage(content=f"{tool.status}: {result}")

    for subject, scopes, expected in (
        ("staff", [Scope.LLM_USE], "error"),
        ("boss", [Scope.LLM_USE, Scope.FLOWS_RUN], "success"),
    ):
        model = FakeToolCallingChatModel(
            steps=[call("trigger_workflow", workflow="daily_report"), relay]
        )
        _use_fake_model(hub, model)
        with _client(hub, subject, *scopes) as client:
            answer = client.post(f"{LLM}/assistant/query", json={"message": "run the report"})
        assert answer.json()["response"].startswith(expected)
        assert ("trigger_workflow" in model.bound_tools) is (expected == "success")
        assert len(answer.json()["pending_actions"]) == (expected == "success")


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


def _remembering_model() -> FakeToolCallingChatModel:
    """Answers a follow-up ('and its floor?') from the room in the conversation so far."""

    def step(messages: Sequence[BaseMessage]) -> AIMessage:
        question = str(messages[-1].content) if isinstance(messages[-1], HumanMessage) else ""
        if "room 201" in question:
            return call("room_status", room_number="201")(messages)
        if isinstance(messages[-1], ToolMessage):
            _tool, result = last_tool_result(messages)
            return AIMessage(content=f"Room {result['room_number']} is {result['status']}.")
        rooms = [m for m in messages if isinstance(m, ToolMessage) and m.name == "room_status"]
        if not rooms:
            return AIMessage(content="Which room do you mean?")
        result = json.loads(str(rooms[-1].content))
        return AIMessage(content=f"Room {result['room_number']} is on floor {result['floor']}.")

    return FakeToolCallingChatModel(steps=[step])


def test_memory_is_per_user_and_per_conversation(hub: RunningHub) -> None:
    _use_fake_model(hub, _remembering_model())
    ask = f"{LLM}/assistant/query"
    with _client(hub, "maria") as maria, _client(hub, "tuan") as tuan:
        first = maria.post(ask, json={"message": "What is the status of room 201?"}).json()
        assert first["response"] == "Room 201 is cleaning."
        follow = maria.post(ask, json={"message": "And its floor?"}).json()
        assert follow["response"] == "Room 201 is on floor 2."
        assert follow["tools_used"] == []  # answered from the remembered tool result
        assert follow["grounding"]["unbacked"] == []  # ...which backs its claims
        assert follow["confidence"] == follow["grounding"]["backed"] / follow["grounding"]["claims"]
        other_user = tuan.post(ask, json={"message": "And its floor?"}).json()
        assert other_user["response"] == "Which room do you mean?"
        other_thread = maria.post(
            ask, json={"message": "And its floor?", "conversation_id": "night-shift"}
        ).json()
        assert other_thread["response"] == "Which room do you mean?"
        bad = maria.post(ask, json={"message": "x", "conversation_id": "../etc"})
        assert bad.status_code == 422
    assert (hub.settings.data_dir / "assistant-memory.db").is_file()


# ---------------------------------------------------------------------------------------------
# Streaming over the real ChatOllama wire
# ---------------------------------------------------------------------------------------------


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_query_stream_sends_tokens_tool_calls_and_the_final_answer(seeded: HubSettings) -> None:
    with FakeOllamaServer(MODEL) as fake:
        settings = seeded.model_copy(update={"llm_base_url": fake.base_url})
        with running_hub(settings, start_ingest=False) as hub:
            reply = hub.http.post(
                f"{LLM}/assistant/query-stream", json={"message": "Status of room 201?"}
            )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = _events(reply.text)
    kinds = [kind for kind, _data in events]
    assert kinds[0] == "tool_call"
    assert events[0][1] == {"name": "room_status", "args": {"room_number": "201"}}
    assert kinds[1] == "tool_result"
    assert events[1][1]["result"]["status"] == "cleaning"
    tokens = [data["text"] for kind, data in events if kind == "token"]
    assert len(tokens) == 4  # streamed word by word by the server
    assert "".join(tokens) == "Room 201 is cleaning."
    assert kinds[-1] == "final"
    final = events[-1][1]
    assert final["response"] == "Room 201 is cleaning."
    assert final["tools_used"] == ["room_status"]
    assert final["sources"][0]["result"]["floor"] == 2
    assert fake.chat_requests[-1]["stream"] is True


def test_query_stream_is_503_before_streaming_without_an_llm(hub: RunningHub) -> None:
    reply = hub.http.post(f"{LLM}/assistant/query-stream", json={"message": "hi"})
    assert reply.status_code == 503
    assert "unreachable" in reply.json()["detail"]
    assert reply.headers["content-type"].startswith("application/json")


# ---------------------------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------------------------


def test_monitoring_finds_an_error_spike_in_service_logs(hub: RunningHub) -> None:
    now = datetime.now(UTC)

    async def fill(session: AsyncSession) -> None:
        for minute in range(60):
            ts = now - timedelta(minutes=minute, seconds=30)
            session.add_all(
                ServiceLog(ts=ts, service="ingest", level="INFO", message="ok") for _ in range(5)
            )
            if minute < 5:  # the last window: a burst of errors
                session.add_all(
                    ServiceLog(ts=ts, service="ingest", level="ERROR", message="db down")
                    for _ in range(6)
                )
        await session.commit()

    _db(hub.settings, fill)
    analysis = hub.http.post(f"{LLM}/monitoring/analyze", json={}).json()
    assert [(f["service"], f["kind"]) for f in analysis["findings"]] == [("ingest", "error_spike")]
    assert analysis["findings"][0]["observed"] == 30
    assert analysis["summarized_by"] == "template"
    assert analysis["summary"].startswith("1 anomaly(ies): ingest: error spike, 30 in the last")
    assert "ERROR records of ingest" in analysis["issues"][0]["recommended_action"]
    assert analysis["anomalies_detected"] is True
    assert analysis["issues"][0]["type"] == "error_spike"
    assert analysis["alert_sent"] is False  # no alert channel is configured
    status = hub.http.get(f"{LLM}/monitoring/status").json()
    assert status["status"] == "degraded"
    assert status["issues"][0]["service"] == "ingest"
    assert status["llm_reachable"] is False
    with _client(hub, "maria") as staff:
        assert staff.get(f"{LLM}/monitoring/status").status_code == 403


def test_monitoring_on_given_logs_with_an_llm_summary(hub: RunningHub) -> None:
    model = FakeToolCallingChatModel(steps=[say("The api service is flooding its logs.")])
    _use_fake_model(hub, model)
    end = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    logs = [
        {
            "timestamp": (end - timedelta(seconds=60 * i + 1)).isoformat(),
            "service": "api",
            "level": "INFO",
        }
        for i in range(60)
        for _ in range(40 if i < 5 else 2)
    ]
    analysis = hub.http.post(
        f"{LLM}/monitoring/analyze", json={"logs": logs, "until": end.isoformat()}
    ).json()
    assert [(f["service"], f["kind"]) for f in analysis["findings"]] == [("api", "rate_increase")]
    assert analysis["summary"] == "The api service is flooding its logs."
    assert analysis["summarized_by"] == "llm"
    assert "rate_increase" in str(model.seen[0][-1].content)
    naive = hub.http.post(
        f"{LLM}/monitoring/analyze",
        json={"logs": [{"timestamp": "2026-11-23T20:00:00", "service": "a", "level": "INFO"}]},
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "logs[0].timestamp"


# ---------------------------------------------------------------------------------------------
# Task execution
# ---------------------------------------------------------------------------------------------


def test_execute_task_by_rules_plans_runs_and_waits_for_confirmation(hub: RunningHub) -> None:
    reply = hub.http.post(
        f"{LLM}/execute/task", json={"instruction": "Room 201 needs 2 extra towels"}
    )
    assert reply.status_code == 200, reply.text
    run = reply.json()
    assert run["planned_by"] == "rules"
    assert "unreachable" in run["planner_note"]
    assert run["overall_status"] == "awaiting_confirmation"
    plan = [(s["step"], s["service"], s["action"]) for s in run["execution_plan"]]
    assert plan == [(1, "rooms", "room_status"), (2, "housekeeping", "create_housekeeping_task")]
    first, second = run["results"]
    assert (first["step"], first["status"]) == (1, "completed")
    assert first["result"]["status"] == "cleaning"
    assert (second["step"], second["status"]) == (2, "pending_confirmation")
    assert _tasks(hub.settings) == []
    confirm = hub.http.post(
        f"{LLM}/assistant/confirm",
        json={"action_id": run["pending_action"]["action_id"], "approve": True},
    )
    assert confirm.json()["status"] == "executed"
    assert [t.room_number for t in _tasks(hub.settings)] == ["201"]


def test_execute_task_stops_at_a_failing_step_and_says_why(hub: RunningHub) -> None:
    run = hub.http.post(
        f"{LLM}/execute/task", json={"instruction": "Room 999 needs 2 towels"}
    ).json()
    assert run["overall_status"] == "failed"
    assert run["reason"].startswith("step 0 (room_status): not found")
    assert [s["status"] for s in run["results"]] == ["failed", "skipped"]
    unknown = hub.http.post(f"{LLM}/execute/task", json={"instruction": "sing me a song"})
    assert unknown.status_code == 422
    assert "no known intent" in unknown.json()["errors"][0]["reason"]


def test_execute_task_with_an_llm_plan_respects_the_role(hub: RunningHub) -> None:
    plan = {
        "steps": [
            {"service": "rooms", "action": "room_status", "args": {"room_number": "202"}},
            {"service": "attendance", "action": "employee_attendance", "args": {}},
            {"service": "rooms", "action": "room_status", "args": {"room_number": "201"}},
        ]
    }
    model = FakeToolCallingChatModel(steps=[say("Here is the plan:\n" + json.dumps(plan))])
    _use_fake_model(hub, model)
    with _client(hub, "maria") as staff:
        run = staff.post(
            f"{LLM}/execute/task", json={"instruction": "check rooms and attendance"}
        ).json()
    assert run["planned_by"] == "llm"
    assert run["overall_status"] == "failed"
    assert [s["status"] for s in run["results"]] == ["completed", "failed", "skipped"]
    assert run["results"][1]["reason"] == "employee_attendance is not allowed for the role staff"
    offered = str(model.seen[0][0].content)
    assert "room_status" in offered
    assert "employee_attendance" not in offered


# ---------------------------------------------------------------------------------------------
# The OpenAI-compatible provider over its real wire
# ---------------------------------------------------------------------------------------------


def test_openai_provider_health_and_query_over_http(seeded: HubSettings) -> None:
    with FakeOpenAIServer(MODEL, api_key="sk-test-123") as fake:
        settings = seeded.model_copy(
            update={
                "llm_provider": "openai",
                "llm_openai_base_url": fake.base_url,
                "llm_api_key": "sk-test-123",
            }
        )
        settings = HubSettings.model_validate(settings.model_dump())
        with running_hub(settings, start_ingest=False) as hub:
            health = hub.http.get(f"{LLM}/health").json()
            answer = hub.http.post(
                f"{LLM}/assistant/query", json={"message": "Status of room 201?"}
            ).json()
            streamed = hub.http.post(
                f"{LLM}/assistant/query-stream", json={"message": "Status of room 201?"}
            )
        wrong_key = HubSettings.model_validate({**settings.model_dump(), "llm_api_key": "nope"})
        with running_hub(wrong_key, start_ingest=False) as hub:
            refused = hub.http.get(f"{LLM}/health").json()
    assert health.pop("status") == "healthy"
    assert set(health.pop("checks")) == {"llm", "database", "memory"}
    assert health == {
        "reachable": True,
        "provider": "openai",
        "model": MODEL,
        "model_present": True,
        "base_url": fake.base_url,
        "reason": None,
    }
    assert answer["response"] == "Room 201 is cleaning."
    assert answer["tools_used"] == ["room_status"]
    tokens = [d["text"] for kind, d in _events(streamed.text) if kind == "token"]
    assert "".join(tokens) == "Room 201 is cleaning."
    first = fake.chat_requests[0]
    assert first["model"] == MODEL
    assert {t["function"]["name"] for t in first["tools"]} >= {"room_status", "find_bookings"}
    assert set(fake.auth_headers[:3]) == {"Bearer sk-test-123"}
    assert refused["reachable"] is False
    assert "HTTP 401" in refused["reason"]


def test_routing_by_llm_over_ollama(seeded: HubSettings) -> None:
    def brain(_messages: list[dict[str, Any]]) -> Reply:
        routed: dict[str, Any] = {
            "category": "maintenance",
            "priority": "high",
            "assignee_role": "maintenance",
            "room_number": "305",
            "items": [],
            "quantity": None,
            "urgency": "urgent",
        }
        return Reply(text=json.dumps(routed))

    with FakeOllamaServer(MODEL, brain) as fake:
        settings = seeded.model_copy(update={"llm_base_url": fake.base_url})
        with running_hub(settings, start_ingest=False) as hub:
            routed = hub.http.post(
                f"{LLM}/routing/classify",
                json={"request": {"message": "the shower in 305 floods the floor"}},
            ).json()
    assert routed["answered_by"] == "llm"
    assert routed["category"] == "maintenance"
    assert routed["structured_request"]["room_number"] == "305"
    assert routed["structured_request"]["type"] == "maintenance_request"
    assert routed["workflow_id"].startswith("WF_MAINTENANCE_")  # no Prefect: a task row
    schema = fake.chat_requests[-1]["format"]  # structured output: the reply's JSON schema
    assert set(schema["properties"]) >= {"category", "priority", "room_number", "items"}
    assert fake.chat_requests[-1]["options"]["num_predict"] == 256  # a routing is short
