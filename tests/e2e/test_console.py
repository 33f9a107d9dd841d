"""The staff console in Debian's Chromium (issue 18): sign-in, role-based navigation, the
language stored per user, a 401 back to sign-in keeping the page, a live hazard alert from a
real MQTT event acknowledged in the inbox, an attendance correction with the API's field error
shown next to its field, axe-core on every page at desktop and phone size, screenshots."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from contracts.ids import uuid7
from contracts.messages import (
    AnomalyPayload,
    AnomalyType,
    BBox,
    CameraStats,
    EventEnvelope,
    EventKind,
    Heartbeat,
    Phase,
    Snapshot,
)
from testkit.browser import (
    DESKTOP,
    PHONE,
    ConsoleHub,
    blocking_violations,
    new_context,
    open_page,
    screenshots,
    sign_in_with_form,
    sign_in_with_token,
    wait_ready,
)
from testkit.hub import SITE, event_topic_of, jpeg_b64, mqtt_probe

DEVICE = "console-edge"
PAGES = ("today", "alerts", "attendance", "devices")


@pytest.fixture(scope="module")
def manager_page(console: ConsoleHub, console_browser: Browser) -> Iterator[Page]:
    """One desktop tab signed in as the manager, shared by this module's tests."""
    context = new_context(console_browser, "desktop", axe=True)
    try:
        page = context.new_page()
        sign_in_with_token(page, console, "manager")
        yield page
    finally:
        context.close()


def visible_nav(page: Page) -> set[str]:
    ids = page.eval_on_selector_all(
        "#nav li[data-page]", "items => items.filter(i => !i.hidden).map(i => i.dataset.page)"
    )
    return set(ids)


def fire_event(seq: int, zone: str, hazard: AnomalyType = AnomalyType.FIRE) -> EventEnvelope:
    return EventEnvelope(
        device_id=DEVICE,
        seq=seq,
        event_id=uuid7(),
        phase=Phase.NEW,
        camera_id="kitchen-cam",
        kind=EventKind.ANOMALY,
        started_at=datetime.now(UTC),
        payload=AnomalyPayload(type=hazard, score=0.93, bbox=BBox(x=4, y=4, w=20, h=20), zone=zone),
        snapshot=Snapshot(jpeg_b64=jpeg_b64(3)),
    )


def test_sign_in_navigation_language_and_expired_session(
    console: ConsoleHub, console_browser: Browser
) -> None:
    context = new_context(console_browser, "desktop")
    try:
        page = context.new_page()
        # not signed in: the page sends to sign-in, keeping where to come back to
        page.goto(f"{console.base_url}/console/alerts")
        page.wait_for_url(re.compile(r"/console/signin\?next=%2Fconsole%2Falerts"))
        sign_in_with_form(page, console.users["staff"])
        page.wait_for_url(re.compile(r"/console/alerts$"))
        wait_ready(page)
        # a housekeeper (staff) sees Today and Alerts, not Attendance, Devices or People
        nav = visible_nav(page)
        assert {"today", "alerts"} <= nav
        assert not nav & {"attendance", "devices", "people", "privacy"}
        open_page(page, console.base_url, "devices")
        expect(page.locator("#page-denied")).to_be_visible()
        # a refused (expired, forged) token: back to sign-in, then back to the page
        page.evaluate("sessionStorage.setItem('innsight.console.token', 'not-a-token')")
        page.goto(f"{console.base_url}/console/today")
        page.wait_for_url(re.compile(r"/console/signin\?next=%2Fconsole%2Ftoday&reason=expired"))
        expect(page.locator('[data-error-for="_form"]')).to_contain_text("expired")
        sign_in_with_form(page, console.users["staff"])
        page.wait_for_url(re.compile(r"/console/today$"))
        wait_ready(page)
        # the language is stored for the user on the hub, and applied at the next page
        page.select_option("#lang-select", "vi")
        expect(page.locator("h1")).to_have_text("Hôm nay")
        with console.http_as("staff") as http:
            assert http.get("/console/api/me").json()["language"] == "vi"
            bad = http.put("/console/api/me/preferences", json={"language": "fr"})
            assert bad.status_code == 422
            assert bad.json()["errors"][0]["field"] == "language"
            http.put("/console/api/me/preferences", json={"language": "en"}).raise_for_status()
    finally:
        context.close()


