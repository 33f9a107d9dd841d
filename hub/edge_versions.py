"""Edges that speak a wire-contract version this hub does not.

Every heartbeat carries ``schema``, the contract version of the edge that sent it
(``contracts.messages.SCHEMA_VERSION``). A heartbeat with another number fails the contract and
is dead-lettered as before; :class:`EdgeContractWatch` also remembers the device: one warning
log per device and version (saying which side to upgrade), the gauge
``innsight_edge_incompatible_contract{device_id,schema}`` set to 1, and :attr:`incompatible`
for the health report. The next heartbeat the hub accepts from that device clears it.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, Gauge

from contracts.errors import ContractError
from contracts.limits import load_json
from contracts.messages import MAX_HEARTBEAT_BYTES, SCHEMA_VERSION

logger = logging.getLogger(__name__)

INCOMPATIBLE_METRIC = "innsight_edge_incompatible_contract"


def peek_schema(raw: bytes) -> int | None:
    """The integer ``schema`` of a heartbeat, read within the heartbeat's limits; ``None`` when
    the message is unreadable or names no integer version (then it is not a version matter)."""
    try:
        data = load_json(raw, MAX_HEARTBEAT_BYTES)
    except ContractError:
        return None
    if not isinstance(data, dict):
        return None
    schema = data.get("schema")
    return schema if type(schema) is int else None


def upgrade_advice(schema: int) -> str:
    side = "the hub" if schema > SCHEMA_VERSION else "the edge"
    return (
        f"speaks contract schema {schema}, this hub speaks {SCHEMA_VERSION}: its messages are "
        f"refused until {side} is upgraded"
    )


class EdgeContractWatch:
    """Which devices last sent a heartbeat in a contract version this hub cannot read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._gauge = Gauge(
            INCOMPATIBLE_METRIC,
            "1 while the device's last heartbeat used a contract schema this hub does not speak",
            ["device_id", "schema"],
            registry=registry,
        )
        self._flagged: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def incompatible(self) -> dict[str, int]:
        """device id -> the contract schema it speaks (only devices this hub cannot read)."""
        with self._lock:
            return dict(self._flagged)

    def refused(self, device_id: str, raw: bytes) -> int | None:
        """A heartbeat of ``device_id`` failed the contract: flag the device when the reason is
        its contract version; answers that version (``None``: some other fault)."""
        schema = peek_schema(raw)
        if schema is None or schema == SCHEMA_VERSION:
            return None
        with self._lock:
            previous = self._flagged.get(device_id)
            if previous == schema:
                return schema
            if previous is not None:
                self._gauge.remove(device_id, str(previous))
            self._flagged[device_id] = schema
            self._gauge.labels(device_id, str(schema)).set(1)
        logger.warning("edge %s %s", device_id, upgrade_advice(schema))
        return schema

    def accepted(self, device_id: str) -> None:
        """A heartbeat of ``device_id`` passed the contract: clear its flag, if any."""
        with self._lock:
            previous = self._flagged.pop(device_id, None)
            if previous is None:
                return
            self._gauge.remove(device_id, str(previous))
        logger.info("edge %s speaks contract schema %d again", device_id, SCHEMA_VERSION)
