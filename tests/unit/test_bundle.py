"""The device bundle: a valid EdgeConfig with the CA inline, and the edge settings it accepts."""

from __future__ import annotations

from pathlib import Path
from textwrap import indent

import pytest

from edge_agent.config import ConfigError, parse_config
from provisioning.bundle import (
    BundleError,
    BundleSecrets,
    build_bundle,
    load_device_settings,
    with_attendance_liveness,
    with_new_secrets,
)
from provisioning.ca import CertificateAuthority, cert_pem

SECRETS = BundleSecrets("mqtt-password-1", "hub-token-1")


@pytest.fixture(scope="module")
def ca_pem() -> str:
    return cert_pem(CertificateAuthority.create("hotel-a").cert)


def _bundle(ca_pem: str, settings: dict[str, object]) -> str:
    return build_bundle(
        device_id="edge-01",
        site="hotel-a",
        mqtt_host="mqtt.hotel-a.lan",
        mqtt_port=8883,
        ca_pem=ca_pem,
        hub_url="https://hub.hotel-a.lan",
        secrets=SECRETS,
        settings=settings,
    )


def test_bundle_is_an_edge_config(ca_pem: str) -> None:
    text = _bundle(ca_pem, {"cameras": [{"id": "lobby", "url": "rtsp://cam/1"}]})
    config = parse_config(text)
    assert (config.device_id, config.site) == ("edge-01", "hotel-a")
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.username) == (
        "mqtt.hotel-a.lan",
        8883,
        "edge-01",
    )
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "mqtt-password-1"
    assert config.mqtt.tls_ca_pem == ca_pem
    assert config.hub.headers() == {"Authorization": "Bearer hub-token-1"}
    assert "mqtt-password-1" not in repr(config)
    assert text.startswith("# innsight device bundle")


def test_device_settings_may_carry_edge_options_but_not_credentials(tmp_path: Path) -> None:
    path = tmp_path / "cams.yaml"
    path.write_text("- id: lobby\n  url: rtsp://cam/1\n")
    assert load_device_settings(path) == {"cameras": [{"id": "lobby", "url": "rtsp://cam/1"}]}
    path.write_text("cameras:\n  - {id: lobby, url: x.avi}\ndata_dir: /var/lib/edge\n")
    assert load_device_settings(path)["data_dir"] == "/var/lib/edge"
    path.write_text("cameras:\n  - {id: lobby, url: x.avi}\nmqtt:\n  password: mine\n")
    with pytest.raises(BundleError, match="mqtt"):
        load_device_settings(path)
    path.write_text("data_dir: x\n")
    with pytest.raises(BundleError, match="cameras"):
        load_device_settings(path)


def test_invalid_settings_are_refused_with_the_field(ca_pem: str) -> None:
    with pytest.raises(BundleError, match=r"cameras\.0\.stride"):
        _bundle(ca_pem, {"cameras": [{"id": "lobby", "url": "x.avi", "stride": 0}]})


def test_rotation_keeps_settings_and_replaces_secrets(ca_pem: str, tmp_path: Path) -> None:
    path = tmp_path / "edge-01.bundle.yaml"
    path.write_text(_bundle(ca_pem, {"cameras": [{"id": "lobby", "url": "x.avi"}]}))
    text = with_new_secrets(path, "edge-01", BundleSecrets("pw-2", "token-2"), ca_pem)
    config = parse_config(text)
    assert config.cameras[0].id == "lobby"
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "pw-2"
    assert config.hub.token is not None
    assert config.hub.token.get_secret_value() == "token-2"
    assert "mqtt-password-1" not in text
    with pytest.raises(BundleError, match="edge-02"):
        with_new_secrets(path, "edge-02", SECRETS, ca_pem)


def test_edge_config_takes_one_ca_and_only_a_pem(ca_pem: str) -> None:
    base = "device_id: e\nsite: s\ncameras:\n  - {id: c, url: x.avi}\nmqtt:\n"
    with pytest.raises(ConfigError, match="not both"):
        parse_config(base + "  tls_ca: /etc/ca.crt\n  tls_ca_pem: |\n" + indent(ca_pem, "    "))
    with pytest.raises(ConfigError, match="PEM"):
        parse_config(base + "  tls_ca_pem: hello\n")


def test_attendance_cameras_get_liveness_require(ca_pem: str, tmp_path: Path) -> None:
    """Issue 17: provisioning sets liveness ``require`` on the hub's attendance cameras (and
    only there); a weaker mode set on one is refused, not silently overridden."""
    settings: dict[str, object] = {
        "cameras": [
            {"id": "staff-door", "url": "rtsp://cam/1"},
            {"id": "lobby", "url": "rtsp://cam/2"},
        ]
    }
    text = build_bundle(
        device_id="edge-01",
        site="hotel-a",
        mqtt_host="mqtt.hotel-a.lan",
        mqtt_port=8883,
        ca_pem=ca_pem,
        hub_url="https://hub.hotel-a.lan",
        secrets=SECRETS,
        settings=settings,
        attendance_cameras=["staff-door"],
    )
    config = parse_config(text)
    assert [(c.id, c.liveness) for c in config.cameras] == [
        ("staff-door", "require"),
        ("lobby", None),
    ]
    assert config.recognition.liveness.mode == "flag"  # the edge's global default is kept
    assert settings["cameras"] == [  # the operator's settings are not changed
        {"id": "staff-door", "url": "rtsp://cam/1"},
        {"id": "lobby", "url": "rtsp://cam/2"},
    ]
    plain = _bundle(ca_pem, settings)
    assert all(c.liveness is None for c in parse_config(plain).cameras)
    # rotation of an existing bundle applies it too
    path = tmp_path / "edge-01.bundle.yaml"
    path.write_text(plain)
    rotated = with_new_secrets(path, "edge-01", SECRETS, ca_pem, ["staff-door"])
    assert parse_config(rotated).cameras[0].liveness == "require"
    weaker = {"cameras": [{"id": "staff-door", "url": "x.avi", "liveness": "flag"}]}
    with pytest.raises(BundleError, match=r"staff-door.*require"):
        with_attendance_liveness(weaker, ["staff-door"])
