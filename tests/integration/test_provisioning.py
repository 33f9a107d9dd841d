"""``innsight provision`` against a real Mosquitto started from the config init-site wrote.

The broker must: accept an enrolled device over TLS with its bundle's credentials and let it
write only its own topics and read only its own acks/gallery/commands; refuse wrong passwords,
unknown users and anonymous clients; refuse a revoked device at CONNECT once reloaded; refuse a
rotated-away password. The bundle is 0600 and nothing secret reaches stdout or the logs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import queue
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from contracts.topics import Channel, device_topic
from edge_agent.app import mqtt_ca_file
from edge_agent.config import EdgeConfig, load_config
from hub.db import SessionFactory
from hub.device_registry import verify_device_token
from innsight.broker import free_port, mosquitto_binary
from innsight.cli import main
from provisioning.site import SitePaths
from testkit.provisioning import (
    MqttSession,
    SiteBroker,
    connack_of,
    provision,
    refused,
    run_with_hub_db,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SITE = "hotel-prov"
SILENCE_S = 1.0


@dataclass
class Site:
    root: Path
    paths: SitePaths
    broker: SiteBroker
    hub_db: Path
    hub_user: str
    hub_password: str
    output: list[str] = field(default_factory=list)  # everything the CLI printed or logged

    def bundle(self, device: str) -> Path:
        return self.root / f"{device}.bundle.yaml"

    def config(self, device: str) -> EdgeConfig:
        return load_config(self.bundle(device))

    def run(self, *args: str | Path) -> int:
        """``innsight provision ARGS`` with stdout, stderr and every log record kept."""
        out, err = io.StringIO(), io.StringIO()
        handler = logging.StreamHandler(io.StringIO())
        root = logging.getLogger()
        level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = provision(*args, "--dir", self.paths.root)
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
        assert isinstance(handler.stream, io.StringIO)
        self.output += [out.getvalue(), err.getvalue(), handler.stream.getvalue()]
        return code

    def enroll(self, device: str, *extra: str | Path) -> EdgeConfig:
        cameras = self.root / f"{device}.cameras.yaml"
        cameras.write_text(
            f"cameras:\n  - id: door\n    url: {self.root / 'clip.avi'}\n"
            f"data_dir: {self.root / device}\n"
        )
        code = self.run(
            "enroll", device, "--site", SITE, "--cameras", cameras, "--out", self.bundle(device),
            *extra,
        )  # fmt: skip
        assert code == 0, self.output[-3:]
        return self.config(device)

    def device_session(self, config: EdgeConfig, *, v5: bool = False) -> MqttSession:
        password = config.mqtt.password
        assert password is not None
        return MqttSession(
            config.mqtt.port,
            username=config.mqtt.username,
            password=password.get_secret_value(),
            ca=mqtt_ca_file(config),
            v5=v5,
        )

    def hub_session(self) -> MqttSession:
        session = MqttSession(
            self.broker.info.local_port, username=self.hub_user, password=self.hub_password
        )
        assert not session.connack().is_failure
        return session

    def token_owner(self, token: str) -> str | None:
        async def check(factory: SessionFactory) -> str | None:
            async with factory() as session:
                return await verify_device_token(session, token)

        return run_with_hub_db(self.hub_db, check)


def _hub_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    root = tmp_path_factory.mktemp("provisioning")
    with pytest.MonkeyPatch.context() as env:
        for name in ("INNSIGHT_DATABASE_URL", "DATABASE_URL", "INNSIGHT_SITE_DIR"):
            env.delenv(name, raising=False)
        env.setenv("INNSIGHT_DATA_DIR", str(root / "hub"))
        env.setenv("INNSIGHT_SITE", SITE)
        env.setenv("INNSIGHT_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
        paths = SitePaths(root / "site")
        tls_port, local_port = free_port(), free_port()
        code = main(
            ["--log-level", "warning", "provision", "init-site", "--site", SITE,
             "--dir", str(paths.root), "--broker-host", "127.0.0.1",
             "--broker-port", str(tls_port), "--local-port", str(local_port),
             "--listen-address", "127.0.0.1"]
        )  # fmt: skip
        assert code == 0
        hub_env = _hub_env(paths.hub_env)
        broker = SiteBroker(paths, paths.load_info())
        site = Site(
            root,
            paths,
            broker,
            root / "hub" / "hub.db",
            hub_env["INNSIGHT_MQTT_USERNAME"],
            hub_env["INNSIGHT_MQTT_PASSWORD"],
        )
        # enrolled before the broker starts: it reads the files at start, no reload needed
        site.enroll("edge-a", "--no-reload")
        site.enroll("edge-b", "--no-reload")
        broker.start()
        try:
            yield site
        finally:
            broker.stop()


def _secrets(config: EdgeConfig) -> list[str]:
    assert config.mqtt.password is not None
    assert config.hub.token is not None
    return [config.mqtt.password.get_secret_value(), config.hub.token.get_secret_value()]


def test_bundle_is_0600_a_valid_edge_config_and_the_only_place_secrets_go(site: Site) -> None:
    bundle = site.bundle("edge-a")
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert main(["edge", "check-config", str(bundle)]) == 0
    config = site.config("edge-a")
    assert (config.device_id, config.site, config.mqtt.username) == ("edge-a", SITE, "edge-a")
    assert config.mqtt.tls_ca_pem == site.paths.ca_cert.read_text()
    printed = "\n".join(site.output)
    assert str(bundle) in printed  # the operator is told where it is
    for secret in _secrets(config) + _secrets(site.config("edge-b")) + [site.hub_password]:
        assert secret not in printed
        assert secret not in site.broker.log()
    # one gallery key per site, in every bundle of the site: the edges' saved galleries are
    # sealed per site (a file copied to another site opens nowhere)
    keys = {site.config(d).gallery.key for d in ("edge-a", "edge-b")}
    assert len(keys) == 1
    assert None not in keys
    (key,) = keys
    assert key is not None
    assert key.get_secret_value() == site.paths.gallery_key.read_text().strip()
    assert key.get_secret_value() not in printed
    for path in (
        site.paths.passwd,
        site.paths.server_key,
        site.paths.ca_key,
        site.paths.hub_env,
        site.paths.gallery_key,
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not (site.paths.broker_dir / "ca.key").exists()  # the broker never holds the CA key
    assert stat.S_IMODE(site.paths.ca_key.parent.stat().st_mode) == 0o700


def test_enrolled_device_writes_its_topics_and_reads_its_acks(site: Site) -> None:
    config = site.config("edge-a")
    with site.hub_session() as hub, site.device_session(config) as device:
        assert not device.connack().is_failure
        hub.subscribe(f"innsight/{SITE}/+/#")
        assert [r.is_failure for r in device.subscribe(f"innsight/{SITE}/edge-a/acks")] == [False]
        for topic in (
            device_topic(SITE, "edge-a", Channel.STATUS),
            f"innsight/{SITE}/edge-a/events/face",
            device_topic(SITE, "edge-a", Channel.HEARTBEAT),
        ):
            device.publish(topic, b"{}")
            assert hub.next_message().topic == topic
        hub.publish(device_topic(SITE, "edge-a", Channel.ACKS), b"ack")
        message = device.next_message()
        assert (message.topic, message.payload) == (f"innsight/{SITE}/edge-a/acks", b"ack")


def test_publishing_on_another_devices_topic_is_dropped(site: Site) -> None:
    """MQTT 3.1.1 has no way to refuse a PUBLISH: the broker acks and drops it. The marker sent
    after it on the device's own topic arrives; the forged one, sent first, never does."""
    with site.hub_session() as hub, site.device_session(site.config("edge-a")) as device:
        assert not device.connack().is_failure
        hub.subscribe(f"innsight/{SITE}/+/#")
        forged = f"innsight/{SITE}/edge-b/events/face"
        device.publish(forged, b"forged")
        device.publish(device_topic(SITE, "edge-a", Channel.STATUS), b"marker", retain=True)
        device.publish(device_topic(SITE, "edge-a", Channel.ACKS), b"fake ack")  # hub->edge only
        message = hub.next_message()
        assert (message.topic, message.payload) == (f"innsight/{SITE}/edge-a/status", b"marker")
        with pytest.raises(queue.Empty):  # nothing else arrives
            hub.next_message(SILENCE_S)
        # reading another device's acks: 3.1.1 SUBACK grants it, but nothing is delivered
        device.subscribe(f"innsight/{SITE}/edge-b/acks")
        device.subscribe(f"innsight/{SITE}/edge-a/acks")
        hub.publish(device_topic(SITE, "edge-b", Channel.ACKS), b"theirs")
        hub.publish(device_topic(SITE, "edge-a", Channel.ACKS), b"mine")
        assert device.next_message().payload == b"mine"
        with pytest.raises(queue.Empty):
            device.next_message(SILENCE_S)


