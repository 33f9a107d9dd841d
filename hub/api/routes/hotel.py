"""``/api/v1/hotel``: the hotel's own data (issue 16) — room types, rooms, guests, bookings,
employees and shift schedules. Thin: the logic is hub/hotel.

Reading needs ``hotel:read``, writing ``hotel:write``; guests' and employees' personal fields
(e-mail, phone, date of birth, identity document, notes) come back in clear only with
``hotel:pii`` (else ``null``, with ``pii_redacted: true``). Single records answer an ``ETag``;
``PATCH`` (and ``DELETE`` of a shift, and a booking's status change) need ``If-Match`` with it:
428 without, 412 when the record changed meanwhile. A booking's status moves through the booking
flow's state machine: 409 names the statuses it may move to.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import (
    APIRouter,
    File,
    Header,
    HTTPException,
    Path,
    Query,
    Response,
    Security,
    UploadFile,
)
from pydantic import BaseModel, ConfigDict, Field

from contracts.ids import ID_PATTERN
from hub.api.auth import authorize
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.auth.principal import Principal
from hub.auth.scopes import Scope, grants
from hub.crypto import PiiCipher, cipher_for
from hub.flows.hooks import HubFlowHooks
from hub.flows.room import ROOM_STATUSES, StaleStatusError, UnknownRoomError
from hub.hotel import bookings, guests, rooms, staff
from hub.hotel.booking_status import STATUSES, allowed_from
from hub.hotel.csv_format import CsvFormatError
from hub.hotel.errors import HotelError
from hub.hotel.importer import ImportRefused
from hub.hotel.importer import import_csv as import_rows
from hub.hotel.validation import check_shift, shift_window
from hub.privacy.employment import employment_end_hook
from hub.tables import Employee, Guest, Room, RoomType, ShiftSchedule

router = APIRouter(prefix="/api/v1/hotel", tags=["hotel"])

Reader = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_READ])]
Writer = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_WRITE])]

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=512,
        description="the ETag of the version read; required on updates (428 without)",
    ),
    StorableText,
]


Code = Annotated[str, Field(min_length=1, max_length=32), StorableText]
RoomNumber = Annotated[str, Field(min_length=1, max_length=16), StorableText]
Ref = Annotated[str, Field(min_length=1, max_length=32), StorableText]
EmployeeId = Annotated[str, Field(pattern=ID_PATTERN, max_length=64), StorableText]
Name = Annotated[str, Field(min_length=1, max_length=200), StorableText]
Short = Annotated[str, Field(min_length=1, max_length=100), StorableText]
DocNumber = Annotated[str, Field(min_length=1, max_length=64), StorableText]
Notes = Annotated[str, Field(min_length=1, max_length=2000), StorableText]
Email = Annotated[str, Field(min_length=3, max_length=254), StorableText]
Phone = Annotated[str, Field(min_length=1, max_length=40), StorableText]
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Money10 = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)]
Money12 = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Floor = Annotated[int, Field(ge=-10, le=500)]
Capacity = Annotated[int, Field(ge=1, le=50)]
RoomStatus = Annotated[str, Field(max_length=16, description=" | ".join(ROOM_STATUSES))]

_FORBID = ConfigDict(extra="forbid")


CodePath = Annotated[str, Path(min_length=1, max_length=32), StorableText]
RoomPath = Annotated[str, Path(min_length=1, max_length=16), StorableText]
RefPath = Annotated[str, Path(min_length=1, max_length=32), StorableText]
EmployeePath = Annotated[str, Path(min_length=1, max_length=64), StorableText]
ShiftPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _run(work: Callable[[], Awaitable[T]]) -> T:
    """Runs hub/hotel logic; its errors become the API's 4xx naming the field."""
    try:
        return await work()
    except HotelError as err:
        raise HTTPException(err.status, detail=field_error(err.field, err.reason)) from err


