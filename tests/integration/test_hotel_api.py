"""``/api/v1/hotel`` through the real hub over HTTP, on SQLite and PostgreSQL: the booking state
machine, double booking, ETag conflicts, personal fields behind ``hotel:pii``, the e-mail
blind index, shifts in the hotel's time zone, scopes, and the audit rows of the writes; and the
PMS sync (idempotent upserts by the PMS's ids, stale updates, the state machine driven by the
PMS's status, the signed webhook: bad signature, replay, timestamp outside the window)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from hub.hotel.pms_webhook import sign
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers
from testkit.postgres import PostgresServer, scratch_database

pytestmark = pytest.mark.integration

H = "/api/v1/hotel"
P = f"{H}/pms"
SECRET = "pms-shared-secret-" + "x" * 16  # the PMS webhook's


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (the SQLite default) or a fresh PostgreSQL database, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with scratch_database(server, "hub_hotel") as url:
        yield url


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> Iterator[RunningHub]:
    settings = hub_settings(
        tmp_path_factory.mktemp("hotel"),
        None,
        database_url=database_url,
        timezone="Asia/Ho_Chi_Minh",
        pms_webhook_secret=SECRET,
    )
    with running_hub(settings, start_ingest=False) as running:
        yield running


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _refused(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errors"][0]["field"] == field, body
    reason: str = body["errors"][0]["reason"]
    return reason


def _room_type(hub: RunningHub, capacity: int = 2) -> str:
    code = _unique("t")
    _ok(
        hub.http.post(
            f"{H}/room-types",
            json={"code": code, "name": "Double", "capacity": capacity, "rack_rate": 100},
        ),
        201,
    )
    return code


def _room(hub: RunningHub, room_type: str | None = None, **extra: Any) -> str:
    number = _unique("")[:6]
    body = {"room_number": number, "room_type": room_type or _room_type(hub), "floor": 2}
    _ok(hub.http.post(f"{H}/rooms", json=body | extra), 201)
    return number


def _guest(hub: RunningHub, **extra: Any) -> str:
    ref = _unique("G")
    _ok(hub.http.post(f"{H}/guests", json={"guest_ref": ref, "full_name": "Le Van C"} | extra), 201)
    return ref


def _booking(
    hub: RunningHub, room: str | None, check_in: str, check_out: str, **extra: Any
) -> httpx.Response:
    body = {
        "booking_ref": _unique("B"),
        "guest_ref": _guest(hub),
        "check_in_date": check_in,
        "check_out_date": check_out,
        "rate_per_night": 90,
    }
    if room is not None:
        body["room_number"] = room
    return hub.http.post(f"{H}/bookings", json=body | extra)


def _audit(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _ok(
        hub.http.get("/api/v1/admin/audit-log", params={"action": action, "limit": 500})
    )["items"]
    return items


def _set_status(hub: RunningHub, ref: str, status: str, etag: str | None = None) -> httpx.Response:
    if etag is None:
        etag = hub.http.get(f"{H}/bookings/{ref}").headers["ETag"]
    return hub.http.post(
        f"{H}/bookings/{ref}/status", json={"status": status}, headers={"If-Match": etag}
    )


def test_room_types_rooms_validation_filters_and_paging(hub: RunningHub) -> None:
    code = _room_type(hub, capacity=3)
    created = _ok(
        hub.http.post(
            f"{H}/rooms", json={"room_number": "R-" + code[-4:], "room_type": code, "floor": 7}
        ),
        201,
    )
    assert created["capacity"] == 3
    assert created["base_rate"] == 100.0
    assert created["status"] == "available"
    _refused(
        hub.http.post(f"{H}/rooms", json={"room_number": "X1", "room_type": "nope", "floor": 1}),
        422,
        "room_type",
    )
    _refused(
        hub.http.post(
            f"{H}/rooms",
            json={"room_number": created["room_number"], "room_type": code, "floor": 1},
        ),
        409,
        "room_number",
    )
    _refused(
        hub.http.post(
            f"{H}/room-types",
            json={"code": _unique("t"), "name": "x", "rack_rate": 100, "price_floor": 150},
        ),
        422,
        "price_floor",
    )
    for _ in range(2):
        _room(hub, code)
    page = _ok(hub.http.get(f"{H}/rooms", params={"room_type": code, "limit": 2}))
    assert page["total"] == 3
    assert len(page["items"]) == 2
    rest = _ok(hub.http.get(f"{H}/rooms", params={"room_type": code, "limit": 2, "offset": 2}))
    assert len(rest["items"]) == 1
    on_floor_7 = _ok(hub.http.get(f"{H}/rooms", params={"room_type": code, "floor": 7}))
    assert [r["room_number"] for r in on_floor_7["items"]] == [created["room_number"]]
    _refused(hub.http.get(f"{H}/rooms", params={"status": "sparkling"}), 422, "status")
    _refused(hub.http.get(f"{H}/rooms/none-such"), 404, "room_number")
    assert _audit(hub, "room.create")


def test_booking_state_machine_moves_rooms_and_refuses_illegal_moves(hub: RunningHub) -> None:
    room = _room(hub)
    booking = _ok(_booking(hub, room, "2026-12-01", "2026-12-03"), 201)
    ref = booking["booking_ref"]
    assert booking["status"] == "reserved"
    assert booking["total_amount"] == 180.0
    assert sorted(booking["allowed_next"]) == ["cancelled", "checked_in", "no_show"]

    checked_in = _ok(_set_status(hub, ref, "checked_in"))
    assert checked_in["previous_status"] == "reserved"
    assert checked_in["status"] == "checked_in"
    assert checked_in["checked_in_at"] is not None
    assert _ok(hub.http.get(f"{H}/rooms/{room}"))["status"] == "occupied"

    reason = _refused(_set_status(hub, ref, "cancelled"), 409, "status")
    assert "allowed: checked_out" in reason
    _refused(_set_status(hub, ref, "booked"), 409, "status")

    _ok(_set_status(hub, ref, "checked_out"))
    assert _ok(hub.http.get(f"{H}/rooms/{room}"))["status"] == "cleaning"
    reason = _refused(_set_status(hub, ref, "checked_in"), 409, "status")
    assert "none (it is final)" in reason
    _refused(
        hub.http.patch(
            f"{H}/bookings/{ref}",
            json={"adults": 2},
            headers={"If-Match": hub.http.get(f"{H}/bookings/{ref}").headers["ETag"]},
        ),
        409,
        "status",
    )

    other = _ok(_booking(hub, None, "2026-12-05", "2026-12-06"), 201)["booking_ref"]
    assert _ok(_set_status(hub, other, "no_show"))["status"] == "no_show"
    _refused(_set_status(hub, other, "levitating"), 422, "status")
    _refused(_set_status(hub, "no-such-booking", "checked_in", etag="*"), 404, "booking_ref")

    moves = [row["detail"] for row in _audit(hub, "booking.status") if row["target"].endswith(ref)]
    assert {"from": "checked_in", "to": "checked_out"} in moves
    assert all(set(d) == {"from", "to"} for d in moves)  # ids and statuses only


def test_double_booking_of_a_room_is_refused(hub: RunningHub) -> None:
    room = _room(hub)
    first = _ok(_booking(hub, room, "2027-01-10", "2027-01-13"), 201)["booking_ref"]
    for check_in, check_out in (("2027-01-12", "2027-01-14"), ("2027-01-09", "2027-01-11")):
        reason = _refused(_booking(hub, room, check_in, check_out), 409, "room_number")
        assert first in reason
    _ok(_booking(hub, room, "2027-01-13", "2027-01-15"), 201)  # checks in as the first leaves
    _ok(_booking(hub, room, "2027-01-08", "2027-01-10"), 201)
    _refused(_booking(hub, room, "2027-01-13", "2027-01-13"), 422, "check_out_date")
    _refused(_booking(hub, "no-room", "2027-02-01", "2027-02-02"), 422, "room_number")
    _refused(_booking(hub, room, "2027-02-01", "2027-02-02", guest_ref="nobody"), 422, "guest_ref")

    # moving another booking onto the taken nights is refused too; a cancelled one frees them
    moved = _ok(_booking(hub, None, "2027-01-11", "2027-01-12"), 201)
    patch = {"room_number": room}
    _refused(
        hub.http.patch(
            f"{H}/bookings/{moved['booking_ref']}", json=patch, headers={"If-Match": moved["etag"]}
        ),
        409,
        "room_number",
    )
    _ok(_set_status(hub, first, "cancelled"))
    placed = _ok(
        hub.http.patch(
            f"{H}/bookings/{moved['booking_ref']}", json=patch, headers={"If-Match": moved["etag"]}
        )
    )
    assert placed["room_number"] == room
    assert placed["room_type"] is not None
    listed = _ok(hub.http.get(f"{H}/bookings", params={"room_number": room, "status": "booked"}))
    assert moved["booking_ref"] in {b["booking_ref"] for b in listed["items"]}
    assert first not in {b["booking_ref"] for b in listed["items"]}


def test_etag_if_match_keeps_two_desks_from_overwriting(hub: RunningHub) -> None:
    ref = _guest(hub, email="desk@example.com")
    read = hub.http.get(f"{H}/guests/{ref}")
    etag = read.headers["ETag"]
    assert read.json()["etag"] == etag
    _refused(hub.http.patch(f"{H}/guests/{ref}", json={"vip": True}), 428, "If-Match")
    desk_a = _ok(
        hub.http.patch(f"{H}/guests/{ref}", json={"vip": True}, headers={"If-Match": etag})
    )
    assert desk_a["vip"] is True
    assert desk_a["etag"] != etag
    reason = _refused(
        hub.http.patch(f"{H}/guests/{ref}", json={"vip": False}, headers={"If-Match": etag}),
        412,
        "If-Match",
    )
    assert desk_a["etag"] in reason
    assert _ok(hub.http.get(f"{H}/guests/{ref}"))["vip"] is True  # desk B changed nothing

    room = _room(hub)
    room_etag = hub.http.get(f"{H}/rooms/{room}").headers["ETag"]
    # a change made by the room flow (a status report) changes the ETag as well
    _ok(
        hub.http.post(
            "/api/v1/prefect/events/room_status",
            json={
                "room_number": room,
                "old_status": "available",
                "new_status": "dirty",
                "updated_by": "housekeeping",
                "timestamp": "2026-12-01T10:00:00Z",
            },
        )
    )
    _refused(
        hub.http.patch(f"{H}/rooms/{room}", json={"floor": 3}, headers={"If-Match": room_etag}),
        412,
        "If-Match",
    )
    fresh = hub.http.get(f"{H}/rooms/{room}").headers["ETag"]
    ready = _ok(
        hub.http.patch(
            f"{H}/rooms/{room}",
            json={"status": "available", "floor": 3},
            headers={"If-Match": fresh},
        )
    )
    assert ready["status"] == "available"
    assert ready["floor"] == 3
    assert any(row["target"] == f"room:{room}" for row in _audit(hub, "room.status"))
    assert (
        _ok(hub.http.patch(f"{H}/rooms/{room}", json={"floor": 4}, headers={"If-Match": "*"}))[
            "floor"
        ]
        == 4
    )


def test_personal_fields_need_the_pii_scope(hub: RunningHub) -> None:
    ref = _guest(hub, email="secret@example.com", phone="+84 90 000 0000", notes="allergic")
    reader = scoped_headers(hub.settings, "hotel:read")
    hidden = _ok(hub.http.get(f"{H}/guests/{ref}", headers=reader))
    assert hidden["pii_redacted"] is True
    assert hidden["email"] is None
    assert hidden["phone"] is None
    assert hidden["notes"] is None
    listed = _ok(
        hub.http.get(f"{H}/guests", params={"email": "secret@example.com"}, headers=reader)
    )
    assert [g["email"] for g in listed["items"]] == [None]
    clear = _ok(
        hub.http.get(
            f"{H}/guests/{ref}", headers=scoped_headers(hub.settings, "hotel:read", "hotel:pii")
        )
    )
    assert clear["pii_redacted"] is False
    assert (clear["email"], clear["phone"], clear["notes"]) == (
        "secret@example.com",
        "+84 90 000 0000",
        "allergic",
    )
    employee = _unique("E")
    _ok(
        hub.http.post(
            f"{H}/employees",
            json={"employee_id": employee, "name": "Pham D", "email": "d@hotel.example"},
        ),
        201,
    )
    assert _ok(hub.http.get(f"{H}/employees/{employee}", headers=reader))["email"] is None

    # writing needs hotel:write; reading needs hotel:read
    assert (
        hub.http.post(
            f"{H}/guests", json={"guest_ref": _unique("G"), "full_name": "x"}, headers=reader
        ).status_code
        == 403
    )
    assert (
        hub.http.get(f"{H}/rooms", headers=scoped_headers(hub.settings, "cv:read")).status_code
        == 403
    )
    assert hub.anonymous.get(f"{H}/rooms").status_code == 401

    if hub.settings.database_url.get_secret_value().startswith("sqlite"):
        db = hub.settings.data_dir / "hub.db"
        with closing(sqlite3.connect(db)) as conn:
            stored = conn.execute(
                "SELECT email, notes FROM guests WHERE guest_ref = ?", (ref,)
            ).fetchone()
        assert "secret" not in stored[0]
        assert "allergic" not in stored[1]


def test_guests_are_found_by_email_through_the_blind_index(hub: RunningHub) -> None:
    ref = _guest(hub, email="Nguyen.Thi.E@Example.com")
    _guest(hub, email="someone.else@example.com")
    found = _ok(hub.http.get(f"{H}/guests", params={"email": "  nguyen.thi.e@example.COM "}))
    assert [g["guest_ref"] for g in found["items"]] == [ref]
    assert _ok(hub.http.get(f"{H}/guests", params={"email": "nobody@example.com"}))["total"] == 0
    etag = hub.http.get(f"{H}/guests/{ref}").headers["ETag"]
    _ok(
        hub.http.patch(
            f"{H}/guests/{ref}", json={"email": "new.e@example.com"}, headers={"If-Match": etag}
        )
    )
    assert (
        _ok(hub.http.get(f"{H}/guests", params={"email": "Nguyen.Thi.E@Example.com"}))["total"] == 0
    )
    assert [
        g["guest_ref"]
        for g in _ok(hub.http.get(f"{H}/guests", params={"email": "NEW.E@example.com"}))["items"]
    ] == [ref]
    _refused(
        hub.http.post(f"{H}/guests", json={"guest_ref": ref, "full_name": "dup"}), 409, "guest_ref"
    )
    _refused(
        hub.http.post(
            f"{H}/guests", json={"guest_ref": _unique("G"), "full_name": "x", "email": "no-at"}
        ),
        422,
        "email",
    )
    creates = [row for row in _audit(hub, "guest.create") if row["target"] == f"guest:{ref}"]
    assert creates
    assert "example" not in str(creates)


def test_employees_and_shifts_in_the_hotels_time_zone(hub: RunningHub) -> None:
    employee = _unique("E")
    created = _ok(
        hub.http.post(
            f"{H}/employees",
            json={
                "employee_id": employee,
                "name": "Vo F",
                "department": "night_audit",
                "position": "auditor",
                "attendance_camera": True,
            },
        ),
        201,
    )
    assert created["attendance_camera"] is True
    opted_out = _ok(
        hub.http.patch(
            f"{H}/employees/{employee}",
            json={"attendance_camera": False},
            headers={"If-Match": created["etag"]},
        )
    )
    assert opted_out["attendance_camera"] is False
    listed = _ok(hub.http.get(f"{H}/employees", params={"department": "night_audit"}))
    assert employee in {e["employee_id"] for e in listed["items"]}

    weekly = _ok(
        hub.http.post(
            f"{H}/shifts",
            json={
                "employee_id": employee,
                "weekday": 0,
                "start_time": "22:00",
                "end_time": "06:00",
            },
        ),
        201,
    )
    assert weekly["overnight"] is True
    assert weekly["timezone"] == "Asia/Ho_Chi_Minh"
    one_off = _ok(
        hub.http.post(
            f"{H}/shifts",
            json={
                "employee_id": employee,
                "shift_date": "2026-12-24",
                "start_time": "23:00",
                "end_time": "07:00",
            },
        ),
        201,
    )
    assert one_off["weekday"] == 3  # a Thursday
    assert one_off["starts_at"] == "2026-12-24T23:00:00+07:00"
    assert one_off["ends_at"] == "2026-12-25T07:00:00+07:00"

    def on(day: str) -> set[int]:
        page = _ok(hub.http.get(f"{H}/shifts", params={"employee_id": employee, "on": day}))
        return {s["shift_id"] for s in page["items"]}

    assert on("2026-12-21") == {weekly["shift_id"]}  # a Monday
    assert on("2026-12-24") == {one_off["shift_id"]}
    assert on("2026-12-31") == set()  # a Thursday, but not the one-off's

    _refused(
        hub.http.post(
            f"{H}/shifts",
            json={"employee_id": employee, "start_time": "08:00", "end_time": "08:00"},
        ),
        422,
        "end_time",
    )
    _refused(
        hub.http.post(
            f"{H}/shifts",
            json={
                "employee_id": employee,
                "shift_date": "2026-12-24",
                "weekday": 0,
                "start_time": "08:00",
                "end_time": "16:00",
            },
        ),
        422,
        "weekday",
    )
    _refused(
        hub.http.post(
            f"{H}/shifts",
            json={"employee_id": "nobody", "start_time": "08:00", "end_time": "16:00"},
        ),
        422,
        "employee_id",
    )
    _refused(hub.http.delete(f"{H}/shifts/{weekly['shift_id']}"), 428, "If-Match")
    assert (
        hub.http.delete(
            f"{H}/shifts/{weekly['shift_id']}", headers={"If-Match": weekly["etag"]}
        ).status_code
        == 204
    )
    _refused(hub.http.get(f"{H}/shifts/{weekly['shift_id']}"), 404, "shift_id")


def test_two_desks_at_once_one_wins(hub: RunningHub) -> None:
    """Simultaneous writes: the row lock serialises them, so the ETag and double-booking checks
    see each other's result (one 200/201, the other 412/409; never both, never a 5xx)."""
    from concurrent.futures import ThreadPoolExecutor

    room = _room(hub)
    etag = hub.http.get(f"{H}/rooms/{room}").headers["ETag"]
    guests = [_guest(hub), _guest(hub)]

    def patch(floor: int) -> int:
        return hub.http.patch(
            f"{H}/rooms/{room}", json={"floor": floor}, headers={"If-Match": etag}
        ).status_code

    def book(i: int) -> int:
        body = {
            "booking_ref": _unique("B"),
            "guest_ref": guests[i],
            "check_in_date": "2027-03-01",
            "check_out_date": "2027-03-04",
            "room_number": room,
        }
        return hub.http.post(f"{H}/bookings", json=body).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert sorted(pool.map(patch, (5, 6))) == [200, 412]
        assert sorted(pool.map(book, (0, 1))) == [201, 409]