def test_mqtt5_publish_on_another_devices_topic_gets_not_authorized(site: Site) -> None:
    with site.device_session(site.config("edge-a"), v5=True) as device:
        assert not device.connack().is_failure
        assert device.publish(f"innsight/{SITE}/edge-b/heartbeat", b"{}").getName() == (
            "Not authorized"
        )
        assert not device.publish(f"innsight/{SITE}/edge-a/heartbeat", b"{}").is_failure
        # Mosquitto 2.0's ACL grants every SUBACK and filters on delivery (tested above).


def test_wrong_password_unknown_user_and_anonymous_are_refused(site: Site) -> None:
    config = site.config("edge-a")
    tls = {"ca": mqtt_ca_file(config)}
    port = config.mqtt.port
    assert refused(connack_of(port, username="edge-a", password="wrong", **tls))
    assert refused(connack_of(port, username="edge-z", password="anything", **tls))
    assert refused(connack_of(port, **tls))
    assert refused(connack_of(site.broker.info.local_port))  # the hub's listener too
    assert refused(connack_of(site.broker.info.local_port, username=site.hub_user, password="x"))


def test_revoked_device_is_refused_at_connect_after_reload(site: Site) -> None:
    config = site.enroll("edge-r")  # the broker is running: reloaded through its pid file
    token = _secrets(config)[1]
    assert site.token_owner(token) == "edge-r"
    with site.device_session(config) as device:
        assert not device.connack().is_failure

    assert site.run("revoke", "edge-r") == 0
    assert "reloaded" in site.output[-3]
    assert refused(connack_of(config.mqtt.port, **_login(config)))
    assert site.token_owner(token) is None  # the hub refuses its gallery downloads
    assert "edge-r" not in site.paths.passwd.read_text()
    assert "edge-r" not in site.paths.acl.read_text()
    listed = _list(site)
    assert listed["edge-r"]["revoked"] is True
    assert listed["edge-r"]["broker_credentials"] is False