def _set_etag(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag


def _cipher(runtime: Any) -> PiiCipher:
    return cipher_for(runtime.engine.dialect)


def _values(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True)


class PageOut(BaseModel):
    total: int
    limit: int
    offset: int


# -- room types ----------------------------------------------------------------------------------


class RoomTypeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "double",
                    "name": "Double room",
                    "capacity": 2,
                    "rack_rate": 120,
                    "price_floor": 80,
                    "price_ceiling": 220,
                }
            ]
        },
    )
    code: Code
    name: Short
    capacity: Capacity = 2
    rack_rate: Money10
    price_floor: Money10 | None = None
    price_ceiling: Money10 | None = None


class RoomTypePatch(BaseModel):
    model_config = _FORBID
    name: Short | None = None
    capacity: Capacity | None = None
    rack_rate: Money10 | None = None
    price_floor: Money10 | None = None
    price_ceiling: Money10 | None = None


class RoomTypeOut(BaseModel):
    code: str
    name: str
    capacity: int
    rack_rate: float
    price_floor: float | None
    price_ceiling: float | None
    updated_at: datetime
    etag: str

    @classmethod
    def of(cls, row: RoomType) -> RoomTypeOut:
        return cls(
            code=row.code,
            name=row.name,
            capacity=row.capacity,
            rack_rate=float(row.rack_rate),
            price_floor=None if row.price_floor is None else float(row.price_floor),
            price_ceiling=None if row.price_ceiling is None else float(row.price_ceiling),
            updated_at=row.updated_at,
            etag=rooms.room_type_etag(row),
        )


class RoomTypePage(PageOut):
    items: list[RoomTypeOut]


@router.get("/room-types", response_model=RoomTypePage)
async def list_room_types(
    session: Session, _caller: Reader, limit: Limit = 50, offset: Offset = 0
) -> RoomTypePage:
    found = await rooms.list_room_types(session, limit, offset)
    return RoomTypePage(
        items=[RoomTypeOut.of(r) for r in found.items],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.post("/room-types", response_model=RoomTypeOut, status_code=201)
async def create_room_type(
    body: RoomTypeIn, session: Session, caller: Writer, response: Response
) -> RoomTypeOut:
    row = await _run(lambda: rooms.create_room_type(session, body.model_dump(), caller.actor))
    out = RoomTypeOut.of(row)
    _set_etag(response, out.etag)
    return out


@router.get("/room-types/{code}", response_model=RoomTypeOut)
async def get_room_type(
    code: CodePath, session: Session, _caller: Reader, response: Response
) -> RoomTypeOut:
    out = RoomTypeOut.of(await _run(lambda: rooms.get_room_type(session, code)))
    _set_etag(response, out.etag)
    return out


@router.patch("/room-types/{code}", response_model=RoomTypeOut)
async def update_room_type(
    code: CodePath,
    body: RoomTypePatch,
    session: Session,
    caller: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> RoomTypeOut:
    row = await _run(
        lambda: rooms.update_room_type(session, code, _values(body), if_match, caller.actor)
    )
    out = RoomTypeOut.of(row)
    _set_etag(response, out.etag)
    return out


# -- rooms ----------------------------------------------------------------------------------------


class RoomIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"room_number": "101", "room_type": "double", "floor": 1}],
        },
    )
    room_number: RoomNumber
    room_type: Code
    floor: Floor
    status: RoomStatus = "available"
    capacity: Capacity | None = Field(default=None, description="default: the room type's")
    base_rate: Money10 | None = Field(default=None, description="default: the rack rate")
    amenities: list[Short] = Field(default_factory=list, max_length=50)


class RoomPatch(BaseModel):
    model_config = _FORBID
    room_type: Code | None = None
    floor: Floor | None = None
    status: RoomStatus | None = Field(
        default=None, description="applied by the room flow: a ready room notifies its guest"
    )
    capacity: Capacity | None = None
    base_rate: Money10 | None = None
    amenities: list[Short] | None = Field(default=None, max_length=50)


