"""hub/hotel's pure parts: CSV reading and date detection, the booking status rules over the
booking flow's state machine, ETags, stays and shifts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.hotel.booking_status import allowed_from, event_for
from hub.hotel.csv_format import (
    CsvFormatError,
    decode,
    detect_date_format,
    parse_date,
    read_table,
    write_rejected,
)
from hub.hotel.csv_schemas import RowError, booking_record, dataset_ref, layout
from hub.hotel.errors import HotelError
from hub.hotel.etag import check_if_match, etag_of
from hub.hotel.validation import check_shift, shift_window, stays_overlap


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2026-01-02", "2026-12-31"], "iso"),
        (["1/2/2026", "12/31/2026"], "mdy"),
        (["1/2/2026", "31/12/2026"], "dmy"),
        (["31.12.2026"], "dmy"),
        ([], "iso"),
    ],
)
def test_the_date_format_is_detected_per_file(values: list[str], expected: str) -> None:
    assert detect_date_format(values) == expected


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        (["1/2/2026", "3/4/2026"], "ambiguous"),
        (["2026-01-02", "1/13/2026"], "mixes"),
        (["13/1/2026", "1/13/2026"], "neither"),
    ],
)
def test_undecidable_dates_ask_for_the_format(values: list[str], needle: str) -> None:
    with pytest.raises(CsvFormatError, match=needle):
        detect_date_format(values)
    assert detect_date_format(values, "dmy") == "dmy"


def test_dates_parse_in_the_files_format_only() -> None:
    assert parse_date("3/4/2026", "mdy") == date(2026, 3, 4)
    assert parse_date("3/4/2026", "dmy") == date(2026, 4, 3)
    with pytest.raises(ValueError, match="calendar"):
        parse_date("2/30/2026", "mdy")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_date("3/4/2026", "iso")


def test_bom_semicolons_quotes_and_blank_lines() -> None:
    data = '\ufeffa;b;"c"\r\n1;"x;y";NULL\r\n\r\n2;;z\r\n'.encode()
    table = read_table(decode(data))
    assert table.delimiter == ";"
    assert table.header == ["a", "b", "c"]
    assert table.rows == [(2, ["1", "x;y", "NULL"]), (4, ["2", "", "z"])]
    with pytest.raises(CsvFormatError, match="UTF-8"):
        decode(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(CsvFormatError, match="duplicate"):
        read_table("a,a\n1,2\n")
    rejected = write_rejected(["a", "b"], [(3, ["1", "2"], "b: bad")])
    assert rejected == "line,reason,a,b\n3,b: bad,1,2\n"


def test_a_mapping_renames_the_files_columns_and_missing_ones_are_named() -> None:
    found = layout("rooms", ["No", "room_type", "floor"], {"room_number": "No"})
    assert found.values(["101", "NULL", " 2 "]) == {
        "room_number": "101",
        "room_type": None,
        "floor": "2",
    }
    with pytest.raises(CsvFormatError, match="missing columns: room_number"):
        layout("rooms", ["No", "room_type", "floor"])
    with pytest.raises(CsvFormatError, match="lacks: Nope"):
        layout("rooms", ["No"], {"room_number": "Nope"})


def test_a_booking_row_is_typed_or_refused_with_its_reason() -> None:
    row = {"booking_id": "B1", "check_in_date": "3/4/2026", "check_out_date": "3/6/2026"}
    typed = booking_record(row | {"rate_per_night": "99,50"}, "mdy")
    assert typed["total_amount"] == 199
    assert typed["guest_ref"] == "G-B1"
    assert typed["status"] == "reserved"
    for bad, needle in (
        ({"check_out_date": "3/4/2026"}, "check_out_date: must be after"),
        ({"adults": "two"}, "adults: 'two' is not a whole number"),
        ({"rate_per_night": "1e999999"}, "rate_per_night"),
        ({"status": "levitating"}, "status"),
    ):
        with pytest.raises(RowError, match=needle):
            booking_record(row | bad, "mdy")
    assert dataset_ref(["a", "b"], 1) == dataset_ref([" a", "b "], 1)
    assert dataset_ref(["a", "b"], 2).endswith("-2")


def test_booking_status_rules_follow_the_booking_flow() -> None:
    assert set(allowed_from("reserved")) == {"checked_in", "cancelled", "no_show"}
    assert allowed_from("checked_in") == ("checked_out",)
    assert allowed_from("checked_out") == ()
    assert event_for("reserved", "checked_in") == "checked_in"
    with pytest.raises(HotelError) as refused:
        event_for("checked_in", "cancelled")
    assert (refused.value.status, refused.value.allowed) == (409, ("checked_out",))
    with pytest.raises(HotelError) as back:
        event_for("cancelled", "booked")
    assert back.value.status == 409
    assert "final" in back.value.reason


def test_etags_change_with_the_version_and_if_match_is_required() -> None:
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    tag = etag_of("room", 1, at)
    assert tag.startswith('"')
    assert tag != etag_of("room", 1, at.replace(microsecond=1))
    assert tag != etag_of("guest", 1, at)
    check_if_match(tag, tag)
    check_if_match(f'W/{tag}, "other"', tag)
    check_if_match("*", tag)
    for header, status in ((None, 428), ("", 428), ('"stale"', 412)):
        with pytest.raises(HotelError) as err:
            check_if_match(header, tag)
        assert err.value.status == status


def test_stays_and_overnight_shifts() -> None:
    assert stays_overlap(date(2026, 1, 1), date(2026, 1, 3), date(2026, 1, 2), date(2026, 1, 4))
    assert not stays_overlap(date(2026, 1, 1), date(2026, 1, 3), date(2026, 1, 3), date(2026, 1, 5))
    assert check_shift("22:00", "06:00") is True
    assert check_shift("08:00", "16:00") is False
    starts, ends = shift_window(date(2026, 3, 28), "22:00", "06:00", "Europe/Lisbon")
    assert (starts.isoformat(), ends.isoformat()) == (
        "2026-03-28T22:00:00+00:00",
        "2026-03-29T06:00:00+01:00",  # the night the clocks go forward
    )
    with pytest.raises(HotelError):
        check_shift("24:00", "06:00")
