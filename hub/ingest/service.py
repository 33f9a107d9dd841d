"""The ingest's loop: read from the broker into a batch, apply it, ack it (DESIGN §2, §5, §8).

:class:`MqttIngest` holds the broker connection (:mod:`hub.ingest.mqtt`), classifies what it
reads (:mod:`hub.ingest.classify`), applies a batch when it is full or its delay is up
(:mod:`hub.ingest.applier`, :mod:`hub.ingest.writer`), then publishes the acks
(:mod:`hub.ingest.acks`) and, after the commit only, tells the flows that stored events await
them (their work rows are already committed in the batch's transaction). While the database is
down the batch is kept in memory and retried with backoff (the edge re-sends anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiomqtt
from prometheus_client import CollectorRegistry

from hub.db import SessionFactory
from hub.edge_versions import EdgeContractWatch
from hub.ingest.acks import ACK_PUBLISH_TIMEOUT_S, PendingAcks
from hub.ingest.alarm import DeadLetterAlarm
from hub.ingest.applier import BatchApplier
from hub.ingest.classify import INGEST_ERROR, Classifier
from hub.ingest.errors import IngestNotConnectedError, PublishError
from hub.ingest.items import Batch, Outcome
from hub.ingest.metrics import IngestMetrics
from hub.ingest.mqtt import new_client, payload_bytes, subscriptions
from hub.ingest.writer import BatchWriter
from hub.settings import HubSettings
from hub.storage import ObjectStore

logger = logging.getLogger(__name__)

# How long stop() waits for the last batch to commit and its acks to go out.
STOP_TIMEOUT_S = 10.0
# Messages already received when stop() is called that are still applied before disconnecting.
MAX_DRAIN_ON_STOP = 10_000
# A database that is down: first and longest wait before the kept batch is tried again.
RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0
# Event messages kept in memory while the database is down; beyond this the newest are left
# unacked (the edge re-sends them after its timeout).
MAX_HELD_EVENTS = 50_000

OnDeviceOnline = Callable[[str], Awaitable[None]]
# Called after a batch's commit with the ``events`` rows (column dicts) it changed (hub/flows).
OnEventsStored = Callable[[list[dict[str, Any]]], Awaitable[None]]
# Called when one device produced ``count`` dead letters within the alarm's window.
OnDeadLetterAlert = Callable[[str, int], Awaitable[None]]


class MqttIngest:
    """The hub's MQTT consumer and publisher (see the module docstring)."""

    def __init__(
        self,
        settings: HubSettings,
        session_factory: SessionFactory,
        store: ObjectStore,
        *,
        registry: CollectorRegistry | None = None,
        on_device_online: OnDeviceOnline | None = None,
        alert_threshold: int = 100,
        alert_window_s: float = 300.0,
        shared_group: str | None = None,
        client_id: str | None = None,
    ) -> None:
        self._settings = settings
        self._site = settings.site
        self._session_factory = session_factory
        self._store = store
        self._on_device_online = on_device_online
        registry = registry or CollectorRegistry()
        self.metrics = IngestMetrics.register(registry)
        # edges that speak another contract version: a gauge per device, one warning each
        self.contracts = EdgeContractWatch(registry)
        self._alarm = DeadLetterAlarm(alert_threshold, alert_window_s)
        self._on_dead_letter_alert: OnDeadLetterAlert | None = None
        self._classifier = Classifier(self._site, self.metrics, self.contracts)
        self._applier = BatchApplier(
            BatchWriter(session_factory, store, self._site), session_factory, self.metrics
        )
        self._acks = PendingAcks(self._site, self.metrics)
        # MQTT 5 shared subscription group of the ingest workers (None: a hub alone)
        self._shared_group = shared_group or settings.ingest_shared_group
        self._client_id = client_id or settings.mqtt_client_id
        self._batch = Batch()
        # While the database is unavailable: no flush before this (monotonic), next wait.
        self._hold_until = 0.0
        self._retry_delay = RETRY_MIN_S
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._on_events_stored: OnEventsStored | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def set_on_device_online(self, callback: OnDeviceOnline | None) -> None:
        self._on_device_online = callback

    def set_on_events_stored(self, callback: OnEventsStored | None) -> None:
        self._on_events_stored = callback

    def set_on_dead_letter_alert(self, callback: OnDeadLetterAlert | None) -> None:
        """Called (device_id, count) when one device goes over the dead-letter threshold."""
        self._on_dead_letter_alert = callback

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="hub-mqtt-ingest")

    async def wait_connected(self, timeout_s: float) -> bool:
        """True once connected and subscribed (for tests and startup checks)."""
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Commit what was read, send its acks, disconnect."""
        task = self._task
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            logger.warning("ingest did not stop within %.0f s; cancelling", STOP_TIMEOUT_S)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._task = None

    async def process(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """Classify and apply ``(topic, payload)`` messages as if they had just arrived, and
        commit them (replaying dead letters, tests). Their acks go out with the next ones
        once connected. Never raises on any input."""
        for topic, payload in messages:
            self._classifier.accept(self._batch, topic, payload)
        await self._flush(self._client, force=True)

    # -- publishing for other hub parts ----------------------------------------------------

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish through the ingest's connection (gallery announcements, commands)."""
        client = self._client
        if client is None:
            raise IngestNotConnectedError("the hub is not connected to the MQTT broker")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as err:
            raise PublishError(f"could not publish to {topic}: {err}") from err

    # -- connection loop -------------------------------------------------------------------

    async def _run(self) -> None:
        s = self._settings
        delay = s.mqtt_reconnect_min_s
        while not self._stopping.is_set():
            try:
                client = new_client(s, self._client_id, shared=self._shared_group is not None)
                async with client:
                    self._acks.stalled = False
                    for topic in self._subscriptions():
                        await client.subscribe(topic, qos=1)
                    self._client = client
                    self.metrics.connected.set(1)
                    self._connected_event.set()
                    logger.info(
                        "ingest connected to %s:%d as %s (site %s)",
                        s.mqtt_host,
                        s.mqtt_port,
                        self._client_id,
                        self._site,
                    )
                    delay = s.mqtt_reconnect_min_s
                    await self._acks.send(client)
                    await self._consume(client)
            except aiomqtt.MqttError as err:
                logger.warning(
                    "MQTT broker %s:%d unavailable (%s); retrying in %.1f s",
                    s.mqtt_host,
                    s.mqtt_port,
                    err,
                    delay,
                )
            except Exception:
                logger.exception("ingest loop failed; reconnecting in %.1f s", delay)
            finally:
                self._client = None
                self._connected_event.clear()
                self.metrics.connected.set(0)
            # Commit what was read before the connection went; its acks wait for the next one.
            await self._flush(None)
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, s.mqtt_reconnect_max_s)
        logger.info("ingest stopped")

    def _subscriptions(self) -> list[str]:
        """The topic filters this ingest subscribes to (the chain hub's cover every site)."""
        return subscriptions(self._site, self._shared_group)

    async def _consume(self, client: aiomqtt.Client) -> None:
        messages = client.messages
        stop_wait = asyncio.ensure_future(self._stopping.wait())
        next_message: asyncio.Future[aiomqtt.Message] | None = None
        max_delay = self._settings.ingest_max_batch_delay_s
        try:
            while not self._stopping.is_set():
                if self._acks.stalled:
                    raise aiomqtt.MqttError(
                        f"no PUBACK for an ack within {ACK_PUBLISH_TIMEOUT_S:.0f} s"
                    )
                if next_message is None:
                    next_message = asyncio.ensure_future(messages.__anext__())
                opened = self._batch.opened_at
                timeout = (
                    None
                    if opened is None
                    else max(0.0, opened + max_delay, self._hold_until) - time.monotonic()
                )
                if timeout is not None:
                    timeout = max(0.0, timeout)
                waiting: set[asyncio.Future[Any]] = {next_message, stop_wait}
                done, _ = await asyncio.wait(
                    waiting,
                    timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if next_message in done:
                    message = next_message.result()  # raises MqttError when disconnected
                    next_message = None
                    self._accept(message)
                    # what the client already holds is read without waiting (one wake-up for
                    # many messages: the queue's get does not suspend while it has items)
                    room = self._settings.ingest_batch_size - len(self._batch)
                    for _ in range(min(len(messages), max(room, 0))):
                        self._accept(await messages.__anext__())
                    if len(self._batch) >= self._settings.ingest_batch_size:
                        await self._flush(client)
                elif not done:
                    await self._flush(client)
            # Stopping: what the client already received (and PUBACKed) is committed and acked
            # now rather than left for the edge's re-send timeout.
            if next_message is not None and not next_message.done():
                # cancel the pending read (asyncio.Queue.get loses nothing when cancelled); left
                # alone it would fail unobserved once the client disconnects
                next_message.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await next_message
            elif next_message is not None and next_message.exception() is None:
                message = next_message.result()
                self._accept(message)
            next_message = None
            for _ in range(min(len(messages), MAX_DRAIN_ON_STOP)):
                message = await messages.__anext__()
                self._accept(message)
                if len(self._batch) >= self._settings.ingest_batch_size:
                    await self._flush(client, force=True)
            await self._flush(client, force=True)
        finally:
            for future in (next_message, stop_wait):
                if future is not None and not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await future

    def _accept(self, message: aiomqtt.Message) -> None:
        self._classifier.accept(self._batch, message.topic.value, payload_bytes(message.payload))

    # -- batches ---------------------------------------------------------------------------

    def _take_batch(self, force: bool) -> Batch | None:
        """The next batch to apply: None while holding off a database that is down."""
        if not force and self._hold_until and time.monotonic() < self._hold_until:
            return None
        batch = self._batch
        if len(batch) == 0:
            return None
        limit = max(self._settings.ingest_batch_size, 1)
        if len(batch) <= limit:
            self._batch = Batch()
            return batch
        # A batch kept through an outage can be large: apply it a batch at a time.
        items = batch.items()
        rest = Batch.of(items[limit:])
        rest.opened_at = batch.opened_at
        self._batch = rest
        return Batch.of(items[:limit])

    async def _flush(self, client: aiomqtt.Client | None, *, force: bool = False) -> None:
        """Apply what was read, then ack it. Never raises (last-resort handlers inside)."""
        while (batch := self._take_batch(force)) is not None:
            try:
                outcome = await self._applier.apply(batch)
            except Exception:  # last resort: count, dead-letter, keep running
                self.metrics.internal_errors.inc()
                logger.exception("unexpected error while applying %d messages", len(batch))
                await self._record_internal_error(batch)
            else:
                try:
                    await self._after_commit(outcome, client)
                except Exception:  # last resort: what was committed stays committed
                    self.metrics.internal_errors.inc()
                    logger.exception("unexpected error after committing %d messages", len(batch))
            if self._hold_until:
                return  # the database is down: wait before the rest
            if not force and len(self._batch) < max(self._settings.ingest_batch_size, 1):
                return

    async def _after_commit(self, outcome: Outcome, client: aiomqtt.Client | None) -> None:
        if outcome.retry is not None and outcome.database_down:
            self._keep_for_retry(outcome.retry)
        elif outcome.retry is not None:
            outcome.retry.merge_newer(self._batch)  # tried again at the next flush
            self._batch = outcome.retry
        elif self._hold_until:
            logger.info("database available again; the ingest carries on")
            self._hold_until = 0.0
            self._retry_delay = RETRY_MIN_S
            self.metrics.held_messages.set(0)
        self._account(outcome)
        if client is not None:
            await self._acks.send(client)
        for device_id in outcome.online:
            await self._notify_online(device_id)
        if outcome.stored_events and self._on_events_stored is not None:
            try:
                await self._on_events_stored(outcome.stored_events)
            except Exception:
                logger.exception("on_events_stored callback failed")
        await self._check_alarm(outcome)

    def _account(self, outcome: Outcome) -> None:
        """Metrics and pending acks of a committed outcome."""
        self.metrics.stored.inc(outcome.stored)
        self.metrics.duplicates.inc(outcome.duplicates)
        for reason, _device in outcome.dead:
            self.metrics.dead_letters.labels(reason=reason).inc()
        self._acks.add(outcome)

    def _keep_for_retry(self, retry: Batch) -> None:
        """The database is down: keep ``retry`` (before anything read since) and wait."""
        newer = self._batch
        retry.merge_newer(newer)
        if len(retry.events) > MAX_HELD_EVENTS:
            dropped = len(retry.events) - MAX_HELD_EVENTS
            del retry.events[MAX_HELD_EVENTS:]
            logger.warning(
                "database unavailable: %d newest event messages left unacked (the edges "
                "re-send them)",
                dropped,
            )
        retry.opened_at = retry.opened_at or time.monotonic()
        self._batch = retry
        self.metrics.transient_failures.inc()
        self.metrics.held_messages.set(len(retry))
        if not self._hold_until:
            logger.warning(
                "database unavailable: %d messages kept, retrying every %.1f s up to %.0f s",
                len(retry),
                self._retry_delay,
                RETRY_MAX_S,
            )
        self._hold_until = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)

    async def _record_internal_error(self, batch: Batch) -> None:
        """Last resort after an unexpected error: keep the evidence, ack as refused."""
        try:
            outcome = await self._applier.refuse_for_good(
                batch, INGEST_ERROR, "unexpected error while applying (see the hub's log)"
            )
            if outcome.retry is not None:
                self._keep_for_retry(outcome.retry)
            self._account(outcome)
        except Exception:  # nothing more can be done; the edge re-sends what is unacked
            logger.exception("could not record an ingest error")

    async def _notify_online(self, device_id: str) -> None:
        callback = self._on_device_online
        if callback is None:
            return
        try:
            await callback(device_id)
        except Exception:
            logger.exception("on_device_online callback failed for %s", device_id)

    async def _check_alarm(self, outcome: Outcome) -> None:
        """Alert when one device produces many dead letters (a broken or hostile edge)."""
        if not outcome.dead:
            return
        per_device: dict[str, int] = {}
        for _reason, device_id in outcome.dead:
            if device_id is not None:
                per_device[device_id] = per_device.get(device_id, 0) + 1
        now = time.monotonic()
        for device_id, count in per_device.items():
            total = self._alarm.record(device_id, count, now)
            if total is None:
                continue
            self.metrics.dead_letter_alerts.inc()
            logger.warning(
                "device %s produced %d dead letters within %.0f s: check GET "
                "/api/v1/dead-letters?device_id=%s",
                device_id,
                total,
                self._alarm.window_s,
                device_id,
            )
            if self._on_dead_letter_alert is not None:
                try:
                    await self._on_dead_letter_alert(device_id, total)
                except Exception:
                    logger.exception("on_dead_letter_alert callback failed for %s", device_id)
        self.metrics.noisy_devices.set(self._alarm.noisy(now))


# Ranges per ack message: keeps one ack far below the contract's MAX_ACK_ITEMS.