class RoomOut(BaseModel):
    room_number: str
    room_type: str
    floor: int
    status: str
    capacity: int
    base_rate: float
    amenities: list[str]
    updated_at: datetime
    etag: str

    @classmethod
    def of(cls, row: Room) -> RoomOut:
        return cls(
            room_number=row.room_number,
            room_type=row.room_type,
            floor=row.floor,
            status=row.status,
            capacity=row.capacity,
            base_rate=float(row.base_rate),
            amenities=list(row.amenities),
            updated_at=row.updated_at,
            etag=rooms.room_etag(row),
        )


class RoomPage(PageOut):
    items: list[RoomOut]


@router.get("/rooms", response_model=RoomPage)
async def list_rooms(
    session: Session,
    _caller: Reader,
    status: Annotated[str | None, Query(max_length=16), StorableText] = None,
    room_type: Annotated[str | None, Query(max_length=32), StorableText] = None,
    floor: Annotated[int | None, Query(ge=-10, le=500)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RoomPage:
    found = await _run(
        lambda: rooms.list_rooms(
            session, status=status, room_type=room_type, floor=floor, limit=limit, offset=offset
        )
    )
    return RoomPage(
        items=[RoomOut.of(r) for r in found.items], total=found.total, limit=limit, offset=offset
    )


@router.post("/rooms", response_model=RoomOut, status_code=201)
async def create_room(
    body: RoomIn, session: Session, caller: Writer, response: Response
) -> RoomOut:
    out = RoomOut.of(
        await _run(lambda: rooms.create_room(session, body.model_dump(), caller.actor))
    )
    _set_etag(response, out.etag)
    return out


@router.get("/rooms/{room_number}", response_model=RoomOut)
async def get_room(
    room_number: RoomPath, session: Session, _caller: Reader, response: Response
) -> RoomOut:
    out = RoomOut.of(await _run(lambda: rooms.get_room(session, room_number)))
    _set_etag(response, out.etag)
    return out


@router.patch("/rooms/{room_number}", response_model=RoomOut)
async def update_room(
    room_number: RoomPath,
    body: RoomPatch,
    session: Session,
    runtime: Runtime,
    caller: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> RoomOut:
    """A status change goes through the room flow (``/events/room_status``'s path): audited
    with who and when, and a room that became ready notifies the guest waiting for it."""
    values = _values(body)
    status = values.pop("status", None)
    new_status = None if status is None else await _run(_async(rooms.check_room_status, status))
    row = await _run(
        lambda: rooms.update_room(session, room_number, values, if_match, caller.actor)
    )
    if new_status is not None and new_status != row.status:
        hooks = runtime.flow_hooks
        if not isinstance(hooks, HubFlowHooks):
            raise HTTPException(503, detail="the flow hooks are not running: status not changed")
        try:
            await hooks.apply_room_status(
                room_number,
                row.status,
                new_status,
                updated_by=caller.actor,
                at=datetime.now().astimezone(),
                actor=caller.actor,
            )
        except UnknownRoomError as err:
            raise HTTPException(404, detail=field_error("room_number", str(err))) from err
        except StaleStatusError as err:
            raise HTTPException(412, detail=field_error("If-Match", str(err))) from err
        await session.refresh(row)
    out = RoomOut.of(row)
    _set_etag(response, out.etag)
    return out


def _async(function: Callable[[str], T], value: str) -> Callable[[], Awaitable[T]]:
    async def call() -> T:
        return function(value)

    return call


# -- guests ---------------------------------------------------------------------------------------


class GuestIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "guest_ref": "GUEST001",
                    "full_name": "Nguyen Van A",
                    "email": "a.nguyen@example.com",
                    "nationality": "VN",
                }
            ]
        },
    )
    guest_ref: Ref
    full_name: Name
    email: Email | None = None
    phone: Phone | None = None
    nationality: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    date_of_birth: date | None = None
    id_document_type: Code | None = None
    id_document_number: DocNumber | None = None
    vip: bool = False
    loyalty_tier: Code | None = None
    notes: Notes | None = None