def test_live_alert_from_mqtt_is_acknowledged(console: ConsoleHub, manager_page: Page) -> None:
    assert console.broker is not None
    page = manager_page
    open_page(page, console.base_url, "alerts")
    expect(page.locator("#alerts-live")).to_have_attribute("data-state", "live")
    with mqtt_probe(console.broker, "console-alert") as probe:
        envelope = fire_event(1, zone="pastry-kitchen")
        probe.publish_event(envelope, topic=event_topic_of(envelope))
    item = page.locator("li.alert-item[data-hazard='fire']", has_text="pastry-kitchen")
    expect(item).to_be_visible(timeout=15_000)  # pushed by the stream, no reload
    expect(item).to_contain_text("kitchen-cam")
    expect(item).to_have_attribute("data-severity", "critical")
    expect(item.locator("img")).to_have_attribute("src", re.compile(r"^blob:"))
    item.get_by_role("button", name="Acknowledge").click()
    expect(item.locator("[data-role='status']")).to_have_text("Acknowledged")
    alert_id = int(str(item.get_attribute("id")).removeprefix("alert-"))
    with console.http_as("manager") as http:
        listed = http.get("/console/api/alerts").json()["items"]
        row = next(a for a in listed if a["id"] == alert_id)
        assert row["status"] == "acknowledged"
        assert row["acknowledged_by"] == f"user:{console.users['manager']}"
        assert row["camera_id"] == "kitchen-cam"
        assert row["zone"] == "pastry-kitchen"
    # a false alarm is kept (for tuning), and leaves the open list
    item.get_by_role("button", name="False alarm").click()
    expect(item).to_be_hidden()
    with console.http_as("manager") as http:
        row = next(
            a for a in http.get("/console/api/alerts").json()["items"] if a["id"] == alert_id
        )
        assert row["status"] == "false_alarm"


def seed_attendance(console: ConsoleHub) -> str:
    employee = "EMP-C1"
    answer = console.hub.http.post(
        "/api/v1/hotel/employees",
        json={
            "employee_id": employee,
            "name": "Trần Thị Lan",
            "department": "housekeeping",
        },
    )
    if answer.status_code == 201:  # a shift every day, from midnight (hotel time)
        shift = console.hub.http.post(
            "/api/v1/hotel/shifts",
            json={"employee_id": employee, "start_time": "00:00", "end_time": "23:59"},
        )
        assert shift.status_code == 201, shift.text
    else:
        assert answer.status_code == 409, answer.text
    return employee


