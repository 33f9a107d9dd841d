"""The LLM surface against the seed document (000 "LLM Service"), read from the document itself.

Every LLM endpoint heading is a case: the seed's example request is sent as written (the hotel
has EMP001, GUEST001 staying in room 201 under BOOK001), the answer must be 2xx, carry every
documented response field under the seed's name and JSON type, and show that each request
field was honoured. Headings without an example get a sensible request of the same shape.

The model behind the assistant is a FAKE Ollama server (testkit/fake_llm.py) spoken to by
the real ChatOllama client; its brain below answers like a small instruction model would, from
what the hub sends it (the tools' results, the task context in the planning prompt). E-mail goes
to a real local SMTP server. Plus: the workflow-complete webhook (the seeds' integration
pattern 3), and the OpenAPI request examples of these routes, which must be the seed's.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth.keys import with_secrets
from hub.auth.local import issue_local_token
from hub.auth.scopes import Scope
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.settings import HubSettings
from hub.tables import (
    AuditLog,
    Booking,
    Employee,
    Guest,
    HousekeepingTask,
    Room,
    StaffMessage,
    WorkflowLog,
)
from testkit.fake_llm import FakeOllamaServer, Reply
from testkit.hub import RunningHub, bearer, hub_settings, running_hub
from testkit.seeds import SeedEndpoint, missing_fields, seed_endpoints
from testkit.smtp import SmtpSink, smtp_sink

pytestmark = pytest.mark.integration

MODEL = "qwen2.5:7b-instruct"
ALERTS_TO = "duty.manager@hotel.example"
GUEST_EMAIL = "john.doe@guest.example"
ENDPOINTS = seed_endpoints("llm")
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# The FAKE model's brain: what a small instruction model answers to each of the hub's prompts
# ---------------------------------------------------------------------------------------------


def hotel_brain(messages: list[dict[str, Any]]) -> Reply:
    system = str(messages[0].get("content", "")) if messages else ""
    last = messages[-1]
    if system.startswith("Classify the hotel guest request"):
        routed = {
            "category": "housekeeping",
            "priority": "medium",
            "assignee_role": "housekeeping",
            "room_number": None,
            "items": ["towel"],
            "quantity": None,
            "urgency": "normal",
        }
        return Reply(text=json.dumps(routed))
    if system.startswith("Plan the hotel task"):
        booking = re.search(r"booking_ref=([\w-]+)", system)
        room = re.search(r"room_number=(\w+)", system)
        assert booking, "the task's booking must reach the planner"
        assert room, "the task's room must reach the planner"
        steps = [
            {"service": "rooms", "action": "room_ready", "args": {"room_number": room[1]}},
            {
                "service": "email",
                "action": "send_guest_email",
                "args": {"booking_ref": booking[1], "template_type": "room_ready"},
            },
        ]
        return Reply(text=json.dumps({"steps": steps}))
    if system.startswith("You are a site-reliability assistant"):
        return Reply(text="The cv service is failing to recognise faces.")
    if last.get("role") == "tool":
        result = json.loads(last["content"])
        return Reply(text=f"Room {result['room_number']} is {result['status']}.")
    room_asked = re.search(r"room (\d{3,4})", str(last.get("content", "")))
    if room_asked:
        return Reply(tool="room_status", args={"room_number": room_asked[1]})
    return Reply(text="I do not know.")


# ---------------------------------------------------------------------------------------------
# The hotel
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
    room = Room(room_number="201", room_type="deluxe", floor=2, status="available")
    guest = Guest(guest_ref="GUEST001", full_name="John Doe", email=GUEST_EMAIL, nationality="GB")
    employee = Employee(employee_id="EMP001", name="Lan", department="front_desk")
    session.add_all([room, guest, employee])
    await session.flush()
    assert room.id is not None
    assert guest.id is not None
    today = date.today()
    session.add(
        Booking(
            booking_ref="BOOK001",
            guest_id=guest.id,
            room_id=room.id,
            check_in_date=today,
            check_out_date=today + timedelta(days=2),
            status="reserved",
        )
    )
    await session.commit()


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with smtp_sink() as server:
        yield server


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer(MODEL, hotel_brain) as server:
        yield server


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink, fake: FakeOllamaServer
) -> Iterator[RunningHub]:
    settings = with_secrets(
        hub_settings(
            Path(tmp_path_factory.mktemp("hub")),
            None,
            llm_base_url=fake.base_url,
            llm_model=MODEL,
            smtp_host=sink.host,
            smtp_port=sink.port,
            attendance_notify_email=ALERTS_TO,
        )
    )
    _db(settings, _seed)
    with running_hub(settings, start_ingest=False) as running:
        yield running


Send = Callable[..., Any]


def _sender(hub: RunningHub, *scopes: str, subject: str = "EMP001") -> Send:
    headers = bearer(issue_local_token(hub.settings, scopes, subject=subject))

    def send(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = hub.anonymous.request(method, path, json=body, headers=headers)
        assert response.status_code == status, response.text
        if response.headers["content-type"].startswith("application/json"):
            return response.json()
        return response.text

    return send


def _check_documented(endpoint: SeedEndpoint, answer: Any, *, allow: str = "^$") -> None:
    for seed_response in endpoint.responses:
        problems = [p for p in missing_fields(seed_response.body, answer) if not re.match(allow, p)]
        assert problems == [], f"{endpoint.key} {seed_response.label}: {problems}"


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def _example(endpoint: SeedEndpoint) -> dict[str, Any]:
    """The seed's example request of a heading that has one."""
    assert isinstance(endpoint.request, dict), f"{endpoint.key} has no example request"
    return endpoint.request


