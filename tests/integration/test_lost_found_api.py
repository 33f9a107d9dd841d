"""Lost & found end to end through the HTTP API, with real photos and the real image model
(EfficientNet-Lite0 on ONNX Runtime, CPU): found items are photographed, lost reports come with
another view of the object (or none), the hub scores every pair itself, and staff confirm or
reject its proposals before the guest gets the e-mail.

The objects are scikit-image's data photos (a coffee cup, a rocket, an astronaut portrait, a
cat picture): a found photo is a cropped, scaled, darker copy; a lost report's photo is another
crop, mirrored and rotated."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy.engine import make_url

from hub.auth.scopes import Scope
from models.faces import Image
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers
from testkit.image_sets import (
    brighten,
    crop,
    jpeg_b64,
    load_bgr,
    png_b64,
    require_image_model,
    rotate,
)
from testkit.smtp import SmtpSink, smtp_sink

pytestmark = pytest.mark.integration

LF = "/api/v1/hotel/lost-found"
GUEST_EMAIL = "lf.guest@hotel.test"
FOUND = {
    "coffee": "white cup of coffee on a saucer",
    "rocket": "toy rocket on a launch pad",
    "astronaut": "framed astronaut portrait",
    "chelsea": "framed photo of a ginger cat",
}
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


def found_view(image: Image) -> Image:
    """The found photo: cropped, scaled down to 70 %, darker and washed out."""
    part = crop(image, 0.08, 0.05, 0.92, 0.95)
    size = (int(part.shape[1] * 0.7), int(part.shape[0] * 0.7))
    smaller = np.asarray(cv2.resize(part, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return brighten(smaller, 0.85, 20)


def lost_view(image: Image) -> Image:
    """The guest's photo: another crop, mirrored, turned by 6 degrees."""
    mirrored = np.asarray(cv2.flip(crop(image, 0.0, 0.1, 0.85, 1.0), 1), dtype=np.uint8)
    return rotate(mirrored, 6)


@dataclass
class Desk:
    hub: RunningHub
    smtp: SmtpSink
    staff: dict[str, str]  # hotel:read + hotel:write (front desk, housekeeping)
    manager: dict[str, str]  # + flows:run + hotel:pii
    found: dict[str, dict[str, Any]]  # object -> POST /found answer
    early: dict[str, Any]  # the astronaut report, made before any item was found

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        status: int = 200,
    ) -> Any:
        response = self.hub.http.post(f"{LF}{path}", json=body, headers=headers or self.staff)
        assert response.status_code == status, response.text
        return response.json()

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        response = self.hub.http.get(f"{LF}{path}", headers=headers or self.staff)
        assert response.status_code == 200, response.text
        return response.json()


def _proposed(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in answer["matches"] if m["status"] == "proposed"]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    model = require_image_model()
    with smtp_sink() as smtp:
        settings = hub_settings(
            tmp_path_factory.mktemp("lost-found"),
            None,
            image_search_model_path=model,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
        )
        with running_hub(settings, start_ingest=False) as hub:
            response = hub.http.post(
                "/api/v1/hotel/guests",
                json={"guest_ref": "GUEST-LF1", "full_name": "Mai Pham", "email": GUEST_EMAIL},
            )
            assert response.status_code == 201, response.text
            staff = scoped_headers(hub.settings, Scope.HOTEL_READ, Scope.HOTEL_WRITE)
            manager = scoped_headers(
                hub.settings, Scope.HOTEL_READ, Scope.HOTEL_WRITE, Scope.FLOWS_RUN, Scope.HOTEL_PII
            )
            desk = Desk(hub, smtp, staff, manager, {}, {})
            desk.early = desk.post(
                "/lost",
                {
                    "description": "astronaut picture in a frame",
                    "reporter_name": "Tran Van B",
                    "reporter_contact": "+84 90 123 4567",
                    "lost_location": "lobby",
                    "photo": jpeg_b64(lost_view(load_bgr("astronaut"))),
                },
                status=201,
            )
            for name, description in FOUND.items():
                desk.found[name] = desk.post(
                    "/found",
                    {
                        "description": description,
                        "location": "Floor 2 hallway",
                        "found_at": YESTERDAY.isoformat(),
                        "found_by": "EMP005",
                        "photo": png_b64(found_view(load_bgr(name))),
                    },
                    status=201,
                )
            yield desk


