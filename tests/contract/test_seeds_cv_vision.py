"""The seeds' CV image, room, OCR and anomaly routes, generated from the seed documents.

Every heading of ``../shared/seeds/*.txt`` under ``/api/v1/cv`` that is not a face, health or
metrics route (those are tests/contract/test_seeds_cv_face.py's) is a case here, so a new
heading fails with "no contract case for KEY" until it has one. A case sends the seed's example
request as written, only its placeholders replaced (``base64_...`` by real images: photos from
scikit-image, a room composed of them, rendered invoices and identity documents, a floor photo
with a simulated puddle), and each alternative of an ``a|b|c`` value in turn, through the real
app (real models, real SQLite) with a token holding only the route's scope; it checks every
field of every documented response by name and JSON type, and that each request field was
honoured (stored, filtered, limited...).

Where we add to the seeds (documented in docs/api.md): a room's reference photo must
be registered before ``room/analyze`` (``PUT /api/v1/cv/room/reference/{room_type}``); flood
needs a camera's dry-floor photo and intrusion its restricted zones
(``PUT /api/v1/cv/anomaly/reference/{camera_id}``), else the type is in ``not_evaluated``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import pytest

from hub.auth.keys import with_secrets
from hub.auth.local import issue_local_token
from hub.db import create_engine, create_session_factory, init_db
from hub.settings import HubSettings
from hub.tables import Room
from hub.vision.room_inspection import Region, RegionKind
from models.faces import Image
from testkit.documents import (
    VIETNAMESE_ID,
    VIETNAMESE_INVOICE,
    passport,
    render_id_card,
    render_invoice,
    render_passport,
)
from testkit.floors import FLOOR_ZONE, dry_floor, wet_floor
from testkit.hub import RunningHub, bearer, hub_settings, running_hub
from testkit.image_sets import brighten, load_bgr, png_b64, require_image_model, rotate
from testkit.rooms import another_shot, reference_room
from testkit.seeds import SeedEndpoint, missing_fields, seed_endpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "api.md"
FACE_MODULE_PATHS = ("/api/v1/cv/face", "/api/v1/cv/health", "/api/v1/cv/metrics")


def _covered(endpoint: SeedEndpoint) -> bool:
    return not endpoint.path.startswith(FACE_MODULE_PATHS)


ENDPOINTS = [e for e in seed_endpoints("cv") if _covered(e)]

SEED_ROOM = "201"
SEED_CAMERA = "cam_hallway_03"
SEED_ANALYST = "EMP005"
ROOM_TYPE = "deluxe"
# the composed room of testkit/rooms.py with its bathroom split into a bathroom and a
# towel rail, so that every item of the seed's checklist has a region
ROOM_REGIONS = (
    Region("bed", RegionKind.BED, 0.04, 0.05, 0.54, 0.48),
    Region("bathroom", RegionKind.BATHROOM, 0.62, 0.05, 0.34, 0.19),
    Region("towel rail", RegionKind.TOWELS, 0.62, 0.26, 0.34, 0.19),
    Region("floor", RegionKind.FLOOR, 0.04, 0.58, 0.54, 0.38),
    Region("amenity shelf", RegionKind.AMENITY_SHELF, 0.62, 0.52, 0.34, 0.44),
)
ID_WITH_ISSUE_DATE = replace(VIETNAMESE_ID, issue_date=date(2021, 4, 1))


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _b64(image: Image, ext: str = ".png") -> str:
    ok, encoded = cv2.imencode(ext, image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


def _pil_b64(page: Any) -> str:
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def fill(value: Any, image_b64: str) -> Any:
    """The seed request with every ``base64_...`` placeholder replaced by ``image_b64``."""
    if isinstance(value, str) and value.startswith("base64_"):
        return image_b64
    if isinstance(value, list):
        return [fill(v, image_b64) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, image_b64) for k, v in value.items()}
    return value


def alternatives(request: dict[str, Any]) -> list[dict[str, Any]]:
    """One request per combination of the ``a|b|c`` values of ``request``'s top level."""
    keys = [k for k, v in request.items() if isinstance(v, str) and "|" in v]
    if not keys:
        return [request]
    choices = [request[k].split("|") for k in keys]
    return [
        {**request, **dict(zip(keys, combo, strict=True))} for combo in itertools.product(*choices)
    ]


def seed_request(endpoint: SeedEndpoint) -> dict[str, Any]:
    request = endpoint.request
    assert isinstance(request, dict), f"{endpoint.key}: the seed shows no request body"
    return request


