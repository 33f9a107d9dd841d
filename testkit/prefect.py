"""Prefect's local mode for tests: ``prefect_test_harness`` started ONCE per test session (it
takes ~15 s cold), in a temporary PREFECT_HOME, whichever test module asks first.

Import this module before anything imports Prefect: it points PREFECT_HOME at a temp dir.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="innsight-prefect-"))
os.environ.setdefault("PREFECT_HOME", str(_HOME))
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

_stack: contextlib.ExitStack | None = None
starts = 0  # how many harnesses this process started (tests assert it stays at one)


def ensure_harness(config: pytest.Config) -> None:
    """Start the harness on first use; it stops when the pytest session ends."""
    global _stack, starts
    if _stack is not None:
        return
    from prefect.testing.utilities import prefect_test_harness

    stack = contextlib.ExitStack()
    stack.enter_context(prefect_test_harness(server_startup_timeout=120))
    _stack = stack
    starts += 1

    def stop() -> None:
        global _stack
        if _stack is not None:
            _stack.close()
            _stack = None

    config.add_cleanup(stop)


@pytest.fixture(scope="session")
def prefect_harness(pytestconfig: pytest.Config) -> None:
    ensure_harness(pytestconfig)


# ---------------------------------------------------------------------------------------------
# A small hotel for the flow tests
# ---------------------------------------------------------------------------------------------

SUPERVISOR_EMAIL = "supervisor@hotel.test"
GUEST_EMAIL = "guest@hotel.test"
LATE_EMPLOYEE = "emp-late"
SUPERVISOR = "sup-1"
HOUSEKEEPER = "hk-1"
READY_ROOM = "101"


async def seed_hotel(settings: object, *, shift_start: str = "08:00") -> dict[str, int]:
    """Employees with a shift and a supervisor, a housekeeper, a room being cleaned and a
    guest waiting for it today. ``settings``: a HubSettings with its secrets filled."""
    from datetime import timedelta
    from decimal import Decimal

    from hub.crypto import PiiCipher, bind_pii_cipher
    from hub.db import create_engine, create_session_factory, init_db
    from hub.settings import HubSettings
    from hub.tables import Booking, Employee, Guest, Room, ShiftSchedule, utcnow

    assert isinstance(settings, HubSettings)
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    try:
        await init_db(engine)
        async with create_session_factory(engine)() as session:
            session.add_all(
                [
                    Employee(employee_id=SUPERVISOR, name="Sup Ervisor", email=SUPERVISOR_EMAIL),
                    Employee(employee_id=LATE_EMPLOYEE, name="Lan Tran", department="front_desk"),
                    Employee(
                        employee_id=HOUSEKEEPER,
                        name="Hoa Le",
                        department="housekeeping",
                        shift_start="06:00",
                        shift_end="14:00",
                    ),
                ]
            )
            await session.flush()
            session.add(
                ShiftSchedule(
                    employee_id=LATE_EMPLOYEE,
                    start_time=shift_start,
                    end_time="16:00",
                    grace_minutes=5,
                    supervisor_employee_id=SUPERVISOR,
                )
            )
            room = Room(room_number=READY_ROOM, room_type="double", floor=1, status="cleaning")
            other = Room(room_number="102", room_type="double", floor=1, status="available")
            guest = Guest(full_name="Mai Pham", email=GUEST_EMAIL)
            session.add_all([room, other, guest])
            await session.flush()
            assert room.id is not None
            assert guest.id is not None
            today = utcnow().date()
            booking = Booking(
                booking_ref="BK-WAIT",
                guest_id=guest.id,
                room_id=room.id,
                check_in_date=today,
                check_out_date=today + timedelta(days=2),
                status="reserved",
                rate_per_night=Decimal(120),
            )
            session.add(booking)
            await session.commit()
            assert booking.id is not None
            return {"room_id": room.id, "guest_id": guest.id, "booking_id": booking.id}
    finally:
        await engine.dispose()
