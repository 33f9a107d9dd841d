"""The console pages Rooms, People, Search, Forecasts & pricing, Assistant and Privacy in a real
browser (issue 18): each page opens for its role with no serious axe violation and is
photographed at desktop and phone size; enrolment with consent from People; an inspection photo
sent from the phone layout; the assistant's answer streamed from a FAKE model server (the one
boundary a test cannot reach) with the tool call shown and the proposed action confirmed."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import pytest
from playwright.sync_api import Browser, expect

from hub.auth.keys import with_secrets
from models.face_dlib import DlibFaceAnalyzer
from testkit.browser import (
    DESKTOP,
    PHONE,
    ConsoleHub,
    RoleUsers,
    blocking_violations,
    new_context,
    open_page,
    screenshot,
    sign_in_with_token,
)
from testkit.face_photos import astronaut_head
from testkit.fake_llm import FakeOllamaServer, Reply
from testkit.hub import hub_settings, running_hub
from testkit.rooms import REGIONS, another_shot, reference_room

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

MODEL = "qwen2.5:7b-instruct"
ROOM = "B-101"
PAGES = {
    "rooms": ("staff", "Rooms"),
    "people": ("manager", "People"),
    "search": ("admin", "Search"),
    "forecasts": ("manager", "Forecasts & pricing"),
    "assistant": ("manager", "Assistant"),
    "privacy": ("dpo", "Privacy"),
}


# The forecast chart (hub/console/static/pages/forecasts.js) drawn from three nights.
CHART_PROBE = """async () => {
  const { chart } = await import("/console/static/pages/forecasts.js");
  const night = (d, v) => ({date: d, predicted_occupancy: v, predicted_value: v,
    lower_bound: v - 0.1, upper_bound: v + 0.1, on_the_books: v / 2});
  const svg = chart([night("2026-12-07", 0.5), night("2026-12-08", 0.7), night("2026-12-09", 0.6)],
    {label: "occupancy", format: (v) => v.toFixed(2), valueOf: (p) => p.predicted_occupancy});
  return {band: svg.querySelectorAll("polygon.band").length,
    lines: svg.querySelectorAll("path").length, labels: svg.querySelectorAll("text").length};
}"""


def task_brain(messages: list[dict[str, Any]]) -> Reply:
    """Proposes a housekeeping task for ROOM, then says so (streamed word by word)."""
    if any(m.get("role") == "tool" for m in messages):
        return Reply(text=f"I proposed a towel task for room {ROOM}.")
    return Reply(
        tool="create_housekeeping_task",
        args={"room_number": ROOM, "description": "Bring two towels", "priority": "normal"},
    )


@pytest.fixture(scope="module")
def pages_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleHub]:
    """A hub (no broker) with the dlib face model, a FAKE LLM server and a user per role; a
    room type with an inspection reference, room ROOM, and a consent notice to sign."""
    with FakeOllamaServer(MODEL, brain=task_brain) as fake:
        settings = with_secrets(
            hub_settings(
                tmp_path_factory.mktemp("console-pages"),
                None,
                llm_base_url=fake.base_url,
                llm_model=MODEL,
            )
        )
        analyzer = DlibFaceAnalyzer(upsample=1)
        with running_hub(settings, face_analyzer=analyzer, start_ingest=False) as hub:
            http = hub.http
            ok, png = cv2.imencode(".png", reference_room())
            assert ok
            room_type = {"code": "b-dbl", "name": "Double", "rack_rate": 100}
            assert http.post("/api/v1/hotel/room-types", json=room_type).status_code == 201
            room = {"room_number": ROOM, "room_type": "b-dbl", "floor": 1, "status": "cleaning"}
            assert http.post("/api/v1/hotel/rooms", json=room).status_code == 201
            regions = [{**asdict(r), "kind": r.kind.value} for r in REGIONS]
            reference = http.put(
                "/api/v1/cv/room/reference/b-dbl",
                json={"image": _b64(png.tobytes()), "regions": regions},
            )
            assert reference.status_code == 200, reference.text
            yield ConsoleHub(hub, None, RoleUsers(hub))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _jpeg_file(folder: Path, name: str, image: Any) -> Path:
    path = folder / name
    assert cv2.imwrite(str(path), image)
    return path


def test_each_page_opens_for_its_role_without_axe_violations(
    pages_hub: ConsoleHub, console_browser: Browser
) -> None:
    context = new_context(console_browser, "desktop")
    try:
        page = context.new_page()
        for page_id, (role, title) in PAGES.items():
            sign_in_with_token(page, pages_hub, role)
            open_page(page, pages_hub.base_url, page_id)
            expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
            if role == "staff":  # a housekeeper sees Rooms and no People, no Privacy
                nav = page.get_by_role("navigation")
                expect(nav.get_by_role("link", name="Rooms")).to_be_visible()
                expect(nav.get_by_role("link", name="People")).to_be_hidden()
                expect(nav.get_by_role("link", name="Privacy")).to_be_hidden()
            assert page.locator("#page-status[data-kind='error']").count() == 0, page_id
            assert blocking_violations(page) == [], page_id
            if page_id == "forecasts":  # no model is trained here: draw the chart of a forecast
                assert page.evaluate(CHART_PROBE) == {"band": 1, "lines": 2, "labels": 6}
            screenshot(page, f"{page_id}-desktop")
            page.set_viewport_size(PHONE)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (page_id, width)  # nothing wider than a 360 px phone
            screenshot(page, f"{page_id}-phone")
            page.set_viewport_size(DESKTOP)
    finally:
        context.close()


def test_enrolment_with_consent_from_people(
    pages_hub: ConsoleHub, console_browser: Browser, tmp_path: Path
) -> None:
    photo = _jpeg_file(tmp_path, "face.jpg", astronaut_head())
    context = new_context(console_browser, "desktop")
    try:
        page = context.new_page()
        sign_in_with_token(page, pages_hub, "manager")
        open_page(page, pages_hub.base_url, "people")
        page.get_by_label("Employee ID", exact=True).fill("B-EMP-1")
        page.get_by_label("Name", exact=True).fill("Bao Nguyen")
        page.get_by_label("Photos (camera or files)").set_input_files(str(photo))
        expect(page.locator("#enrol-verdicts [data-verdict='ok']")).to_have_count(1)
        page.get_by_role("button", name="Enrol").click()  # no consent ticked: refused
        expect(page.locator("#enrol-consent-error")).to_contain_text("consent")
        page.get_by_label("The employee signed the face consent notice").check()
        page.get_by_role("button", name="Enrol").click()
        expect(page.locator("#enrol-result")).to_contain_text("1 face(s) enrolled for B-EMP-1")
        expect(page.locator("#people-employees")).to_contain_text("Bao Nguyen")
    finally:
        context.close()
    consent = pages_hub.hub.http.get("/api/v1/privacy/consents/B-EMP-1").json()
    assert consent["active"] is True


def test_inspection_upload_from_the_phone_layout(
    pages_hub: ConsoleHub, console_browser: Browser, tmp_path: Path
) -> None:
    photo = _jpeg_file(tmp_path, "room.jpg", another_shot(reference_room()))
    context = new_context(console_browser, "phone")
    try:
        page = context.new_page()
        sign_in_with_token(page, pages_hub, "staff")
        open_page(page, pages_hub.base_url, "rooms")
        expect(page.locator(f"[data-room='{ROOM}']")).to_have_attribute("data-status", "dirty")
        page.get_by_label("Room number").fill(ROOM)
        page.get_by_label("Photo of the room").set_input_files(str(photo))
        page.get_by_role("button", name="Inspect", exact=True).click()
        expect(page.locator("#inspect-result")).to_contain_text(f"Room {ROOM}: ready")
        expect(page.locator(f"[data-room='{ROOM}']")).to_have_attribute("data-status", "inspected")
        expect(page.locator("#room-detail img")).to_be_visible()
        expect(page.locator("#room-detail table")).to_contain_text("bed")
        screenshot(page, "rooms-inspected-phone")
    finally:
        context.close()


def test_assistant_streams_shows_the_tool_and_confirms_the_action(
    pages_hub: ConsoleHub, console_browser: Browser
) -> None:
    context = new_context(console_browser, "desktop")
    try:
        page = context.new_page()
        sign_in_with_token(page, pages_hub, "manager")
        open_page(page, pages_hub.base_url, "assistant")
        page.get_by_label("Your question").fill(f"Room {ROOM} needs towels")
        page.get_by_role("button", name="Send").click()
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".answer")).to_have_text(f"I proposed a towel task for room {ROOM}.")
        expect(answer.locator("[data-tool='create_housekeeping_task']")).to_be_visible()
        answer.get_by_role("button", name="Confirm").click()
        expect(answer.locator(".pending")).to_contain_text("Done")
        screenshot(page, "assistant-confirmed-desktop")
    finally:
        context.close()
    audit = pages_hub.hub.http.get("/api/v1/admin/audit-log", params={"limit": 50}).json()
    assert any("assistant" in row["action"] for row in audit["items"]), json.dumps(audit)[:500]
