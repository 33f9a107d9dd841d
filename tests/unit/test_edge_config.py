from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load_config, parse_config

GOOD = """\
device_id: edge-lobby-01
site: hotel-a
mqtt:
  host: 10.0.0.2
  password: s3cret
cameras:
  - id: lobby
    url: rtsp://admin:pw@10.0.0.5/stream1
"""


def test_good_config_has_defaults_and_hides_secrets() -> None:
    config = parse_config(GOOD)
    assert config.cameras[0].width == 640
    assert config.recognition.model.backend == "dlib"
    assert config.mqtt.password is not None
    assert "s3cret" not in repr(config)
    assert config.mqtt.password.get_secret_value() == "s3cret"


def test_error_points_at_the_line() -> None:
    bad = GOOD.replace("  - id: lobby\n", "  - id: lobby\n    stride: 0\n")
    with pytest.raises(ConfigError) as info:
        parse_config(bad, "edge.yaml")
    assert info.value.problems == [
        "edge.yaml:8:13: cameras.0.stride: Input should be greater than or equal to 1"
    ]


def test_unknown_keys_are_refused_where_they_are() -> None:
    bad = GOOD.replace("  host: 10.0.0.2\n", "  host: 10.0.0.2\n  hots: typo\n")
    with pytest.raises(ConfigError) as info:
        parse_config(bad, "edge.yaml")
    assert any(p.startswith("edge.yaml:") and "mqtt.hots" in p for p in info.value.problems)


@pytest.mark.parametrize(
    "text",
    ["device_id: [unclosed", "just a string", "device_id: x\nsite: y\ncameras: []\n"],
)
def test_not_yaml_not_mapping_no_cameras(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_hub_token_is_a_secret_sent_as_bearer() -> None:
    config = parse_config(GOOD + "hub:\n  url: https://hub.local\n  token: dev-tok-123\n")
    assert "dev-tok-123" not in repr(config)
    assert config.hub.headers() == {"Authorization": "Bearer dev-tok-123"}
    assert parse_config(GOOD).hub.headers() == {}
