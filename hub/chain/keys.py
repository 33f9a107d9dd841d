"""Site-qualified device ids: how the chain hub names a hotel's device.

Device ids are unique within a site, not across a chain (every hotel may have an ``edge-01``),
and the hub's tables key devices, messages and snapshots by ``device_id`` alone. The chain hub
therefore stores ``{site}/{device}``: ``/`` never occurs in an id (contracts.ids), so the key is
unambiguous, and two hotels' ``edge-01`` are two devices. The column holds 64 characters.
"""

from __future__ import annotations

from contracts.ids import is_valid_id

SEPARATOR = "/"
KEY_MAX = 64


class ChainKeyError(ValueError):
    """Not a site-qualified device id, or too long to store."""


def device_key(site: str, device: str) -> str | None:
    """``{site}/{device}``, or None when the two ids do not fit the 64-character column."""
    key = f"{site}{SEPARATOR}{device}"
    return key if len(key) <= KEY_MAX else None


def split_key(key: str) -> tuple[str, str]:
    """``(site, device)`` of a stored key."""
    site, sep, device = key.partition(SEPARATOR)
    if not sep or not is_valid_id(site) or not is_valid_id(device):
        raise ChainKeyError(f"not a site-qualified device id: {key!r}")
    return site, device


def site_of(key: str) -> str:
    return split_key(key)[0]


def site_prefix(site: str) -> str:
    """The ``LIKE`` prefix of a site's keys (ids hold no ``%`` or ``_``-free guarantee: use
    :func:`site_of` on results when exactness matters)."""
    return f"{site}{SEPARATOR}"