def test_attendance_correction(console: ConsoleHub, manager_page: Page) -> None:
    employee = seed_attendance(console)
    page = manager_page
    open_page(page, console.base_url, "attendance")
    row = page.locator("tr", has_text=employee)
    expect(row.locator("[data-state]")).to_have_attribute(
        "data-state", re.compile("absent|scheduled")
    )
    form = page.locator("#correction-form")
    form.get_by_label("Employee").select_option(employee)
    form.get_by_label("Status").select_option("present")
    form.get_by_label("Check-in").fill("08:05")
    form.get_by_label("Reason").fill("x")
    form.get_by_role("button", name="Save correction").click()
    # the API's field error, next to its field
    expect(page.locator("#correction-reason-error")).to_contain_text("at least 3")
    expect(form.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Reason").fill("badge reader at the staff door was down")
    form.get_by_role("button", name="Save correction").click()
    expect(row.locator("[data-state]")).to_have_attribute("data-state", "in")
    expect(row).to_contain_text("Yes")
    with console.http_as("manager") as http:
        today = page.locator("#attendance-date").input_value()
        csv = http.get("/console/api/attendance/export.csv", params={"from": today, "to": today})
        assert csv.status_code == 200
        line = next(x for x in csv.text.splitlines() if x.startswith(employee))
        assert line.endswith(",present,manual,yes")


def publish_heartbeat(console: ConsoleHub) -> None:
    assert console.broker is not None
    beat = Heartbeat(
        device_id=DEVICE,
        sent_at=datetime.now(UTC),
        cameras={
            "kitchen-cam": CameraStats(fps=12.5, frames=1000),
            "lobby-cam": CameraStats(fps=0.0, connected=False),
        },
        outbox_depth=3,
        gallery_version=4,
        models={"face": "blazeface+dlib-resnet-v1", "fire": "yolov8n-fire"},
        version="0.1.0",
    )
    with mqtt_probe(console.broker, "console-heartbeat") as probe:
        probe.publish(f"innsight/{SITE}/{DEVICE}/status", b"online", retain=True)
        probe.publish(f"innsight/{SITE}/{DEVICE}/heartbeat", beat.to_json_bytes())
        smoke = fire_event(2, zone="laundry", hazard=AnomalyType.SMOKE)  # for the screenshots
        probe.publish_event(smoke, topic=event_topic_of(smoke))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = console.hub.http.get("/api/v1/devices").json()["items"]
        if any(d["device_id"] == DEVICE and d["last_heartbeat"] for d in items):
            return
        time.sleep(0.05)
    raise AssertionError("the heartbeat did not reach the hub")


def test_every_page_is_accessible_at_desktop_and_phone_size(
    console: ConsoleHub, manager_page: Page
) -> None:
    publish_heartbeat(console)
    seed_attendance(console)
    page = manager_page
    page.goto(f"{console.base_url}/console/signin")
    assert blocking_violations(page) == []
    screenshots(page, "signin")
    for page_id in PAGES:
        open_page(page, console.base_url, page_id)
        assert visible_nav(page) >= set(PAGES)  # the manager sees every page of this module
        expect(page.locator("#page-status")).not_to_have_attribute("data-kind", "error")
        assert blocking_violations(page) == [], page_id
        screenshots(page, page_id)
    expect(page.locator("#devices-root")).to_contain_text("kitchen-cam: 12.5 fps")
    expect(page.locator("#devices-root")).to_contain_text("Not enrolled")  # heard, not enrolled
    page.set_viewport_size(PHONE)  # the menu opens from its button on a phone
    try:
        expect(page.locator("#nav")).to_be_hidden()
        page.get_by_role("button", name="Menu").click()
        expect(page.get_by_role("link", name="Attendance")).to_be_visible()
    finally:
        page.set_viewport_size(DESKTOP)


def test_console_routes_need_credentials(console: ConsoleHub) -> None:
    """The console's data routes refuse a request without credentials (the HTML has no data)."""
    assert console.hub.anonymous.get("/console/api/me").status_code == 401
    assert console.hub.anonymous.get("/console/api/today").status_code == 401
    assert console.hub.anonymous.get("/console/api/alerts/stream").status_code == 401
    assert console.hub.anonymous.get("/console/today").status_code == 200
    assert console.hub.anonymous.get("/console/nowhere").status_code == 404
    # bad input: a 4xx naming the field
    with console.http_as("manager") as http:
        cases = [
            http.post("/console/api/alerts/999999/actions", json={"action": "acknowledge"}),
            http.post("/console/api/alerts/1/actions", json={"action": "explode"}),
            http.post(
                "/console/api/attendance/corrections",
                json={
                    "employee_id": "NOBODY",
                    "work_date": "2026-12-07",
                    "status": "present",
                    "reason": "typo in the badge log",
                },
            ),
            http.get(
                "/console/api/attendance/export.csv",
                params={"from": "2026-12-07", "to": "2026-12-01"},
            ),
        ]
        fields = [(r.status_code, r.json()["errors"][0]["field"]) for r in cases]
        assert fields == [(404, "alert_id"), (422, "action"), (404, "employee_id"), (422, "to")]
    with console.http_as("staff") as http:  # a housekeeper cannot read the attendance board
        assert http.get("/console/api/attendance").status_code == 403
