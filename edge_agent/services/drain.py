"""Drain the outbox to the broker and release rows on the hub's end-to-end acks (DESIGN §2).

- :meth:`OutboxDrainer.run` (its own thread) publishes due rows, in seq order, at QoS 1 with
  the payload bytes as stored, and marks them sent; rows not acked within ``resend_after_s``
  come due again and are re-sent (the hub applies each ``(device_id, seq)`` once).
- At most ``max_unacked`` rows are out at a time (sent, not yet acked): when the hub is down
  but the broker is up, only that window is re-sent, instead of the whole backlog every
  ``resend_after_s``. New rows go out as acks free the window.
- :meth:`OutboxDrainer.attach` subscribes to ``innsight/{site}/{device}/acks``; an ack releases
  its seqs. Seqs the hub refused for good (the ack's ``refused``, with a reason) are dropped
  from the outbox with a warning and counted (``refused_events`` in the heartbeat), never
  re-sent. Malformed acks, and acks naming another device, are logged and ignored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from contracts.errors import ContractError
from contracts.messages import parse_ack
from contracts.topics import Channel, device_topic
from edge_agent.ports import Outbox, Publisher
from edge_agent.transport.errors import PublishError

logger = logging.getLogger(__name__)


class DrainableOutbox(Outbox, Protocol):
    """What the drainer needs beyond :class:`Outbox` (``SqliteOutbox`` provides it)."""

    def ack_ranges(self, ranges: Sequence[tuple[int, int]]) -> int:
        """Release every row whose seq lies in an inclusive range; returns how many."""
        ...

    def in_flight(self) -> int:
        """Rows sent at least once and not yet acked."""
        ...

    def refuse(self, refusals: Sequence[tuple[int, str]]) -> int:
        """Drop rows the hub refused for good, logged and counted; returns how many."""
        ...


@dataclass(frozen=True, slots=True)
class DrainStats:
    published: int  # rows handed to the transport, resends included
    resent: int  # of which re-sends (attempts > 0)
    acks: int  # ack messages applied
    released: int  # rows released by acks
    bad_acks: int  # malformed or for another device
    refused: int = 0  # rows dropped because the hub refused them for good


class OutboxDrainer:
    """Moves outbox rows to the broker; releases them on the hub's acks."""

    def __init__(
        self,
        outbox: DrainableOutbox,
        publisher: Publisher,
        site: str,
        device_id: str,
        *,
        resend_after_s: float = 10.0,
        batch: int = 200,
        max_unacked: int = 1000,
        poll_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if batch < 1 or max_unacked < 1:
            raise ValueError("batch and max_unacked must be >= 1")
        self._outbox = outbox
        self._publisher = publisher
        self._device_id = device_id
        self.acks_topic = device_topic(site, device_id, Channel.ACKS)
        self._resend_after_s = resend_after_s
        self._batch = batch
        self._max_unacked = max_unacked
        self._poll_s = poll_s
        self._clock = clock
        self._wake = threading.Event()
        self._published = 0
        self._resent = 0
        self._acks = 0
        self._released = 0
        self._bad_acks = 0
        self._refused = 0

    def attach(self) -> None:
        """Subscribe to this device's acks (the transport re-subscribes on reconnect)."""
        self._publisher.subscribe(self.acks_topic, self._on_ack)

    def wake(self) -> None:
        """Drain now rather than at the next poll (call after an enqueue)."""
        self._wake.set()

    def run(self, stop_event: threading.Event) -> None:
        """Drain until ``stop_event`` is set; meant for its own thread."""
        while not stop_event.is_set():
            self._wake.clear()
            try:
                sent = self.drain_once()
            except Exception:  # keep draining after a transient failure (disk, transport)
                logger.exception("outbox drain pass failed; retrying")
                sent = 0
            if sent < self._batch:
                self._wake.wait(self._poll_s)

    def drain_once(self) -> int:
        """One pass: publish what is due (within the window); returns how many were sent."""
        if not self._publisher.connected:
            return 0
        now = self._clock()
        rows = self._outbox.due(now, self._resend_after_s, self._batch)
        if not rows:
            return 0
        room = self._max_unacked - self._outbox.in_flight()
        sent: list[int] = []
        for row in rows:
            resend = row.attempts > 0
            if not resend:
                if room <= 0:
                    break  # seq order: everything after this is new as well
                room -= 1
            try:
                self._publisher.publish(row.topic, row.payload, qos=1)
            except PublishError as err:
                logger.warning("outbox drain paused: %s", err)
                break
            sent.append(row.seq)
            self._resent += resend
        if sent:
            self._outbox.mark_sent(sent, now)
            self._published += len(sent)
            logger.debug("published %d outbox rows (seq %d..%d)", len(sent), sent[0], sent[-1])
        return len(sent)

    def wait_until_drained(self, timeout_s: float) -> bool:
        """Block until every row is acked (depth 0) or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        self.wake()
        while self._outbox.depth() > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(0.05, remaining))
        return True

    def stats(self) -> DrainStats:
        return DrainStats(
            published=self._published,
            resent=self._resent,
            acks=self._acks,
            released=self._released,
            bad_acks=self._bad_acks,
            refused=self._refused,
        )

    def _on_ack(self, topic: str, payload: bytes) -> None:
        """Runs on the transport thread."""
        try:
            ack = parse_ack(payload)
        except ContractError as err:
            self._bad_acks += 1
            logger.warning(
                "ignoring malformed ack on %s (%d bytes): %s", topic, len(payload), err.detail
            )
            return
        if ack.device_id != self._device_id:
            self._bad_acks += 1
            logger.warning(
                "ignoring ack for device %s on %s (this is %s)",
                ack.device_id,
                topic,
                self._device_id,
            )
            return
        # Refusals first: a refused row is counted as refused, not as released.
        refused = self._outbox.refuse([(r.seq, r.reason) for r in ack.refused])
        released = self._outbox.ack_ranges(ack.ranges) + refused
        self._acks += 1
        self._refused += refused
        self._released += released
        logger.debug("ack %s released %d rows", ack.ranges, released)
        if released:
            self.wake()  # the window has room again