# -- per-endpoint cases -----------------------------------------------------------------------

MANAGER = (Scope.LLM_USE, Scope.FLOWS_RUN)


def case_query(hub: RunningHub, fake: FakeOllamaServer, endpoint: SeedEndpoint) -> None:
    send = _sender(hub, *MANAGER)
    before = len(fake.chat_requests)
    answer = send("POST", endpoint.path, _example(endpoint))
    _check_documented(endpoint, answer)
    assert answer["response"] == "Room 201 is available."
    assert answer["tools_used"] == ["room_status"]
    assert [(s["type"], s["table"]) for s in answer["sources"]] == [("database", "rooms")]
    assert answer["sources"][0]["result"]["status"] == "available"
    # confidence: the share of checkable claims the tool results back (here: all of them)
    grounding = answer["grounding"]
    assert grounding["claims"] >= 1
    assert answer["confidence"] == grounding["backed"] / grounding["claims"]
    assert grounding["unbacked"] == []
    # context.role narrows a manager's token to a receptionist's tools; the prompt names them
    assert answer["role"] == "staff"
    assert answer["user_id"] == "EMP001"
    first = fake.chat_requests[before]
    offered = {t["function"]["name"] for t in first["tools"]}
    assert "room_status" in offered
    assert "employee_attendance" not in offered  # a manager's tool, not a receptionist's
    system = first["messages"][0]["content"]
    assert "receptionist" in system
    assert "front_desk" in system
    assert "EMP001" in system
    assert first["stream"] is True  # the client streams even the JSON answer's model call
    # stream: false is JSON, true is the SSE answer
    streamed = send("POST", endpoint.path, _example(endpoint) | {"stream": True})
    assert _sse(streamed)[-1][0] == "final"
    # user_id is the token's subject; another employee needs admin
    other = send("POST", endpoint.path, _example(endpoint) | {"user_id": "EMP002"}, status=403)
    assert other["errors"][0]["field"] == "user_id"
    unknown_role = _example(endpoint) | {"context": {"role": "wizard"}}
    assert send("POST", endpoint.path, unknown_role, status=422)["errors"][0]["field"] == (
        "context.role"
    )


def case_query_stream(hub: RunningHub, fake: FakeOllamaServer, endpoint: SeedEndpoint) -> None:
    del fake
    send = _sender(hub, *MANAGER)
    request = _example(next(e for e in ENDPOINTS if e.path.endswith("/assistant/query")))
    body = {k: v for k, v in request.items() if k != "stream"}  # query-stream streams by default
    events = _sse(send("POST", endpoint.path, body))
    kinds = [kind for kind, _data in events]
    assert kinds[0] == "tool_call"
    assert "token" in kinds
    assert kinds[-1] == "final"
    final = events[-1][1]
    assert "".join(d["text"] for k, d in events if k == "token") == final["response"]
    assert final["response"] == "Room 201 is available."
    assert {"response", "sources", "confidence", "tools_used"} <= set(final)
    assert final["role"] == "staff"
    plain = send("POST", endpoint.path, body | {"stream": False})  # and stream: false is JSON
    assert plain["response"] == "Room 201 is available."


