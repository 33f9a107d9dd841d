"""The flows' pure logic: attendance (shift day, check-in/out, debounce, lateness), assignment,
re-alerts, retention, pricing rules, room status, lost & found, registry, message fallback and
the report's HTML and charts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.flows.attendance import (
    DayRecord,
    Shift,
    Sighting,
    counts_for_attendance,
    fold,
    minutes_late,
    parse_hhmm,
    refold,
    resolve_day,
    retracts_attendance,
    shift_start_at,
    work_date_of,
)
from hub.flows.hazard import due_for_realert
from hub.flows.maintenance import Snapshot, expired
from hub.flows.pricing import NightPrice, changes, rule_violations
from hub.flows.registry import PIPELINES, SYNC_WORKFLOW, WORKFLOWS, UnknownWorkflowError, spec_of
from hub.flows.report import DailyFigures, render_charts, render_html
from hub.flows.requests import Candidate, choose_assignee
from hub.flows.room import next_status
from hub.flows.runner import mirror_parameters
from hub.notify.messages import compose, fallback
from hub.notify.mqtt import staff_topic
from hub.notify.webhook import sign
from hub.tables import HazardAlert

UTC_TZ = ZoneInfo("UTC")
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = date(2026, 11, 23)  # a Monday


def at(hour: int, minute: int = 0, day: date = DAY, tz: ZoneInfo = UTC_TZ) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def sighting(first: datetime, last: datetime | None = None, event: str = "e1") -> Sighting:
    return Sighting(event, "emp-1", "entrance", first, last or first)


# -- attendance ------------------------------------------------------------------------------


def test_parse_hhmm() -> None:
    assert parse_hhmm("08:30") == time(8, 30)
    for bad in ("8:30", "24:00", "12:60", "noon", ""):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_hhmm(bad)


@pytest.mark.parametrize(
    ("kind", "person", "liveness", "camera", "cameras", "expected"),
    [
        ("face", "emp-1", "live", "entrance", ["entrance"], True),
        # issue 17: only a live face counts, and only at a camera listed for attendance
        ("face", "emp-1", "unchecked", "entrance", ["entrance"], False),
        ("face", "emp-1", None, "entrance", ["entrance"], False),
        ("face", "emp-1", "live", "entrance", [], False),
        ("face", "emp-1", "unchecked", "entrance", [], False),
        ("face", "emp-1", None, "lobby", [], False),
        ("face", "emp-1", "spoof", "entrance", ["entrance"], False),
        ("face", None, "live", "entrance", ["entrance"], False),
        ("face", "emp-1", "live", "lobby", ["entrance"], False),
        ("anomaly", "emp-1", "live", "entrance", [], False),
    ],
)
def test_which_sightings_count(
    kind: str,
    person: str | None,
    liveness: str | None,
    camera: str,
    cameras: list[str],
    expected: bool,
) -> None:
    assert counts_for_attendance(kind, person, liveness, camera, cameras) is expected


@pytest.mark.parametrize(
    ("kind", "liveness", "expected"),
    [
        ("face", "spoof", True),
        ("face", "live", False),
        ("face", "unchecked", False),
        ("face", None, False),
        ("anomaly", "spoof", False),
    ],
)
def test_which_events_retract(kind: str, liveness: str | None, expected: bool) -> None:
    assert retracts_attendance(kind, liveness) is expected


def test_refold_rebuilds_the_day_without_the_retracted_sighting() -> None:
    kept = [sighting(at(8, 20), event="e2"), sighting(at(17, 0), event="e3")]
    decision = refold(kept, shift_start=at(8), grace_minutes=5, debounce_s=300)
    assert decision is not None
    assert decision.record == DayRecord(at(8, 20), at(17, 0), "late")
    assert decision.minutes_late == 20
    on_time = refold(kept[1:], shift_start=at(17), grace_minutes=5, debounce_s=300)
    assert on_time is not None
    assert on_time.record == DayRecord(at(17, 0), None, "present")
    assert refold([], shift_start=at(8), grace_minutes=5, debounce_s=300) is None


def test_minutes_late_respects_the_grace_period() -> None:
    start = at(8)
    assert minutes_late(at(8, 5), start, 5) == 0
    assert minutes_late(at(7, 50), start, 5) == 0
    assert minutes_late(at(8, 6), start, 5) == 6
    assert minutes_late(at(8, 17) + timedelta(seconds=30), start, 5) == 18
    assert minutes_late(at(8, 1), start, 0) == 1


def test_first_sighting_checks_in_and_late_status() -> None:
    decision = fold(None, sighting(at(8, 20)), shift_start=at(8), grace_minutes=5, debounce_s=300)
    assert decision.created
    assert decision.changed
    assert decision.record == DayRecord(at(8, 20), None, "late")
    assert decision.minutes_late == 20


def test_check_out_is_the_last_sighting_after_the_debounce() -> None:
    first = fold(None, sighting(at(7, 55)), shift_start=at(8), grace_minutes=5, debounce_s=300)
    assert first.record.status == "present"
    lingering = fold(
        first.record,
        sighting(at(7, 58), event="e2"),
        shift_start=at(8),
        grace_minutes=5,
        debounce_s=300,
    )
    assert lingering.record.check_out_at is None  # within the debounce: not a check-out
    leaving = fold(
        lingering.record,
        sighting(at(16, 2), event="e3"),
        shift_start=at(8),
        grace_minutes=5,
        debounce_s=300,
    )
    assert leaving.record == DayRecord(at(7, 55), at(16, 2), "present")
    # an older message arriving late changes nothing; applying the same one again neither
    again = fold(
        leaving.record,
        sighting(at(12), event="e4"),
        shift_start=at(8),
        grace_minutes=5,
        debounce_s=300,
    )
    assert again.record == leaving.record
    assert not again.changed
    same = fold(
        leaving.record,
        sighting(at(16, 2), event="e3"),
        shift_start=at(8),
        grace_minutes=5,
        debounce_s=300,
    )
    assert not same.changed


def test_an_earlier_sighting_moves_the_check_in_and_clears_lateness() -> None:
    late = fold(None, sighting(at(8, 30)), shift_start=at(8), grace_minutes=5, debounce_s=300)
    earlier = fold(
        late.record,
        sighting(at(7, 59), event="e0"),
        shift_start=at(8),
        grace_minutes=5,
        debounce_s=300,
    )
    assert earlier.check_in_moved
    assert earlier.record.check_in_at == at(7, 59)
    assert earlier.record.status == "present"
    assert earlier.record.check_out_at == at(8, 30)  # 31 min after the new check-in


def test_no_shift_means_present() -> None:
    decision = fold(None, sighting(at(11)), shift_start=None, grace_minutes=5, debounce_s=300)
    assert decision.record.status == "present"
    assert decision.minutes_late == 0


def test_overnight_shift_days() -> None:
    night = Shift(time(22), time(6))
    assert night.overnight
    # 05:50 closes the shift that began the evening before; 21:55 opens today's
    assert work_date_of(at(5, 50), night, UTC_TZ) == DAY - timedelta(days=1)
    assert work_date_of(at(21, 55), night, UTC_TZ) == DAY
    day_shift = Shift(time(8), time(16))
    assert work_date_of(at(5, 50), day_shift, UTC_TZ) == DAY


def test_resolve_day_uses_the_weekday_shift_and_time_zone() -> None:
    weekday = Shift(time(8), time(16))
    monday_night = Shift(time(22), time(6))
    shifts = [(None, weekday), (0, monday_night)]  # Mondays: the night shift
    # Tuesday 05:00 and 06:40 local belong to Monday's night shift, 07:58 to Tuesday's
    assert resolve_day(at(6, 40, DAY + timedelta(days=1), HCM), shifts, HCM) == (
        DAY,
        monday_night,
    )
    tuesday = DAY + timedelta(days=1)
    assert resolve_day(at(5, 0, tuesday, HCM), shifts, HCM) == (DAY, monday_night)
    # Monday 07:58 local is Monday, with Monday's (night) shift
    assert resolve_day(at(7, 58, DAY, HCM), shifts, HCM) == (DAY, monday_night)
    # Tuesday 07:58 local: the every-day shift
    assert resolve_day(at(7, 58, tuesday, HCM), shifts, HCM) == (tuesday, weekday)
    # 01:30 UTC is 08:30 in Ho Chi Minh City: the local date and start count
    seen = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    day, shift = resolve_day(seen, [(None, weekday)], HCM)
    assert day == tuesday
    assert shift == weekday
    assert minutes_late(seen, shift_start_at(day, weekday, HCM), 5) == 30


# -- other flows -----------------------------------------------------------------------------


def test_choose_assignee_prefers_the_least_loaded_on_shift() -> None:
    staff = [
        Candidate("hk-2", "housekeeping", 3),
        Candidate("hk-1", "housekeeping", 1),
        Candidate("hk-3", "housekeeping", 1),
        Candidate("fd-1", "front_desk", 0),
    ]
    assert choose_assignee(staff, "housekeeping") == "hk-1"
    assert choose_assignee(staff, "maintenance") is None
    assert choose_assignee([], "housekeeping") is None


def test_due_for_realert() -> None:
    now = at(12)
    every = timedelta(minutes=5)
    alert = HazardAlert(
        hazard="fire", location="kitchen", detected_at=at(11), sends=1, last_sent_at=at(11, 56)
    )
    assert not due_for_realert(alert, now, every)
    alert.last_sent_at = at(11, 55)
    assert due_for_realert(alert, now, every)
    alert.acknowledged_at = at(11, 58)
    assert not due_for_realert(alert, now, every)
    alert.acknowledged_at = None
    alert.sends = 20
    assert not due_for_realert(alert, now, every)


def test_retention_keeps_each_kind_for_its_own_period() -> None:
    now = at(12)
    snaps = [
        Snapshot("a", "snapshots/d/a.jpg", "emp-1", now - timedelta(days=31)),
        Snapshot("b", "snapshots/d/b.jpg", "emp-1", now - timedelta(days=29)),
        Snapshot("c", "snapshots/d/c.jpg", None, now - timedelta(days=8)),
        Snapshot("d", "snapshots/d/d.jpg", None, now - timedelta(days=6)),
    ]
    assert [s.event_id for s in expired(snaps, now, 30, 7)] == ["a", "c"]


def test_pricing_rules_and_changes() -> None:
    nights = [
        NightPrice(DAY, 100.0, 100.0),
        NightPrice(DAY + timedelta(days=1), 112.0, 100.0),
        NightPrice(DAY + timedelta(days=2), 49.0, 52.0),
        NightPrice(DAY + timedelta(days=3), 301.0, 300.0),
    ]
    problems = rule_violations(nights, floor=50.0, ceiling=300.0, max_daily_change=0.10)
    assert len(problems) == 3
    assert "change +12.0% over 10%" in problems[0]
    assert "below the floor" in problems[1]
    assert "above the ceiling" in problems[2]
    assert rule_violations(nights[:1], 50.0, 300.0, 0.10) == []
    assert [n.price for n in changes(nights)] == [112.0, 49.0]


def test_room_status_after_analysis() -> None:
    assert next_status("cleaning", True) == "available"
    assert next_status("available", False) == "cleaning"
    assert next_status("occupied", True) == "occupied"
    assert next_status("maintenance", True) == "maintenance"


def test_registry() -> None:
    assert spec_of("daily_pricing").default_cron == "0 3 * * *"
    with pytest.raises(UnknownWorkflowError, match="unknown workflow 'x'"):
        spec_of("x")
    assert set(PIPELINES.values()) <= set(WORKFLOWS)
    assert SYNC_WORKFLOW in WORKFLOWS


def test_guest_words_are_not_mirrored() -> None:
    assert mirror_parameters({"message": "room 101 towels", "booking_id": 3}) == {
        "message": "<redacted>",
        "booking_id": 3,
    }


# -- notification text -----------------------------------------------------------------------


def test_compose_uses_the_assistant_templates_and_falls_back() -> None:
    fields = {"guest_name": "Mai", "room_number": "101"}
    note = compose("room_ready", "en", fields)
    assert note.template == "generated"
    assert "101" in note.body
    missing = compose("room_ready", "en", {"guest_name": "Mai"})  # room_number missing
    assert missing.template == "fallback"
    assert "<room_number>" in missing.body
    unknown = compose("pricing_summary", "vi", {"changes": "3", "nights": "14"})
    assert unknown.template == "fallback"
    assert "3" in unknown.subject
    assert fallback("whatever", {}).subject == "whatever"


def test_staff_topic_and_webhook_signature() -> None:
    assert (
        staff_topic("hotel-a", "housekeeping")
        == "innsight/hotel-a/staff/housekeeping/notifications"
    )
    with pytest.raises(ValueError, match="invalid staff role"):
        staff_topic("hotel-a", "a/#")
    assert sign("k", b"{}") == sign("k", b"{}")
    assert sign("k", b"{}") != sign("k2", b"{}")
    assert sign("k", b"{}").startswith("sha256=")


# -- report ----------------------------------------------------------------------------------


def test_report_html_escapes_and_charts_are_png() -> None:
    figures = DailyFigures(
        day=DAY,
        rooms_total=10,
        rooms_occupied=7,
        revenue=840.0,
        currency="<b>",
        tasks_open=2,
        tasks_done=5,
        present=8,
        late=1,
        incidents=0,
    )
    assert figures.occupancy == pytest.approx(0.7)
    page = render_html(figures, ["occupancy.png"])
    assert "70.0% (7/10)" in page
    assert "&lt;b&gt;" in page
    assert "<b>" not in page
    charts = render_charts(figures)
    assert set(charts) == {"occupancy.png", "operations.png"}
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in charts.values())


def test_a_one_off_shift_applies_on_its_date_only_and_wins_there() -> None:
    from hub.flows.attendance import Shift, pick_shift

    weekly = Shift(time(8, 0), time(16, 0), 5)
    one_off = Shift(time(14, 0), time(22, 0), 5)
    every_day = Shift(time(9, 0), time(17, 0), 5)
    monday = date(2026, 12, 7)
    shifts = [(monday.weekday(), weekly), (monday + timedelta(days=7), one_off), (None, every_day)]
    assert pick_shift(shifts, monday) is weekly  # the one-off is next Monday, not this one
    assert pick_shift(shifts, monday + timedelta(days=7)) is one_off
    assert pick_shift(shifts, monday + timedelta(days=1)) is every_day
    assert pick_shift([(monday, one_off)], monday + timedelta(days=7)) is None
