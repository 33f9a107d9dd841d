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

# Only a face the edge found live counts: ``unchecked`` (liveness off, or not decided yet) and
# ``spoof`` do not (issue 17: a printed photo must not check anyone in).
LIVE_VERDICT = "live"
SPOOF_VERDICT = "spoof"


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
    # an explicit check_in / check_out (``/events/attendance``); None: a camera sighting,
    # whose role (check-in or check-out) follows from the day's other sightings
    action: str | None = None
    confidence: float | None = None
    entered_by: str | None = None  # who entered a pin/badge/manual sighting (an actor)


class NoCheckInError(ValueError):
    """An explicit check-out with no check-in to close, or one before that check-in."""


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
    """A recognised face the edge found ``live``, at a camera listed for attendance. No
    cameras listed: no face attendance at all (an explicit opt-in, never "every camera")."""
    if kind != "face" or not person_id:
        return False
    if liveness != LIVE_VERDICT:
        return False
    return camera_id in cameras


def retracts_attendance(kind: str, liveness: str | None) -> bool:
    """A face event whose track turned out to be a spoof: the check-in it produced (if any)
    is taken back, whatever camera it came from."""
    return kind == "face" and liveness == SPOOF_VERDICT


def refold(
    sightings: Collection[Sighting],
    *,
    shift_start: datetime | None,
    grace_minutes: int,
    debounce_s: float,
) -> Decision | None:
    """The day's record rebuilt from the sightings that still count (after a retraction);
    None when none is left (the record goes)."""
    record: DayRecord | None = None
    decision: Decision | None = None
    for sighting in sorted(sightings, key=lambda s: (s.first_seen, s.last_seen)):
        decision = fold(
            record,
            sighting,
            shift_start=shift_start,
            grace_minutes=grace_minutes,
            debounce_s=debounce_s,
        )
        record = decision.record
    return decision


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
    if sighting.action == "check_out":
        return _close(record, last, shift_start, grace_minutes)
    if sighting.action == "check_in":
        return _open(record, first, shift_start, grace_minutes)
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


def _decide(
    record: DayRecord | None,
    check_in: datetime,
    check_out: datetime | None,
    shift_start: datetime | None,
    grace_minutes: int,
) -> Decision:
    late = minutes_late(check_in, shift_start, grace_minutes) if shift_start is not None else 0
    new = DayRecord(check_in, check_out, "late" if late > 0 else "present")
    return Decision(
        record=new,
        minutes_late=late,
        created=record is None,
        check_in_moved=record is not None and check_in < record.check_in_at,
        changed=record != new,
    )


def _open(
    record: DayRecord | None, at: datetime, shift_start: datetime | None, grace_minutes: int
) -> Decision:
    """An explicit check-in: the earliest one counts; the check-out is left as it is."""
    check_in = at if record is None else min(record.check_in_at, at)
    check_out = record.check_out_at if record is not None else None
    return _decide(record, check_in, check_out, shift_start, grace_minutes)


def _close(
    record: DayRecord | None, at: datetime, shift_start: datetime | None, grace_minutes: int
) -> Decision:
    """An explicit check-out closes the day's record (the latest one counts)."""
    if record is None:
        raise NoCheckInError("no check-in on that day to close")
    if at < record.check_in_at:
        raise NoCheckInError(
            f"the check-out is before the day's check-in at {record.check_in_at.isoformat()}"
        )
    check_out = at if record.check_out_at is None else max(record.check_out_at, at)
    return _decide(record, record.check_in_at, check_out, shift_start, grace_minutes)


ShiftWhen = int | date | None
"""When a shift applies: a date (a one-off shift), a weekday 0-6 (weekly) or None (every day)."""


def pick_shift(shifts: Collection[tuple[ShiftWhen, Shift]], day: date) -> Shift | None:
    """The shift of a day: a one-off shift on that date wins over the weekday's weekly shift,
    which wins over an every-day one; a one-off shift on another date never applies."""
    for wanted in (day, day.weekday(), None):
        found = [
            s
            for when, s in shifts
            if when == wanted and isinstance(when, date) == isinstance(wanted, date)
        ]
        if found:
            return found[0]
    return None


def resolve_day(
    seen: datetime, shifts: Collection[tuple[ShiftWhen, Shift]], tz: ZoneInfo
) -> tuple[date, Shift | None]:
    """The shift day of a sighting and that day's shift (an overnight shift of the previous
    day claims early-morning sightings)."""
    today = seen.astimezone(tz).date()
    yesterday = today - timedelta(days=1)
    previous = pick_shift(shifts, yesterday)
    current = pick_shift(shifts, today)
    if previous is not None and work_date_of(seen, previous, tz) == yesterday:
        if current is None:
            return yesterday, previous
        # both could claim it: the nearer of last night's end and today's start wins
        since_end = seen - datetime.combine(today, previous.end, tzinfo=tz)
        until_start = shift_start_at(today, current, tz) - seen
        if abs(since_end) <= abs(until_start):
            return yesterday, previous
    return today, current