def headers(settings: HubSettings, *scopes: str, subject: str = "contract") -> dict[str, str]:
    return bearer(issue_local_token(settings, scopes, subject=subject))


def post(hub: RunningHub, path: str, body: Any, *scopes: str, **kw: Any) -> dict[str, Any]:
    response = hub.anonymous.post(path, json=body, headers=headers(hub.settings, *scopes, **kw))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def check_responses(endpoint: SeedEndpoint, body: Any) -> None:
    for documented in endpoint.responses:
        assert documented.is_json
        problems = missing_fields(documented.body, body)
        assert problems == [], f"{endpoint.key} {documented.label}: {problems}"


def _db(hub: RunningHub) -> sqlite3.Connection:
    return sqlite3.connect(Path(hub.settings.data_dir) / "hub.db")


async def _seed_rooms(settings: HubSettings) -> None:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        await init_db(engine)
        async with create_session_factory(engine)() as session:
            session.add(
                Room(room_number=SEED_ROOM, room_type=ROOM_TYPE, floor=2, status="cleaning")
            )
            await session.commit()
    finally:
        await engine.dispose()


def _start(tmp: Path) -> Iterator[RunningHub]:
    settings = with_secrets(hub_settings(tmp, None, image_search_model_path=require_image_model()))
    asyncio.run(_seed_rooms(settings))
    with running_hub(settings, start_ingest=False) as running:
        regions = [{**asdict(r), "kind": r.kind.value} for r in ROOM_REGIONS]
        response = running.http.put(
            f"/api/v1/cv/room/reference/{ROOM_TYPE}",
            json={"image": _b64(reference_room()), "regions": regions},
        )
        assert response.status_code == 200, response.text
        scene = {
            "image": _b64(dry_floor()),
            "floor_zone": FLOOR_ZONE,
            "restricted_zones": [
                {
                    "name": "service door",
                    "polygon": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.3], [0.0, 0.3]],
                }
            ],
        }
        response = running.http.put(f"/api/v1/cv/anomaly/reference/{SEED_CAMERA}", json=scene)
        assert response.status_code == 200, response.text
        yield running


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    yield from _start(tmp_path_factory.mktemp("cv-vision"))


@pytest.fixture
def fresh_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """A hub of its own, for the image-search cases (each wants only its own images)."""
    yield from _start(tmp_path)


# ---------------------------------------------------------------------------------------------
# Cases, one per (method, path)
# ---------------------------------------------------------------------------------------------


def case_image_index(endpoint: SeedEndpoint, hub: RunningHub) -> None:
    photo = load_bgr("chelsea")
    body = post(hub, endpoint.path, fill(seed_request(endpoint), png_b64(photo)), "cv:write")
    check_responses(endpoint, body)
    seed_meta = seed_request(endpoint)["metadata"]
    assert body["image_id"].startswith(f"IMG_ROOM_{seed_meta['room_number']}_")
    assert body["vector_id"].startswith("vec_img_")
    # honoured: the metadata is stored and comes back with the image and with a search
    record = hub.http.get(f"/api/v1/cv/image/{body['image_id']}").json()
    for key, value in seed_meta.items():
        assert record["metadata"][key] == value, key
    assert record["category"] == seed_meta["category"]
    found = post(
        hub,
        "/api/v1/cv/image/search",
        {"query_image": png_b64(rotate(photo, 8)), "category": "room"},
        "cv:read",
    )
    hit = next(r for r in found["results"] if r["image_id"] == body["image_id"])
    assert hit["metadata"]["room_number"] == seed_meta["room_number"]
    assert hit["metadata"]["tags"] == seed_meta["tags"]


def _index(hub: RunningHub, image: Image, category: str, **fields: Any) -> dict[str, Any]:
    return post(
        hub,
        "/api/v1/cv/image/index",
        {
            "image": png_b64(image),
            "metadata": {"category": category, **fields.pop("metadata", {})},
            **fields,
        },
        "cv:write",
    )


def case_image_search_000(endpoint: SeedEndpoint, hub: RunningHub) -> None:
    photos = {
        "room": load_bgr("chelsea"),
        "lost_found": load_bgr("coffee"),
        "amenity": load_bgr("rocket"),
    }
    ids = {
        category: _index(hub, photo, category, metadata={"room_number": SEED_ROOM})["image_id"]
        for category, photo in photos.items()
    }
    requests = alternatives(seed_request(endpoint))
    assert {r["category"] for r in requests} == set(photos)
    for request in requests:
        category = request["category"]
        query = png_b64(brighten(photos[category], 1.1, 5))
        body = post(hub, endpoint.path, fill(request, query), "cv:read")
        check_responses(endpoint, body)
        # honoured: only that category, at or above the threshold, at most top_k
        assert [r["image_id"] for r in body["results"]] == [ids[category]], body
        assert all(r["metadata"]["category"] == category for r in body["results"])
        assert all(r["similarity"] >= request["threshold"] for r in body["results"])
        assert len(body["results"]) <= request["top_k"]


