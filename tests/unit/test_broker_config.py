"""The production Mosquitto config (mosquitto/mosquitto.conf) and its rendering for a site."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.messages import MAX_EVENT_BYTES
from provisioning.broker_config import (
    BrokerConfigError,
    BrokerLayout,
    directive_values,
    render_broker_config,
    templates_dir,
)

TEMPLATE = (templates_dir() / "mosquitto.conf").read_text()
# Options Mosquitto 2.0 applies per listener: set before the first listener line, they make it
# open a default listener on 0.0.0.0:1883.
LISTENER_OPTIONS = {
    "protocol",
    "use_username_as_clientid",
    "cafile",
    "certfile",
    "keyfile",
    "tls_version",
    "require_certificate",
    "mount_point",
    "max_connections",
}


def _directives(config: str) -> list[tuple[str, str]]:
    found = []
    for line in config.splitlines():
        words = line.split(maxsplit=1)
        if words and not words[0].startswith("#"):
            found.append((words[0], words[1] if len(words) > 1 else ""))
    return found


def test_production_security_settings() -> None:
    assert directive_values(TEMPLATE, "allow_anonymous") == ["false"]
    assert directive_values(TEMPLATE, "per_listener_settings") == ["false"]
    assert directive_values(TEMPLATE, "password_file") == ["/mosquitto/config/site/passwd"]
    assert directive_values(TEMPLATE, "acl_file") == ["/mosquitto/config/site/acl"]
    assert directive_values(TEMPLATE, "listener") == ["8883", "1883 127.0.0.1"]
    # edges (8883): the username is the client id; the hub's loopback listener keeps its
    # workers' own client ids (several processes sign in as the hub)
    assert directive_values(TEMPLATE, "use_username_as_clientid") == ["true", "false"]
    assert directive_values(TEMPLATE, "require_certificate") == ["false"]
    assert directive_values(TEMPLATE, "tls_version") == ["tlsv1.2"]


def test_no_listener_option_before_the_first_listener() -> None:
    directives = _directives(TEMPLATE)
    first_listener = next(i for i, (key, _) in enumerate(directives) if key == "listener")
    early = {key for key, _ in directives[:first_listener]}
    assert not early & LISTENER_OPTIONS


def test_tls_options_belong_to_the_tls_listener() -> None:
    directives = _directives(TEMPLATE)
    listeners = [i for i, (key, _) in enumerate(directives) if key == "listener"]
    tls_block = {key for key, _ in directives[listeners[0] : listeners[1]]}
    local_block = {key for key, _ in directives[listeners[1] :]}
    assert {"certfile", "keyfile", "cafile"} <= tls_block
    assert not {"certfile", "keyfile", "cafile"} & local_block


def test_persistence_and_limits() -> None:
    assert directive_values(TEMPLATE, "persistence") == ["true"]
    assert 10 <= int(directive_values(TEMPLATE, "autosave_interval")[0]) <= 300
    assert int(directive_values(TEMPLATE, "max_inflight_messages")[0]) >= 20
    assert int(directive_values(TEMPLATE, "max_queued_messages")[0]) >= 10_000
    max_packet = int(directive_values(TEMPLATE, "max_packet_size")[0])
    # the largest event fits, with room for topic and headers; nothing far larger does
    assert MAX_EVENT_BYTES < max_packet <= MAX_EVENT_BYTES + 16 * 1024
    assert directive_values(TEMPLATE, "message_size_limit") == []  # deprecated in 2.0


def test_render_for_a_site_folder(tmp_path: Path) -> None:
    layout = BrokerLayout(tmp_path / "broker", tmp_path / "data", 18883, 18884, "127.0.0.1")
    rendered = render_broker_config(TEMPLATE, layout)
    assert "/mosquitto/" not in "\n".join(
        line for line in rendered.splitlines() if not line.startswith("#")
    )
    assert directive_values(rendered, "listener") == ["18883 127.0.0.1", "18884 127.0.0.1"]
    assert directive_values(rendered, "password_file") == [f"{tmp_path}/broker/passwd"]
    assert directive_values(rendered, "persistence_location") == [f"{tmp_path}/data/"]
    assert directive_values(rendered, "pid_file") == [f"{tmp_path}/data/mosquitto.pid"]
    # everything else is the template's, line for line
    assert len(rendered.splitlines()) == len(TEMPLATE.splitlines())
    assert directive_values(rendered, "max_packet_size") == directive_values(
        TEMPLATE, "max_packet_size"
    )


def test_render_refuses_unknown_paths_and_spaces(tmp_path: Path) -> None:
    layout = BrokerLayout(tmp_path / "b", tmp_path / "d", 1, 2)
    with pytest.raises(BrokerConfigError):
        render_broker_config(TEMPLATE.replace("/mosquitto/data/", "/var/lib/other/"), layout)
    spaced = BrokerLayout(tmp_path / "with space", tmp_path / "d", 1, 2)
    with pytest.raises(BrokerConfigError):
        render_broker_config(TEMPLATE, spaced)
