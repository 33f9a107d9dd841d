"""Task plans (pure parts): the rule-based planner's intents, the LLM plan parser, and the
conversation window the graph sends to the model."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from hub.assistant.generate import message_from_text
from hub.assistant.graph import recent_history
from hub.assistant.planner import PlanParseError, parse_plan, plan_prompt, rule_plan


def _actions(task: str) -> list[tuple[str, str, dict[str, object]]]:
    plan = rule_plan(task)
    assert plan is not None, task
    return [(s.service, s.action, s.args) for s in plan.steps]


def test_a_guest_request_becomes_room_check_then_task() -> None:
    assert _actions("Phòng 305 cần thêm 2 khăn tắm gấp") == [
        ("rooms", "room_status", {"room_number": "305"}),
        (
            "housekeeping",
            "create_housekeeping_task",
            {
                "room_number": "305",
                "description": "Phòng 305 cần thêm 2 khăn tắm gấp",
                "priority": "high",
            },
        ),
    ]
    [(_svc, action, args), *_] = _actions("The AC in room 210 is broken")[1:]
    assert action == "create_housekeeping_task"
    assert args["priority"] == "medium"


def test_other_known_intents() -> None:
    assert _actions("What is the status of room 1203?") == [
        ("rooms", "room_status", {"room_number": "1203"})
    ]
    assert _actions("run the daily report workflow") == [
        ("workflows", "trigger_workflow", {"workflow": "daily_report"})
    ]
    assert _actions("show open housekeeping tasks") == [
        ("housekeeping", "open_housekeeping_tasks", {})
    ]
    assert _actions("bookings for room 201") == [
        ("bookings", "find_bookings", {"room_number": "201"})
    ]
    assert rule_plan("run the party workflow") is None  # not a known workflow
    assert rule_plan("tell me a joke") is None


def test_llm_plans_are_validated() -> None:
    plan = parse_plan(
        'Sure! {"steps": [{"service": "rooms", "action": "room_status", '
        '"args": {"room_number": "201"}, "reason": "check"}]} Done.'
    )
    assert plan.steps[0].action == "room_status"
    for bad in ("no json here", '{"steps": []}', '{"steps": [{"action": "x"}]}', '{"steps": 3}'):
        with pytest.raises(PlanParseError):
            parse_plan(bad)
    too_long = '{"steps": [' + ",".join(['{"service": "a", "action": "b"}'] * 9) + "]}"
    with pytest.raises(PlanParseError):
        parse_plan(too_long)
    prompt = plan_prompt(["room_status", "create_housekeeping_task"])
    assert "room_status (rooms), create_housekeeping_task (housekeeping)" in prompt


def test_recent_history_keeps_whole_turns() -> None:
    turns: list[AnyMessage] = []
    for index in range(15):
        turns += [
            HumanMessage(f"q{index}"),
            AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": f"c{index}"}]),
            ToolMessage("{}", tool_call_id=f"c{index}"),
            AIMessage(f"a{index}"),
        ]
    window = recent_history(turns, turns=10)
    assert len(window) == 40
    assert window[0].content == "q5"
    assert recent_history(turns[:8], turns=10) == turns[:8]
    # a turn cut at the step limit: its unanswered call is not sent again
    cut: list[AnyMessage] = [
        HumanMessage("q"),
        AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "x"}]),
    ]
    replayed = recent_history([*cut, HumanMessage("again?")])
    assert isinstance(replayed[1], AIMessage)
    assert replayed[1].tool_calls == []
    assert "could not finish" in replayed[1].text


def test_message_from_text_escapes_and_splits_paragraphs() -> None:
    message = message_from_text("S", "Dear <A>,\r\n\r\n\r\nLine 1\nLine 2\x07\n\n")
    assert message.body == "Dear <A>,\n\nLine 1\nLine 2"
    assert message.html == "<p>Dear &lt;A&gt;,</p>\n<p>Line 1<br>\nLine 2</p>\n"