def case_analyze(hub: RunningHub, sink: SmtpSink, endpoint: SeedEndpoint) -> None:
    send = _sender(hub, *MANAGER)
    answer = send("POST", endpoint.path, _example(endpoint))
    _check_documented(endpoint, answer)
    assert answer["anomalies_detected"] is True
    [issue] = answer["issues"]
    assert (issue["type"], issue["service"]) == ("error_spike", "cv")
    assert issue["description"].startswith("2 errors in the last 5 min")
    assert answer["alert_sent"] is True
    assert answer["alert_channels"] == ["email"]
    alert = sink.wait_for(1) and sink.to(ALERTS_TO)
    assert alert
    assert "anomaly(ies) in cv" in alert[-1].subject
    assert "Recognition failed" not in alert[-1].text()  # log messages are never forwarded
    # the logs decide: the same two records as info are no anomaly, and no alert
    quiet = {"logs": [log | {"level": "info"} for log in _example(endpoint)["logs"]]}
    calm = send("POST", endpoint.path, quiet)
    assert (calm["anomalies_detected"], calm["issues"], calm["alert_sent"]) == (False, [], False)
    assert send("POST", endpoint.path, _example(endpoint) | {"alert": False})["alert_sent"] is False


def case_monitoring_status(hub: RunningHub, endpoint: SeedEndpoint) -> None:
    answer = _sender(hub, *MANAGER)("GET", endpoint.path)
    assert answer["status"] in ("healthy", "degraded")
    assert answer["llm_reachable"] is True
    staff = _sender(hub, Scope.LLM_USE)
    staff("GET", endpoint.path, status=403)


def case_classify(hub: RunningHub, endpoint: SeedEndpoint) -> None:
    send = _sender(hub, *MANAGER)
    answer = send("POST", endpoint.path, _example(endpoint))
    _check_documented(endpoint, answer)
    assert answer["category"] == "housekeeping"
    assert answer["assigned_to"] == "housekeeping_team"
    structured = answer["structured_request"]
    assert structured["type"] == "amenity_request"
    assert structured["room_number"] == "201"  # GUEST001's stay: the message names no room
    assert structured["items"] == ["towel"]
    assert structured["quantity"] == 2  # "towels", no count: a pair
    assert answer["booking_ref"] == "BOOK001"
    assert answer["answered_by"] == "llm"
    workflow_id = answer["workflow_id"]
    assert re.fullmatch(r"WF_HOUSEKEEPING_\d{3,}", workflow_id)
    task_id = int(workflow_id.rsplit("_", 1)[1])

    async def read(session: AsyncSession) -> tuple[HousekeepingTask | None, AuditLog | None]:
        task = await session.get(HousekeepingTask, task_id)
        audit = (await session.exec(select(AuditLog).where(AuditLog.target == workflow_id))).first()
        return task, audit

    task, audit = _db(hub.settings, read)
    assert task is not None
    assert (task.room_number, task.items, task.quantity) == ("201", ["towel"], 2)
    assert task.description == "I need extra towels in my room"
    assert audit is not None
    assert audit.detail["channel"] == "whatsapp"
    assert audit.detail["guest_id"] == "GUEST001"
    assert audit.detail["received_at"] == "2025-01-17T08:30:00+00:00"
    unknown = _example(endpoint) | {"request": _example(endpoint)["request"] | {"guest_id": "NOPE"}}
    assert send("POST", endpoint.path, unknown, status=404)["errors"][0]["field"] == (
        "request.guest_id"
    )
    dry = send("POST", endpoint.path, _example(endpoint) | {"dispatch": False})
    assert dry["workflow_id"] is None


def case_email(hub: RunningHub, endpoint: SeedEndpoint) -> None:
    send = _sender(hub, Scope.LLM_USE)
    answer = send("POST", endpoint.path, _example(endpoint))
    _check_documented(endpoint, answer)
    assert answer["subject"] == "Xác nhận đặt phòng - khách sạn"
    assert answer["body"].startswith("Kính gửi Quý khách John Doe,")
    for fact in ("Deluxe Ocean View", "2025-02-01", "2025-02-03", "5.000.000"):
        assert fact in answer["body"]
    assert answer["html_body"].startswith("<!DOCTYPE html>")
    assert '<html lang="vi">' in answer["html_body"]
    assert (answer["template_type"], answer["language"]) == ("booking_confirmation", "vi")
    english = send("POST", endpoint.path, _example(endpoint) | {"language": "en"})
    assert english["subject"] == "Booking confirmation - the hotel"
    assert "- Total: 5,000,000" in english["body"]
    other = send("POST", endpoint.path, _example(endpoint) | {"template_type": "apology"}, 422)
    assert {e["field"] for e in other["errors"]} >= {"variables.room_type", "variables.check_in"}


