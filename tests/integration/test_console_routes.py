"""The console pages' own routes through the real hub (issue 18): unknown faces clustered by the
hub's embeddings from real face events over real Mosquitto, naming a cluster with and without
consent, dismissing one, "not this person", face search with an audited purpose, the photo
check, the rooms board, price decisions, retention and the audit log for the DPO; bad input is
a 4xx naming the field, and every route checks its scope."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from contracts.messages import Snapshot
from innsight.broker import MosquittoBroker
from models.face_dlib import DlibFaceAnalyzer
from testkit.consent import record_consent
from testkit.face_photos import astronaut_head, jpeg, packaged_photo, rotate
from testkit.hub import (
    RunningHub,
    hub_settings,
    make_event,
    mqtt_probe,
    running_hub,
    scoped_headers,
    wait_for_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PEOPLE = "/console/api/people"
ROOMS = "/console/api/rooms"
PRICES = "/console/api/forecasts"
PRIVACY = "/console/api/privacy"


def _b64(image: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    running = MosquittoBroker(workdir=tmp_path_factory.mktemp("console-mqtt"))
    running.start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker, analyzer: DlibFaceAnalyzer
) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("console-routes"), broker)
    with running_hub(settings, face_analyzer=analyzer) as running:
        yield running


@pytest.fixture(scope="module")
def face_events(hub: RunningHub, broker: MosquittoBroker) -> dict[str, list[str]]:
    """Face events of three unknown people (the astronaut twice) and a wrong match."""
    astronaut = astronaut_head()
    crops = {
        "astronaut-a": (astronaut, None),
        "astronaut-b": (jpeg(rotate(astronaut, 4.0), 70), None),
        "hanks": (packaged_photo("Tom_Hanks_54745.png"), None),
        "matched": (cv2.flip(astronaut, 1), "emp-wrong"),
    }
    now = datetime.now(UTC).replace(microsecond=0)
    ids: dict[str, list[str]] = {}
    with mqtt_probe(broker, "console-edge") as probe:
        for seq, (name, (image, person)) in enumerate(crops.items(), start=1):
            envelope = make_event(
                seq, person_id=person, started_at=now - timedelta(minutes=10 - seq)
            ).model_copy(update={"snapshot": Snapshot(jpeg_b64=_b64(image))})
            probe.publish_event(envelope)
            ids[name] = [str(envelope.event_id)]
    wait_for_events(hub.http, lambda items: len(items) >= len(crops), kind="face")
    return ids


def _clusters(hub: RunningHub) -> list[dict[str, Any]]:
    answer = hub.http.get(f"{PEOPLE}/clusters", params={"days": 1})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    clusters: list[dict[str, Any]] = answer.json()["clusters"]
    return clusters


def _audit(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    answer = hub.http.get("/api/v1/admin/audit-log", params={"action": action})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_unknown_faces_cluster_and_a_cluster_is_named_only_with_consent(
    hub: RunningHub, face_events: dict[str, list[str]]
) -> None:
    clusters = _clusters(hub)
    astronaut = {*face_events["astronaut-a"], *face_events["astronaut-b"]}
    by_members = {frozenset(c["event_ids"]): c for c in clusters}
    assert frozenset(astronaut) in by_members, clusters  # the same face, twice, one cluster
    assert frozenset(face_events["hanks"]) in by_members
    assert all(not set(face_events["matched"]) & set(c["event_ids"]) for c in clusters)
    assert clusters[0]["size"] == 2
    assert clusters[0]["cohesion"] > 0.9

    body = {"event_ids": sorted(astronaut), "employee_id": "emp-ast", "name": "Astro Naut"}
    refused = hub.http.post(f"{PEOPLE}/clusters/name", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "consent"

    record_consent(hub.http, "emp-ast")
    named = hub.http.post(f"{PEOPLE}/clusters/name", json=body)
    assert named.status_code == 200, named.text
    assert named.json()["employee_created"] is True
    assert named.json()["embeddings_created"] == 2
    assert named.json()["events_named"] == 2
    event = hub.http.get(f"/api/v1/events/{face_events['astronaut-a'][0]}").json()
    assert event["person_id"] == "emp-ast"
    assert _audit(hub, "face.cluster.name")[0]["target"] == "employee:emp-ast"
    again = hub.http.post(f"{PEOPLE}/clusters/name", json=body)  # no longer unknown
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "event_ids[0]"


def test_a_dismissed_cluster_is_deleted_and_audited(
    hub: RunningHub, face_events: dict[str, list[str]]
) -> None:
    crop = hub.http.get(f"{PEOPLE}/events/{face_events['hanks'][0]}/crop")
    assert crop.status_code == 200
    assert crop.headers["content-type"] == "image/jpeg"
    answer = hub.http.post(f"{PEOPLE}/clusters/dismiss", json={"event_ids": face_events["hanks"]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"events_deleted": 1, "crops_deleted": 1}
    assert hub.http.get(f"/api/v1/events/{face_events['hanks'][0]}").status_code == 404
    assert hub.http.get(f"{PEOPLE}/events/{face_events['hanks'][0]}/crop").status_code == 404
    assert _audit(hub, "face.cluster.dismiss")[0]["detail"]["events"] == 1


def test_not_this_person_unmatches_and_blocks_naming_back(
    hub: RunningHub, face_events: dict[str, list[str]]
) -> None:
    event_id = face_events["matched"][0]
    answer = hub.http.post(f"{PEOPLE}/events/{event_id}/not-this-person")
    assert answer.status_code == 200, answer.text
    assert answer.json()["was_matched_to"] == "emp-wrong"
    assert hub.http.get(f"/api/v1/events/{event_id}").json()["person_id"] is None
    assert hub.http.post(f"{PEOPLE}/events/{event_id}/not-this-person").status_code == 409
    record_consent(hub.http, "emp-wrong")
    back = hub.http.post(
        f"{PEOPLE}/clusters/name",
        json={"event_ids": [event_id], "employee_id": "emp-wrong", "name": "Wrong"},
    )
    assert back.status_code == 409, back.text
    assert back.json()["errors"][0]["field"] == "employee_id"
    assert _audit(hub, "face.match.reject")[0]["target"] == f"event:{event_id}"
    missing = hub.http.post(f"{PEOPLE}/events/{uuid.uuid4()}/not-this-person")
    assert missing.status_code == 404


def test_face_search_needs_admin_and_a_purpose_that_is_audited(
    hub: RunningHub, face_events: dict[str, list[str]]
) -> None:
    probe = _b64(jpeg(astronaut_head(), 80))
    manager = scoped_headers(hub.settings, "cv:read", "cv:write", "hotel:pii")
    body = {"image": probe, "purpose": "guest reported a stranger in the lobby"}
    assert hub.http.post(f"{PEOPLE}/search", json=body, headers=manager).status_code == 403
    short = hub.http.post(f"{PEOPLE}/search", json={**body, "purpose": "why"})
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "purpose"
    no_face = hub.http.post(f"{PEOPLE}/search", json={**body, "image": _b64(skdata.coffee())})  # type: ignore[no-untyped-call]
    assert no_face.status_code == 422
    assert no_face.json()["errors"][0]["field"] == "image"
    answer = hub.http.post(f"{PEOPLE}/search", json=body)
    assert answer.status_code == 200, answer.text
    found = {hit["event_id"] for hit in answer.json()["items"]}
    assert set(face_events["astronaut-a"]) <= found
    assert all(hit["similarity"] >= answer.json()["threshold"] for hit in answer.json()["items"])
    audited = _audit(hub, "face.search")[0]
    assert audited["detail"]["purpose"] == body["purpose"]
    assert audited["id"] == answer.json()["audit_id"]


def test_photo_check_gives_a_verdict_per_photo(hub: RunningHub) -> None:
    images = [_b64(astronaut_head()), _b64(np.ascontiguousarray(skdata.coffee()[:, :, ::-1]))]  # type: ignore[no-untyped-call]
    answer = hub.http.post(f"{PEOPLE}/check", json={"images": images})
    assert answer.status_code == 200, answer.text
    verdicts = answer.json()["images"]
    assert [v["code"] for v in verdicts] == ["ok", "no_face"]
    assert verdicts[0]["quality"] > 0
    bad = hub.http.post(f"{PEOPLE}/check", json={"images": ["not base64!"]})
    assert bad.status_code in (413, 415, 422)
    assert bad.json()["errors"][0]["field"] == "images[0]"
    assert hub.http.post(f"{PEOPLE}/check", json={"images": []}).status_code == 422


def test_people_routes_check_scopes(hub: RunningHub) -> None:
    staff = scoped_headers(hub.settings, "cv:read", "hotel:read", "rooms:inspect")
    for method, path in [
        ("GET", f"{PEOPLE}/clusters"),
        ("POST", f"{PEOPLE}/clusters/dismiss"),
        ("POST", f"{PEOPLE}/events/{uuid.uuid4()}/not-this-person"),
    ]:
        assert hub.http.request(method, path, headers=staff).status_code == 403
        assert hub.anonymous.request(method, path).status_code == 401
    repeated = hub.http.post(
        f"{PEOPLE}/clusters/dismiss", json={"event_ids": [str(uuid.UUID(int=1))] * 2}
    )
    assert repeated.status_code == 422


def test_rooms_board_groups_floors_and_derives_statuses(hub: RunningHub) -> None:
    created = hub.http.post(
        "/api/v1/hotel/room-types",
        json={
            "code": "cb-dbl",
            "name": "Double",
            "capacity": 2,
            "rack_rate": 100,
            "price_floor": 50,
            "price_ceiling": 300,
        },
    )
    assert created.status_code == 201, created.text
    for number, floor, status in [
        ("C-101", 1, "cleaning"),
        ("C-102", 1, "occupied"),
        ("C-201", 2, "available"),
        ("C-202", 2, "out_of_order"),
    ]:
        answer = hub.http.post(
            "/api/v1/hotel/rooms",
            json={"room_number": number, "room_type": "cb-dbl", "floor": floor, "status": status},
        )
        assert answer.status_code == 201, answer.text
    staff = scoped_headers(hub.settings, "hotel:read", "cv:read")
    board = hub.http.get(f"{ROOMS}/board", headers=staff)
    assert board.status_code == 200, board.text
    rooms = {r["room_number"]: r for f in board.json()["floors"] for r in f["rooms"]}
    assert rooms["C-101"]["board_status"] == "dirty"
    assert rooms["C-102"]["board_status"] == "occupied"
    assert rooms["C-201"]["board_status"] == "ready"
    assert rooms["C-202"]["board_status"] == "out_of_order"
    assert [f["floor"] for f in board.json()["floors"]] == [1, 2]
    assert hub.http.get(f"{ROOMS}/board", params={"floor": "x"}).status_code == 422
    viewer = scoped_headers(hub.settings, "cv:read")
    assert hub.http.get(f"{ROOMS}/board", headers=viewer).status_code == 403
    assert hub.http.get(f"{ROOMS}/inspections/999999").status_code == 404
    assert hub.http.get(f"{ROOMS}/inspections/0").status_code == 422


def test_price_decisions_are_published_and_audited(hub: RunningHub) -> None:
    hub.http.post(
        "/api/v1/hotel/room-types",
        json={
            "code": "cb-ste",
            "name": "Suite",
            "capacity": 2,
            "rack_rate": 200,
            "price_floor": 100,
            "price_ceiling": 400,
        },
    )
    night = (date.today() + timedelta(days=3)).isoformat()
    manager = scoped_headers(hub.settings, "ml:read", "ml:write")
    decide = f"{PRICES}/decisions"
    nothing = hub.http.post(
        decide, json={"room_type": "cb-ste", "date": night, "decision": "approve"}, headers=manager
    )
    assert nothing.status_code == 409, nothing.text
    cases = [
        ({"room_type": "cb-ste", "date": night, "decision": "override"}, 422, "body"),
        (
            {"room_type": "cb-ste", "date": night, "decision": "override", "price": 999},
            422,
            "price",
        ),
        (
            {"room_type": "cb-ste", "date": "2001-01-01", "decision": "override", "price": 150},
            422,
            "date",
        ),
        (
            {"room_type": "nope", "date": night, "decision": "override", "price": 150},
            404,
            "room_type",
        ),
        ({"room_type": "cb-ste", "date": night, "decision": "maybe"}, 422, "decision"),
    ]
    for body, status, field in cases:
        answer = hub.http.post(decide, json=body, headers=manager)
        assert answer.status_code == status, (body, answer.text)
        assert field in {e["field"] for e in answer.json()["errors"]} or field == "body"
    override = hub.http.post(
        decide,
        json={
            "room_type": "cb-ste",
            "date": night,
            "decision": "override",
            "price": 180,
            "note": "group in house",
        },
        headers=manager,
    )
    assert override.status_code == 201, override.text
    approve = hub.http.post(
        decide,
        json={
            "room_type": "cb-ste",
            "date": night,
            "decision": "approve",
            "recommended_price": 180,
        },
        headers=manager,
    )
    assert approve.status_code == 201, approve.text
    prices = hub.http.get(f"{PRICES}/prices", params={"room_type": "cb-ste"}, headers=manager)
    item = next(i for i in prices.json()["items"] if i["date"] == night)
    assert (item["price"], item["source"], item["decision"]) == (180.0, "manual", "approve")
    assert _audit(hub, "pricing.override")[0]["target"] == f"room_type:cb-ste:{night}"
    staff = scoped_headers(hub.settings, "ml:read")
    assert (
        hub.http.post(
            decide,
            json={"room_type": "cb-ste", "date": night, "decision": "approve"},
            headers=staff,
        ).status_code
        == 403
    )
    assert (
        hub.http.get(f"{PRICES}/prices", params={"start": night, "end": "2000-01-01"}).status_code
        == 422
    )


def test_retention_and_audit_log_for_the_dpo(hub: RunningHub) -> None:
    dpo = scoped_headers(hub.settings, "privacy:admin", "hotel:read", "hotel:pii", "cv:read")
    retention = hub.http.get(f"{PRIVACY}/retention", headers=dpo)
    assert retention.status_code == 200, retention.text
    classes = {c["name"]: c for c in retention.json()["classes"]}
    assert classes["unknown_face_events"]["days"] == hub.settings.retention_unknown_face_days
    log = hub.http.get(f"{PRIVACY}/audit-log", params={"action": "face."}, headers=dpo)
    assert log.status_code == 200, log.text
    assert all(i["action"].startswith("face.") for i in log.json()["items"])
    manager = scoped_headers(hub.settings, "cv:write", "hotel:pii", "consent:write")
    assert hub.http.get(f"{PRIVACY}/audit-log", headers=manager).status_code == 403
    assert hub.http.get(f"{PRIVACY}/audit-log", params={"limit": 0}).status_code == 422
