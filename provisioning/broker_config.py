"""Render ``mosquitto/mosquitto.conf`` (written for the compose container) for one site folder.

Only three things change, directive by directive: the TLS listener's port (and optional bind
address), the loopback listener's port, and paths under the container's ``/mosquitto/config/site/``
and ``/mosquitto/data/``. Every other line is kept as written, so the production settings
(persistence, limits, auth) are the ones the tests run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CONTAINER_SITE_DIR = "/mosquitto/config/site/"
CONTAINER_DATA_DIR = "/mosquitto/data/"
LOOPBACK = "127.0.0.1"
TEMPLATES_ENV = "INNSIGHT_MOSQUITTO_TEMPLATES"
_PATH_DIRECTIVES = {
    "cafile",
    "certfile",
    "keyfile",
    "password_file",
    "acl_file",
    "persistence_location",
    "pid_file",
}


class BrokerConfigError(ValueError):
    """The template or the target folder cannot be used."""


def templates_dir() -> Path:
    """``mosquitto/`` at the repository root, or ``$INNSIGHT_MOSQUITTO_TEMPLATES``."""
    override = os.environ.get(TEMPLATES_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[1] / "mosquitto"


@dataclass(frozen=True)
class BrokerLayout:
    """Where the rendered config points: the mounted site folder and the persistence folder."""

    site_dir: Path
    data_dir: Path
    tls_port: int
    local_port: int
    tls_bind: str | None = None


def _folder(path: Path) -> str:
    text = str(path.resolve())
    if any(c.isspace() for c in text):
        raise BrokerConfigError(f"Mosquitto cannot use a path with spaces: {text!r}")
    return text.rstrip("/") + "/"


def render_broker_config(template: str, layout: BrokerLayout) -> str:
    site_dir, data_dir = _folder(layout.site_dir), _folder(layout.data_dir)
    out: list[str] = []
    seen_tls = seen_local = False
    for line in template.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            out.append(line)
            continue
        key, values = words[0], words[1:]
        if key == "listener" and len(values) == 2 and values[1] == LOOPBACK:
            line, seen_local = f"listener {layout.local_port} {LOOPBACK}", True
        elif key == "listener" and len(values) == 1:
            bind = f" {layout.tls_bind}" if layout.tls_bind else ""
            line, seen_tls = f"listener {layout.tls_port}{bind}", True
        elif key in _PATH_DIRECTIVES and len(values) == 1:
            value = values[0]
            if value.startswith(CONTAINER_SITE_DIR):
                value = site_dir + value.removeprefix(CONTAINER_SITE_DIR)
            elif value.startswith(CONTAINER_DATA_DIR):
                value = data_dir + value.removeprefix(CONTAINER_DATA_DIR)
            else:
                raise BrokerConfigError(f"{key} {value}: not under a path the renderer knows")
            line = f"{key} {value}"
        out.append(line)
    if not (seen_tls and seen_local):
        raise BrokerConfigError(
            "the template needs a TLS 'listener PORT' and a 'listener PORT 127.0.0.1'"
        )
    return "\n".join(out) + "\n"


def directive_values(config: str, key: str) -> list[str]:
    """Every value given to ``key`` in a Mosquitto config (for checks and tests)."""
    values = []
    for line in config.splitlines():
        words = line.split(maxsplit=1)
        if len(words) == 2 and words[0] == key:
            values.append(words[1].strip())
    return values
