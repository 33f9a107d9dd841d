"""The staff console's pure parts: the page registry, translations, role visibility, the
attendance states, the alert cursor and the payroll CSV cells."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.auth.scopes import Role, role_scopes
from hub.console import registry
from hub.console.alerts import AlertView, Cursor, advance, severity_of
from hub.console.attendance import _cell, state_of
from hub.console.i18n import LANGUAGES, catalog, missing_keys, translate
from hub.console.render import STATIC, TEMPLATES, render_page, render_signin
from hub.flows.attendance import Shift
from hub.tables import AttendanceLog

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def test_every_page_has_its_files_and_titles() -> None:
    pages = registry.pages()
    assert [p.id for p in pages][:3] == ["today", "alerts", "attendance"]
    assert len({p.order for p in pages}) == len(pages)
    for page in pages:
        assert re.match(registry.PAGE_ID_PATTERN, page.id)
        assert (TEMPLATES / page.template).is_file(), page.id
        if page.script:
            assert (STATIC / "pages" / f"{page.id}.js").is_file(), page.id
        for language in LANGUAGES:
            assert page.title_key in catalog(language), (language, page.id)


def test_vietnamese_has_every_english_key() -> None:
    assert missing_keys("vi") == []
    assert translate("vi", "today.title") == "Hôm nay"
    assert translate("en", "shell.error", reason="x") == "Could not load: x"
    assert translate("xx", "today.title") == "Today"  # unknown language: English


def test_roles_see_their_pages() -> None:
    staff = {p.id for p in registry.visible_pages(role_scopes(Role.STAFF))}
    assert {"today", "alerts"} <= staff
    assert not staff & {"attendance", "devices", "people"}
    manager = {p.id for p in registry.visible_pages(role_scopes(Role.MANAGER))}
    assert {"today", "alerts", "attendance", "devices"} <= manager
    assert {p.id for p in registry.visible_pages(role_scopes(Role.ADMIN))} == {
        p.id for p in registry.pages() if p.nav
    }


def test_pages_render_escaped_in_both_languages() -> None:
    page = registry.page_by_id("alerts")
    assert page is not None
    html = render_page(page, language="vi", timezone="Asia/Ho_Chi_Minh")
    assert '<html lang="vi">' in html
    assert "Cảnh báo" in html
    assert "Asia/Ho_Chi_Minh" in html
    assert "</script><" not in html.split('id="console-i18n">')[1].split("</script>")[0]
    assert 'id="signin-form"' in render_signin(language="en", timezone="UTC")


def test_attendance_states() -> None:
    day = date(2026, 12, 7)
    shift = Shift(time(8, 0), time(16, 0), 5)
    before = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 08:00 in Hanoi: within the grace
    after = datetime(2026, 12, 7, 1, 6, tzinfo=UTC)
    assert state_of(None, shift, day, HANOI, before) == "scheduled"
    assert state_of(None, shift, day, HANOI, after) == "absent"
    assert state_of(None, None, day, HANOI, after) == "off"
    log = AttendanceLog(employee_id="E1", work_date=day, check_in_at=after, status="late")
    assert state_of(log, shift, day, HANOI, after) == "late"
    log.check_out_at = after + timedelta(hours=8)
    assert state_of(log, shift, day, HANOI, after) == "out"
    log.status = "absent"
    assert state_of(log, shift, day, HANOI, after) == "absent"


def _view(alert_id: int, updated_at: datetime, updated_by: str | None) -> AlertView:
    return AlertView(
        id=alert_id,
        hazard="fire",
        severity="critical",
        status="open",
        location="kitchen",
        camera_id=None,
        device_id=None,
        zone=None,
        score=None,
        detected_at=updated_at,
        has_snapshot=False,
        assigned_to=None,
        note=None,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        updated_at=updated_at,
        updated_by=updated_by,
    )


def test_alert_cursor_moves_past_what_was_sent() -> None:
    t0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    cursor = advance(Cursor(3, None), [_view(5, t0, None), _view(4, t0, None)])
    assert cursor == Cursor(5, None)  # unhandled alerts move only the id
    cursor = advance(cursor, [_view(2, t0 + timedelta(seconds=1), "user:minh")])
    assert cursor == Cursor(5, t0 + timedelta(seconds=1))
    assert [severity_of(h) for h in ("fire", "intrusion", "water", "x")] == [
        "critical",
        "high",
        "medium",
        "medium",
    ]


def test_csv_cells_never_start_a_formula() -> None:
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("-5") == "'-5"
    assert _cell("Lan") == "Lan"
    assert _cell(None) == ""


def test_static_assets_are_local() -> None:
    """No CDN: every script and stylesheet the console loads is under /console/static."""
    for path in [*TEMPLATES.rglob("*.html"), *STATIC.rglob("*.js")]:
        # XML namespaces (SVG) are names, not downloads
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/", "")
        assert not re.search(r"https?://", text), path
    assert Path(STATIC / "console.css").is_file()