# -- PMS sync (hub/hotel/pms*.py, /api/v1/hotel/pms) ----------------------------------------


def _pms_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _pms_at(minute: int) -> str:
    return f"2026-12-07T10:{minute:02d}:00+07:00"


def _sync_room(hub: RunningHub, room_type: str) -> tuple[str, str]:
    pms_id, number = _pms_id("PR"), uuid.uuid4().hex[:6]
    body = {"modified_at": _pms_at(0), "room_number": number, "room_type": room_type, "floor": 3}
    _ok(hub.http.put(f"{P}/rooms/{pms_id}", json=body), 201)
    return pms_id, number


def _sync_guest(hub: RunningHub) -> str:
    pms_id = _pms_id("PG")
    _ok(
        hub.http.put(
            f"{P}/guests/{pms_id}", json={"modified_at": _pms_at(0), "full_name": "Pham Thi D"}
        ),
        201,
    )
    return pms_id


def _pms_booking(guest: str, room: str | None, minute: int, **extra: Any) -> dict[str, Any]:
    body = {
        "modified_at": _pms_at(minute),
        "guest_pms_id": guest,
        "check_in_date": "2027-01-10",
        "check_out_date": "2027-01-13",
        "rate_per_night": 95,
    }
    if room is not None:
        body["room_pms_id"] = room
    return body | extra