def case_apology(hub: RunningHub, endpoint: SeedEndpoint) -> None:
    send = _sender(hub, Scope.LLM_USE)
    body = {
        "template_type": "apology",
        "variables": {"guest_name": "John Doe", "issue": "the noise last night"},
        "language": "en",
    }
    answer = send("POST", endpoint.path, body)
    assert answer["subject"] == "Our apologies from the hotel"
    assert "We sincerely apologise for the following: the noise last night." in answer["body"]
    assert answer["html_body"].startswith("<!DOCTYPE html>")
    email = _example(next(e for e in ENDPOINTS if e.path.endswith("/generate/email")))
    refused = send("POST", endpoint.path, email, status=422)
    assert refused["errors"][0]["field"] == "template_type"


def case_checkin(hub: RunningHub, endpoint: SeedEndpoint) -> None:
    send = _sender(hub, Scope.LLM_USE)
    answer = send("POST", endpoint.path, {"booking_id": "BOOK001", "language": "en"})
    assert answer["subject"] == f"Check-in instructions for {date.today().isoformat()}"
    assert "Dear John Doe," in answer["body"]
    assert "- Booking reference: BOOK001" in answer["body"]
    assert "- Room: 201" in answer["body"]
    given = send(
        "POST",
        endpoint.path,
        {"variables": {"guest_name": "An", "check_in_date": "2025-02-01"}, "language": "vi"},
    )
    assert given["subject"] == "Hướng dẫn nhận phòng ngày 2025-02-01"


def case_execute(hub: RunningHub, sink: SmtpSink, endpoint: SeedEndpoint) -> None:
    send = _sender(hub, *MANAGER)
    answer = send("POST", endpoint.path, _example(endpoint))
    # the seed's results differ per step (only step 1 has a room_ready result): each element
    # is checked against the seed's shape of step and status
    _check_documented(endpoint, answer, allow=r"^\$\.results\[[1-9]\d*\]\.result")
    assert answer["planned_by"] == "llm"
    plan = [(s["step"], s["action"]) for s in answer["execution_plan"]]
    assert plan == [(1, "room_ready"), (2, "send_guest_email")]
    assert answer["execution_plan"][1]["args"]["booking_ref"] == "BOOK001"  # context.booking_id
    first, second = answer["results"]
    assert (first["step"], first["status"], first["result"]["room_ready"]) == (1, "completed", True)
    assert (second["step"], second["status"]) == (2, "pending_confirmation")
    assert answer["overall_status"] == "awaiting_confirmation"  # an e-mail waits for a human
    before = len(sink.to(GUEST_EMAIL))
    confirmed = send(
        "POST",
        "/api/v1/llm/assistant/confirm",
        {"action_id": answer["pending_action"]["action_id"], "approve": True},
    )
    assert confirmed["status"] == "executed"
    assert confirmed["result"]["status"] == "sent"
    sink.wait_for(len(sink.messages) + 0)
    mails = sink.to(GUEST_EMAIL)
    assert len(mails) == before + 1
    assert mails[-1].subject == "Your room 201 is ready"  # the guest is British: English
    missing = _example(endpoint) | {"context": {"booking_id": "BOOK999", "room_number": "201"}}
    assert send("POST", endpoint.path, missing, status=404)["errors"][0]["field"] == (
        "context.booking_id"
    )


def case_health(hub: RunningHub, endpoint: SeedEndpoint) -> None:
    answer = _sender(hub, Scope.LLM_USE)("GET", endpoint.path)
    assert answer["status"] == "healthy"
    assert answer["checks"]["llm"]["status"] == "healthy"
    assert answer["checks"]["database"]["status"] == "healthy"
    assert answer["model"] == MODEL


def case_metrics(hub: RunningHub, endpoint: SeedEndpoint) -> None:
    # One question of its own first: pytest-xdist hands this module's cases to both workers, so
    # the counters must not depend on which other cases ran on this worker's hub before
    # (CI, 2026-12-07: the only assistant_query of this worker's hub came after this case).
    query = next(e for e in ENDPOINTS if e.path.endswith("/assistant/query"))
    _sender(hub, *MANAGER)("POST", query.path, _example(query))
    text = _sender(hub, Scope.METRICS_READ)("GET", endpoint.path)
    assert re.search(
        r'^innsight_llm_requests_total\{endpoint="assistant_query",outcome="ok"\} [1-9]', text, re.M
    )
    assert re.search(
        r'^innsight_llm_tool_calls_total\{status="success",tool="room_status"\} [1-9]', text, re.M
    )
    assert "innsight_llm_request_duration_seconds_bucket" in text
    assert "innsight_llm_answer_confidence_count" in text
    # only the assistant's families
    assert not re.search(r"^(cv_|innsight_(?!llm_))", text, re.M)