class GuestPatch(BaseModel):
    model_config = _FORBID
    full_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    nationality: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    date_of_birth: date | None = None
    id_document_type: Code | None = None
    id_document_number: DocNumber | None = None
    vip: bool | None = None
    loyalty_tier: Code | None = None
    notes: Notes | None = None


class GuestOut(BaseModel):
    guest_ref: str | None
    full_name: str
    email: str | None
    phone: str | None
    nationality: str | None
    date_of_birth: date | None
    id_document_type: str | None
    id_document_number: str | None
    vip: bool
    loyalty_tier: str | None
    notes: str | None
    pii_redacted: bool = Field(description="personal fields hidden: the caller lacks hotel:pii")
    updated_at: datetime
    etag: str

    @classmethod
    def of(cls, row: Guest, caller: Principal) -> GuestOut:
        clear = grants(caller.scopes, Scope.HOTEL_PII)
        fields = row.model_dump(include=set(cls.model_fields) - {"pii_redacted", "etag"})
        if not clear:
            fields.update(dict.fromkeys(guests.PII_FIELDS))
        return cls(**fields, pii_redacted=not clear, etag=guests.guest_etag(row))


class GuestPage(PageOut):
    items: list[GuestOut]


@router.get("/guests", response_model=GuestPage)
async def list_guests(
    session: Session,
    runtime: Runtime,
    caller: Reader,
    email: Annotated[
        str | None,
        Query(max_length=254, description="exact address (case and spaces ignored)"),
        StorableText,
    ] = None,
    vip: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> GuestPage:
    """``email`` finds guests through the blind index (the address is never compared or
    stored in clear)."""
    found = await guests.list_guests(
        session, _cipher(runtime), email=email, vip=vip, limit=limit, offset=offset
    )
    return GuestPage(
        items=[GuestOut.of(g, caller) for g in found.items],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.post("/guests", response_model=GuestOut, status_code=201)
async def create_guest(
    body: GuestIn, session: Session, runtime: Runtime, caller: Writer, response: Response
) -> GuestOut:
    row = await _run(
        lambda: guests.create_guest(session, body.model_dump(), _cipher(runtime), caller.actor)
    )
    out = GuestOut.of(row, caller)
    _set_etag(response, out.etag)
    return out


@router.get("/guests/{guest_ref}", response_model=GuestOut)
async def get_guest(
    guest_ref: RefPath, session: Session, caller: Reader, response: Response
) -> GuestOut:
    out = GuestOut.of(await _run(lambda: guests.get_guest(session, guest_ref)), caller)
    _set_etag(response, out.etag)
    return out


@router.patch("/guests/{guest_ref}", response_model=GuestOut)
async def update_guest(
    guest_ref: RefPath,
    body: GuestPatch,
    session: Session,
    runtime: Runtime,
    caller: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> GuestOut:
    row = await _run(
        lambda: guests.update_guest(
            session, guest_ref, _values(body), if_match, _cipher(runtime), caller.actor
        )
    )
    out = GuestOut.of(row, caller)
    _set_etag(response, out.etag)
    return out


# -- bookings -------------------------------------------------------------------------------------

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Count = Annotated[int, Field(ge=0, le=20)]


class BookingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "booking_ref": "BOOK001",
                    "guest_ref": "GUEST001",
                    "check_in_date": "2026-12-20",
                    "check_out_date": "2026-12-23",
                    "room_type": "double",
                    "room_number": "101",
                    "rate_per_night": 120,
                    "channel": "direct",
                    "segment": "Direct",
                    "deposit": 100,
                }
            ]
        },
    )
    booking_ref: Ref
    guest_ref: Ref
    check_in_date: date
    check_out_date: date
    room_type: Code | None = Field(default=None, description="default: the room's type")
    room_number: RoomNumber | None = None
    rate_per_night: Money10 | None = None
    total_amount: Money12 | None = Field(default=None, description="default: rate x nights")
    currency: Currency = "USD"
    channel: Code = "direct"
    segment: Code | None = None
    deposit: Money12 | None = None
    adults: Annotated[int, Field(ge=1, le=20)] = 1
    children: Count = 0


