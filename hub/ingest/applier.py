"""Applying a batch so that one bad message never costs another (issue 14).

A batch whose transaction fails is split in halves (bisection) until the message that fails is
alone; the others are committed. A lone message that fails for a permanent reason is
dead-lettered as ``apply_failed`` with the database's reason, and acked as refused. A failure of
the database itself (a ``SELECT 1`` on a fresh connection tells) is transient: the batch is
returned for a retry, nothing is acked. A lone message failing with a transient-looking error
while the database answers is tried again, up to ``MAX_TRANSIENT_STRIKES`` times.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from sqlalchemy import text

from hub.db import SessionFactory
from hub.ingest.classify import DEAD_LETTER_MAX_DETAIL
from hub.ingest.errors import database_reason, is_transient, storable
from hub.ingest.items import (
    Batch,
    DeadLetterItem,
    EventMessage,
    HeartbeatMessage,
    Outcome,
)
from hub.ingest.metrics import IngestMetrics
from hub.ingest.writer import BatchWriter

logger = logging.getLogger(__name__)

APPLY_FAILED = "apply_failed"  # the database refused the message (its reason in the detail)
# How long the SELECT 1 that tells "database down" from "this message" may take.
HEALTH_PROBE_TIMEOUT_S = 5.0
# A message failing alone with a "transient" error while the database answers: tries before it
# is dead-lettered as apply_failed (the edge stops re-sending it then).
MAX_TRANSIENT_STRIKES = 5
_MAX_STRIKE_KEYS = 10_000


class BatchApplier:
    """Applies batches with :class:`BatchWriter`, splitting around what fails."""

    def __init__(
        self, writer: BatchWriter, session_factory: SessionFactory, metrics: IngestMetrics
    ) -> None:
        self._writer = writer
        self._session_factory = session_factory
        self.metrics = metrics
        self._strikes: dict[str, int] = {}

    async def apply(self, batch: Batch, *, retried: bool = False) -> Outcome:
        """Apply ``batch`` in one transaction; on failure split it until the message that fails
        is alone, and dead-letter that one (or keep the batch when the database is down)."""
        try:
            return await self._writer.apply(batch)
        except Exception as err:  # noqa: BLE001 - handled below: split, keep or dead-letter
            failure = err
        self.metrics.batch_failures.inc()
        # Whatever the error says, a database that does not answer means: keep, retry later.
        if not await self.database_healthy():
            return Outcome(retry=batch, database_down=True)
        if len(batch) > 1:
            logger.warning(
                "batch of %d messages failed (%s); splitting it",
                len(batch),
                database_reason(failure)[:200],
            )
            first, second = batch.halves()
            outcome = await self.apply(first)
            if outcome.database_down:  # the database went down meanwhile
                outcome.merge(Outcome(retry=second, database_down=True))
            else:
                outcome.merge(await self.apply(second))
            return outcome
        if is_transient(failure):
            # The database answers, yet this one message failed as if it did not (SQLite's
            # "database is locked", a timeout): try again, up to MAX_TRANSIENT_STRIKES times.
            if not retried:
                return await self.apply(batch, retried=True)
            if self._strike(batch) < MAX_TRANSIENT_STRIKES:
                return Outcome(retry=batch)
        return await self.refuse_for_good(batch, APPLY_FAILED, database_reason(failure))

    def _strike(self, batch: Batch) -> int:
        """Count one more transient failure of this (single-message) batch; returns the count."""
        key = hashlib.sha256(b"".join(i.received.raw for i in batch.items())).hexdigest()
        if len(self._strikes) >= _MAX_STRIKE_KEYS:
            self._strikes.clear()
        self._strikes[key] = self._strikes.get(key, 0) + 1
        return self._strikes[key]

    async def database_healthy(self) -> bool:
        try:
            async with asyncio.timeout(HEALTH_PROBE_TIMEOUT_S), self._session_factory() as session:
                connection = await session.connection()
                await connection.execute(text("SELECT 1"))
        except Exception as err:  # noqa: BLE001 - any failure: the database is not usable
            logger.debug("database health probe failed: %s", err)
            return False
        return True

    async def refuse_for_good(self, batch: Batch, reason: str, detail: str) -> Outcome:
        """Messages that can never be stored: dead-letter them (evidence kept) and ack them as
        refused, so no edge re-sends them forever."""
        items: list[DeadLetterItem] = []
        for item in batch.items():
            if isinstance(item, DeadLetterItem):
                items.append(item)
                continue
            device_id: str | None
            seq: int | None = None
            if isinstance(item, EventMessage):
                device_id, seq = item.envelope.device_id, item.envelope.seq
            elif isinstance(item, HeartbeatMessage):
                device_id = item.heartbeat.device_id
            else:
                device_id = item.device_id
            detail_text = storable(detail, DEAD_LETTER_MAX_DETAIL)
            logger.warning(
                "message on %s refused by the database: %s",
                storable(item.received.topic, 200),
                detail_text[:300],
            )
            items.append(
                DeadLetterItem(item.received, reason, detail_text, device_id, seq, seq is not None)
            )
        outcome = Outcome()
        try:
            await self._writer.write_dead_letters(items, outcome)
        except Exception as err:  # noqa: BLE001 - the dead letter itself could not be stored
            self.metrics.batch_failures.inc()
            if not await self.database_healthy():
                return Outcome(retry=batch, database_down=True)
            self.metrics.internal_errors.inc()
            logger.error(  # noqa: TRY400 - the reason is enough; no traceback of message data
                "could not store %d dead letter(s) (%s); acking them as refused anyway",
                len(items),
                database_reason(err)[:300],
            )
            outcome = Outcome()
            for item in items:
                if item.ackable and item.device_id is not None and item.seq is not None:
                    outcome.refuse(item.device_id, item.seq, item.reason, item.received.mono)
        return outcome
