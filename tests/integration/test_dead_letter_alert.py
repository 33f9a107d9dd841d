"""The ingest's alarm reaches people: one edge producing many dead letters makes the managers
hear of it (e-mail here; the MQTT staff topic and the webhook when configured), once per alarm,
without the refused messages' content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.auth.keys import with_secrets
from innsight.broker import MosquittoBroker
from testkit.hub import DEVICE, SITE, hub_settings, mqtt_probe, running_hub
from testkit.smtp import SmtpSink, smtp_sink

pytestmark = pytest.mark.integration

MANAGER = "manager@hotel.test"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        yield sink


def test_many_dead_letters_from_one_edge_tell_the_managers(
    tmp_path: Path, mosquitto: MosquittoBroker, smtp: SmtpSink
) -> None:
    settings = with_secrets(
        hub_settings(
            tmp_path / "hub",
            mosquitto,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            attendance_notify_email=MANAGER,
            dead_letter_alert_threshold=3,
            dead_letter_alert_window_s=60.0,
        )
    )
    topic = f"innsight/{SITE}/{DEVICE}/events/face"
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "hostile-edge") as edge:
        for n in range(4):
            edge.publish(topic, b'{"schema": 1, "secret": "do-not-mail-' + str(n).encode())
        mail = smtp.wait_for(1, timeout_s=30)[0]
        assert mail.rcpt_tos == [MANAGER]
        assert DEVICE in mail.subject
        assert "do-not-mail" not in mail.text()  # the refused bytes stay in the dead letters
        summary = hub.http.get("/api/v1/dead-letters/summary").json()
        assert summary, summary
