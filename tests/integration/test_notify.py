"""Notification adapters against real servers: SMTP (aiosmtpd), a webhook receiver (a local
HTTP server checking the HMAC signature) and the staff-app MQTT topic (Mosquitto)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import aiomqtt
import pytest

from hub.notify.base import Notification, NotifyError
from hub.notify.mqtt import MqttTopicChannel, staff_topic
from hub.notify.smtp import SmtpEmailChannel
from hub.notify.webhook import SIGNATURE_HEADER, WebhookChannel, sign
from innsight.broker import MosquittoBroker, free_port
from testkit.hub import mqtt_probe
from testkit.smtp import smtp_sink

pytestmark = pytest.mark.integration

NOTE = Notification(
    kind="hazard_alert",
    subject="ALERT: fire at kitchen",
    body="Fire detected at the kitchen. Phòng bếp.",
    html="<p>Fire detected at the <b>kitchen</b>.</p>",
)


def test_smtp_sends_text_and_html() -> None:
    with smtp_sink() as sink:
        channel = SmtpEmailChannel(sink.host, sink.port, sender="hub@hotel.test")
        asyncio.run(channel.send("security@hotel.test", NOTE))
        mail = sink.wait_for(1)[0]
    assert mail.mail_from == "hub@hotel.test"
    assert mail.rcpt_tos == ["security@hotel.test"]
    assert mail.subject == NOTE.subject
    assert "Phòng bếp" in mail.text()
    html = mail.message.get_body(preferencelist=("html",))
    assert html is not None
    assert "<b>kitchen</b>" in html.get_content()


def test_smtp_unreachable_is_a_notify_error() -> None:
    channel = SmtpEmailChannel("127.0.0.1", free_port(), sender="hub@hotel.test", timeout_s=2)
    with pytest.raises(NotifyError, match="did not take"):
        asyncio.run(channel.send("x@hotel.test", NOTE))


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status: ClassVar[int] = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_posts_signed_json(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    asyncio.run(WebhookChannel(url, secret="s3cret").send("security", NOTE))
    headers, body = handler.received[0]
    assert json.loads(body) == {
        "kind": "hazard_alert",
        "to": "security",
        "subject": NOTE.subject,
        "body": NOTE.body,
    }
    assert headers[SIGNATURE_HEADER] == sign("s3cret", body)
    handler.status = 500
    with pytest.raises(NotifyError, match="answered 500"):
        asyncio.run(WebhookChannel(url).send("security", NOTE))


@pytest.mark.usefixtures("mosquitto")
def test_mqtt_channel_publishes_to_the_staff_topic(mosquitto: MosquittoBroker) -> None:
    with mqtt_probe(mosquitto, "staff-app") as app:
        app.subscribe(staff_topic("hotel-a", "security"))

        async def send() -> None:
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
                await MqttTopicChannel(client, "hotel-a").send("security", NOTE)

        asyncio.run(send())
        message = app.next_message()
    assert message.topic == "innsight/hotel-a/staff/security/notifications"
    assert json.loads(message.payload)["subject"] == NOTE.subject
