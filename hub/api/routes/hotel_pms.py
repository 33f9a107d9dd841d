"""``/api/v1/hotel/pms``: PMS sync (issue 16 item 3). Thin: the logic is hub/hotel/pms.py
(upserts) and hub/hotel/pms_webhook.py (signature, window, replay guard).

``PUT /pms/{bookings|guests|rooms}/{pms_id}`` (``hotel:write``) upserts the record the PMS
calls ``pms_id``; the body carries the PMS's ``modified_at``: an older one than stored is a 409
naming the stored time, the same body again answers ``unchanged``. ``POST /pms/webhook`` takes
the same upserts signed with the shared secret instead of a bearer token (a stale one answers
200 ``stale`` and is ignored, so that the PMS does not retry it). docs/api/hotel_pms.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hub.api.deps import Runtime
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.api.routes.hotel import (
    Capacity,
    Code,
    Count,
    Currency,
    Floor,
    GuestPatch,
    Money10,
    Money12,
    Name,
    RoomNumber,
    RoomStatus,
    Short,
    Writer,
    _cipher,
    _run,
)
from hub.flows.hooks import HubFlowHooks
from hub.flows.room import StaleStatusError, UnknownRoomError
from hub.hotel import pms, pms_webhook
from hub.hotel.booking_status import STATUSES
from hub.hotel.errors import HotelError

router = APIRouter(prefix="/api/v1/hotel/pms", tags=["hotel"])

PMS_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,31}$"
PmsIdPath = Annotated[
    str,
    Path(pattern=PMS_ID_PATTERN, description="the PMS's own id of the record"),
]
PmsId = Annotated[str, Field(pattern=PMS_ID_PATTERN)]
MAX_WEBHOOK_BYTES = 256 * 1024
WEBHOOK_ACTOR = "pms-webhook"
Modified = Annotated[
    datetime,
    Field(description="the PMS's modification time of this version, with its offset"),
]


class PmsGuestIn(GuestPatch):
    """A guest as the PMS has it: ``GuestPatch``'s fields, the name required."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "modified_at": "2026-12-07T09:30:00+07:00",
                    "full_name": "Nguyen Van A",
                    "email": "a.nguyen@example.com",
                    "nationality": "VN",
                }
            ]
        },
    )
    modified_at: Modified
    full_name: Name


