"""A clean stop of the edge agent keeps delivering while it waits for the hub's acks.

``EdgeAgent.stop`` ends the cameras, then waits (bounded) until every event is acked. The drainer
must still run during that wait: an event whose first delivery went unacked (lost on the way,
or the hub was slow) is re-sent, and the stop still ends drained. Seen in CI before this was
fixed: the drainer shared the cameras' stop event, so a stop never re-sent anything and the demo
ended with "1 event(s) not yet acked".

Real Mosquitto; a test-side paho client plays the hub, dropping the first delivery and acking
the second (a real ack message, as the hub's ingest sends it).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pytest

from contracts.messages import parse_event
from contracts.topics import Channel, device_topic, site_subscription
from edge_agent.app import EdgeAgent
from edge_agent.config import CameraConfig, EdgeConfig, MqttConfig, OutboxConfig
from hub.ingest.acks import ack_messages
from innsight.broker import MosquittoBroker
from models.face_dlib import DlibFaceAnalyzer
from testkit.edge_harness import synthetic_event
from testkit.hub import MqttProbe

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SITE = "hotel"
DEVICE = "edge-stop"


def test_stop_resends_an_unacked_event_and_ends_drained(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    hub = MqttProbe(mosquitto, "fake-hub")
    hub.subscribe(site_subscription(SITE, Channel.EVENTS))
    config = EdgeConfig(
        device_id=DEVICE,
        site=SITE,
        data_dir=tmp_path / "edge",
        mqtt=MqttConfig(host=mosquitto.host, port=mosquitto.port),
        outbox=OutboxConfig(resend_after_s=0.5),
        cameras=[CameraConfig(id="lobby", url=str(tmp_path / "never-started.avi"))],
    )
    agent = EdgeAgent(config, analyzer=DlibFaceAnalyzer(upsample=0))
    agent.start()
    try:
        agent.outbox.enqueue(synthetic_event(0, cameras=1))
        agent.drainer.wake()
        first = hub.next_message()  # dropped: as if lost between the broker and the hub
        assert parse_event(first.payload).seq == 1
        deliveries: queue.Queue[int] = queue.Queue()

        def ack_the_resend() -> None:
            message = hub.next_message()
            envelope = parse_event(message.payload)
            deliveries.put(envelope.seq)
            for ack in ack_messages(DEVICE, {envelope.seq: 0.0}, {}):
                hub.publish(device_topic(SITE, DEVICE, Channel.ACKS), ack.to_json_bytes())

        acker = threading.Thread(target=ack_the_resend, daemon=True)
        acker.start()
        # stop() right away: the re-send can only come from the drainer during stop's wait
        drained = agent.stop(drain_timeout_s=15.0)
        acker.join(5.0)
    finally:
        if agent.unacked_at_stop is None:
            agent.stop(drain_timeout_s=0.1)
    assert deliveries.get_nowait() == 1
    assert drained
    assert agent.unacked_at_stop == 0
    assert agent.drainer.stats().resent >= 1
