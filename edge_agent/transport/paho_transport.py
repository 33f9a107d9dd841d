"""The edge's MQTT connection: :class:`edge_agent.ports.Publisher` on paho-mqtt v2.

One thread owns the paho client (DESIGN §5: publishes from other threads have been seen to
vanish). It runs ``client.loop(timeout=poll_s)`` itself and, between iterations, drains a
thread-safe queue of publish/subscribe requests; callers from any thread only touch that queue.

- MQTT v3.1.1, ``clean_session=False`` and a stable client id (``edge-{site}-{device}``), so the
  broker keeps the session (subscriptions and queued QoS 1 acks) while the edge is away.
- Retained last will ``offline`` on ``innsight/{site}/{device}/status``; ``online`` (retained)
  on every (re)connect; ``stopped`` (retained) on a clean :meth:`PahoTransport.stop`.
- Reconnects by itself with exponential backoff and jitter; one warning per outage.
- Subscriptions are remembered and re-issued on every connect; handlers run on this thread.

A PUBACK only ends the MQTT exchange: events are released from the outbox on the hub's ack, not
here (DESIGN §2).
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr

from contracts.messages import DeviceStatus
from contracts.topics import Channel, device_topic
from edge_agent.domain.backoff import Backoff
from edge_agent.ports import MessageHandler
from edge_agent.transport.errors import PublishError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class _Subscribe:
    topic: str


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Request = _Publish | _Subscribe | _Stop


@dataclass(frozen=True, slots=True)
class TransportStats:
    """Counters for the heartbeat and for tests (a snapshot; read from any thread)."""

    connected: bool
    published: int  # messages handed to paho (QoS 1 ones are queued there while offline)
    pubacked: int  # QoS >= 1 messages whose PUBACK arrived
    refused: int  # messages paho would not take (queue full, or QoS 0 while offline)
    connects: int  # successful CONNACKs
    reconnects: int  # successful CONNACKs after the first


def _delivered(info: mqtt.MQTTMessageInfo) -> bool:
    """PUBACK received; False also when paho refused the message (is_published raises)."""
    try:
        return info.is_published()
    except (ValueError, RuntimeError):
        return False


def _check_topic(topic: str) -> None:
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"invalid publish topic {topic!r}")


class _TrackingSSLContext(ssl.SSLContext):
    """A client TLS context (verifies the chain and the host name) that remembers the socket it
    wrapped last, so a connect whose handshake failed can close it: paho leaves it open."""

    last_socket: ssl.SSLSocket | None = None

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        sock = super().wrap_socket(*args, **kwargs)
        self.last_socket = sock
        return sock


class PahoTransport:
    """The edge's single MQTT connection. Call :meth:`start` once, :meth:`stop` at the end."""

    def __init__(
        self,
        site: str,
        device_id: str,
        host: str,
        port: int,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: SecretStr | str | None = None,
        tls_ca: Path | None = None,
        keepalive: int = 30,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_inflight: int = 100,
        max_queued: int = 10_000,
        poll_s: float = 0.05,
        connect_timeout_s: float = 5.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ValueError("need 0 < min_backoff_s <= max_backoff_s")
        self.site = site
        self.device_id = device_id
        self.host = host
        self.port = port
        self.client_id = client_id or f"edge-{site}-{device_id}"
        self.status_topic = device_topic(site, device_id, Channel.STATUS)
        self._keepalive = keepalive
        self._max_backoff_s = max_backoff_s
        self._backoff = Backoff(min_backoff_s, max_backoff_s)
        self._poll_s = poll_s
        self._stop_timeout_s = stop_timeout_s
        self._connect_timeout_s = connect_timeout_s

        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._kick = threading.Event()
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._handlers_lock = threading.Lock()
        self._connected = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

        # Owned by the transport thread once it starts.
        self._qos_mids: set[int] = set()
        self._outage_since: float | None = None
        self._published = 0
        self._pubacked = 0
        self._refused = 0
        self._connects = 0

        self._tls_context: _TrackingSSLContext | None = None
        self._client = self._build_client(username, password, tls_ca, max_inflight, max_queued)

    def _build_client(
        self,
        username: str | None,
        password: SecretStr | str | None,
        tls_ca: Path | None,
        max_inflight: int,
        max_queued: int,
    ) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        client.will_set(self.status_topic, DeviceStatus.OFFLINE.value.encode(), qos=1, retain=True)
        if username is not None:
            secret = password.get_secret_value() if isinstance(password, SecretStr) else password
            client.username_pw_set(username, secret)
        if tls_ca is not None:
            self._tls_context = _TrackingSSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self._tls_context.load_verify_locations(cafile=str(tls_ca))
            client.tls_set_context(self._tls_context)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(max_queued)
        client.connect_timeout = self._connect_timeout_s
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    # -- public API (any thread) -----------------------------------------------------------

    def start(self) -> None:
        """Start the transport thread; it connects (and keeps reconnecting) by itself."""
        if self._thread is not None:
            raise RuntimeError("transport already started")
        self._thread = threading.Thread(
            target=self._run, name=f"mqtt-{self.device_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Publish ``stopped`` (retained), wait for its PUBACK (bounded), disconnect cleanly."""
        self._stopping = True
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._requests.put(_Stop())
        self._kick.set()
        thread.join(self._stop_timeout_s + self._connect_timeout_s + 2.0)
        if thread.is_alive():
            logger.warning("MQTT transport thread did not stop in time")

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a message for the transport thread; never blocks on the network.

        QoS >= 1 messages published while offline wait in paho's session and go out on
        reconnect; QoS 0 ones are dropped (and counted) while offline.
        """
        if self._stopping:
            raise PublishError(f"transport stopped: cannot publish on {topic}")
        _check_topic(topic)
        if qos not in (0, 1, 2):
            raise ValueError(f"invalid qos {qos}")
        self._requests.put(_Publish(topic, bytes(payload), qos, retain))
        self._kick.set()

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Subscribe at QoS 1 (again on every reconnect); ``handler`` runs on this thread."""
        if not topic:
            raise ValueError("empty subscription topic")
        with self._handlers_lock:
            self._handlers.setdefault(topic, []).append(handler)
        self._requests.put(_Subscribe(topic))
        self._kick.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def stats(self) -> TransportStats:
        return TransportStats(
            connected=self.connected,
            published=self._published,
            pubacked=self._pubacked,
            refused=self._refused,
            connects=self._connects,
            reconnects=max(0, self._connects - 1),
        )

    # -- the transport thread --------------------------------------------------------------

    def _run(self) -> None:
        need_connect = True
        next_attempt = 0.0
        while True:
            self._kick.clear()
            try:
                if self._handle_requests():
                    break
                if need_connect:
                    now = time.monotonic()
                    if now < next_attempt:
                        self._kick.wait(next_attempt - now)
                        continue
                    if self._try_connect():
                        need_connect = False
                    else:
                        next_attempt = time.monotonic() + self._next_backoff()
                    continue
                rc = self._client.loop(timeout=self._poll_s)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._connected.clear()
                    self._note_outage(mqtt.error_string(rc))
                    need_connect = True
                    next_attempt = time.monotonic() + self._next_backoff()
            except Exception:  # the thread must outlive any one failure
                logger.exception("MQTT transport loop failed; reconnecting")
                self._connected.clear()
                need_connect = True
                next_attempt = time.monotonic() + self._next_backoff()
        self._shutdown()

    def _handle_requests(self) -> bool:
        """Hand queued requests to paho in order; True when a stop was requested."""
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return False
            if isinstance(request, _Stop):
                return True
            if isinstance(request, _Subscribe):
                if self._connected.is_set():
                    self._client.subscribe(request.topic, qos=1)
                continue  # re-issued by on_connect otherwise
            self._send(request)

    def _send(self, request: _Publish) -> mqtt.MQTTMessageInfo:
        info = self._client.publish(
            request.topic, request.payload, qos=request.qos, retain=request.retain
        )
        queued_offline = request.qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or queued_offline:
            self._published += 1
            if request.qos > 0:
                self._qos_mids.add(info.mid)
        else:
            self._refused += 1
            logger.debug("paho refused a message on %s: %s", request.topic, info.rc)
        return info

    def _try_connect(self) -> bool:
        if self._tls_context is not None:
            self._tls_context.last_socket = None
        try:
            self._client.connect(self.host, self.port, keepalive=self._keepalive)
        except OSError as err:  # refused, unreachable, timeout, TLS failure
            if self._tls_context is not None and self._tls_context.last_socket is not None:
                # paho does not close the socket whose TLS handshake failed
                self._tls_context.last_socket.close()
                self._tls_context.last_socket = None
            self._note_outage(str(err))
            return False
        return True

    def _next_backoff(self) -> float:
        return self._backoff.next_delay()

    def _note_outage(self, reason: str) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            logger.warning(
                "MQTT broker %s:%d unavailable (%s); reconnecting with backoff up to %.0f s",
                self.host,
                self.port,
                reason,
                self._max_backoff_s,
            )
        else:
            logger.debug("MQTT connect attempt failed: %s", reason)

    def _shutdown(self) -> None:
        client = self._client
        deadline = time.monotonic() + self._stop_timeout_s
        if self._connected.is_set():
            info = self._send(
                _Publish(self.status_topic, DeviceStatus.STOPPED.value.encode(), 1, True)
            )
            while time.monotonic() < deadline and not _delivered(info):
                if client.loop(timeout=self._poll_s) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            if not _delivered(info):
                logger.warning("'stopped' status not acknowledged before disconnect")
        client.disconnect()
        while client.socket() is not None and time.monotonic() < deadline:
            if client.loop(timeout=self._poll_s) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        self._connected.clear()
        logger.info("MQTT transport stopped")

    # -- paho callbacks (transport thread) -------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._note_outage(f"connection refused: {reason_code}")
            return
        self._connects += 1
        self._backoff.reset()
        if self._outage_since is not None:
            logger.info(
                "MQTT connected to %s:%d after %.1f s (session present: %s)",
                self.host,
                self.port,
                time.monotonic() - self._outage_since,
                flags.session_present,
            )
            self._outage_since = None
        else:
            logger.info("MQTT connected to %s:%d as %s", self.host, self.port, self.client_id)
        self._send(_Publish(self.status_topic, DeviceStatus.ONLINE.value.encode(), 1, True))
        with self._handlers_lock:
            topics = list(self._handlers)
        if topics:
            client.subscribe([(topic, 1) for topic in topics])
        self._connected.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        _reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._connected.clear()

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        _reason_code: ReasonCode,
        _properties: Properties,
    ) -> None:
        if mid in self._qos_mids:
            self._qos_mids.discard(mid)
            self._pubacked += 1

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._handlers_lock:
            handlers = [
                handler
                for pattern, registered in self._handlers.items()
                if mqtt.topic_matches_sub(pattern, message.topic)
                for handler in registered
            ]
        for handler in handlers:
            try:
                handler(message.topic, bytes(message.payload))
            except Exception:  # a bad handler must not take the connection down
                logger.exception("handler for %s failed", message.topic)
