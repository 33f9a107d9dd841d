"""Make a running Mosquitto re-read its password and ACL files (SIGHUP).

Mosquitto 2.0 reloads ``password_file`` and ``acl_file`` on SIGHUP; a client whose credentials
were removed is refused at its next CONNECT. With compose the broker's pid lives in its
container: use ``docker compose kill -s SIGHUP mosquitto`` instead.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

logger = logging.getLogger(__name__)

COMPOSE_HINT = "with compose: docker compose -f compose.hub.yml kill -s SIGHUP mosquitto"


class BrokerReloadError(RuntimeError):
    """No broker to reload (no pid file, stale pid, not a mosquitto process, no permission)."""


def _read_pid(pid_file: Path) -> int:
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise BrokerReloadError(
            f"no broker pid file at {pid_file}: is mosquitto running with this site's config? "
            f"({COMPOSE_HINT}; or pass --broker-pid)"
        ) from None
    if not text.isdigit():
        raise BrokerReloadError(f"{pid_file} does not hold a process id: {text[:20]!r}")
    if int(text) <= 1:  # Mosquitto is pid 1 in its container: not ours to signal
        raise BrokerReloadError(f"{pid_file} names pid {text}, a container's; {COMPOSE_HINT}")
    return int(text)


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return None  # no procfs here: rely on the signal's outcome


def reload_broker(*, pid_file: Path | None = None, pid: int | None = None) -> int:
    """SIGHUP the broker (``pid``, else the pid in ``pid_file``); returns the pid signalled."""
    if pid is None:
        if pid_file is None:
            raise BrokerReloadError("give the broker's pid or its pid file")
        pid = _read_pid(pid_file)
    name = _process_name(pid)
    if name is not None and "mosquitto" not in name:
        raise BrokerReloadError(f"process {pid} is {name!r}, not mosquitto (stale pid file?)")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise BrokerReloadError(
            f"no process {pid}: the broker is not running (stale pid file?)"
        ) from None
    except PermissionError:
        raise BrokerReloadError(
            f"not allowed to signal process {pid}: run as the broker's user"
        ) from None
    logger.info("mosquitto (pid %d) reloading its password and ACL files", pid)
    return pid