def test_a_found_photo_matches_the_lost_report_of_the_same_object_only(desk: Desk) -> None:
    # the report made before anything was found: the astronaut found later proposed it
    assert desk.early["status"] == "open"
    assert desk.early["matches"] == []
    astronaut = desk.found["astronaut"]
    (early,) = _proposed(astronaut)
    assert early["lost_item_id"] == desk.early["lost_item_id"]
    for name in ("coffee", "rocket", "chelsea"):
        assert _proposed(desk.found[name]) == []
    assert desk.get(f"/lost/{desk.early['lost_item_id']}")["status"] == "matched"

    reports = {
        name: desk.post(
            "/lost",
            {
                "description": description,
                "guest_id": "GUEST-LF1",
                "lost_at": YESTERDAY.isoformat(),
                "photo": png_b64(lost_view(load_bgr(name))),
            },
            status=201,
        )
        for name, description in (("coffee", "coffee cup"), ("rocket", "my son's rocket"))
    }
    for name, report in reports.items():
        assert report["status"] == "matched"
        assert report["photo_id"].startswith("IMG_LF_")
        (match,) = _proposed(report)
        assert match["found_item_id"] == desk.found[name]["found_item_id"], name
        assert match["image_similarity"] > 0.8
        assert match["score"] >= 0.5
    # a report without a photo is matched on its words alone
    words = desk.post(
        "/lost", {"description": "cat photo frame", "guest_id": "GUEST-LF1"}, status=201
    )
    (match,) = _proposed(words)
    assert match["found_item_id"] == desk.found["chelsea"]["found_item_id"]
    assert match["image_similarity"] is None
    assert match["text_similarity"] == match["score"] > 0.5

    # the found photos are in the image search, beside the reports' photos
    hits = desk.hub.http.post(
        "/api/v1/cv/image/search",
        json={
            "query_image": png_b64(lost_view(load_bgr("coffee"))),
            "category": "lost_found",
            "top_k": 3,
        },
    ).json()["results"]
    kinds = {h["image_id"]: h["metadata"]["kind"] for h in hits}
    assert kinds[desk.found["coffee"]["photo_id"]] == "found"
    assert kinds[reports["coffee"]["photo_id"]] == "lost"

    # only a manager confirms; then the guest is told, once
    match_id = _proposed(reports["coffee"])[0]["match_id"]
    refused = desk.hub.http.post(f"{LF}/matches/{match_id}/confirm", headers=desk.staff)
    assert refused.status_code == 403
    assert desk.smtp.to(GUEST_EMAIL) == []
    done = desk.post(f"/matches/{match_id}/confirm", headers=desk.manager)
    assert done["match"]["status"] == "confirmed"
    assert done["lost_item"]["status"] == "found"
    assert done["lost_item"]["found_location"] == "Floor 2 hallway"
    assert done["notified"]["sent"] == ["email:guest:1"]
    (mail,) = desk.smtp.wait_for(1)
    assert mail.rcpt_tos == [GUEST_EMAIL]
    assert "coffee" in mail.text()
    again = desk.hub.http.post(f"{LF}/matches/{match_id}/confirm", headers=desk.manager)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "match_id"
    coffee = desk.get(f"/found/{desk.found['coffee']['found_item_id']}")
    assert (coffee["status"], coffee["lost_item_id"]) == (
        "claimed",
        done["lost_item"]["lost_item_id"],
    )
    returned = desk.post(f"/lost/{reports['coffee']['lost_item_id']}/return")
    assert returned["status"] == "returned"
    assert desk.get(f"/found/{desk.found['coffee']['found_item_id']}")["status"] == "returned"

    # a rejected proposal: the report is open again, and the pair is never proposed again
    rocket = _proposed(reports["rocket"])[0]["match_id"]
    assert desk.post(f"/matches/{rocket}/reject", headers=desk.manager)["status"] == "rejected"
    again_rocket = desk.post(f"/lost/{reports['rocket']['lost_item_id']}/match")
    assert (again_rocket["status"], _proposed(again_rocket)) == ("open", [])
    queue = desk.get("/matches")["items"]
    assert {m["found_item_id"] for m in queue} == {
        desk.found["astronaut"]["found_item_id"],
        desk.found["chelsea"]["found_item_id"],
    }


