"""The pure logic behind the seed-shaped /api/v1/prefect routes (issue 13): flow run ids, the
booking state machine, explicit check-in/check-out, room statuses in the seeds' words, what
/pipeline/sync can do, and the report's sections."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from hub.flows.attendance import DayRecord, NoCheckInError, Sighting, fold
from hub.flows.bookings import EVENT_TYPES, BookingEventError, transition
from hub.flows.registry import WORKFLOWS
from hub.flows.report import REPORT_TYPES, DailyFigures, render_charts, render_html, sections_of
from hub.flows.room import ROOM_STATUSES, hub_status
from hub.flows.runner import RunNotFoundError, parse_run_id, public_run_id
from hub.flows.sync import SUPPORTED, SyncRequestError, check_sync


def test_flow_run_ids_are_fr_hex_and_map_to_prefects_uuid() -> None:
    run = uuid.uuid4()
    public = public_run_id(run)
    assert public == f"fr_{run.hex}"
    assert parse_run_id(public) == run
    assert parse_run_id(str(run)) == run
    for bad in ("fr_abc123", "abc", "fr_", ""):
        with pytest.raises(RunNotFoundError, match="not a flow run id"):
            parse_run_id(bad)


def test_the_seeds_workflow_names_are_registered() -> None:
    assert {"daily_report_generation", "ml_model_retrain", "lost_found_return"} <= set(WORKFLOWS)
    assert all(spec.default_minutes > 0 for spec in WORKFLOWS.values())


def test_booking_transitions() -> None:
    assert set(EVENT_TYPES) >= {"new_booking", "modified", "cancelled", "checked_in", "checked_out"}
    assert transition("reserved", "checked_in") == ("checked_in", "occupied")
    assert transition("checked_in", "checked_out") == ("checked_out", "cleaning")
    assert transition("reserved", "cancelled") == ("cancelled", None)
    assert transition("reserved", "modified") == (None, None)
    assert transition("reserved", "new_booking") == (None, None)  # a re-sent new booking
    with pytest.raises(BookingEventError, match="cannot apply checked_out to a booking that is"):
        transition("reserved", "checked_out")
    with pytest.raises(BookingEventError) as err:
        transition("cancelled", "modified")
    assert (err.value.status, err.value.field) == (409, "event_type")


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 1, 17, hour, minute, tzinfo=UTC)


def _explicit(at: datetime, action: str) -> Sighting:
    return Sighting("e", "EMP001", "cam", at, at, method="face", link_event=False, action=action)


def test_explicit_check_in_and_check_out() -> None:
    shift = _at(8)
    opened = fold(
        None, _explicit(_at(8, 30), "check_in"), shift_start=shift, grace_minutes=5, debounce_s=60
    )
    assert opened.record == DayRecord(_at(8, 30), None, "late")
    assert opened.minutes_late == 30
    # a second check-in later the same day does not become a check-out (it is explicit)
    again = fold(
        opened.record,
        _explicit(_at(12), "check_in"),
        shift_start=shift,
        grace_minutes=5,
        debounce_s=60,
    )
    assert again.record.check_out_at is None
    closed = fold(
        opened.record,
        _explicit(_at(17), "check_out"),
        shift_start=shift,
        grace_minutes=5,
        debounce_s=60,
    )
    assert closed.record == DayRecord(_at(8, 30), _at(17), "late")
    assert not closed.created
    with pytest.raises(NoCheckInError, match="no check-in"):
        fold(
            None, _explicit(_at(17), "check_out"), shift_start=None, grace_minutes=5, debounce_s=60
        )
    with pytest.raises(NoCheckInError, match="before the day's check-in"):
        fold(
            opened.record,
            _explicit(_at(7), "check_out"),
            shift_start=None,
            grace_minutes=5,
            debounce_s=60,
        )


def test_room_statuses_in_the_seeds_words() -> None:
    assert hub_status("clean") == "available"
    assert hub_status("dirty") == "cleaning"
    assert hub_status("maintenance") == "maintenance"
    assert {"clean", "dirty", "occupied", "maintenance"} <= set(ROOM_STATUSES)


def test_what_sync_can_do() -> None:
    check_sync("pms", "warehouse", "bookings", date(2025, 1, 1), date(2025, 1, 17))
    check_sync("hub", "edges", "faces", None, None)
    cases = [
        (("pms", "edges", "bookings", None, None), "target"),
        (("pms", "warehouse", "faces", None, None), "data_type"),
        (("hub", "edges", "faces", date(2025, 1, 1), date(2025, 1, 2)), "date_range"),
        (("pms", "warehouse", "rooms", date(2025, 1, 2), date(2025, 1, 1)), "date_range.start"),
        (("pms", "warehouse", "rooms", date(2025, 1, 2), None), "date_range"),
    ]
    for args, field in cases:
        with pytest.raises(SyncRequestError) as err:
            check_sync(*args)
        assert err.value.field == field
    with pytest.raises(SyncRequestError, match="supported: pms -> warehouse: bookings"):
        check_sync("pms", "edges", "bookings", None, None)
    assert all(types for types in SUPPORTED.values())


def test_report_sections() -> None:
    assert sections_of(None) == REPORT_TYPES
    assert sections_of(["revenue", "occupancy"]) == ("occupancy", "revenue")
    with pytest.raises(ValueError, match="unknown report types gossip"):
        sections_of(["gossip"])
    figures = DailyFigures(date(2025, 1, 17), 10, 7, 840.0, "USD", 2, 5, 8, 1, 0)
    page = render_html(figures, [], ("occupancy", "revenue"))
    assert "Room revenue" in page
    assert "Housekeeping" not in page
    assert set(render_charts(figures, ("revenue",))) == set()
    assert set(render_charts(figures, ("attendance",))) == {"operations.png"}