def test_upserts_are_idempotent_and_ordered_by_the_pms_time(hub: RunningHub) -> None:
    guest = _pms_id("PG")
    body = {"modified_at": _pms_at(5), "full_name": "Pham Thi D", "email": "d.pham@example.com"}
    created = _ok(hub.http.put(f"{P}/guests/{guest}", json=body), 201)
    assert created["result"] == "created"
    assert created["local_ref"] == guest
    assert _ok(hub.http.put(f"{P}/guests/{guest}", json=body))["result"] == "unchanged"
    older = body | {"modified_at": _pms_at(1), "full_name": "Old Name"}
    reason = _refused(hub.http.put(f"{P}/guests/{guest}", json=older), 409, "modified_at")
    assert "2026-12-07T03:05:00+00:00" in reason  # the stored time, named
    same_time = body | {"full_name": "Other Name"}
    _refused(hub.http.put(f"{P}/guests/{guest}", json=same_time), 409, "modified_at")
    newer = body | {"modified_at": _pms_at(9), "full_name": "Pham Thi E"}
    assert _ok(hub.http.put(f"{P}/guests/{guest}", json=newer))["result"] == "updated"
    stored = _ok(hub.http.get(f"{H}/guests/{guest}"))
    assert stored["full_name"] == "Pham Thi E"
    assert stored["email"] == "d.pham@example.com"  # encrypted at rest, read back with hotel:pii
    _refused(  # naive times are refused: the PMS's clock needs its offset
        hub.http.put(f"{P}/guests/{guest}", json=body | {"modified_at": "2026-12-07T11:00:00"}),
        422,
        "modified_at",
    )

    room_type = _room_type(hub)
    room, number = _sync_room(hub, room_type)
    booking = _pms_id("PB")
    first = _pms_booking(guest, room, 1)
    assert _ok(hub.http.put(f"{P}/bookings/{booking}", json=first), 201)["result"] == "created"
    assert _ok(hub.http.put(f"{P}/bookings/{booking}", json=first))["result"] == "unchanged"
    read = _ok(hub.http.get(f"{H}/bookings/{booking}"))
    assert (read["room_number"], read["guest_ref"], read["status"]) == (number, guest, "reserved")
    assert read["total_amount"] == 285.0
    moved = first | {"modified_at": _pms_at(2), "check_out_date": "2027-01-14"}
    assert _ok(hub.http.put(f"{P}/bookings/{booking}", json=moved))["result"] == "updated"
    assert _ok(hub.http.get(f"{H}/bookings/{booking}"))["check_out_date"] == "2027-01-14"
    _refused(hub.http.put(f"{P}/bookings/{booking}", json=first), 409, "modified_at")
    _refused(
        hub.http.put(
            f"{P}/bookings/{_pms_id('PB')}", json=_pms_booking(_pms_id("nobody"), None, 1)
        ),
        422,
        "guest_pms_id",
    )
    audit = _ok(hub.http.get("/api/v1/admin/audit-log", params={"action": "pms.sync"}))
    assert any(row["target"] == f"pms:bookings:{booking}" for row in audit["items"])