def case_image_search_004(endpoint: SeedEndpoint, hub: RunningHub) -> None:
    request = seed_request(endpoint)
    wallet = load_bgr("coffee")
    described = {
        "location": "Floor 2 hallway",
        "item_type": "wallet",
        "description": "Black leather wallet",
    }
    span = request["filters"]["date_range"]
    inside = _index(
        hub, wallet, "lost_found", metadata=described, captured_at=f"{span['start']}T09:00:00Z"
    )
    later = _index(  # the same item photographed after the range: filtered out
        hub, rotate(wallet, 3), "lost_found", metadata=described, captured_at="2025-02-01T09:00:00Z"
    )
    elsewhere = _index(  # inside the range but another category
        hub, rotate(wallet, 2), "room", metadata=described, captured_at=f"{span['end']}T23:00:00Z"
    )
    unrelated = _index(  # inside the range, same category, not similar
        hub,
        load_bgr("checkerboard"),
        "lost_found",
        metadata=described,
        captured_at=f"{span['end']}T08:00:00Z",
    )
    body = post(hub, endpoint.path, fill(request, png_b64(rotate(wallet, 6))), "cv:read")
    check_responses(endpoint, body)
    ids = [r["image_id"] for r in body["results"]]
    assert ids == [inside["image_id"]], body
    assert later["image_id"] not in ids
    assert elsewhere["image_id"] not in ids
    assert unrelated["image_id"] not in ids
    assert body["total_found"] == 1
    assert body["results"][0]["metadata"]["upload_time"].endswith("Z")
    # without the date filter the later copy is found too; top_k limits what is returned
    wider = {k: v for k, v in request.items() if k != "filters"}
    body = post(hub, endpoint.path, fill(wider, png_b64(rotate(wallet, 6))), "cv:read")
    assert {inside["image_id"], later["image_id"]} <= {r["image_id"] for r in body["results"]}
    assert body["total_found"] >= 2
    one = post(
        hub, endpoint.path, fill({**wider, "top_k": 1}, png_b64(rotate(wallet, 6))), "cv:read"
    )
    assert len(one["results"]) == 1
    assert one["total_found"] == body["total_found"]


def _dirty_room() -> Image:
    """The room with the bed and the towel rail partly covered by another real photo."""
    room = reference_room()
    patch = cv2.resize(load_bgr("astronaut"), (200, 140), interpolation=cv2.INTER_AREA)
    room[40:180, 60:260] = patch  # bed
    towels = cv2.resize(load_bgr("astronaut"), (140, 70), interpolation=cv2.INTER_AREA)
    room[162:232, 505:645] = towels  # towel rail
    return another_shot(room, dx=-6, dy=5, gain=0.9)


def case_room_analyze(endpoint: SeedEndpoint, hub: RunningHub) -> None:
    request = fill(seed_request(endpoint), _b64(_dirty_room(), ".jpg"))
    body = post(hub, endpoint.path, request, "rooms:inspect", subject=SEED_ANALYST)
    check_responses(endpoint, body)
    assert body["room_number"] == request["room_number"]
    assert body["status"] == body["overall_status"] == "dirty"
    assert body["ready_for_guest"] is False
    tags = {t["label"]: t for t in body["tags"]}
    assert set(tags) == {"bed_unmade", "towel_missing"}, body["tags"]
    assert tags["bed_unmade"]["severity"] == "high"
    assert tags["towel_missing"]["severity"] == "medium"
    assert body["checklist"] == {
        "bed_made": False,
        "bathroom_clean": True,
        "towels_present": False,
        "amenities_complete": True,
        "floor_clean": True,
    }
    assert 0.0 < body["confidence"] <= 1.0
    assert body["estimated_cleaning_time_minutes"] > 0
    depth = request.get("analysis_depth", "standard")
    assert body["analysis_depth"] == depth
    bed = next(r for r in body["regions"] if r["name"] == "bed")
    if depth == "detailed":  # honoured: the changed pixels' box, inside the bed region
        x, y, w, h = bed["changed_box"]
        assert x >= 0.04
        assert x + w <= 0.59
        assert y >= 0.05
        assert y + h <= 0.54
    else:
        assert bed["changed_box"] is None
    quick = post(hub, endpoint.path, {**request, "analysis_depth": "quick"}, "rooms:inspect")
    assert quick["regions"] is None
    assert quick["alignment"] is None
    assert quick["tags"] == body["tags"]
    assert quick["checklist"] == body["checklist"]
    with _db(hub) as conn:
        archived = dict(conn.execute("SELECT id, photo_key FROM room_analysis_logs").fetchall())
    assert archived[body["analysis_id"]] is not None
    assert archived[quick["analysis_id"]] is None  # quick does not archive the photo