class BookingPatch(BaseModel):
    model_config = _FORBID
    check_in_date: date | None = None
    check_out_date: date | None = None
    room_type: Code | None = None
    room_number: RoomNumber | None = Field(default=None, description="null: unassign the room")
    rate_per_night: Money10 | None = None
    total_amount: Money12 | None = None
    currency: Currency | None = None
    channel: Code | None = None
    segment: Code | None = None
    deposit: Money12 | None = None
    adults: Annotated[int, Field(ge=1, le=20)] | None = None
    children: Count | None = None


class StatusIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "checked_in"}]}
    )
    status: Annotated[str, Field(max_length=16, description=" | ".join((*STATUSES, "booked")))]


class BookingOut(BaseModel):
    booking_ref: str
    guest_ref: str | None
    room_number: str | None
    room_type: str | None
    check_in_date: date
    check_out_date: date
    status: str = Field(description="reserved (booked) | checked_in | checked_out | ...")
    allowed_next: list[str] = Field(description="the statuses it may move to")
    rate_per_night: float
    total_amount: float
    currency: str
    channel: str
    segment: str | None
    deposit: float | None
    adults: int
    children: int
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    updated_at: datetime
    etag: str

    @classmethod
    def of(cls, view: bookings.BookingView) -> BookingOut:
        row = view.booking
        return cls(
            booking_ref=row.booking_ref,
            guest_ref=view.guest_ref,
            room_number=view.room_number,
            room_type=row.room_type,
            check_in_date=row.check_in_date,
            check_out_date=row.check_out_date,
            status=row.status,
            allowed_next=list(allowed_from(row.status)),
            rate_per_night=float(row.rate_per_night),
            total_amount=float(row.total_amount),
            currency=row.currency,
            channel=row.channel,
            segment=row.segment,
            deposit=None if row.deposit is None else float(row.deposit),
            adults=row.adults,
            children=row.children,
            checked_in_at=row.checked_in_at,
            checked_out_at=row.checked_out_at,
            updated_at=row.updated_at,
            etag=view.etag,
        )


class BookingPage(PageOut):
    items: list[BookingOut]


class StatusOut(BookingOut):
    previous_status: str