def test_rotate_makes_the_old_password_and_token_fail(site: Site) -> None:
    old = site.enroll("edge-x")
    assert not connack_of(old.mqtt.port, **_login(old)).is_failure

    assert site.run("rotate", "edge-x", "--out", site.bundle("edge-x")) == 0
    new = site.config("edge-x")
    assert stat.S_IMODE(site.bundle("edge-x").stat().st_mode) == 0o600
    assert new.cameras == old.cameras  # the bundle was updated in place
    assert new.gallery.key == old.gallery.key  # the saved gallery still opens
    assert refused(connack_of(old.mqtt.port, **_login(old)))
    assert not connack_of(new.mqtt.port, **_login(new)).is_failure
    assert site.token_owner(_secrets(old)[1]) is None
    assert site.token_owner(_secrets(new)[1]) == "edge-x"
    assert not set(_secrets(new)) & set("\n".join(site.output).split())


def test_enroll_with_a_csr_signs_the_devices_own_key(site: Site) -> None:
    key = ec.generate_private_key(ec.SECP256R1())  # made on the device; only the CSR travels
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge-c")]))
        .sign(key, hashes.SHA256())
    )
    csr_path = site.root / "edge-c.csr"
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    site.enroll("edge-c", "--csr", csr_path)
    cert = x509.load_pem_x509_certificate(site.bundle("edge-c").with_suffix(".crt").read_bytes())
    cert.verify_directly_issued_by(site.paths.load_ca().cert)
    assert cert.public_key() == key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "edge-c"


def test_refusals_change_nothing(site: Site) -> None:
    before = (site.paths.passwd.read_bytes(), site.paths.acl.read_bytes())
    cameras = site.root / "edge-a.cameras.yaml"
    args = ("--site", SITE, "--cameras", cameras, "--no-reload")
    assert site.run("enroll", "edge-a", *args, "--out", site.root / "again.yaml") == 2
    assert "already enrolled" in site.output[-2]
    assert site.run("enroll", site.hub_user, *args) == 2  # the hub's own user
    assert site.run("revoke", "edge-never") == 2
    assert site.run("rotate", "edge-never") == 2
    assert site.run("enroll", "edge-y", "--site", "other-site", "--cameras", cameras) == 2
    assert (site.paths.passwd.read_bytes(), site.paths.acl.read_bytes()) == before
    assert not (site.root / "again.yaml").exists()


def test_reload_without_a_running_broker_is_a_clear_error(site: Site, tmp_path: Path) -> None:
    from provisioning.reload import BrokerReloadError, reload_broker

    with pytest.raises(BrokerReloadError, match="no broker pid file"):
        reload_broker(pid_file=tmp_path / "mosquitto.pid")
    (tmp_path / "stale.pid").write_text("999999999\n")
    with pytest.raises(BrokerReloadError, match=r"not running|not mosquitto"):
        reload_broker(pid_file=tmp_path / "stale.pid")


def _login(config: EdgeConfig) -> dict[str, object]:
    assert config.mqtt.password is not None
    return {
        "username": config.mqtt.username,
        "password": config.mqtt.password.get_secret_value(),
        "ca": mqtt_ca_file(config),
    }


def _list(site: Site) -> dict[str, dict[str, object]]:
    assert site.run("list", "--json") == 0
    listed = json.loads(site.output[-3])
    return {item["device_id"]: item for item in listed["devices"]}


def test_enroll_sets_liveness_require_on_the_hubs_attendance_cameras(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a camera the hub counts attendance from (INNSIGHT_ATTENDANCE_CAMERAS) gets
    liveness ``require`` in its bundle; without it, the edge's global mode applies."""
    assert site.config("edge-a").cameras[0].liveness is None
    monkeypatch.setenv("INNSIGHT_ATTENDANCE_CAMERAS", "door")
    config = site.enroll("edge-att", "--no-reload")
    assert [(c.id, c.liveness) for c in config.cameras] == [("door", "require")]
    assert config.recognition.liveness.mode == "flag"
