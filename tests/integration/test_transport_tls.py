"""The edge transport over TLS with per-device credentials, against a real Mosquitto that
refuses anonymous clients: the settings a device bundle carries (CA, username, password)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.topics import Channel, device_topic
from edge_agent.transport.paho_transport import PahoTransport
from innsight.broker import MosquittoBroker, mosquitto_binary
from testkit.tls import make_server_tls

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SITE, DEVICE, PASSWORD = "hotel-a", "edge-tls-01", "correct horse battery staple"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    passwords = tmp_path / "passwd"
    passwords.touch(mode=0o600)
    subprocess.run(
        ["mosquitto_passwd", "-b", str(passwords), DEVICE, PASSWORD], check=True, timeout=30
    )
    broker = MosquittoBroker(
        workdir=tmp_path / "mq", tls=make_server_tls(tmp_path / "pki"), password_file=passwords
    )
    broker.start()
    yield broker
    broker.kill()


def _transport(broker: MosquittoBroker, password: str, ca: Path) -> PahoTransport:
    return PahoTransport(
        SITE,
        DEVICE,
        broker.host,
        broker.port,
        username=DEVICE,
        password=password,
        tls_ca=ca,
        min_backoff_s=0.2,
        max_backoff_s=0.5,
    )


def test_tls_with_device_credentials_connects_and_publishes(
    tls_broker: MosquittoBroker,
) -> None:
    assert tls_broker.tls is not None
    transport = _transport(tls_broker, PASSWORD, tls_broker.tls.ca_cert)
    transport.start()
    try:
        assert transport.wait_connected(15)
        transport.publish(device_topic(SITE, DEVICE, Channel.HEARTBEAT), b"{}", qos=1)
    finally:
        transport.stop()
    log = tls_broker.log_path.read_text()
    assert f"as {DEVICE}" in log or DEVICE in log
    assert PASSWORD not in log


def test_wrong_password_never_connects(tls_broker: MosquittoBroker) -> None:
    assert tls_broker.tls is not None
    transport = _transport(tls_broker, "wrong", tls_broker.tls.ca_cert)
    transport.start()
    try:
        assert not transport.wait_connected(3)
    finally:
        transport.stop()


def test_unknown_ca_is_refused(tls_broker: MosquittoBroker, tmp_path: Path) -> None:
    other_ca = make_server_tls(tmp_path / "other").ca_cert
    transport = _transport(tls_broker, PASSWORD, other_ca)
    transport.start()
    try:
        assert not transport.wait_connected(3)
    finally:
        transport.stop()
    # the broker never saw this client authenticate
    assert f"as {DEVICE}" not in tls_broker.log_path.read_text()