def test_status_from_the_pms_runs_the_state_machine_and_refuses_double_booking(
    hub: RunningHub,
) -> None:
    guest = _sync_guest(hub)
    room, number = _sync_room(hub, _room_type(hub))
    booking = _pms_id("PB")
    _ok(hub.http.put(f"{P}/bookings/{booking}", json=_pms_booking(guest, room, 1)), 201)

    other = _pms_booking(guest, room, 1, check_in_date="2027-01-12", check_out_date="2027-01-15")
    reason = _refused(hub.http.put(f"{P}/bookings/{_pms_id('PB')}", json=other), 409, "room_number")
    assert booking in reason

    checked_in = _pms_booking(guest, room, 2, status="checked_in")
    _ok(hub.http.put(f"{P}/bookings/{booking}", json=checked_in))
    assert _ok(hub.http.get(f"{H}/rooms/{number}"))["status"] == "occupied"
    _ok(hub.http.put(f"{P}/bookings/{booking}", json=checked_in | {"modified_at": _pms_at(3)}))
    checked_out = _pms_booking(guest, room, 4, status="checked_out")
    _ok(hub.http.put(f"{P}/bookings/{booking}", json=checked_out))
    assert _ok(hub.http.get(f"{H}/bookings/{booking}"))["status"] == "checked_out"
    assert _ok(hub.http.get(f"{H}/rooms/{number}"))["status"] == "cleaning"
    back = _pms_booking(guest, room, 5, status="booked")
    reason = _refused(hub.http.put(f"{P}/bookings/{booking}", json=back), 409, "status")
    assert "none (it is final)" in reason

    # a PMS that skipped a step: booked -> checked_out is a check-in then a check-out
    room2, _ = _sync_room(hub, _room_type(hub))
    late = _pms_booking(guest, room2, 1, status="checked_out")
    _ok(hub.http.put(f"{P}/bookings/{_pms_id('PB')}", json=late), 201)
    cancelled = _pms_id("PB")
    _ok(hub.http.put(f"{P}/bookings/{cancelled}", json=_pms_booking(guest, None, 1)), 201)
    _ok(
        hub.http.put(
            f"{P}/bookings/{cancelled}", json=_pms_booking(guest, None, 2, status="cancelled")
        )
    )
    reason = _refused(
        hub.http.put(
            f"{P}/bookings/{cancelled}", json=_pms_booking(guest, None, 3, status="checked_in")
        ),
        409,
        "status",
    )
    assert "cancelled cannot become checked_in" in reason