@router.get("/bookings", response_model=BookingPage)
async def list_bookings(
    session: Session,
    _caller: Reader,
    status: Annotated[str | None, Query(max_length=16), StorableText] = None,
    guest_ref: Annotated[str | None, Query(max_length=32), StorableText] = None,
    room_number: Annotated[str | None, Query(max_length=16), StorableText] = None,
    channel: Annotated[str | None, Query(max_length=32), StorableText] = None,
    stay_from: Annotated[date | None, Query(description="stays with a night on or after")] = None,
    stay_to: Annotated[date | None, Query(description="stays with a night before")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> BookingPage:
    found = await bookings.list_bookings(
        session,
        status=status,
        guest_ref=guest_ref,
        room_number=room_number,
        channel=channel,
        stay_from=stay_from,
        stay_to=stay_to,
        limit=limit,
        offset=offset,
    )
    return BookingPage(
        items=[BookingOut.of(v) for v in found.items],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.post("/bookings", response_model=BookingOut, status_code=201)
async def create_booking(
    body: BookingIn, session: Session, caller: Writer, response: Response
) -> BookingOut:
    """409 when the room is booked on one of the nights (or the id exists)."""
    view = await _run(lambda: bookings.create_booking(session, body.model_dump(), caller.actor))
    out = BookingOut.of(view)
    _set_etag(response, out.etag)
    return out


@router.get("/bookings/{booking_ref}", response_model=BookingOut)
async def get_booking(
    booking_ref: RefPath, session: Session, _caller: Reader, response: Response
) -> BookingOut:
    out = BookingOut.of(await _run(lambda: bookings.get_booking(session, booking_ref)))
    _set_etag(response, out.etag)
    return out


@router.patch("/bookings/{booking_ref}", response_model=BookingOut)
async def update_booking(
    booking_ref: RefPath,
    body: BookingPatch,
    session: Session,
    caller: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> BookingOut:
    view = await _run(
        lambda: bookings.update_booking(session, booking_ref, _values(body), if_match, caller.actor)
    )
    out = BookingOut.of(view)
    _set_etag(response, out.etag)
    return out


@router.post("/bookings/{booking_ref}/status", response_model=StatusOut)
async def change_booking_status(
    booking_ref: RefPath,
    body: StatusIn,
    runtime: Runtime,
    caller: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> StatusOut:
    """booked (reserved) -> checked_in -> checked_out; booked -> cancelled | no_show. Applied
    by the booking flow (the room becomes occupied / to be cleaned); 409 lists the allowed."""
    view, previous = await _run(
        lambda: bookings.change_status(
            runtime.session_factory, booking_ref, body.status, if_match, caller.actor
        )
    )
    out = StatusOut(**BookingOut.of(view).model_dump(), previous_status=previous)
    _set_etag(response, out.etag)
    return out


# -- employees ------------------------------------------------------------------------------------


class EmployeeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "employee_id": "EMP001",
                    "name": "Tran Thi B",
                    "department": "front_office",
                    "position": "receptionist",
                    "attendance_camera": True,
                }
            ]
        },
    )
    employee_id: EmployeeId
    name: Name
    department: Short | None = None
    position: Short | None = Field(default=None, description="the employee's role")
    email: Email | None = None
    phone: Phone | None = None
    is_active: bool = True
    attendance_camera: bool = Field(
        default=False, description="opted in to attendance by camera (else PIN or badge)"
    )


class EmployeePatch(BaseModel):
    model_config = _FORBID
    name: Name | None = None
    department: Short | None = None
    position: Short | None = None
    email: Email | None = None
    phone: Phone | None = None
    is_active: bool | None = None
    attendance_camera: bool | None = None


class EmployeeOut(BaseModel):
    employee_id: str
    name: str
    department: str | None
    position: str | None
    email: str | None
    phone: str | None
    is_active: bool
    attendance_camera: bool
    face_consent_at: datetime | None
    non_biometric_checkin: bool = Field(
        description="face consent withdrawn: checks in by PIN / badge only (hub/privacy/consent)"
    )
    pii_redacted: bool
    updated_at: datetime
    etag: str

    @classmethod
    def of(cls, row: Employee, caller: Principal) -> EmployeeOut:
        clear = grants(caller.scopes, Scope.HOTEL_PII)
        fields = row.model_dump(include=set(cls.model_fields) - {"pii_redacted", "etag"})
        if not clear:
            fields.update(dict.fromkeys(staff.EMPLOYEE_PII_FIELDS))
        return cls(**fields, pii_redacted=not clear, etag=staff.employee_etag(row))


class EmployeePage(PageOut):
    items: list[EmployeeOut]


@router.get("/employees", response_model=EmployeePage)
async def list_employees(
    session: Session,
    caller: Reader,
    department: Annotated[str | None, Query(max_length=100), StorableText] = None,
    is_active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EmployeePage:
    found = await staff.list_employees(
        session, department=department, is_active=is_active, limit=limit, offset=offset
    )
    return EmployeePage(
        items=[EmployeeOut.of(e, caller) for e in found.items],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.post("/employees", response_model=EmployeeOut, status_code=201)
async def create_employee(
    body: EmployeeIn, session: Session, caller: Writer, response: Response
) -> EmployeeOut:
    row = await _run(lambda: staff.create_employee(session, body.model_dump(), caller.actor))
    out = EmployeeOut.of(row, caller)
    _set_etag(response, out.etag)
    return out


@router.get("/employees/{employee_id}", response_model=EmployeeOut)
async def get_employee(
    employee_id: EmployeePath, session: Session, caller: Reader, response: Response
) -> EmployeeOut:
    out = EmployeeOut.of(await _run(lambda: staff.get_employee(session, employee_id)), caller)
    _set_etag(response, out.etag)
    return out


@router.patch("/employees/{employee_id}", response_model=EmployeeOut)
async def update_employee(
    employee_id: EmployeePath,
    body: EmployeePatch,
    session: Session,
    caller: Writer,
    response: Response,
    runtime: Runtime,
    if_match: IfMatch = None,
) -> EmployeeOut:
    # the end of employment deletes the face templates (issue 17, hub/privacy/employment.py)
    ended = employment_end_hook(runtime.gallery, runtime.session_factory, caller.actor)
    row = await _run(
        lambda: staff.update_employee(
            session, employee_id, _values(body), if_match, caller.actor, ended
        )
    )
    out = EmployeeOut.of(row, caller)
    _set_etag(response, out.etag)
    return out


# -- shift schedules ------------------------------------------------------------------------------

Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
Grace = Annotated[int, Field(ge=0, le=240)]


class ShiftIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"employee_id": "EMP001", "weekday": 0, "start_time": "22:00", "end_time": "06:00"},
                {
                    "employee_id": "EMP001",
                    "shift_date": "2026-12-24",
                    "start_time": "08:00",
                    "end_time": "16:00",
                },
            ]
        },
    )
    employee_id: EmployeeId
    weekday: Weekday | None = Field(default=None, description="null (and no date): every day")
    shift_date: date | None = Field(default=None, description="a one-off shift on this date")
    start_time: HHMM
    end_time: HHMM = Field(description="before start_time: the shift ends the next day")
    grace_minutes: Grace | None = None
    supervisor_employee_id: EmployeeId | None = None


