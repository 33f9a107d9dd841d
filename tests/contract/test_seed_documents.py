"""The seed documents themselves, as the contract tests read them.

Every surface's contract module parametrizes over ``seed_endpoints(surface)``; these tests pin
that the reader finds every endpoint heading of both documents, so a heading the parser skipped
cannot silently drop out of the contract.
"""

from __future__ import annotations

import re

import pytest

from testkit.seeds import (
    load_seed_endpoints,
    missing_fields,
    parse_document,
    repair_text,
    seeds_dir,
)

HEADING_LINE = re.compile(
    r"^\s*(?:\*\*(GET|POST|PUT|PATCH|DELETE)\*\*|#{2,6}\s+(GET|POST|PUT|PATCH|DELETE))\s+`/api/"
)


def test_every_heading_of_every_document_is_read() -> None:
    for path in sorted(seeds_dir().glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        headings = [line for line in text.splitlines() if HEADING_LINE.match(line)]
        parsed = parse_document(path.name, text)
        assert len(parsed) == len(headings), path.name
        assert headings, f"{path.name} has no endpoint heading"


def test_both_documents_and_all_four_surfaces_are_present() -> None:
    endpoints = load_seed_endpoints()
    assert {e.document[:3] for e in endpoints} == {"000", "004"}
    assert {e.surface for e in endpoints} == {"cv", "ml", "llm", "prefect"}
    keys = [e.key for e in endpoints]
    assert len(keys) == len(set(keys)), "two headings of one document share a key"


def test_example_bodies_are_parsed_as_json() -> None:
    recognize = next(
        e for e in load_seed_endpoints() if e.key == "004:POST /api/v1/cv/face/recognize"
    )
    assert recognize.request == {
        "image": "base64_encoded_image_string",
        "camera_id": "cam_lobby_01",
        "timestamp": "2025-01-17T08:30:00Z",
        "check_liveness": True,
    }
    labels = [r.label for r in recognize.responses]
    assert labels == ["Response (Success)", "Response (Not Found)", "Response (Liveness Failed)"]
    booking = next(
        e for e in load_seed_endpoints() if e.key == "000:POST /api/v1/prefect/events/booking"
    )
    assert booking.request is not None
    assert booking.request["guest_data"] == {}  # "{...}" in the document
    metrics = next(e for e in load_seed_endpoints() if e.key == "004:GET /api/v1/cv/metrics")
    assert not metrics.responses[0].is_json
    assert "cv_face_recognition_total" in metrics.responses[0].body


def test_mojibake_is_repaired_where_it_inverts() -> None:
    email = next(e for e in load_seed_endpoints() if e.key == "000:POST /api/v1/llm/generate/email")
    assert email.responses[0].body["subject"].startswith("Xác nh")
    assert email.responses[0].body["subject"].endswith("đặt phòng - Hotel ABC")
    assert repair_text("plain ascii") == "plain ascii"


@pytest.mark.parametrize(
    ("expected", "actual", "problems"),
    [
        ({"a": 1}, {"a": 2.5, "b": "extra"}, []),
        ({"a": 1}, {}, ["$.a: missing"]),
        ({"a": "x"}, {"a": 1}, ["$.a: expected string, got number (1)"]),
        ({"a": [{"b": True}]}, {"a": [{"b": False}, {}]}, ["$.a[1].b: missing"]),
        ({"a": [1]}, {"a": []}, ["$.a: empty array, cannot check the seed's element shape"]),
        ({"a": None}, {"a": {"anything": 1}}, []),
        ({"a": True}, {"a": 1}, ["$.a: expected boolean, got number (1)"]),
    ],
)
def test_missing_fields(expected: object, actual: object, problems: list[str]) -> None:
    assert missing_fields(expected, actual) == problems


def test_the_contract_modules_together_cover_every_heading_once() -> None:
    """Each surface's module takes its headings; together they take all of them, none twice."""
    from tests.contract import (
        test_seeds_cv_face,
        test_seeds_cv_vision,
        test_seeds_llm,
        test_seeds_ml,
        test_seeds_prefect,
    )

    taken = [
        endpoint.key
        for module in (
            test_seeds_cv_face,
            test_seeds_cv_vision,
            test_seeds_ml,
            test_seeds_llm,
            test_seeds_prefect,
        )
        for endpoint in module.ENDPOINTS
    ]
    assert sorted(taken) == sorted(e.key for e in load_seed_endpoints())