def case_room_status(endpoint: SeedEndpoint, hub: RunningHub) -> None:
    room = endpoint.path_params()
    assert room == ["room_number"]
    clean = post(
        hub,
        "/api/v1/cv/room/analyze",
        {"image": _b64(another_shot(reference_room()), ".jpg"), "room_number": SEED_ROOM},
        "rooms:inspect",
        subject=SEED_ANALYST,
    )
    assert clean["overall_status"] == "clean", clean
    path = endpoint.path.replace("{room_number}", SEED_ROOM)
    response = hub.anonymous.get(path, headers=headers(hub.settings, "cv:read"))
    assert response.status_code == 200, response.text
    body = response.json()
    check_responses(endpoint, body)
    assert body["status"] == "clean"
    assert body["ready_for_guest"] is True
    assert body["analyzed_by"] == SEED_ANALYST
    assert body["last_analysis"]["analysis_id"] == clean["analysis_id"]
    assert body["room_status"] == "available"


def case_ocr_invoice(endpoint: SeedEndpoint, hub: RunningHub) -> None:
    invoice = VIETNAMESE_INVOICE
    body = post(
        hub,
        endpoint.path,
        fill(seed_request(endpoint), _pil_b64(render_invoice(invoice))),
        "cv:write",
    )
    check_responses(endpoint, body)
    assert body["invoice_number"] == invoice.invoice_number
    assert body["date"] == invoice.invoice_date.isoformat()
    assert body["total_amount"] == float(invoice.total)
    assert body["tax_amount"] == float(invoice.tax)
    assert body["currency"] == invoice.currency
    assert [i["amount"] for i in body["items"]] == [float(i.amount) for i in invoice.items]
    assert invoice.invoice_number in body["raw_text"]
    assert 0.5 < body["confidence"] <= 1.0
    if seed_request(endpoint).get("language") == "vi":  # honoured: the Vietnamese engine read it
        assert body["language"] == "vi"
        assert "tesseract" in body["engine"]


def case_ocr_id(endpoint: SeedEndpoint, hub: RunningHub) -> None:
    pages = {
        "id_card": _pil_b64(render_id_card(ID_WITH_ISSUE_DATE)),
        "passport": _pil_b64(render_passport(passport())),
    }
    for request in alternatives(seed_request(endpoint)):
        asked = request["document_type"]
        page = pages.get(asked, pages["id_card"])
        body = post(hub, endpoint.path, fill(request, page), "cv:write")
        if asked == "driver_license":  # none to render: a card is read, and the mismatch said
            assert body["document_type"] == "id_card"
            assert any("driver_license" in w for w in body["warnings"]), body["warnings"]
            continue
        check_responses(endpoint, body)
        assert body["document_type"] == asked
        assert body["gender"] == "Male"
        if asked == "id_card":
            card = ID_WITH_ISSUE_DATE
            assert body["id_number"] == card.id_number
            assert body["full_name"] == card.full_name
            assert body["issue_date"] == "2021-04-01"
            assert body["date_of_birth"] == card.date_of_birth.isoformat()
            assert body["country"] == request.get("country")
        else:
            assert body["mrz"]["valid"] is True


def case_anomaly_detect(endpoint: SeedEndpoint, hub: RunningHub) -> None:
    request = fill(seed_request(endpoint), _b64(wet_floor()))
    body = post(hub, endpoint.path, request, "cv:read")
    check_responses(endpoint, body)
    asked = request["detection_types"]
    assert body["evaluated"] == asked
    assert body["not_evaluated"] == []
    flood = [a for a in body["anomalies"] if a["type"] == "flood"]
    assert len(flood) == 1
    assert body["count"] == len(body["anomalies"])
    location = flood[0]["location"]
    assert (location["w"], location["h"]) == (location["width"], location["height"])
    assert 180 <= location["x"] <= 280
    assert 300 <= location["y"] <= 350
    assert {a["type"] for a in body["anomalies"]} <= set(asked)
    assert body["camera_id"] == SEED_CAMERA
    stamp = request.get("timestamp")
    with _db(hub) as conn:
        rows = conn.execute(
            "SELECT camera_id, detected_at FROM anomaly_detections WHERE id = ?", (flood[0]["id"],)
        ).fetchall()
    assert rows
    assert rows[0][0] == SEED_CAMERA
    if stamp is not None:  # honoured: the frame's time is recorded
        day, clock = stamp[:10], stamp[11:19]
        assert str(rows[0][1]).startswith(day), rows
        assert clock in str(rows[0][1]), rows
        assert body["timestamp"].startswith(stamp[:19])