class ShiftPatch(BaseModel):
    model_config = _FORBID
    weekday: Weekday | None = None
    shift_date: date | None = None
    start_time: HHMM | None = None
    end_time: HHMM | None = None
    grace_minutes: Grace | None = None
    supervisor_employee_id: EmployeeId | None = None


class ShiftOut(BaseModel):
    shift_id: int
    employee_id: str
    weekday: int | None
    shift_date: date | None
    start_time: str
    end_time: str
    overnight: bool
    timezone: str = Field(description="the hotel's: the times are local to it")
    starts_at: datetime | None = Field(description="a one-off shift's start, with its offset")
    ends_at: datetime | None
    grace_minutes: int | None
    supervisor_employee_id: str | None
    updated_at: datetime
    etag: str

    @classmethod
    def of(cls, row: ShiftSchedule, timezone: str) -> ShiftOut:
        assert row.id is not None  # noqa: S101 - a stored row
        window = (
            shift_window(row.shift_date, row.start_time, row.end_time, timezone)
            if row.shift_date is not None
            else None
        )
        return cls(
            shift_id=row.id,
            employee_id=row.employee_id,
            weekday=row.weekday,
            shift_date=row.shift_date,
            start_time=row.start_time,
            end_time=row.end_time,
            overnight=check_shift(row.start_time, row.end_time),
            timezone=timezone,
            starts_at=window[0] if window else None,
            ends_at=window[1] if window else None,
            grace_minutes=row.grace_minutes,
            supervisor_employee_id=row.supervisor_employee_id,
            updated_at=row.updated_at,
            etag=staff.shift_etag(row),
        )


class ShiftPage(PageOut):
    items: list[ShiftOut]


