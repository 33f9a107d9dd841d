"""Shared by the hub's integration tests: a running hub, an MQTT probe, event builders."""

from __future__ import annotations

import base64
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import cv2
import httpx
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contracts.ids import uuid7
from contracts.messages import (
    AckMessage,
    BBox,
    EventEnvelope,
    EventKind,
    FacePayload,
    Phase,
    Snapshot,
)
from hub.api.app import create_app
from hub.auth.local import issue_admin_token, issue_local_token
from hub.serve import HubServerThread
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker, free_port
from models.faces import FaceAnalyzer

SITE = "demo"
DEVICE = "edge-1"
WAIT_S = 10.0

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def hub_settings(
    data_dir: Path,
    broker: MosquittoBroker | None,
    *,
    database_url: str | None = None,
    **overrides: Any,
) -> HubSettings:
    port = free_port()
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "site": SITE,
        "api_port": port,
        "public_base_url": f"http://127.0.0.1:{port}",
        "mqtt_enabled": broker is not None,
        "mqtt_reconnect_min_s": 0.2,
        "mqtt_reconnect_max_s": 1.0,
        "ingest_max_batch_delay_s": 0.02,
        # tests send many requests quickly; tests/integration/test_auth.py sets small limits
        "rate_limit_heavy_burst": 10_000,
        "rate_limit_login_burst": 10_000,
        "rate_limit_recognize_burst": 10_000,
    }
    if broker is not None:
        values.update(mqtt_host=broker.host, mqtt_port=broker.port)
    if database_url is not None:
        values["database_url"] = database_url
    values.update(overrides)
    return HubSettings.model_validate(values)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(settings: HubSettings) -> dict[str, str]:
    """An ``Authorization`` header with a local admin token for this hub."""
    return bearer(issue_admin_token(settings))


def scoped_headers(
    settings: HubSettings, *scopes: str, minutes: int | None = None
) -> dict[str, str]:
    """An ``Authorization`` header with a local token holding exactly ``scopes``."""
    return bearer(issue_local_token(settings, scopes, subject="test", minutes=minutes))


@dataclass
class RunningHub:
    """``http`` sends a local admin token; ``anonymous`` sends no credentials."""

    http: httpx.Client
    settings: HubSettings
    app: Any
    anonymous: httpx.Client

    @property
    def ingest_connected(self) -> bool:
        runtime = getattr(self.app.state, "hub", None)
        return bool(runtime is not None and runtime.ingest is not None and runtime.ingest.connected)


@contextmanager
def running_hub(
    settings: HubSettings,
    *,
    face_analyzer: FaceAnalyzer | None = None,
    start_ingest: bool = True,
    wait_connected: bool = True,
    timeout_s: float = 120.0,
) -> Iterator[RunningHub]:
    """The hub in a thread of this process, with two clients. ``timeout_s``: how long a client
    waits for an answer. Long, because these tests check what the hub answers, not how fast: on
    CI's 2 busy cores, Prefect's test server (SQLite) answered "database is locked" while a
    flow run wrote its states, and Prefect's client retried with back-off for over 30 s."""
    app = create_app(settings, face_analyzer=face_analyzer, start_ingest=start_ingest)
    with (
        HubServerThread(app, port=settings.api_port) as server,
        httpx.Client(
            base_url=server.base_url, timeout=timeout_s, headers=admin_headers(settings)
        ) as http,
        httpx.Client(base_url=server.base_url, timeout=timeout_s) as anonymous,
    ):
        hub = RunningHub(http, settings, app, anonymous)
        if wait_connected and start_ingest and settings.mqtt_enabled:
            wait_until(lambda: hub.ingest_connected or None, what="the ingest to connect")
        yield hub


def wait_until(probe: Callable[[], T | None], *, what: str, timeout_s: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


class MqttProbe:
    """A paho client playing the edge: publishes, and records what arrives on its topics."""

    def __init__(self, broker: MosquittoBroker, client_id: str) -> None:
        self.received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.on_connect = lambda *_args: self._connected.set()
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.on_message = lambda _c, _u, message: self.received.put(message)
        self._client.connect(broker.host, broker.port, keepalive=30)
        self._client.loop_start()
        assert self._connected.wait(WAIT_S), "probe could not connect"

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self._client.subscribe(topic, qos=1)
        assert self._subscribed.wait(WAIT_S), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT_S)
        assert info.is_published(), f"broker did not take the message on {topic}"

    def publish_event(self, envelope: EventEnvelope, *, topic: str | None = None) -> None:
        self.publish(topic or event_topic_of(envelope), envelope.to_json_bytes())

    def next_message(self, timeout_s: float = WAIT_S) -> mqtt.MQTTMessage:
        try:
            return self.received.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout_s} s") from None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def mqtt_probe(broker: MosquittoBroker, client_id: str = "probe") -> Iterator[MqttProbe]:
    probe = MqttProbe(broker, client_id)
    try:
        yield probe
    finally:
        probe.close()


def event_topic_of(envelope: EventEnvelope) -> str:
    return f"innsight/{SITE}/{envelope.device_id}/events/{envelope.kind.value}"


def jpeg_b64(seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(48, 48, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


BASE_TIME = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def make_event(
    seq: int,
    *,
    event_id: uuid.UUID | None = None,
    phase: Phase = Phase.NEW,
    score: float = 0.5,
    person_id: str | None = None,
    device: str = DEVICE,
    camera: str = "lobby-1",
    started_at: datetime = BASE_TIME,
    snapshot_seed: int | None = None,
) -> EventEnvelope:
    return EventEnvelope(
        device_id=device,
        seq=seq,
        event_id=event_id or uuid7(),
        phase=phase,
        camera_id=camera,
        kind=EventKind.FACE,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=seq) if phase is Phase.END else None,
        payload=FacePayload(
            person_id=person_id,
            score=score,
            bbox=BBox(x=10, y=20, w=64, h=64),
            track_id=7,
            model_id="dlib-resnet-v1",
        ),
        snapshot=Snapshot(jpeg_b64=jpeg_b64(snapshot_seed)) if snapshot_seed is not None else None,
    )


def acks_topic(device: str = DEVICE) -> str:
    return f"innsight/{SITE}/{device}/acks"


def wait_for_acked(probe: MqttProbe, seqs: set[int], timeout_s: float = WAIT_S) -> list[int]:
    """Collect acks until every seq in ``seqs`` was acked; returns all acked seqs in order."""
    acked: list[int] = []
    deadline = time.monotonic() + timeout_s
    while not seqs.issubset(acked):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"acks for {sorted(seqs - set(acked))} never arrived")
        message = probe.next_message(remaining)
        acked.extend(AckMessage.model_validate_json(message.payload).seqs())
    return acked


def events_page(http: httpx.Client, **params: Any) -> dict[str, Any]:
    response = http.get("/api/v1/events", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_events(
    http: httpx.Client, predicate: Callable[[list[dict[str, Any]]], bool], **params: Any
) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = events_page(http, **params)["items"]
        return items if predicate(items) else None

    return wait_until(probe, what="events in the REST API")


def dead_letters(http: httpx.Client) -> list[dict[str, Any]]:
    response = http.get("/api/v1/dead-letters", params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------