class PmsRoomIn(BaseModel):
    """A room as the PMS has it; status and amenities as stored when absent."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "modified_at": "2026-12-07T09:30:00+07:00",
                    "room_number": "101",
                    "room_type": "double",
                    "floor": 1,
                    "status": "available",
                }
            ]
        },
    )
    modified_at: Modified
    room_number: RoomNumber
    room_type: Code
    floor: Floor
    status: RoomStatus | None = Field(
        default=None, description="applied by the room flow: a ready room notifies its guest"
    )
    capacity: Capacity | None = None
    base_rate: Money10 | None = None
    amenities: list[Short] | None = Field(default=None, max_length=50)


class PmsBookingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "modified_at": "2026-12-07T09:30:00+07:00",
                    "guest_pms_id": "P-GUEST-1",
                    "room_pms_id": "P-ROOM-101",
                    "check_in_date": "2026-12-20",
                    "check_out_date": "2026-12-23",
                    "status": "booked",
                    "rate_per_night": 120,
                    "channel": "ota",
                }
            ]
        },
    )
    modified_at: Modified
    guest_pms_id: PmsId
    room_pms_id: PmsId | None = Field(default=None, description="the room, once assigned")
    check_in_date: date
    check_out_date: date
    status: Annotated[str, Field(max_length=16, description=" | ".join((*STATUSES, "booked")))] = (
        "reserved"
    )
    room_type: Code | None = None
    rate_per_night: Money10 | None = None
    total_amount: Money12 | None = None
    currency: Currency | None = None
    channel: Code | None = None
    segment: Code | None = None
    deposit: Money12 | None = None
    adults: Annotated[int, Field(ge=1, le=20)] | None = None
    children: Count | None = None


class SyncOut(BaseModel):
    kind: str
    pms_id: str
    local_ref: str = Field(description="the hotel's key: booking_ref, guest_ref, room_number")
    result: Literal["created", "updated", "unchanged", "stale"]
    modified_at: datetime = Field(description="the PMS's modification time sent")
    stored_modified_at: datetime | None = Field(description="the version kept")

    @classmethod
    def of(cls, outcome: pms.SyncOutcome) -> SyncOut:
        return cls(
            kind=outcome.kind,
            pms_id=outcome.pms_id,
            local_ref=outcome.local_ref,
            result=outcome.result,
            modified_at=outcome.pms_modified_at,
            stored_modified_at=outcome.stored_modified_at,
        )


def _context(runtime: Any, actor: str, *, refuse_stale: bool) -> pms.SyncContext:
    hooks = runtime.flow_hooks
    hook: pms.RoomStatusHook | None = None
    if isinstance(hooks, HubFlowHooks):

        async def room_status(number: str, old: str, new: str) -> None:
            try:
                await hooks.apply_room_status(
                    number, old, new, updated_by=actor, at=datetime.now(UTC), actor=actor
                )
            except UnknownRoomError as err:
                raise HotelError(404, "room_number", str(err)) from err
            except StaleStatusError as err:
                raise HotelError(409, "status", str(err)) from err

        hook = room_status
    return pms.SyncContext(
        runtime.session_factory, _cipher(runtime), actor, hook, refuse_stale=refuse_stale
    )


async def _upsert(
    runtime: Any,
    actor: str,
    kind: pms.PmsKind,
    pms_id: str,
    body: BaseModel,
    response: Response,
    *,
    refuse_stale: bool = True,
) -> SyncOut:
    values = body.model_dump(exclude={"modified_at"})
    modified_at: datetime = getattr(body, "modified_at")  # noqa: B009 - every PMS body has it
    ctx = _context(runtime, actor, refuse_stale=refuse_stale)
    outcome = await _run(lambda: pms.upsert(ctx, kind, pms_id, values, modified_at))
    response.status_code = 201 if outcome.result == "created" else 200
    return SyncOut.of(outcome)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": SyncOut, "description": "created"},
    409: {"description": "stale modified_at (naming the stored one), or a refused change"},
}


@router.put("/bookings/{pms_id}", response_model=SyncOut, responses=_RESPONSES)
async def put_booking(
    pms_id: PmsIdPath, body: PmsBookingIn, runtime: Runtime, caller: Writer, response: Response
) -> SyncOut:
    """Upsert: the guest and room are named by their PMS ids (sync them first); the status
    moves through the booking flow's state machine (409 with the allowed ones)."""
    return await _upsert(runtime, caller.actor, "bookings", pms_id, body, response)


@router.put("/guests/{pms_id}", response_model=SyncOut, responses=_RESPONSES)
async def put_guest(
    pms_id: PmsIdPath, body: PmsGuestIn, runtime: Runtime, caller: Writer, response: Response
) -> SyncOut:
    """Upsert of a guest (``guest_ref`` = the PMS id); personal fields encrypted at rest."""
    return await _upsert(runtime, caller.actor, "guests", pms_id, body, response)


@router.put("/rooms/{pms_id}", response_model=SyncOut, responses=_RESPONSES)
async def put_room(
    pms_id: PmsIdPath, body: PmsRoomIn, runtime: Runtime, caller: Writer, response: Response
) -> SyncOut:
    """Upsert of a room; a status change goes through the room flow."""
    return await _upsert(runtime, caller.actor, "rooms", pms_id, body, response)


# -- the signed webhook ---------------------------------------------------------------------------


class BookingDelivery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["bookings"]
    pms_id: PmsId
    data: PmsBookingIn


class GuestDelivery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["guests"]
    pms_id: PmsId
    data: PmsGuestIn