@router.get("/shifts", response_model=ShiftPage)
async def list_shifts(
    session: Session,
    runtime: Runtime,
    _caller: Reader,
    employee_id: Annotated[str | None, Query(max_length=64), StorableText] = None,
    on: Annotated[date | None, Query(description="the shifts that apply on this day")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ShiftPage:
    found = await staff.list_shifts(
        session, employee_id=employee_id, on=on, limit=limit, offset=offset
    )
    zone = runtime.settings.timezone
    return ShiftPage(
        items=[ShiftOut.of(s, zone) for s in found.items],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.post("/shifts", response_model=ShiftOut, status_code=201)
async def create_shift(
    body: ShiftIn, session: Session, runtime: Runtime, caller: Writer, response: Response
) -> ShiftOut:
    row = await _run(lambda: staff.create_shift(session, body.model_dump(), caller.actor))
    out = ShiftOut.of(row, runtime.settings.timezone)
    _set_etag(response, out.etag)
    return out


@router.get("/shifts/{shift_id}", response_model=ShiftOut)
async def get_shift(
    shift_id: ShiftPath, session: Session, runtime: Runtime, _caller: Reader, response: Response
) -> ShiftOut:
    row = await _run(lambda: staff.get_shift(session, shift_id))
    out = ShiftOut.of(row, runtime.settings.timezone)
    _set_etag(response, out.etag)
    return out


@router.patch("/shifts/{shift_id}", response_model=ShiftOut)
async def update_shift(
    shift_id: ShiftPath,
    body: ShiftPatch,
    session: Session,
    runtime: Runtime,
    caller: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> ShiftOut:
    row = await _run(
        lambda: staff.update_shift(session, shift_id, _values(body), if_match, caller.actor)
    )
    out = ShiftOut.of(row, runtime.settings.timezone)
    _set_etag(response, out.etag)
    return out


@router.delete("/shifts/{shift_id}", status_code=204)
async def delete_shift(
    shift_id: ShiftPath, session: Session, caller: Writer, if_match: IfMatch = None
) -> Response:
    await _run(lambda: staff.delete_shift(session, shift_id, if_match, caller.actor))
    return Response(status_code=204)


# -- CSV import -----------------------------------------------------------------------------------

ImportKind = Literal["bookings", "rooms", "employees", "shifts"]


class RejectedOut(BaseModel):
    line: int
    reason: str


class ImportOut(BaseModel):
    kind: str
    schema_name: str = Field(description="generic | hotel_booking_demand")
    delimiter: str
    date_format: str | None = Field(description="the dates' format, detected or given")
    rows: int
    created: int
    updated: int
    unchanged: int
    rejected: list[RejectedOut]
    rejected_csv: str | None = Field(description="with skip_bad_rows: the rejected rows")
    committed: bool
    extra: dict[str, int]


def _mapping(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise HTTPException(
            422, detail=field_error("mapping", 'a JSON object {"our_column": "file column"}')
        )
    return value


@router.post("/import/{kind}", response_model=ImportOut)
async def import_csv(
    kind: ImportKind,
    file: Annotated[UploadFile, File(description="the CSV (UTF-8, comma or semicolon)")],
    runtime: Runtime,
    caller: Writer,
    date_format: Annotated[
        Literal["iso", "mdy", "dmy"] | None,
        Query(description="needed when the file's dates are ambiguous (M/D or D/M)"),
    ] = None,
    skip_bad_rows: bool = False,
    mapping: Annotated[
        str | None,
        Query(max_length=4000, description='JSON {"our_column": "file column"}'),
        StorableText,
    ] = None,
) -> ImportOut:
    """One transaction: every row or none (422 naming each bad line), unless
    ``skip_bad_rows`` (the good rows; the bad ones back in ``rejected_csv``). Natural keys make
    a re-import of the same file change nothing. docs/hotel.md has the columns per kind."""
    columns = _mapping(mapping)
    data = await file.read()
    try:
        result = await import_rows(
            runtime.session_factory,
            kind,
            data,
            actor=caller.actor,
            cipher=_cipher(runtime),
            date_format=date_format,
            mapping=columns,
            skip_bad_rows=skip_bad_rows,
        )
    except CsvFormatError as err:
        raise HTTPException(422, detail=field_error("file", str(err))) from err
    except ImportRefused as err:
        raise HTTPException(
            422,
            detail=[
                {"field": f"line {line}", "reason": reason} for line, reason in err.result.rejected
            ],
        ) from err
    return ImportOut(
        kind=result.kind,
        schema_name=result.schema,
        delimiter=result.delimiter,
        date_format=result.date_format,
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=[RejectedOut(line=line, reason=reason) for line, reason in result.rejected],
        rejected_csv=result.rejected_csv,
        committed=result.committed,
        extra=result.extra,
    )
