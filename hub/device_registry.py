"""Enrolled edge devices and their hub bearer tokens.

A device token is 32 random bytes (``secrets.token_urlsafe``); only its SHA-256 is stored. A fast
hash is enough: the token has 256 bits of entropy, so there is nothing to stretch, and the hash
lets :func:`verify_device_token` find the device with one indexed lookup.

The writers (:func:`register_device`, :func:`rotate_device_token`, :func:`revoke_device`) flush
but do NOT commit: the caller owns the transaction (provisioning commits only once the broker's
password and ACL files are written too). :func:`verify_device_token` only reads.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.ids import is_valid_id
from hub.tables import Device

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; anything much longer is not one of ours (and is not hashed).
MAX_TOKEN_CHARS = 128


class DeviceRegistryError(ValueError):
    """A registry operation that cannot be done; the message says why."""


class DeviceAlreadyEnrolledError(DeviceRegistryError):
    """The device is enrolled and not revoked: rotate its token instead."""


class UnknownDeviceError(DeviceRegistryError, LookupError):
    """No enrolled device with that id."""


class DeviceRevokedError(DeviceRegistryError):
    """The device was revoked: enrol it again to give it new credentials."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What ``innsight provision list`` shows about a device (no secrets)."""

    device_id: str
    site: str
    status: str
    enrolled_at: datetime | None
    revoked_at: datetime | None
    last_seen: datetime | None
    cameras: tuple[str, ...]

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def new_device_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Hex SHA-256 of a device token (what the ``devices.token_hash`` column holds)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _check_id(name: str, value: str) -> None:
    if not is_valid_id(value):
        raise DeviceRegistryError(f"invalid {name} id {value!r}")


async def _enrolled(session: AsyncSession, device_id: str) -> Device:
    device = await session.get(Device, device_id)
    if device is None or device.enrolled_at is None:
        raise UnknownDeviceError(f"device {device_id!r} is not enrolled")
    if device.revoked_at is not None:
        raise DeviceRevokedError(f"device {device_id!r} was revoked: enrol it again")
    return device


async def register_device(
    session: AsyncSession, device_id: str, site: str, cameras: Sequence[str]
) -> str:
    """Enrol ``device_id`` at ``site``; returns its new plaintext token (shown once).

    A row the ingest created for a device it heard from, or a revoked device, is (re-)enrolled;
    an enrolled, unrevoked device raises :class:`DeviceAlreadyEnrolledError`.
    """
    _check_id("device", device_id)
    _check_id("site", site)
    for camera in cameras:
        _check_id("camera", camera)
    token = new_device_token()
    now = _now()
    device = await session.get(Device, device_id)
    if device is None:
        device = Device(device_id=device_id, site=site, created_at=now)
    elif device.enrolled_at is not None and device.revoked_at is None:
        raise DeviceAlreadyEnrolledError(
            f"device {device_id!r} is already enrolled (since {device.enrolled_at:%Y-%m-%d}): "
            "rotate its credentials or revoke it first"
        )
    device.site = site
    device.cameras = list(cameras)
    device.token_hash = hash_token(token)
    device.enrolled_at = now
    device.revoked_at = None
    session.add(device)
    await session.flush()
    logger.info("device %s registered at site %s", device_id, site)
    return token


async def rotate_device_token(session: AsyncSession, device_id: str) -> str:
    """Replace the token of an enrolled device; the old one stops working at commit."""
    device = await _enrolled(session, device_id)
    token = new_device_token()
    device.token_hash = hash_token(token)
    session.add(device)
    await session.flush()
    logger.info("device %s: hub token rotated", device_id)
    return token


async def revoke_device(session: AsyncSession, device_id: str) -> None:
    """Mark the device revoked and forget its token hash (idempotent for a revoked device)."""
    device = await session.get(Device, device_id)
    if device is None or device.enrolled_at is None:
        raise UnknownDeviceError(f"device {device_id!r} is not enrolled")
    if device.revoked_at is None:
        device.revoked_at = _now()
    device.token_hash = None
    session.add(device)
    await session.flush()
    logger.info("device %s revoked", device_id)


async def get_device(session: AsyncSession, device_id: str) -> DeviceRecord | None:
    device = await session.get(Device, device_id)
    return _record(device) if device is not None else None


async def list_devices(session: AsyncSession, site: str | None = None) -> list[DeviceRecord]:
    """Every device the hub knows (enrolled or only heard from), by id; optionally one site."""
    query = select(Device).order_by(col(Device.device_id))
    if site is not None:
        query = query.where(Device.site == site)
    return [_record(d) for d in (await session.exec(query)).all()]


async def verify_device_token(session: AsyncSession, token: str) -> str | None:
    """The device id whose current token this is, when that device is enrolled and not revoked;
    ``None`` otherwise (unknown, rotated away, revoked, or not a token at all)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    query = select(Device).where(Device.token_hash == hash_token(token))
    device = (await session.exec(query)).first()
    if device is None or device.revoked_at is not None or device.enrolled_at is None:
        return None
    return device.device_id


def _record(device: Device) -> DeviceRecord:
    return DeviceRecord(
        device_id=device.device_id,
        site=device.site,
        status=device.status,
        enrolled_at=device.enrolled_at,
        revoked_at=device.revoked_at,
        last_seen=device.last_seen,
        cameras=tuple(device.cameras or ()),
    )