class RoomDelivery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["rooms"]
    pms_id: PmsId
    data: PmsRoomIn


Delivery = Annotated[BookingDelivery | GuestDelivery | RoomDelivery, Field(discriminator="kind")]
_DELIVERY: TypeAdapter[BookingDelivery | GuestDelivery | RoomDelivery] = TypeAdapter(Delivery)

SignatureHeader = Annotated[
    str | None,
    Header(
        alias=pms_webhook.SIGNATURE_HEADER,
        max_length=200,
        description="sha256=<hex HMAC-SHA256 of '{timestamp}.{body}' with the shared secret>",
    ),
    StorableText,
]
TimestampHeader = Annotated[
    str | None,
    Header(alias=pms_webhook.TIMESTAMP_HEADER, max_length=32, description="Unix seconds"),
    StorableText,
]
DeliveryHeader = Annotated[
    str | None,
    Header(alias=pms_webhook.DELIVERY_HEADER, max_length=200, description="unique per delivery"),
    StorableText,
]


def _parse(body: bytes) -> BookingDelivery | GuestDelivery | RoomDelivery:
    try:
        return _DELIVERY.validate_json(body)
    except ValidationError as err:
        raise HTTPException(
            422,
            detail=[
                field_error(".".join(str(p) for p in e["loc"]) or "body", e["msg"])
                for e in err.errors(include_url=False, include_input=False)
            ],
        ) from err


@router.post(
    "/webhook",
    response_model=SyncOut,
    responses={
        401: {"description": "bad signature or timestamp outside the window"},
        409: {"description": "a replayed delivery, or a refused change"},
        503: {"description": "no webhook secret configured"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["kind", "pms_id", "data"],
                        "properties": {
                            "kind": {"type": "string", "enum": list(pms.PMS_KINDS)},
                            "pms_id": {"type": "string", "pattern": PMS_ID_PATTERN},
                            "data": {
                                "type": "object",
                                "description": "the PUT body of that kind",
                            },
                        },
                    }
                }
            },
        }
    },
)
async def webhook(
    request: Request,
    runtime: Runtime,
    response: Response,
    signature: SignatureHeader = None,
    timestamp: TimestampHeader = None,
    delivery: DeliveryHeader = None,
) -> SyncOut:
    """A PMS push, signed instead of a bearer token: ``{"kind", "pms_id", "data"}`` with
    ``data`` the PUT body of that kind. 401: bad signature or timestamp outside the window;
    409: a delivery id or signature seen before (replay), or a refused change; a stale update
    answers 200 with ``result: stale`` and changes nothing."""
    settings = runtime.settings
    if settings.pms_webhook_secret is None:
        raise HTTPException(
            503, detail="the PMS webhook is off: set INNSIGHT_PMS_WEBHOOK_SECRET on the hub"
        )
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise HTTPException(413, detail=field_error("body", f"over {MAX_WEBHOOK_BYTES} bytes"))
    now = datetime.now(UTC)
    window = settings.pms_webhook_window_s
    secret = settings.pms_webhook_secret.get_secret_value()

    async def check() -> str:
        return pms_webhook.verify(
            secret, timestamp=timestamp, signature=signature, body=body, now=now, window_s=window
        )

    digest = await _run(check)
    delivery_id = await _run(_async_check_delivery(delivery))
    parsed = _parse(body)
    sessions = runtime.session_factory
    await _run(lambda: pms_webhook.claim(sessions, delivery_id, digest, now=now, window_s=window))
    try:
        return await _upsert(
            runtime,
            WEBHOOK_ACTOR,
            parsed.kind,
            parsed.pms_id,
            parsed.data,
            response,
            refuse_stale=False,
        )
    except BaseException:
        await pms_webhook.release(sessions, delivery_id)  # the PMS may send it again
        raise


def _async_check_delivery(delivery: str | None) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        return pms_webhook.check_delivery_id(delivery)

    return check
