"""Housekeeping inspection through the HTTP API, on a room composed of real photos: register
the reference and its regions, tell a ready room from one where a region changed, log the
analysis and move the room's status."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
import cv2
import numpy as np
import pytest
from sqlalchemy.engine import make_url

from hub.auth.keys import with_secrets
from hub.db import create_engine, create_session_factory, init_db
from hub.settings import HubSettings
from hub.storage import LocalFolderStore
from hub.tables import Room
from innsight.demo import photos
from models.faces import Image
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers
from testkit.postgres import PostgresServer
from testkit.rooms import REGIONS, another_shot, reference_room, with_patch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _b64(image: Image, ext: str = ".jpg") -> str:
    ok, encoded = cv2.imencode(ext, image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


def _regions() -> list[dict[str, Any]]:
    return [{**asdict(r), "kind": r.kind.value} for r in REGIONS]


async def _seed_rooms(settings: HubSettings) -> None:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        await init_db(engine)
        async with create_session_factory(engine)() as session:
            session.add_all(
                [
                    Room(room_number="101", room_type="double", floor=1, status="cleaning"),
                    Room(room_number="102", room_type="double", floor=1, status="available"),
                    Room(room_number="103", room_type="double", floor=1, status="occupied"),
                    Room(room_number="201", room_type="suite", floor=2, status="cleaning"),
                ]
            )
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    settings = with_secrets(hub_settings(tmp_path_factory.mktemp("hub"), None))
    asyncio.run(_seed_rooms(settings))
    with running_hub(settings, start_ingest=False) as running:
        response = running.http.put(
            "/api/v1/cv/room/reference/double",
            json={"image": _b64(reference_room(), ".png"), "regions": _regions()},
        )
        assert response.status_code == 200, response.text
        yield running


def _analyze(hub: RunningHub, room: str, image: Image) -> dict[str, Any]:
    response = hub.http.post(
        "/api/v1/cv/room/analyze", json={"room_number": room, "image": _b64(image)}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_reference_is_registered(hub: RunningHub) -> None:
    body = hub.http.get("/api/v1/cv/room/reference/double").json()
    assert body["version"] == 1
    assert (body["width"], body["height"]) == (800, 600)
    assert [r["name"] for r in body["regions"]] == [r.name for r in REGIONS]
    assert hub.http.get("/api/v1/cv/room/reference/suite").status_code == 404


def test_a_ready_room_is_ready_and_becomes_available(hub: RunningHub) -> None:
    body = _analyze(hub, "101", another_shot(reference_room()))
    assert body["ready_for_guest"] is True, body
    assert body["overall_status"] == body["status"] == "clean"
    assert body["tags"] == []
    assert all(item["done"] for item in body["tasks"])
    assert body["checklist"] == {
        "bed_made": True,
        "bathroom_clean": True,
        "towels_present": None,  # no towels region in this room type
        "amenities_complete": True,
        "floor_clean": True,
    }
    assert body["estimated_cleaning_time_minutes"] == 0
    assert body["alignment"]["method"] == "homography"
    inlier_ratio = body["alignment"]["inliers"] / body["alignment"]["matches"]
    assert 0.0 < body["confidence"] <= inlier_ratio + 1e-3
    assert body["room_status"] == "available"
    status = hub.http.get("/api/v1/cv/room/status/101").json()
    assert status["room_status"] == "available"
    assert status["status"] == "clean"
    assert status["ready_for_guest"] is True
    assert status["analyzed_by"] == body["analyzed_by"]
    assert status["last_analyzed_at"] == status["last_analysis"]["analysed_at"]
    assert status["reference_registered"] is True
    assert status["last_analysis"]["analysis_id"] == body["analysis_id"]
    assert status["last_analysis"]["ready_for_guest"] is True


def test_confidence_follows_the_alignment_and_the_margin(hub: RunningHub) -> None:
    """An unaligned photo has confidence 0 and is unverified; a photo whose bed region sits
    just over its limit is less sure than a clean one."""
    clean = _analyze(hub, "101", another_shot(reference_room()))
    flat = np.full_like(reference_room(), 128)
    unaligned = _analyze(hub, "101", flat)
    assert unaligned["overall_status"] == "unverified"
    assert unaligned["confidence"] == 0.0
    assert unaligned["checklist"]["bed_made"] is None
    dirty = _analyze(hub, "101", another_shot(with_patch(reference_room(), "bed")))
    bed = next(r for r in dirty["regions"] if r["name"] == "bed")
    margin = min(
        1.0, (bed["changed_fraction"] - bed["max_changed_fraction"]) / bed["max_changed_fraction"]
    )
    tag = dirty["tags"][0]
    assert tag["label"] == "bed_unmade"
    inliers = dirty["alignment"]["inliers"] / dirty["alignment"]["matches"]
    assert tag["confidence"] == pytest.approx(inliers * margin, abs=2e-3)
    assert 0.0 < clean["confidence"] <= 1.0


def test_a_changed_region_is_not_ready_and_named(hub: RunningHub) -> None:
    photo = another_shot(with_patch(reference_room(), "bed"), dx=-6, dy=5, gain=0.85)
    body = _analyze(hub, "102", photo)
    assert body["ready_for_guest"] is False
    assert body["overall_status"] == "dirty"
    assert [t["label"] for t in body["tags"]] == ["bed_unmade"]
    assert body["tags"][0]["severity"] == "high"
    assert body["checklist"]["bed_made"] is False
    undone = [item for item in body["tasks"] if not item["done"]]
    assert [item["region"] for item in undone] == ["bed"]
    assert body["estimated_cleaning_time_minutes"] > 0
    bed = next(r for r in body["regions"] if r["name"] == "bed")
    assert bed["changed"] is True
    assert bed["tag"] == "bed_unmade"
    assert body["room_status"] == "cleaning"  # was available: back to cleaning
    status = hub.http.get("/api/v1/cv/room/status/102").json()
    assert status["room_status"] == "cleaning"
    assert status["status"] == "dirty"
    assert status["last_analysis"]["tags"] == ["bed_unmade"]


def test_analysis_depth_decides_what_is_reported_and_kept(hub: RunningHub) -> None:
    photo = another_shot(with_patch(reference_room(), "floor"))
    answers = {
        depth: hub.http.post(
            "/api/v1/cv/room/analyze",
            json={"room_number": "103", "image": _b64(photo), "analysis_depth": depth},
        ).json()
        for depth in ("quick", "standard", "detailed")
    }
    verdicts = {
        (a["overall_status"], tuple(t["label"] for t in a["tags"])) for a in answers.values()
    }
    assert verdicts == {("dirty", ("floor_needs_cleaning",))}
    assert answers["quick"]["regions"] is None
    assert answers["quick"]["alignment"] is None
    standard = {r["name"]: r for r in answers["standard"]["regions"]}
    detailed = {r["name"]: r for r in answers["detailed"]["regions"]}
    assert standard["floor"]["changed_box"] is None
    x, y, w, h = detailed["floor"]["changed_box"]
    assert x >= 0.03
    assert y >= 0.57
    assert x + w <= 0.59
    assert y + h <= 0.97
    assert detailed["bed"]["changed_box"] is None  # nothing changed there
    store = LocalFolderStore(hub.settings.objects_dir)
    keys = {d: f"rooms/inspections/103/{a['analysis_id']}.jpg" for d, a in answers.items()}
    assert not store.exists(keys["quick"])
    assert store.exists(keys["standard"])
    assert store.exists(keys["detailed"])


def test_an_occupied_room_keeps_its_status(hub: RunningHub) -> None:
    body = _analyze(hub, "103", another_shot(reference_room()))
    assert body["ready_for_guest"] is True
    assert body["room_status"] == "occupied"
    assert hub.http.get("/api/v1/cv/room/status/103").json()["room_status"] == "occupied"


@pytest.mark.parametrize(
    ("room", "status", "field"),
    [("999", 404, "room_number"), ("201", 409, "room_type")],
)
def test_unknown_room_or_missing_reference(
    hub: RunningHub, room: str, status: int, field: str
) -> None:
    response = hub.http.post(
        "/api/v1/cv/room/analyze", json={"room_number": room, "image": _b64(reference_room())}
    )
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("regions", "field"),
    [
        ([], "regions"),
        ([{"name": "bed", "kind": "bed", "x": 0.6, "y": 0.0, "w": 0.5, "h": 0.5}], "regions[0]"),
        (
            [{"name": "bed", "kind": "sofa", "x": 0.0, "y": 0.0, "w": 0.5, "h": 0.5}],
            "regions[0].kind",
        ),
        (
            [
                {"name": "bed", "kind": "bed", "x": 0.0, "y": 0.0, "w": 0.5, "h": 0.5},
                {"name": "bed", "kind": "floor", "x": 0.0, "y": 0.5, "w": 0.5, "h": 0.5},
            ],
            "regions",
        ),
    ],
)
def test_bad_regions_are_refused(hub: RunningHub, regions: list[Any], field: str) -> None:
    response = hub.http.put(
        "/api/v1/cv/room/reference/twin",
        json={"image": _b64(reference_room()), "regions": regions},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_scopes(hub: RunningHub) -> None:
    reader = scoped_headers(hub.settings, "cv:read")
    response = hub.anonymous.post(
        "/api/v1/cv/room/analyze",
        json={"room_number": "101", "image": _b64(reference_room())},
        headers=reader,
    )
    assert response.status_code == 403
    # housekeeping staff (rooms:inspect) submit inspections but cannot change the references
    inspector = scoped_headers(hub.settings, "rooms:inspect")
    response = hub.anonymous.post(
        "/api/v1/cv/room/analyze",
        json={"room_number": "101", "image": _b64(reference_room())},
        headers=inspector,
    )
    assert response.status_code == 200, response.text
    response = hub.anonymous.put(
        "/api/v1/cv/room/reference/standard",
        json={"image": _b64(reference_room()), "regions": _regions()},
        headers=inspector,
    )
    assert response.status_code == 403
    assert hub.anonymous.get("/api/v1/cv/room/status/101", headers=reader).status_code == 200
    assert hub.anonymous.get("/api/v1/cv/room/status/101").status_code == 401


def test_replacing_a_reference_keeps_only_the_new_photo(hub: RunningHub) -> None:
    store = LocalFolderStore(hub.settings.objects_dir)
    for version in (1, 2):
        response = hub.http.put(
            "/api/v1/cv/room/reference/twin",
            json={"image": _b64(another_shot(reference_room())), "regions": _regions()[:2]},
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == version
    assert store.exists("rooms/reference/twin-v2.png")
    assert not store.exists("rooms/reference/twin-v1.png")
    body = hub.http.get("/api/v1/cv/room/reference/twin").json()
    assert [r["name"] for r in body["regions"]] == ["bed", "bathroom"]


async def _pg_admin(async_url: str, statement: str) -> None:
    dsn = make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.mark.postgres
def test_inspection_and_hazards_on_postgresql(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """The same flow on PostgreSQL (JSONB findings and tags, booleans, the new columns)."""
    name = f"hub_room_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(postgres_server.async_url, f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server.async_url).set(database=name)
    try:
        settings = with_secrets(
            hub_settings(
                tmp_path / "hub", None, database_url=url.render_as_string(hide_password=False)
            )
        )
        asyncio.run(_seed_rooms(settings))
        with running_hub(settings, start_ingest=False) as hub:
            response = hub.http.put(
                "/api/v1/cv/room/reference/double",
                json={"image": _b64(reference_room(), ".png"), "regions": _regions()},
            )
            assert response.status_code == 200, response.text
            ready = _analyze(hub, "101", another_shot(reference_room()))
            assert ready["ready_for_guest"] is True
            dirty = _analyze(hub, "102", another_shot(with_patch(reference_room(), "floor")))
            assert [t["label"] for t in dirty["tags"]] == ["floor_needs_cleaning"]
            status = hub.http.get("/api/v1/cv/room/status/102").json()
            assert status["last_analysis"]["tags"] == ["floor_needs_cleaning"]
            assert status["room_status"] == "cleaning"
            assert status["status"] == "dirty"
            assert status["analyzed_by"] == dirty["analyzed_by"]
            hazards = hub.http.post(
                "/api/v1/cv/anomaly/detect",
                json={"image": _b64(photos.group_photo()), "min_score": 0.45},
            )
            assert hazards.status_code in (200, 503), hazards.text
            if hazards.status_code == 200:
                assert all(d["id"] > 0 for d in hazards.json()["anomalies"])
    finally:
        asyncio.run(
            _pg_admin(postgres_server.async_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )
