"""The compatibility layers' own broker connection (an adapter: the only module here that speaks
MQTT).

Its own client, not the ingest's: it carries a last will (Frigate's ``available`` = ``offline``)
and subscribes to Home Assistant's birth topic, neither of which belongs on the ingest's
persistent session. What the layers hand to :meth:`CompatLink.send` waits in a bounded queue
(never blocking the caller) and is published in order while connected; after a reconnect the
``on_connected`` callback re-announces what must be retained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence

import aiomqtt

from hub.compat.publication import Publication
from hub.ingest.mqtt import payload_bytes
from hub.settings import HubSettings

logger = logging.getLogger(__name__)

# Messages waiting for the broker; beyond this the oldest are dropped (counted in the log).
MAX_PENDING = 10_000
STOP_TIMEOUT_S = 5.0

OnConnected = Callable[[], Awaitable[list[Publication]]]
OnMessage = Callable[[str, bytes], Awaitable[None]]


class CompatLink:
    def __init__(
        self,
        settings: HubSettings,
        *,
        client_id: str,
        will: Publication | None,
        subscriptions: Sequence[str],
        on_connected: OnConnected,
        on_message: OnMessage,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._will = will
        self._subscriptions = list(subscriptions)
        self._on_connected = on_connected
        self._on_message = on_message
        self._pending: deque[Publication] = deque()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._final: list[Publication] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def send(self, publications: Iterable[Publication]) -> None:
        """Queue messages for the broker; returns at once."""
        for publication in publications:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.warning("compat MQTT: %d messages dropped (broker away)", self.dropped)
            self._pending.append(publication)
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-compat-mqtt")

    async def wait_connected(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self, final: Sequence[Publication] = ()) -> None:
        """Publish what is queued and ``final`` (when connected), then disconnect."""
        task = self._task
        if task is None:
            return
        self._final = list(final)
        self._stopping.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._task = None

    def _client(self) -> aiomqtt.Client:
        s = self._settings
        password = s.mqtt_password.get_secret_value() if s.mqtt_password is not None else None
        will = None
        if self._will is not None:
            will = aiomqtt.Will(
                self._will.topic, self._will.payload, qos=1, retain=self._will.retain
            )
        return aiomqtt.Client(
            s.mqtt_host,
            s.mqtt_port,
            username=s.mqtt_username,
            password=password,
            identifier=self._client_id,
            clean_session=True,
            will=will,
            keepalive=s.mqtt_keepalive_s,
            timeout=10,
            logger=logger,
        )

    async def _run(self) -> None:
        s = self._settings
        delay = s.mqtt_reconnect_min_s
        while not self._stopping.is_set():
            try:
                async with self._client() as client:
                    for topic in self._subscriptions:
                        await client.subscribe(topic, qos=1)
                    announce = await self._on_connected()
                    self._pending.extendleft(reversed(announce))
                    self._connected.set()
                    delay = s.mqtt_reconnect_min_s
                    await self._session(client)
            except aiomqtt.MqttError as err:
                logger.warning(
                    "compat MQTT: broker unavailable (%s); retrying in %.1f s", err, delay
                )
            except Exception:
                logger.exception("compat MQTT loop failed; reconnecting in %.1f s", delay)
            finally:
                self._connected.clear()
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, s.mqtt_reconnect_max_s)

    async def _session(self, client: aiomqtt.Client) -> None:
        reader = asyncio.create_task(self._read(client), name="hub-compat-mqtt-read")
        try:
            while True:
                await self._flush(client)
                if self._stopping.is_set():
                    self._pending.extend(self._final)
                    self._final = []
                    await self._flush(client)
                    return
                if reader.done():
                    reader.result()  # raises the reader's MqttError: reconnect
                    return
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader

    async def _flush(self, client: aiomqtt.Client) -> None:
        while self._pending:
            publication = self._pending[0]
            await client.publish(
                publication.topic, publication.payload, qos=1, retain=publication.retain
            )
            self._pending.popleft()

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                await self._on_message(message.topic.value, payload_bytes(message.payload))
            except Exception:
                logger.exception("compat MQTT: handling a message on %s failed", message.topic)