def test_reporters_contact_is_encrypted_redacted_and_never_audited(desk: Desk) -> None:
    lost_id = desk.early["lost_item_id"]
    redacted = desk.get(f"/lost/{lost_id}")
    assert (redacted["reporter_name"], redacted["pii_redacted"]) == (None, True)
    clear = desk.get(f"/lost/{lost_id}", headers=desk.manager)
    assert (clear["reporter_name"], clear["reporter_contact"]) == ("Tran Van B", "+84 90 123 4567")
    database = make_url(desk.hub.settings.database_url.get_secret_value()).database
    with sqlite3.connect(str(database)) as db:
        (name, contact) = db.execute(
            "SELECT reporter_name, reporter_contact FROM lost_items WHERE id = ?", (lost_id,)
        ).fetchone()
        audit = db.execute(
            "SELECT action, target, detail FROM audit_log WHERE action LIKE 'lost_found.%'"
        ).fetchall()
    assert "Tran" not in name
    assert "4567" not in contact
    assert {"lost_found.report", "lost_found.found", "lost_found.match_confirm"} <= {
        a[0] for a in audit
    }
    assert not any("Tran" in str(row) or "coffee" in str(row) for row in audit)


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/lost", {"description": "umbrella"}, 422, "guest_id"),
        ("/lost", {"description": "umbrella", "guest_id": "NOBODY"}, 404, "guest_id"),
        (
            "/lost",
            {"description": "umbrella", "reporter_name": "A", "reporter_contact": "xyz"},
            422,
            "reporter_contact",
        ),
        (
            "/lost",
            {"description": "umbrella", "guest_id": "GUEST-LF1", "photo": "bm90IGFuIGltYWdl"},
            415,
            "photo",
        ),
        (
            "/lost",
            {"description": "umbrella", "guest_id": "GUEST-LF1", "lost_at": "2999-01-01T00:00:00Z"},
            422,
            "lost_at",
        ),
        (
            "/found",
            {
                "description": "umbrella",
                "location": "bar",
                "found_by": "EMP005",
                "found_at": YESTERDAY.isoformat(),
            },
            422,
            "photo",
        ),
        (
            "/found",
            {
                "description": "umbrella",
                "location": "bar",
                "found_by": "EMP005",
                "found_at": "1990-01-01T00:00:00Z",
                "photo": "x",
            },
            422,
            "found_at",
        ),
        ("/matches/999999/confirm", None, 404, "match_id"),
        ("/found/999999/dispose", None, 404, "found_item_id"),
    ],
)
def test_bad_requests_are_4xx_naming_the_field(
    desk: Desk, path: str, body: Any, status: int, field: str
) -> None:
    response = desk.hub.http.post(f"{LF}{path}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


def test_lists_filter_by_status_newest_first(desk: Desk) -> None:
    every = desk.get("/found")
    assert every["total"] == len(FOUND) == len(every["items"])
    ids = [i["found_item_id"] for i in every["items"]]
    assert ids == sorted(ids, reverse=True)
    for status in ("open", "claimed"):
        page = desk.get(f"/found?status={status}&limit=2")
        assert all(i["status"] == status for i in page["items"])
        assert len(page["items"]) == min(2, page["total"])
    reports = desk.get("/lost?status=open")["items"]
    assert all(r["status"] == "open" for r in reports)
    assert desk.early["lost_item_id"] in {
        r["lost_item_id"] for r in desk.get("/lost?status=matched")["items"]
    }
