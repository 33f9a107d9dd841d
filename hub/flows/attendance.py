"""Attendance from face sightings (pure): which sightings count, which shift day they belong
to, check-in/check-out (first and last sighting, debounced) and lateness.

A sighting is one face event (one appearance at a camera): its first and last time. Folding a
sighting into the day's record is idempotent and order-free (min of check-ins, max of
check-outs), so a redelivered or late message never moves a record twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# A sighting up to this long after an overnight shift's end still belongs to that shift.
OVERNIGHT_SLACK = timedelta(hours=4)

LIVE_VERDICTS_REFUSED = frozenset({"spoof"})


def parse_hhmm(text: str) -> time:
    match = _HHMM.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time of day HH:MM (00:00..23:59)")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class Shift:
    start: time
    end: time
    grace_minutes: int = 5
    supervisor_id: str | None = None

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True, slots=True)
class Sighting:
    event_id: str
    employee_id: str
    camera_id: str
    first_seen: datetime
    last_seen: datetime
    method: str = "face"  # face | pin | badge | manual
    link_event: bool = True  # event_id names a row of ``events``


@dataclass(frozen=True, slots=True)
class DayRecord:
    check_in_at: datetime
    check_out_at: datetime | None
    status: str


@dataclass(frozen=True, slots=True)
class Decision:
    record: DayRecord
    minutes_late: int
    created: bool
    check_in_moved: bool
    changed: bool


def counts_for_attendance(
    kind: str,
    person_id: str | None,
    liveness: str | None,
    camera_id: str,
    cameras: Collection[str],
) -> bool:
    """A recognised face whose liveness did not fail, at an entrance camera (any camera when
    none are configured)."""
    if kind != "face" or not person_id:
        return False
    if liveness is not None and liveness in LIVE_VERDICTS_REFUSED:
        return False
    return not cameras or camera_id in cameras


def work_date_of(seen: datetime, shift: Shift | None, tz: ZoneInfo) -> date:
    """The day of the shift a sighting belongs to: its local date, except early-morning
    sightings of an overnight shift, which close the previous day's shift."""
    local = seen.astimezone(tz)
    if shift is not None and shift.overnight:
        end = datetime.combine(local.date(), shift.end, tzinfo=tz)
        if local <= end + OVERNIGHT_SLACK and local.time() < shift.start:
            return local.date() - timedelta(days=1)
    return local.date()


def shift_start_at(work_date: date, shift: Shift, tz: ZoneInfo) -> datetime:
    return datetime.combine(work_date, shift.start, tzinfo=tz)


def minutes_late(check_in: datetime, start: datetime, grace_minutes: int) -> int:
    """Whole minutes after the shift start (rounded up) when past the grace period, else 0."""
    late = (check_in - start).total_seconds() / 60.0
    if late <= grace_minutes:
        return 0
    return math.ceil(late)


def fold(
    record: DayRecord | None,
    sighting: Sighting,
    *,
    shift_start: datetime | None,
    grace_minutes: int,
    debounce_s: float,
) -> Decision:
    """The day's record after one more sighting.

    Check-in is the earliest sighting; check-out the latest one at least ``debounce_s`` after
    the check-in (a person walking in and lingering at the door does not check out).
    """
    first = min(sighting.first_seen, sighting.last_seen)
    last = max(sighting.first_seen, sighting.last_seen)
    if record is None:
        check_in = first
        latest: datetime | None = last
    else:
        check_in = min(record.check_in_at, first)
        # the old check-in is a sighting too: it may become the check-out of an earlier one
        latest = max(d for d in (record.check_in_at, record.check_out_at, last) if d is not None)
    check_out = (
        latest
        if latest is not None and (latest - check_in).total_seconds() >= (debounce_s)
        else None
    )
    if record is not None and check_out is None:
        check_out = record.check_out_at
    late = minutes_late(check_in, shift_start, grace_minutes) if shift_start is not None else 0
    status = "late" if late > 0 else "present"
    new = DayRecord(check_in_at=check_in, check_out_at=check_out, status=status)
    return Decision(
        record=new,
        minutes_late=late,
        created=record is None,
        check_in_moved=record is not None and check_in < record.check_in_at,
        changed=record != new,
    )


def pick_shift(shifts: Collection[tuple[int | None, Shift]], weekday: int) -> Shift | None:
    """The shift for a weekday: a weekday-specific one wins over an every-day one."""
    specific = [s for day, s in shifts if day == weekday]
    if specific:
        return specific[0]
    general = [s for day, s in shifts if day is None]
    return general[0] if general else None


def resolve_day(
    seen: datetime, shifts: Collection[tuple[int | None, Shift]], tz: ZoneInfo
) -> tuple[date, Shift | None]:
    """The shift day of a sighting and that day's shift (an overnight shift of the previous
    day claims early-morning sightings)."""
    today = seen.astimezone(tz).date()
    yesterday = today - timedelta(days=1)
    previous = pick_shift(shifts, yesterday.weekday())
    current = pick_shift(shifts, today.weekday())
    if previous is not None and work_date_of(seen, previous, tz) == yesterday:
        if current is None:
            return yesterday, previous
        # both could claim it: the nearer of last night's end and today's start wins
        since_end = seen - datetime.combine(today, previous.end, tzinfo=tz)
        until_start = shift_start_at(today, current, tz) - seen
        if abs(since_end) <= abs(until_start):
            return yesterday, previous
    return today, current