def _pms_push(
    hub: RunningHub,
    event: dict[str, Any],
    *,
    delivery: str | None = None,
    at: int | None = None,
    secret: str = SECRET,
    body: bytes | None = None,
) -> tuple[httpx.Response, dict[str, str], bytes]:
    raw = body if body is not None else json.dumps(event).encode()
    stamp = str(at if at is not None else int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Innsight-Timestamp": stamp,
        "X-Innsight-Delivery": delivery or _pms_id("d"),
        "X-Innsight-Signature": sign(secret, stamp, raw),
    }
    return _pms_send(hub, raw, headers), headers, raw


def _pms_send(hub: RunningHub, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    """Without a bearer token: the signature is the credential."""
    return hub.anonymous.post(f"{P}/webhook", content=raw, headers=headers)


def test_the_signed_webhook_refuses_forgeries_replays_and_old_timestamps(
    hub: RunningHub,
) -> None:
    guest = _pms_id("PG")
    event = {
        "kind": "guests",
        "pms_id": guest,
        "data": {"modified_at": _pms_at(10), "full_name": "A"},
    }
    response, headers, raw = _pms_push(hub, event)
    assert _ok(response, 201)["result"] == "created"
    assert _ok(hub.http.get(f"{H}/guests/{guest}"))["full_name"] == "A"

    _refused(_pms_send(hub, raw, headers), 409, "X-Innsight-Delivery")  # the same delivery again
    replayed = headers | {"X-Innsight-Delivery": _pms_id("d")}  # a new id, the same signature
    _refused(_pms_send(hub, raw, replayed), 409, "X-Innsight-Delivery")

    forged, _, _ = _pms_push(hub, event, secret="not-the-shared-secret-at-all")
    _refused(forged, 401, "X-Innsight-Signature")
    tampered = headers | {"X-Innsight-Delivery": _pms_id("d")}
    _refused(_pms_send(hub, raw.replace(b'"A"', b'"B"'), tampered), 401, "X-Innsight-Signature")
    old, _, _ = _pms_push(hub, event, at=int(time.time()) - 301)
    assert "outside the 300 s window" in _refused(old, 401, "X-Innsight-Timestamp")
    ahead, _, _ = _pms_push(hub, event, at=int(time.time()) + 400)
    _refused(ahead, 401, "X-Innsight-Timestamp")
    unsigned = {k: v for k, v in headers.items() if k != "X-Innsight-Signature"}
    _refused(_pms_send(hub, raw, unsigned), 401, "X-Innsight-Signature")

    stale = {
        "kind": "guests",
        "pms_id": guest,
        "data": {"modified_at": _pms_at(1), "full_name": "Z"},
    }
    response, _, _ = _pms_push(hub, stale)
    assert _ok(response)["result"] == "stale"  # answered 200 so that the PMS does not retry
    assert _ok(hub.http.get(f"{H}/guests/{guest}"))["full_name"] == "A"
    bad, _, _ = _pms_push(hub, {"kind": "guests", "pms_id": guest, "data": {"full_name": "A"}})
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"][0]["field"] == "guests.data.modified_at"