CASES: dict[tuple[str, str], Callable[[SeedEndpoint, RunningHub], None]] = {
    ("POST", "/api/v1/cv/image/index"): case_image_index,
    ("POST", "/api/v1/cv/room/analyze"): case_room_analyze,
    ("GET", "/api/v1/cv/room/status/{room_number}"): case_room_status,
    ("POST", "/api/v1/cv/ocr/invoice"): case_ocr_invoice,
    ("POST", "/api/v1/cv/ocr/id"): case_ocr_id,
    ("POST", "/api/v1/cv/anomaly/detect"): case_anomaly_detect,
}
SEARCH = ("POST", "/api/v1/cv/image/search")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.key for e in ENDPOINTS])
def test_seed_example(endpoint: SeedEndpoint, request: pytest.FixtureRequest) -> None:
    key = (endpoint.method, endpoint.path)
    if key == SEARCH:  # each search case on a hub holding only its own images
        hub: RunningHub = request.getfixturevalue("fresh_hub")
        if endpoint.document.startswith("000"):
            case_image_search_000(endpoint, hub)
        else:
            case_image_search_004(endpoint, hub)
        return
    if key not in CASES:
        pytest.fail(f"no contract case for {endpoint.key}")
    CASES[key](endpoint, request.getfixturevalue("hub"))


def test_every_seed_heading_has_a_case() -> None:
    keys = {(e.method, e.path) for e in ENDPOINTS}
    assert keys == set(CASES) | {SEARCH}


def test_detection_types_limit_the_detectors_run(hub: RunningHub) -> None:
    frame = _b64(wet_floor(5))
    only_fire = post(
        hub,
        "/api/v1/cv/anomaly/detect",
        {"image": frame, "camera_id": SEED_CAMERA, "detection_types": ["fire"]},
        "cv:read",
    )
    assert only_fire["models"] == ["fire-yolov8-flame"]
    assert only_fire["evaluated"] == ["fire"]
    assert all(a["type"] == "fire" for a in only_fire["anomalies"])  # the puddle is not looked for
    only_flood = post(
        hub,
        "/api/v1/cv/anomaly/detect",
        {"image": frame, "camera_id": SEED_CAMERA, "detection_types": ["flood"]},
        "cv:read",
    )
    assert "fire-yolov8-flame" not in only_flood["models"]
    assert "water-background-v1" in only_flood["models"]
    assert [a["type"] for a in only_flood["anomalies"]] == ["flood"]


def test_flood_without_a_reference_is_not_evaluated(hub: RunningHub) -> None:
    body = post(
        hub,
        "/api/v1/cv/anomaly/detect",
        {
            "image": _b64(wet_floor()),
            "camera_id": "cam_lobby_01",
            "detection_types": ["fire", "flood", "intrusion"],
        },
        "cv:read",
    )
    skipped = {n["type"]: n["reason"] for n in body["not_evaluated"]}
    assert set(skipped) == {"flood", "intrusion"}
    assert "PUT /api/v1/cv/anomaly/reference/cam_lobby_01" in skipped["flood"]
    assert body["evaluated"] == ["fire"]
    assert all(a["type"] == "fire" for a in body["anomalies"])


def test_openapi_request_examples_are_the_seed_examples(hub: RunningHub) -> None:
    schema = hub.http.get("/openapi.json").json()
    for endpoint in ENDPOINTS:
        if endpoint.request is None:
            continue
        operation = schema["paths"][endpoint.path][endpoint.method.lower()]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        model = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert endpoint.request in model.get("examples", []), endpoint.key


def test_the_docs_name_every_route_and_addition() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for endpoint in ENDPOINTS:
        assert f"{endpoint.method} {endpoint.path}" in text, endpoint.key
    for addition in (
        "PUT /api/v1/cv/room/reference/{room_type}",
        "PUT /api/v1/cv/anomaly/reference/{camera_id}",
        "not_evaluated",
        "analysis_depth",
        "confidence",
    ):
        assert addition in text, addition