CASES: dict[tuple[str, str], Callable[..., None]] = {
    ("POST", "/api/v1/llm/assistant/query"): case_query,
    ("POST", "/api/v1/llm/assistant/query-stream"): case_query_stream,
    ("POST", "/api/v1/llm/monitoring/analyze"): case_analyze,
    ("GET", "/api/v1/llm/monitoring/status"): case_monitoring_status,
    ("POST", "/api/v1/llm/routing/classify"): case_classify,
    ("POST", "/api/v1/llm/generate/email"): case_email,
    ("POST", "/api/v1/llm/generate/apology"): case_apology,
    ("POST", "/api/v1/llm/generate/checkin-instructions"): case_checkin,
    ("POST", "/api/v1/llm/execute/task"): case_execute,
    ("GET", "/api/v1/llm/health"): case_health,
    ("GET", "/api/v1/llm/metrics"): case_metrics,
}


def test_the_seed_document_has_the_llm_endpoints() -> None:
    assert len(ENDPOINTS) == 11


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.key for e in ENDPOINTS])
def test_seed_endpoint(
    endpoint: SeedEndpoint, hub: RunningHub, fake: FakeOllamaServer, sink: SmtpSink
) -> None:
    case = CASES.get((endpoint.method, endpoint.path))
    if case is None:
        pytest.fail(f"no contract case for {endpoint.key}")
    wanted = case.__code__.co_varnames[: case.__code__.co_argcount]
    given = {"hub": hub, "fake": fake, "sink": sink, "endpoint": endpoint}
    case(**{name: given[name] for name in wanted})


# -- the workflow-complete webhook (integration pattern 3) ------------------------------------

WEBHOOK = "/api/v1/llm/webhooks/workflow-complete"


def test_workflow_complete_webhook_records_the_run_and_tells_the_managers(
    hub: RunningHub,
) -> None:
    prefect = _sender(hub, Scope.FLOWS_RUN, subject="prefect-worker")
    done = prefect(
        "POST",
        WEBHOOK,
        {
            "workflow_name": "daily_report_generation",
            "flow_run_id": "run-0001",
            "status": "completed",
            "result": {"report_url": "http://hub.local/r/1.html"},
            "finished_at": "2025-01-17T06:31:00Z",
        },
    )
    assert (done["received"], done["created"], done["staff_message_id"]) == (True, True, None)
    failed = prefect(
        "POST",
        WEBHOOK,
        {"workflow_name": "daily_report_generation", "flow_run_id": "run-0001",
         "status": "failed", "error": "PMS timed out"},
    )  # fmt: skip
    assert failed["workflow_log_id"] == done["workflow_log_id"]  # the same run's row
    assert failed["created"] is False

    async def read(session: AsyncSession) -> tuple[WorkflowLog | None, StaffMessage | None]:
        row = await session.get(WorkflowLog, done["workflow_log_id"])
        message = await session.get(StaffMessage, failed["staff_message_id"])
        return row, message

    row, message = _db(hub.settings, read)
    assert row is not None
    assert (row.flow_name, row.status, row.error) == (
        "daily_report_generation",
        "failed",
        "PMS timed out",
    )
    assert row.finished_at is not None
    assert message is not None
    assert message.recipient == "manager"
    assert "PMS timed out" in message.body
    # authenticated: flows:run, not the assistant's scope
    _sender(hub, Scope.LLM_USE)("POST", WEBHOOK, {"workflow_name": "x", "status": "completed"}, 403)
    assert hub.anonymous.post(WEBHOOK, json={}).status_code == 401
    bad = prefect("POST", WEBHOOK, {"workflow_name": "x", "status": "done"}, status=422)
    assert bad["errors"][0]["field"] == "status"


def test_the_assistant_answers_from_recorded_workflow_runs(hub: RunningHub) -> None:
    async def read(session: AsyncSession) -> list[str]:
        rows = (await session.exec(select(WorkflowLog).order_by(col(WorkflowLog.id)))).all()
        return [r.flow_name for r in rows]

    assert "daily_report_generation" in _db(hub.settings, read)


# -- OpenAPI -----------------------------------------------------------------------------------


def test_openapi_request_examples_are_the_seeds(hub: RunningHub) -> None:
    spec = hub.http.get("/openapi.json").json()
    checked = 0
    for endpoint in ENDPOINTS:
        if endpoint.request is None:
            continue
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert schema["examples"][0] == endpoint.request, endpoint.key
        checked += 1
    assert checked == 5
