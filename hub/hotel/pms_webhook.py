"""The PMS webhook's guard (issue 16 item 3): the HMAC-SHA256 signature over the timestamp and
the body with the shared secret, the timestamp window, and the replay guard.

A delivery carries three headers: ``X-Innsight-Timestamp`` (Unix seconds), ``X-Innsight-Delivery``
(an id unique per delivery) and ``X-Innsight-Signature`` (``sha256=`` and the hex HMAC-SHA256 of
``{timestamp}.{body}`` keyed with the secret). A timestamp more than the window (300 s) from the
hub's clock, or a signature that does not match, is a 401; a delivery id or a signature seen
before is a 409 (``pms_deliveries`` keeps them in the database, so the refusal holds across
restarts and replicas, until they expire: twice the window after receipt, when the timestamp
check refuses them anyway). Nothing here logs the secret, a signature or the body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from hub.db import SessionFactory
from hub.hotel.errors import HotelError
from hub.tables import PmsDelivery

TIMESTAMP_HEADER = "X-Innsight-Timestamp"
DELIVERY_HEADER = "X-Innsight-Delivery"
SIGNATURE_HEADER = "X-Innsight-Signature"
SCHEME = "sha256="
_DELIVERY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_DIGITS = re.compile(r"^\d{1,12}$")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Innsight-Signature`` value of ``body`` sent at ``timestamp`` (what a PMS sends)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def _unauthorised(header: str, reason: str) -> HotelError:
    return HotelError(401, header, reason)


def verify(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
    window_s: int,
) -> str:
    """The signature's hex digest when the delivery is authentic and fresh (pure); 401 naming
    the header otherwise."""
    if not timestamp or not _DIGITS.match(timestamp.strip()):
        raise _unauthorised(TIMESTAMP_HEADER, "required: the sending time in Unix seconds")
    skew = abs(now.timestamp() - int(timestamp.strip()))
    if skew > window_s:
        raise _unauthorised(
            TIMESTAMP_HEADER,
            f"{int(skew)} s from the hub's clock: outside the {window_s} s window",
        )
    if not signature or not signature.strip().startswith(SCHEME):
        raise _unauthorised(SIGNATURE_HEADER, f"required: {SCHEME}<hex HMAC-SHA256>")
    expected = sign(secret, timestamp.strip(), body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise _unauthorised(
            SIGNATURE_HEADER, "does not match the body and timestamp for the shared secret"
        )
    return expected.removeprefix(SCHEME)


def check_delivery_id(delivery_id: str | None) -> str:
    if not delivery_id or not _DELIVERY.match(delivery_id.strip()):
        raise HotelError(
            422, DELIVERY_HEADER, "required: a unique id per delivery (1-128 of A-Za-z0-9._:-)"
        )
    return delivery_id.strip()


async def claim(
    sessions: SessionFactory,
    delivery_id: str,
    digest: str,
    *,
    now: datetime,
    window_s: int,
) -> None:
    """Records the delivery (forgetting the expired ones); 409 when its id or its signature
    was received before."""
    async with sessions() as session:
        await session.exec(delete(PmsDelivery).where(col(PmsDelivery.expires_at) < now))
        await session.commit()
    async with sessions() as session:
        session.add(
            PmsDelivery(
                delivery_id=delivery_id,
                signature=digest,
                received_at=now,
                expires_at=now + timedelta(seconds=2 * window_s),
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            raise HotelError(
                409, DELIVERY_HEADER, "this delivery (its id or signature) was received before"
            ) from None


async def release(sessions: SessionFactory, delivery_id: str) -> None:
    """Forgets a delivery whose processing failed, so that the PMS may send it again."""
    async with sessions() as session:
        await session.exec(delete(PmsDelivery).where(col(PmsDelivery.delivery_id) == delivery_id))
        await session.commit()
