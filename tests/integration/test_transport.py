"""PahoTransport, OutboxDrainer and HeartbeatService against a real Mosquitto."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contracts.ids import uuid7
from contracts.messages import (
    AckMessage,
    BBox,
    CameraStats,
    FacePayload,
    Heartbeat,
    Phase,
    parse_event,
)
from edge_agent.domain.events import PendingEvent
from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from edge_agent.services.drain import OutboxDrainer
from edge_agent.services.heartbeat import HeartbeatService, HeartbeatStats
from edge_agent.transport.errors import PublishError
from edge_agent.transport.paho_transport import PahoTransport
from innsight.broker import MosquittoBroker

pytestmark = pytest.mark.integration

SITE = "hotel-a"
DEVICE = "edge-01"
STATUS = f"innsight/{SITE}/{DEVICE}/status"
ACKS = f"innsight/{SITE}/{DEVICE}/acks"
EVENTS = f"innsight/{SITE}/{DEVICE}/events/#"
REPO = Path(__file__).parents[2]


class Recorder:
    """A test-side MQTT client (the "hub"): records what it receives, publishes acks."""

    def __init__(self, broker: MosquittoBroker, topics: list[str], name: str = "hub") -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{name}")
        self.client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda _c, _u, _m, _rc, _p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(10), "test subscriber did not subscribe"

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[list[mqtt.MQTTMessage]], bool], timeout_s: float = 10.0
    ) -> list[mqtt.MQTTMessage]:
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self.messages), timeout_s)
            seen = [(m.topic, bytes(m.payload)[:80]) for m in self.messages]
            assert ok, f"timed out; received {seen}"
            return list(self.messages)

    def payloads(self, topic: str) -> list[bytes]:
        with self._cond:
            return [bytes(m.payload) for m in self.messages if m.topic == topic]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def event_seqs(messages: list[mqtt.MQTTMessage]) -> list[int]:
    return [parse_event(bytes(m.payload)).seq for m in messages if "/events/" in m.topic]


def face_event(track: int = 1) -> PendingEvent:
    return PendingEvent(
        event_id=uuid7(),
        phase=Phase.NEW,
        camera_id="cam-1",
        started_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
        payload=FacePayload(
            score=0.9, bbox=BBox(x=1, y=2, w=30, h=40), track_id=track, model_id="m1"
        ),
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def recorders() -> Iterator[list[Recorder]]:
    made: list[Recorder] = []
    yield made
    for recorder in made:
        recorder.close()


@pytest.fixture
def transport(mosquitto: MosquittoBroker) -> Iterator[PahoTransport]:
    edge = PahoTransport(
        SITE, DEVICE, mosquitto.host, mosquitto.port, min_backoff_s=0.1, max_backoff_s=0.5
    )
    edge.start()
    assert edge.wait_connected(10)
    yield edge
    edge.stop()


@pytest.mark.timeout(60)
def test_qos1_publishes_reach_a_subscriber_in_order(
    mosquitto: MosquittoBroker, transport: PahoTransport, recorders: list[Recorder]
) -> None:
    hub = Recorder(mosquitto, ["innsight/+/+/test/#"])
    recorders.append(hub)
    topic = f"innsight/{SITE}/{DEVICE}/test/x"
    for i in range(50):
        transport.publish(topic, f"m{i}".encode(), qos=1)
    hub.wait_for(lambda ms: len(ms) == 50)
    assert hub.payloads(topic) == [f"m{i}".encode() for i in range(50)]
    assert all(m.qos == 1 for m in hub.messages)
    assert wait_until(lambda: transport.stats().pubacked == transport.stats().published)
    assert transport.stats().published == 51  # the 50 plus 'online'


@pytest.mark.timeout(60)
def test_status_online_is_retained_and_stop_leaves_stopped(
    mosquitto: MosquittoBroker, recorders: list[Recorder]
) -> None:
    early = Recorder(mosquitto, [STATUS], "early")  # sees the status arrive at the broker
    recorders.append(early)
    edge = PahoTransport(SITE, DEVICE, mosquitto.host, mosquitto.port)
    edge.start()
    assert edge.wait_connected(10)
    early.wait_for(lambda ms: any(bytes(m.payload) == b"online" for m in ms))
    late = Recorder(mosquitto, [STATUS], "late")  # subscribes after the fact: retained
    recorders.append(late)
    [online] = late.wait_for(lambda ms: len(ms) == 1)
    assert (bytes(online.payload), online.retain) == (b"online", True)

    edge.stop()
    assert not edge.connected
    with pytest.raises(PublishError):
        edge.publish(STATUS, b"x")
    later = Recorder(mosquitto, [STATUS], "later")
    recorders.append(later)
    [stopped] = later.wait_for(lambda ms: len(ms) == 1)
    assert (bytes(stopped.payload), stopped.retain) == (b"stopped", True)


_EDGE_PROCESS = textwrap.dedent(
    """
    import sys, time
    from edge_agent.transport.paho_transport import PahoTransport

    edge = PahoTransport("hotel-a", "edge-01", "127.0.0.1", int(sys.argv[1]))
    edge.start()
    time.sleep(60)
    """
)


@pytest.mark.timeout(60)
def test_last_will_offline_when_the_edge_process_is_killed(
    mosquitto: MosquittoBroker, recorders: list[Recorder], tmp_path: Path
) -> None:
    watcher = Recorder(mosquitto, [STATUS], "watcher")
    recorders.append(watcher)
    with (tmp_path / "edge.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _EDGE_PROCESS, str(mosquitto.port)],
            cwd=REPO,
            stdout=log,
            stderr=log,
        )
        try:
            watcher.wait_for(lambda ms: b"online" in [bytes(m.payload) for m in ms], 20)
            process.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker sends the will
            process.wait(10)
            watcher.wait_for(lambda ms: bytes(ms[-1].payload) == b"offline")
        finally:
            process.kill()
            process.wait(10)
    late = Recorder(mosquitto, [STATUS], "late")
    recorders.append(late)
    [status] = late.wait_for(lambda ms: len(ms) == 1)
    assert (bytes(status.payload), status.retain) == (b"offline", True)


@pytest.mark.timeout(60)
def test_reconnects_by_itself_after_the_broker_restarts(
    mosquitto: MosquittoBroker,
    transport: PahoTransport,
    recorders: list[Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_agent.transport.paho_transport")
    mosquitto.kill()
    assert wait_until(lambda: not transport.connected)
    time.sleep(1.5)  # several connect attempts fail meanwhile (backoff 0.1 .. 0.5 s)
    mosquitto.start()
    assert transport.wait_connected(10)

    hub = Recorder(mosquitto, ["innsight/+/+/test/#"])
    recorders.append(hub)
    topic = f"innsight/{SITE}/{DEVICE}/test/after"
    transport.publish(topic, b"after-restart")
    hub.wait_for(lambda ms: len(ms) == 1)
    assert transport.stats().reconnects >= 1

    records = [r for r in caplog.records if r.name == "edge_agent.transport.paho_transport"]
    failed_attempts = [r for r in records if "connect attempt failed" in r.getMessage()]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(failed_attempts) >= 2
    assert len(warnings) == 1, "one warning per outage, not per attempt"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[SqliteOutbox]:
    box = SqliteOutbox(tmp_path / "outbox.db", DEVICE, SITE)
    yield box
    box.close()


@pytest.fixture
def run_drainer() -> Iterator[Callable[[OutboxDrainer], None]]:
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(drainer: OutboxDrainer) -> None:
        drainer.attach()
        thread = threading.Thread(target=drainer.run, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(5)


def ack(seqs: list[tuple[int, int]], device: str = DEVICE) -> bytes:
    return AckMessage(device_id=device, ranges=seqs).to_json_bytes()


@pytest.mark.timeout(60)
def test_drain_releases_exactly_the_acked_rows_and_resends_the_rest(
    mosquitto: MosquittoBroker,
    transport: PahoTransport,
    outbox: SqliteOutbox,
    recorders: list[Recorder],
    run_drainer: Callable[[OutboxDrainer], None],
) -> None:
    hub = Recorder(mosquitto, [EVENTS])
    recorders.append(hub)
    drainer = OutboxDrainer(outbox, transport, SITE, DEVICE, resend_after_s=1.0, poll_s=0.05)
    run_drainer(drainer)
    for i in range(6):
        outbox.enqueue(face_event(track=i))
    drainer.wake()
    hub.wait_for(lambda ms: sorted(set(event_seqs(ms))) == [1, 2, 3, 4, 5, 6])
    assert event_seqs(hub.messages)[:6] == [1, 2, 3, 4, 5, 6]  # in seq order

    hub.publish(ACKS, b"{not json")  # ignored
    hub.publish(ACKS, ack([(4, 4)], device="edge-99"))  # another device's: ignored
    hub.publish(ACKS, ack([(1, 3), (5, 6), (90, 99)]))
    assert wait_until(lambda: outbox.seqs() == [4])
    assert drainer.stats().bad_acks == 2
    assert drainer.stats().released == 5

    # seq 4 was never acked: it goes out again after resend_after_s
    hub.wait_for(lambda ms: event_seqs(ms).count(4) >= 2)
    hub.publish(ACKS, ack([(4, 4)]))
    assert drainer.wait_until_drained(10)
    hub.publish(ACKS, ack([(1, 6)]))  # a late duplicate ack is harmless
    outbox.enqueue(face_event())
    drainer.wake()
    hub.wait_for(lambda ms: 7 in event_seqs(ms))
    assert outbox.seqs() == [7]


@pytest.mark.timeout(60)
def test_drain_keeps_at_most_max_unacked_rows_out(
    mosquitto: MosquittoBroker,
    transport: PahoTransport,
    outbox: SqliteOutbox,
    recorders: list[Recorder],
    run_drainer: Callable[[OutboxDrainer], None],
) -> None:
    hub = Recorder(mosquitto, [EVENTS])
    recorders.append(hub)
    drainer = OutboxDrainer(
        outbox, transport, SITE, DEVICE, resend_after_s=30.0, max_unacked=3, poll_s=0.05
    )
    for i in range(10):
        outbox.enqueue(face_event(track=i))
    run_drainer(drainer)
    hub.wait_for(lambda ms: len(event_seqs(ms)) == 3)
    time.sleep(0.3)  # several drain passes: nothing more may go out without acks
    assert event_seqs(hub.messages) == [1, 2, 3]

    hub.publish(ACKS, ack([(1, 2)]))
    hub.wait_for(lambda ms: event_seqs(ms) == [1, 2, 3, 4, 5])
    hub.publish(ACKS, ack([(3, 5)]))
    hub.wait_for(lambda ms: event_seqs(ms) == list(range(1, 9)))
    hub.publish(ACKS, ack([(6, 8)]))
    hub.wait_for(lambda ms: event_seqs(ms) == list(range(1, 11)))
    hub.publish(ACKS, ack([(9, 10)]))
    assert drainer.wait_until_drained(10)
    assert drainer.stats().resent == 0


@pytest.mark.timeout(60)
def test_heartbeat_reaches_the_hub(
    mosquitto: MosquittoBroker,
    transport: PahoTransport,
    outbox: SqliteOutbox,
    recorders: list[Recorder],
) -> None:
    hub = Recorder(mosquitto, [f"innsight/{SITE}/+/heartbeat"])
    recorders.append(hub)
    outbox.enqueue(face_event())

    def stats() -> HeartbeatStats:
        return HeartbeatStats(
            cameras={"cam-1": CameraStats(fps=4.5, frames=100)},
            outbox_depth=outbox.depth(),
            outbox_oldest_age_s=outbox.oldest_age_s(time.time()),
            dropped_events=outbox.dropped(),
            gallery_version=3,
            models={"face": "dlib-resnet-v1"},
        )

    service = HeartbeatService(transport, SITE, DEVICE, stats, interval_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        messages = hub.wait_for(lambda ms: len(ms) >= 2)
    finally:
        stop.set()
        thread.join(5)
    beat = Heartbeat.model_validate_json(messages[0].payload)
    assert beat.device_id == DEVICE
    assert beat.outbox_depth == 1
    assert beat.cameras["cam-1"].fps == 4.5
    assert beat.gallery_version == 3
    assert not messages[0].retain
