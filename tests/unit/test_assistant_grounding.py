"""The assistant's confidence: the share of an answer's checkable claims the tool results back."""

from __future__ import annotations

import math

from hub.assistant.grounding import claims_of, grounding

ROOM = {"room_number": "201", "status": "cleaning", "floor": 2, "updated_at": "2026-12-07T10:00:00"}


def test_claims_are_numbers_dates_ids_and_status_words() -> None:
    text = "Room 201 is occupied (booking BK-1) until 2025-01-18; checked in at 10:00."
    assert claims_of(text) == ["201", "occupied", "bk-1", "2025-01-18", "checked_in", "10:00"]
    assert claims_of("Hello, how can I help?") == []


def test_every_claim_backed_is_full_confidence_and_each_invention_lowers_it() -> None:
    question = "What is the status of room 201?"
    backed = grounding("Room 201 is cleaning, floor 2, since 10:00.", question, [ROOM])
    assert (backed.claims, backed.unbacked) == (["cleaning", "2", "10:00"], [])
    assert backed.confidence == 1.0
    invented = grounding("Room 201 is occupied, floor 2.", question, [ROOM])
    assert invented.unbacked == ["occupied"]
    assert invented.confidence == 0.5
    assert grounding("Room 201 is occupied.", question, []).confidence == 0.0


def test_no_checkable_claim_is_no_confidence_and_the_question_is_no_evidence() -> None:
    assert grounding("I do not know.", "status of room 201?", [ROOM]).confidence == 0.0
    echo = grounding("Room 201.", "status of room 201?", [])
    assert echo.claims == []  # restating the question claims nothing


def test_numbers_compare_as_numbers_and_json_text_is_read() -> None:
    result = '{"predictions": [{"date": "2026-12-08", "prediction": {"occupancy": 0.75}}]}'
    found = grounding("Occupancy on 2026-12-08 is 0.75.", "occupancy tomorrow?", [result])
    assert found.unbacked == []


def test_token_probability_is_the_geometric_mean_when_given() -> None:
    logprobs = [math.log(0.9), math.log(0.4)]
    found = grounding("Room 201 is cleaning.", "room 201?", [ROOM], logprobs=logprobs)
    assert found.token_probability == round(math.sqrt(0.9 * 0.4), 4)
    assert found.confidence == 1.0  # reported beside, not mixed in
